//! Where bytes live. Every input and output goes through [`open_input`] /
//! [`open_output`], which take a local path, `s3://bucket/prefix` or (input
//! only) `https://host/path.zarr`, so the conversion code never sees the
//! backend: `local` (local directories, whole writes, chunk files),
//! `object` (S3 and HTTP(S) through `object_store`), `aws` (settings from
//! the AWS environment and profiles), `listing` (key listings of HTTP
//! stores from their consolidated metadata), `location` (what a location
//! is). This opener wraps HTTP stores in the listing; the backends import
//! only `location` and `aws`, never the opener.
//!
//! May import: `error`, `path`, `jsonfmt`.

pub(crate) mod aws;
pub(crate) mod listing;
pub mod local;
mod location;
pub(crate) mod object;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::{Bytes, ReadableWritableListableStorage, StoreKey, StorePrefix};

use crate::store::local::LocalStore;
use crate::store::object::Remote;
use crate::{Error, Result};
pub use location::{redact_url, Location, StoreOptions};

/// A readable, writable, listable store (local directory, S3, HTTP).
pub type Store = ReadableWritableListableStorage;

/// Open an existing store for reading (default [`StoreOptions`]).
pub fn open_input(loc: &Location) -> Result<Store> {
    open_input_with(loc, &StoreOptions::default())
}

/// Open an existing store for reading. Remote stores are checked first
/// (credentials, bucket, endpoint), failing with one line saying what is
/// wrong and how to fix it.
pub fn open_input_with(loc: &Location, opts: &StoreOptions) -> Result<Store> {
    match loc {
        Location::Local(p) => {
            if !p.exists() {
                return Err(Error::input(p.display(), "does not exist"));
            }
            if !p.is_dir() {
                return Err(Error::input(
                    p.display(),
                    "is a file, not a Zarr store (expected a directory)",
                ));
            }
            let fs = FilesystemStore::new(p).map_err(|e| Error::input(p.display(), e))?;
            Ok(Arc::new(fs))
        }
        _ => {
            let r = Remote::open(loc, opts)?;
            r.check_read()?;
            Ok(view(loc, &r))
        }
    }
}

/// Check that an output location can be written before any work starts:
/// for S3, credentials, bucket, and a write+delete probe under the prefix
/// (nothing is left behind). Local outputs are checked by the conversion.
pub fn check_output(loc: &Location, opts: &StoreOptions) -> Result<()> {
    match loc {
        Location::Local(_) => Ok(()),
        _ => Remote::open(loc, opts)?.check_write(),
    }
}

/// A view of an output location for inspection, without creating or
/// cleaning anything; `None` when a local directory does not exist.
pub fn open_existing(loc: &Location, opts: &StoreOptions) -> Result<Option<Store>> {
    match loc {
        Location::Local(p) => {
            if !p.is_dir() {
                return Ok(None);
            }
            let fs = FilesystemStore::new(p).map_err(|e| Error::output(p.display(), e))?;
            Ok(Some(Arc::new(fs)))
        }
        _ => Ok(Some(view(loc, &Remote::open(loc, opts)?))),
    }
}

/// Open (creating if needed) an output store with default [`StoreOptions`].
pub fn open_output(loc: &Location) -> Result<Store> {
    open_output_with(loc, &StoreOptions::default())
}

/// Open (creating if needed) an output store. Every value is written whole:
/// locally to a temporary file then renamed (see [`LocalStore`]), on S3 as
/// one PUT, so a reader or a resumed run never sees a torn chunk.
pub fn open_output_with(loc: &Location, opts: &StoreOptions) -> Result<Store> {
    match loc {
        Location::Local(p) => {
            std::fs::create_dir_all(p).map_err(|e| Error::storage(p.display(), e))?;
            remove_stale_tmp(p)?;
            let fs = LocalStore::new(p).map_err(|e| Error::output(p.display(), e))?;
            Ok(Arc::new(fs))
        }
        Location::Http { .. } => Err(Error::output(
            loc,
            "HTTP(S) locations are read-only: write to s3://bucket/prefix or a local path",
        )),
        Location::S3 { .. } => Ok(Remote::open(loc, opts)?.zarrs_store()),
    }
}

