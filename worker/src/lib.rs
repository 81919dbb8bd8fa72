//! geozarr-worker: connects to a scheduler, registers, heartbeats, pulls
//! tasks and runs them with `geozarr_core::convert::task::run` — the same code as the
//! in-process executor — on `slots` threads, streaming results and byte
//! counts back.
//!
//! What to do with each message (job table, no-op shortcut, cancellation,
//! slot queue, shutdown) is decided by the sans-I/O [`state::WorkerState`];
//! this file is its shell: the gRPC session, opening a job's stores, the
//! slot threads, heartbeats and the result batches.

pub mod cli;
pub mod state;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use geozarr_core::convert::cache::{CacheRef, ChunkCache};
use geozarr_core::convert::plan::{Plan, Task};
use geozarr_core::convert::task::{self, v3_chunk_key, Direct, RunOptions, Stores};
use geozarr_core::store::local::LocalStore;
use geozarr_core::store::{self, Location, Store};
pub use geozarr_proto::client::env_token;
use geozarr_proto::client::{connect, status_line};
use geozarr_proto::pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::StreamExt;
use zarrs::storage::storage_adapter::performance_metrics::PerformanceMetricsStorageAdapter;

use state::{Command, Event, WorkerState};

/// Worker options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Scheduler URL (`http://127.0.0.1:8786`).
    pub scheduler: String,
    /// Tasks run at once.
    pub slots: u32,
    /// Shared token.
    pub token: Option<String>,
    /// TLS files (`https://` scheduler URLs).
    pub tls: geozarr_proto::tls::ClientTls,
    /// How long to keep trying to reach the scheduler at start.
    pub connect_wait: Duration,
    /// Budget of the decoded-chunk cache shared by this worker's tasks.
    pub cache_bytes: usize,
    /// When the scheduler goes away, how long to try to reconnect (a
    /// restarted scheduler gets its workers back); zero: stop at once.
    pub reconnect_wait: Duration,
}

/// How a session with the scheduler ended badly.
enum Ended {
    /// The scheduler refused us (token, protocol): stop.
    Refused(anyhow::Error),
    /// Unreachable or gone; `worked`: after a working session.
    Retry { e: anyhow::Error, worked: bool },
}

/// Is this refusal final (a wrong token or request), not a network hiccup?
fn refused(s: &tonic::Status) -> bool {
    use tonic::Code::*;
    matches!(
        s.code(),
        Unauthenticated | PermissionDenied | InvalidArgument | FailedPrecondition | Unimplemented
    )
}

