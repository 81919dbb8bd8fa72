//! Scripted event sequences, one per rule, and a randomized event soup for
//! the worker's pure state machine (no sockets, threads or stores: a job's
//! opened context is a number here).

use std::collections::{HashMap, HashSet};

use geozarr_proto::pb;
use geozarr_worker::state::{Command, Event, JobId, Work, WorkerState};

/// A job's "opened stores" in these tests.
type Ctx = u32;

/// Test driver: feeds events, checks invariants after each.
struct Env {
    s: WorkerState<Ctx>,
}

impl Env {
    fn new(slots: u32) -> Self {
        Env {
            s: WorkerState::new(slots),
        }
    }
    fn ev(&mut self, e: Event<Ctx>) -> Vec<Command<Ctx>> {
        let mut out = vec![];
        self.s.handle(e, &mut out);
        self.s.sanity_check();
        out
    }
    fn job(&mut self, job: JobId, noop: bool) -> Vec<Command<Ctx>> {
        self.ev(Event::Job(info(job, noop)))
    }
    fn opened(&mut self, job: JobId, result: Result<Ctx, &str>) -> Vec<Command<Ctx>> {
        self.ev(Event::Opened {
            job,
            result: result.map_err(String::from),
        })
    }
    /// Announce and open a job with context `ctx`.
    fn open(&mut self, job: JobId, ctx: Ctx) {
        assert_eq!(self.job(job, false), vec![Command::Open(info(job, false))]);
        assert!(self.opened(job, Ok(ctx)).is_empty());
    }
    fn assign(&mut self, tasks: &[(JobId, u32)]) -> Vec<Command<Ctx>> {
        self.ev(Event::Assigned(
            tasks.iter().map(|&(j, t)| assignment(j, t, 1)).collect(),
        ))
    }
    fn slot(&mut self) -> Vec<Command<Ctx>> {
        self.ev(Event::SlotFree)
    }
}

fn info(job: JobId, noop: bool) -> pb::JobInfo {
    pb::JobInfo {
        job,
        noop,
        input: format!("in{job}"),
        ..Default::default()
    }
}

fn assignment(job: JobId, task: u32, attempt: u32) -> pb::Assignment {
    pb::Assignment {
        job,
        task,
        attempt,
        task_json: format!("{{\"task\":{task}}}").into_bytes(),
    }
}

fn ok(job: JobId, task: u32) -> Command<Ctx> {
    Command::Send(pb::TaskResult {
        job,
        task,
        attempt: 1,
        ok: true,
        ..Default::default()
    })
}

fn err(job: JobId, task: u32, e: &str) -> Command<Ctx> {
    Command::Send(pb::TaskResult {
        job,
        task,
        attempt: 1,
        ok: false,
        error: e.into(),
        ..Default::default()
    })
}

fn run(ctx: Ctx, job: JobId, task: u32) -> Vec<Command<Ctx>> {
    vec![Command::Run(Work {
        job: ctx,
        task: assignment(job, task, 1),
    })]
}

#[test]
fn a_noop_job_is_not_opened_and_its_tasks_are_done_at_once() {
    let mut e = Env::new(4);
    assert!(e.job(1, true).is_empty(), "no stores to open");
    let c = e.assign(&[(1, 0), (1, 1)]);
    assert_eq!(c, vec![ok(1, 0), ok(1, 1)], "answered, no thread woken");
    assert_eq!(e.s.queued(), 0);
    assert!(e.slot().is_empty());
}

#[test]
fn a_jobs_tasks_run_oldest_first_with_its_opened_context() {
    let mut e = Env::new(4);
    e.open(1, 10);
    e.open(2, 20);
    let c = e.assign(&[(1, 0), (2, 5), (1, 1)]);
    assert_eq!(c, vec![Command::Wake(3)]);
    assert_eq!(e.slot(), run(10, 1, 0));
    assert_eq!(e.slot(), run(20, 2, 5));
    assert_eq!(e.slot(), run(10, 1, 1));
    assert!(e.slot().is_empty(), "nothing queued: the thread waits");
}

