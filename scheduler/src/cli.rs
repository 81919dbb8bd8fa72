//! The `geozarr-scheduler` command line, as a function so that other
//! programs can run a scheduler process without the binary (the Python
//! package's local cluster runs it as `python -m eopf_geozarr_rs._cluster`).

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;

use crate::server;

/// Scheduler of a geozarr cluster: workers connect to it, clients submit
/// conversion jobs to it. Set GEOZARR_TOKEN to require a shared token.
#[derive(Parser)]
#[command(name = "geozarr-scheduler", version)]
struct Args {
    /// Address to listen on (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:8786")]
    listen: SocketAddr,
    /// Serve the live dashboard (HTML, /api/status, /api/events, /metrics) on
    /// this address, e.g. 127.0.0.1:8787.
    #[arg(long)]
    dashboard: Option<SocketAddr>,
}

/// Run `geozarr-scheduler` with these arguments (the first one is the
/// program name); returns when it is stopped (Ctrl-C, SIGTERM).
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = Args::parse_from(args);
    geozarr_proto::logging::init("warn");
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("geozarr-scheduler: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let token = std::env::var("GEOZARR_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let (incoming, addr) = server::bind(args.listen)?;
        let service = server::Service::new();
        println!("listening on {addr}");
        if let Some(d) = args.dashboard {
            let l = tokio::net::TcpListener::bind(d)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {d} (dashboard): {e}"))?;
            println!("dashboard on http://{}", l.local_addr()?);
            let dash = service.dashboard();
            tokio::spawn(async move {
                if let Err(e) = geozarr_dashboard::serve(l, dash).await {
                    tracing::error!("dashboard stopped: {e}");
                }
            });
        }
        std::io::stdout().flush()?;
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        server::serve(incoming, service, token, shutdown).await
    })
}