/// Run a worker: serve the scheduler; when it goes away mid-way (killed,
/// restarted, stream closed), reconnect for up to `reconnect_wait`. Stops
/// with an error when refused (token) or unreachable for `connect_wait` at
/// start or `reconnect_wait` after a loss.
pub async fn run(opts: Options) -> Result<()> {
    let mut deadline = Instant::now() + opts.connect_wait;
    loop {
        match session(&opts, deadline).await {
            Ok(never) => match never {},
            Err(Ended::Refused(e)) => return Err(e),
            Err(Ended::Retry { e, worked: true }) => {
                if opts.reconnect_wait.is_zero() {
                    return Err(e);
                }
                tracing::warn!(
                    "{e:#}; reconnecting for up to {} s",
                    opts.reconnect_wait.as_secs()
                );
                deadline = Instant::now() + opts.reconnect_wait;
            }
            Err(Ended::Retry { e, worked: false }) => {
                if Instant::now() >= deadline {
                    return Err(e);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// What slot threads need to run a job's tasks.
struct JobCtx {
    plan: Plan,
    input: Store,
    output: Store,
    info: pb::JobInfo,
    cache: Arc<ChunkCache>,
}

/// A queued task with its job's context.
type Work = state::Work<Arc<JobCtx>>;

/// The state machine shared by the message loop and the slot threads, and
/// the condition variable its [`Command::Wake`] signals.
struct Shared {
    state: Mutex<WorkerState<Arc<JobCtx>>>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, WorkerState<Arc<JobCtx>>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake `n` waiting slot threads (all of them when `n` covers every slot).
    fn wake(&self, n: u32, slots: u32) {
        if n >= slots {
            self.cv.notify_all();
        } else {
            for _ in 0..n {
                self.cv.notify_one();
            }
        }
    }
}

/// Totals for heartbeats.
#[derive(Default)]
struct Totals {
    read: AtomicU64,
    written: AtomicU64,
}

/// Open the job's stores (no-op jobs are never opened: their tasks are
/// answered by the state machine). Output is opened without the
/// start-of-run cleanup of `store::open_output` (other workers are writing
/// into it right now).
fn open_job(info: &pb::JobInfo, cache: Arc<ChunkCache>) -> Result<JobCtx, String> {
    let plan: Plan =
        serde_json::from_slice(&info.plan_json).map_err(|e| format!("job plan: {e}"))?;
    let il = Location::parse(&info.input).map_err(|e| e.to_string())?;
    let ol = Location::parse(&info.output).map_err(|e| e.to_string())?;
    let input = store::open_input(&il).map_err(|e| e.to_string())?;
    let output = match ol.local_path() {
        Some(p) => {
            let fs = LocalStore::new(p).map_err(|e| format!("{}: {e}", p.display()))?;
            Arc::new(fs) as Store
        }
        None => store::open_output(&ol).map_err(|e| e.to_string())?,
    };
    Ok(JobCtx {
        plan,
        input,
        output,
        info: info.clone(),
        cache,
    })
}

/// Remove temporary files left by a killed attempt of this task (a killed
/// worker's write never renamed into place), so the finished store holds no
/// strays. Chunk tasks own exactly one key; the other tasks own whole arrays.
fn clear_stale_tmp(ctx: &JobCtx, t: &Task) {
    let plan = &ctx.plan;
    let Ok(Location::Local(root)) = Location::parse(&ctx.info.output) else {
        return;
    };
    let rm_tree = |prefix: &str| {
        let mut stack = vec![root.join(prefix)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "tmp") {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    };
    match *t {
        Task::Chunk {
            group,
            band,
            level,
            row,
            col,
        } => {
            let gp = &plan.groups[group];
            let k = root.join(v3_chunk_key(&gp.band_path(band, level), &[row, col]));
            let (Some(dir), Some(name)) = (k.parent(), k.file_name()) else {
                return;
            };
            // LocalStore's temporary names: `.{name}.{pid}-{n}.tmp`
            let stem = format!(".{}.", name.to_string_lossy());
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let f = e.file_name().to_string_lossy().into_owned();
                if f.starts_with(&stem) && f.ends_with(".tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Task::Band { group, band } => {
            let gp = &plan.groups[group];
            for l in 0..gp.levels.len() {
                rm_tree(&gp.band_path(band, l));
            }
        }
        Task::Carry { index } => rm_tree(&plan.carried[index].path),
        Task::Coords { group } => {
            let gp = &plan.groups[group];
            for l in (0..gp.levels.len()).filter(|&l| gp.levels[l].coords) {
                for a in ["x", "y", "spatial_ref"] {
                    rm_tree(&format!("{}/{a}", gp.level_path(l)));
                }
            }
        }
        Task::Metadata | Task::Consolidate => {}
    }
}

fn run_one(w: &Work, totals: &Totals) -> pb::TaskResult {
    let t0 = Instant::now();
    let a = &w.task;
    let mut r = pb::TaskResult {
        job: a.job,
        task: a.task,
        attempt: a.attempt,
        ..Default::default()
    };
    let outcome = (|| -> Result<_, String> {
        let plan = &w.job.plan;
        let t: Task = serde_json::from_slice(&a.task_json).map_err(|e| format!("task: {e}"))?;
        clear_stale_tmp(&w.job, &t);
        let inp = Arc::new(PerformanceMetricsStorageAdapter::new(w.job.input.clone()));
        let out = Arc::new(PerformanceMetricsStorageAdapter::new(w.job.output.clone()));
        let stores = Stores {
            input: inp.clone(),
            output: out.clone(),
            input_name: w.job.info.input.clone(),
            output_name: w.job.info.output.clone(),
            progress: None,
            cancel: Default::default(),
            cache: Some(CacheRef {
                cache: w.job.cache.clone(),
                scope: a.job,
            }),
            direct: match (
                Location::parse(&w.job.info.input),
                Location::parse(&w.job.info.output),
            ) {
                (Ok(i), Ok(o)) => Direct::new(&i, &o),
                _ => Direct::default(),
            },
        };
        let ro = RunOptions {
            skip_existing: w.job.info.skip_existing,
            codec_threads: 1,
        };
        tracing::debug!(task = ?t, attempt = a.attempt, "running");
        let res = task::run(plan, &t, &stores, ro);
        let (dr, dw) = stores.direct.bytes();
        let (br, bw) = (
            inp.bytes_read() as u64 + dr,
            out.bytes_written() as u64 + dw,
        );
        totals.read.fetch_add(br, Ordering::Relaxed);
        totals.written.fetch_add(bw, Ordering::Relaxed);
        let s = res.map_err(|e| e.to_string())?;
        Ok((s, br, bw))
    })();
    match outcome {
        Ok((s, br, bw)) => {
            r.ok = true;
            r.chunks_written = s.chunks_written;
            r.chunks_skipped = s.chunks_skipped;
            r.input_chunks_whole = s.input_chunks_whole;
            r.cpu_ns = s.cpu_ns;
            r.bytes_read = br;
            r.bytes_written = bw;
        }
        Err(e) => {
            tracing::warn!(job = a.job, task = a.task, "task failed: {e}");
            r.error = e;
        }
    }
    r.micros = t0.elapsed().as_micros() as u64;
    r
}

/// CPU seconds used by this process (Linux `/proc`), and resident bytes.
fn proc_usage() -> (f64, u64) {
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ut: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((ut + st) / 100.0)
        })
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|p| p * 4096)
        .unwrap_or(0);
    (cpu, rss)
}

/// Memory this process may use: its cgroup v2 limit (`memory.max`), else
/// the host's total memory (`/proc/meminfo`); 0 when neither is readable.
fn memory_limit() -> u64 {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|s| {
            let path = s.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
            std::fs::read_to_string(format!("/sys/fs/cgroup{path}/memory.max")).ok()
        })
        .and_then(|s| s.trim().parse::<u64>().ok());
    let host = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let kb = s.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
        kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
    });
    match (cgroup, host.map(|kb| kb * 1024)) {
        (Some(c), Some(h)) => c.min(h),
        (c, h) => c.or(h).unwrap_or(0),
    }
}

/// One registration with the scheduler, with a fresh chunk cache (a
/// restarted scheduler numbers its jobs anew).
async fn session(opts: &Options, deadline: Instant) -> Result<std::convert::Infallible, Ended> {
    let url = opts.scheduler.clone();
    let early = |s: tonic::Status| {
        let e = anyhow!(status_line(&url, &s));
        if refused(&s) {
            Ended::Refused(e)
        } else {
            Ended::Retry { e, worked: false }
        }
    };
    let wait = deadline.saturating_duration_since(Instant::now());
    let mut client = connect(&url, opts.token.as_deref(), &opts.tls, wait)
        .await
        .map_err(|e| Ended::Retry {
            e: anyhow!(e),
            worked: false,
        })?;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    let reg = client
        .register(pb::RegisterRequest {
            slots: opts.slots,
            host,
            pid: std::process::id(),
        })
        .await
        .map_err(early)?
        .into_inner();
    let me = reg.worker_id;
    tracing::info!(worker = me, slots = opts.slots, "registered with {url}");
    let (up, up_rx) = mpsc::unbounded_channel::<pb::WorkerMessage>();
    up.send(pb::WorkerMessage {
        msg: Some(pb::worker_message::Msg::Hello(pb::Hello { worker_id: me })),
    })
    .map_err(|e| Ended::Refused(e.into()))?;
    let mut down = client
        .work(UnboundedReceiverStream::new(up_rx))
        .await
        .map_err(early)?
        .into_inner();

    // heartbeats
    let totals = Arc::new(Totals::default());
    let cache = Arc::new(ChunkCache::new(opts.cache_bytes));
    {
        let up = up.clone();
        let totals = totals.clone();
        let cache = cache.clone();
        let period = Duration::from_millis(reg.heartbeat_ms.max(100) as u64);
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(period);
            let (mut last_cpu, mut last_t) = (proc_usage().0, Instant::now());
            let mem_limit = memory_limit();
            loop {
                iv.tick().await;
                let (cpu, rss) = proc_usage();
                let dt = last_t.elapsed().as_secs_f64().max(1e-3);
                let hb = pb::Heartbeat {
                    cpu: ((cpu - last_cpu) / dt) as f32,
                    rss,
                    bytes_read: totals.read.load(Ordering::Relaxed),
                    bytes_written: totals.written.load(Ordering::Relaxed),
                    chunks_decoded: cache.decodes(),
                    cache_hits: cache.hits(),
                    mem_limit,
                    cache_bytes: cache.held_bytes() as u64,
                };
                (last_cpu, last_t) = (cpu, Instant::now());
                let m = pb::WorkerMessage {
                    msg: Some(pb::worker_message::Msg::Heartbeat(hb)),
                };
                if up.send(m).is_err() {
                    return;
                }
            }
        });
    }

    // results: batched into one message per wake-up
    let (res_tx, mut res_rx) = mpsc::unbounded_channel::<pb::TaskResult>();
    {
        let up = up.clone();
        tokio::spawn(async move {
            while let Some(r) = res_rx.recv().await {
                let mut results = vec![r];
                while let Ok(r) = res_rx.try_recv() {
                    results.push(r);
                }
                let m = pb::WorkerMessage {
                    msg: Some(pb::worker_message::Msg::Results(pb::TaskResults {
                        results,
                    })),
                };
                if up.send(m).is_err() {
                    return;
                }
            }
        });
    }

    // slot threads
    let slots = opts.slots.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(WorkerState::new(slots)),
        cv: Condvar::new(),
    });
    for _ in 0..slots {
        let shared = shared.clone();
        let tx = res_tx.clone();
        let totals = totals.clone();
        std::thread::spawn(move || slot_thread(&shared, &tx, &totals));
    }

    let mut out = Vec::new();
    let end = loop {
        let m = match down.next().await {
            Some(Ok(m)) => m,
            Some(Err(s)) => break anyhow!(status_line(&url, &s)),
            None => break anyhow!("the scheduler at {url} closed the connection"),
        };
        let ev = match m.msg {
            Some(pb::scheduler_message::Msg::Job(info)) => Event::Job(info),
            Some(pb::scheduler_message::Msg::Assign(a)) => Event::Assigned(a.tasks),
            Some(pb::scheduler_message::Msg::Cancel(c)) => Event::Cancel(c.job),
            None => continue,
        };
        feed(&shared, &cache, &res_tx, ev, &mut out).await;
    };
    feed(&shared, &cache, &res_tx, Event::Stop, &mut out).await;
    Err(Ended::Retry {
        e: end.context("worker stopped"),
        worked: true,
    })
}

