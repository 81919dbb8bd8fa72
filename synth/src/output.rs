//! Files in the output directory: where a node's files go, the consolidated
//! metadata keys, an empty output directory, and JSON written as zarr-python 2
//! writes it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Result, SynthError};
use crate::pyjson::py_json;

/// The directory of the node at `path` ("" for the root).
pub(crate) fn node_dir(out: &Path, path: &str) -> PathBuf {
    if path.is_empty() {
        out.to_path_buf()
    } else {
        out.join(path)
    }
}

/// The key of a node's metadata `file` in `.zmetadata`.
pub(crate) fn meta_key(path: &str, file: &str) -> String {
    if path.is_empty() {
        file.to_string()
    } else {
        format!("{path}/{file}")
    }
}

/// Create `out`, or accept it when it is an empty directory.
pub(crate) fn prepare_output(out: &Path) -> Result<()> {
    match std::fs::metadata(out) {
        Ok(m) if m.is_dir() => {
            let mut entries =
                std::fs::read_dir(out).map_err(|e| SynthError::storage(out.display(), e))?;
            if entries.next().is_some() {
                return Err(SynthError::output(
                    out.display(),
                    "already exists and is not empty; refusing to write a synthetic product into it",
                ));
            }
            Ok(())
        }
        Ok(_) => Err(SynthError::output(
            out.display(),
            "exists and is not a directory",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => mkdir(out),
        Err(e) => Err(SynthError::storage(out.display(), e)),
    }
}

/// `mkdir -p`.
pub(crate) fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| SynthError::storage(dir.display(), e))
}

/// Write `v` as zarr-python 2 does; the bytes written.
pub(crate) fn write_json(file: &Path, v: &Value) -> Result<u64> {
    let text = py_json(v);
    std::fs::write(file, text.as_bytes()).map_err(|e| SynthError::storage(file.display(), e))?;
    Ok(text.len() as u64)
}
