//! Whole products from both real schemas and a small schema of odd corners:
//! every node and chunk written, metadata as the schema says, values that
//! look right, determinism, refusals.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

use crate::elements::EPOCH_NS;
use crate::geometry::{res_from_name, transform_of, unravel};
use crate::output::meta_key;
use crate::schema::{dims_of, shape_of, walk};
use crate::{synthesize, SynthError, SynthOptions, DEFAULT_SCHEMA};

const S2B_SCHEMA: &str =
    include_str!("../schemas/S2B_MSIL1C_20250113T103309_N0511_R108_T32TLQ_20250113T122458.json");
const SCALE: u64 = 20;

type Nodes = (Vec<String>, Vec<(String, Map<String, Value>)>);

/// Group paths, and (path, node) of every array, in a schema.
fn nodes(schema: &Value) -> Nodes {
    let (mut groups, mut arrays) = (Vec::new(), Vec::new());
    walk(schema, String::new(), &mut groups, &mut arrays).unwrap();
    (
        groups.into_iter().map(|g| g.path).collect(),
        arrays.into_iter().map(|a| (a.path, a.node)).collect(),
    )
}

/// Expected scaled shape, computed independently of the writer: the last two
/// dims of (…, y, x) arrays and 1-D x/y in `rNNm` groups are divided.
fn expected_shape(path: &str, node: &Map<String, Value>, scale: u64) -> Vec<u64> {
    let mut shape = shape_of(node, "shape").unwrap();
    let dims = dims_of(node);
    let group = path.rsplit_once('/').unwrap().0;
    let rgroup = res_from_name(group).is_some();
    let n = shape.len();
    if rgroup && n >= 2 && dims[n - 2] == "y" && dims[n - 1] == "x" {
        shape[n - 2] = shape[n - 2].div_ceil(scale);
        shape[n - 1] = shape[n - 1].div_ceil(scale);
    } else if rgroup && n == 1 && (dims[0] == "x" || dims[0] == "y") {
        shape[0] = shape[0].div_ceil(scale);
    }
    shape
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn open(out: &Path, path: &str) -> Array<FilesystemStore> {
    let store = Arc::new(FilesystemStore::new(out).unwrap());
    Array::open(store, path).unwrap()
}

fn check_product(schema_json: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("product.zarr");
    let summary = synthesize(
        schema_json,
        &out,
        &SynthOptions {
            scale: SCALE,
            ..Default::default()
        },
    )
    .unwrap();
    let schema: Value = serde_json::from_str(schema_json).unwrap();
    let (groups, arrays) = nodes(&schema);
    assert_eq!(summary.arrays, arrays.len());
    assert_eq!(summary.groups, groups.len());

    let all = files(&out);
    let total: u64 = all.values().map(|b| b.len() as u64).sum();
    assert_eq!(summary.bytes_written, total);

    // .zmetadata lists every node, with the same JSON as the files.
    let zmeta = read_json(&out.join(".zmetadata"));
    assert_eq!(zmeta["zarr_consolidated_format"], 1);
    let meta = zmeta["metadata"].as_object().unwrap();
    assert_eq!(meta.len(), 2 * (groups.len() + arrays.len()));
    for g in &groups {
        for f in [".zgroup", ".zattrs"] {
            let key = meta_key(g, f);
            assert_eq!(meta[&key], read_json(&out.join(&key)), "{key}");
        }
    }

    let mut expected_files = 1 + 2 * (groups.len() + arrays.len());
    for (path, node) in &arrays {
        let zarray = read_json(&out.join(path).join(".zarray"));
        assert_eq!(meta[&format!("{path}/.zarray")], zarray);
        assert_eq!(
            meta[&format!("{path}/.zattrs")],
            read_json(&out.join(path).join(".zattrs"))
        );
        // Same metadata as the schema, except the scaled shape and chunks.
        let shape = expected_shape(path, node, SCALE);
        assert_eq!(
            shape_of(zarray.as_object().unwrap(), "shape").unwrap(),
            shape,
            "{path}"
        );
        let chunks = shape_of(zarray.as_object().unwrap(), "chunks").unwrap();
        for key in [
            "dtype",
            "compressor",
            "fill_value",
            "order",
            "filters",
            "dimension_separator",
            "zarr_format",
        ] {
            assert_eq!(zarray[key], node[key], "{path} {key}");
        }
        for (c, s) in chunks.iter().zip(&shape) {
            assert!(*c >= 1 && c <= s.max(&1), "{path}: chunk {c} > shape {s}");
        }
        // Every chunk exists.
        let grid: Vec<u64> = shape
            .iter()
            .zip(&chunks)
            .map(|(s, c)| s.div_ceil(*c))
            .collect();
        let n: u64 = grid.iter().product();
        for k in 0..n {
            let idx = unravel(k, &grid);
            let key = if idx.is_empty() {
                "0".to_string()
            } else {
                idx.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
            };
            assert!(out.join(path).join(&key).is_file(), "{path}/{key} missing");
        }
        expected_files += n as usize;
    }
    assert_eq!(all.len(), expected_files, "unexpected extra files");

    // A reflectance chunk at the bottom-left corner: real-looking values with nodata.
    let refl = arrays
        .iter()
        .find(|(p, _)| p.ends_with("reflectance/r10m/b02"))
        .map(|(p, _)| p.clone())
        .unwrap();
    let b02 = open(&out, &format!("/{refl}"));
    let grid = b02.chunk_grid_shape();
    let values: Vec<u16> = b02.retrieve_chunk(&[grid[0] - 1, 0]).unwrap();
    assert!(values.iter().all(|&v| v <= 10_000));
    assert!(values.contains(&0), "no nodata");
    let valid: Vec<u16> = values.iter().copied().filter(|&v| v > 0).collect();
    assert!(valid.iter().min() != valid.iter().max(), "constant");
    let all_values: Vec<u16> = b02.retrieve_array_subset(&b02.subset_all()).unwrap();
    let valid: Vec<u16> = all_values.iter().copied().filter(|&v| v > 0).collect();
    let nodata = 1.0 - valid.len() as f64 / all_values.len() as f64;
    assert!((0.01..0.1).contains(&nodata), "nodata fraction {nodata}");
    let mean = valid.iter().map(|&v| f64::from(v)).sum::<f64>() / valid.len() as f64;
    assert!((200.0..3000.0).contains(&mean), "mean {mean}");

    // x/y are the pixel centres of the scaled transform.
    let attrs = read_json(&out.join(&refl).join(".zattrs"));
    let t: Vec<f64> = attrs["proj:transform"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(t[0], 10.0 * SCALE as f64);
    assert_eq!(t[4], -10.0 * SCALE as f64);
    let orig = arrays.iter().find(|(p, _)| p == &refl).unwrap();
    let orig_t = transform_of(&orig.1).unwrap();
    assert_eq!((t[2], t[5]), (orig_t.x0, orig_t.y0));
    let n = b02.shape()[1];
    assert_eq!(attrs["proj:shape"], serde_json::json!([n, n]));
    let bbox: Vec<f64> = attrs["proj:bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(
        bbox,
        vec![t[2], t[5] + t[4] * n as f64, t[2] + t[0] * n as f64, t[5]]
    );
    let group = refl.rsplit_once('/').unwrap().0;
    let x: Vec<i64> = open(&out, &format!("/{group}/x"))
        .retrieve_chunk(&[0])
        .unwrap();
    let y: Vec<i64> = open(&out, &format!("/{group}/y"))
        .retrieve_chunk(&[0])
        .unwrap();
    assert_eq!(x.len() as u64, n);
    for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
        assert_eq!(xi as f64, t[2] + t[0] * (i as f64 + 0.5));
        assert_eq!(yi as f64, t[5] + t[4] * (i as f64 + 0.5));
    }

    // Edge chunks are stored at full chunk shape and decode.
    for (path, _) in arrays
        .iter()
        .filter(|(p, _)| p.ends_with("/tci") || p.contains("detector_footprint/r20m/b05"))
    {
        let a = open(&out, &format!("/{path}"));
        let g = a.chunk_grid_shape();
        let last: Vec<u64> = g.iter().map(|n| n - 1).collect();
        let v: Vec<u8> = a.retrieve_chunk(&last).unwrap();
        assert_eq!(
            v.len() as u64,
            a.chunk_shape(&last)
                .unwrap()
                .iter()
                .map(|c| c.get())
                .product::<u64>()
        );
        let whole: Vec<u8> = a.retrieve_array_subset(&a.subset_all()).unwrap();
        assert!(whole.iter().any(|&v| v > 0));
        if path.contains("detector") {
            assert!(whole.iter().all(|&v| v <= 6));
            assert!(
                whole
                    .iter()
                    .filter(|&&v| v > 0)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
                    >= 2
            );
        }
    }

    // Strings are numpy fixed-width UTF-32.
    let angle = std::fs::read(out.join("conditions/geometry/angle/0")).unwrap();
    assert!(!angle.is_empty());
    let band_chunk = std::fs::read(out.join("conditions/geometry/band/0")).unwrap();
    let decoded = zarrs::array::codec::blosc_decompress_bytes(&band_chunk, 13 * 12, 1).unwrap();
    let text: String = decoded
        .chunks_exact(4)
        .map(|c| char::from_u32(u32::from_le_bytes(c.try_into().unwrap())).unwrap())
        .collect();
    assert!(text.starts_with("b01b02b03"), "{text:?}");
    assert!(text.contains("b08b8ab09"), "{text:?}");
}

#[test]
fn synth_s2a_l2a_scale20() {
    check_product(DEFAULT_SCHEMA);
}

#[test]
fn synth_s2b_l1c_scale20() {
    check_product(S2B_SCHEMA);
}

#[test]
fn synth_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    synthesize(
        DEFAULT_SCHEMA,
        &a,
        &SynthOptions {
            scale: SCALE,
            ..Default::default()
        },
    )
    .unwrap();
    synthesize(
        DEFAULT_SCHEMA,
        &b,
        &SynthOptions {
            scale: SCALE,
            ..Default::default()
        },
    )
    .unwrap();
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    for (k, v) in &fa {
        assert!(v == &fb[k], "{k} differs between runs");
    }
}

