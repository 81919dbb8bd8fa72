//! Scripted event sequences and a randomized event soup for the pure
//! scheduler state machine (no sockets, no clock: time is a parameter).

use geozarr_scheduler::state::{
    Command, Event, JobId, LostReason, Scheduler, TaskIdx, TaskState, WorkerId, LOST_AFTER_MS,
};

/// Test driver: feeds events, keeps the commands, checks invariants each step.
struct Env {
    s: Scheduler,
    now: u64,
    out: Vec<Command>,
}

impl Env {
    fn new() -> Self {
        Env {
            s: Scheduler::new(),
            now: 0,
            out: vec![],
        }
    }
    fn ev(&mut self, e: Event) -> Vec<Command> {
        let mut out = vec![];
        self.s.handle(self.now, e, &mut out);
        self.s.sanity_check();
        self.out.extend(out.clone());
        out
    }
    fn join(&mut self, worker: WorkerId, slots: u32) -> Vec<Command> {
        self.ev(Event::WorkerJoined { worker, slots })
    }
    fn submit(&mut self, job: JobId, deps: Vec<Vec<TaskIdx>>) -> Vec<Command> {
        self.ev(Event::JobSubmitted {
            job,
            deps,
            affinity: vec![],
            max_attempts: 3,
            priority: 1,
        })
    }
    fn finish(
        &mut self,
        worker: WorkerId,
        job: JobId,
        task: TaskIdx,
        attempt: u32,
    ) -> Vec<Command> {
        self.ev(Event::TaskFinished {
            worker,
            job,
            task,
            attempt,
        })
    }
    fn fail(
        &mut self,
        worker: WorkerId,
        job: JobId,
        task: TaskIdx,
        attempt: u32,
        e: &str,
    ) -> Vec<Command> {
        self.ev(Event::TaskFailed {
            worker,
            job,
            task,
            attempt,
            error: e.into(),
        })
    }
}

/// `(job, task)` of each assignment.
fn job_assigns(cmds: &[Command]) -> Vec<(JobId, TaskIdx)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Assign { job, task, .. } => Some((*job, *task)),
            _ => None,
        })
        .collect()
}

fn submit_flat(e: &mut Env, job: JobId, n: usize, priority: u32) -> Vec<Command> {
    e.ev(Event::JobSubmitted {
        job,
        deps: vec![vec![]; n],
        affinity: vec![],
        max_attempts: 3,
        priority,
    })
}

#[test]
fn two_jobs_share_the_slots_equally_and_keep_sharing() {
    let mut e = Env::new();
    // job 1 takes every slot first, job 2 arrives: each freed slot goes to
    // the job with fewer running tasks until both run 2
    e.join(1, 4);
    let c = submit_flat(&mut e, 1, 20, 1);
    assert_eq!(job_assigns(&c).len(), 4);
    assert!(
        job_assigns(&submit_flat(&mut e, 2, 20, 1)).is_empty(),
        "no free slot"
    );
    let mut running: Vec<(JobId, TaskIdx)> = job_assigns(&c);
    let mut per_job = [0usize; 3];
    for _ in 0..16 {
        let (j, t) = running.remove(0);
        let c = e.finish(1, j, t, 1);
        let a = job_assigns(&c);
        assert_eq!(a.len(), 1);
        per_job[a[0].0 as usize] += 1;
        running.extend(a);
        let n2 = running.iter().filter(|(j, _)| *j == 2).count();
        assert!(n2 <= 2, "job 2 took more than its share: {running:?}");
    }
    // after the hand-over both jobs always hold 2 of the 4 slots
    let n1 = running.iter().filter(|(j, _)| *j == 1).count();
    assert_eq!((n1, running.len() - n1), (2, 2), "{running:?}");
    assert!(per_job[2] >= 8 && per_job[1] >= 6, "{per_job:?}");
}