/// Feed the message loop's event to the state machine and carry out its
/// commands; an opening's outcome is fed back the same way.
async fn feed(
    shared: &Shared,
    cache: &Arc<ChunkCache>,
    results: &mpsc::UnboundedSender<pb::TaskResult>,
    ev: Event<Arc<JobCtx>>,
    out: &mut Vec<Command<Arc<JobCtx>>>,
) {
    let mut next = Some(ev);
    while let Some(ev) = next.take() {
        let slots = {
            let mut st = shared.lock();
            st.handle(ev, out);
            st.slots()
        };
        for c in out.drain(..) {
            match c {
                Command::Open(info) => {
                    let job = info.job;
                    let c = cache.clone();
                    let result = tokio::task::spawn_blocking(move || open_job(&info, c))
                        .await
                        .unwrap_or_else(|e| Err(format!("opening the job: {e}")));
                    if let Err(e) = &result {
                        tracing::warn!(job, "cannot open job: {e}");
                    }
                    next = Some(Event::Opened {
                        job,
                        result: result.map(Arc::new),
                    });
                }
                Command::Send(r) => {
                    let _ = results.send(r);
                }
                Command::Wake(n) => shared.wake(n, slots),
                Command::DropCache(job) => cache.drop_scope(job),
                // answers to a slot thread's SlotFree only
                Command::Run(_) | Command::Exit => {
                    debug_assert!(false, "Run/Exit outside SlotFree")
                }
            }
        }
    }
}

/// A slot thread: ask the state machine for work, run it, send the result;
/// wait while there is none; stop when told to (or when results can no
/// longer be sent).
fn slot_thread(shared: &Shared, results: &mpsc::UnboundedSender<pb::TaskResult>, totals: &Totals) {
    let mut out = Vec::with_capacity(1);
    loop {
        let work: Work = {
            let mut st = shared.lock();
            loop {
                st.handle(Event::SlotFree, &mut out);
                match out.pop() {
                    Some(Command::Run(w)) => break w,
                    Some(Command::Exit) => return,
                    _ => st = shared.cv.wait(st).unwrap_or_else(|e| e.into_inner()),
                }
            }
        };
        if results.send(run_one(&work, totals)).is_err() {
            return;
        }
    }
}
