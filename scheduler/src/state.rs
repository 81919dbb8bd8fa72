//! The scheduler as a pure state machine (sans-I/O, in the style of
//! HyperQueue's tako): [`Scheduler::handle`] takes an [`Event`] and the
//! current time and appends [`Command`]s. No sockets, threads or clocks
//! inside, so every rule is tested with scripted event sequences.
//!
//! Rules:
//! - workers pull: each has at most `slots` tasks in flight, so every
//!   assigned task is running (there is no prefetch queue on the worker);
//! - locality: tasks made ready by a task a worker finished are offered to
//!   that worker first (children of the chunks it just wrote);
//! - affinity: tasks sharing a non-zero affinity (the chunks of one band,
//!   which read the same input chunks) go to the worker that owns that
//!   group; a worker with nothing of its own claims an unowned group, and
//!   only when none is left takes tasks from another worker's group
//!   (counted in [`Stats::stolen`]) — so each input chunk is decoded once;
//! - a worker silent for [`LOST_AFTER_MS`] (checked on [`Event::Tick`]) or
//!   whose stream broke is lost; its tasks go back to ready with attempt + 1;
//! - a result whose attempt is not the task's current assignment is ignored
//!   and counted in [`Stats::stale_results`];
//! - a task that fails, or whose worker is lost while running it,
//!   `max_attempts` times (default 3) fails its job with the last error and
//!   the task's history; the job's other in-flight tasks are cancelled;
//! - fair share between jobs: each free slot goes to the job with the
//!   fewest running tasks per unit of priority (ties: the older job), and
//!   the rules above apply within that job; a job's priority (default 1)
//!   weighs its share.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap as HashMap;

/// Milliseconds on the caller's clock.
pub type Millis = u64;
/// Worker id (given by the server).
pub type WorkerId = u64;
/// Job id (given by the server).
pub type JobId = u64;
/// Index of a task in its job.
pub type TaskIdx = u32;

/// Heartbeat period the workers are told to use.
pub const HEARTBEAT_MS: Millis = 1_000;
/// A worker silent this long is lost.
pub const LOST_AFTER_MS: Millis = 10_000;
/// Default attempts per task before its job fails.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Why a worker went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// Said goodbye (not a failure of its tasks).
    Stopped,
    /// Its stream broke.
    ConnectionLost,
    /// Silent for longer than [`LOST_AFTER_MS`].
    HeartbeatLost,
}

impl LostReason {
    /// Does losing a worker for this reason count against its running tasks?
    pub fn is_failure(self) -> bool {
        !matches!(self, LostReason::Stopped)
    }
}

impl std::fmt::Display for LostReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LostReason::Stopped => f.write_str("worker stopped"),
            LostReason::ConnectionLost => f.write_str("worker connection lost"),
            LostReason::HeartbeatLost => {
                write!(f, "worker silent for {}", seconds(LOST_AFTER_MS))
            }
        }
    }
}

