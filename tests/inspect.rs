//! `info` and `validate` through the CLI: our outputs and the Python tool's
//! golden store validate clean; a corpus of broken stores, one defect each,
//! is caught by the right check naming the path; garbage input gives one
//! clear line.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::{json, Value};

const R10: &str = "measurements/reflectance/r10m";

/// The small product and our conversion of it, built once per test run.
fn fixture() -> &'static (PathBuf, PathBuf) {
    static F: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("inspect-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (input, output) = (dir.join("in.zarr"), dir.join("out.zarr"));
        common::make_small_input(&input);
        common::cli_ok(&["convert", s(&input), s(&output)]);
        (input, output)
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn write_json(p: &Path, v: &Value) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// Edit one node's zarr.json.
fn edit(store: &Path, node: &str, f: impl FnOnce(&mut Value)) {
    let p = store.join(node).join("zarr.json");
    let mut v = common::json(&p);
    f(&mut v);
    write_json(&p, &v);
}

/// Every node document under `dir` (relative node path → zarr.json).
fn nodes(dir: &Path) -> Vec<(String, Value)> {
    common::files(dir)
        .into_iter()
        .filter(|(k, _)| k == "zarr.json" || k.ends_with("/zarr.json"))
        .map(|(k, b)| {
            let node = k
                .trim_end_matches("zarr.json")
                .trim_end_matches('/')
                .to_string();
            (node, serde_json::from_slice(&b).unwrap())
        })
        .collect()
}

/// Rewrite every group's consolidated metadata from the stored nodes, so a
/// metadata edit is the only defect.
fn reconsolidate(store: &Path) {
    let all = nodes(store);
    for (g, doc) in &all {
        if doc.get("consolidated_metadata").is_none() {
            continue;
        }
        let prefix = if g.is_empty() {
            String::new()
        } else {
            format!("{g}/")
        };
        let mut members = serde_json::Map::new();
        for (n, d) in &all {
            if !n.is_empty() && n.starts_with(&prefix) && n.len() > prefix.len() {
                let mut d = d.clone();
                d.as_object_mut().unwrap().remove("consolidated_metadata");
                members.insert(n[prefix.len()..].to_string(), d);
            }
        }
        let mut doc = doc.clone();
        doc["consolidated_metadata"]["metadata"] = Value::Object(members);
        write_json(&store.join(g).join("zarr.json"), &doc);
    }
}

struct Outcome {
    code: i32,
    report: Value,
}

fn validate(store: &Path, deep: bool) -> Outcome {
    let mut args = vec!["validate", s(store), "--json"];
    if deep {
        args.push("--deep");
    }
    let o = common::cli(&args);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "validate --json printed no JSON ({e}):\n{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    Outcome {
        code: o.status.code().unwrap_or(-1),
        report,
    }
}

fn with_status<'a>(r: &'a Value, status: &str) -> Vec<&'a Value> {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == status)
        .collect()
}

/// (check, path) of every failure, sorted.
fn failures(r: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = with_status(r, "FAIL")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().to_string(),
                c["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn message_of<'a>(r: &'a Value, check: &str, path: &str) -> &'a str {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == check && c["path"] == path && c["status"] == "FAIL")
        .and_then(|c| c["message"].as_str())
        .unwrap_or("")
}

#[test]
fn our_output_validates_clean_deep_and_in_text() {
    let (_, out) = fixture();
    let o = validate(out, true);
    assert_eq!(failures(&o.report), vec![], "{:#}", o.report);
    assert_eq!(o.code, 0);
    assert_eq!(o.report["valid"], true);
    assert_eq!(o.report["deep"], true);
    let checks: Vec<&str> = o.report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    for want in [
        "dimensions",
        "standard-name",
        "units",
        "grid-mapping",
        "crs",
        "geotransform",
        "dimension-lengths",
        "chunk-alignment",
        "multiscales",
        "level-shape",
        "tile-matrix",
        "consolidated",
        "chunks",
        "overview",
    ] {
        assert!(checks.contains(&want), "no {want} check ran");
    }
    // every overview band was compared: 12 bands, r10m 2 overviews, r20m 1
    let overviews = with_status(&o.report, "PASS")
        .iter()
        .filter(|c| c["check"] == "overview")
        .count();
    assert_eq!(overviews, 4 * 2 + 6);
    // the text form: one line per check, then the summary
    let text = common::cli_ok(&["validate", s(out)]);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 100, "{text}");
    for l in &lines[..lines.len() - 1] {
        assert!(
            l.starts_with("PASS ") || l.starts_with("WARN "),
            "unexpected line {l:?}"
        );
    }
    assert!(text.contains(&format!(
        "PASS geotransform      /{R10}/0/spatial_ref: GeoTransform"
    )));
    let last = lines.last().unwrap();
    assert!(last.contains("0 fail") && last.ends_with("OK"), "{last}");
}

