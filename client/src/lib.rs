//! geozarr-client: the client side of the distributed engine. [`Cluster`]
//! runs a conversion's tasks on a scheduler (an [`Executor`] for
//! `geozarr_core::convert::convert_with`, used by the CLI's `convert
//! --scheduler URL`, `--local-workers N`, `--dask-cluster` and by the Python
//! package's `convert(local_workers=…, scheduler=…)`), and [`local`] starts
//! a scheduler and worker processes on this machine and stops them again
//! (also on Ctrl-C, on cancellation and on error).
//!
//! It is its own crate, not part of the scheduler, because it is the one
//! place that knows both sides: core's plan and tasks, and the protocol.
//! Each task is sent with its typed kind (band, level, chunk; carry-over;
//! coordinates), which the scheduler words for progress and errors through
//! `geozarr_proto::task`, as this module does for its own messages.

pub mod local;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use geozarr_core::convert::executor::{Executor, TaskResult};
use geozarr_core::convert::plan::{Plan, Task, TaskSpec};
use geozarr_core::convert::task::{RunOptions, Stores, TaskStats};
use geozarr_core::{Error, Result};
use geozarr_proto::client::{connect, status_line};
use geozarr_proto::pb;
use geozarr_proto::tls::ClientTls;
use tokio_stream::StreamExt;

pub use local::{bin_dir, Launcher, LocalCluster, DASHBOARD};

/// Things to undo when the user presses Ctrl-C.
#[derive(Default)]
struct Interrupt {
    /// Jobs running on the scheduler (one per client sharing this state).
    jobs: Vec<u64>,
    /// Ctrl-C was pressed: the jobs' failures are our own cancellation.
    interrupted: bool,
    local: Option<Arc<LocalCluster>>,
}

/// Runs tasks on a scheduler at `url` (see the module docs).
pub struct Cluster {
    url: String,
    token: Option<String>,
    tls: ClientTls,
    rt: tokio::runtime::Runtime,
    max_attempts: u32,
    remote: Mutex<(u64, u64)>,
    interrupt: Arc<Mutex<Interrupt>>,
    /// The local cluster this client started (stopped with it).
    local: Option<Arc<LocalCluster>>,
    /// The local cluster whose processes this client watches (its own, or
    /// its parent's for a sibling).
    health: Option<Arc<LocalCluster>>,
    priority: u32,
}

