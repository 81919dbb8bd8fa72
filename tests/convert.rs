//! End-to-end conversions through the CLI: both fixture products, interop
//! with xarray/rioxarray/zarr-python, bad input, resume after a kill.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

fn synth(schema: Option<&str>, scale: u64, out: &Path) {
    let scale = scale.to_string();
    let mut args = vec!["synth", out.to_str().unwrap(), "--scale", &scale];
    let schema_path;
    if let Some(s) = schema {
        schema_path = common::root().join("synth/schemas").join(s);
        args.extend(["--schema", schema_path.to_str().unwrap()]);
    }
    common::cli_ok(&args);
}

const L1C: &str = "S2B_MSIL1C_20250113T103309_N0511_R108_T32TLQ_20250113T122458.json";

#[test]
fn small_golden_input_reads_back_in_xarray_rioxarray_zarr() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in.zarr"), tmp.path().join("out.zarr"));
    common::make_small_input(&input);
    common::cli_ok(&["convert", input.to_str().unwrap(), output.to_str().unwrap()]);
    let out = common::py(
        "interop.py",
        &[output.to_str().unwrap(), "--input", input.to_str().unwrap()],
    );
    assert!(out.contains("interop ok"), "{out}");
}

#[test]
fn s2a_l2a_fixture_converts_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (
        tmp.path().join("l2a.zarr"),
        tmp.path().join("l2a_geozarr.zarr"),
    );
    synth(None, 20, &input);
    let stdout = common::cli_ok(&["convert", input.to_str().unwrap(), output.to_str().unwrap()]);
    assert!(stdout.contains("25 bands"), "{stdout}");
    // default groups: the three reflectance groups
    for (g, band) in [("r10m", "b02"), ("r20m", "b05"), ("r60m", "b01")] {
        let m = common::json(
            &output
                .join("measurements/reflectance")
                .join(g)
                .join("zarr.json"),
        );
        let n = m["attributes"]["multiscales"]["tile_matrix_set"]["tileMatrices"]
            .as_array()
            .unwrap()
            .len();
        // scale 20: r10m 549 px → 549, 275; r20m 275 and r60m 92 → level 0 only
        assert_eq!(n, if g == "r10m" { 2 } else { 1 }, "{g} levels");
        let b = common::json(
            &output
                .join("measurements/reflectance")
                .join(g)
                .join("0")
                .join(band)
                .join("zarr.json"),
        );
        assert_eq!(
            b["attributes"]["standard_name"],
            "surface_bidirectional_reflectance"
        );
        assert_eq!(b["data_type"], "uint16");
    }
    // carried over: classification mask keeps uint8, strings become v3 strings
    let scl = common::json(&output.join("conditions/mask/l2a_classification/r20m/scl/zarr.json"));
    assert_eq!(scl["data_type"], "uint8");
    let angle = common::json(&output.join("conditions/geometry/angle/zarr.json"));
    assert_eq!(angle["data_type"], "string");
    let out = common::py(
        "interop.py",
        &[output.to_str().unwrap(), "--input", input.to_str().unwrap()],
    );
    assert!(out.contains("interop ok"), "{out}");
}

#[test]
fn s2b_l1c_fixture_converts_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (
        tmp.path().join("l1c.zarr"),
        tmp.path().join("l1c_geozarr.zarr"),
    );
    synth(Some(L1C), 20, &input);
    common::cli_ok(&["convert", input.to_str().unwrap(), output.to_str().unwrap()]);
    let root = common::json(&output.join("zarr.json"));
    let members = root["consolidated_metadata"]["metadata"]
        .as_object()
        .unwrap();
    let multiscale: Vec<&String> = members
        .iter()
        .filter(|(_, v)| v["attributes"].get("multiscales").is_some())
        .map(|(k, _)| k)
        .collect();
    assert!(
        !multiscale.is_empty(),
        "no converted group in the L1C output"
    );
    for k in &multiscale {
        let b = members
            .iter()
            .find(|(p, v)| {
                p.starts_with(&format!("{k}/0/")) && v["attributes"].get("standard_name").is_some()
            })
            .unwrap();
        assert_eq!(
            b.1["attributes"]["standard_name"], "toa_bidirectional_reflectance",
            "{}",
            b.0
        );
    }
    let out = common::py(
        "interop.py",
        &[output.to_str().unwrap(), "--input", input.to_str().unwrap()],
    );
    assert!(out.contains("interop ok"), "{out}");
}