#[test]
fn full_schema_outputs_validate_clean_deep() {
    // the real products' layouts (L2A and L1C schemas, scaled down): carried-over
    // groups hold GRIB-style metadata such as standard_name "unknown"
    let tmp = tempfile::tempdir().unwrap();
    for schema in [
        None,
        Some("S2B_MSIL1C_20250113T103309_N0511_R108_T32TLQ_20250113T122458.json"),
    ] {
        let (input, out) = (tmp.path().join("in.zarr"), tmp.path().join("out.zarr"));
        let _ = std::fs::remove_dir_all(&input);
        let mut args = vec!["synth", s(&input), "--scale", "20"];
        let schema_path;
        if let Some(f) = schema {
            schema_path = common::root().join("synth/schemas").join(f);
            args.extend(["--schema", s(&schema_path)]);
        }
        common::cli_ok(&args);
        common::cli_ok(&["convert", s(&input), s(&out), "--overwrite"]);
        let o = validate(&out, true);
        assert_eq!(failures(&o.report), vec![], "{schema:?}");
        assert_eq!(o.code, 0);
        let warned_unknown = with_status(&o.report, "WARN").iter().any(|c| {
            c["check"] == "standard-name" && c["message"].as_str().unwrap().contains("\"unknown\"")
        });
        assert!(
            warned_unknown,
            "{schema:?}: GRIB 'unknown' names are warned about"
        );
        // the input validates without failures too (it is no pyramid: a warning says so)
        let o = validate(&input, false);
        assert_eq!(failures(&o.report), vec![], "{schema:?} input");
    }
}

/// The Python tool's store, rebuilt from the golden metadata dump (with the
/// level-0 coordinates, whose values the GeoTransform check reads).
fn golden_store(dir: &Path) -> PathBuf {
    let g = common::json(&common::fixtures().join("geozarr-0.4-golden.json"));
    let store = dir.join("golden.zarr");
    let nodes = g["nodes"].as_object().unwrap();
    for (path, doc) in nodes {
        let rel = path.trim_start_matches('/');
        let mut doc = doc.clone();
        if let Some(members) = g["consolidated_metadata_members"].get(path) {
            let prefix = if rel.is_empty() {
                String::new()
            } else {
                format!("{rel}/")
            };
            let m: serde_json::Map<String, Value> = members
                .as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    let k = k.as_str().unwrap();
                    (k.to_string(), nodes[&format!("/{prefix}{k}")].clone())
                })
                .collect();
            doc["consolidated_metadata"] =
                json!({"kind": "inline", "must_understand": false, "metadata": m});
        }
        write_json(&store.join(rel).join("zarr.json"), &doc);
    }
    for (res, n) in [("r10m", 1098i64), ("r20m", 549), ("r60m", 183)] {
        let step: i64 = res[1..3].parse().unwrap();
        let lvl = store.join("measurements/reflectance").join(res).join("0");
        let xs: Vec<u8> = (0..n)
            .flat_map(|i| (699960 + step * i + step / 2).to_le_bytes())
            .collect();
        let ys: Vec<u8> = (0..n)
            .flat_map(|j| (4700040 - step * j - step / 2).to_le_bytes())
            .collect();
        for (axis, bytes) in [("x", xs), ("y", ys)] {
            std::fs::create_dir_all(lvl.join(axis).join("c")).unwrap();
            std::fs::write(lvl.join(axis).join("c/0"), bytes).unwrap();
        }
    }
    store
}

