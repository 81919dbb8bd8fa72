//! Where a store lives ([`Location`]: a local directory, `s3://bucket/prefix`
//! or an `https://` URL), how remote stores behave ([`StoreOptions`]), and
//! URLs printed without the credentials they may carry.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where a store lives.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
    /// An S3 bucket and a key prefix ("" = the bucket root), `s3://bucket/prefix`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix without leading or trailing `/`.
        prefix: String,
    },
    /// A read-only store served over HTTP(S) (the server must honour Range requests).
    Http {
        /// The base URL, without a trailing `/`.
        url: String,
    },
}

impl Location {
    /// Parse a path or URL: a local path, `file://path`, `s3://bucket/prefix`,
    /// `https://host/path` or `http://host/path`.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(rest)));
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Usage(format!(
                    "{s}: no bucket name (expected s3://bucket/prefix)"
                )));
            }
            let prefix = prefix.trim_matches('/');
            if !prefix.is_empty()
                && prefix
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..")
            {
                return Err(Error::Usage(format!(
                    "{s}: invalid key prefix (empty, '.' or '..' path segment)"
                )));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.to_string(),
            });
        }
        if s.starts_with("https://") || s.starts_with("http://") {
            let url = s.trim_end_matches('/');
            if url.split("://").nth(1).is_none_or(|r| r.is_empty()) {
                return Err(Error::Usage(format!("{}: no host in URL", redact_url(s))));
            }
            return Ok(Location::Http {
                url: url.to_string(),
            });
        }
        if let Some((scheme, _)) = s.split_once("://") {
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+')
            {
                return Err(Error::Usage(format!(
                    "{}: the '{scheme}://' scheme is not supported (use a local path, \
                     s3://bucket/prefix, or https://host/path for inputs)",
                    redact_url(s)
                )));
            }
        }
        Ok(Location::Local(PathBuf::from(s)))
    }

    /// The local path, if this is a local store.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
            _ => None,
        }
    }

    /// Is `other` this store or inside it (same bucket and prefix below ours)?
    pub fn contains(&self, other: &Location) -> bool {
        match (self, other) {
            (Location::Local(a), Location::Local(b)) => {
                match (a.canonicalize(), b.canonicalize()) {
                    (Ok(a), Ok(b)) => b.starts_with(a),
                    _ => false,
                }
            }
            (
                Location::S3 { bucket, prefix },
                Location::S3 {
                    bucket: ob,
                    prefix: op,
                },
            ) => {
                bucket == ob
                    && (prefix.is_empty() || op == prefix || op.starts_with(&format!("{prefix}/")))
            }
            _ => false,
        }
    }
}

/// A URL without user info or query (which may hold credentials).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}{path}")
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            Location::Http { url } => write!(f, "{}", redact_url(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location({self})")
    }
}

/// How remote stores behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Retries per request on transient errors (exponential backoff).
    pub max_retries: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { max_retries: 3 }
    }
}