/// The store of a remote location; HTTP(S) servers cannot list keys, so
/// theirs come from the consolidated metadata ([`listing`]).
fn view(loc: &Location, r: &Remote) -> Store {
    let s = r.zarrs_store();
    match loc {
        Location::Http { .. } => listing::wrap(s),
        _ => s,
    }
}

/// Map `f` over `items` with up to 16 calls in flight: remote stores answer
/// each small request in milliseconds to tens of milliseconds, so I/O-bound
/// work overlaps far beyond the core count. Results keep the order of `items`.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const IN_FLIGHT: usize = 16;
    if items.len() <= 1 {
        // nothing to overlap (most carried arrays are one chunk)
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..IN_FLIGHT.min(items.len()))
            .map(|_| {
                s.spawn(|| {
                    let mut got = vec![];
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        got.push((i, f(item)));
                    }
                    got
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker panicked"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// [`par_map`] for fallible store requests: all results, or the first error
/// in item order.
pub fn par_io<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    par_map(items, f).into_iter().collect()
}

/// Is the store empty (no key or prefix at its root)?
pub fn is_empty(store: &Store) -> Result<bool> {
    let kp = store
        .list_dir(&StorePrefix::root())
        .map_err(|e| Error::storage("(root)", e))?;
    Ok(kp.keys().is_empty() && kp.prefixes().is_empty())
}

/// Delete `*.tmp` files left by an interrupted run: temporary files of
/// writes that never got renamed into place.
fn remove_stale_tmp(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        let ft = match e.file_type() {
            Ok(ft) => ft,
            Err(_) => continue,
        };
        if ft.is_dir() {
            remove_stale_tmp(&p)?;
        } else if p.extension().is_some_and(|x| x == "tmp") {
            std::fs::remove_file(&p).map_err(|e| Error::storage(p.display(), e))?;
        }
    }
    Ok(())
}

/// Build a store key, mapping an invalid key to an error.
pub fn key(k: &str) -> Result<StoreKey> {
    StoreKey::new(k).map_err(|e| Error::Usage(format!("invalid store key {k}: {e}")))
}

/// Read raw bytes, `None` when the key does not exist.
pub fn get(store: &Store, k: &str) -> Result<Option<Bytes>> {
    store.get(&key(k)?).map_err(|e| Error::storage(k, e))
}

/// Write raw bytes (whole value).
pub fn put(store: &Store, k: &str, v: impl Into<Bytes>) -> Result<()> {
    store
        .set(&key(k)?, v.into())
        .map_err(|e| Error::storage(k, e))
}

/// Read and parse a JSON document, `None` when it does not exist.
pub fn get_json(store: &Store, k: &str) -> Result<Option<Value>> {
    match get(store, k)? {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::input(k, format!("invalid JSON: {e}"))),
    }
}

/// Write a JSON document (pretty, deterministic key order).
pub fn put_json(store: &Store, k: &str, v: &Value) -> Result<()> {
    let text = crate::jsonfmt::to_pretty(v);
    put(store, k, text.into_bytes())
}

/// Size of a value, `None` when it does not exist.
pub fn size(store: &Store, k: &str) -> Result<Option<u64>> {
    store.size_key(&key(k)?).map_err(|e| Error::storage(k, e))
}

/// The store prefix of a node path ("" = the whole store).
fn node_prefix(node: &str) -> Result<StorePrefix> {
    if node.is_empty() {
        return Ok(StorePrefix::root());
    }
    StorePrefix::new(format!("{node}/")).map_err(|e| Error::Usage(e.to_string()))
}

/// Delete every key under a node path.
pub fn erase_prefix(store: &Store, node: &str) -> Result<()> {
    store
        .erase_prefix(&node_prefix(node)?)
        .map_err(|e| Error::storage(node, e))
}