#[test]
fn python_golden_store_validates_clean_with_its_defects_as_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let store = golden_store(tmp.path());
    let o = validate(&store, false);
    assert_eq!(failures(&o.report), vec![], "{:#}", o.report);
    assert_eq!(o.code, 0);
    let warns: Vec<(String, String)> = with_status(&o.report, "WARN")
        .iter()
        .map(|c| {
            (
                c["check"].as_str().unwrap().into(),
                c["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    let has = |check: &str, path: &str| warns.iter().any(|(c, p)| c == check && p == path);
    // the profile's defect list, seen as warnings
    assert!(
        has("level-shape", "/measurements/reflectance/r20m/1"),
        "floor halving 549 → 274: {warns:?}"
    );
    assert!(
        has("tile-matrix", "/measurements/reflectance/r20m/1"),
        "stretched cell size"
    );
    assert!(
        has("multiscales", "/measurements/reflectance/r60m"),
        "empty tileMatrices"
    );
    assert!(
        has("grid-mapping", &format!("/{R10}/1/b02")),
        "overview lost grid_mapping"
    );
    assert!(
        has("geotransform", &format!("/{R10}/1/spatial_ref")),
        "overview lost GeoTransform"
    );
    assert!(has(
        "dimensions",
        "/conditions/mask/l2a_classification/r60m/scl"
    ));
    // the info summary reads it too
    let info: Value =
        serde_json::from_str(&common::cli_ok(&["info", s(&store), "--json"])).unwrap();
    assert_eq!(info["zarr_format"], 3);
    let r20 = find_group(&info["root"], "/measurements/reflectance/r20m").unwrap();
    let shapes: Vec<Value> = r20["multiscales"]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["shape"].clone())
        .collect();
    assert_eq!(shapes, vec![json!([549, 549]), json!([274, 274])]);
}

fn find_group<'a>(g: &'a Value, path: &str) -> Option<&'a Value> {
    if g["path"] == path {
        return Some(g);
    }
    g["groups"]
        .as_array()?
        .iter()
        .find_map(|c| find_group(c, path))
}

fn find_array<'a>(g: &'a Value, path: &str) -> Option<&'a Value> {
    let (parent, _) = path.rsplit_once('/')?;
    find_group(g, parent)?["arrays"]
        .as_array()?
        .iter()
        .find(|a| a["path"] == path)
}

