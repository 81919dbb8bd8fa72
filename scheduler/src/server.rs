//! The tonic shell around the state machine: worker streams in and out,
//! job submission and watching, the heartbeat tick, token checks, and the
//! dashboard's view. Every scheduling decision (what runs where, retries,
//! lost workers, job ends) is made by [`Scheduler::handle`]; this module
//! moves messages and keeps the side tables the state machine does not
//! need: connections, each job's task specs, and what the dashboard shows
//! of them, worded from each task's typed kind by `geozarr_proto::task`
//! (nothing is parsed back from text).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use geozarr_proto::pb;
use geozarr_proto::pb::task_spec::Kind;
use geozarr_proto::scheduler_server::{Scheduler as SchedulerRpc, SchedulerServer};
use geozarr_proto::task as words;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use geozarr_dashboard::{
    Counters, Dashboard, Graph, JobStatus, Source, Status as DashStatus, TaskEvent, TaskInfo,
    WorkerStatus,
};

use crate::feed::{what, what_event, JobView};
use crate::state::{Command, Event, JobId, LostReason, Scheduler, Stats, WorkerId, HEARTBEAT_MS};

struct WorkerConn {
    tx: mpsc::UnboundedSender<Result<pb::SchedulerMessage, Status>>,
    jobs_sent: HashSet<JobId>,
    /// What the dashboard shows of it (`running` and `heartbeat_age_ms` are
    /// filled in per snapshot).
    view: WorkerStatus,
    last_heard: u64,
}

struct JobRec {
    info: pb::JobInfo,
    tasks: Vec<pb::TaskSpec>,
    /// What each task does (taken out of `tasks`, kept after the job ends).
    kinds: Vec<Option<Kind>>,
    /// What the dashboard shows of it.
    view: JobView,
    done: u64,
    error: Option<String>,
    log: Vec<pb::JobEvent>,
    notify: watch::Sender<usize>,
    ended: bool,
}

/// Shared scheduler state: the state machine plus the I/O side tables.
pub struct Shell {
    sched: Scheduler,
    t0: Instant,
    /// Milliseconds since `t0` at the event being handled.
    clock_ms: f64,
    next_worker: WorkerId,
    next_job: JobId,
    registered: HashMap<WorkerId, WorkerStatus>,
    workers: HashMap<WorkerId, WorkerConn>,
    jobs: HashMap<JobId, JobRec>,
    // per-flush batches
    assign: HashMap<WorkerId, Vec<pb::Assignment>>,
    events: HashMap<JobId, pb::JobEvent>,
    dash: Option<Arc<Dashboard>>,
    /// Task attempts for the dashboard, sent at the next flush.
    dash_tasks: Vec<TaskEvent>,
    bytes: (u64, u64),
}

impl JobRec {
    /// The kind of task `task` (`None`: undescribed or out of range).
    fn kind(&self, task: u32) -> Option<&Kind> {
        self.kinds.get(task as usize).and_then(Option::as_ref)
    }
}

impl Shell {
    fn new() -> Self {
        Shell {
            sched: Scheduler::new(),
            t0: Instant::now(),
            clock_ms: 0.0,
            next_worker: 1,
            next_job: 1,
            registered: HashMap::default(),
            workers: HashMap::default(),
            jobs: HashMap::default(),
            assign: HashMap::default(),
            events: HashMap::default(),
            dash: None,
            dash_tasks: Vec::new(),
            bytes: (0, 0),
        }
    }

    fn now(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }

    /// `now` with sub-millisecond precision (the task stream's times).
    fn now_ms(&self) -> f64 {
        self.t0.elapsed().as_secs_f64() * 1000.0
    }

    /// Feed one event; `result` gives the byte counts for a `TaskDone`.
    fn event(&mut self, ev: Event, result: Option<&pb::TaskResult>) {
        let mut out = Vec::new();
        // one clock reading per event, for the state machine and the feed
        let el = self.t0.elapsed();
        self.clock_ms = el.as_secs_f64() * 1000.0;
        self.sched.handle(el.as_millis() as u64, ev, &mut out);
        for c in out {
            self.apply(c, result);
        }
    }