/// The Zarr stores directly under `loc` (a local directory or an S3
/// prefix): each child holding `.zmetadata`, `.zgroup` or `zarr.json`, as a
/// location string, sorted (`convert-many DIR|s3://bucket/prefix`).
pub fn list_products(loc: &Location, opts: &StoreOptions) -> Result<Vec<String>> {
    if let Location::Http { url } = loc {
        return Err(Error::input(
            url,
            "an https:// location cannot be listed: give a file of product URLs instead",
        ));
    }
    let store = open_input_with(loc, opts)?;
    let children = zarrs::storage::ListableStorageTraits::list_dir(&*store, &StorePrefix::root())
        .map_err(|e| Error::storage(loc, e))?;
    let mut out = vec![];
    for p in children.prefixes() {
        let name = p.as_str().trim_end_matches('/');
        let is_store = [".zmetadata", ".zgroup", "zarr.json"]
            .iter()
            .any(|k| matches!(size(&store, &format!("{name}/{k}")), Ok(Some(_))));
        if is_store {
            out.push(match loc {
                Location::Local(d) => d.join(name).display().to_string(),
                Location::S3 { bucket, prefix } if prefix.is_empty() => {
                    format!("s3://{bucket}/{name}")
                }
                Location::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}/{name}"),
                Location::Http { .. } => unreachable!("refused above"),
            });
        }
    }
    out.sort();
    Ok(out)
}

/// List all keys under a node path.
pub fn list_prefix(store: &Store, node: &str) -> Result<Vec<String>> {
    let keys = store
        .list_prefix(&node_prefix(node)?)
        .map_err(|e| Error::storage(node, e))?;
    Ok(keys.into_iter().map(|k| k.as_str().to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_print_without_credentials() {
        assert_eq!(
            Location::parse("s3://bucket/a/b.zarr/").unwrap(),
            Location::S3 {
                bucket: "bucket".into(),
                prefix: "a/b.zarr".into()
            }
        );
        assert_eq!(
            Location::parse("s3://bucket").unwrap().to_string(),
            "s3://bucket"
        );
        assert_eq!(
            Location::parse("s3://bucket/x/y").unwrap().to_string(),
            "s3://bucket/x/y"
        );
        assert_eq!(
            Location::parse("file:///tmp/x").unwrap(),
            Location::Local("/tmp/x".into())
        );
        assert_eq!(
            Location::parse("rel/dir").unwrap(),
            Location::Local("rel/dir".into())
        );
        let h = Location::parse("https://user:pw@host:8443/p/x.zarr/?X-Amz-Signature=sig").unwrap();
        assert_eq!(h.to_string(), "https://host:8443/p/x.zarr/");
        assert_eq!(format!("{h:?}"), "Location(https://host:8443/p/x.zarr/)");
        assert_eq!(
            Location::parse("http://127.0.0.1:8000/in.zarr").unwrap(),
            Location::Http {
                url: "http://127.0.0.1:8000/in.zarr".into()
            }
        );
        for bad in [
            "s3://",
            "s3:///x",
            "s3://b/a//c",
            "s3://b/../c",
            "gs://b/x",
            "https://",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
        let e = Location::parse("gs://user:pw@b/x").unwrap_err().to_string();
        assert!(e.contains("'gs://'") && !e.contains("pw"), "{e}");
    }

    #[test]
    fn containment_is_by_bucket_and_prefix_segments() {
        let l = |s: &str| Location::parse(s).unwrap();
        assert!(l("s3://b/in").contains(&l("s3://b/in")));
        assert!(l("s3://b/in").contains(&l("s3://b/in/out")));
        assert!(l("s3://b").contains(&l("s3://b/x")));
        assert!(!l("s3://b/in").contains(&l("s3://b/in2")));
        assert!(!l("s3://b/in").contains(&l("s3://c/in")));
        assert!(!l("https://h/in").contains(&l("s3://h/in")));
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("in/out")).unwrap();
        let p = |s: &str| Location::Local(d.path().join(s));
        assert!(p("in").contains(&p("in/out")));
        assert!(!p("in/out").contains(&p("in")));
    }

    #[test]
    fn par_io_keeps_order_and_returns_the_first_error() {
        let items: Vec<u32> = (0..100).collect();
        assert_eq!(
            par_io(&items, |i| Ok(i * 2)).unwrap(),
            (0..100).map(|i| i * 2).collect::<Vec<_>>()
        );
        let e = par_io(&items, |&i| {
            if i >= 40 {
                Err(Error::Task(format!("item {i}")))
            } else {
                Ok(i)
            }
        })
        .unwrap_err()
        .to_string();
        assert_eq!(e, "item 40");
        assert!(par_io(&Vec::<u32>::new(), |&i| Ok(i)).unwrap().is_empty());
    }

    #[test]
    fn http_outputs_are_refused() {
        let loc = Location::parse("https://host/out.zarr").unwrap();
        let e = open_output(&loc).err().unwrap().to_string();
        assert!(e.contains("read-only"), "{e}");
    }
}