/// Milliseconds as people read them: `10 s`, `2.5 s`.
fn seconds(ms: Millis) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", ms as f64 / 1000.0)
    }
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new job: `deps[i]` are the tasks task `i` waits for; `affinity[i]`
    /// (0 = none; an empty list: none at all) groups tasks best run on one
    /// worker.
    JobSubmitted {
        /// The job.
        job: JobId,
        /// For each task, the tasks it waits for.
        deps: Vec<Vec<TaskIdx>>,
        /// For each task, its affinity group (0 = none).
        affinity: Vec<u32>,
        /// Attempts before a task fails the job.
        max_attempts: u32,
        /// Weight of its share of the slots among running jobs (0 = 1).
        priority: u32,
    },
    /// A worker connected with `slots` task slots.
    WorkerJoined {
        /// The worker.
        worker: WorkerId,
        /// Tasks it runs at once.
        slots: u32,
    },
    /// A worker is alive.
    Heartbeat {
        /// The worker.
        worker: WorkerId,
    },
    /// A worker finished a task.
    TaskFinished {
        /// The worker.
        worker: WorkerId,
        /// The job.
        job: JobId,
        /// The task's index in its job.
        task: TaskIdx,
        /// Which attempt (1 = the first).
        attempt: u32,
    },
    /// A task failed on a worker.
    TaskFailed {
        /// The worker.
        worker: WorkerId,
        /// The job.
        job: JobId,
        /// The task's index in its job.
        task: TaskIdx,
        /// Which attempt (1 = the first).
        attempt: u32,
        /// The worker's error message.
        error: String,
    },
    /// A worker is gone.
    WorkerLost {
        /// The worker.
        worker: WorkerId,
        /// Why.
        reason: LostReason,
    },
    /// Cancel a job.
    CancelJob {
        /// The job.
        job: JobId,
    },
    /// Time passes: check heartbeats.
    Tick,
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send a task to a worker.
    Assign {
        /// The worker.
        worker: WorkerId,
        /// The job.
        job: JobId,
        /// The task's index in its job.
        task: TaskIdx,
        /// Which attempt (1 = the first).
        attempt: u32,
    },
    /// A task is done (for watchers).
    TaskDone {
        /// The job.
        job: JobId,
        /// The task's index in its job.
        task: TaskIdx,
        /// The worker.
        worker: WorkerId,
        /// Which attempt (1 = the first).
        attempt: u32,
    },
    /// A task attempt failed and the task was queued again.
    TaskRetry {
        /// The job.
        job: JobId,
        /// The task's index in its job.
        task: TaskIdx,
        /// Which attempt (1 = the first).
        attempt: u32,
        /// Why.
        reason: String,
    },
    /// Tell a worker to drop a job's tasks.
    Cancel {
        /// The worker.
        worker: WorkerId,
        /// The job.
        job: JobId,
    },
    /// Every task of a job is done.
    JobDone {
        /// The job.
        job: JobId,
    },
    /// A job failed: the task, its last error and its history.
    JobFailed {
        /// The job.
        job: JobId,
        /// The task's index in its job.
        task: TaskIdx,
        /// The worker's error message.
        error: String,
        /// Every attempt of the task: worker and outcome.
        history: Vec<String>,
    },
    /// A worker was declared lost (the shell closes its stream).
    WorkerLost {
        /// The worker.
        worker: WorkerId,
        /// Why.
        reason: LostReason,
    },
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for this many dependencies.
    Waiting(u32),
    /// In a ready queue.
    Ready,
    /// Sent to a worker (and running there: in-flight is bounded by slots).
    Assigned(WorkerId),
    /// Finished.
    Done,
}

#[derive(Debug)]
struct TaskRec {
    state: TaskState,
    attempt: u32,
    failures: u32,
    history: Vec<String>,
}

#[derive(Debug)]
struct Job {
    tasks: Vec<TaskRec>,
    /// Dependents of each task (CSR: `dep_start[i]..dep_start[i+1]` in `dependents`).
    dep_start: Vec<u32>,
    dependents: Vec<TaskIdx>,
    done: u32,
    max_attempts: u32,
    /// Affinity group of each task (0 = none; empty = no task has one).
    affinity: Vec<u32>,
    /// Affinity groups with unfinished tasks.
    groups: HashMap<u32, Group>,
    /// Ready tasks without affinity.
    ready: VecDeque<TaskIdx>,
    /// Affinity groups that had ready tasks and no owner when listed.
    open: VecDeque<u32>,
    /// Weight of its share of the slots (≥ 1).
    priority: u32,
    /// Submission order (ties in the fair share go to the older job).
    seq: u64,
}

/// Tasks of one affinity group.
#[derive(Debug, Default)]
struct Group {
    /// Ready tasks (may hold entries already taken through a local queue).
    ready: VecDeque<TaskIdx>,
    owner: Option<WorkerId>,
    /// Tasks not done yet.
    left: u32,
    /// Listed in its job's `open`.
    listed: bool,
}

impl Group {
    /// List this group in `open` if it has no owner and is not listed yet.
    fn offer(&mut self, a: u32, open: &mut VecDeque<u32>) {
        if self.owner.is_none() && !self.listed {
            self.listed = true;
            open.push_back(a);
        }
    }

    /// Its next task still ready (entries taken meanwhile are dropped).
    fn pop_ready(&mut self, tasks: &[TaskRec]) -> Option<TaskIdx> {
        std::iter::from_fn(|| self.ready.pop_front())
            .find(|t| tasks[*t as usize].state == TaskState::Ready)
    }
}

