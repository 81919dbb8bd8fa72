//! The in-process executor: runs a task DAG on a pool of threads. Each
//! thread owns one task at a time, so memory is bounded by the number of
//! threads times one band's streaming window. When a store is remote, extra
//! I/O threads run only the small-I/O tasks (carried arrays, coordinates),
//! which spend their time waiting for round trips, not on a core.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

use crate::convert::plan::{Plan, Task, TaskSpec};
use crate::convert::task::{self, RunOptions, Stores, TaskStats};
use crate::Result;

/// Runs a selection of a plan's tasks: the in-process [`ThreadPool`], or a
/// cluster (scheduler + workers; the CLI's `src/cluster/`).
pub trait Executor {
    /// Run the `selected` tasks of `tasks` (others count as done) and return
    /// the results of the tasks that ran. `Err` = the executor itself broke
    /// (e.g. its scheduler is unreachable): the conversion stops.
    fn run(
        &self,
        plan: &Plan,
        tasks: &[TaskSpec],
        selected: &[bool],
        stores: &Stores,
        ro: RunOptions,
    ) -> Result<Vec<TaskResult>>;
    /// Does the executor retry failed tasks itself, so a failure is final?
    fn retries_itself(&self) -> bool {
        false
    }
    /// Bytes (read, written) moved by tasks outside this process.
    fn remote_bytes(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// The in-process executor: [`run_dag`] on this many threads.
pub struct ThreadPool(pub usize);

impl Executor for ThreadPool {
    fn run(
        &self,
        plan: &Plan,
        tasks: &[TaskSpec],
        selected: &[bool],
        stores: &Stores,
        ro: RunOptions,
    ) -> Result<Vec<TaskResult>> {
        Ok(run_dag(plan, tasks, selected, stores, ro, self.0))
    }
}

/// Outcome of one task.
#[derive(Debug)]
pub struct TaskResult {
    /// Index in the DAG.
    pub index: usize,
    /// What happened.
    pub result: Result<TaskStats>,
}

/// Extra threads for small-I/O tasks when a store is remote.
const IO_THREADS: usize = 8;

/// Is the task mostly small requests (not decoding or encoding much)?
fn io_bound(t: &Task) -> bool {
    matches!(t, Task::Carry { .. } | Task::Coords { .. })
}

struct State {
    ready: VecDeque<usize>,
    waiting_on: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    running: usize,
    remaining: usize,
    failed: bool,
    results: Vec<TaskResult>,
}

/// Run `selected` tasks of `tasks` (others count as already done), on
/// `threads` threads, plus [`IO_THREADS`] for small-I/O tasks when either
/// store is remote. A failing task stops new work from starting; results
/// of every task that ran are returned, in completion order.
pub fn run_dag(
    plan: &Plan,
    tasks: &[TaskSpec],
    selected: &[bool],
    stores: &Stores,
    ro: RunOptions,
    threads: usize,
) -> Vec<TaskResult> {
    let n = tasks.len();
    let mut waiting_on = vec![0; n];
    let mut dependents = vec![vec![]; n];
    for (i, t) in tasks.iter().enumerate() {
        if !selected[i] {
            continue;
        }
        for &d in &t.deps {
            if selected[d] {
                waiting_on[i] += 1;
                dependents[d].push(i);
            }
        }
    }
    let ready: VecDeque<usize> = (0..n)
        .filter(|&i| selected[i] && waiting_on[i] == 0)
        .collect();
    let remaining = selected.iter().filter(|s| **s).count();
    let state = Mutex::new(State {
        ready,
        waiting_on,
        dependents,
        running: 0,
        remaining,
        failed: false,
        results: vec![],
    });
    let cv = Condvar::new();
    let remote = stores.direct.input_dir.is_none() || stores.direct.output_dir.is_none();
    let io_threads = if remote { IO_THREADS } else { 0 };
    // the next task for a thread: an I/O thread takes only small-I/O tasks;
    // with I/O threads about, compute threads leave those to them unless
    // nothing else is ready
    let pick = |ready: &mut VecDeque<usize>, io: bool| -> Option<usize> {
        let pos = if io {
            ready.iter().position(|&i| io_bound(&tasks[i].task))?
        } else if io_threads > 0 {
            ready
                .iter()
                .position(|&i| !io_bound(&tasks[i].task))
                .unwrap_or(0)
        } else {
            0
        };
        ready.remove(pos)
    };
    std::thread::scope(|s| {
        for io in
            std::iter::repeat_n(false, threads.max(1)).chain(std::iter::repeat_n(true, io_threads))
        {
            let (state, cv, pick) = (&state, &cv, &pick);
            s.spawn(move || loop {
                let idx = {
                    let mut st = state.lock().unwrap();
                    loop {
                        // after a failure no new task starts; running ones finish
                        if st.remaining == 0 || st.failed || stores.cancel.is_set() {
                            cv.notify_all();
                            return;
                        }
                        if let Some(i) = pick(&mut st.ready, io) {
                            st.running += 1;
                            break i;
                        }
                        if st.running == 0 && (st.ready.is_empty() || !io) {
                            // nothing can make progress (should not happen with a valid DAG)
                            return;
                        }
                        st = cv.wait(st).unwrap();
                    }
                };
                let t0 = std::time::Instant::now();
                let result = task::run(plan, &tasks[idx].task, stores, ro);
                match &result {
                    Ok(s) => tracing::debug!(task = ?tasks[idx].task, ms = t0.elapsed().as_millis() as u64, written = s.chunks_written, skipped = s.chunks_skipped, "task done"),
                    // the caller reports failures (a retry, or the final error)
                    Err(e) => tracing::debug!(task = ?tasks[idx].task, "task failed: {e}"),
                }
                let mut st = state.lock().unwrap();
                st.running -= 1;
                st.remaining -= 1;
                if result.is_err() {
                    st.failed = true;
                } else {
                    let deps = std::mem::take(&mut st.dependents[idx]);
                    for d in deps {
                        st.waiting_on[d] -= 1;
                        if st.waiting_on[d] == 0 {
                            st.ready.push_back(d);
                        }
                    }
                }
                st.results.push(TaskResult { index: idx, result });
                cv.notify_all();
            });
        }
    });
    state.into_inner().unwrap().results
}