    fn job_event(&mut self, job: JobId) -> &mut pb::JobEvent {
        self.events.entry(job).or_default()
    }

    fn apply(&mut self, c: Command, result: Option<&pb::TaskResult>) {
        match c {
            Command::Assign {
                worker,
                job,
                task,
                attempt,
            } => {
                let now = self.clock_ms;
                let task_json = self
                    .jobs
                    .get_mut(&job)
                    .and_then(|j| {
                        j.view.assigned(task, now);
                        j.tasks.get(task as usize)
                    })
                    .map(|t| t.task_json.clone())
                    .unwrap_or_default();
                self.assign.entry(worker).or_default().push(pb::Assignment {
                    job,
                    task,
                    attempt,
                    task_json,
                });
            }
            Command::TaskDone {
                job,
                task,
                worker,
                attempt,
            } => {
                let r = result.cloned().unwrap_or_default();
                if let Some(w) = self.workers.get_mut(&worker) {
                    w.view.tasks_done += 1;
                }
                self.bytes.0 += r.bytes_read;
                self.bytes.1 += r.bytes_written;
                let now = self.clock_ms;
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.done += 1;
                    j.view
                        .task_done(task, r.cpu_ns, (r.bytes_read, r.bytes_written));
                    if self.dash.is_some() {
                        let (start_ms, stop_ms) = j.view.span(task, r.micros, now);
                        self.dash_tasks.push(TaskEvent {
                            job,
                            task,
                            attempt,
                            what: what_event(j.kind(task)),
                            worker,
                            start_ms,
                            stop_ms,
                            ok: true,
                            bytes_read: r.bytes_read,
                            bytes_written: r.bytes_written,
                            error: String::new(),
                        });
                    }
                }
                self.job_event(job).done.push(pb::TaskDone {
                    task,
                    worker,
                    attempt,
                    chunks_written: r.chunks_written,
                    chunks_skipped: r.chunks_skipped,
                    input_chunks_whole: r.input_chunks_whole,
                    cpu_ns: r.cpu_ns,
                    bytes_read: r.bytes_read,
                    bytes_written: r.bytes_written,
                });
            }
            Command::TaskRetry {
                job,
                task,
                attempt,
                reason,
            } => {
                tracing::warn!(job, task, attempt, "task attempt failed: {reason}");
                let now = self.clock_ms;
                if let Some(j) = self.jobs.get_mut(&job) {
                    j.view.retries += 1;
                    j.view.attempt_failed(TaskEvent {
                        job,
                        task,
                        attempt,
                        what: what_event(j.kind(task)),
                        start_ms: now,
                        stop_ms: now,
                        error: reason.clone(),
                        ..Default::default()
                    });
                }
                self.job_event(job).retries.push(pb::TaskRetry {
                    task,
                    attempt,
                    reason,
                });
            }
            Command::Cancel { worker, job } => {
                if let Some(w) = self.workers.get(&worker) {
                    let _ =
                        w.tx.send(Ok(msg(pb::scheduler_message::Msg::Cancel(pb::CancelJob {
                            job,
                        }))));
                }
            }
            Command::JobDone { job } => {
                tracing::info!(job, "job done");
                self.job_event(job).finished = true;
            }
            Command::JobFailed {
                job,
                task,
                error,
                history,
            } => {
                tracing::warn!(job, task, "job failed: {error}");
                if let Some(j) = self.jobs.get_mut(&job) {
                    let label = words::label(j.kind(task));
                    j.error = Some(format!("{label}: {error}"));
                    j.view.failed_task = Some(task);
                }
                self.job_event(job).failed = Some(pb::JobFailed {
                    task,
                    error,
                    history,
                });
            }
            Command::WorkerLost { worker, reason } => {
                tracing::warn!(worker, "worker lost: {reason}");
                // dropping the sender ends the worker's stream
                self.workers.remove(&worker);
                self.assign.remove(&worker);
            }
        }
    }

    /// Send batched assignments, job events and dashboard task attempts.
    fn flush(&mut self) {
        if let Some(d) = &self.dash {
            if !self.dash_tasks.is_empty() {
                d.tasks(std::mem::take(&mut self.dash_tasks));
            }
        }
        for (worker, tasks) in std::mem::take(&mut self.assign) {
            let Some(w) = self.workers.get_mut(&worker) else {
                continue;
            };
            for t in &tasks {
                if w.jobs_sent.insert(t.job) {
                    if let Some(j) = self.jobs.get(&t.job) {
                        let _ =
                            w.tx.send(Ok(msg(pb::scheduler_message::Msg::Job(j.info.clone()))));
                    }
                }
            }
            let _ = w.tx.send(Ok(msg(pb::scheduler_message::Msg::Assign(
                pb::Assignments { tasks },
            ))));
        }
        let nworkers = self.workers.len() as u32;
        for (job, mut ev) in std::mem::take(&mut self.events) {
            let Some(j) = self.jobs.get_mut(&job) else {
                continue;
            };
            ev.workers = nworkers;
            if ev.finished || ev.failed.is_some() {
                j.ended = true;
                j.view
                    .finished_ms
                    .get_or_insert(self.t0.elapsed().as_millis() as u64);
                j.tasks = Vec::new();
                for w in self.workers.values_mut() {
                    w.jobs_sent.remove(&job);
                }
            }
            j.log.push(ev);
            let _ = j.notify.send(j.log.len());
        }
    }

    /// A worker reported a failed attempt: kept in the job's record (when
    /// it is the current attempt) and shown in the dashboard.
    fn dash_failure(&mut self, worker: WorkerId, r: &pb::TaskResult) {
        let now = self.now_ms();
        let current = matches!(
            self.sched.task(r.job, r.task),
            Some((crate::state::TaskState::Assigned(w), a)) if w == worker && a == r.attempt
        );
        let Some(j) = self.jobs.get_mut(&r.job) else {
            return;
        };
        let kind = j.kind(r.task);
        let (start_ms, stop_ms) = j.view.span(r.task, r.micros, now);
        let e = TaskEvent {
            job: r.job,
            task: r.task,
            attempt: r.attempt,
            what: what_event(kind),
            worker,
            start_ms,
            stop_ms,
            ok: false,
            bytes_read: r.bytes_read,
            bytes_written: r.bytes_written,
            error: r.error.clone(),
        };
        let label = words::label(kind);
        if current {
            j.view.cpu_ns += r.cpu_ns;
            j.view.attempt_failed(e.clone());
        }
        if let Some(d) = &self.dash {
            d.error(&format!(
                "job {} {label} attempt {} on worker {worker}: {}",
                r.job, r.attempt, r.error
            ));
            self.dash_tasks.push(e);
        }
    }

    /// A snapshot for the dashboard.
    pub fn status(&self) -> DashStatus {
        let now = self.now();
        let running: HashMap<WorkerId, usize> = self
            .sched
            .workers()
            .into_iter()
            .map(|(id, _, n)| (id, n))
            .collect();
        let mut workers: Vec<WorkerStatus> = self
            .workers
            .values()
            .map(|w| WorkerStatus {
                running: running.get(&w.view.id).copied().unwrap_or(0) as u32,
                heartbeat_age_ms: now.saturating_sub(w.last_heard),
                ..w.view.clone()
            })
            .collect();
        workers.sort_by_key(|w| w.id);
        let mut in_flight: HashMap<JobId, Vec<u32>> = HashMap::default();
        for (_, job, task) in self.sched.running() {
            in_flight.entry(job).or_default().push(task);
        }
        let mut ids: Vec<&JobId> = self.jobs.keys().collect();
        ids.sort();
        let jobs = ids
            .into_iter()
            .map(|id| {
                let j = &self.jobs[id];
                let v = &j.view;
                JobStatus {
                    id: *id,
                    state: if !j.ended {
                        "running"
                    } else if j.error.is_some() || j.log.iter().any(|e| e.failed.is_some()) {
                        "failed"
                    } else {
                        "done"
                    }
                    .into(),
                    input: j.info.input.clone(),
                    output: j.info.output.clone(),
                    submitted_ms: v.submitted_ms,
                    started_ms: v.started_ms,
                    finished_ms: v.finished_ms,
                    done: j.done,
                    total: j.kinds.len() as u64,
                    retries: v.retries,
                    core_seconds: v.cpu_ns as f64 / 1e9,
                    bytes_read: v.bytes.0,
                    bytes_written: v.bytes.1,
                    parts: v.parts_now(in_flight.get(id).map_or(&[], Vec::as_slice)),
                    error: j.error.clone(),
                }
            })
            .collect();
        let st = self.sched.stats();
        DashStatus {
            workers,
            jobs,
            counters: Counters {
                tasks_done: st.tasks_done,
                retries: st.retries,
                stale_results: st.stale_results,
                workers_lost: st.workers_lost,
                jobs_done: st.jobs_done,
                jobs_failed: st.jobs_failed,
                bytes_read: self.bytes.0,
                bytes_written: self.bytes.1,
                uptime_ms: now,
            },
        }
    }

    /// One task's details for the dashboard (its attempts: the failed
    /// ones kept here; the dashboard adds those in its ring).
    pub fn task_info(&self, job: JobId, task: u32) -> Option<TaskInfo> {
        let j = self.jobs.get(&job)?;
        if task as usize >= j.kinds.len() {
            return None;
        }
        let live = self.sched.task(job, task).map(|(st, _)| st);
        Some(TaskInfo {
            job,
            task,
            what: what(j.kind(task)),
            state: j.view.state(task, live).into(),
            deps: j.view.deps(task).to_vec(),
            attempts: j.view.failures(task),
        })
    }

    /// The task graph of `band` in `job` (no band: only the band list).
    pub fn graph(&self, job: JobId, band: Option<&str>) -> Option<Graph> {
        let j = self.jobs.get(&job)?;
        let bands = j.view.bands(&j.kinds);
        let nodes = match band {
            Some(b) => j
                .view
                .graph(&j.kinds, b, |t| self.sched.task(job, t).map(|(st, _)| st)),
            None => vec![],
        };
        Some(Graph {
            job,
            band: band.unwrap_or_default().to_string(),
            bands: bands.into_iter().map(String::from).collect(),
            nodes,
        })
    }

    /// Counters of the state machine.
    pub fn stats(&self) -> Stats {
        self.sched.stats()
    }
}

