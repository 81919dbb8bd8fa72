//! Tests of `validate` (and `info`) on `conventions` stores: a small
//! synthetic store built here (consistent: passes with no warning; then
//! one rule broken at a time), and the Python tool's real outputs
//! (`tests/fixtures/{geozarr_,optimized_}S2A_*.json.gz`, pydantic-zarr
//! GroupSpec metadata) materialised as metadata-only stores.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Map, Value};
use zarrs::array::{Array, ArraySubset};

use super::conventions::Profile;
use super::rules::{resample, Px, Rule};
use super::schema::CONVENTIONS;
use super::validate::{render_text, validate, Check, Options, Report, Status};
use crate::store::{open_input, Location, Store};

fn write_json(path: &Path, v: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn node_path(dir: &Path, node: &str) -> std::path::PathBuf {
    if node.is_empty() {
        dir.join("zarr.json")
    } else {
        dir.join(node).join("zarr.json")
    }
}

fn edit(dir: &Path, node: &str, f: impl FnOnce(&mut Value)) {
    let p = node_path(dir, node);
    let mut v = read_json(&p);
    f(&mut v);
    write_json(&p, &v);
}

fn open(dir: &Path) -> Store {
    open_input(&Location::Local(dir.to_path_buf())).unwrap()
}

fn run(dir: &Path, deep: bool) -> Report {
    validate(&open(dir), &dir.display().to_string(), Options { deep }).unwrap()
}

fn with(r: &Report, status: Status) -> Vec<&Check> {
    r.checks.iter().filter(|c| c.status == status).collect()
}

/// The check `name` at `path` with `status`, whose message contains `says`.
fn has(r: &Report, status: Status, name: &str, path: &str, says: &str) -> bool {
    r.checks.iter().any(|c| {
        c.status == status && c.check == name && c.path == path && c.message.contains(says)
    })
}

fn assert_has(r: &Report, status: Status, name: &str, path: &str, says: &str) {
    assert!(
        has(r, status, name, path, says),
        "no {} {name} at {path} saying {says:?}:\n{}",
        status.as_str(),
        render_text(r)
    );
}

// ---------------------------------------------------------------------------
// a small consistent store

const ORIGIN: [f64; 2] = [500000.0, 4500000.0];
/// (level, pixel, [h, w], derived_from, scale)
type Level = (&'static str, f64, [u64; 2], Option<&'static str>, f64);
const LEVELS: [Level; 3] = [
    ("r10m", 10.0, [9, 7], None, 1.0),
    ("r20m", 20.0, [5, 4], Some("r10m"), 2.0),
    ("r60m", 60.0, [2, 2], Some("r20m"), 3.0),
];

fn entries(labels: &[&str]) -> Value {
    CONVENTIONS
        .iter()
        .filter(|c| labels.contains(&c.label))
        .map(|c| {
            json!({"name": c.written[0], "schema_url": c.written[1], "spec_url": c.written[2],
                   "description": c.written[3], "uuid": c.uuid})
        })
        .collect()
}

fn transform(px: f64) -> Value {
    json!([px, 0.0, ORIGIN[0], 0.0, -px, ORIGIN[1]])
}

fn bbox(px: f64, [h, w]: [u64; 2]) -> Value {
    json!([
        ORIGIN[0],
        ORIGIN[1] - px * h as f64,
        ORIGIN[0] + px * w as f64,
        ORIGIN[1]
    ])
}

fn group(dir: &Path, node: &str, attrs: Value) {
    write_json(
        &node_path(dir, node),
        &json!({"zarr_format": 3, "node_type": "group", "attributes": attrs}),
    );
}

#[allow(clippy::too_many_arguments)]
fn array(
    dir: &Path,
    node: &str,
    shape: &[u64],
    dtype: &str,
    fill: Value,
    dims: &[&str],
    attrs: Value,
    inner: Option<[u64; 2]>,
) {
    let size = match dtype {
        "uint8" => 1,
        "uint16" => 2,
        _ => 8,
    };
    let mut codecs = vec![json!({"name": "bytes", "configuration": {"endian": "little"}})];
    if size == 1 {
        codecs = vec![json!({"name": "bytes"})];
    }
    if let Some(inner) = inner {
        codecs = vec![json!({"name": "sharding_indexed", "configuration": {
            "chunk_shape": inner,
            "codecs": codecs,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
            "index_location": "end"}})];
    }
    write_json(
        &node_path(dir, node),
        &json!({
            "zarr_format": 3, "node_type": "array", "shape": shape, "data_type": dtype,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": shape}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": fill, "codecs": codecs, "dimension_names": dims, "attributes": attrs
        }),
    );
}

fn store_data<T: Px>(dir: &Path, node: &str, vals: Vec<T>) {
    let store = open(dir);
    let a = Array::open(Arc::clone(&store), &format!("/{node}")).unwrap();
    let subset = ArraySubset::new_with_shape(a.shape().to_vec());
    a.store_array_subset(&subset, vals).unwrap();
}

/// Band values at the finest level: a deterministic pattern with some fill.
fn base<T: Px>(h: u64, w: u64, f: impl Fn(u64) -> T) -> Vec<T> {
    (0..h * w).map(|i| f((i * 7919 + 13) % 101)).collect()
}

/// The consistent store: root footprint, one multiscale group `m` of three
/// levels with an average (sharded at r10m and r20m), a mode and a
/// bitwise-or band each, coordinates and a grid mapping.
fn good_store(dir: &Path) {
    group(
        dir,
        "",
        json!({"zarr_conventions": entries(&["spatial:", "proj:"]), "proj:code": "EPSG:4326",
               "spatial:bbox": [8.9, 40.6, 9.0, 40.7]}),
    );
    let layout: Vec<Value> = LEVELS
        .iter()
        .map(|(name, px, shape, from, scale)| {
            let mut e = json!({"asset": name, "transform": {"scale": [scale, scale], "translation": [0.0, 0.0]},
                               "spatial:shape": shape, "spatial:transform": transform(*px)});
            if let Some(f) = from {
                e["derived_from"] = json!(f);
            }
            e
        })
        .collect();
    group(
        dir,
        "m",
        json!({
            "zarr_conventions": entries(&["multiscales", "spatial:", "proj:"]),
            "multiscales": {"layout": layout, "resampling_method": "average"},
            "proj:code": "EPSG:32632", "spatial:dimensions": ["y", "x"],
            "spatial:bbox": bbox(10.0, [9, 7]), "spatial:registration": "pixel"
        }),
    );
    let wkt = crate::geo::crs::utm_wkt(32632).unwrap();
    let (mut b1, mut scl, mut flags): (Vec<u16>, Vec<u8>, Vec<u8>) = (
        base(9, 7, |v| if v < 10 { 0 } else { 1000 + 3 * v as u16 }),
        base(9, 7, |v| if v < 5 { 0 } else { (v % 4) as u8 + 1 }),
        base(9, 7, |v| if v > 95 { 255 } else { 1 << (v % 8) }),
    );
    let mut prev: Option<[u64; 2]> = None;
    for (name, px, [h, w], from, k) in LEVELS {
        let lp = format!("m/{name}");
        group(
            dir,
            &lp,
            json!({
                "zarr_conventions": entries(&["spatial:", "proj:"]),
                "spatial:dimensions": ["y", "x"], "spatial:shape": [h, w],
                "spatial:transform": transform(px), "spatial:bbox": bbox(px, [h, w]),
                "spatial:registration": "pixel", "proj:code": "EPSG:32632", "grid_mapping": "spatial_ref"
            }),
        );
        if let Some(ps) = prev {
            let k = k as usize;
            let region = [ps[0] as usize, ps[1] as usize];
            b1 = resample(&b1, region, [k, k], Rule::Average, Some(0)).unwrap();
            scl = resample(&scl, region, [k, k], Rule::Mode, Some(0)).unwrap();
            flags = resample(&flags, region, [k, k], Rule::BitwiseOr, Some(255)).unwrap();
        }
        prev = Some([h, w]);
        let derived = |band: &str, rule: &str, extra: Value| {
            let mut a = json!({"grid_mapping": "spatial_ref", "resampling_method": rule});
            if let Some(f) = from {
                a["derived_from"] = json!(format!("{f}/{band}"));
            }
            for (k, v) in extra.as_object().unwrap() {
                a[k] = v.clone();
            }
            a
        };
        let inner = match name {
            "r10m" => Some([3, 7]),
            "r20m" => Some([5, 2]),
            _ => None,
        };
        array(
            dir,
            &format!("{lp}/b1"),
            &[h, w],
            "uint16",
            json!(0),
            &["y", "x"],
            derived(
                "b1",
                "average",
                json!({"_FillValue": 0, "scale_factor": 0.0001}),
            ),
            inner,
        );
        array(
            dir,
            &format!("{lp}/scl"),
            &[h, w],
            "uint8",
            json!(0),
            &["y", "x"],
            derived(
                "scl",
                "mode",
                json!({"_FillValue": 0, "flag_values": [1, 2, 3, 4]}),
            ),
            None,
        );
        array(
            dir,
            &format!("{lp}/flags"),
            &[h, w],
            "uint8",
            json!(255),
            &["y", "x"],
            derived(
                "flags",
                "bitwise_or",
                json!({"_FillValue": 255, "flag_masks": [1, 2, 4, 8, 16, 32, 64, 128]}),
            ),
            None,
        );
        store_data(dir, &format!("{lp}/b1"), b1.clone());
        store_data(dir, &format!("{lp}/scl"), scl.clone());
        store_data(dir, &format!("{lp}/flags"), flags.clone());
        array(
            dir,
            &format!("{lp}/x"),
            &[w],
            "float64",
            json!("NaN"),
            &["x"],
            json!({"standard_name": "projection_x_coordinate", "units": "m"}),
            None,
        );
        array(
            dir,
            &format!("{lp}/y"),
            &[h],
            "float64",
            json!("NaN"),
            &["y"],
            json!({"standard_name": "projection_y_coordinate", "units": "m"}),
            None,
        );
        store_data(
            dir,
            &format!("{lp}/x"),
            (0..w)
                .map(|i| ORIGIN[0] + (i as f64 + 0.5) * px)
                .collect::<Vec<f64>>(),
        );
        store_data(
            dir,
            &format!("{lp}/y"),
            (0..h)
                .map(|j| ORIGIN[1] - (j as f64 + 0.5) * px)
                .collect::<Vec<f64>>(),
        );
        array(
            dir,
            &format!("{lp}/spatial_ref"),
            &[],
            "int64",
            json!(0),
            &[],
            json!({"crs_wkt": wkt, "spatial_ref": wkt, "grid_mapping_name": "transverse_mercator",
                     "GeoTransform": format!("{} {px} 0 {} 0 -{px}", ORIGIN[0], ORIGIN[1])}),
            None,
        );
        // the scalar equals its fill value, which zarrs would not store
        std::fs::write(dir.join(&lp).join("spatial_ref/c"), 0i64.to_le_bytes()).unwrap();
    }
    consolidate(dir);
}

/// Inline consolidated metadata of every node in the root's zarr.json.
fn consolidate(dir: &Path) {
    let mut members = Map::new();
    fn walk(dir: &Path, rel: &str, out: &mut Map<String, Value>) {
        for e in std::fs::read_dir(dir.join(rel)).unwrap().flatten() {
            if !e.path().is_dir() {
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let z = dir.join(&r).join("zarr.json");
            if z.exists() {
                out.insert(r.clone(), read_json(&z));
                walk(dir, &r, out);
            }
        }
    }
    walk(dir, "", &mut members);
    edit(dir, "", |d| {
        d["consolidated_metadata"] =
            json!({"kind": "inline", "must_understand": false, "metadata": members});
    });
}

/// Edit a node of the store and consolidate again.
fn change(dir: &Path, node: &str, f: impl FnOnce(&mut Value)) {
    edit(dir, node, f);
    consolidate(dir);
}

#[test]
fn a_consistent_store_passes_deep_without_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    good_store(tmp.path());
    let r = run(tmp.path(), true);
    assert_eq!(r.profile, Profile::Conventions);
    let not_pass: Vec<String> = r
        .checks
        .iter()
        .filter(|c| c.status != Status::Pass)
        .map(|c| {
            format!(
                "{} {} {}: {}",
                c.status.as_str(),
                c.check,
                c.path,
                c.message
            )
        })
        .collect();
    assert!(not_pass.is_empty(), "{}", not_pass.join("\n"));
    for want in [
        "conventions",
        "schema",
        "layout",
        "scale",
        "level-shape",
        "shape",
        "transform",
        "bbox",
        "proj-code",
        "grid-mapping",
        "root-bbox",
        "crs",
        "consolidated",
        "chunks",
        "resampling",
    ] {
        assert!(
            r.checks.iter().any(|c| c.check == want),
            "no {want} check ran"
        );
    }
    // every derived band compared, sharded ones through zarrs
    let resampled: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| c.check == "resampling")
        .map(|c| c.path.as_str())
        .collect();
    assert_eq!(resampled.len(), 6, "{resampled:?}");
    assert_has(
        &r,
        Status::Pass,
        "resampling",
        "/m/r20m/b1",
        "average ×2 of /m/r10m/b1",
    );
    assert_has(
        &r,
        Status::Pass,
        "resampling",
        "/m/r60m/scl",
        "mode ×3 of /m/r20m/scl",
    );
    assert_has(
        &r,
        Status::Pass,
        "resampling",
        "/m/r60m/flags",
        "bitwise_or ×3",
    );
    assert_has(
        &r,
        Status::Pass,
        "level-shape",
        "/m/r60m",
        "[2, 2] = ceil([5, 4] / 3) of r20m",
    );
    assert_has(
        &r,
        Status::Pass,
        "transform",
        "/m/r20m",
        "agrees with the x/y pixel centres",
    );
    assert_has(
        &r,
        Status::Pass,
        "proj-code",
        "/m/r10m",
        "EPSG:32632 = spatial_ref's crs_wkt",
    );
    assert_has(&r, Status::Pass, "conventions", "/", "note: ");
    let text = render_text(&r);
    assert!(
        text.lines().last().unwrap().contains("profile conventions"),
        "{text}"
    );
}