impl Cluster {
    /// A client for the scheduler at `url`; tasks fail the job after
    /// `max_attempts` attempts. The conversion's cancel flag cancels the
    /// running job (see also [`Cluster::exit_on_signal`]).
    pub fn connect(
        url: &str,
        token: Option<String>,
        tls: ClientTls,
        max_attempts: u32,
    ) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Task(format!("cannot start the client runtime: {e}")))?;
        let url = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        Ok(Cluster {
            url,
            token,
            tls,
            rt,
            max_attempts,
            remote: Mutex::new((0, 0)),
            interrupt: Arc::new(Mutex::new(Interrupt::default())),
            local: None,
            health: None,
            priority: 1,
        })
    }

    /// Start a local cluster (a scheduler and `workers` worker processes
    /// with `slots` slots each, started by `launcher`; its dashboard on
    /// `dashboard` or the next free port) and connect to it.
    pub fn local(
        launcher: &Launcher,
        workers: usize,
        slots: u32,
        max_attempts: u32,
        dashboard: Option<std::net::SocketAddr>,
    ) -> Result<Self> {
        let token = geozarr_proto::client::env_token().unwrap_or_else(local::random_token);
        let local = Arc::new(LocalCluster::start(
            launcher, workers, slots, &token, dashboard,
        )?);
        let mut c = Cluster::connect(&local.url, Some(token), ClientTls::default(), max_attempts)?;
        c.interrupt.lock().unwrap_or_else(|e| e.into_inner()).local = Some(local.clone());
        c.health = Some(local.clone());
        c.local = Some(local);
        Ok(c)
    }

    /// Another client of the same scheduler (same token, TLS, priority), to
    /// run another conversion at the same time (`convert-many`); Ctrl-C
    /// handling covers its jobs too. It does not own a local cluster.
    pub fn sibling(&self) -> Result<Self> {
        let mut c = Cluster::connect(
            &self.url,
            self.token.clone(),
            self.tls.clone(),
            self.max_attempts,
        )?;
        c.interrupt = self.interrupt.clone();
        c.priority = self.priority;
        c.health = self.health.clone();
        Ok(c)
    }

    fn forget_job(&self, job: u64) {
        self.interrupt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .retain(|j| *j != job);
    }

    /// The local cluster's dashboard URL, if it serves one.
    pub fn dashboard(&self) -> Option<&str> {
        self.local.as_ref()?.dashboard.as_deref()
    }

    /// Weight of this client's jobs in the scheduler's fair share between
    /// running jobs (default 1; 2 gets twice the slots of a job of 1).
    pub fn with_priority(mut self, priority: u32) -> Self {
        self.priority = priority.max(1);
        self
    }

    /// For a command-line program: on Ctrl-C or SIGTERM cancel the running
    /// job, stop the local cluster and exit with status 130 (the output
    /// stays resumable). Library callers cancel through the conversion's
    /// cancel flag instead.
    pub fn exit_on_signal(&self) {
        let state = self.interrupt.clone();
        let url = self.url.clone();
        let token = self.token.clone();
        let tls = self.tls.clone();
        self.rt.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            let jobs = {
                let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                st.interrupted = true;
                st.jobs.clone()
            };
            if !jobs.is_empty() {
                let cancel = async {
                    let mut c = connect(&url, token.as_deref(), &tls, Duration::ZERO)
                        .await
                        .ok()?;
                    for job in jobs {
                        c.cancel(pb::CancelRequest { job }).await.ok()?;
                    }
                    Some(())
                };
                let _ = tokio::time::timeout(Duration::from_secs(2), cancel).await;
            }
            let local = state.lock().unwrap_or_else(|e| e.into_inner()).local.take();
            if let Some(l) = local {
                l.kill();
            }
            eprintln!("eopf-geozarr: interrupted; re-run the same command to resume");
            std::process::exit(130);
        });
    }

    async fn run_job(
        &self,
        tasks: &[TaskSpec],
        selected: &[bool],
        plan: &Plan,
        stores: &Stores,
        ro: RunOptions,
    ) -> Result<Vec<TaskResult>> {
        let lost = |what: String| {
            Error::Task(format!(
                "{what}; the output is unfinished: re-run the same command to resume"
            ))
        };
        // the job: selected tasks, renumbered; deps on unselected tasks are done
        let index: Vec<usize> = (0..tasks.len()).filter(|&i| selected[i]).collect();
        let mut new_of = vec![u32::MAX; tasks.len()];
        for (n, &i) in index.iter().enumerate() {
            new_of[i] = n as u32;
        }
        let spec = pb::JobSpec {
            tasks: index
                .iter()
                .map(|&i| pb::TaskSpec {
                    task_json: serde_json::to_vec(&tasks[i].task).expect("tasks serialise"),
                    deps: tasks[i]
                        .deps
                        .iter()
                        .filter(|d| selected[**d])
                        .map(|d| new_of[*d])
                        .collect(),
                    affinity: tasks[i].task.affinity(),
                    kind: Some(kind(plan, &tasks[i].task)),
                })
                .collect(),
            plan_json: serde_json::to_vec(plan).expect("plans serialise"),
            input: stores.input_name.clone(),
            output: stores.output_name.clone(),
            skip_existing: ro.skip_existing,
            max_attempts: self.max_attempts,
            noop: false,
            priority: self.priority,
        };
        let url = &self.url;
        let mut client = connect(
            url,
            self.token.as_deref(),
            &self.tls,
            Duration::from_secs(3),
        )
        .await
        .map_err(Error::Task)?;
        let job = client
            .submit(spec)
            .await
            .map_err(|s| Error::Task(status_line(url, &s)))?
            .into_inner()
            .job;
        self.interrupt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .jobs
            .push(job);
        let mut events = client
            .watch(pb::WatchRequest { job })
            .await
            .map_err(|s| Error::Task(status_line(url, &s)))?
            .into_inner();
        let mut results = vec![];
        let mut health = tokio::time::interval(Duration::from_millis(200));
        loop {
            let ev = tokio::select! {
                ev = events.next() => ev,
                _ = health.tick() => {
                    if stores.cancel.is_set() {
                        let cancel = async {
                            let mut c = connect(url, self.token.as_deref(), &self.tls, Duration::ZERO).await.ok()?;
                            c.cancel(pb::CancelRequest { job }).await.ok()
                        };
                        let _ = tokio::time::timeout(Duration::from_secs(2), cancel).await;
                        self.forget_job(job);
                        return Err(Error::Cancelled);
                    }
                    if let Some(l) = &self.health {
                        if let Some(why) = l.broken() {
                            return Err(lost(why));
                        }
                    }
                    continue;
                }
            };
            let ev = match ev {
                Some(Ok(ev)) => ev,
                Some(Err(s)) => {
                    return Err(lost(format!(
                        "lost the scheduler: {}",
                        status_line(url, &s)
                    )))
                }
                None => return Err(lost(format!("the scheduler at {url} went away"))),
            };
            for d in ev.done {
                let i = index[d.task as usize];
                let mut rem = self.remote.lock().unwrap_or_else(|e| e.into_inner());
                rem.0 += d.bytes_read;
                rem.1 += d.bytes_written;
                if matches!(tasks[i].task, Task::Band { .. } | Task::Chunk { .. }) {
                    if let Some(p) = &stores.progress {
                        p(d.chunks_written + d.chunks_skipped);
                    }
                }
                results.push(TaskResult {
                    index: i,
                    result: Ok(TaskStats {
                        chunks_written: d.chunks_written,
                        chunks_skipped: d.chunks_skipped,
                        input_chunks_whole: d.input_chunks_whole,
                        cpu_ns: d.cpu_ns,
                    }),
                });
            }
            for r in ev.retries {
                let i = index[r.task as usize];
                tracing::info!(
                    "{}: attempt {} failed: {}; retrying",
                    label(plan, &tasks[i].task),
                    r.attempt,
                    r.reason
                );
            }
            if let Some(f) = ev.failed {
                if self
                    .interrupt
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .interrupted
                {
                    // cancelled by our Ctrl-C, not a failure
                    return Err(Error::Cancelled);
                }
                let i = index.get(f.task as usize).copied().unwrap_or(0);
                let msg = if f.history.is_empty() {
                    format!("job {job} failed: {}", f.error)
                } else {
                    format!(
                        "{} failed {} times on the cluster; last error: {} (history: {})",
                        label(plan, &tasks[i].task),
                        f.history.len(),
                        f.error,
                        f.history.join("; ")
                    )
                };
                results.push(TaskResult {
                    index: i,
                    result: Err(Error::Task(msg)),
                });
                break;
            }
            if ev.finished {
                break;
            }
        }
        self.forget_job(job);
        Ok(results)
    }

    /// Stop the local cluster (if any). Also done on drop.
    pub fn shutdown(&mut self) {
        if let Some(l) = self.local.take() {
            l.kill();
        }
    }
}