fn msg(m: pb::scheduler_message::Msg) -> pb::SchedulerMessage {
    pb::SchedulerMessage { msg: Some(m) }
}

/// The gRPC service.
#[derive(Clone)]
pub struct Service {
    shell: Arc<Mutex<Shell>>,
}

impl Service {
    /// A new scheduler.
    pub fn new() -> Self {
        Service {
            shell: Arc::new(Mutex::new(Shell::new())),
        }
    }

    /// The shared state (for the dashboard and tests).
    pub fn shell(&self) -> Arc<Mutex<Shell>> {
        self.shell.clone()
    }

    fn with<R>(&self, f: impl FnOnce(&mut Shell) -> R) -> R {
        let mut s = self.shell.lock().unwrap_or_else(|e| e.into_inner());
        let r = f(&mut s);
        s.flush();
        r
    }
}

impl Default for Service {
    fn default() -> Self {
        Self::new()
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl SchedulerRpc for Service {
    async fn register(
        &self,
        req: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterReply>, Status> {
        let r = req.into_inner();
        let id = self.with(|s| {
            let id = s.next_worker;
            s.next_worker += 1;
            s.registered.insert(
                id,
                WorkerStatus {
                    id,
                    host: r.host.clone(),
                    pid: r.pid,
                    slots: r.slots.max(1),
                    ..Default::default()
                },
            );
            id
        });
        tracing::info!(worker = id, host = %r.host, pid = r.pid, slots = r.slots, "worker registered");
        Ok(Response::new(pb::RegisterReply {
            worker_id: id,
            heartbeat_ms: HEARTBEAT_MS as u32,
        }))
    }

    type WorkStream = BoxStream<pb::SchedulerMessage>;

    async fn work(
        &self,
        req: Request<Streaming<pb::WorkerMessage>>,
    ) -> Result<Response<Self::WorkStream>, Status> {
        let mut inbound = req.into_inner();
        let first = inbound
            .next()
            .await
            .ok_or_else(|| Status::invalid_argument("empty work stream"))??;
        let Some(pb::worker_message::Msg::Hello(hello)) = first.msg else {
            return Err(Status::invalid_argument(
                "work stream must start with Hello",
            ));
        };
        let worker = hello.worker_id;
        let (tx, rx) = mpsc::unbounded_channel();
        self.with(|s| {
            let now = s.now();
            let view = s
                .registered
                .remove(&worker)
                .ok_or_else(|| Status::not_found(format!("worker {worker} is not registered")))?;
            let slots = view.slots;
            s.workers.insert(
                worker,
                WorkerConn {
                    tx,
                    jobs_sent: HashSet::default(),
                    view,
                    last_heard: now,
                },
            );
            s.event(Event::WorkerJoined { worker, slots }, None);
            Ok::<_, Status>(())
        })?;
        let svc = self.clone();
        tokio::spawn(async move {
            let reason = loop {
                match inbound.next().await {
                    Some(Ok(m)) => svc.worker_message(worker, m),
                    Some(Err(_)) | None => break LostReason::ConnectionLost,
                }
            };
            svc.with(|s| {
                if s.workers.contains_key(&worker) {
                    s.event(Event::WorkerLost { worker, reason }, None);
                }
            });
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn submit(&self, req: Request<pb::JobSpec>) -> Result<Response<pb::SubmitReply>, Status> {
        let mut spec = req.into_inner();
        let n = spec.tasks.len();
        let mut deps = Vec::with_capacity(n);
        for (i, t) in spec.tasks.iter().enumerate() {
            if let Some(d) = t.deps.iter().find(|d| **d as usize >= i) {
                return Err(Status::invalid_argument(format!(
                    "task {i} depends on task {d}: dependencies must come first"
                )));
            }
            deps.push(t.deps.clone());
        }
        let affinity: Vec<u32> = spec.tasks.iter().map(|t| t.affinity).collect();
        let kinds: Vec<Option<Kind>> = spec.tasks.iter_mut().map(|t| t.kind.take()).collect();
        let job = self.with(|s| {
            let job = s.next_job;
            s.next_job += 1;
            let (notify, _) = watch::channel(0);
            s.jobs.insert(
                job,
                JobRec {
                    info: pb::JobInfo {
                        job,
                        plan_json: spec.plan_json,
                        input: spec.input,
                        output: spec.output,
                        skip_existing: spec.skip_existing,
                        noop: spec.noop,
                    },
                    view: JobView::new(s.now(), &kinds, &deps),
                    kinds,
                    done: 0,
                    error: None,
                    tasks: spec.tasks,
                    log: vec![],
                    notify,
                    ended: false,
                },
            );
            s.event(
                Event::JobSubmitted {
                    job,
                    deps,
                    affinity,
                    max_attempts: spec.max_attempts,
                    priority: spec.priority,
                },
                None,
            );
            job
        });
        tracing::info!(job, tasks = n, "job submitted");
        Ok(Response::new(pb::SubmitReply { job }))
    }

    type WatchStream = BoxStream<pb::JobEvent>;

    async fn watch(
        &self,
        req: Request<pb::WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let job = req.into_inner().job;
        let mut rx = self
            .with(|s| s.jobs.get(&job).map(|j| j.notify.subscribe()))
            .ok_or_else(|| Status::not_found(format!("no job {job}")))?;
        let (tx, out) = mpsc::unbounded_channel();
        let shell = self.shell.clone();
        tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let (batch, ended) = {
                    let s = shell.lock().unwrap_or_else(|e| e.into_inner());
                    let Some(j) = s.jobs.get(&job) else { return };
                    (j.log[sent..].to_vec(), j.ended)
                };
                sent += batch.len();
                for ev in batch {
                    if tx.send(Ok(ev)).is_err() {
                        return;
                    }
                }
                if ended {
                    let s = shell.lock().unwrap_or_else(|e| e.into_inner());
                    if s.jobs.get(&job).is_some_and(|j| j.log.len() == sent) {
                        return;
                    }
                    continue;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(out))))
    }

    async fn cancel(
        &self,
        req: Request<pb::CancelRequest>,
    ) -> Result<Response<pb::CancelReply>, Status> {
        let job = req.into_inner().job;
        self.with(|s| {
            if s.sched.has_job(job) {
                s.event(Event::CancelJob { job }, None);
                s.job_event(job).failed = Some(pb::JobFailed {
                    task: 0,
                    error: "cancelled".into(),
                    history: vec![],
                });
            }
        });
        Ok(Response::new(pb::CancelReply {}))
    }
}

impl Service {
    fn worker_message(&self, worker: WorkerId, m: pb::WorkerMessage) {
        self.with(|s| {
            let now = s.now();
            if let Some(w) = s.workers.get_mut(&worker) {
                w.last_heard = now;
            }
            s.worker_message(worker, m)
        })
    }

    /// A dashboard fed by this scheduler.
    pub fn dashboard(&self) -> Arc<Dashboard> {
        let d = Dashboard::new(Feed(Arc::downgrade(&self.shell)));
        self.shell.lock().unwrap_or_else(|e| e.into_inner()).dash = Some(d.clone());
        d
    }
}

/// The dashboard's [`Source`]: the shell, while it lives.
struct Feed(std::sync::Weak<Mutex<Shell>>);

impl Feed {
    fn with<R: Default>(&self, f: impl FnOnce(&Shell) -> R) -> R {
        self.0
            .upgrade()
            .map(|s| f(&s.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default()
    }
}

impl Source for Feed {
    fn status(&self) -> DashStatus {
        self.with(Shell::status)
    }
    fn task(&self, job: u64, task: u32) -> Option<TaskInfo> {
        self.with(|s| s.task_info(job, task))
    }
    fn graph(&self, job: u64, band: Option<&str>) -> Option<Graph> {
        self.with(|s| s.graph(job, band))
    }
}

impl Shell {
    fn worker_message(&mut self, worker: WorkerId, m: pb::WorkerMessage) {
        let s = self;
        match m.msg {
            Some(pb::worker_message::Msg::Heartbeat(h)) => {
                if let Some(w) = s.workers.get_mut(&worker) {
                    w.view.cpu = h.cpu;
                    w.view.rss = h.rss;
                    w.view.bytes_read = h.bytes_read;
                    w.view.bytes_written = h.bytes_written;
                    w.view.chunks_decoded = h.chunks_decoded;
                    w.view.cache_hits = h.cache_hits;
                    w.view.mem_limit = h.mem_limit;
                    w.view.cache_bytes = h.cache_bytes;
                }
                s.event(Event::Heartbeat { worker }, None);
            }
            Some(pb::worker_message::Msg::Results(rs)) => {
                for r in rs.results {
                    let ev = if r.ok {
                        Event::TaskFinished {
                            worker,
                            job: r.job,
                            task: r.task,
                            attempt: r.attempt,
                        }
                    } else {
                        if let Some(w) = s.workers.get_mut(&worker) {
                            w.view.tasks_failed += 1;
                        }
                        s.dash_failure(worker, &r);
                        Event::TaskFailed {
                            worker,
                            job: r.job,
                            task: r.task,
                            attempt: r.attempt,
                            error: r.error.clone(),
                        }
                    };
                    s.event(ev, Some(&r));
                }
            }
            Some(pb::worker_message::Msg::Hello(_)) | None => {}
        }
    }
}

/// Check the shared token (constant time) when one is configured.
pub fn check_token(expected: &Option<String>, req: &Request<()>) -> Result<(), Status> {
    let Some(tok) = expected else {
        return Ok(());
    };
    let want = geozarr_proto::bearer(tok);
    let got = req
        .metadata()
        .get(geozarr_proto::TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let same = got.len() == want.len()
        && got
            .iter()
            .zip(want.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(Status::unauthenticated(
            "invalid or missing token: set GEOZARR_TOKEN to the scheduler's token",
        ))
    }
}

/// Run the scheduler on `listener` until `shutdown` resolves.
pub async fn serve(
    incoming: tonic::transport::server::TcpIncoming,
    service: Service,
    token: Option<String>,
    tls: Option<tonic::transport::ServerTlsConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // the heartbeat check: Tick twice per heartbeat period
    let ticker = service.clone();
    tokio::spawn(async move {
        let mut iv = tokio::time::interval(Duration::from_millis(HEARTBEAT_MS / 2));
        loop {
            iv.tick().await;
            ticker.with(|s| s.event(Event::Tick, None));
        }
    });
    let inner = SchedulerServer::new(service)
        .max_decoding_message_size(1 << 30)
        .max_encoding_message_size(1 << 30);
    let svc =
        tonic::service::interceptor::InterceptedService::new(inner, move |req: Request<()>| {
            check_token(&token, &req).map(|_| req)
        });
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        server = server.tls_config(tls)?;
    }
    server
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await?;
    Ok(())
}

/// Bind `addr` (TCP_NODELAY on) and return the listener with its real address.
pub fn bind(
    addr: SocketAddr,
) -> anyhow::Result<(tonic::transport::server::TcpIncoming, SocketAddr)> {
    let inc = tonic::transport::server::TcpIncoming::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?
        .with_nodelay(Some(true));
    let local = inc.local_addr()?;
    Ok((inc, local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::task_spec::Kind;

    fn chunk(level: u32, row: u64) -> pb::TaskSpec {
        pb::TaskSpec {
            kind: Some(Kind::Chunk(pb::ChunkTask {
                band: "measurements/r10m/b02".into(),
                level,
                row,
                col: 0,
            })),
            ..Default::default()
        }
    }

    fn submit(svc: &Service, tasks: Vec<pb::TaskSpec>, max_attempts: u32) -> JobId {
        let spec = pb::JobSpec {
            tasks,
            max_attempts,
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(svc.submit(Request::new(spec)))
            .unwrap()
            .into_inner()
            .job
    }

    #[test]
    fn progress_parts_come_from_the_typed_kinds() {
        let svc = Service::new();
        let carry = pb::TaskSpec {
            kind: Some(Kind::Carry(pb::CarryTask {
                array: "conditions/mask".into(),
            })),
            ..Default::default()
        };
        let coords = pb::TaskSpec {
            kind: Some(Kind::Coords(pb::CoordsTask {
                group: "measurements/r10m".into(),
            })),
            ..Default::default()
        };
        let tasks = vec![
            chunk(0, 0),
            chunk(0, 1),
            chunk(1, 0),
            carry,
            coords,
            pb::TaskSpec::default(),
        ];
        submit(&svc, tasks, 0);
        let st = svc.shell().lock().unwrap().status();
        let parts: Vec<(&str, u32, u32)> = st.jobs[0]
            .parts
            .iter()
            .map(|p| (p.name.as_str(), p.done, p.total))
            .collect();
        assert_eq!(
            parts,
            vec![
                ("measurements/r10m/b02 level 0", 0, 2),
                ("measurements/r10m/b02 level 1", 0, 1),
                ("carry", 0, 1),
                ("coords", 0, 1),
                ("other", 0, 1),
            ]
        );
        assert_eq!(st.jobs[0].total, 6);
    }

    #[test]
    fn a_failed_job_names_its_task_from_the_kind() {
        let svc = Service::new();
        let job = submit(&svc, vec![chunk(0, 0), chunk(1, 3)], 1);
        let shell = svc.shell();
        let mut s = shell.lock().unwrap();
        s.event(
            Event::WorkerJoined {
                worker: 1,
                slots: 2,
            },
            None,
        );
        let r = pb::TaskResult {
            job,
            task: 1,
            attempt: 1,
            error: "disk full".into(),
            ..Default::default()
        };
        s.event(
            Event::TaskFailed {
                worker: 1,
                job,
                task: 1,
                attempt: 1,
                error: r.error.clone(),
            },
            Some(&r),
        );
        s.flush();
        let st = s.status();
        assert_eq!(st.jobs[0].state, "failed");
        assert_eq!(
            st.jobs[0].error.as_deref(),
            Some("measurements/r10m/b02 level 1 chunk (3, 0): disk full")
        );
    }
}