#[test]
fn priority_weighs_the_share_and_an_idle_job_lends_its_slots() {
    let mut e = Env::new();
    submit_flat(&mut e, 1, 100, 3);
    submit_flat(&mut e, 2, 100, 1);
    let c = e.join(1, 8);
    let a = job_assigns(&c);
    let n1 = a.iter().filter(|(j, _)| *j == 1).count();
    assert_eq!((n1, a.len() - n1), (6, 2), "3:1 of 8 slots: {a:?}");
    // a job with nothing ready leaves its share to the others
    let mut e = Env::new();
    e.ev(Event::JobSubmitted {
        job: 1,
        deps: vec![vec![], vec![0], vec![1]],
        affinity: vec![],
        max_attempts: 3,
        priority: 1,
    });
    submit_flat(&mut e, 2, 10, 1);
    let a = job_assigns(&e.join(1, 4));
    assert_eq!(a.iter().filter(|(j, _)| *j == 1).count(), 1, "{a:?}");
    assert_eq!(a.iter().filter(|(j, _)| *j == 2).count(), 3, "{a:?}");
}

#[test]
fn cancelling_one_job_leaves_the_other_untouched() {
    let mut e = Env::new();
    e.join(1, 2);
    e.join(2, 2);
    let c1 = submit_flat(&mut e, 1, 6, 1);
    let c2 = submit_flat(&mut e, 2, 6, 1);
    let running2: Vec<_> = [job_assigns(&c1), job_assigns(&c2)]
        .concat()
        .into_iter()
        .filter(|(j, _)| *j == 2)
        .collect();
    let c = e.ev(Event::CancelJob { job: 1 });
    assert!(!e.s.has_job(1) && e.s.has_job(2));
    // only job 1's workers are told to cancel, and job 2 takes the slots
    assert!(c
        .iter()
        .all(|x| !matches!(x, Command::Cancel { job: 2, .. })));
    assert!(job_assigns(&c).iter().all(|(j, _)| *j == 2));
    for (j, t) in running2 {
        assert!(matches!(e.s.task(j, t), Some((TaskState::Assigned(_), 1))));
    }
}

fn assigns(cmds: &[Command]) -> Vec<(WorkerId, TaskIdx, u32)> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::Assign {
                worker,
                task,
                attempt,
                ..
            } => Some((*worker, *task, *attempt)),
            _ => None,
        })
        .collect()
}

#[test]
fn chain_runs_in_dependency_order_and_finishes() {
    let mut e = Env::new();
    e.join(1, 2);
    // 0 -> {1, 2} -> 3
    let c = e.submit(7, vec![vec![], vec![0], vec![0], vec![1, 2]]);
    assert_eq!(assigns(&c), vec![(1, 0, 1)]);
    let c = e.finish(1, 7, 0, 1);
    assert_eq!(assigns(&c), vec![(1, 1, 1), (1, 2, 1)]);
    let c = e.finish(1, 7, 1, 1);
    assert!(assigns(&c).is_empty(), "task 3 waits for task 2");
    let c = e.finish(1, 7, 2, 1);
    assert_eq!(assigns(&c), vec![(1, 3, 1)]);
    let c = e.finish(1, 7, 3, 1);
    assert!(c.contains(&Command::JobDone { job: 7 }));
    assert!(!e.s.has_job(7));
    assert_eq!(e.s.stats().tasks_done, 4);
}

/// Root 0; group 1: tasks 1..=4 then 9 (needs 1..=4); group 2: tasks 5..=8
/// then 10 (needs 5..=8); 11 needs everything.
fn two_groups(e: &mut Env, job: JobId) {
    let mut deps: Vec<Vec<TaskIdx>> = vec![vec![]];
    deps.extend((1..=8).map(|_| vec![0]));
    deps.push(vec![1, 2, 3, 4]);
    deps.push(vec![5, 6, 7, 8]);
    deps.push((0..11).collect());
    let affinity = vec![0, 1, 1, 1, 1, 2, 2, 2, 2, 1, 2, 0];
    e.ev(Event::JobSubmitted {
        job,
        deps,
        affinity,
        max_attempts: 3,
        priority: 1,
    });
}

