//! Object stores (S3, HTTP(S)) behind zarrs' synchronous storage traits:
//! `object_store` → `zarrs_object_store` → zarrs' async-to-sync adapter,
//! driven by one shared tokio runtime. Also the access checks run before a
//! conversion starts, and their one-line diagnoses.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::http::HttpBuilder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use zarrs::storage::storage_adapter::async_to_sync::{
    AsyncToSyncBlockOn, AsyncToSyncStorageAdapter,
};
use zarrs_object_store::AsyncObjectStore;

use crate::store::aws::{Credentials, S3Settings};
use zarrs::storage::ReadableWritableListableStorage;

use crate::store::location::{redact_url, Location, StoreOptions};
use crate::{Error, Result};

/// The runtime driving every object-store request (its I/O threads; the
/// calling threads block on their own futures).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("geozarr-io")
            .enable_all()
            .build()
            .expect("cannot start the I/O runtime")
    })
}

/// Run a future to completion from synchronous code. Works on plain threads
/// and, via `block_in_place`, on a multi-threaded tokio runtime's threads.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| runtime().block_on(f))
        }
        _ => runtime().handle().block_on(f),
    }
}

/// [`AsyncToSyncBlockOn`] over [`block_on`].
struct BlockOn;

impl AsyncToSyncBlockOn for BlockOn {
    fn block_on<F: core::future::Future>(&self, future: F) -> F::Output {
        block_on(future)
    }
}

/// Backoff and retry budget for transient errors (timeouts, 5xx, throttling,
/// dropped connections): exponential from 100 ms, at most 15 s apart.
fn retry_config(opts: &StoreOptions) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: opts.max_retries as usize,
        retry_timeout: Duration::from_secs(180),
    }
}

/// An object store opened at a location, plus what is needed to explain failures.
pub(crate) struct Remote {
    /// The store, rooted at the location's prefix.
    pub store: Arc<dyn ObjectStore>,
    /// Where it is (for messages; never holds credentials).
    pub location: Location,
    /// The S3 settings (`None` for HTTP).
    pub settings: Option<S3Settings>,
}

