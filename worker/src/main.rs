//! `geozarr-worker --scheduler URL [--slots N]`: a worker of a geozarr cluster.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    geozarr_worker::cli::main(std::env::args_os())
}
