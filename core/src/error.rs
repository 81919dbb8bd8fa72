//! One error type for the whole conversion, printed by the CLI as a single
//! clear line: input, output and storage errors name the path they concern;
//! usage errors and failed tasks carry a whole message (which names the
//! task's array where there is one).

use std::fmt;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input product is missing, unreadable or not what we can convert.
    #[error("{path}: {msg}")]
    Input {
        /// Where (a path or URL, without credentials).
        path: String,
        /// What.
        msg: String,
    },
    /// The output location cannot be used (exists and is foreign, not writable…).
    #[error("{path}: {msg}")]
    Output {
        /// Where (a path or URL, without credentials).
        path: String,
        /// What.
        msg: String,
    },
    /// A storage operation failed.
    #[error("{path}: {msg}")]
    Storage {
        /// Where (a path or URL, without credentials).
        path: String,
        /// What.
        msg: String,
    },
    /// Command-line or option misuse.
    #[error("{0}")]
    Usage(String),
    /// A task failed after its retries.
    #[error("{0}")]
    Task(String),
    /// The conversion was cancelled (the output stays resumable).
    #[error("cancelled; the output is unfinished: run the same conversion again to resume it")]
    Cancelled,
}

impl Error {
    /// Input error at `path`.
    pub fn input(path: impl fmt::Display, msg: impl fmt::Display) -> Self {
        Error::Input {
            path: path.to_string(),
            msg: msg.to_string(),
        }
    }
    /// Output error at `path`.
    pub fn output(path: impl fmt::Display, msg: impl fmt::Display) -> Self {
        Error::Output {
            path: path.to_string(),
            msg: msg.to_string(),
        }
    }
    /// Storage error at `path`; recognises a full disk and says so plainly.
    pub fn storage(path: impl fmt::Display, err: impl fmt::Display) -> Self {
        let text = err.to_string();
        let msg = if text.contains("No space left on device") || text.contains("os error 28") {
            format!("disk full ({text})")
        } else {
            text
        };
        Error::Storage {
            path: path.to_string(),
            msg,
        }
    }
}
