//! What the scheduler tells the dashboard: snapshots of workers and jobs,
//! finished task attempts, one task's details and one band's task graph.
//! Plain data, serialised as the `/api/*` JSON.

use serde::Serialize;

/// A connected worker.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerStatus {
    /// Worker id.
    pub id: u64,
    /// Host and pid it reported.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Task slots.
    pub slots: u32,
    /// Tasks in flight.
    pub running: u32,
    /// Tasks finished / failed.
    pub tasks_done: u64,
    /// See `tasks_done`.
    pub tasks_failed: u64,
    /// Bytes read / written.
    pub bytes_read: u64,
    /// See `bytes_read`.
    pub bytes_written: u64,
    /// CPU (1.0 = one core) and resident memory at the last heartbeat.
    pub cpu: f32,
    /// See `cpu`.
    pub rss: u64,
    /// Memory the worker may use (its cgroup limit, else the host's memory;
    /// 0: not reported).
    pub mem_limit: u64,
    /// Bytes held by its decoded-chunk cache.
    pub cache_bytes: u64,
    /// Source chunks decoded (chunk-cache misses) and reads the cache served.
    pub chunks_decoded: u64,
    /// See `chunks_decoded`.
    pub cache_hits: u64,
    /// Milliseconds since the worker was last heard from.
    pub heartbeat_age_ms: u64,
}

/// Progress of one part of a job (a band at one level, or a kind of task).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Part {
    /// Name (`measurements/reflectance/r10m/b02 level 1`).
    pub name: String,
    /// The group of work it belongs to, one progress bar each: `level 0`,
    /// `overview level N`, `bands`, `carry-over`, `metadata`.
    pub group: String,
    /// Tasks done.
    pub done: u32,
    /// Tasks running now.
    pub running: u32,
    /// Failed attempts.
    pub failed: u32,
    /// Tasks in total.
    pub total: u32,
}

/// A job.
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobStatus {
    /// Job id.
    pub id: u64,
    /// `running`, `done` or `failed`.
    pub state: String,
    /// Input location.
    pub input: String,
    /// Output location.
    pub output: String,
    /// Submitted, first task started and ended: ms on the scheduler's clock.
    pub submitted_ms: u64,
    /// See `submitted_ms`.
    pub started_ms: Option<u64>,
    /// See `submitted_ms`.
    pub finished_ms: Option<u64>,
    /// Tasks done / in total.
    pub done: u64,
    /// See `done`.
    pub total: u64,
    /// Task attempts re-queued.
    pub retries: u64,
    /// CPU time of the tasks that ran, seconds.
    pub core_seconds: f64,
    /// Bytes read / written by its tasks.
    pub bytes_read: u64,
    /// See `bytes_read`.
    pub bytes_written: u64,
    /// Progress per part (empty in job lists).
    pub parts: Vec<Part>,
    /// The failure, if any.
    pub error: Option<String>,
}

/// Scheduler counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counters {
    /// Tasks finished.
    pub tasks_done: u64,
    /// Task attempts re-queued.
    pub retries: u64,
    /// Results ignored (stale attempt).
    pub stale_results: u64,
    /// Workers lost.
    pub workers_lost: u64,
    /// Jobs done / failed.
    pub jobs_done: u64,
    /// See `jobs_done`.
    pub jobs_failed: u64,
    /// Bytes read / written by finished tasks.
    pub bytes_read: u64,
    /// See `bytes_read`.
    pub bytes_written: u64,
    /// Milliseconds since the scheduler started.
    pub uptime_ms: u64,
}

/// A snapshot of the cluster (`/api/status`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Workers, by id.
    pub workers: Vec<WorkerStatus>,
    /// Jobs, newest last.
    pub jobs: Vec<JobStatus>,
    /// Counters.
    pub counters: Counters,
}

/// What a task does, as structured fields (the page words it).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TaskKind {
    /// `level0`, `overview`, `band`, `carry`, `coords`, `other`.
    pub kind: &'static str,
    /// Band, carried array or group path (empty: none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub band: String,
    /// Pyramid level and chunk (row, col) of a chunk task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// See `level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunk: Option<[u64; 2]>,
}

/// A finished (or failed) task attempt, drawn in the task stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskEvent {
    /// Job and task index.
    pub job: u64,
    /// See `job`.
    pub task: u32,
    /// Which attempt (1 = the first).
    pub attempt: u32,
    /// What it does (None: undescribed, as the benchmark's no-op tasks;
    /// boxed to keep the ring's entries small).
    #[serde(flatten)]
    pub what: Option<Box<TaskKind>>,
    /// Worker that ran it.
    pub worker: u64,
    /// Start and stop, milliseconds on the scheduler's clock.
    pub start_ms: f64,
    /// See `start_ms`.
    pub stop_ms: f64,
    /// Succeeded?
    pub ok: bool,
    /// Bytes read / written.
    pub bytes_read: u64,
    /// See `bytes_read`.
    pub bytes_written: u64,
    /// The error of a failed attempt.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// One task's details (`/api/task/{job}/{task}`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct TaskInfo {
    /// Job and task index.
    pub job: u64,
    /// See `job`.
    pub task: u32,
    /// What it does.
    #[serde(flatten)]
    pub what: TaskKind,
    /// `waiting`, `queued`, `running`, `done`, `failed` or `cancelled`.
    pub state: String,
    /// Tasks it waits for.
    pub deps: Vec<u32>,
    /// Its attempts known: failed ones (kept by the scheduler) and those
    /// still in the dashboard's task stream ring, oldest first.
    pub attempts: Vec<TaskEvent>,
}

/// One node of a band's task graph.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GraphNode {
    /// Task index.
    pub task: u32,
    /// Level (0 for a whole-band task) and chunk (row, col).
    pub level: u32,
    /// See `level`.
    pub chunk: [u64; 2],
    /// `waiting`, `queued`, `running`, `done`, `failed` or `cancelled`.
    pub state: String,
    /// Tasks of this graph it waits for.
    pub deps: Vec<u32>,
}

/// The task graph of one band of a job (`/api/graph/{job}/{band}`); with
/// no band, only `bands` is filled.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    /// Job id.
    pub job: u64,
    /// The band shown.
    pub band: String,
    /// The job's bands.
    pub bands: Vec<String>,
    /// Its tasks.
    pub nodes: Vec<GraphNode>,
}

/// What the scheduler offers the dashboard: a snapshot, and on request one
/// task's details and one band's graph.
pub trait Source: Send + Sync + 'static {
    /// The cluster now.
    fn status(&self) -> Status;
    /// Task `task` of job `job` (None: unknown).
    fn task(&self, _job: u64, _task: u32) -> Option<TaskInfo> {
        None
    }
    /// The graph of `band` in `job` (None: unknown job).
    fn graph(&self, _job: u64, _band: Option<&str>) -> Option<Graph> {
        None
    }
}

impl<F: Fn() -> Status + Send + Sync + 'static> Source for F {
    fn status(&self) -> Status {
        self()
    }
}