/// Run every assigned task to the end, oldest first; (worker, task) in order.
fn drain(
    e: &mut Env,
    job: JobId,
    mut queue: Vec<(WorkerId, TaskIdx, u32)>,
) -> Vec<(WorkerId, TaskIdx)> {
    let mut ran = vec![];
    while !queue.is_empty() {
        let (w, t, a) = queue.remove(0);
        ran.push((w, t));
        let c = e.finish(w, job, t, a);
        queue.extend(assigns(&c));
    }
    ran
}

#[test]
fn affinity_groups_stay_on_one_worker() {
    let mut e = Env::new();
    e.join(1, 1);
    e.join(2, 1);
    two_groups(&mut e, 1);
    let first = assigns(&e.out);
    assert_eq!(first, vec![(1, 0, 1)]);
    let ran = drain(&mut e, 1, first);
    assert!(!e.s.has_job(1));
    let on = |t: TaskIdx| ran.iter().find(|r| r.1 == t).unwrap().0;
    for g in [[1, 2, 3, 4, 9], [5, 6, 7, 8, 10]] {
        let w = on(g[0]);
        assert!(g.iter().all(|t| on(*t) == w), "group split: {ran:?}");
    }
    assert_ne!(on(1), on(5), "both workers busy: {ran:?}");
    assert_eq!(e.s.stats().stolen, 0);
}

#[test]
fn an_idle_worker_steals_only_when_no_group_is_unowned() {
    let mut e = Env::new();
    e.join(1, 1);
    two_groups(&mut e, 1);
    // worker 1 claims group 1 while it is alone
    let c = e.finish(1, 1, 0, 1);
    assert_eq!(assigns(&c), vec![(1, 1, 1)]);
    // worker 2 arrives: group 2 is unowned, so it takes that
    let c = e.join(2, 1);
    assert_eq!(assigns(&c), vec![(2, 5, 1)]);
    // worker 2 finishes group 2's ready tasks fast, then helps group 1
    for t in [5, 6, 7] {
        let c = e.finish(2, 1, t, 1);
        assert_eq!(assigns(&c), vec![(2, t + 1, 1)]);
    }
    let c = e.finish(2, 1, 8, 1);
    assert_eq!(assigns(&c), vec![(2, 10, 1)], "its own group's child first");
    let c = e.finish(2, 1, 10, 1);
    assert_eq!(assigns(&c), vec![(2, 2, 1)], "then another worker's group");
    assert_eq!(e.s.stats().stolen, 1);
}

#[test]
fn a_lost_workers_group_goes_to_another_worker() {
    let mut e = Env::new();
    e.join(1, 1);
    e.join(2, 1);
    two_groups(&mut e, 1);
    let c = e.finish(1, 1, 0, 1);
    assert_eq!(assigns(&c), vec![(1, 1, 1), (2, 5, 1)]);
    let c = e.ev(Event::WorkerLost {
        worker: 1,
        reason: LostReason::ConnectionLost,
    });
    assert!(assigns(&c).is_empty(), "worker 2 is busy");
    // worker 2 finishes its task: its own group first, then the orphaned one
    let mut ran = vec![];
    let mut q = assigns(&e.finish(2, 1, 5, 1));
    while let Some((w, t, a)) = q.pop() {
        ran.push(t);
        q.extend(assigns(&e.finish(w, 1, t, a)));
    }
    assert_eq!(&ran[..4], &[6, 7, 8, 10]);
    let mut orphaned = ran[4..9].to_vec();
    orphaned.sort();
    assert_eq!(
        orphaned,
        vec![1, 2, 3, 4, 9],
        "the lost worker's group: {ran:?}"
    );
    assert!(!e.s.has_job(1));
    assert_eq!(
        e.s.stats().stolen,
        0,
        "an orphaned group is claimed, not stolen"
    );
}