#[test]
fn one_slot_thread_wakes_per_queued_task_at_most_all() {
    let mut e = Env::new(64);
    e.open(1, 1);
    // not all 64 threads for a message of 3 tasks
    assert_eq!(e.assign(&[(1, 0), (1, 1), (1, 2)]), vec![Command::Wake(3)]);
    let mut e = Env::new(2);
    e.open(1, 1);
    let many: Vec<(JobId, u32)> = (0..5).map(|t| (1, t)).collect();
    assert_eq!(e.assign(&many), vec![Command::Wake(2)]);
    // a message queueing nothing wakes nothing
    e.job(2, true);
    assert_eq!(e.assign(&[(2, 0)]), vec![ok(2, 0)]);
}

#[test]
fn tasks_arriving_while_their_job_opens_wait_for_it() {
    let mut e = Env::new(4);
    assert_eq!(e.job(1, false), vec![Command::Open(info(1, false))]);
    assert!(e.assign(&[(1, 0), (1, 1)]).is_empty(), "held");
    assert!(e.slot().is_empty());
    assert_eq!(e.opened(1, Ok(7)), vec![Command::Wake(2)]);
    assert_eq!(e.slot(), run(7, 1, 0));
    assert_eq!(e.slot(), run(7, 1, 1));
}

#[test]
fn a_job_that_fails_to_open_fails_each_of_its_tasks_with_the_reason() {
    let mut e = Env::new(4);
    e.job(1, false);
    e.assign(&[(1, 0)]);
    let c = e.opened(1, Err("s3://b/in.zarr: no credentials"));
    assert_eq!(c, vec![err(1, 0, "s3://b/in.zarr: no credentials")]);
    let c = e.assign(&[(1, 1)]);
    assert_eq!(c, vec![err(1, 1, "s3://b/in.zarr: no credentials")]);
    assert_eq!(e.s.queued(), 0);
}

#[test]
fn a_task_of_an_unknown_job_is_answered_with_an_error() {
    let mut e = Env::new(4);
    e.open(1, 1);
    let c = e.assign(&[(9, 3), (1, 0)]);
    assert_eq!(
        c,
        vec![err(9, 3, "job 9 unknown to this worker"), Command::Wake(1)]
    );
}

#[test]
fn a_job_announced_again_is_not_opened_again() {
    let mut e = Env::new(4);
    e.open(1, 1);
    assert!(e.job(1, false).is_empty());
    assert_eq!(e.assign(&[(1, 0)]), vec![Command::Wake(1)]);
    assert_eq!(e.slot(), run(1, 1, 0));
}

#[test]
fn cancel_drops_queued_work_and_cache_and_forgets_the_job() {
    let mut e = Env::new(4);
    e.open(1, 10);
    e.open(2, 20);
    e.assign(&[(1, 0), (2, 0), (1, 1)]);
    assert_eq!(e.ev(Event::Cancel(1)), vec![Command::DropCache(1)]);
    assert_eq!(e.s.queued(), 1);
    assert_eq!(e.slot(), run(20, 2, 0));
    assert!(e.slot().is_empty());
    let c = e.assign(&[(1, 2)]);
    assert_eq!(c, vec![err(1, 2, "job 1 unknown to this worker")]);
    // a job never seen: its cache scope is dropped all the same
    assert_eq!(e.ev(Event::Cancel(5)), vec![Command::DropCache(5)]);
}

#[test]
fn cancel_while_opening_drops_the_waiting_tasks_and_the_late_outcome() {
    let mut e = Env::new(4);
    e.job(1, false);
    e.assign(&[(1, 0)]);
    assert_eq!(e.ev(Event::Cancel(1)), vec![Command::DropCache(1)]);
    assert!(e.opened(1, Ok(1)).is_empty(), "outcome dropped");
    assert!(e.slot().is_empty());
    assert_eq!(
        e.assign(&[(1, 1)]),
        vec![err(1, 1, "job 1 unknown to this worker")]
    );
}

