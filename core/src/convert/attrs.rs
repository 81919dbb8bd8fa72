//! Zarr v3 metadata documents and the GeoZarr attributes of bands,
//! coordinates and grid-mapping variables (profile §3), in the key order
//! zarr-python writes.

use serde_json::{json, Map, Value};

pub(crate) use crate::dtype::DType;
use crate::geo::crs::Crs;
use crate::geo::grid::Grid;

/// `bytes` codec (no endianness for 1-byte types).
pub(crate) fn bytes_codec(item_size: usize) -> Value {
    if item_size == 1 {
        json!({"name": "bytes"})
    } else {
        json!({"name": "bytes", "configuration": {"endian": "little"}})
    }
}

/// The band compressor of the profile: blosc zstd level 3, byte shuffle.
pub(crate) fn blosc_codec(typesize: usize, shuffle: &str) -> Value {
    json!({"name": "blosc", "configuration": {"typesize": typesize, "cname": "zstd", "clevel": 3, "shuffle": shuffle, "blocksize": 0}})
}

/// The `sharding_indexed` codec of a sharded band (profile "Chunks and
/// shards"): inner chunks `inner` (rows, columns; they must divide the
/// shard, the array's chunk shape) encoded as unsharded band chunks are
/// (`bytes` + [`blosc_codec`] with byte shuffle), the index (`offset,
/// nbytes` per inner chunk, little-endian `u64`) and its `crc32c` at the
/// end — what [`crate::codec::shard::ShardWriter`] writes.
pub(crate) fn sharding_codec(typesize: usize, inner: [u64; 2]) -> Value {
    json!({"name": "sharding_indexed", "configuration": {
        "chunk_shape": inner,
        "codecs": [bytes_codec(typesize), blosc_codec(typesize, "shuffle")],
        "index_codecs": [
            {"name": "bytes", "configuration": {"endian": "little"}},
            {"name": "crc32c"}
        ],
        "index_location": "end"
    }})
}

/// The codecs of a band array: bytes + blosc, or those inside a
/// `sharding_indexed` codec with `inner`² inner chunks.
pub(crate) fn band_codecs(typesize: usize, inner: Option<u64>) -> Vec<Value> {
    match inner {
        Some(i) => vec![sharding_codec(typesize, [i, i])],
        None => vec![bytes_codec(typesize), blosc_codec(typesize, "shuffle")],
    }
}

/// A Zarr v3 array `zarr.json`.
pub(crate) fn array_meta(
    shape: &[u64],
    data_type: Value,
    chunk_shape: &[u64],
    fill_value: Value,
    codecs: Vec<Value>,
    attributes: Map<String, Value>,
    dims: Option<Vec<String>>,
) -> Value {
    let mut m = Map::new();
    m.insert("shape".into(), json!(shape));
    m.insert("data_type".into(), data_type);
    m.insert(
        "chunk_grid".into(),
        json!({"name": "regular", "configuration": {"chunk_shape": chunk_shape}}),
    );
    m.insert(
        "chunk_key_encoding".into(),
        json!({"name": "default", "configuration": {"separator": "/"}}),
    );
    m.insert("fill_value".into(), fill_value);
    m.insert("codecs".into(), Value::Array(codecs));
    m.insert("attributes".into(), Value::Object(attributes));
    if let Some(d) = dims {
        m.insert("dimension_names".into(), json!(d));
    }
    m.insert("zarr_format".into(), json!(3));
    m.insert("node_type".into(), json!("array"));
    m.insert("storage_transformers".into(), json!([]));
    Value::Object(m)
}

/// A Zarr v3 group `zarr.json`.
pub(crate) fn group_meta(attributes: Map<String, Value>) -> Value {
    json!({"attributes": attributes, "zarr_format": 3, "node_type": "group"})
}

/// CF `standard_name` of a reflectance band: TOA for L1C, surface (BOA) otherwise.
pub(crate) fn reflectance_standard_name(
    product_type: Option<&str>,
    band_attrs: &Map<String, Value>,
) -> &'static str {
    let long = band_attrs
        .get("long_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let l1c = product_type.is_some_and(|t| t.contains("1C")) || long.starts_with("TOA");
    if l1c {
        "toa_bidirectional_reflectance"
    } else {
        "surface_bidirectional_reflectance"
    }
}