#[test]
fn in_flight_is_bounded_by_slots() {
    let mut e = Env::new();
    e.join(1, 2);
    e.join(2, 1);
    let c = e.submit(1, vec![vec![]; 10]);
    let a = assigns(&c);
    assert_eq!(a.len(), 3);
    assert_eq!(a.iter().filter(|x| x.0 == 1).count(), 2);
    assert_eq!(a.iter().filter(|x| x.0 == 2).count(), 1);
    // one result frees one slot: exactly one new task for that worker
    let c = e.finish(2, 1, a.iter().find(|x| x.0 == 2).unwrap().1, 1);
    let a2 = assigns(&c);
    assert_eq!(a2.len(), 1);
    assert_eq!(a2[0].0, 2);
}

#[test]
fn children_of_a_finished_task_go_to_the_same_worker() {
    let mut e = Env::new();
    e.join(1, 1);
    e.join(2, 1);
    // roots 0, 1, 2; task 3 depends on 0
    let c = e.submit(1, vec![vec![], vec![], vec![], vec![0]]);
    assert_eq!(assigns(&c), vec![(1, 0, 1), (2, 1, 1)]);
    // FIFO would give task 2 next; locality gives worker 1 the child of its chunk
    let c = e.finish(1, 1, 0, 1);
    assert_eq!(assigns(&c), vec![(1, 3, 1)]);
    let c = e.finish(2, 1, 1, 1);
    assert_eq!(assigns(&c), vec![(2, 2, 1)]);
}

#[test]
fn lost_worker_requeues_with_next_attempt_and_late_results_are_ignored() {
    let mut e = Env::new();
    e.join(1, 1);
    e.submit(1, vec![vec![], vec![0]]);
    let c = e.ev(Event::WorkerLost {
        worker: 1,
        reason: LostReason::ConnectionLost,
    });
    assert!(c.contains(&Command::WorkerLost {
        worker: 1,
        reason: LostReason::ConnectionLost
    }));
    assert!(matches!(
        c[1],
        Command::TaskRetry {
            task: 0,
            attempt: 1,
            ..
        }
    ));
    assert_eq!(e.s.task(1, 0), Some((TaskState::Ready, 2)));
    let c = e.join(2, 1);
    assert_eq!(assigns(&c), vec![(2, 0, 2)]);
    // the lost worker's late result: ignored, counted
    let c = e.finish(1, 1, 0, 1);
    assert!(c.is_empty());
    assert_eq!(e.s.stats().stale_results, 1);
    assert_eq!(e.s.task(1, 0), Some((TaskState::Assigned(2), 2)));
    e.finish(2, 1, 0, 2);
    // a duplicate of an accepted result is stale too
    let c = e.finish(2, 1, 0, 2);
    assert!(c.is_empty());
    assert_eq!(e.s.stats().stale_results, 2);
    let c = e.finish(2, 1, 1, 1);
    assert!(c.contains(&Command::JobDone { job: 1 }));
}

#[test]
fn silent_worker_is_lost_on_tick_after_lost_after_ms() {
    let mut e = Env::new();
    e.join(1, 1);
    e.join(2, 1);
    e.submit(1, vec![vec![], vec![]]);
    e.now = 5_000;
    e.ev(Event::Heartbeat { worker: 2 });
    e.now = LOST_AFTER_MS;
    assert!(
        e.ev(Event::Tick).is_empty(),
        "exactly LOST_AFTER_MS is not yet lost"
    );
    e.now = LOST_AFTER_MS + 1;
    let c = e.ev(Event::Tick);
    assert_eq!(
        c[0],
        Command::WorkerLost {
            worker: 1,
            reason: LostReason::HeartbeatLost
        }
    );
    assert_eq!(e.s.workers().len(), 1);
    // worker 2 (heard from at 5 s) is still there and gets the task when free
    e.finish(2, 1, 1, 1);
    assert_eq!(e.s.task(1, 0), Some((TaskState::Assigned(2), 2)));
    // its result counted as a sign of life at 10.001 s
    e.now = 2 * (LOST_AFTER_MS + 1) - 1;
    assert!(e.ev(Event::Tick).is_empty());
    e.now += 1;
    let c = e.ev(Event::Tick);
    assert!(c
        .iter()
        .any(|c| matches!(c, Command::WorkerLost { worker: 2, .. })));
}