/// A failing command: non-zero exit, one line on stderr naming `needle`.
fn fails_with(args: &[&str], needles: &[&str]) {
    common::fails_cmd(common::bin(), args, needles);
}

#[test]
fn bad_input_gives_one_clear_line() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| tmp.path().join(p).to_str().unwrap().to_string();
    let input = t("in.zarr");
    common::make_small_input(Path::new(&input));

    fails_with(
        &["convert", &t("missing.zarr"), &t("o1")],
        &["missing.zarr", "does not exist"],
    );
    std::fs::create_dir(t("empty")).unwrap();
    fails_with(
        &["convert", &t("empty"), &t("o2")],
        &["empty", "not a Zarr store"],
    );
    std::fs::write(t("file.zarr"), b"hello").unwrap();
    fails_with(
        &["convert", &t("file.zarr"), &t("o3")],
        &["file.zarr", "not a Zarr store"],
    );
    fails_with(
        &[
            "convert",
            &input,
            &t("o4"),
            "--groups",
            "/measurements/nope",
        ],
        &["measurements/nope", "no such group"],
    );
    fails_with(
        &[
            "convert",
            &input,
            &t("o5"),
            "--groups",
            "/conditions/geometry",
        ],
        &["conditions/geometry", "no 2-D (y, x) data variables"],
    );
    // output exists and is not ours
    std::fs::create_dir(t("foreign")).unwrap();
    std::fs::write(t("foreign/notes.txt"), b"keep me").unwrap();
    fails_with(
        &["convert", &input, &t("foreign")],
        &["foreign", "not a GeoZarr store"],
    );
    assert_eq!(std::fs::read(t("foreign/notes.txt")).unwrap(), b"keep me");

    // truncated consolidated metadata
    let broken = t("broken.zarr");
    common::make_small_input(Path::new(&broken));
    std::fs::write(format!("{broken}/.zmetadata"), b"{\"metadata\": {").unwrap();
    fails_with(
        &["convert", &broken, &t("o6")],
        &[".zmetadata", "invalid JSON"],
    );

    // no CRS on the bands
    let nocrs = t("nocrs.zarr");
    common::make_small_input(Path::new(&nocrs));
    let zm_path = format!("{nocrs}/.zmetadata");
    let mut zm = common::json(Path::new(&zm_path));
    for (k, v) in zm["metadata"].as_object_mut().unwrap() {
        if k.ends_with(".zattrs") {
            if let Some(o) = v.as_object_mut() {
                o.retain(|k, _| !k.starts_with("proj:"));
            }
        }
    }
    zm["metadata"][".zattrs"] = serde_json::json!({});
    std::fs::write(&zm_path, serde_json::to_vec(&zm).unwrap()).unwrap();
    fails_with(&["convert", &nocrs, &t("o7")], &["r10m", "no CRS"]);

    // unsupported band dtype
    let strband = t("strband.zarr");
    common::make_small_input(Path::new(&strband));
    let zm_path = format!("{strband}/.zmetadata");
    let mut zm = common::json(Path::new(&zm_path));
    zm["metadata"]["measurements/reflectance/r60m/b01/.zarray"]["dtype"] = serde_json::json!("<U4");
    std::fs::write(&zm_path, serde_json::to_vec(&zm).unwrap()).unwrap();
    fails_with(
        &["convert", &strband, &t("o8")],
        &["r60m/b01", "unsupported data type"],
    );

    // nothing half-written looks complete: no root consolidated metadata anywhere
    for o in ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8"] {
        let root = tmp.path().join(o).join("zarr.json");
        assert!(
            !root.exists() || common::json(&root).get("consolidated_metadata").is_none(),
            "{o} looks complete"
        );
    }
}

