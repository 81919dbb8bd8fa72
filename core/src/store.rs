//! Opening stores. Every input and output goes through [`open_input`] /
//! [`open_output`], which take a path or URL, so other backends (S3, HTTPS)
//! plug in here without touching the conversion code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::{Bytes, ReadableWritableListableStorage, StoreKey, StorePrefix};

use crate::localstore::LocalStore;
use crate::{Error, Result};

/// A readable, writable, listable store (local directory, later S3…).
pub type Store = ReadableWritableListableStorage;

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(PathBuf),
}

impl Location {
    /// Parse a path or URL.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("file://") {
            return Ok(Location::Local(PathBuf::from(rest)));
        }
        if s.contains("://") {
            let scheme = s.split("://").next().unwrap_or_default();
            return Err(Error::Usage(format!(
                "{s}: the '{scheme}://' scheme is not supported yet (local paths only)"
            )));
        }
        Ok(Location::Local(PathBuf::from(s)))
    }

    /// The local path, if this is a local store.
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            Location::Local(p) => Some(p),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Open an existing store for reading.
pub fn open_input(loc: &Location) -> Result<Store> {
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
    }
}

/// Open (creating if needed) an output store. Local writes are atomic: a
/// value is written to a temporary file and renamed (see [`LocalStore`]), so
/// a reader or a resumed run never sees a torn chunk.
pub fn open_output(loc: &Location) -> Result<Store> {
    match loc {
        Location::Local(p) => {
            std::fs::create_dir_all(p).map_err(|e| Error::storage(p.display(), e))?;
            remove_stale_tmp(p)?;
            let fs = LocalStore::new(p).map_err(|e| Error::output(p.display(), e))?;
            Ok(Arc::new(fs))
        }
    }
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

/// Join a node path ("" = root) and a file name into a key string.
pub fn join(node: &str, name: &str) -> String {
    if node.is_empty() {
        name.to_string()
    } else {
        format!("{node}/{name}")
    }
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

/// List all keys under a node path.
pub fn list_prefix(store: &Store, node: &str) -> Result<Vec<String>> {
    let keys = store
        .list_prefix(&node_prefix(node)?)
        .map_err(|e| Error::storage(node, e))?;
    Ok(keys.into_iter().map(|k| k.as_str().to_string()).collect())
}