#[test]
fn three_failures_fail_the_job_with_last_error_and_history() {
    let mut e = Env::new();
    e.join(1, 2);
    e.submit(1, vec![vec![], vec![]]);
    e.fail(1, 1, 0, 1, "disk full");
    e.ev(Event::WorkerLost {
        worker: 1,
        reason: LostReason::HeartbeatLost,
    });
    e.join(2, 2);
    assert_eq!(e.s.task(1, 0), Some((TaskState::Assigned(2), 3)));
    let c = e.fail(2, 1, 0, 3, "checksum mismatch");
    let failed = c
        .iter()
        .find_map(|c| match c {
            Command::JobFailed {
                task,
                error,
                history,
                ..
            } => Some((*task, error.clone(), history.clone())),
            _ => None,
        })
        .expect("job failed");
    assert_eq!(failed.0, 0);
    assert_eq!(failed.1, "checksum mismatch");
    assert_eq!(
        failed.2,
        vec![
            "attempt 1 on worker 1: disk full".to_string(),
            "attempt 2 on worker 1: worker silent for 10 s".to_string(),
            "attempt 3 on worker 2: checksum mismatch".to_string(),
        ]
    );
    // task 1 was in flight on worker 2: cancelled
    assert!(c.contains(&Command::Cancel { worker: 2, job: 1 }));
    assert!(!e.s.has_job(1));
    assert_eq!(e.s.workers(), vec![(2, 2, 0)]);
    // its late result is ignored
    assert!(e.finish(2, 1, 1, 2).is_empty() || !e.s.has_job(1));
}

#[test]
fn stopped_worker_does_not_count_as_a_failure() {
    let mut e = Env::new();
    e.join(1, 1);
    e.submit(1, vec![vec![]]);
    for w in 2..6 {
        e.ev(Event::WorkerLost {
            worker: w - 1,
            reason: LostReason::Stopped,
        });
        e.join(w, 1);
    }
    assert_eq!(e.s.task(1, 0), Some((TaskState::Assigned(5), 5)));
    let c = e.finish(5, 1, 0, 5);
    assert!(c.contains(&Command::JobDone { job: 1 }));
}

#[test]
fn worker_joining_mid_job_gets_work() {
    let mut e = Env::new();
    e.join(1, 1);
    e.submit(1, vec![vec![]; 4]);
    let c = e.join(2, 2);
    assert_eq!(assigns(&c).iter().filter(|a| a.0 == 2).count(), 2);
}

#[test]
fn job_without_workers_waits_and_empty_job_is_done_at_once() {
    let mut e = Env::new();
    let c = e.submit(1, vec![]);
    assert_eq!(c, vec![Command::JobDone { job: 1 }]);
    let c = e.submit(2, vec![vec![]]);
    assert!(c.is_empty());
    let c = e.join(1, 1);
    assert_eq!(assigns(&c), vec![(1, 0, 1)]);
}

#[test]
fn cancel_drops_the_job_and_frees_slots() {
    let mut e = Env::new();
    e.join(1, 1);
    e.submit(1, vec![vec![]; 2]);
    e.submit(2, vec![vec![]]);
    let c = e.ev(Event::CancelJob { job: 1 });
    assert!(c.contains(&Command::Cancel { worker: 1, job: 1 }));
    assert_eq!(assigns(&c), vec![(1, 0, 1)]);
    assert!(e.s.has_job(2));
}