impl Job {
    /// Affinity group of a task (0: none; `groups` never holds 0).
    fn affinity_of(&self, task: TaskIdx) -> u32 {
        self.affinity.get(task as usize).copied().unwrap_or(0)
    }
}

/// A ready task of group `a` of job `j`, and the group.
fn pop_group(jobs: &mut HashMap<JobId, Job>, j: JobId, a: u32) -> Option<(TaskIdx, &mut Group)> {
    let Job { groups, tasks, .. } = jobs.get_mut(&j)?;
    let g = groups.get_mut(&a)?;
    Some((g.pop_ready(tasks)?, g))
}

/// Push at the front (a task to run soon again) or the back.
fn push_end<T>(q: &mut VecDeque<T>, x: T, front: bool) {
    if front {
        q.push_front(x);
    } else {
        q.push_back(x);
    }
}

#[derive(Debug)]
struct Worker {
    slots: u32,
    running: Vec<(JobId, TaskIdx)>,
    last_seen: Millis,
    /// Tasks made ready by this worker's results (locality).
    local: VecDeque<(JobId, TaskIdx)>,
    /// Affinity groups this worker owns.
    owned: Vec<(JobId, u32)>,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Results ignored because their attempt or worker was not current.
    pub stale_results: u64,
    /// Tasks re-queued after a failure or a lost worker.
    pub retries: u64,
    /// Tasks finished.
    pub tasks_done: u64,
    /// Workers lost.
    pub workers_lost: u64,
    /// Jobs finished.
    pub jobs_done: u64,
    /// Jobs failed.
    pub jobs_failed: u64,
    /// Tasks taken from another worker's affinity group (idle worker, no
    /// unowned group left).
    pub stolen: u64,
}

/// The scheduler state: jobs, their task DAGs, workers and their slots.
#[derive(Debug, Default)]
pub struct Scheduler {
    jobs: HashMap<JobId, Job>,
    workers: BTreeMap<WorkerId, Worker>,
    /// Jobs submitted so far (their `seq`).
    submitted: u64,
    stats: Stats,
}

impl Scheduler {
    /// An empty scheduler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Is the job still running?
    pub fn has_job(&self, job: JobId) -> bool {
        self.jobs.contains_key(&job)
    }

    /// State and attempt of a task of a running job.
    pub fn task(&self, job: JobId, task: TaskIdx) -> Option<(TaskState, u32)> {
        let t = self.jobs.get(&job)?.tasks.get(task as usize)?;
        Some((t.state, t.attempt))
    }

    /// Connected workers: (id, slots, tasks in flight).
    pub fn workers(&self) -> Vec<(WorkerId, u32, usize)> {
        self.workers
            .iter()
            .map(|(id, w)| (*id, w.slots, w.running.len()))
            .collect()
    }

