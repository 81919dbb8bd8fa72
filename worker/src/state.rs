//! The worker's decisions as a pure state machine (sans-I/O, like the
//! scheduler's `state`): [`WorkerState::handle`] takes an [`Event`] and
//! appends [`Command`]s. No sockets, threads, clocks or stores inside: the
//! shell (`lib.rs`) opens a job's stores when told to ([`Command::Open`])
//! and feeds the outcome back ([`Event::Opened`]), runs [`Command::Run`]
//! work on its slot threads, sends results, wakes slot threads and drops
//! cache scopes. `J` is what the shell opened for a job (its stores and
//! plan), handed back with each task of that job.
//!
//! Rules:
//! - job table: a job is announced once per session ([`Event::Job`], before
//!   its first task); a repeated announcement changes nothing. A no-op job
//!   (engine benchmark) needs no stores; any other is opened by the shell,
//!   and its tasks that arrive meanwhile wait for the outcome. An outcome
//!   for a job not being opened (cancelled meanwhile) is dropped.
//! - no-op shortcut: a no-op job's tasks are answered `ok` at once, never
//!   queued, so no slot thread wakes for them.
//! - a task of a job that failed to open is answered with that error; a
//!   task of a job this worker does not know, with `job N unknown to this
//!   worker`. Either way the scheduler retries or fails it: nothing here
//!   retries.
//! - slot queue: the other tasks are queued in arrival order; a free slot
//!   thread ([`Event::SlotFree`]) gets the oldest ([`Command::Run`]), else
//!   nothing (it waits), or [`Command::Exit`] once stopped. These are the
//!   only answers to `SlotFree`, and `SlotFree` is the only event that
//!   gets them.
//! - waking: each message that queues `n` tasks wakes `min(n, slots)` slot
//!   threads ([`Command::Wake`]) — one per task, not every thread per
//!   message (waking all 64 per message had held gRPC no-op throughput to
//!   13–50 k tasks/s).
//! - cancellation: a cancelled job's queued and waiting tasks are dropped
//!   without a result (the scheduler has already dropped the job), its
//!   chunk-cache scope is dropped ([`Command::DropCache`]) and the job is
//!   forgotten: later tasks of it are unknown. Tasks already running finish;
//!   the scheduler ignores their results.
//! - shutdown ([`Event::Stop`], the session ended): the queue and the job
//!   table are emptied, every slot thread is woken to exit, and later
//!   events change nothing.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};

use geozarr_proto::pb;

/// Job id (given by the scheduler).
pub type JobId = u64;

/// A queued task and what its job was opened with.
#[derive(Debug, Clone, PartialEq)]
pub struct Work<J> {
    /// The job's opened context (shell-defined).
    pub job: J,
    /// The task as the scheduler assigned it.
    pub task: pb::Assignment,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<J> {
    /// The scheduler announced a job (before its first task here).
    Job(pb::JobInfo),
    /// The shell opened a job's stores (`Ok`: what its tasks run with) or
    /// could not (`Err`: the reason, sent back as each task's error).
    Opened {
        /// The job.
        job: JobId,
        /// The outcome.
        result: Result<J, String>,
    },
    /// The scheduler assigned tasks (one message).
    Assigned(Vec<pb::Assignment>),
    /// The scheduler cancelled a job.
    Cancel(JobId),
    /// A slot thread is free and asks for work.
    SlotFree,
    /// The session with the scheduler ended.
    Stop,
}

/// Something the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command<J> {
    /// Open this job's stores, then feed back [`Event::Opened`].
    Open(pb::JobInfo),
    /// Run this task on the slot thread that asked ([`Event::SlotFree`]).
    Run(Work<J>),
    /// Send this result to the scheduler.
    Send(pb::TaskResult),
    /// Wake this many waiting slot threads (at most `slots`: all of them).
    Wake(u32),
    /// Drop the job's scope of the decoded-chunk cache.
    DropCache(JobId),
    /// The slot thread that asked stops.
    Exit,
}

/// A job in the table.
#[derive(Debug)]
enum Job<J> {
    /// Being opened by the shell; tasks that arrived meanwhile.
    Opening(Vec<pb::Assignment>),
    /// Opened: its tasks are queued with this.
    Open(J),
    /// A no-op job: its tasks are done at once.
    Noop,
    /// Could not be opened: its tasks fail with this.
    Failed(String),
}

/// The worker's state for one session: job table and slot queue.
#[derive(Debug)]
pub struct WorkerState<J> {
    slots: u32,
    jobs: HashMap<JobId, Job<J>>,
    queue: VecDeque<Work<J>>,
    stopped: bool,
}