#[test]
fn info_describes_output_and_input() {
    let (input, out) = fixture();
    let info: Value = serde_json::from_str(&common::cli_ok(&["info", s(out), "--json"])).unwrap();
    assert_eq!(info["zarr_format"], 3);
    assert_eq!(info["consolidated"], true);
    assert_eq!(info["array_count"], 49);
    let r10 = find_group(&info["root"], &format!("/{R10}")).unwrap();
    let ms = &r10["multiscales"];
    assert_eq!(ms["tile_matrix_set"], "Native_CRS_32632");
    let levels: Vec<(Value, Value, Value)> = ms["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["shape"].clone(),
                l["cell_size"].clone(),
                l["matrix"].clone(),
            )
        })
        .collect();
    assert_eq!(
        levels,
        vec![
            (json!([1098, 1098]), json!(10.0), json!([5, 5])),
            (json!([549, 549]), json!(20.0), json!([3, 3])),
            (json!([275, 275]), json!(40.0), json!([2, 2])),
        ]
    );
    let l1 = find_group(&info["root"], &format!("/{R10}/1")).unwrap();
    assert_eq!(
        l1["spatial"],
        json!({"crs": {"epsg": 32632, "name": "WGS 84 / UTM zone 32N"}, "shape": [549, 549],
               "resolution": [20.0, 20.0], "extent": [699960.0, 4689060.0, 710940.0, 4700040.0],
               "source": "GeoTransform"})
    );
    let b02 = find_array(&info["root"], &format!("/{R10}/0/b02")).unwrap();
    assert_eq!(b02["shape"], json!([1098, 1098]));
    assert_eq!(b02["chunks"], json!([1098, 1098]));
    assert_eq!(b02["dtype"], "uint16");
    assert_eq!(b02["codecs"], json!(["bytes", "blosc(zstd,3,shuffle)"]));
    assert_eq!(b02["fill_value"], 0);
    assert_eq!(b02["dimensions"], json!(["y", "x"]));
    assert_eq!(b02["attributes"]["grid_mapping"], "spatial_ref");
    // the text tree says the same
    let text = common::cli_ok(&["info", s(out)]);
    assert!(
        text.contains("level 2: 275×275  cell 40  tiles 2×2 of 256×256"),
        "{text}"
    );
    assert!(text.contains("CRS EPSG:32632 (WGS 84 / UTM zone 32N)  resolution 20 × 20"));
    assert!(text.contains("b02 uint16 (1098, 1098)  chunks (1098, 1098)"));
    // the EOPF input (Zarr v2): CRS and grid from the bands' proj: attributes
    let info: Value = serde_json::from_str(&common::cli_ok(&["info", s(input), "--json"])).unwrap();
    assert_eq!(info["zarr_format"], 2);
    let r20 = find_group(&info["root"], "/measurements/reflectance/r20m").unwrap();
    assert_eq!(r20["spatial"]["crs"]["epsg"], 32632);
    assert_eq!(r20["spatial"]["resolution"], json!([20.0, 20.0]));
    assert_eq!(r20["spatial"]["source"], "proj:transform");
    let b05 = find_array(&info["root"], "/measurements/reflectance/r20m/b05").unwrap();
    assert_eq!(b05["dtype"], "uint16");
    assert_eq!(b05["codecs"], json!(["blosc(zstd,3,bitshuffle)"]));
}

/// One defect: how to make it, whether only `--deep` sees it, and the
/// (check, path) failures it must produce — no more, no fewer.
struct Defect {
    name: &'static str,
    deep: bool,
    make: fn(&Path),
    expect: &'static [(&'static str, &'static str)],
    /// Words the first expected failure's message must contain.
    says: &'static str,
}

fn set_attr(store: &Path, node: &str, k: &str, v: Value) {
    edit(store, node, |d| d["attributes"][k] = v);
    reconsolidate(store);
}