    /// Tasks in flight: (worker, job, task).
    pub fn running(&self) -> impl Iterator<Item = (WorkerId, JobId, TaskIdx)> + '_ {
        self.workers
            .iter()
            .flat_map(|(id, w)| w.running.iter().map(move |(j, t)| (*id, *j, *t)))
    }

    /// Handle one event at time `now`, appending commands to `out`.
    pub fn handle(&mut self, now: Millis, ev: Event, out: &mut Vec<Command>) {
        match ev {
            Event::JobSubmitted {
                job,
                deps,
                affinity,
                max_attempts,
                priority,
            } => self.submit(job, deps, affinity, max_attempts, priority, out),
            Event::WorkerJoined { worker, slots } => {
                self.workers.insert(
                    worker,
                    Worker {
                        slots: slots.max(1),
                        running: Vec::new(),
                        last_seen: now,
                        local: VecDeque::new(),
                        owned: Vec::new(),
                    },
                );
                self.fill(worker, out);
            }
            Event::Heartbeat { worker } => {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.last_seen = now;
                }
            }
            Event::TaskFinished {
                worker,
                job,
                task,
                attempt,
            } => self.finished(now, worker, job, task, attempt, out),
            Event::TaskFailed {
                worker,
                job,
                task,
                attempt,
                error,
            } => self.failed(now, worker, job, task, attempt, error, out),
            Event::WorkerLost { worker, reason } => self.lose(worker, reason, out),
            Event::CancelJob { job } => {
                if self.jobs.contains_key(&job) {
                    self.drop_job(job, out);
                    self.schedule(out);
                }
            }
            Event::Tick => {
                let silent: Vec<WorkerId> = self
                    .workers
                    .iter()
                    .filter(|(_, w)| now.saturating_sub(w.last_seen) > LOST_AFTER_MS)
                    .map(|(id, _)| *id)
                    .collect();
                for w in silent {
                    self.lose(w, LostReason::HeartbeatLost, out);
                }
            }
        }
    }

    fn submit(
        &mut self,
        job: JobId,
        deps: Vec<Vec<TaskIdx>>,
        mut affinity: Vec<u32>,
        max_attempts: u32,
        priority: u32,
        out: &mut Vec<Command>,
    ) {
        let n = deps.len();
        if affinity.iter().all(|a| *a == 0) {
            affinity.clear();
        } else {
            affinity.resize(n, 0);
        }
        let mut groups: HashMap<u32, Group> = HashMap::default();
        for &a in affinity.iter().filter(|a| **a != 0) {
            groups.entry(a).or_default().left += 1;
        }
        let mut count = vec![0u32; n + 1];
        for d in deps.iter().flatten() {
            count[*d as usize] += 1;
        }
        let mut dep_start = vec![0u32; n + 1];
        for i in 0..n {
            dep_start[i + 1] = dep_start[i] + count[i];
        }
        let mut fill = dep_start.clone();
        let mut dependents = vec![0; dep_start[n] as usize];
        for (i, ds) in deps.iter().enumerate() {
            for d in ds {
                let slot = &mut fill[*d as usize];
                dependents[*slot as usize] = i as TaskIdx;
                *slot += 1;
            }
        }
        let tasks: Vec<TaskRec> = deps
            .iter()
            .map(|d| TaskRec {
                state: if d.is_empty() {
                    TaskState::Ready
                } else {
                    TaskState::Waiting(d.len() as u32)
                },
                attempt: 1,
                failures: 0,
                history: Vec::new(),
            })
            .collect();
        let ready: Vec<TaskIdx> = (0..n as TaskIdx)
            .filter(|i| tasks[*i as usize].state == TaskState::Ready)
            .collect();
        if n == 0 {
            self.stats.jobs_done += 1;
            out.push(Command::JobDone { job });
            return;
        }
        self.jobs.insert(
            job,
            Job {
                tasks,
                dep_start,
                dependents,
                done: 0,
                max_attempts: if max_attempts == 0 {
                    DEFAULT_MAX_ATTEMPTS
                } else {
                    max_attempts
                },
                affinity,
                groups,
                ready: VecDeque::new(),
                open: VecDeque::new(),
                priority: priority.max(1),
                seq: self.submitted,
            },
        );
        self.submitted += 1;
        for i in ready {
            self.push_ready(job, i, false);
        }
        self.schedule(out);
    }

    /// Queue a ready task: in its affinity group, or with the others.
    fn push_ready(&mut self, job: JobId, task: TaskIdx, front: bool) {
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        let a = j.affinity_of(task);
        let Job {
            groups,
            open,
            ready,
            ..
        } = j;
        match groups.get_mut(&a) {
            Some(g) => {
                g.offer(a, open);
                push_end(&mut g.ready, task, front);
            }
            None => push_end(ready, task, front),
        }
    }

    /// Is this result for the task's current assignment? If not, count it.
    fn current(&mut self, worker: WorkerId, job: JobId, task: TaskIdx, attempt: u32) -> bool {
        let ok = self
            .jobs
            .get(&job)
            .and_then(|j| j.tasks.get(task as usize))
            .is_some_and(|t| t.attempt == attempt && t.state == TaskState::Assigned(worker));
        if !ok {
            self.stats.stale_results += 1;
        }
        ok
    }

    /// A result arrived: the worker is alive; if the result is for the
    /// current attempt, free the worker's slot and return true.
    fn accept(
        &mut self,
        now: Millis,
        worker: WorkerId,
        job: JobId,
        task: TaskIdx,
        attempt: u32,
    ) -> bool {
        if let Some(w) = self.workers.get_mut(&worker) {
            w.last_seen = now;
        }
        if !self.current(worker, job, task, attempt) {
            return false;
        }
        self.release(worker, job, task);
        true
    }

    fn release(&mut self, worker: WorkerId, job: JobId, task: TaskIdx) {
        if let Some(w) = self.workers.get_mut(&worker) {
            if let Some(p) = w.running.iter().position(|x| *x == (job, task)) {
                w.running.swap_remove(p);
            }
        }
    }

    fn finished(
        &mut self,
        now: Millis,
        worker: WorkerId,
        job: JobId,
        task: TaskIdx,
        attempt: u32,
        out: &mut Vec<Command>,
    ) {
        if !self.accept(now, worker, job, task, attempt) {
            return;
        }
        let j = self.jobs.get_mut(&job).expect("checked by accept()");
        j.tasks[task as usize].state = TaskState::Done;
        j.done += 1;
        self.stats.tasks_done += 1;
        let aff = j.affinity_of(task);
        if let Some(g) = j.groups.get_mut(&aff) {
            g.left -= 1;
            if g.left == 0 {
                let owner = g.owner;
                j.groups.remove(&aff);
                if let Some(w) = owner.and_then(|o| self.workers.get_mut(&o)) {
                    w.owned.retain(|x| *x != (job, aff));
                }
            }
        }
        out.push(Command::TaskDone {
            job,
            task,
            worker,
            attempt,
        });
        let (a, b) = (
            j.dep_start[task as usize] as usize,
            j.dep_start[task as usize + 1] as usize,
        );
        let mut ready = vec![];
        for &d in &j.dependents[a..b] {
            let t = &mut j.tasks[d as usize];
            if let TaskState::Waiting(n) = t.state {
                if n == 1 {
                    t.state = TaskState::Ready;
                    ready.push(d);
                } else {
                    t.state = TaskState::Waiting(n - 1);
                }
            }
        }
        let done = j.done as usize == j.tasks.len();
        for d in ready {
            // children of the same group (or of no group) stay local
            let da = self.jobs[&job].affinity_of(d);
            if da == 0 || da == aff {
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.local.push_back((job, d));
                }
            }
            self.push_ready(job, d, false);
        }
        if done {
            self.forget(job);
            self.stats.jobs_done += 1;
            out.push(Command::JobDone { job });
        }
        self.fill(worker, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn failed(
        &mut self,
        now: Millis,
        worker: WorkerId,
        job: JobId,
        task: TaskIdx,
        attempt: u32,
        error: String,
        out: &mut Vec<Command>,
    ) {
        if !self.accept(now, worker, job, task, attempt) {
            return;
        }
        let msg = format!("attempt {attempt} on worker {worker}: {error}");
        self.retry_or_fail(job, task, msg, error, out);
        self.fill(worker, out);
    }

    /// A running attempt failed: queue the task again, or fail its job.
    fn retry_or_fail(
        &mut self,
        job: JobId,
        task: TaskIdx,
        history_line: String,
        error: String,
        out: &mut Vec<Command>,
    ) {
        let Some(j) = self.jobs.get_mut(&job) else {
            return;
        };
        let t = &mut j.tasks[task as usize];
        t.failures += 1;
        t.history.push(history_line);
        if t.failures >= j.max_attempts {
            let history = std::mem::take(&mut t.history);
            self.stats.jobs_failed += 1;
            out.push(Command::JobFailed {
                job,
                task,
                error,
                history,
            });
            self.drop_job(job, out);
        } else {
            out.push(Command::TaskRetry {
                job,
                task,
                attempt: t.attempt,
                reason: error,
            });
            t.attempt += 1;
            t.state = TaskState::Ready;
            self.stats.retries += 1;
            self.push_ready(job, task, false);
        }
    }

    /// Remove a job; tell workers running its tasks to drop them.
    fn drop_job(&mut self, job: JobId, out: &mut Vec<Command>) {
        self.forget(job);
        for (id, w) in self.workers.iter_mut() {
            let before = w.running.len();
            w.running.retain(|(j, _)| *j != job);
            if w.running.len() != before {
                out.push(Command::Cancel { worker: *id, job });
            }
        }
    }

    /// Remove a finished or dropped job and the workers' references to it.
    fn forget(&mut self, job: JobId) {
        self.jobs.remove(&job);
        for w in self.workers.values_mut() {
            w.local.retain(|(j, _)| *j != job);
            w.owned.retain(|(j, _)| *j != job);
        }
    }

    fn lose(&mut self, worker: WorkerId, reason: LostReason, out: &mut Vec<Command>) {
        let Some(w) = self.workers.remove(&worker) else {
            return;
        };
        self.stats.workers_lost += 1;
        out.push(Command::WorkerLost { worker, reason });
        // its groups are up for grabs
        for (job, a) in w.owned {
            if let Some(j) = self.jobs.get_mut(&job) {
                if let Some(g) = j.groups.get_mut(&a) {
                    g.owner = None;
                    g.offer(a, &mut j.open);
                }
            }
        }
        for (job, task) in w.running {
            let Some(j) = self.jobs.get_mut(&job) else {
                continue;
            };
            let t = &mut j.tasks[task as usize];
            if reason.is_failure() {
                let line = format!("attempt {} on worker {worker}: {reason}", t.attempt);
                self.retry_or_fail(job, task, line, reason.to_string(), out);
            } else {
                t.attempt += 1;
                t.state = TaskState::Ready;
                self.push_ready(job, task, true);
            }
        }
        self.schedule(out);
    }

    /// Next ready task for a worker: from the job whose turn it is (fair
    /// share, see the module docs), else the next job in that order.
    fn next_for(&mut self, worker: WorkerId) -> Option<(JobId, TaskIdx)> {
        if self.jobs.len() == 1 {
            let job = *self.jobs.keys().next().expect("one job");
            return self.next_in(worker, job).map(|t| (job, t));
        }
        for job in self.fair_order() {
            if let Some(t) = self.next_in(worker, job) {
                return Some((job, t));
            }
        }
        None
    }

    /// Running jobs, the one owed the most slots first: fewest running
    /// tasks per unit of priority, then the oldest.
    fn fair_order(&self) -> Vec<JobId> {
        let mut running: HashMap<JobId, u64> = HashMap::default();
        for w in self.workers.values() {
            for (j, _) in &w.running {
                *running.entry(*j).or_default() += 1;
            }
        }
        let mut order: Vec<(u64, u64, JobId)> = self
            .jobs
            .iter()
            .map(|(id, j)| {
                let r = running.get(id).copied().unwrap_or(0);
                // running / priority, compared exactly (priorities < 2^32)
                ((r << 32) / u64::from(j.priority), j.seq, *id)
            })
            .collect();
        order.sort_unstable();
        order.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Next ready task of `job` for a worker: its local queue, its own
    /// groups, an unowned group (claimed), tasks without affinity, and last
    /// another worker's group.
    fn next_in(&mut self, worker: WorkerId, job: JobId) -> Option<TaskIdx> {
        let jobs = &mut self.jobs;
        let w = self.workers.get_mut(&worker)?;
        while let Some(p) = w.local.iter().position(|(j, _)| *j == job) {
            let (_, t) = w.local.remove(p).expect("found");
            if jobs.get(&job)?.tasks[t as usize].state == TaskState::Ready {
                return Some(t);
            }
        }
        w.owned
            .retain(|(j, a)| jobs.get(j).is_some_and(|job| job.groups.contains_key(a)));
        for &(j, a) in w.owned.iter().filter(|(j, _)| *j == job) {
            if let Some((t, _)) = pop_group(jobs, j, a) {
                return Some(t);
            }
        }
        let Job {
            tasks,
            groups,
            ready,
            open,
            ..
        } = jobs.get_mut(&job)?;
        while let Some(a) = open.pop_front() {
            let Some(g) = groups.get_mut(&a) else {
                continue;
            };
            g.listed = false;
            if g.owner.is_some() {
                continue;
            }
            if let Some(t) = g.pop_ready(tasks) {
                g.owner = Some(worker);
                w.owned.push((job, a));
                return Some(t);
            }
        }
        while let Some(t) = ready.pop_front() {
            if tasks[t as usize].state == TaskState::Ready {
                return Some(t);
            }
        }
        // idle: help the group with the most ready tasks; a queue holding
        // only entries taken meanwhile is emptied by the try, so go on
        loop {
            let a = groups
                .iter()
                .map(|(a, g)| (g.ready.len(), *a))
                .filter(|(n, _)| *n > 0)
                .max()
                .map(|(_, a)| a)?;
            if let Some(t) = groups.get_mut(&a).and_then(|g| g.pop_ready(tasks)) {
                self.stats.stolen += 1;
                return Some(t);
            }
        }
    }

    /// Give `worker` tasks up to its slots, then the others.
    fn fill(&mut self, worker: WorkerId, out: &mut Vec<Command>) {
        if self.fill_one(worker, out) {
            self.schedule(out);
        }
    }

    fn fill_one(&mut self, worker: WorkerId, out: &mut Vec<Command>) -> bool {
        loop {
            let Some(w) = self.workers.get(&worker) else {
                return false;
            };
            if w.running.len() >= w.slots as usize {
                return true;
            }
            let Some((job, task)) = self.next_for(worker) else {
                return false;
            };
            let t = &mut self.jobs.get_mut(&job).expect("ready").tasks[task as usize];
            t.state = TaskState::Assigned(worker);
            let attempt = t.attempt;
            self.workers
                .get_mut(&worker)
                .expect("checked")
                .running
                .push((job, task));
            out.push(Command::Assign {
                worker,
                job,
                task,
                attempt,
            });
        }
    }

    /// Fill free slots of every worker.
    fn schedule(&mut self, out: &mut Vec<Command>) {
        let ids: Vec<WorkerId> = self
            .workers
            .iter()
            .filter(|(_, w)| w.running.len() < w.slots as usize)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if !self.fill_one(id, out) {
                // out of ready tasks: every worker may take any ready task
                break;
            }
        }
    }

    /// Check the cross-invariants (tests): each worker's running list matches
    /// the task states, in-flight ≤ slots, waiting counts match unfinished
    /// deps, no task waits in a ready queue while a slot is free.
    pub fn sanity_check(&self) {
        let mut assigned = 0;
        for (id, w) in &self.workers {
            assert!(
                w.running.len() <= w.slots as usize,
                "worker {id} over slots"
            );
            for (j, t) in &w.running {
                let st = self.jobs[j].tasks[*t as usize].state;
                assert_eq!(st, TaskState::Assigned(*id), "job {j} task {t}");
            }
            assigned += w.running.len();
        }
        let mut assigned_states = 0;
        for (jid, j) in &self.jobs {
            let mut waiting_on = vec![0u32; j.tasks.len()];
            for (i, t) in j.tasks.iter().enumerate() {
                if t.state != TaskState::Done {
                    let (a, b) = (j.dep_start[i] as usize, j.dep_start[i + 1] as usize);
                    for &d in &j.dependents[a..b] {
                        waiting_on[d as usize] += 1;
                    }
                }
            }
            for (a, g) in &j.groups {
                let left = (0..j.tasks.len())
                    .filter(|i| j.affinity[*i] == *a && j.tasks[*i].state != TaskState::Done)
                    .count();
                assert_eq!(g.left as usize, left, "job {jid} group {a} count");
                if let Some(o) = g.owner {
                    assert!(
                        self.workers[&o].owned.contains(&(*jid, *a)),
                        "group {a} owner {o} does not list it"
                    );
                }
            }
            for (i, t) in j.tasks.iter().enumerate() {
                match t.state {
                    TaskState::Waiting(n) => {
                        assert_eq!(n, waiting_on[i], "job {jid} task {i} waiting count")
                    }
                    TaskState::Assigned(w) => {
                        assert!(self.workers.contains_key(&w), "assigned to a lost worker");
                        assigned_states += 1;
                    }
                    TaskState::Ready | TaskState::Done => {
                        assert_eq!(waiting_on[i], 0, "job {jid} task {i} ran before its deps")
                    }
                }
            }
        }
        assert_eq!(assigned, assigned_states);
        // work-conserving: no ready task while a worker has a free slot
        if self
            .workers
            .values()
            .any(|w| w.running.len() < w.slots as usize)
        {
            for (jid, j) in &self.jobs {
                for (i, t) in j.tasks.iter().enumerate() {
                    assert_ne!(
                        t.state,
                        TaskState::Ready,
                        "job {jid} task {i} ready, a slot free"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heartbeat_loss_message_states_lost_after_ms() {
        assert_eq!(seconds(10_000), "10 s");
        assert_eq!(seconds(2_500), "2.5 s");
        assert_eq!(
            LostReason::HeartbeatLost.to_string(),
            format!("worker silent for {}", seconds(LOST_AFTER_MS))
        );
    }
}
