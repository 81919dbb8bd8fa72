//! `eopf-geozarr`: convert Copernicus EOPF Zarr products into GeoZarr stores.

#[macro_use]
mod cli;
mod many;

// The system allocator: bands stream through small windows and blocks, and
// glibc returns what they free. mimalloc (still used by the worker, whose
// chunk tasks decode whole chunks) was as fast here but kept 70-100 MB more
// resident (bench: scale 4/2/1 at 88/108/146 MB against 177/261/251 MB).

use std::process::ExitCode;

fn main() -> ExitCode {
    // SIGPIPE stays ignored (Rust's default): a peer closing a TLS or S3
    // connection must be a reported error, not a silent death; a stdout
    // reader gone (`| head`) ends the program quietly through `cli::outln!`.
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            if matches!(
                e.downcast_ref::<geozarr_core::Error>(),
                Some(geozarr_core::Error::Cancelled)
            ) {
                // Ctrl-C: the same words and status as the signal handler's
                eprintln!("eopf-geozarr: interrupted; re-run the same command to resume");
                return ExitCode::from(130);
            }
            // one clear line, no backtrace
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