#[test]
fn a_store_without_the_multiscales_uuid_is_geozarr_0_4() {
    let tmp = tempfile::tempdir().unwrap();
    good_store(tmp.path());
    change(tmp.path(), "m", |d| {
        d["attributes"]["zarr_conventions"] = entries(&["spatial:", "proj:"]);
        d["attributes"]
            .as_object_mut()
            .unwrap()
            .remove("multiscales");
    });
    let r = run(tmp.path(), false);
    assert_eq!(r.profile, Profile::Geozarr04);
    assert!(render_text(&r).contains("profile geozarr-0.4"));
}

/// (what is broken, the change, deep, status, check, path, message part)
type Breakage = (
    &'static str,
    fn(&Path),
    bool,
    Status,
    &'static str,
    &'static str,
    &'static str,
);

const BREAKAGES: &[Breakage] = &[
    ("empty layout", |d| change(d, "m", |v| v["attributes"]["multiscales"]["layout"] = json!([])),
        false, Status::Fail, "layout", "/m", "layout is empty"),
    ("asset without group", |d| change(d, "m", |v| {
        v["attributes"]["multiscales"]["layout"].as_array_mut().unwrap().push(
            json!({"asset": "r120m", "derived_from": "r60m", "transform": {"scale": [2.0, 2.0]}}));
    }), false, Status::Fail, "layout", "/m/r120m", "the group /m/r120m does not exist"),
    ("derived_from after the level", |d| change(d, "m", |v| {
        v["attributes"]["multiscales"]["layout"][1]["derived_from"] = json!("r60m");
    }), false, Status::Fail, "layout", "/m/r20m", "r60m, which does not precede it"),
    ("derived_from no level", |d| change(d, "m", |v| {
        v["attributes"]["multiscales"]["layout"][2]["derived_from"] = json!("r30m");
    }), false, Status::Fail, "layout", "/m/r60m", "r30m, which is not a layout asset"),
    ("inexact scale", |d| change(d, "m", |v| {
        v["attributes"]["multiscales"]["layout"][2]["transform"]["scale"] = json!([3.0000001, 3.0000001]);
    }), false, Status::Fail, "scale", "/m/r60m", "inexact scale: transform.scale [3.0000001, 3.0000001]"),
    ("layout spatial:shape", |d| change(d, "m", |v| {
        v["attributes"]["multiscales"]["layout"][1]["spatial:shape"] = json!([5, 5]);
    }), false, Status::Fail, "shape", "/m/r20m", "the layout entry's spatial:shape [5, 5] but the bands are [5, 4]"),
    ("level spatial:shape", |d| change(d, "m/r20m", |v| v["attributes"]["spatial:shape"] = json!([4, 4])),
        false, Status::Fail, "shape", "/m/r20m", "spatial:shape [4, 4] but the bands are [5, 4]"),
    ("level shape not the reduction", |d| {
        for a in ["b1", "scl", "flags"] {
            edit(d, &format!("m/r60m/{a}"), |v| {
                v["shape"] = json!([1, 1]);
                v["chunk_grid"]["configuration"]["chunk_shape"] = json!([1, 1]);
            });
        }
        for a in ["x", "y"] {
            edit(d, &format!("m/r60m/{a}"), |v| {
                v["shape"] = json!([1]);
                v["chunk_grid"]["configuration"]["chunk_shape"] = json!([1]);
            });
        }
        change(d, "m", |v| v["attributes"]["multiscales"]["layout"][2]["spatial:shape"] = json!([1, 1]));
        change(d, "m/r60m", |v| v["attributes"]["spatial:shape"] = json!([1, 1]));
    }, false, Status::Fail, "level-shape", "/m/r60m", "[1, 1], expected [2, 2] = ceil([5, 4] / 3) of r20m: the partial last block is dropped"),
    ("transform off the coordinates", |d| {
        change(d, "m/r20m", |v| v["attributes"]["spatial:transform"][2] = json!(500020.0));
    }, false, Status::Fail, "transform", "/m/r20m", "x[0] = 500010 but spatial:transform puts that pixel centre at 500030"),
    ("transform off the layout", |d| {
        change(d, "m/r20m", |v| v["attributes"]["spatial:transform"][0] = json!(20.5));
    }, false, Status::Fail, "transform", "/m/r20m", "differs from the layout entry's"),
    ("transform off the GeoTransform", |d| {
        change(d, "m/r20m/spatial_ref", |v| v["attributes"]["GeoTransform"] = json!("500000 20 0 4500020 0 -20"));
    }, false, Status::Fail, "transform", "/m/r20m", "spatial_ref's GeoTransform [500000, 20, 0, 4500020, 0, -20] differs"),
    ("no transform at all", |d| {
        change(d, "m/r20m", |v| { v["attributes"].as_object_mut().unwrap().remove("spatial:transform"); });
        change(d, "m", |v| { v["attributes"]["multiscales"]["layout"][1].as_object_mut().unwrap().remove("spatial:transform"); });
    }, false, Status::Fail, "transform", "/m/r20m", "no spatial:transform on the level group or its layout entry"),
    ("bbox off the transform", |d| change(d, "m/r20m", |v| v["attributes"]["spatial:bbox"][2] = json!(500100.0)),
        false, Status::Fail, "bbox", "/m/r20m", "spatial:bbox [500000, 4499900, 500100, 4500000] but spatial:transform applied to [5, 4] gives [500000, 4499900, 500080, 4500000]"),
    ("bbox zeros", |d| change(d, "m/r60m", |v| v["attributes"]["spatial:bbox"] = json!([0.0, 0.0, 0.0, 0.0])),
        false, Status::Fail, "bbox", "/m/r60m", "spatial:bbox is [0, 0, 0, 0]"),
    ("group bbox not the finest level's", |d| change(d, "m", |v| v["attributes"]["spatial:bbox"] = bbox(20.0, [5, 4])),
        false, Status::Fail, "bbox", "/m", "but the finest level r10m spans [500000, 4499910, 500070, 4500000]"),
    ("proj:code not EPSG", |d| change(d, "m/r20m", |v| v["attributes"]["proj:code"] = json!("EPSG:utm32")),
        false, Status::Fail, "proj-code", "/m/r20m", "\"EPSG:utm32\""),
    ("proj:code off the grid mapping", |d| {
        change(d, "m", |v| v["attributes"]["proj:code"] = json!("EPSG:32633"));
        change(d, "m/r10m", |v| v["attributes"]["proj:code"] = json!("EPSG:32633"));
    }, false, Status::Fail, "proj-code", "/m/r10m", "proj:code EPSG:32633 but /m/r10m/spatial_ref's crs_wkt is EPSG:32632"),
    ("proj:code off the group's", |d| change(d, "m/r60m", |v| v["attributes"]["proj:code"] = json!("EPSG:32633")),
        false, Status::Fail, "proj-code", "/m/r60m", "differs from the multiscale group's EPSG:32632"),
    ("band without grid_mapping", |d| change(d, "m/r20m/scl", |v| { v["attributes"].as_object_mut().unwrap().remove("grid_mapping"); }),
        false, Status::Fail, "grid-mapping", "/m/r20m/scl", "band without grid_mapping"),
    ("stale proj:* contradicting", |d| change(d, "m/r20m/b1", |v| {
        v["attributes"]["proj:shape"] = json!([9, 7]);
        v["attributes"]["proj:transform"] = json!([10.0, 0.0, 500000.0, 0.0, -10.0, 4500000.0, 0.0, 0.0, 1.0]);
        v["attributes"]["proj:epsg"] = json!(32632);
    }), false, Status::Fail, "stale-proj", "/m/r20m/b1",
        "proj:shape [9, 7] but the array is [5, 4]; proj:transform pixel 10 but the level's is 20 (from its spatial:transform)"),
    ("stale proj:* agreeing", |d| change(d, "m/r20m/b1", |v| v["attributes"]["proj:epsg"] = json!(32632)),
        false, Status::Warn, "stale-proj", "/m/r20m/b1", "per-array proj:epsg left over"),
    ("root bbox out of range", |d| change(d, "", |v| v["attributes"]["spatial:bbox"] = json!([189.0, 40.6, 9.0, 40.7])),
        false, Status::Fail, "root-bbox", "/", "west 189 is outside ±180; west 189 is not less than east 9"),
    ("schema: registration value", |d| change(d, "m/r10m", |v| v["attributes"]["spatial:registration"] = json!("corner")),
        false, Status::Fail, "schema", "/m/r10m", "not valid against the bundled spatial v0.1 schema: /attributes/spatial:registration"),
    ("entry without uuid", |d| change(d, "m/r10m", |v| {
        v["attributes"]["zarr_conventions"][0].as_object_mut().unwrap().remove("uuid");
    }), false, Status::Warn, "conventions", "/m/r10m", "has no uuid: readers match conventions by uuid"),
    ("entry spelled oddly", |d| change(d, "m/r10m", |v| v["attributes"]["zarr_conventions"][0]["name"] = json!("space")),
        false, Status::Warn, "conventions", "/m/r10m", "has name \"space\""),
    ("derived values wrong", |d| {
        store_data(d, "m/r20m/b1", vec![1234u16; 20]);
    }, true, Status::Fail, "resampling", "/m/r20m/b1", "sampled pixels differ from the average ×2 of /m/r10m/b1; first at (0, 0)"),
    ("mode values wrong", |d| store_data(d, "m/r60m/scl", vec![9u8; 4]),
        true, Status::Fail, "resampling", "/m/r60m/scl", "differ from the mode ×3 of /m/r20m/scl"),
];