impl Executor for Cluster {
    fn run(
        &self,
        plan: &Plan,
        tasks: &[TaskSpec],
        selected: &[bool],
        stores: &Stores,
        ro: RunOptions,
    ) -> Result<Vec<TaskResult>> {
        self.rt
            .block_on(self.run_job(tasks, selected, plan, stores, ro))
    }
    fn retries_itself(&self) -> bool {
        true
    }
    fn remote_bytes(&self) -> (u64, u64) {
        *self.remote.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a task does, as the scheduler shows it: the names its label and
/// progress part are made of (band input path, level, chunk position;
/// carried array; group).
fn kind(plan: &Plan, t: &Task) -> pb::task_spec::Kind {
    use pb::task_spec::Kind;
    match *t {
        Task::Chunk {
            group,
            band,
            level,
            row,
            col,
        } => Kind::Chunk(pb::ChunkTask {
            band: plan.groups[group].bands[band].input.clone(),
            level: level as u32,
            row,
            col,
        }),
        Task::Band { group, band } => Kind::Band(pb::BandTask {
            band: plan.groups[group].bands[band].input.clone(),
        }),
        Task::Carry { index } => Kind::Carry(pb::CarryTask {
            array: plan.carried[index].path.clone(),
        }),
        Task::Coords { group } => Kind::Coords(pb::CoordsTask {
            group: plan.groups[group].path.clone(),
        }),
        Task::Metadata => Kind::Metadata(pb::Empty {}),
        Task::Consolidate => Kind::Consolidate(pb::Empty {}),
    }
}

/// A task named for people: `…/b02 level 1 chunk (0, 2)` (the scheduler's
/// wording, `geozarr_proto::task::label`).
fn label(plan: &Plan, t: &Task) -> String {
    geozarr_proto::task::label(Some(&kind(plan, t)))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}
