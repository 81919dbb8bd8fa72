//! The `geozarr-scheduler` command line, as a function so that other
//! programs can run a scheduler process without the binary (the Python
//! package's local cluster runs it as `python -m eopf_geozarr_rs._cluster`).

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use geozarr_proto::tls::{refuse_cleartext, ServerTls};

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
    /// this address, e.g. 127.0.0.1:8787 (over TLS too with --tls-cert).
    #[arg(long)]
    dashboard: Option<SocketAddr>,
    /// Serve gRPC (and the dashboard) over TLS with this PEM certificate
    /// chain; workers and clients then use https://HOST:PORT and --tls-ca.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mutual TLS: accept only workers and clients whose certificate this
    /// CA signed (they give --tls-cert/--tls-key).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Allow GEOZARR_TOKEN without TLS on a non-loopback address (the token
    /// then crosses the network in clear: only on a trusted network).
    #[arg(long)]
    insecure: bool,
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
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(ServerTls {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca.clone(),
        }),
        _ => None,
    };
    if let Some(why) = refuse_cleartext(args.listen, token.is_some(), tls.is_some(), args.insecure)
    {
        anyhow::bail!(why);
    }
    // read every file before listening: a bad one fails at start
    let grpc_tls = tls
        .as_ref()
        .map(ServerTls::config)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let dash_tls = tls
        .as_ref()
        .map(|t| geozarr_dashboard::tls_config(&t.cert, &t.key))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let (incoming, addr) = server::bind(args.listen)?;
        let service = server::Service::new();
        println!("listening on {addr}");
        if let Some(d) = args.dashboard {
            let l = tokio::net::TcpListener::bind(d)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {d} (dashboard): {e}"))?;
            let scheme = if dash_tls.is_some() { "https" } else { "http" };
            println!("dashboard on {scheme}://{}", l.local_addr()?);
            let dash = service.dashboard();
            tokio::spawn(async move {
                let r = match dash_tls {
                    Some(cfg) => geozarr_dashboard::serve_tls(l, dash, cfg).await,
                    None => geozarr_dashboard::serve(l, dash).await,
                };
                if let Err(e) = r {
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
        server::serve(incoming, service, token, grpc_tls, shutdown).await
    })
}