#[test]
fn each_broken_rule_is_caught_naming_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    good_store(&good);
    for (i, (what, make, deep, status, check, path, says)) in BREAKAGES.iter().enumerate() {
        let dir = tmp.path().join(format!("b{i}"));
        copy_dir(&good, &dir);
        make(&dir);
        let r = run(&dir, *deep);
        assert!(
            has(&r, *status, check, path, says),
            "{what}: no {} {check} at {path} saying {says:?}:\n{}",
            status.as_str(),
            render_text(&r)
        );
        if *status == Status::Fail {
            assert!(!r.valid, "{what}");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// the Python tool's outputs

const S2: &str = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613";

/// Write every node of a pydantic-zarr GroupSpec dump as its zarr.json
/// (metadata only: no chunk is stored).
fn materialise(spec: &Value, dir: &Path, rel: &str) {
    let mut doc = spec.clone();
    let members = doc.as_object_mut().unwrap().remove("members");
    write_json(&node_path(dir, rel), &doc);
    for (name, m) in members
        .as_ref()
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        materialise(m, dir, &r);
    }
}

fn python_store(kind: &str, dir: &Path) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(format!("{kind}_{S2}.json.gz"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    materialise(&serde_json::from_str(&text).unwrap(), dir, "");
}

const REFL: &str = "/measurements/reflectance";

#[test]
fn the_python_tools_outputs_show_their_known_defects() {
    let tmp = tempfile::tempdir().unwrap();
    for kind in ["optimized", "geozarr"] {
        let dir = tmp.path().join(kind);
        python_store(kind, &dir);
        let r = run(&dir, false);
        assert_eq!(r.profile, Profile::Conventions, "{kind}");
        let at = |l: &str| format!("{REFL}/{l}");
        // spatial:bbox [0, 0, 0, 0] on the multiscale group and every level
        assert_has(
            &r,
            Status::Fail,
            "bbox",
            REFL,
            "spatial:bbox is [0, 0, 0, 0]",
        );
        assert_has(
            &r,
            Status::Fail,
            "bbox",
            &at("r60m"),
            "spatial:bbox is [0, 0, 0, 0]",
        );
        // no spatial:transform anywhere
        for l in ["r10m", "r20m", "r60m", "r120m", "r360m", "r720m"] {
            assert_has(
                &r,
                Status::Fail,
                "transform",
                &at(l),
                "no spatial:transform",
            );
        }
        // r720m: scale 305/152 and 152 px, where 720/360 = 2 and ceil(305/2) = 153
        assert_has(&r, Status::Fail, "scale", &at("r720m"),
            "inexact scale: transform.scale [2.0065789473684212, 2.0065789473684212] × r360m's pixel 360 (from its name) = 722.3684210526317, but r720m's pixel 720 (from its name): the exact scale is [2, 2]");
        assert_has(&r, Status::Fail, "level-shape", &at("r720m"),
            "[152, 152], expected [153, 153] = ceil([305, 305] / 2) of r360m: the partial last block is dropped (r10m's 10980 px × 10 = 152.5 px × 720)");
        assert_has(
            &r,
            Status::Pass,
            "scale",
            &at("r360m"),
            "transform.scale [3, 3]",
        );
        // stale per-array proj:* copied from r60m into the derived levels
        assert_has(&r, Status::Fail, "stale-proj", &at("r720m/b02"),
            "proj:shape [1830, 1830] but the array is [152, 152]; proj:transform pixel 60 but the level's is 720 (from the level name r720m)");
        assert_has(
            &r,
            Status::Warn,
            "stale-proj",
            &at("r10m/b02"),
            "per-array proj:epsg",
        );
        // name/URL spelling: a note
        assert_has(&r, Status::Pass, "conventions", "/", "spatial: entries");
        // a metadata-only store: no failure is about missing chunk data
        for c in with(&r, Status::Fail) {
            assert!(
                !c.message.contains("not stored") && !c.message.contains("missing"),
                "{kind}: {c:?}"
            );
        }
        if kind == "geozarr" {
            // the root footprint: a point, not a box
            assert_has(&r, Status::Fail, "root-bbox", "/",
                "spatial:bbox [4.511256115612801, 0, 4.511256115612801, 0] (EPSG:4326): west 4.511256115612801 is not less than east 4.511256115612801; south 0 is not less than north 0");
        } else {
            assert_has(&r, Status::Warn, "root-bbox", "/", "no proj:code EPSG:4326");
        }
        // groups of levels the Python tool leaves without a layout
        assert_has(
            &r,
            Status::Warn,
            "layout",
            "/quality/atmosphere",
            "holds levels r10m, r20m, r60m",
        );
    }
}

// ---------------------------------------------------------------------------
// info

#[test]
fn info_shows_each_layout_level() {
    use super::info::{build, render_text as info_text, GroupInfo, PixelSource};
    use super::{Read, Tree};
    fn find<'a>(g: &'a GroupInfo, path: &str) -> Option<&'a GroupInfo> {
        if g.path == path {
            return Some(g);
        }
        g.groups.iter().find_map(|c| find(c, path))
    }
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    good_store(&good);
    let store = open(&good);
    let tree = Tree::open(&store, "good", Read::Consolidated).unwrap();
    let info = build(&tree, &store);
    let m = find(&info.root, "/m").unwrap();
    assert!(m.multiscales.is_none());
    let l = m.layout.as_ref().unwrap();
    assert_eq!(l.crs.as_ref().unwrap().epsg, Some(32632));
    assert_eq!(l.bbox, Some([500000.0, 4499910.0, 500070.0, 4500000.0]));
    assert_eq!(l.resampling_method.as_deref(), Some("average"));
    let assets: Vec<&str> = l.levels.iter().map(|x| x.asset.as_str()).collect();
    assert_eq!(assets, ["r10m", "r20m", "r60m"]);
    let r20 = &l.levels[1];
    assert_eq!(r20.shape, Some([5, 4]));
    assert_eq!(r20.pixel_size, Some([20.0, 20.0]));
    assert_eq!(r20.pixel_source, Some(PixelSource::Transform));
    assert_eq!(r20.derived_from.as_deref(), Some("r10m"));
    assert_eq!(r20.scale, Some(vec![2.0, 2.0]));
    let level = find(&info.root, "/m/r20m")
        .unwrap()
        .spatial
        .as_ref()
        .unwrap();
    assert_eq!(level.source.as_deref(), Some("spatial:transform"));
    assert_eq!(level.resolution, Some([20.0, 20.0]));
    let text = info_text(&info);
    assert!(text.contains("multiscales layout: 3 levels, average  CRS EPSG:32632 (WGS 84 / UTM zone 32N)  bbox [500000, 4499910, 500070, 4500000]"), "{text}");
    assert!(text.contains("r20m: 4×5  pixel 20 (spatial:transform)  ← r10m ×[2, 2]  bbox [500000, 4499900, 500080, 4500000]"), "{text}");
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(
        json["root"]["groups"][0]["layout"]["levels"][2]["pixel_source"],
        "spatial:transform"
    );

    // the Python tool's store: pixel sizes from the level names
    let dir = tmp.path().join("optimized");
    python_store("optimized", &dir);
    let store = open(&dir);
    let tree = Tree::open(&store, "optimized", Read::Consolidated).unwrap();
    let info = build(&tree, &store);
    let l = find(&info.root, REFL).unwrap().layout.as_ref().unwrap();
    let r720 = l.levels.iter().find(|x| x.asset == "r720m").unwrap();
    assert_eq!(r720.shape, Some([152, 152]));
    assert_eq!(r720.pixel_size, Some([720.0, 720.0]));
    assert_eq!(r720.pixel_source, Some(PixelSource::Name));
    assert_eq!(r720.scale, Some(vec![2.0065789473684212; 2]));
    assert_eq!(l.bbox, Some([0.0; 4]));
    let text = info_text(&info);
    assert!(text.contains("r720m: 152×152  pixel 720 (level name)  ← r360m ×[2.0065789473684212, 2.0065789473684212]  bbox [0, 0, 0, 0]"), "{text}");
}

