//! geozarr-dashboard: an axum router showing a cluster live, like Dask's
//! dashboard: `/` (embedded page: task stream per worker, progress per
//! band and level, workers, throughput, errors), `/api/status` (JSON
//! snapshot), `/api/events` (SSE: `task` and `failure` events from a ring
//! buffer whose ids let a reconnecting browser resume with `Last-Event-ID`,
//! plus a `status` snapshot twice a second) and `/metrics` (Prometheus).
//! The scheduler feeds it; it never sees the scheduler's state directly.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

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
    /// Tasks done.
    pub done: u32,
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
    /// Output location.
    pub output: String,
    /// Tasks done / in total.
    pub done: u64,
    /// See `done`.
    pub total: u64,
    /// Progress per part.
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

/// A finished task attempt, drawn in the task stream.
#[derive(Debug, Clone, Serialize)]
pub struct TaskEvent {
    /// Job and task index.
    pub job: u64,
    /// See `job`.
    pub task: u32,
    /// Label (`…/b02 level 0 chunk (0, 1)`).
    pub label: String,
    /// Kind, for the colour: `level0`, `overview`, `band`, `carry`, `coords`.
    pub kind: String,
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
}

const RING: usize = 200_000;

/// A ring-buffer entry: (id, SSE event type, JSON data).
type Entry = (u64, &'static str, String);

/// The dashboard's state: a snapshot source and a ring of events.
pub struct Dashboard {
    snapshot: Box<dyn Fn() -> Status + Send + Sync>,
    ring: Mutex<(u64, VecDeque<Entry>)>,
    latest: watch::Sender<u64>,
}

impl Dashboard {
    /// A dashboard whose `/api/status` comes from `snapshot`.
    pub fn new(snapshot: impl Fn() -> Status + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Dashboard {
            snapshot: Box::new(snapshot),
            ring: Mutex::new((0, VecDeque::new())),
            latest: watch::channel(0).0,
        })
    }

    fn push(&self, kind: &'static str, data: String) {
        let mut r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        r.0 += 1;
        let id = r.0;
        r.1.push_back((id, kind, data));
        if r.1.len() > RING {
            r.1.pop_front();
        }
        drop(r);
        self.latest.send_replace(id);
    }

    /// Record a finished (or failed) task attempt.
    pub fn task(&self, t: &TaskEvent) {
        self.push("task", serde_json::to_string(t).unwrap_or_default());
    }

    /// Record an error line.
    pub fn error(&self, msg: &str) {
        self.push("failure", serde_json::to_string(msg).unwrap_or_default());
    }

    /// Events after `id`.
    fn since(&self, id: u64) -> Vec<Entry> {
        let r = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let first = r.1.front().map(|e| e.0).unwrap_or(r.0 + 1);
        let skip = (id + 1).saturating_sub(first) as usize;
        r.1.iter().skip(skip).cloned().collect()
    }

    /// The router: `/`, `/api/status`, `/api/events`, `/metrics`, `/health`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/api/status", get(status))
            .route("/api/events", get(events))
            .route("/metrics", get(metrics))
            .route("/health", get(|| async { "ok" }))
            .with_state(self)
    }
}

/// Serve the dashboard on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, dash: Arc<Dashboard>) -> std::io::Result<()> {
    axum::serve(listener, dash.router()).await
}

/// Serve the dashboard over TLS (`https://`) on `listener` until the process
/// ends; `tls` from [`tls_config`].
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    dash: Arc<Dashboard>,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let app = dash.router();
    loop {
        let (tcp, _) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            // a failed handshake (plain HTTP, unknown CA) only drops that connection
            let Ok(stream) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
        });
    }
}

/// A rustls server configuration from PEM certificate chain and key files
/// (the scheduler's `--tls-cert`/`--tls-key`); errors name the file.
pub fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Arc<tokio_rustls::rustls::ServerConfig>, String> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: cannot read the TLS certificate: {e}", cert.display()))?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: cannot read the TLS key: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    Ok(Arc::new(cfg))
}

async fn page() -> impl IntoResponse {
    Html(include_str!("page.html"))
}

async fn status(State(d): State<Arc<Dashboard>>) -> Json<Status> {
    Json((d.snapshot)())
}