impl Remote {
    /// Build the object store for an S3 or HTTP location (no request is made).
    pub(crate) fn open(loc: &Location, opts: &StoreOptions) -> Result<Remote> {
        match loc {
            Location::S3 { bucket, prefix } => {
                let settings = S3Settings::from_env()?;
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(&settings.region)
                    .with_retry(retry_config(opts));
                if let Some(ep) = &settings.endpoint {
                    b = b
                        .with_endpoint(ep)
                        .with_allow_http(ep.starts_with("http://"));
                }
                b = match &settings.credentials {
                    Credentials::Static {
                        key_id,
                        secret,
                        token,
                        ..
                    } => {
                        let b = b.with_access_key_id(key_id).with_secret_access_key(secret);
                        match token {
                            Some(t) => b.with_token(t),
                            None => b,
                        }
                    }
                    Credentials::Anonymous => b.with_skip_signature(true),
                    Credentials::Provider(_) => b,
                    Credentials::Missing => {
                        return Err(Error::output(
                            loc,
                            format!(
                                "no S3 credentials found (profile {}): set AWS_ACCESS_KEY_ID and \
                                 AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys), \
                                 or AWS_PROFILE with ~/.aws/credentials; AWS_SKIP_SIGNATURE=true \
                                 reads public buckets",
                                settings.profile
                            ),
                        ))
                    }
                };
                let s3 = b.build().map_err(|e| {
                    Error::output(loc, format!("invalid S3 configuration: {}", chain(&e)))
                })?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                };
                Ok(Remote {
                    store,
                    location: loc.clone(),
                    settings: Some(settings),
                })
            }
            Location::Http { url } => {
                let http = HttpBuilder::new()
                    .with_url(url.trim_end_matches('/'))
                    .with_client_options(ClientOptions::new().with_allow_http(true))
                    .with_retry(retry_config(opts))
                    .build()
                    .map_err(|e| Error::input(loc, format!("invalid URL: {}", chain(&e))))?;
                Ok(Remote {
                    store: Arc::new(http),
                    location: loc.clone(),
                    settings: None,
                })
            }
            Location::Local(_) => Err(Error::Usage(format!("{loc}: not an object store"))),
        }
    }

    /// The zarrs (sync) view of this store (HTTP(S) stores cannot list
    /// keys: the opener wraps them in [`crate::store::listing`]).
    pub(crate) fn zarrs_store(&self) -> ReadableWritableListableStorage {
        let a = Arc::new(AsyncObjectStore::new(self.store.clone()));
        Arc::new(AsyncToSyncStorageAdapter::new(a, BlockOn))
    }

    /// Check read access: the bucket exists and the credentials are accepted
    /// (one listing request). HTTP: the server answers.
    pub(crate) fn check_read(&self) -> Result<()> {
        match &self.location {
            // a ranged read of the first metadata document found: the server
            // answers and honours Range requests (every read is ranged)
            Location::Http { .. } => self.probe_metadata().map(|_| ()),
            _ => match block_on(self.store.list_with_delimiter(None)) {
                Ok(_) => Ok(()),
                Err(e) => {
                    let err = self.explain(&e, Op::Read);
                    // reading may be allowed without listing (s3:GetObject only)
                    match diagnose(&e, &chain(&e)) {
                        Problem::Denied(_) if self.probe_metadata().unwrap_or(false) => Ok(()),
                        _ => Err(err),
                    }
                }
            },
        }
    }

    /// Read one byte of the store's first metadata document found: `true`
    /// when one exists, `false` when none does.
    fn probe_metadata(&self) -> Result<bool> {
        for k in [".zmetadata", "zarr.json", ".zgroup"] {
            match block_on(self.store.get_range(&ObjectPath::from(k), 0..1)) {
                Ok(_) => return Ok(true),
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(self.explain(&e, Op::Read)),
            }
        }
        Ok(false)
    }

    /// Check write access: [`Remote::check_read`], then write and delete a
    /// small probe object under the prefix. Nothing is left behind.
    pub(crate) fn check_write(&self) -> Result<()> {
        if let Location::Http { .. } = self.location {
            return Err(Error::output(
                &self.location,
                "HTTP(S) locations are read-only: write to s3://bucket/prefix or a local path",
            ));
        }
        self.check_read()?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let probe = ObjectPath::from(format!(
            ".eopf-geozarr-write-check-{}-{nanos}",
            std::process::id()
        ));
        block_on(self.store.put(&probe, b"probe".to_vec().into()))
            .map_err(|e| self.explain(&e, Op::Write))?;
        block_on(self.store.delete(&probe)).map_err(|e| self.explain(&e, Op::Delete))?;
        Ok(())
    }

    /// Turn an object-store error into one line naming the problem and the fix.
    pub(crate) fn explain(&self, e: &object_store::Error, op: Op) -> Error {
        let loc = &self.location;
        let text = chain(e);
        let err = |msg: String| match op {
            Op::Read => Error::input(loc, msg),
            _ => Error::output(loc, msg),
        };
        if text.contains("Range request not supported") {
            return err(
                "the server does not honour HTTP Range requests (every read is ranged): serve \
                 the store from one that does, or copy it locally"
                    .into(),
            );
        }
        let Some(settings) = &self.settings else {
            return match diagnose(e, &text) {
                Problem::Unreachable => err(format!(
                    "server unreachable ({}): check the URL and the network",
                    root_cause(e)
                )),
                _ => err(short(&text)),
            };
        };
        let endpoint = settings
            .endpoint
            .as_deref()
            .map(redact_url)
            .unwrap_or_else(|| format!("AWS region {}", settings.region));
        let bucket = match loc {
            Location::S3 { bucket, .. } => bucket.as_str(),
            _ => "",
        };
        let who = match &settings.credentials {
            Credentials::Static { key_id, source, .. } => {
                format!("access key {key_id} from {source}")
            }
            Credentials::Provider(p) => p.clone(),
            Credentials::Anonymous => "unsigned requests".into(),
            Credentials::Missing => "no credentials".into(),
        };
        match diagnose(e, &text) {
            Problem::BadKey(code) => err(format!(
                "the S3 server at {endpoint} rejected the credentials ({code}; {who}): \
                 check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or the \
                 profile in ~/.aws/credentials"
            )),
            Problem::UnknownBucket => err(format!(
                "bucket '{bucket}' does not exist at {endpoint}: create it, or fix the bucket \
                 name or AWS_ENDPOINT_URL / AWS_REGION"
            )),
            Problem::Unreachable => err(format!(
                "cannot reach the S3 endpoint {endpoint} ({}): check AWS_ENDPOINT_URL and the \
                 network",
                root_cause(e)
            )),
            Problem::Denied(code) => match op {
                Op::Read => err(format!(
                    "access denied reading bucket '{bucket}' ({code}; {who}): grant s3:ListBucket \
                     and s3:GetObject, or use other credentials"
                )),
                Op::Write => err(format!(
                    "no write permission ({code} on a test write; {who}): grant s3:PutObject \
                     on this prefix, or choose another output"
                )),
                Op::Delete => err(format!(
                    "no delete permission ({code}; {who}): grant s3:DeleteObject on this prefix \
                     (needed for --overwrite and retries), or choose another output"
                )),
            },
            Problem::WrongRegion(code) => err(format!(
                "bucket '{bucket}' is not in region {} ({code}): set AWS_REGION to the bucket's \
                 region",
                settings.region
            )),
            Problem::Other => err(short(&text)),
        }
    }
}

