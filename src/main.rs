//! `eopf-geozarr`: convert Copernicus EOPF Zarr products into GeoZarr stores.

mod cli;

// The system allocator: bands stream through small windows and blocks, and
// glibc returns what they free. mimalloc (still used by the worker, whose
// chunk tasks decode whole chunks) was as fast here but kept 70-100 MB more
// resident (bench: scale 4/2/1 at 88/108/146 MB against 177/261/251 MB).

use std::process::ExitCode;

fn main() -> ExitCode {
    // `eopf-geozarr info … | head` ends quietly when the reader goes away,
    // as other command-line tools do, instead of panicking on a broken pipe
    // SAFETY: restoring a signal's default disposition at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            // one clear line, no backtrace
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