const DEFECTS: &[Defect] = &[
    Defect {
        name: "missing _ARRAY_DIMENSIONS",
        deep: false,
        make: |st| {
            edit(st, &format!("{R10}/0/b02"), |d| {
                d["attributes"].as_object_mut().unwrap().remove("_ARRAY_DIMENSIONS");
            });
            reconsolidate(st);
        },
        expect: &[("dimensions", "/measurements/reflectance/r10m/0/b02")],
        says: "missing _ARRAY_DIMENSIONS",
    },
    Defect {
        name: "_ARRAY_DIMENSIONS of the wrong rank",
        deep: false,
        make: |st| set_attr(st, &format!("{R10}/1/b03"), "_ARRAY_DIMENSIONS", json!(["x"])),
        expect: &[("dimensions", "/measurements/reflectance/r10m/1/b03")],
        says: "rank 2",
    },
    Defect {
        name: "dangling grid_mapping",
        deep: false,
        make: |st| set_attr(st, &format!("{R10}/0/b03"), "grid_mapping", json!("crs")),
        expect: &[("grid-mapping", "/measurements/reflectance/r10m/0/b03")],
        says: "does not exist",
    },
    Defect {
        name: "standard_name not in the CF table",
        deep: false,
        make: |st| {
            set_attr(st, &format!("{R10}/0/b04"), "standard_name", json!("surface_reflectance_typo"))
        },
        expect: &[("standard-name", "/measurements/reflectance/r10m/0/b04")],
        says: "not in the CF standard name table",
    },
    Defect {
        name: "coordinate without units",
        deep: false,
        make: |st| {
            edit(st, &format!("{R10}/0/x"), |d| {
                d["attributes"].as_object_mut().unwrap().remove("units");
            });
            reconsolidate(st);
        },
        expect: &[("units", "/measurements/reflectance/r10m/0/x")],
        says: "needs units",
    },
    Defect {
        name: "unparsable crs_wkt",
        deep: false,
        make: |st| {
            edit(st, &format!("{R10}/0/spatial_ref"), |d| {
                let w = d["attributes"]["crs_wkt"].as_str().unwrap().to_string();
                d["attributes"]["crs_wkt"] = json!(w[..w.len() - 2]);
            });
            reconsolidate(st);
        },
        expect: &[("crs", "/measurements/reflectance/r10m/0/spatial_ref")],
        says: "does not parse",
    },
    Defect {
        name: "GeoTransform off by a pixel",
        deep: false,
        make: |st| {
            set_attr(
                st,
                &format!("{R10}/1/spatial_ref"),
                "GeoTransform",
                json!("699980.0 20.0 0.0 4700040.0 0.0 -20.0"),
            )
        },
        expect: &[
            ("geotransform", "/measurements/reflectance/r10m/1/spatial_ref"),
            ("tile-matrix", "/measurements/reflectance/r10m/1"),
        ],
        says: "-1.000 pixels",
    },
    Defect {
        name: "missing level",
        deep: false,
        make: |st| {
            std::fs::remove_dir_all(st.join(R10).join("2")).unwrap();
            reconsolidate(st);
        },
        expect: &[("multiscales", "/measurements/reflectance/r10m/2")],
        says: "does not exist",
    },
    Defect {
        name: "wrong level shape",
        deep: false,
        make: |st| {
            for a in ["b02", "b03", "b04", "b08", "x", "y"] {
                edit(st, &format!("{R10}/2/{a}"), |d| {
                    let n = d["shape"].as_array().unwrap().len();
                    d["shape"] = json!(vec![276; n]);
                    d["chunk_grid"]["configuration"]["chunk_shape"] = json!(vec![276; n]);
                });
            }
            // coordinates that agree with the GeoTransform: only the size is wrong
            let l2 = st.join(R10).join("2");
            let xs: Vec<u8> = (0..276).flat_map(|i| (699960.0 + 40.0 * (i as f64 + 0.5)).to_le_bytes()).collect();
            let ys: Vec<u8> = (0..276).flat_map(|j| (4700040.0 - 40.0 * (j as f64 + 0.5)).to_le_bytes()).collect();
            std::fs::write(l2.join("x/c/0"), xs).unwrap();
            std::fs::write(l2.join("y/c/0"), ys).unwrap();
            reconsolidate(st);
        },
        expect: &[("level-shape", "/measurements/reflectance/r10m/2")],
        says: "expected 275×275",
    },
    Defect {
        name: "tile matrix width",
        deep: false,
        make: |st| {
            edit(st, R10, |d| {
                d["attributes"]["multiscales"]["tile_matrix_set"]["tileMatrices"][0]["matrixWidth"] = json!(4)
            });
            reconsolidate(st);
        },
        expect: &[("tile-matrix", "/measurements/reflectance/r10m/0")],
        says: "expected 5×5",
    },
    Defect {
        name: "cell size not doubled",
        deep: false,
        make: |st| {
            edit(st, R10, |d| {
                d["attributes"]["multiscales"]["tile_matrix_set"]["tileMatrices"][1]["cellSize"] = json!(25.0)
            });
            reconsolidate(st);
        },
        expect: &[("tile-matrix", "/measurements/reflectance/r10m/1")],
        says: "cellSize 25 is not 20",
    },
    Defect {
        name: "misaligned chunks",
        deep: false,
        make: |st| {
            edit(st, &format!("{R10}/0/b08"), |d| {
                d["chunk_grid"]["configuration"]["chunk_shape"] = json!([500, 500])
            });
            reconsolidate(st);
        },
        expect: &[("chunk-alignment", "/measurements/reflectance/r10m/0/b08")],
        says: "does not divide 1098",
    },
    Defect {
        name: "stale consolidated metadata",
        deep: false,
        make: |st| {
            edit(st, &format!("{R10}/0/b04"), |d| d["attributes"]["long_name"] = json!("changed"))
        },
        expect: &[
            ("consolidated", "/"),
            ("consolidated", "/measurements/reflectance/r10m"),
            ("consolidated", "/measurements/reflectance/r10m/0"),
        ],
        says: "/measurements/reflectance/r10m/0/b04 differs from its stored metadata (attributes.long_name)",
    },
    Defect {
        name: "no consolidated metadata (unfinished store)",
        deep: false,
        make: |st| {
            edit(st, "", |d| {
                d.as_object_mut().unwrap().remove("consolidated_metadata");
            })
        },
        expect: &[("consolidated", "/")],
        says: "unfinished",
    },
    Defect {
        name: "missing chunk",
        deep: true,
        make: |st| {
            std::fs::remove_file(st.join("measurements/reflectance/r60m/0/b01/c/0/0")).unwrap()
        },
        expect: &[("chunks", "/measurements/reflectance/r60m/0/b01")],
        says: "1 of 1 chunks missing: measurements/reflectance/r60m/0/b01/c/0/0",
    },
    Defect {
        name: "corrupt chunk",
        deep: true,
        make: |st| {
            std::fs::write(
                st.join("measurements/reflectance/r60m/0/b09/c/0/0"),
                b"not a blosc frame at all",
            )
            .unwrap()
        },
        expect: &[("chunks", "/measurements/reflectance/r60m/0/b09")],
        says: "does not decode",
    },
    Defect {
        name: "wrong overview values",
        deep: true,
        make: |st| {
            let l2 = st.join(R10).join("2");
            std::fs::copy(l2.join("b03/c/0/0"), l2.join("b02/c/0/0")).unwrap();
        },
        expect: &[("overview", "/measurements/reflectance/r10m/2/b02")],
        says: "pixels differ from the 2×2 average of /measurements/reflectance/r10m/1/b02",
    },
];