#[test]
fn killed_conversion_resumes_to_identical_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    let (whole, resumed) = (
        tmp.path().join("whole.zarr"),
        tmp.path().join("resumed.zarr"),
    );
    synth(None, 4, &input);
    common::cli_ok(&["convert", input.to_str().unwrap(), whole.to_str().unwrap()]);

    // start, wait until some band chunks exist, kill -9
    let mut child = common::bin()
        .args([
            "convert",
            input.to_str().unwrap(),
            resumed.to_str().unwrap(),
            "--threads",
            "1",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let r10m = resumed.join("measurements/reflectance/r10m/0");
    loop {
        let n = common::files(&resumed.join("measurements"))
            .keys()
            .filter(|k| k.contains("/c/"))
            .count();
        if n >= 3 && r10m.exists() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "conversion did not start writing"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "conversion finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let root = common::json(&resumed.join("zarr.json"));
    assert!(
        root.get("consolidated_metadata").is_none(),
        "an interrupted store must not look complete"
    );

    let out = common::cli_ok(&[
        "convert",
        input.to_str().unwrap(),
        resumed.to_str().unwrap(),
    ]);
    assert!(out.contains("resumed:"), "{out}");
    common::assert_same_store(&whole, &resumed);

    // a finished store re-run: everything skipped, still identical
    let out = common::cli_ok(&[
        "convert",
        input.to_str().unwrap(),
        resumed.to_str().unwrap(),
    ]);
    assert!(out.contains("resumed: 25 bands"), "{out}");
    common::assert_same_store(&whole, &resumed);
}

#[test]
fn crs_groups_get_a_grid_mapping_that_rioxarray_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, output) = (tmp.path().join("in.zarr"), tmp.path().join("out.zarr"));
    common::make_small_input(&input);
    let g = "conditions/mask/l2a_classification/r60m";
    common::cli_ok(&[
        "convert",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--crs-groups",
        &format!("/{g}"),
    ]);
    let sr = common::json(&output.join(g).join("spatial_ref/zarr.json"));
    assert_eq!(
        sr["attributes"]["GeoTransform"],
        "699960.0 60.0 0.0 4700040.0 0.0 -60.0"
    );
    let scl = common::json(&output.join(g).join("scl/zarr.json"));
    assert_eq!(scl["attributes"]["grid_mapping"], "spatial_ref");
    assert_eq!(
        scl["attributes"]["proj:epsg"], 32632,
        "proj:epsg stays a number"
    );
    let code = format!(
        "import xarray as xr, rioxarray\nds = xr.open_dataset({:?}, group={g:?}, engine='zarr', decode_coords='all')\nassert ds.scl.rio.crs.to_epsg() == 32632\nt = ds.rio.transform()\nassert (t.a, t.c, t.e, t.f) == (60.0, 699960.0, -60.0, 4700040.0), t\nprint('ok')",
        output.to_str().unwrap()
    );
    let o = std::process::Command::new(common::python())
        .args(["-c", &code])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // an unknown group is an error, not silently ignored
    let o = common::cli(&[
        "convert",
        input.to_str().unwrap(),
        tmp.path().join("o2").to_str().unwrap(),
        "--crs-groups",
        "/nope",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
}

/// The product `synth` writes at `scale`, with its bands re-written by
/// zarr-python 3 + numcodecs in every encoding real writers use.
fn real_writer_variant(tmp: &Path, scale: u64) -> (std::path::PathBuf, std::path::PathBuf) {
    let (plain, variant) = (tmp.join("plain.zarr"), tmp.join("variant.zarr"));
    synth(None, scale, &plain);
    synth(None, scale, &variant);
    let out = common::py("rewrite_encodings.py", &[variant.to_str().unwrap()]);
    for enc in [
        "typesize 1",
        "zlib",
        "lz4",
        "gzip",
        "zstd",
        "order F",
        "'/' keys",
        "stored raw",
    ] {
        assert!(out.contains(enc), "{enc} not written:\n{out}");
    }
    (plain, variant)
}

#[test]
fn inputs_in_every_real_writer_encoding_convert_to_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain, variant) = real_writer_variant(tmp.path(), 20);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (o_plain, o_var, o_cluster) = (
        tmp.path().join("plain_gz.zarr"),
        tmp.path().join("variant_gz.zarr"),
        tmp.path().join("variant_cluster_gz.zarr"),
    );
    common::cli_ok(&["convert", &s(&plain), &s(&o_plain)]);
    // typesize-1 frames are still read block by block: none decoded whole
    let log = common::cli_ok(&["convert", &s(&variant), &s(&o_var)]);
    assert!(!log.contains("decoded whole"), "{log}");
    common::assert_same_store(&o_plain, &o_var);
    // chunk tasks (whole-chunk decodes through zarrs) agree
    common::cli_ok(&[
        "convert",
        &s(&variant),
        &s(&o_cluster),
        "--local-workers",
        "2",
    ]);
    common::assert_same_store(&o_plain, &o_cluster);
    // and the values are what zarr-python reads from the variant input,
    // averaged as the profile says
    let out = common::py("interop.py", &[&s(&o_var), "--input", &s(&variant)]);
    assert!(out.contains("interop ok"), "{out}");
}