/// xorshift64*: a small seeded generator for the event soup.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A pyramid-like DAG: level-0 tasks, then levels whose tasks need up to 4 parents.
fn random_dag(r: &mut Rng) -> Vec<Vec<TaskIdx>> {
    let mut deps: Vec<Vec<TaskIdx>> = vec![vec![]];
    let mut prev: Vec<TaskIdx> = vec![];
    for _ in 0..(1 + r.below(20)) {
        prev.push(deps.len() as TaskIdx);
        deps.push(vec![0]);
    }
    while prev.len() > 1 {
        let mut next = vec![];
        for c in prev.chunks(4) {
            next.push(deps.len() as TaskIdx);
            deps.push(c.to_vec());
        }
        prev = next;
    }
    let all: Vec<TaskIdx> = (0..deps.len() as TaskIdx).collect();
    deps.push(all);
    deps
}

#[test]
fn random_event_soup_every_task_done_exactly_once() {
    for seed in 1..=300u64 {
        let mut r = Rng(seed * 0x9e37_79b9_7f4a_7c15);
        let mut s = Scheduler::new();
        let mut now = 0u64;
        let jobs = 1 + r.below(3);
        let mut sizes = vec![];
        let mut out = vec![];
        let mut next_worker = 1;
        for _ in 0..1 + r.below(3) {
            s.handle(
                now,
                Event::WorkerJoined {
                    worker: next_worker,
                    slots: 1 + r.below(4) as u32,
                },
                &mut out,
            );
            next_worker += 1;
        }
        for j in 0..jobs {
            let deps = random_dag(&mut r);
            sizes.push(deps.len());
            // some tasks in affinity groups, some in none
            let affinity = deps.iter().map(|_| r.below(4) as u32).collect();
            s.handle(
                now,
                Event::JobSubmitted {
                    job: j,
                    deps,
                    affinity,
                    max_attempts: 1_000,
                    priority: r.below(4) as u32,
                },
                &mut out,
            );
        }
        let mut done: Vec<Vec<u32>> = sizes.iter().map(|n| vec![0; *n]).collect();
        let mut jobs_done = vec![0; jobs as usize];
        let mut in_flight: Vec<(WorkerId, JobId, TaskIdx, u32)> = vec![];
        let mut delivered: Vec<(WorkerId, JobId, TaskIdx, u32)> = vec![];
        let mut alive: Vec<WorkerId> = s.workers().iter().map(|w| w.0).collect();
        let mut steps = 0;
        loop {
            for c in out.drain(..) {
                match c {
                    Command::Assign {
                        worker,
                        job,
                        task,
                        attempt,
                    } => in_flight.push((worker, job, task, attempt)),
                    Command::TaskDone { job, task, .. } => done[job as usize][task as usize] += 1,
                    Command::JobDone { job } => jobs_done[job as usize] += 1,
                    Command::JobFailed { .. } => panic!("seed {seed}: job failed"),
                    Command::WorkerLost { worker, .. } => alive.retain(|w| *w != worker),
                    _ => {}
                }
            }
            s.sanity_check();
            if jobs_done.iter().all(|d| *d == 1) {
                break;
            }
            steps += 1;
            assert!(steps < 100_000, "seed {seed}: no progress");
            let roll = r.below(100);
            if alive.is_empty() || roll < 3 {
                s.handle(
                    now,
                    Event::WorkerJoined {
                        worker: next_worker,
                        slots: 1 + r.below(4) as u32,
                    },
                    &mut out,
                );
                alive.push(next_worker);
                next_worker += 1;
            } else if roll < 6 && !alive.is_empty() {
                let w = alive[r.below(alive.len() as u64) as usize];
                let reason = if r.below(2) == 0 {
                    LostReason::ConnectionLost
                } else {
                    LostReason::Stopped
                };
                s.handle(now, Event::WorkerLost { worker: w, reason }, &mut out);
            } else if roll < 8 {
                // time passes; some workers stay silent and are lost
                now += 1 + r.below(LOST_AFTER_MS);
                for w in alive.clone() {
                    if r.below(4) != 0 {
                        s.handle(now, Event::Heartbeat { worker: w }, &mut out);
                    }
                }
                now += 1 + r.below(3_000);
                s.handle(now, Event::Tick, &mut out);
            } else if roll < 12 && !delivered.is_empty() {
                // a duplicate or late result
                let (w, j, t, a) = delivered[r.below(delivered.len() as u64) as usize];
                s.handle(
                    now,
                    Event::TaskFinished {
                        worker: w,
                        job: j,
                        task: t,
                        attempt: a,
                    },
                    &mut out,
                );
            } else if !in_flight.is_empty() {
                let (w, j, t, a) = in_flight.swap_remove(r.below(in_flight.len() as u64) as usize);
                if r.below(10) == 0 {
                    s.handle(
                        now,
                        Event::TaskFailed {
                            worker: w,
                            job: j,
                            task: t,
                            attempt: a,
                            error: "boom".into(),
                        },
                        &mut out,
                    );
                } else {
                    s.handle(
                        now,
                        Event::TaskFinished {
                            worker: w,
                            job: j,
                            task: t,
                            attempt: a,
                        },
                        &mut out,
                    );
                }
                delivered.push((w, j, t, a));
            } else {
                s.handle(now, Event::Tick, &mut out);
            }
        }
        for (j, d) in done.iter().enumerate() {
            assert!(d.iter().all(|n| *n == 1), "seed {seed} job {j}: {d:?}");
        }
        assert!(s.stats().tasks_done as usize == sizes.iter().sum::<usize>());
    }
}