/// Base64 of little-endian bytes (how xarray stores a float `_FillValue` in Zarr v3).
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `_FillValue` attribute for a band: the integer itself, or xarray's base64
/// form for floats.
pub(crate) fn fill_value_attr(dtype: DType, v3_fill: &Value) -> Value {
    if !dtype.is_float() {
        return v3_fill.clone();
    }
    let f = match v3_fill {
        Value::String(s) if s == "NaN" => f64::NAN,
        Value::String(s) if s == "Infinity" => f64::INFINITY,
        Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
        v => v.as_f64().unwrap_or(f64::NAN),
    };
    // xarray always encodes (and decodes) a float fill as 8 bytes, whatever
    // the array's float width
    json!(base64(&f.to_le_bytes()))
}

/// Attributes of a band at one level: the input attributes, with the
/// GeoZarr keys set and `proj:*` describing this level's grid.
pub(crate) fn band_attrs(
    input: &Map<String, Value>,
    standard_name: &str,
    fill_attr: Option<Value>,
    grid: &Grid,
) -> Map<String, Value> {
    let mut a = input.clone();
    a.insert("_ARRAY_DIMENSIONS".into(), json!(["y", "x"]));
    a.insert("standard_name".into(), json!(standard_name));
    a.insert("grid_mapping".into(), json!("spatial_ref"));
    if let Some(f) = fill_attr {
        a.insert("_FillValue".into(), f);
    }
    if a.keys().any(|k| k.starts_with("proj:")) {
        a.insert("proj:shape".into(), json!([grid.height, grid.width]));
        a.insert("proj:transform".into(), json!(grid.proj_transform()));
        a.insert("proj:bbox".into(), json!(grid.bbox()));
    }
    a
}

/// Attributes of the `x` or `y` coordinate (`axis` = "x" | "y").
pub(crate) fn coord_attrs(input: &Map<String, Value>, axis: &str) -> Map<String, Value> {
    let mut a = input.clone();
    a.insert("_ARRAY_DIMENSIONS".into(), json!([axis]));
    a.insert(
        "standard_name".into(),
        json!(format!("projection_{axis}_coordinate")),
    );
    a.insert("units".into(), json!("m"));
    a.insert(
        "long_name".into(),
        json!(format!("{axis} coordinate of projection")),
    );
    a
}

/// Attributes of the `spatial_ref` grid-mapping variable for a grid.
pub(crate) fn spatial_ref_attrs(crs: &Crs, grid: &Grid) -> Map<String, Value> {
    let mut a = crs.cf_attrs();
    a.insert("_ARRAY_DIMENSIONS".into(), json!([]));
    a.insert("GeoTransform".into(), json!(grid.geo_transform()));
    a
}

/// `zarr.json` of a `spatial_ref` scalar (int64, value 0).
pub(crate) fn spatial_ref_meta(crs: &Crs, grid: &Grid) -> Value {
    array_meta(
        &[],
        json!("int64"),
        &[],
        json!(0),
        vec![bytes_codec(8)],
        spatial_ref_attrs(crs, grid),
        Some(vec![]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_nan_matches_xarray() {
        assert_eq!(
            fill_value_attr(DType::F64, &json!("NaN")),
            json!("AAAAAAAA+H8=")
        );
        // xarray's FillValueCoder: struct.pack("<d", …) for every float type
        assert_eq!(
            fill_value_attr(DType::F32, &json!("NaN")),
            json!("AAAAAAAA+H8=")
        );
        assert_eq!(fill_value_attr(DType::U16, &json!(0)), json!(0));
    }

    #[test]
    fn dtypes_and_fills() {
        assert_eq!(DType::from_numpy("<u2"), Some(DType::U16));
        assert_eq!(DType::from_numpy("|u1"), Some(DType::U8));
        assert_eq!(DType::from_numpy(">f4"), Some(DType::F32));
        assert_eq!(DType::from_numpy("<U7"), None);
        assert_eq!(DType::U16.v3_fill(&json!(0)), json!(0));
        assert_eq!(DType::U8.v3_fill(&Value::Null), json!(0));
        assert_eq!(DType::F64.v3_fill(&json!("NaN")), json!("NaN"));
        assert_eq!(DType::F32.v3_fill(&Value::Null), json!("NaN"));
    }

    #[test]
    fn standard_names() {
        let mut a = Map::new();
        assert_eq!(
            reflectance_standard_name(Some("S2MSI2A"), &a),
            "surface_bidirectional_reflectance"
        );
        assert_eq!(
            reflectance_standard_name(Some("S2MSI1C"), &a),
            "toa_bidirectional_reflectance"
        );
        a.insert("long_name".into(), json!("TOA reflectance from MSI"));
        assert_eq!(
            reflectance_standard_name(None, &a),
            "toa_bidirectional_reflectance"
        );
    }
}
