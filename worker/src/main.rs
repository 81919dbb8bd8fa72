//! `geozarr-worker --scheduler URL [--slots N]`: a worker of a geozarr cluster.

use std::time::Duration;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    geozarr_proto::logging::init("warn");
    let slots = if args.slots > 0 {
        args.slots
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    };
    let opts = geozarr_worker::Options {
        scheduler: args.scheduler,
        slots,
        token: geozarr_worker::env_token(),
        connect_wait: Duration::from_secs(args.connect_wait),
        cache_bytes: args.cache_mb << 20,
        reconnect_wait: Duration::from_secs(args.reconnect_wait),
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("geozarr-worker: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(geozarr_worker::run(opts)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("geozarr-worker: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
