//! What zarrs needs to read a Zarr v2 array: its `.zarray` patched where
//! zarrs refuses real products' metadata, and a check, before anything is
//! written, that every codec it names can be decoded.

use serde_json::Value;
use zarrs::array::{Array, ArrayMetadata, ArrayMetadataV2};

/// The `.zarray` patched so zarrs can open it: `<U…` with a null fill gets
/// `""`, `<M8[ns]` is read as the int64 it is stored as.
pub(crate) fn patched_v2_meta(meta: &Value) -> Value {
    let mut m = meta.clone();
    let dtype = m["dtype"].as_str().unwrap_or("").to_string();
    if dtype.contains('U') && m["fill_value"].is_null() {
        m["fill_value"] = Value::String(String::new());
    }
    if let Some(rest) = dtype.strip_prefix('<').or_else(|| dtype.strip_prefix('>')) {
        if rest.starts_with("M8") || rest.starts_with("m8") {
            m["dtype"] = Value::String(format!("{}i8", &dtype[..1]));
            if m["fill_value"].is_string() {
                m["fill_value"] = Value::Null;
            }
        }
    }
    m
}

/// Compressors (numcodecs ids) whose chunks are decoded, besides none.
pub(crate) const COMPRESSORS: [&str; 5] = ["blosc", "zstd", "zlib", "gzip", "lz4"];
/// Filters (numcodecs ids) whose chunks are decoded.
pub(crate) const FILTERS: [&str; 2] = ["shuffle", "fixedscaleoffset"];

/// Can the chunks of this Zarr v2 array be decoded? `Err` says which codec
/// is not and what is supported, in one line.
pub(crate) fn check_v2(meta: &Value) -> std::result::Result<(), String> {
    let list = |ids: &[&str]| ids.join(", ");
    match &meta["compressor"] {
        Value::Null => {}
        c => match c["id"].as_str() {
            Some(id) if COMPRESSORS.contains(&id) => {}
            id => {
                return Err(format!(
                    "compressor {} is not supported (supported: {}, or none)",
                    id.map_or_else(|| c.to_string(), |i| format!("{i:?}")),
                    list(&COMPRESSORS)
                ))
            }
        },
    }
    for f in meta["filters"].as_array().into_iter().flatten() {
        match f["id"].as_str() {
            Some(id) if FILTERS.contains(&id) => {}
            id => {
                return Err(format!(
                    "filter {} is not supported (supported filters: {}; compressors: {})",
                    id.map_or_else(|| f.to_string(), |i| format!("{i:?}")),
                    list(&FILTERS),
                    list(&COMPRESSORS)
                ))
            }
        }
    }
    // the codecs' settings, as zarrs reads them (opening reads nothing)
    let v2: ArrayMetadataV2 =
        serde_json::from_value(patched_v2_meta(meta)).map_err(|e| e.to_string())?;
    let store = std::sync::Arc::new(zarrs::storage::store::MemoryStore::new());
    use zarrs::array::ArrayCreateError as E;
    match Array::new_with_metadata(store, "/a", ArrayMetadata::V2(v2)) {
        Err(e @ (E::CodecsCreateError(_) | E::UnsupportedZarrV2Array(_))) => {
            Err(format!("cannot be decoded: {e}"))
        }
        // data types and fill values are another matter (see `plan`)
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(compressor: Value, filters: Value) -> Value {
        json!({"zarr_format": 2, "shape": [10, 10], "chunks": [5, 5], "dtype": "<u2",
               "fill_value": 0, "order": "C", "compressor": compressor, "filters": filters})
    }

    #[test]
    fn check_codecs_names_what_cannot_be_decoded() {
        for c in [
            Value::Null,
            json!({"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0}),
            json!({"id": "zstd", "level": 3}),
            json!({"id": "zlib", "level": 5}),
            json!({"id": "gzip", "level": 5}),
            json!({"id": "lz4", "acceleration": 1}),
        ] {
            check_v2(&meta(c.clone(), Value::Null)).unwrap_or_else(|e| panic!("{c}: {e}"));
        }
        let e = check_v2(&meta(json!({"id": "lzma", "preset": 1}), Value::Null)).unwrap_err();
        assert!(
            e.contains("\"lzma\"") && e.contains("blosc, zstd, zlib, gzip, lz4"),
            "{e}"
        );
        let e = check_v2(&meta(Value::Null, json!([{"id": "delta", "dtype": "<u2"}]))).unwrap_err();
        assert!(
            e.contains("filter \"delta\"") && e.contains("shuffle"),
            "{e}"
        );
        for f in [
            json!({"id": "shuffle", "elementsize": 2}),
            json!({"id": "fixedscaleoffset", "offset": 0, "scale": 1, "dtype": "<u2"}),
        ] {
            check_v2(&meta(Value::Null, json!([f]))).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        // a known compressor with settings it cannot take
        let e = check_v2(&meta(
            json!({"id": "blosc", "cname": "snappy"}),
            Value::Null,
        ))
        .unwrap_err();
        assert!(e.contains("cannot be decoded"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
}
