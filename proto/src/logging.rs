//! Log set-up shared by the CLI, the scheduler and the worker: `tracing`
//! to stderr, filtered by `RUST_LOG` when set, else by `default`.
//!
//! It lives here rather than in geozarr-core because this is the one crate
//! all three binaries depend on, and the scheduler must not depend on core
//! (it schedules tasks, it never runs them).

/// Install the stderr subscriber (once per process; later calls do nothing).
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