#[test]
fn stop_empties_the_queue_wakes_every_thread_to_exit_and_ignores_the_rest() {
    let mut e = Env::new(3);
    e.open(1, 1);
    e.assign(&[(1, 0), (1, 1)]);
    assert_eq!(e.ev(Event::Stop), vec![Command::Wake(3)]);
    assert!(e.s.is_stopped());
    assert_eq!(e.slot(), vec![Command::Exit]);
    assert_eq!(e.slot(), vec![Command::Exit]);
    assert!(e.assign(&[(1, 2)]).is_empty());
    assert!(e.job(2, false).is_empty());
    assert!(e.ev(Event::Cancel(1)).is_empty());
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

/// What the test expects of a job (a mirror of the announced / opened state).
#[derive(Debug, Clone, PartialEq)]
enum Model {
    Opening,
    Open(Ctx),
    Noop,
    Failed(String),
}

#[test]
fn random_event_soup_every_task_answered_run_or_dropped_exactly_once() {
    for seed in 1..=300u64 {
        let mut r = Rng(seed * 0x9e37_79b9_7f4a_7c15);
        let slots = 1 + r.below(8) as u32;
        let mut s: WorkerState<Ctx> = WorkerState::new(slots);
        let mut model: HashMap<JobId, Model> = HashMap::new();
        // opens the shell was asked for and has not reported yet, and
        // those whose job was cancelled meanwhile (their outcome is late)
        let mut opening: Vec<JobId> = vec![];
        let mut late: Vec<JobId> = vec![];
        // every assignment: (job, task) → its fate
        let mut outstanding: HashMap<(JobId, u32), JobId> = HashMap::new();
        let (mut answered, mut ran, mut dropped) = (HashSet::new(), HashSet::new(), HashSet::new());
        let mut next_task = 0u32;
        let mut out = vec![];
        let steps = 50 + r.below(400);
        for step in 0..=steps {
            let stop = step == steps || r.below(200) == 0;
            let roll = r.below(100);
            let ev: Event<Ctx> = if stop {
                Event::Stop
            } else if roll < 10 {
                let job = 1 + r.below(6);
                Event::Job(info(job, r.below(4) == 0))
            } else if roll < 20 && !opening.is_empty() {
                let job = opening.swap_remove(r.below(opening.len() as u64) as usize);
                let result = if r.below(4) == 0 {
                    Err(format!("cannot open {job}"))
                } else {
                    Ok(100 + job as Ctx)
                };
                Event::Opened { job, result }
            } else if roll < 22 {
                // a late outcome (cancelled meanwhile) or a stray one (nobody
                // asked): for a job not being opened, so it changes nothing
                let job = match late.pop() {
                    Some(j) => j,
                    None => 1 + r.below(6),
                };
                if model.get(&job) == Some(&Model::Opening) {
                    Event::SlotFree
                } else {
                    Event::Opened {
                        job,
                        result: Ok(999),
                    }
                }
            } else if roll < 50 {
                let tasks = (0..1 + r.below(6))
                    .map(|_| {
                        next_task += 1;
                        assignment(1 + r.below(7), next_task, 1)
                    })
                    .collect();
                Event::Assigned(tasks)
            } else if roll < 55 {
                Event::Cancel(1 + r.below(7))
            } else {
                Event::SlotFree
            };
            let queued_before = s.queued();
            let stray = match &ev {
                Event::Opened { job, result } => {
                    let stray = *result == Ok(999);
                    assert_eq!(stray, model.get(job) != Some(&Model::Opening));
                    stray
                }
                _ => false,
            };
            // what the state must decide, from the model
            let mut expect_wake = 0usize;
            match &ev {
                Event::Job(i) => {
                    model
                        .entry(i.job)
                        .or_insert(if i.noop { Model::Noop } else { Model::Opening });
                }
                Event::Opened { job, result } if !stray => {
                    let waiting = outstanding.values().filter(|j| *j == job).count();
                    let m = match result {
                        Ok(c) => {
                            expect_wake = waiting;
                            Model::Open(*c)
                        }
                        Err(e) => Model::Failed(e.clone()),
                    };
                    model.insert(*job, m);
                }
                Event::Assigned(ts) => {
                    for t in ts {
                        outstanding.insert((t.job, t.task), t.job);
                        if matches!(model.get(&t.job), Some(Model::Open(_))) {
                            expect_wake += 1;
                        }
                    }
                }
                Event::Cancel(job) => {
                    model.remove(job);
                    if let Some(i) = opening.iter().position(|j| j == job) {
                        late.push(opening.swap_remove(i));
                    }
                    outstanding.retain(|k, j| {
                        if j == job {
                            dropped.insert(*k);
                        }
                        j != job
                    });
                }
                Event::Stop => {
                    model.clear();
                    for (k, _) in outstanding.drain() {
                        dropped.insert(k);
                    }
                }
                _ => {}
            }
            let is_slot = matches!(ev, Event::SlotFree);
            s.handle(ev, &mut out);
            s.sanity_check();
            if stray {
                assert!(out.is_empty(), "seed {seed}: stray outcome acted on");
            }
            let wakes: Vec<u32> = out
                .iter()
                .filter_map(|c| match c {
                    Command::Wake(n) => Some(*n),
                    _ => None,
                })
                .collect();
            if stop {
                assert_eq!(wakes, vec![slots], "seed {seed}: stop wakes all");
            } else if expect_wake > 0 {
                let n = expect_wake.min(slots as usize) as u32;
                assert_eq!(wakes, vec![n], "seed {seed}: one wake per task");
            } else {
                assert!(wakes.is_empty(), "seed {seed}: woke for nothing");
            }
            for c in out.drain(..) {
                match c {
                    Command::Open(i) => {
                        assert_eq!(model.get(&i.job), Some(&Model::Opening), "seed {seed}");
                        assert!(!opening.contains(&i.job), "seed {seed}: opened twice");
                        opening.push(i.job);
                    }
                    Command::Send(res) => {
                        let k = (res.job, res.task);
                        assert!(outstanding.remove(&k).is_some(), "seed {seed}: {k:?} again");
                        answered.insert(k);
                        match model.get(&res.job) {
                            Some(Model::Noop) => assert!(res.ok, "seed {seed}"),
                            Some(Model::Failed(e)) => assert_eq!(&res.error, e),
                            None => assert_eq!(
                                res.error,
                                format!("job {} unknown to this worker", res.job)
                            ),
                            m => panic!("seed {seed}: answered a task of {m:?}"),
                        }
                    }
                    Command::Run(w) => {
                        assert!(is_slot, "seed {seed}: Run outside SlotFree");
                        let k = (w.task.job, w.task.task);
                        assert!(outstanding.remove(&k).is_some(), "seed {seed}: {k:?} again");
                        assert_eq!(
                            model.get(&w.task.job),
                            Some(&Model::Open(w.job)),
                            "seed {seed}: run with its job's context"
                        );
                        ran.insert(k);
                    }
                    Command::Exit => assert!(is_slot && s.is_stopped(), "seed {seed}"),
                    Command::DropCache(_) | Command::Wake(_) => {}
                }
            }
            if is_slot && !s.is_stopped() {
                assert_eq!(
                    s.queued(),
                    queued_before.saturating_sub(1),
                    "seed {seed}: a free slot takes a queued task"
                );
            }
            if stop {
                break;
            }
        }
        assert!(s.is_stopped());
        assert!(outstanding.is_empty(), "seed {seed}");
        // every task met exactly one fate
        let total = next_task as usize;
        assert_eq!(
            answered.len() + ran.len() + dropped.len(),
            total,
            "seed {seed}"
        );
        assert!(answered.is_disjoint(&ran) && answered.is_disjoint(&dropped));
        assert!(ran.is_disjoint(&dropped));
    }
}