#[test]
fn broken_stores_fail_the_right_check_naming_the_path() {
    let (_, out) = fixture();
    let tmp = tempfile::tempdir().unwrap();
    for (i, d) in DEFECTS.iter().enumerate() {
        let st = tmp.path().join(format!("defect{i}.zarr"));
        copy_dir(out, &st);
        (d.make)(&st);
        let o = validate(&st, d.deep);
        let mut want: Vec<(String, String)> = d
            .expect
            .iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect();
        want.sort();
        assert_eq!(
            failures(&o.report),
            want,
            "{}: {:#}",
            d.name,
            o.report["checks"]
        );
        assert_eq!(o.code, 1, "{}: exit code", d.name);
        let (c, p) = d.expect[0];
        let msg = message_of(&o.report, c, p);
        assert!(
            msg.contains(d.says),
            "{}: message {msg:?} lacks {:?}",
            d.name,
            d.says
        );
        if d.deep {
            // metadata-only validation does not read chunks
            assert_eq!(
                validate(&st, false).code,
                0,
                "{}: seen without --deep",
                d.name
            );
        }
        // the text form names the path on a FAIL line
        let o = common::cli(&["validate", s(&st), if d.deep { "--deep" } else { "--json" }]);
        if d.deep {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                text.lines()
                    .any(|l| l.starts_with("FAIL ") && l.contains(p)),
                "{}: {text}",
                d.name
            );
        }
    }
}

/// The command fails with exactly one stderr line containing `needles`.
fn one_line_error(args: &[&str], needles: &[&str]) {
    let o = common::cli(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: {err:?} lacks {n:?}");
    }
}