/// A larger sharded band: `--deep` samples corner, centre and spread
/// blocks (partial at the bottom and right edges) and catches a wrong
/// pixel in the last one.
#[test]
fn deep_samples_blocks_of_a_large_sharded_band() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("big");
    group(&dir, "", json!({}));
    let levels = [
        ("r10m", 10.0, [1201u64, 999u64]),
        ("r20m", 20.0, [601, 500]),
    ];
    let layout: Vec<Value> = levels
        .iter()
        .enumerate()
        .map(|(i, (name, px, shape))| {
            let mut e = json!({"asset": name, "transform": {"scale": [1.0 + i as f64, 1.0 + i as f64]},
                               "spatial:shape": shape, "spatial:transform": transform(*px)});
            if i > 0 {
                e["derived_from"] = json!("r10m");
            }
            e
        })
        .collect();
    group(
        &dir,
        "g",
        json!({"zarr_conventions": entries(&["multiscales", "spatial:", "proj:"]),
               "multiscales": {"layout": layout, "resampling_method": "average"},
               "proj:code": "EPSG:32632", "spatial:bbox": bbox(10.0, [1201, 999])}),
    );
    let mut vals: Vec<u16> = (0..1201u64 * 999)
        .map(|i| if i % 17 == 0 { 0 } else { (i % 4001) as u16 })
        .collect();
    for (i, (name, px, [h, w])) in levels.iter().enumerate() {
        let lp = format!("g/{name}");
        group(
            &dir,
            &lp,
            json!({"zarr_conventions": entries(&["spatial:", "proj:"]), "spatial:dimensions": ["y", "x"],
                   "spatial:shape": [h, w], "spatial:transform": transform(*px),
                   "spatial:bbox": bbox(*px, [*h, *w]), "proj:code": "EPSG:32632"}),
        );
        if i > 0 {
            vals = resample(&vals, [1201, 999], [2, 2], Rule::Average, Some(0)).unwrap();
        }
        let mut attrs = json!({"_FillValue": 0, "resampling_method": "average"});
        if i > 0 {
            attrs["derived_from"] = json!("r10m/b");
        }
        array(
            &dir,
            &format!("{lp}/b"),
            &[*h, *w],
            "uint16",
            json!(0),
            &["y", "x"],
            attrs,
            Some([50, 50]),
        );
        edit(&dir, &format!("{lp}/b"), |v| {
            v["chunk_grid"]["configuration"]["chunk_shape"] = json!([200, 200]);
        });
        store_data(&dir, &format!("{lp}/b"), vals.clone());
    }
    let r = run(&dir, true);
    assert_has(
        &r,
        Status::Pass,
        "resampling",
        "/g/r20m/b",
        "equals the average ×2 of /g/r10m/b on 8 sampled block(s)",
    );
    assert_has(
        &r,
        Status::Pass,
        "chunks",
        "/g/r20m/b",
        "all 12 chunks present and decode",
    );
    // one wrong pixel in the bottom-right block: one row, from one row of parents
    vals[600 * 500 + 499] = vals[600 * 500 + 499].wrapping_add(7);
    store_data(&dir, "g/r20m/b", vals);
    let r = run(&dir, true);
    assert_has(
        &r,
        Status::Fail,
        "resampling",
        "/g/r20m/b",
        "1 of 15100 sampled pixels differ from the average ×2 of /g/r10m/b; first at (600, 499)",
    );
}