async fn events(State(d): State<Arc<Dashboard>>, headers: HeaderMap) -> impl IntoResponse {
    let mut last: u64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(64);
    let mut latest = d.latest.subscribe();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            for (id, kind, data) in d.since(last) {
                last = id;
                let ev = Event::default().id(id.to_string()).event(kind).data(data);
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                r = latest.changed() => if r.is_err() { return },
                _ = tick.tick() => {
                    let s = serde_json::to_string(&(d.snapshot)()).unwrap_or_default();
                    if tx.send(Ok(Event::default().event("status").data(s))).await.is_err() {
                        return;
                    }
                }
            }
            // batch: let more events gather before the next send
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}

/// Prometheus text exposition of a snapshot.
pub fn prometheus(s: &Status) -> String {
    let c = &s.counters;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (labels, v) in rows {
            out += &format!("{name}{labels} {v}\n");
        }
    };
    let one = |v: u64| vec![(String::new(), v as f64)];
    metric(
        "geozarr_tasks_done_total",
        "counter",
        "Tasks finished.",
        one(c.tasks_done),
    );
    metric(
        "geozarr_task_retries_total",
        "counter",
        "Task attempts re-queued.",
        one(c.retries),
    );
    metric(
        "geozarr_stale_results_total",
        "counter",
        "Results ignored as stale.",
        one(c.stale_results),
    );
    metric(
        "geozarr_workers_lost_total",
        "counter",
        "Workers lost.",
        one(c.workers_lost),
    );
    metric(
        "geozarr_jobs_done_total",
        "counter",
        "Jobs finished.",
        one(c.jobs_done),
    );
    metric(
        "geozarr_jobs_failed_total",
        "counter",
        "Jobs failed.",
        one(c.jobs_failed),
    );
    metric(
        "geozarr_bytes_read_total",
        "counter",
        "Bytes read by tasks.",
        one(c.bytes_read),
    );
    metric(
        "geozarr_bytes_written_total",
        "counter",
        "Bytes written by tasks.",
        one(c.bytes_written),
    );
    metric(
        "geozarr_workers",
        "gauge",
        "Connected workers.",
        one(s.workers.len() as u64),
    );
    let per = |f: &dyn Fn(&WorkerStatus) -> f64| {
        s.workers
            .iter()
            .map(|w| (format!("{{worker=\"{}\"}}", w.id), f(w)))
            .collect()
    };
    metric(
        "geozarr_worker_slots",
        "gauge",
        "Task slots per worker.",
        per(&|w| w.slots as f64),
    );
    metric(
        "geozarr_worker_running",
        "gauge",
        "Tasks in flight per worker.",
        per(&|w| w.running as f64),
    );
    metric(
        "geozarr_worker_cpu",
        "gauge",
        "CPU use per worker (1 = one core).",
        per(&|w| w.cpu as f64),
    );
    metric(
        "geozarr_worker_rss_bytes",
        "gauge",
        "Resident memory per worker.",
        per(&|w| w.rss as f64),
    );
    out
}

async fn metrics(State(d): State<Arc<Dashboard>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus(&(d.snapshot)()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_resume_after_the_last_seen_id() {
        let d = Dashboard::new(Status::default);
        for i in 0..3 {
            d.error(&format!("e{i}"));
        }
        let all = d.since(0);
        assert_eq!(all.iter().map(|e| e.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        let rest = d.since(2);
        assert_eq!(rest.len(), 1);
        assert_eq!(
            (rest[0].0, rest[0].1, rest[0].2.as_str()),
            (3, "failure", "\"e2\"")
        );
        assert!(d.since(3).is_empty());
    }

    #[test]
    fn prometheus_text_has_counters_and_per_worker_gauges() {
        let s = Status {
            workers: vec![WorkerStatus {
                id: 7,
                slots: 4,
                running: 2,
                ..Default::default()
            }],
            counters: Counters {
                tasks_done: 12,
                stale_results: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let t = prometheus(&s);
        assert!(
            t.contains("# TYPE geozarr_tasks_done_total counter\ngeozarr_tasks_done_total 12\n")
        );
        assert!(t.contains("geozarr_stale_results_total 1\n"));
        assert!(t.contains("geozarr_workers 1\n"));
        assert!(t.contains("geozarr_worker_slots{worker=\"7\"} 4\n"));
        assert!(t.contains("geozarr_worker_running{worker=\"7\"} 2\n"));
    }
}