#[test]
fn garbage_input_gives_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let missing = t.join("nope.zarr");
    let empty = t.join("empty.zarr");
    std::fs::create_dir(&empty).unwrap();
    let notzarr = t.join("notzarr");
    std::fs::create_dir(&notzarr).unwrap();
    std::fs::write(notzarr.join("readme.txt"), "hello").unwrap();
    let file = t.join("file.zarr");
    std::fs::write(&file, "just a file").unwrap();
    let trunc3 = t.join("trunc3.zarr");
    std::fs::create_dir(&trunc3).unwrap();
    std::fs::write(trunc3.join("zarr.json"), "{\"zarr_format\": 3, \"node_ty").unwrap();
    let trunc2 = t.join("trunc2.zarr");
    std::fs::create_dir(&trunc2).unwrap();
    std::fs::write(trunc2.join(".zgroup"), "{\"zarr_format\": 2}").unwrap();
    std::fs::write(trunc2.join(".zmetadata"), "{\"metadata\": {\".zgr").unwrap();
    let wrong = t.join("wrong.zarr");
    std::fs::create_dir(&wrong).unwrap();
    std::fs::write(wrong.join("zarr.json"), "[1, 2, 3]").unwrap();
    for cmd in ["info", "validate"] {
        one_line_error(&[cmd, s(&missing)], &[s(&missing), "does not exist"]);
        one_line_error(&[cmd, s(&empty)], &[s(&empty), "not a Zarr store"]);
        one_line_error(&[cmd, s(&notzarr)], &[s(&notzarr), "not a Zarr store"]);
        one_line_error(&[cmd, s(&file)], &[s(&file), "is a file"]);
        one_line_error(
            &[cmd, s(&trunc3)],
            &["trunc3.zarr/zarr.json", "invalid JSON"],
        );
        one_line_error(
            &[cmd, s(&wrong)],
            &["wrong.zarr/zarr.json", "not Zarr v3 metadata"],
        );
        one_line_error(&[cmd, "s3x://bucket/key"], &["s3x://"]);
    }
    for cmd in ["info", "validate"] {
        one_line_error(
            &[cmd, s(&trunc2)],
            &["trunc2.zarr/.zmetadata", "invalid JSON"],
        );
    }

    // a damaged node deep inside a good store: validate reads every node's
    // own document and reports it as a failed check naming the file
    let (_, out) = fixture();
    let st = t.join("damaged.zarr");
    copy_dir(out, &st);
    let node = st.join(R10).join("1/b02/zarr.json");
    let text = std::fs::read_to_string(&node).unwrap();
    std::fs::write(&node, &text[..text.len() / 2]).unwrap();
    let o = validate(&st, false);
    assert_eq!(o.code, 1);
    let f = failures(&o.report);
    assert!(
        f.contains(&("metadata".into(), format!("/{R10}/1/b02/zarr.json"))),
        "{f:?}"
    );
}

