//! Sentinel-1 GRD end to end, on a synthetic product from the real S1A IW
//! GRDH schema: point targets land where the GCP grid puts them, σ⁰ equals
//! an independent numpy computation from the LUTs, geolocation agrees with
//! GDAL's `gdalwarp` (Debian gdal-bin, installed by scripts/test.sh), every
//! level opens in xarray + rioxarray with its CRS, a local cluster writes
//! the in-process bytes, a product re-written by zarr-python 3 + numcodecs
//! in every encoding real writers use converts to the same bytes, and
//! missing GCPs or LUTs are one-line errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{assert_same_store, cli_ok, fails_cmd, py};
use serde_json::Value;

const SCHEMA: &str = "S1A_IW_GRDH_1SDV_20241218T180252_20241218T180317_057050_0702F2_0BC2.json";
const VV: &str = "S01SIWGRD_20241218T180252_0025_A326_0BC2_0702F2_VV";
const VH: &str = "S01SIWGRD_20241218T180252_0025_A326_0BC2_0702F2_VH";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn synth(scale: u64, out: &Path) {
    let schema = common::root().join("synth/schemas").join(SCHEMA);
    cli_ok(&[
        "synth",
        s(out),
        "--scale",
        &scale.to_string(),
        "--schema",
        s(&schema),
    ]);
}

fn convert(input: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["convert", s(input), s(out)];
    args.extend(extra);
    cli_ok(&args)
}

fn check(args: &[&str]) -> Value {
    let out = py("s1_check.py", args);
    serde_json::from_str(out.trim().lines().last().unwrap()).unwrap()
}

fn zarr_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p.join("zarr.json")).unwrap()).unwrap()
}

fn tmp() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let input = t.path().join("in.zarr");
    synth(16, &input);
    (t, input)
}

#[test]
fn point_targets_and_sigma0_are_where_and_what_they_should_be() {
    let (t, input) = tmp();
    let out = t.path().join("out.zarr");
    let msg = convert(&input, &out, &[]);
    assert!(msg.contains("converted 2 groups"), "{msg}");
    for pol in [VV, VH] {
        let level = format!("{pol}/measurements/0");
        let r = check(&["targets", s(&input), s(&out), &level]);
        eprintln!("{pol} point targets: {r}");
        assert_eq!(r["n"], 20);
        assert!(r["mean_px"].as_f64().unwrap() < 0.5, "{r}");
        assert!(r["max_px"].as_f64().unwrap() < 1.0, "{r}");
        let c = check(&["calib", s(&input), s(&out), &level]);
        eprintln!("{pol} sigma0 vs numpy: {c}");
        assert!(c["n"].as_u64().unwrap() > 100, "{c}");
        assert!(c["max_rel_err"].as_f64().unwrap() < 1e-5, "{c}");
    }
    // metadata: float32 linear power, NaN nodata, CF name, no terrain correction
    let band = zarr_json(&out.join(VV).join("measurements/0/sigma0"));
    assert_eq!(band["data_type"], "float32");
    assert_eq!(band["fill_value"], "NaN");
    let a = &band["attributes"];
    assert_eq!(
        a["standard_name"],
        "surface_backwards_scattering_coefficient_of_radar_wave"
    );
    assert_eq!(a["units"], "1");
    assert_eq!(a["polarization"], "VV");
    assert!(a["sar:terrain_correction"]
        .as_str()
        .unwrap()
        .starts_with("none"));
    let ms = zarr_json(&out.join(VV).join("measurements"));
    assert!(ms["attributes"]["multiscales"].is_object(), "{ms}");
    // other groups carried over
    assert!(out
        .join(VV)
        .join("quality/calibration/sigma_nought/zarr.json")
        .exists());
    assert!(out
        .join(VH)
        .join("conditions/gcp/latitude/zarr.json")
        .exists());
    // every level opens with the scene's UTM zone
    let o = check(&["open", s(&out), "32632"]);
    assert!(o["levels"].as_u64().unwrap() >= 4, "{o}");
    let v = cli_ok(&["validate", s(&out)]);
    assert!(!v.contains("FAIL"), "{v}");
}

#[test]
fn geolocation_agrees_with_gdalwarp() {
    let (t, input) = tmp();
    let out = t.path().join("out.zarr");
    convert(&input, &out, &[]);
    let level = format!("{VV}/measurements/0");
    let r = check(&[
        "gdal",
        s(&input),
        s(&out),
        &level,
        s(&t.path().join("gdal")),
    ]);
    eprintln!("per-pixel geolocation, GDAL against ours: {r}");
    assert!(r["tps"]["pixels"].as_u64().unwrap() > 100_000, "{r}");
    assert!(r["tps"]["mean_px"].as_f64().unwrap() < 0.5, "{r}");
    assert!(
        r["targets_ours_vs_gdal_tps"]["max_px"].as_f64().unwrap() < 1.0,
        "{r}"
    );
    // an affine fit cannot follow the curved swath: reported, not required
    assert!(r["order1"]["mean_px"].as_f64().is_some(), "{r}");
}

