//! `eopf-geozarr`: convert Copernicus EOPF Zarr products into GeoZarr stores.

mod cli;

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
