//! HTTP(S) stores cannot list keys (static servers and object-store HTTPS
//! endpoints have no directory listing). [`ConsolidatedListing`] answers
//! listings from the store's consolidated metadata instead: the metadata
//! documents of every node (not chunk keys). Reads pass through; writes are
//! refused.

use std::sync::{Arc, OnceLock};

use serde_json::Value;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

use zarrs::storage::ReadableWritableListableStorage as Store;

/// A read-only store whose listings come from consolidated metadata.
pub(crate) struct ConsolidatedListing {
    inner: Store,
    keys: OnceLock<Result<Vec<StoreKey>, String>>,
}

impl ConsolidatedListing {
    /// Wrap a store that can read but not list.
    pub(crate) fn new(inner: Store) -> Self {
        ConsolidatedListing {
            inner,
            keys: OnceLock::new(),
        }
    }

    /// Every metadata key, from `zarr.json` (v3 inline consolidated
    /// metadata) or `.zmetadata` (v2).
    fn keys(&self) -> Result<&[StoreKey], StorageError> {
        let keys = self.keys.get_or_init(|| {
            let json = |k: &str| -> Result<Option<Value>, String> {
                let key = StoreKey::new(k).map_err(|e| e.to_string())?;
                match self.inner.get(&key).map_err(|e| e.to_string())? {
                    None => Ok(None),
                    Some(b) => serde_json::from_slice(&b)
                        .map(Some)
                        .map_err(|e| format!("{k}: invalid JSON: {e}")),
                }
            };
            let mut names: Vec<String> = if let Some(root) = json("zarr.json")? {
                let members = root
                    .pointer("/consolidated_metadata/metadata")
                    .and_then(Value::as_object)
                    .ok_or(NO_LISTING)?;
                std::iter::once("zarr.json".to_string())
                    .chain(members.keys().map(|k| format!("{k}/zarr.json")))
                    .collect()
            } else if let Some(zm) = json(".zmetadata")? {
                let md = zm
                    .get("metadata")
                    .and_then(Value::as_object)
                    .ok_or(".zmetadata: no \"metadata\" object")?;
                std::iter::once(".zmetadata".to_string())
                    .chain(md.keys().cloned())
                    .collect()
            } else {
                return Err(NO_LISTING.to_string());
            };
            names.sort();
            names.dedup();
            names
                .iter()
                .map(|n| StoreKey::new(n.trim_start_matches('/')).map_err(|e| e.to_string()))
                .collect()
        });
        keys.as_deref().map_err(|e| StorageError::Other(e.clone()))
    }
}

const NO_LISTING: &str = "cannot list keys over HTTP(S) and the store has no consolidated \
                          metadata (.zmetadata or zarr.json consolidated_metadata)";

fn read_only() -> StorageError {
    StorageError::Other("HTTP(S) stores are read-only".into())
}

impl ReadableStorageTraits for ConsolidatedListing {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        self.inner.get_partial_many(key, byte_ranges)
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

impl ListableStorageTraits for ConsolidatedListing {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        Ok(self.keys()?.to_vec())
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        Ok(self
            .keys()?
            .iter()
            .filter(|k| k.as_str().starts_with(prefix.as_str()))
            .cloned()
            .collect())
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        let (mut keys, mut prefixes) = (vec![], vec![]);
        for k in self.list_prefix(prefix)? {
            let rest = &k.as_str()[prefix.as_str().len()..];
            match rest.split_once('/') {
                None => keys.push(k.clone()),
                Some((dir, _)) => {
                    let p = StorePrefix::new(format!("{}{dir}/", prefix.as_str()))?;
                    if !prefixes.contains(&p) {
                        prefixes.push(p);
                    }
                }
            }
        }
        Ok(StoreKeysPrefixes::new(keys, prefixes))
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        let mut total = 0;
        for k in self.list_prefix(prefix)? {
            total += self.inner.size_key(&k)?.unwrap_or(0);
        }
        Ok(total)
    }
}

impl WritableStorageTraits for ConsolidatedListing {
    fn set(&self, _: &StoreKey, _: Bytes) -> Result<(), StorageError> {
        Err(read_only())
    }

    fn set_partial_many(&self, _: &StoreKey, _: OffsetBytesIterator) -> Result<(), StorageError> {
        Err(read_only())
    }

    fn erase(&self, _: &StoreKey) -> Result<(), StorageError> {
        Err(read_only())
    }

    fn erase_prefix(&self, _: &StorePrefix) -> Result<(), StorageError> {
        Err(read_only())
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

/// Wrap an HTTP(S) store.
pub(crate) fn wrap(inner: Store) -> Store {
    Arc::new(ConsolidatedListing::new(inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zarrs::storage::store::MemoryStore;

    fn store(docs: &[(&str, &str)]) -> Store {
        let m: Store = Arc::new(MemoryStore::new());
        for (k, v) in docs {
            m.set(&StoreKey::new(*k).unwrap(), Bytes::from(v.to_string()))
                .unwrap();
        }
        wrap(m)
    }

    fn names(keys: &[StoreKey]) -> Vec<&str> {
        keys.iter().map(|k| k.as_str()).collect()
    }

    #[test]
    fn v3_listing_comes_from_inline_consolidated_metadata() {
        let s = store(&[
            (
                "zarr.json",
                r#"{"zarr_format":3,"node_type":"group","consolidated_metadata":
                   {"kind":"inline","metadata":{"a":{},"a/b":{},"c":{}}}}"#,
            ),
            ("a/b/c/0/0", "chunk"),
        ]);
        assert_eq!(
            names(&s.list().unwrap()),
            ["a/b/zarr.json", "a/zarr.json", "c/zarr.json", "zarr.json"]
        );
        let d = s.list_dir(&StorePrefix::root()).unwrap();
        assert_eq!(names(d.keys()), ["zarr.json"]);
        let p: Vec<_> = d.prefixes().iter().map(|p| p.as_str()).collect();
        assert_eq!(p, ["a/", "c/"]);
        assert_eq!(
            names(&s.list_prefix(&StorePrefix::new("a/").unwrap()).unwrap()),
            ["a/b/zarr.json", "a/zarr.json"]
        );
        // reads pass through, writes are refused
        assert!(s
            .get(&StoreKey::new("a/b/c/0/0").unwrap())
            .unwrap()
            .is_some());
        assert!(s
            .set(&StoreKey::new("x").unwrap(), Bytes::from("y"))
            .is_err());
    }

    #[test]
    fn v2_listing_comes_from_zmetadata_and_none_is_a_clear_error() {
        let s = store(&[(
            ".zmetadata",
            r#"{"metadata":{".zgroup":{},"m/.zgroup":{},"m/b/.zarray":{}}}"#,
        )]);
        assert_eq!(
            names(&s.list().unwrap()),
            [".zgroup", ".zmetadata", "m/.zgroup", "m/b/.zarray"]
        );
        let s = store(&[("zarr.json", r#"{"zarr_format":3,"node_type":"group"}"#)]);
        let e = s.list().unwrap_err().to_string();
        assert!(e.contains("cannot list keys over HTTP(S)"), "{e}");
    }
}