#[test]
fn quantities_profiles_crs_and_cluster() {
    let (t, input) = tmp();
    let reference = t.path().join("ref.zarr");
    convert(&input, &reference, &[]);
    // a local cluster (chunk tasks on two workers) writes the same bytes
    let cl = t.path().join("cluster.zarr");
    convert(&input, &cl, &["--local-workers", "2"]);
    assert_same_store(&reference, &cl);
    // gamma0 and beta0: float32, no CF standard name for them
    for q in ["gamma0", "beta0"] {
        let out = t.path().join(format!("{q}.zarr"));
        convert(&input, &out, &["--s1-quantity", q]);
        let band = zarr_json(&out.join(VV).join(format!("measurements/0/{q}")));
        assert_eq!(band["data_type"], "float32");
        assert!(band["attributes"].get("standard_name").is_none());
    }
    // dn: uint16, fill 0, claims no physical quantity
    let dn = t.path().join("dn.zarr");
    convert(&input, &dn, &["--s1-quantity", "dn"]);
    let band = zarr_json(&dn.join(VV).join("measurements/1/dn"));
    assert_eq!(band["data_type"], "uint16");
    assert_eq!(band["fill_value"], 0);
    assert!(band["attributes"].get("units").is_none());
    assert!(band["attributes"].get("standard_name").is_none());
    // conventions profile, another CRS and resolution
    let conv = t.path().join("conv.zarr");
    convert(
        &input,
        &conv,
        &[
            "--profile",
            "conventions",
            "--crs",
            "EPSG:32633",
            "--resolution",
            "20",
        ],
    );
    let ms = zarr_json(&conv.join(VV).join("measurements"));
    let layout = ms["attributes"]["multiscales"]["layout"]
        .as_array()
        .unwrap();
    assert_eq!(layout[0]["asset"], "r20m");
    assert_eq!(layout[1]["asset"], "r40m");
    assert_eq!(ms["attributes"]["proj:code"], "EPSG:32633");
    let o = check(&["open", s(&conv), "32633"]);
    assert!(o["levels"].as_u64().unwrap() >= 4, "{o}");
    let v = cli_ok(&["validate", s(&conv)]);
    assert!(!v.contains("FAIL"), "{v}");
}

#[test]
fn missing_gcps_or_luts_are_one_line_errors() {
    let (t, input) = tmp();
    let copy = |name: &str| {
        let p = t.path().join(name);
        let st = Command::new("cp")
            .args(["-r", s(&input), s(&p)])
            .status()
            .unwrap();
        assert!(st.success());
        p
    };
    let no_gcp = copy("nogcp.zarr");
    check(&["strip", s(&no_gcp), "conditions/gcp"]);
    fails_cmd(
        common::bin(),
        &["convert", s(&no_gcp), s(&t.path().join("a.zarr"))],
        &["conditions/gcp", "missing", "GCP"],
    );
    let no_cal = copy("nocal.zarr");
    check(&["strip", s(&no_cal), "quality/calibration"]);
    fails_cmd(
        common::bin(),
        &["convert", s(&no_cal), s(&t.path().join("b.zarr"))],
        &[
            "quality/calibration/sigma_nought",
            "missing",
            "--s1-quantity dn",
        ],
    );
    // the digital numbers need no LUT
    let out = t.path().join("c.zarr");
    convert(&no_cal, &out, &["--s1-quantity", "dn"]);
    assert!(out.join(VV).join("measurements/0/dn/zarr.json").exists());
    let no_noise = copy("nonoise.zarr");
    check(&["strip", s(&no_noise), "quality/noise_range"]);
    fails_cmd(
        common::bin(),
        &["convert", s(&no_noise), s(&t.path().join("d.zarr"))],
        &["quality/noise_range", "missing"],
    );
    fails_cmd(
        common::bin(),
        &[
            "convert",
            s(&input),
            s(&t.path().join("e.zarr")),
            "--crs",
            "EPSG:3857",
        ],
        &["EPSG:3857", "UTM"],
    );
}

#[test]
fn a_product_rewritten_by_zarr_python_in_every_encoding_converts_to_the_same_bytes() {
    let (t, input) = tmp();
    let variant = t.path().join("variant.zarr");
    synth(16, &variant);
    // images, GCP grids, calibration and noise tables, each in another encoding
    let log = py("rewrite_encodings.py", &[s(&variant), "--all-2d"]);
    for what in [
        "measurements/grd",
        "conditions/gcp/latitude",
        "quality/calibration/sigma_nought",
        "quality/noise_range/noise_range_lut",
        "typesize 1",
        "order F",
        "'/' keys",
        "lz4",
        "gzip",
    ] {
        assert!(log.contains(what), "{what} not re-written:\n{log}");
    }
    let (a, b) = (t.path().join("a.zarr"), t.path().join("b.zarr"));
    convert(&input, &a, &[]);
    convert(&variant, &b, &[]);
    // the pyramids are byte-identical; the carried tables keep their input
    // encoding (chunks copied as they are), so they, and the consolidated
    // root metadata listing them, are compared by value through zarr-python
    let (fa, fb) = (common::files(&a), common::files(&b));
    assert_eq!(fa.keys().collect::<Vec<_>>(), fb.keys().collect::<Vec<_>>());
    let carried =
        |k: &str| k.contains("/conditions/") || k.contains("/quality/") || k == "zarr.json";
    let mut pyramid = 0;
    for (k, v) in fa.iter().filter(|(k, _)| !carried(k)) {
        assert!(v == &fb[k], "{k} differs");
        pyramid += 1;
    }
    assert!(pyramid > 20, "{pyramid} pyramid files");
    let same = py("same_values.py", &[s(&a), s(&b)]);
    assert!(same.contains("same values"), "{same}");
}

#[test]
fn titiler_eopf_serves_sigma0_tiles_holding_the_stored_values() {
    let (t, input) = tmp();
    let out = t.path().join("c.zarr");
    convert(&input, &out, &["--profile", "conventions"]);
    let group = format!("/{VV}/measurements");
    let log = common::titiler_check(&[s(&out), &group, "sigma0", "--self-test"]);
    assert!(
        log.contains("titiler read r10m")
            && log.contains("(caught)")
            && log.contains(" 0 mismatches"),
        "{log}"
    );
}
