//! The `geozarr-worker` command line, as a function so that other programs
//! can run a worker process without the binary (the Python package's local
//! cluster runs it as `python -m eopf_geozarr_rs._cluster`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// Worker of a geozarr cluster: runs conversion tasks the scheduler hands
/// out. Set GEOZARR_TOKEN when the scheduler requires a token.
#[derive(Parser)]
#[command(name = "geozarr-worker", version)]
struct Args {
    /// Scheduler URL.
    #[arg(long, default_value = "http://127.0.0.1:8786")]
    scheduler: String,
    /// Tasks run at once [default: all cores].
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    slots: u32,
    /// Seconds to keep trying to reach the scheduler at start.
    #[arg(long, default_value_t = 30)]
    connect_wait: u64,
    /// MB of decoded chunks kept for the next tasks of the same band (input
    /// chunks that several output chunks read, levels read by the next).
    #[arg(long, default_value_t = 1024)]
    cache_mb: usize,
    /// Seconds to keep trying to reconnect when the scheduler goes away
    /// mid-way (0: exit at once).
    #[arg(long, default_value_t = 60)]
    reconnect_wait: u64,
    /// CA certificate (PEM) that signed the scheduler's, for https://
    /// scheduler URLs [default: GEOZARR_TLS_CA, else the system roots].
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Own certificate (PEM) for mutual TLS [default: GEOZARR_TLS_CERT].
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM) [default: GEOZARR_TLS_KEY].
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// Run `geozarr-worker` with these arguments (the first one is the program
/// name); returns when the worker stops.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = Args::parse_from(args);
    geozarr_proto::logging::init("warn");
    let slots = if args.slots > 0 {
        args.slots
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    };
    let opts = crate::Options {
        scheduler: args.scheduler,
        slots,
        token: crate::env_token(),
        connect_wait: Duration::from_secs(args.connect_wait),
        cache_bytes: args.cache_mb << 20,
        reconnect_wait: Duration::from_secs(args.reconnect_wait),
        tls: geozarr_proto::tls::ClientTls {
            ca: args.tls_ca,
            cert: args.tls_cert,
            key: args.tls_key,
        }
        .or_env(),
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("geozarr-worker: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(crate::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("geozarr-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}
