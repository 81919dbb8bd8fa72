//! `eopf-geozarr`: convert Copernicus EOPF Zarr products into GeoZarr stores.

mod cli;

/// mimalloc keeps freed pages for reuse: the large, short-lived chunk buffers
/// would otherwise be unmapped and page-faulted back in over and over.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(e) => {
            // one clear line, no backtrace
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