#[test]
fn undecodable_codecs_fail_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    synth(None, 40, &input);
    let zm_path = input.join(".zmetadata");
    let mut zm = common::json(&zm_path);
    let key = "measurements/reflectance/r20m/b05/.zarray";
    zm["metadata"][key]["compressor"] = serde_json::json!({"id": "lzma", "preset": 6});
    std::fs::write(&zm_path, serde_json::to_vec(&zm).unwrap()).unwrap();
    let out = tmp.path().join("out.zarr");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    fails_with(
        &["convert", i, o],
        &[
            "r20m/b05",
            "compressor \"lzma\"",
            "blosc, zstd, zlib, gzip, lz4",
        ],
    );
    assert!(!out.exists(), "output written before the check");
    // a filter we do not implement, on a carried-over array
    let mut zm = common::json(&zm_path);
    zm["metadata"][key]["compressor"] = serde_json::Value::Null;
    let carried = "conditions/mask/detector_footprint/r10m/b02/.zarray";
    assert!(
        zm["metadata"][carried].is_object(),
        "{carried} not in the product"
    );
    zm["metadata"][carried]["filters"] = serde_json::json!([{"id": "delta", "dtype": "<u1"}]);
    std::fs::write(&zm_path, serde_json::to_vec(&zm).unwrap()).unwrap();
    fails_with(
        &["convert", i, o],
        &[
            "detector_footprint/r10m/b02",
            "filter \"delta\"",
            "supported",
        ],
    );
    assert!(!out.exists(), "output written before the check");
}

#[test]
fn demo_runs_again_reusing_its_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let d = dir.to_str().unwrap();
    let first = common::cli_ok(&["demo", d, "--scale", "40"]);
    assert!(first.contains("synthetic S2A L2A product"), "{first}");
    // both profiles written and validated
    assert_eq!(first.matches(" 0 fail").count(), 2, "{first}");
    assert!(first.contains("--profile geozarr-0.4:") && first.contains("--profile conventions:"));
    assert!(dir
        .join("S2A_MSIL2A_synthetic_scale40_conventions.zarr/measurements/reflectance/r720m")
        .exists());
    let input = dir.join("S2A_MSIL2A_synthetic_scale40.zarr");
    let stamp = std::fs::metadata(input.join(".zmetadata"))
        .unwrap()
        .modified()
        .unwrap();
    // the second run keeps the complete input and converts again
    let second = common::cli_ok(&["demo", d, "--scale", "40"]);
    assert!(!second.contains("synthetic S2A L2A product"), "{second}");
    assert!(second.contains("0 fail"), "{second}");
    let again = std::fs::metadata(input.join(".zmetadata"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(stamp, again);
    // an input without its consolidated metadata (an interrupted synth) is rebuilt
    std::fs::remove_file(input.join(".zmetadata")).unwrap();
    let third = common::cli_ok(&["demo", d, "--scale", "40"]);
    assert!(third.contains("synthetic S2A L2A product"), "{third}");
    assert!(third.contains("0 fail"), "{third}");
}

/// Every array's decoded values (as little-endian bytes, strings as UTF-8)
/// under `dir`, by node path; the Zarr v3 store read with zarrs.
fn decoded_arrays(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    use zarrs::array::{Array, ArrayBytes};
    let store = std::sync::Arc::new(zarrs::filesystem::FilesystemStore::new(dir).unwrap());
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in common::files(dir) {
        let Some(node) = k.strip_suffix("zarr.json") else {
            continue;
        };
        let meta: serde_json::Value = serde_json::from_slice(&v).unwrap();
        if meta["node_type"] != "array" {
            continue;
        }
        let path = format!("/{}", node.trim_end_matches('/'));
        let a = Array::open(store.clone(), &path).unwrap();
        let all = a.subset_all();
        let bytes: Vec<u8> = match a.retrieve_array_subset::<ArrayBytes>(&all).unwrap() {
            ArrayBytes::Fixed(b) => b.into_owned(),
            ArrayBytes::Variable(v) => v.bytes().to_vec(),
            other => panic!("{path}: unexpected {other:?}"),
        };
        out.insert(path, bytes);
    }
    out
}

#[test]
fn synth_encodings_convert_to_the_same_pyramids_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let t = |p: &str| tmp.path().join(p);
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let convert = |enc: &str| {
        let (input, output) = (t(&format!("{enc}.zarr")), t(&format!("{enc}_gz.zarr")));
        common::cli_ok(&["synth", &s(&input), "--scale", "40", "--encoding", enc]);
        let log = common::cli_ok(&["convert", &s(&input), &s(&output)]);
        // frames whose typesize divides neither their blocks nor their
        // length are decoded whole, and said so; all others by blocks
        let whole = enc.contains("typesize=5");
        assert_eq!(log.contains("decoded whole"), whole, "{enc}: {log}");
        (input, output)
    };
    let (_, base) = convert("default");
    let base_values = decoded_arrays(&base);
    assert!(base_values.len() > 100, "{} arrays", base_values.len());
    for enc in [
        "none",
        "zstd",
        "zlib",
        "gzip",
        "lz4",
        "blosc-typesize1",
        "blosc:cname=lz4,shuffle=none",
        "blosc:cname=blosclz,shuffle=byte,typesize=1",
        "blosc:cname=lz4hc,typesize=5",
        "blosc:cname=zlib,blocksize=16384",
        "blosc:clevel=0,typesize=1",
        "blosc:threads=4",
        "slash",
        "order-f",
        "sparse",
        "zstd+slash+order-f+sparse",
    ] {
        let (_, out) = convert(enc);
        // the pyramids are ours, byte for byte; carried arrays keep their
        // input's codecs (profile §7) and their values
        common::assert_same_store(&base.join("measurements"), &out.join("measurements"));
        let values = decoded_arrays(&out);
        assert_eq!(
            base_values.keys().collect::<Vec<_>>(),
            values.keys().collect::<Vec<_>>(),
            "{enc}"
        );
        for (k, v) in &base_values {
            assert!(v == &values[k], "{enc}: {k} decodes to other values");
        }
    }
    // other fill values change what nodata means: level 0 still holds the
    // input's values and the overviews average as the profile says
    for enc in ["fill-null", "fill-nan"] {
        let (input, out) = convert(enc);
        let r = common::py("interop.py", &[&s(&out), "--input", &s(&input)]);
        assert!(r.contains("interop ok"), "{enc}: {r}");
    }
}