/// A result carrying nothing but its outcome.
fn result(t: &pb::Assignment, error: Option<String>) -> pb::TaskResult {
    pb::TaskResult {
        job: t.job,
        task: t.task,
        attempt: t.attempt,
        ok: error.is_none(),
        error: error.unwrap_or_default(),
        ..Default::default()
    }
}

impl<J: Clone> WorkerState<J> {
    /// An empty state for a worker with `slots` slot threads (at least 1).
    pub fn new(slots: u32) -> Self {
        WorkerState {
            slots: slots.max(1),
            jobs: HashMap::new(),
            queue: VecDeque::new(),
            stopped: false,
        }
    }

    /// Slot threads.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Tasks queued for the slot threads.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Has the session ended?
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Handle one event, appending commands to `out`.
    pub fn handle(&mut self, ev: Event<J>, out: &mut Vec<Command<J>>) {
        if self.stopped {
            if matches!(ev, Event::SlotFree) {
                out.push(Command::Exit);
            }
            return;
        }
        match ev {
            Event::Job(info) => {
                if let MapEntry::Vacant(e) = self.jobs.entry(info.job) {
                    if info.noop {
                        e.insert(Job::Noop);
                    } else {
                        e.insert(Job::Opening(Vec::new()));
                        out.push(Command::Open(info));
                    }
                }
            }
            Event::Opened { job, result: r } => {
                let Some(entry) = self.jobs.get_mut(&job) else {
                    return;
                };
                let Job::Opening(waiting) = entry else {
                    return;
                };
                let waiting = std::mem::take(waiting);
                match r {
                    Ok(ctx) => {
                        let n = waiting.len();
                        self.queue.extend(waiting.into_iter().map(|task| Work {
                            job: ctx.clone(),
                            task,
                        }));
                        *entry = Job::Open(ctx);
                        self.wake(n, out);
                    }
                    Err(e) => {
                        out.extend(
                            waiting
                                .iter()
                                .map(|t| Command::Send(result(t, Some(e.clone())))),
                        );
                        *entry = Job::Failed(e);
                    }
                }
            }
            Event::Assigned(tasks) => {
                let mut queued = 0;
                for t in tasks {
                    match self.jobs.get_mut(&t.job) {
                        Some(Job::Open(ctx)) => {
                            self.queue.push_back(Work {
                                job: ctx.clone(),
                                task: t,
                            });
                            queued += 1;
                        }
                        Some(Job::Opening(waiting)) => waiting.push(t),
                        Some(Job::Noop) => out.push(Command::Send(result(&t, None))),
                        Some(Job::Failed(e)) => {
                            out.push(Command::Send(result(&t, Some(e.clone()))))
                        }
                        None => {
                            let e = format!("job {} unknown to this worker", t.job);
                            out.push(Command::Send(result(&t, Some(e))))
                        }
                    }
                }
                self.wake(queued, out);
            }
            Event::Cancel(job) => {
                self.jobs.remove(&job);
                self.queue.retain(|w| w.task.job != job);
                out.push(Command::DropCache(job));
            }
            Event::SlotFree => {
                if let Some(w) = self.queue.pop_front() {
                    out.push(Command::Run(w));
                }
            }
            Event::Stop => {
                self.stopped = true;
                self.queue.clear();
                self.jobs.clear();
                out.push(Command::Wake(self.slots));
            }
        }
    }

    /// `n` tasks were queued: wake one slot thread per task, at most all.
    fn wake(&self, n: usize, out: &mut Vec<Command<J>>) {
        if n > 0 {
            out.push(Command::Wake(n.min(self.slots as usize) as u32));
        }
    }

    /// Check the invariants (tests): queued work belongs to opened jobs,
    /// waiting tasks to the job being opened, and a stopped state holds
    /// nothing.
    pub fn sanity_check(&self) {
        for w in &self.queue {
            assert!(
                matches!(self.jobs.get(&w.task.job), Some(Job::Open(_))),
                "job {} task {} queued, its job not open",
                w.task.job,
                w.task.task
            );
        }
        for (id, j) in &self.jobs {
            if let Job::Opening(waiting) = j {
                assert!(
                    waiting.iter().all(|t| t.job == *id),
                    "job {id}: another job's task waits for its opening"
                );
            }
        }
        if self.stopped {
            assert!(self.queue.is_empty() && self.jobs.is_empty(), "stopped");
        }
        assert!(self.slots >= 1);
    }
}