#[test]
fn random_failures_end_in_exactly_one_job_failure_or_done() {
    for seed in 1..=200u64 {
        let mut r = Rng(seed * 0x2545_f491_4f6c_dd1d + 1);
        let mut s = Scheduler::new();
        let mut out = vec![];
        s.handle(
            0,
            Event::WorkerJoined {
                worker: 1,
                slots: 3,
            },
            &mut out,
        );
        s.handle(
            0,
            Event::JobSubmitted {
                job: 1,
                deps: random_dag(&mut r),
                affinity: vec![],
                max_attempts: 3,
                priority: 1,
            },
            &mut out,
        );
        let mut in_flight = vec![];
        let (mut finals, mut assigned_after) = (0, 0);
        for _ in 0..10_000 {
            for c in out.drain(..) {
                match c {
                    Command::Assign {
                        worker,
                        job,
                        task,
                        attempt,
                    } => {
                        if finals > 0 {
                            assigned_after += 1;
                        }
                        in_flight.push((worker, job, task, attempt));
                    }
                    Command::JobDone { .. } | Command::JobFailed { .. } => finals += 1,
                    _ => {}
                }
            }
            s.sanity_check();
            if in_flight.is_empty() {
                break;
            }
            let (w, j, t, a) = in_flight.swap_remove(r.below(in_flight.len() as u64) as usize);
            if r.below(3) == 0 {
                s.handle(
                    0,
                    Event::TaskFailed {
                        worker: w,
                        job: j,
                        task: t,
                        attempt: a,
                        error: "e".into(),
                    },
                    &mut out,
                );
            } else {
                s.handle(
                    0,
                    Event::TaskFinished {
                        worker: w,
                        job: j,
                        task: t,
                        attempt: a,
                    },
                    &mut out,
                );
            }
        }
        assert_eq!(finals, 1, "seed {seed}");
        assert_eq!(
            assigned_after, 0,
            "seed {seed}: work assigned after the job ended"
        );
        assert!(!s.has_job(1));
    }
}