#[test]
fn html_page_renders_offline_and_groups_expand_in_chromium() {
    let (_, out) = fixture();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let page = dir.join("info-page.html");
    let shot = dir.join("info-page.png");
    let _ = std::fs::remove_file(&shot);
    let stdout = common::cli_ok(&["info", s(out), "--html-output", s(&page)]);
    assert!(stdout.contains("HTML page written to"), "{stdout}");
    let html = std::fs::read_to_string(&page).unwrap();
    // attribute values hold URLs as text; nothing may be loaded from them
    for remote in ["src=", "href=", "<link", "url("] {
        assert!(!html.contains(remote), "page refers to {remote}");
    }
    let g = |p: &str| format!("details.group[data-path=\"{p}\"]");
    let steps = json!([
        {"expect": "document.title.endsWith('out.zarr')"},
        {"expect": "document.querySelectorAll('details.group').length === 17", "label": "every group"},
        {"visible": g("/measurements"), "is": true},
        {"expect": format!("!document.querySelector('{}').open", g("/measurements").replace('"', "\\\"")), "label": "closed at first"},
        {"visible": format!("tr.array[data-path=\"/{R10}/0/b02\"]"), "is": false},
        {"click": format!("{} > summary", g("/measurements"))},
        {"expect": format!("document.querySelector('{}').open", g("/measurements").replace('"', "\\\"")), "label": "opened by a click"},
        {"click": format!("{} > summary", g("/measurements/reflectance"))},
        {"click": format!("{} > summary", g(&format!("/{R10}")))},
        {"visible": "table.levels", "is": true},
        {"click": format!("{} > summary", g(&format!("/{R10}/0")))},
        {"visible": format!("tr.array[data-path=\"/{R10}/0/b02\"]"), "is": true},
        {"expect": "document.body.innerText.includes('EPSG:32632 (WGS 84 / UTM zone 32N)')"},
        {"expect": "document.body.innerText.includes('blosc(zstd,3,shuffle)')"},
        {"click": "#collapse-all"},
        {"visible": format!("tr.array[data-path=\"/{R10}/0/b02\"]"), "is": false},
        {"click": "#expand-all"},
        {"visible": "tr.array[data-path=\"/conditions/mask/l2a_classification/r60m/scl\"]", "is": true},
        {"screenshot": s(&shot)},
    ]);
    let browser = common::root().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core missing in tests/browser: run scripts/test.sh (it runs npm ci)"
    );
    let o = std::process::Command::new("node")
        .arg(browser.join("run.mjs"))
        .args([
            "--url",
            s(&page),
            "--offline",
            "--steps",
            &steps.to_string(),
        ])
        .output()
        .expect("run node");
    let log = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "browser steps failed:\n{log}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        log.lines().count(),
        1 + steps.as_array().unwrap().len(),
        "{log}"
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn nonsense_metadata_is_reported_never_a_panic() {
    let (_, out) = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let b = |a: &str| format!("{R10}/0/{a}");
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(String, Edit)> = vec![
        (b("b02"), Box::new(|d| d["shape"] = json!("abc"))),
        (
            b("b02"),
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("chunk_grid");
            }),
        ),
        (
            b("b08"),
            Box::new(|d| {
                d["shape"] = json!([0, 0]);
                d["chunk_grid"]["configuration"]["chunk_shape"] = json!([0, 0]);
            }),
        ),
        (
            b("b03"),
            Box::new(|d| d["attributes"]["grid_mapping"] = json!(7)),
        ),
        (
            b("b04"),
            Box::new(|d| d["attributes"]["standard_name"] = json!(["a"])),
        ),
        (
            b("x"),
            Box::new(|d| d["attributes"]["_ARRAY_DIMENSIONS"] = json!([1, 2])),
        ),
        (
            b("spatial_ref"),
            Box::new(|d| d["attributes"]["GeoTransform"] = json!(42)),
        ),
        (
            b("spatial_ref"),
            Box::new(|d| d["attributes"]["GeoTransform"] = json!("1 2 3")),
        ),
        (
            format!("{R10}/1/b02"),
            Box::new(|d| d["dimension_names"] = json!(["x", "y"])),
        ),
        (
            R10.into(),
            Box::new(|d| d["attributes"]["multiscales"] = json!("string")),
        ),
        (
            R10.into(),
            Box::new(|d| {
                d["attributes"]["multiscales"]["tile_matrix_set"]["tileMatrices"] =
                    json!([1, "x", {"id": 5}])
            }),
        ),
        (
            R10.into(),
            Box::new(|d| {
                d["attributes"]["multiscales"]["tile_matrix_set"]["tileMatrices"][0]["tileWidth"] =
                    json!(0)
            }),
        ),
        (
            R10.into(),
            Box::new(|d| {
                d["attributes"]["multiscales"]["tile_matrix_set"]["tileMatrices"][2]["id"] =
                    json!("../..")
            }),
        ),
        (
            "".into(),
            Box::new(|d| d["consolidated_metadata"] = json!("x")),
        ),
        (
            "".into(),
            Box::new(|d| d["consolidated_metadata"]["metadata"]["measurements"] = json!(3)),
        ),
    ];
    for (i, (node, f)) in edits.iter().enumerate() {
        let st = tmp.path().join(format!("n{i}.zarr"));
        copy_dir(out, &st);
        edit(&st, node, f);
        if !node.is_empty() {
            reconsolidate(&st); // so the edit itself must be noticed
        }
        for args in [
            vec!["validate", s(&st), "--deep"],
            vec!["info", s(&st), "--json"],
            vec![
                "info",
                s(&st),
                "--html-output",
                s(&tmp.path().join("p.html")),
            ],
        ] {
            let o = common::cli(&args);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                !err.contains("panicked"),
                "edit {i} on /{node}: {args:?}: {err}"
            );
            assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "edit {i}: {args:?}: {err}"
            );
        }
        // validate notices every edit
        let o = validate(&st, true);
        assert_eq!(o.code, 1, "edit {i} on /{node} passed validation");
    }
}
