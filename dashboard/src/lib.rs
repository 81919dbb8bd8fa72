//! geozarr-dashboard: an axum router showing a cluster live, like Dask's
//! dashboard. One embedded page set (no CDN, works offline) with hash
//! routes: `#/status` (task stream on a rolling 60 s window or a whole
//! job, zoom, pan, hover and click for a task's details; progress per group
//! of work, expandable to bands and levels; workers with memory, CPU and
//! sparklines; throughput; errors), `#/workers`, `#/jobs` and `#/graph`
//! (one band's task graph, coloured by state). JSON: `/api/status`,
//! `/api/jobs`, `/api/job/{id}`, `/api/task/{job}/{task}`,
//! `/api/graph/{job}[/{band}]`, `/api/throughput`, `/api/workers`; SSE
//! `/api/events` (`tasks` batches and `failure` lines from a bounded ring
//! whose ids let a reconnecting browser resume with `Last-Event-ID`, plus
//! a `status` snapshot twice a second); `/metrics` (Prometheus).
//!
//! The scheduler feeds it (a [`Source`] and pushed task events); it never
//! sees the scheduler's state directly. Everything kept is bounded: the
//! event ring ([`ring::RING`]) and the once-a-second histories
//! ([`history`]). Tokens are never part of what it shows.

use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

mod api;
pub mod history;
pub mod metrics;
pub mod model;
pub mod ring;

pub use metrics::prometheus;
pub use model::{
    Counters, Graph, GraphNode, JobStatus, Part, Source, Status, TaskEvent, TaskInfo, TaskKind,
    WorkerStatus,
};

/// The dashboard's state: the scheduler's [`Source`], the event ring and
/// the histories.
pub struct Dashboard {
    source: Box<dyn Source>,
    ring: ring::Ring,
    history: Mutex<history::History>,
    latest: watch::Sender<u64>,
}

impl Dashboard {
    /// A dashboard fed by `source`.
    pub fn new(source: impl Source) -> Arc<Self> {
        Arc::new(Dashboard {
            source: Box::new(source),
            ring: ring::Ring::default(),
            history: Mutex::new(history::History::default()),
            latest: watch::channel(0).0,
        })
    }

    fn push(&self, e: ring::Entry) {
        let id = self.ring.push(e);
        self.latest.send_replace(id);
    }

    /// Record a finished (or failed) task attempt.
    pub fn task(&self, t: TaskEvent) {
        self.push(ring::Entry::Task(t));
    }

    /// Record finished (or failed) task attempts at once (one lock, one
    /// wake-up of the event streams).
    pub fn tasks(&self, ts: Vec<TaskEvent>) {
        let id = self.ring.extend(ts.into_iter().map(ring::Entry::Task));
        if id > 0 {
            self.latest.send_replace(id);
        }
    }

    /// Record an error line.
    pub fn error(&self, msg: &str) {
        self.push(ring::Entry::Failure(msg.to_string()));
    }

    /// Take one history sample from the source (the server does, once a
    /// second).
    pub fn sample(&self) {
        let s = self.source.status();
        self.history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(&s);
    }

    /// The router: the page, `/api/*`, `/metrics`, `/health`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", get(api::page))
            .route("/app.js", get(api::script))
            .route("/style.css", get(api::style))
            .route("/api/status", get(api::status))
            .route("/api/jobs", get(api::jobs))
            .route("/api/job/{id}", get(api::job))
            .route("/api/task/{job}/{task}", get(api::task))
            .route("/api/graph/{job}", get(api::bands))
            .route("/api/graph/{job}/{*band}", get(api::graph))
            .route("/api/throughput", get(api::throughput))
            .route("/api/workers", get(api::workers))
            .route("/api/events", get(api::events))
            .route("/metrics", get(api::metrics))
            .route("/health", get(|| async { "ok" }))
            .with_state(self)
    }

    /// Sample the histories once a second while `self` lives elsewhere.
    fn spawn_sampler(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut iv = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                iv.tick().await;
                match weak.upgrade() {
                    Some(d) => d.sample(),
                    None => return,
                }
            }
        });
    }
}

/// Serve the dashboard on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, dash: Arc<Dashboard>) -> std::io::Result<()> {
    dash.spawn_sampler();
    axum::serve(listener, dash.router()).await
}

/// Serve the dashboard over TLS (`https://`) on `listener` until the process
/// ends; `tls` from [`tls_config`].
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    dash: Arc<Dashboard>,
    tls: Arc<tokio_rustls::rustls::ServerConfig>,
) -> std::io::Result<()> {
    dash.spawn_sampler();
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
