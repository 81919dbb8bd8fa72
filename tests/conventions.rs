//! The `conventions` output profile end to end: values and metadata checked
//! by zarr-python, xarray and rioxarray; cluster and resumed runs
//! byte-identical to one in-process run.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{assert_same_store, cli_ok, py};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn synth(scale: u64, schema: Option<&str>, out: &Path) {
    let scale = scale.to_string();
    let mut args = vec!["synth", s(out), "--scale", &scale];
    let schema_path;
    if let Some(name) = schema {
        schema_path = common::root().join("synth/schemas").join(name);
        args.extend(["--schema", schema_path.to_str().unwrap()]);
    }
    cli_ok(&args);
}

fn convert(input: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["convert", s(input), s(out), "--profile", "conventions"];
    args.extend(extra);
    cli_ok(&args)
}

const L1C: &str = "S2B_MSIL1C_20250113T103309_N0511_R108_T32TLQ_20250113T122458.json";

#[test]
fn l2a_levels_values_and_metadata_check_out_in_the_real_readers() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in.zarr"), tmp.path().join("out.zarr"));
    synth(20, None, &input);
    let stdout = convert(&input, &out, &[]);
    assert!(stdout.contains("converted"), "{stdout}");
    let report = py("conventions_check.py", &[s(&out), "--input", s(&input)]);
    // reflectance, atmosphere, mask, probability, 3 condition masks
    assert!(
        report.contains("conventions ok: 7 multiscale groups"),
        "{report}"
    );
    // the levels the issue names, with b08 derived at r20m and r60m
    let refl = out.join("measurements/reflectance");
    for lv in ["r10m", "r20m", "r60m", "r120m", "r360m", "r720m"] {
        assert!(refl.join(lv).join("b08/zarr.json").exists(), "{lv}/b08");
    }
    // our own validator: every layout, level and derived band (--deep)
    let v = cli_ok(&["validate", s(&out), "--deep"]);
    assert!(
        v.contains("profile conventions") && v.contains(" 0 fail"),
        "{v}"
    );
    let info = cli_ok(&["info", s(&out)]);
    assert!(
        info.contains("r720m") && info.contains("EPSG:32632"),
        "{info}"
    );
    let b08 = common::json(&refl.join("r60m/b08/zarr.json"));
    assert_eq!(b08["attributes"]["derived_from"], "r20m/b08");
    assert_eq!(b08["attributes"]["resampling_method"], "average");
    let b02 = common::json(&refl.join("r60m/b02/zarr.json"));
    assert!(b02["attributes"].get("derived_from").is_none());
    let scl = common::json(&out.join("conditions/mask/l2a_classification/r120m/scl/zarr.json"));
    assert_eq!(scl["attributes"]["resampling_method"], "mode");
    let qm = common::json(&out.join("quality/mask/r120m/b02/zarr.json"));
    assert_eq!(qm["attributes"]["resampling_method"], "bitwise_or");

    // --dtype float32: reflectance decoded (NaN fill), masks keep their type
    let f32 = tmp.path().join("f32.zarr");
    convert(&input, &f32, &["--dtype", "float32"]);
    let report = py("conventions_check.py", &[s(&f32), "--input", s(&input)]);
    assert!(report.contains("conventions ok"), "{report}");
    let b = common::json(&f32.join("measurements/reflectance/r360m/b05/zarr.json"));
    assert_eq!(b["data_type"], "float32");
    assert_eq!(b["fill_value"], "NaN");
    assert!(b["attributes"].get("scale_factor").is_none());
    let scl = common::json(&f32.join("conditions/mask/l2a_classification/r20m/scl/zarr.json"));
    assert_eq!(scl["data_type"], "uint8");
}

#[test]
fn l1c_converts_with_the_same_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in.zarr"), tmp.path().join("out.zarr"));
    synth(20, Some(L1C), &input);
    convert(&input, &out, &[]);
    let report = py("conventions_check.py", &[s(&out), "--input", s(&input)]);
    assert!(report.contains("conventions ok"), "{report}");
    let ms = common::json(&out.join("measurements/reflectance/zarr.json"));
    let assets: Vec<&str> = ms["attributes"]["multiscales"]["layout"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["asset"].as_str().unwrap())
        .collect();
    assert_eq!(assets, ["r10m", "r20m", "r60m", "r120m", "r360m", "r720m"]);
}

fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_eopf-geozarr"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn cluster_and_resumed_runs_write_the_in_process_bytes() {
    // the cluster binaries sit next to eopf-geozarr (built by the workspace)
    assert!(bin_dir().join("geozarr-worker").exists());
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    synth(10, None, &input);
    let reference = tmp.path().join("ref.zarr");
    convert(&input, &reference, &[]);
    for (name, extra) in [
        ("chunks.zarr", vec!["--local-workers", "2"]),
        (
            "bands.zarr",
            vec!["--local-workers", "2", "--cluster-tasks", "band"],
        ),
    ] {
        let out = tmp.path().join(name);
        convert(&input, &out, &extra);
        assert_same_store(&reference, &out);
    }
    // killed mid-way, then resumed
    let resumed = tmp.path().join("resumed.zarr");
    let mut child = common::bin()
        .args([
            "convert",
            s(&input),
            s(&resumed),
            "--profile",
            "conventions",
        ])
        .args(["--threads", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    loop {
        let n = common::files(&resumed)
            .keys()
            .filter(|k| k.contains("/c/"))
            .count();
        if n >= 20 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no chunks written");
        if child.try_wait().unwrap().is_some() {
            break; // finished first: the re-run below still must match
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    child.wait().unwrap();
    let out = convert(&input, &resumed, &[]);
    assert!(out.contains("converted"), "{out}");
    assert_same_store(&reference, &resumed);
}

#[test]
fn sharded_output_reads_back_identical_and_clusters_write_the_same_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    synth(20, None, &input);
    let (plain, sharded) = (
        tmp.path().join("plain.zarr"),
        tmp.path().join("sharded.zarr"),
    );
    convert(&input, &plain, &[]);
    convert(&input, &sharded, &["--shard"]);
    let same = py("same_values.py", &[s(&plain), s(&sharded)]);
    let v = cli_ok(&["validate", s(&sharded), "--deep"]);
    assert!(v.contains(" 0 fail"), "{v}");
    // every band array at every level is sharded: inner chunks divide the shard
    let b02 = common::json(&sharded.join("measurements/reflectance/r10m/b02/zarr.json"));
    let codec = &b02["codecs"][0];
    assert_eq!(codec["name"], "sharding_indexed");
    let shard = b02["chunk_grid"]["configuration"]["chunk_shape"][0]
        .as_u64()
        .unwrap();
    let inner = codec["configuration"]["chunk_shape"][0].as_u64().unwrap();
    assert!(
        inner <= 256 && shard.is_multiple_of(inner),
        "{shard} / {inner}"
    );
    assert!(
        same.contains("same values:") && !same.contains("(0 sharded"),
        "{same}"
    );
    let on_cluster = tmp.path().join("cluster.zarr");
    convert(&input, &on_cluster, &["--shard", "--local-workers", "2"]);
    assert_same_store(&sharded, &on_cluster);
}

#[test]
fn titiler_eopf_serves_tiles_holding_the_stored_values() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    synth(10, None, &input);
    let (plain, sharded) = (
        tmp.path().join("plain.zarr"),
        tmp.path().join("sharded.zarr"),
    );
    convert(&input, &plain, &[]);
    convert(&input, &sharded, &["--shard"]);
    // a 10 m band at a high zoom (r10m) and a low one (r120m); the check
    // also proves it can fail (one stored value changed in a copy is caught)
    let out =
        common::titiler_check(&[s(&plain), "/measurements/reflectance", "b04", "--self-test"]);
    assert!(
        out.contains("titiler read r10m") && out.contains("(caught)"),
        "{out}"
    );
    assert!(out.contains(" 0 mismatches"), "{out}");
    // titiler picks levels by resolution only, so a 20 m band is asked for
    // at zooms that read r20m and below
    let out = common::titiler_check(&[
        s(&sharded),
        "/measurements/reflectance",
        "b11",
        "--zooms",
        "7,9",
    ]);
    assert!(out.contains("titiler read r20m"), "{out}");
    let out = common::titiler_check(&[
        s(&plain),
        "/conditions/mask/l2a_classification",
        "scl",
        "--zooms",
        "7,9",
    ]);
    assert!(
        out.contains("titiler returns") || out.contains("ok"),
        "{out}"
    );
}

#[test]
fn structure_matches_the_python_tools_output_but_for_listed_differences() {
    // the Python tool's `convert-s2-optimized` output for the product our
    // default synth schema describes (metadata only, tests/fixtures)
    let reference = common::fixtures()
        .join("optimized_S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613.json.gz");
    let tmp = tempfile::tempdir().unwrap();
    let (input, out) = (tmp.path().join("in.zarr"), tmp.path().join("out.zarr"));
    synth(40, None, &input);
    convert(&input, &out, &[]);
    let diff = py("reference_structure.py", &[s(&out), s(&reference)]);
    // every difference is listed, with its reason, in the README
    // ("Differences from the Python tool's conventions output")
    let expected =
        std::fs::read_to_string(common::fixtures().join("conventions-vs-python-tool.txt")).unwrap();
    let listed: Vec<&str> = expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let found: Vec<&str> = diff.lines().collect();
    assert_eq!(found, listed, "structure differences changed:\n{diff}");
}