#[test]
fn damaged_frames_are_one_clear_error_per_chunk() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    // by blocks (typesize 1) and decoded whole (typesize 5)
    for enc in ["blosc-typesize1", "blosc:typesize=5"] {
        let input = tmp.path().join(format!("{enc}.zarr"));
        common::cli_ok(&["synth", &s(&input), "--scale", "40", "--encoding", enc]);
        let chunk = input.join("measurements/reflectance/r20m/b05/0.0");
        let good = std::fs::read(&chunk).unwrap();
        let damages: [(&str, Vec<u8>); 3] = [
            ("truncated", good[..good.len() * 2 / 3].to_vec()),
            ("bad header", [&[9u8; 16][..], &good[16..]].concat()),
            ("wrong size", {
                let mut w = good.clone();
                w[4..8].copy_from_slice(&7u32.to_le_bytes());
                w
            }),
        ];
        for (what, bytes) in damages {
            std::fs::write(&chunk, &bytes).unwrap();
            let out = tmp.path().join("out.zarr");
            let o = common::cli(&["convert", &s(&input), &s(&out), "--overwrite"]);
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success(), "{enc} {what}: converted");
            // retries are logged as warnings; the error is the last line, one line
            let last = err.trim().lines().last().unwrap_or_default();
            assert!(
                last.starts_with("error: failed after 3 attempt(s)"),
                "{enc} {what}: {err}"
            );
            assert_eq!(err.matches("error:").count(), 1, "{enc} {what}: {err}");
            for needle in ["r20m/b05", "chunk measurements/reflectance/r20m/b05/0.0: "] {
                assert!(last.contains(needle), "{enc} {what}: {last}");
            }
            assert!(!err.contains("panicked"), "{enc} {what}: {err}");
            eprintln!("{enc} {what}: {last}");
            let root = out.join("zarr.json");
            assert!(
                !root.exists() || common::json(&root).get("consolidated_metadata").is_none(),
                "{enc} {what}: the output looks complete"
            );
        }
    }
}

#[test]
fn output_piped_into_a_reader_that_stops_early_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.zarr");
    synth(None, 40, &input);
    // a reader gone before the first line (`| true`; `| head -1` on long
    // output): no panic on the broken pipe
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "'{}' info '{}' | true",
            env!("CARGO_BIN_EXE_eopf-geozarr"),
            input.display()
        ))
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(out.is_empty(), "{out}");
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{err}"
    );
}
