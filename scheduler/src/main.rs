//! `geozarr-scheduler --listen ADDR [--dashboard ADDR]`: the scheduler of a
//! geozarr cluster. Prints `listening on ADDR` on stdout once ready.

fn main() -> std::process::ExitCode {
    geozarr_scheduler::cli::main(std::env::args_os())
}
