//! The one error type of the crate. Its messages are the text the CLI
//! prints: `path: what went wrong`, or the bare message for misuse.

use std::fmt;

/// What went wrong while writing a synthetic product, and where.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// The schema (a node at `path`) cannot be turned into a product.
    #[error("{path}: {msg}")]
    Input {
        /// The schema node (`/a/b`), or `<schema>` for the whole text.
        path: String,
        /// What is wrong with it.
        msg: String,
    },
    /// The output directory cannot be used (not empty, not a directory).
    #[error("{path}: {msg}")]
    Output {
        /// The output directory.
        path: String,
        /// Why it cannot be used.
        msg: String,
    },
    /// Creating, encoding or writing a file failed.
    #[error("{path}: {msg}")]
    Storage {
        /// The file or directory.
        path: String,
        /// The underlying error's text.
        msg: String,
    },
    /// An option out of range (a scale of 0).
    #[error("{0}")]
    Usage(String),
}

/// Result alias used across the crate.
pub(crate) type Result<T, E = SynthError> = std::result::Result<T, E>;

impl SynthError {
    /// Input error at `path`.
    pub(crate) fn input(path: impl fmt::Display, msg: impl fmt::Display) -> Self {
        SynthError::Input {
            path: path.to_string(),
            msg: msg.to_string(),
        }
    }

    /// Output error at `path`.
    pub(crate) fn output(path: impl fmt::Display, msg: impl fmt::Display) -> Self {
        SynthError::Output {
            path: path.to_string(),
            msg: msg.to_string(),
        }
    }

    /// Storage error at `path`; says "disk full" plainly when it is, as
    /// geozarr-core's errors do.
    pub(crate) fn storage(path: impl fmt::Display, err: impl fmt::Display) -> Self {
        let text = err.to_string();
        let msg = if text.contains("No space left on device") || text.contains("os error 28") {
            format!("disk full ({text})")
        } else {
            text
        };
        SynthError::Storage {
            path: path.to_string(),
            msg,
        }
    }
}