#[test]
fn synth_refuses_non_empty_output_and_zero_scale() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x"), b"x").unwrap();
    let err = synthesize(
        DEFAULT_SCHEMA,
        dir.path(),
        &SynthOptions {
            scale: 20,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, SynthError::Output { .. }), "{err}");
    let err = synthesize(
        DEFAULT_SCHEMA,
        &dir.path().join("new"),
        &SynthOptions {
            scale: 0,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(err, SynthError::Usage(_)), "{err}");
}

/// Odd corners: a spatial group without `proj:transform`, "/" separator,
/// big-endian, datetime, bytes and 0-d arrays.
#[test]
fn synth_mini_schema_fallbacks() {
    let blosc = serde_json::json!({"blocksize": 0, "clevel": 3, "cname": "zstd", "id": "blosc", "shuffle": 2});
    let arr = |shape: Value,
               chunks: Value,
               dtype: &str,
               fill: Value,
               comp: &Value,
               sep: &str,
               attrs: Value| {
        serde_json::json!({"attributes": attrs, "chunks": chunks, "compressor": comp, "dimension_separator": sep,
            "dtype": dtype, "fill_value": fill, "filters": null, "order": "C", "shape": shape, "zarr_format": 2})
    };
    let group = |members: Value| serde_json::json!({"attributes": {}, "members": members, "zarr_format": 2});
    let refl = serde_json::json!({"_ARRAY_DIMENSIONS": ["y", "x"], "scale_factor": 0.0001});
    let mut b02_attrs = refl.clone();
    b02_attrs["proj:transform"] =
        serde_json::json!([10.0, 0.0, 600000.0, 0.0, -10.0, 5000040.0, 0.0, 0.0, 1.0]);
    b02_attrs["proj:shape"] = serde_json::json!([100, 100]);
    b02_attrs["proj:bbox"] = serde_json::json!([600000.0, 4999040.0, 601000.0, 5000040.0]);
    let xattrs = |d: &str| serde_json::json!({"_ARRAY_DIMENSIONS": [d]});
    let schema = group(serde_json::json!({
        "measurements": group(serde_json::json!({
            "r10m": group(serde_json::json!({
                "b02": arr(serde_json::json!([100, 100]), serde_json::json!([30, 30]), "<u2", Value::from(0), &blosc, "/", b02_attrs),
            })),
            "r20m": group(serde_json::json!({
                "b05": arr(serde_json::json!([50, 50]), serde_json::json!([20, 20]), "<u2", Value::from(0), &blosc, ".", refl),
                "x": arr(serde_json::json!([50]), serde_json::json!([50]), "<i8", Value::Null, &blosc, ".", xattrs("x")),
                "y": arr(serde_json::json!([50]), serde_json::json!([50]), "<i8", Value::Null, &blosc, ".", xattrs("y")),
            })),
        })),
        "misc": group(serde_json::json!({
            "t": arr(serde_json::json!([3]), serde_json::json!([2]), "<M8[ns]", Value::Null, &blosc, ".", xattrs("t")),
            "s": arr(serde_json::json!([2]), serde_json::json!([2]), "|S5", Value::Null, &Value::Null, ".", xattrs("s")),
            "be": arr(serde_json::json!([4]), serde_json::json!([4]), ">u2", Value::Null, &blosc, ".", xattrs("i")),
            "scalar": arr(serde_json::json!([]), serde_json::json!([]), "<f4", Value::from("NaN"), &Value::Null, ".", serde_json::json!({"_ARRAY_DIMENSIONS": []})),
        })),
    }));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mini.zarr");
    let s = synthesize(
        &schema.to_string(),
        &out,
        &SynthOptions {
            scale: 3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((s.arrays, s.groups), (8, 5));

    // "/" separator and the scaled transform.
    let b02 = open(&out, "/measurements/r10m/b02");
    assert_eq!(b02.shape(), &[34, 34]);
    assert!(out.join("measurements/r10m/b02/3/3").is_file());
    let v: Vec<u16> = b02.retrieve_array_subset(&b02.subset_all()).unwrap();
    assert!(v.iter().all(|&x| x <= 10_000) && v.iter().any(|&x| x > 0));
    let attrs = read_json(&out.join("measurements/r10m/b02/.zattrs"));
    assert_eq!(
        attrs["proj:transform"],
        serde_json::json!([30.0, 0.0, 600000.0, 0.0, -30.0, 5000040.0, 0.0, 0.0, 1.0])
    );
    assert_eq!(attrs["proj:shape"], serde_json::json!([34, 34]));
    assert_eq!(
        attrs["proj:bbox"],
        serde_json::json!([600000.0, 4999020.0, 601020.0, 5000040.0])
    );

    // r20m: resolution from the group name, corner from r10m.
    let b05 = open(&out, "/measurements/r20m/b05");
    assert_eq!(b05.shape(), &[17, 17]);
    assert_eq!(b05.chunk_grid_shape(), &[3, 3]);
    let x: Vec<i64> = open(&out, "/measurements/r20m/x")
        .retrieve_chunk(&[0])
        .unwrap();
    let y: Vec<i64> = open(&out, "/measurements/r20m/y")
        .retrieve_chunk(&[0])
        .unwrap();
    assert_eq!(x.len(), 17);
    assert_eq!((x[0], x[16], y[0]), (600_030, 600_990, 5_000_010));

    // Big-endian through zarrs, 0-d raw, bytes raw, datetime through c-blosc.
    let be: Vec<u16> = open(&out, "/misc/be").retrieve_chunk(&[0]).unwrap();
    assert_eq!(be, vec![0, 1, 2, 3]);
    assert_eq!(std::fs::read(out.join("misc/scalar/0")).unwrap().len(), 4);
    assert_eq!(
        std::fs::read(out.join("misc/s/0")).unwrap(),
        b"s0\0\0\0s1\0\0\0"
    );
    let t1 = std::fs::read(out.join("misc/t/1")).unwrap();
    let t1 = zarrs::array::codec::blosc_decompress_bytes(&t1, 16, 1).unwrap();
    assert_eq!(
        i64::from_le_bytes(t1[..8].try_into().unwrap()),
        EPOCH_NS + 2_000_000_000
    );
    assert_eq!(
        i64::from_le_bytes(t1[8..].try_into().unwrap()),
        0,
        "edge chunk padding"
    );
}