/// Which access was being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// List/get.
    Read,
    /// Put.
    Write,
    /// Delete.
    Delete,
}

#[derive(Debug, PartialEq, Eq)]
enum Problem {
    BadKey(String),
    UnknownBucket,
    Unreachable,
    Denied(String),
    WrongRegion(String),
    Other,
}

/// Find an S3 error code (`<Code>…</Code>`) in a response body.
fn s3_code(text: &str) -> Option<String> {
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_string())
}

fn diagnose(e: &object_store::Error, text: &str) -> Problem {
    let code = s3_code(text);
    match code.as_deref() {
        Some("NoSuchBucket") => return Problem::UnknownBucket,
        Some(
            c @ ("SignatureDoesNotMatch"
            | "InvalidAccessKeyId"
            | "InvalidToken"
            | "ExpiredToken"
            | "InvalidClientTokenId"
            | "TokenRefreshRequired"
            | "NotSignedUp"),
        ) => return Problem::BadKey(c.to_string()),
        Some(c @ ("AccessDenied" | "AllAccessDisabled")) => return Problem::Denied(c.to_string()),
        Some(
            c @ ("PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException"),
        ) => return Problem::WrongRegion(c.to_string()),
        _ => {}
    }
    let lower = text.to_ascii_lowercase();
    match e {
        object_store::Error::PermissionDenied { .. } => {
            Problem::Denied(code.unwrap_or_else(|| "403 Forbidden".into()))
        }
        object_store::Error::Unauthenticated { .. } => {
            Problem::BadKey(code.unwrap_or_else(|| "401 Unauthorized".into()))
        }
        object_store::Error::NotFound { .. } if code.is_none() => Problem::UnknownBucket,
        _ if lower.contains("301 moved permanently")
            || lower.contains("received redirect without") =>
        {
            Problem::WrongRegion("301 redirect".into())
        }
        _ if [
            "connection refused",
            "tcp connect",
            "dns error",
            "failed to lookup",
            "error sending request",
            "timed out",
            "connection reset",
            "no route to host",
        ]
        .iter()
        .any(|n| lower.contains(n)) =>
        {
            Problem::Unreachable
        }
        _ => Problem::Other,
    }
}

/// An error and all its sources, joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// The innermost error message (e.g. "Connection refused (os error 111)").
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(c) = cur.source() {
        cur = c;
    }
    short(&cur.to_string())
}

/// One line, bounded length (S3 error bodies are XML documents).
fn short(text: &str) -> String {
    let one: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() > 300 {
        one.chars().take(300).collect::<String>() + "…"
    } else {
        one
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_error_codes_are_read_from_xml_bodies() {
        let body = "Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?>\
                    <Error><Code>SignatureDoesNotMatch</Code><Message>x</Message></Error>";
        assert_eq!(s3_code(body).as_deref(), Some("SignatureDoesNotMatch"));
        assert_eq!(s3_code("no xml"), None);
        let e = object_store::Error::Generic {
            store: "S3",
            source: body.into(),
        };
        assert_eq!(
            diagnose(&e, body),
            Problem::BadKey("SignatureDoesNotMatch".into())
        );
        let t =
            "Error performing GET: error sending request: tcp connect error: Connection refused";
        let e = object_store::Error::Generic {
            store: "S3",
            source: t.into(),
        };
        assert_eq!(diagnose(&e, t), Problem::Unreachable);
        let t = "<Error><Code>NoSuchBucket</Code></Error>";
        assert_eq!(diagnose(&e, t), Problem::UnknownBucket);
        let t = "<Error><Code>AuthorizationHeaderMalformed</Code></Error>";
        assert_eq!(
            diagnose(&e, t),
            Problem::WrongRegion("AuthorizationHeaderMalformed".into())
        );
    }

    #[test]
    fn short_is_one_bounded_line() {
        let s = short(&format!("a\n  b {}", "x".repeat(1000)));
        assert!(s.starts_with("a b x") && !s.contains('\n'));
        assert!(s.chars().count() <= 301);
    }
}
