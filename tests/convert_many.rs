//! `convert-many`: a directory or a list file of products, in process and on
//! a local cluster — every output byte-identical to a single `convert`, a
//! re-run skips complete outputs and resumes unfinished ones, a broken
//! product fails alone (named, non-zero exit) while the others finish, and
//! the JSON report holds one row per product.

mod common;

use std::path::Path;

use common::{assert_same_store, bin, cli_ok};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn many_products_in_process_and_on_a_cluster_match_single_conversions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inp = d.join("in");
    std::fs::create_dir(&inp).unwrap();
    let names = ["S2A_a.zarr", "S2A_b.zarr", "S2A_c.zarr"];
    for n in names {
        cli_ok(&["synth", s(&inp.join(n)), "--scale", "20"]);
        cli_ok(&[
            "convert",
            s(&inp.join(n)),
            s(&d.join(format!("single-{n}"))),
        ]);
    }
    // a broken product: unreadable consolidated metadata
    std::fs::create_dir(inp.join("broken.zarr")).unwrap();
    std::fs::write(inp.join("broken.zarr/.zmetadata"), "{").unwrap();
    // not a product: ignored
    std::fs::create_dir(inp.join("notes")).unwrap();

    for (tag, extra) in [
        ("inproc", vec!["--concurrency", "2"]),
        (
            "cluster",
            vec!["--local-workers", "2", "--dashboard", "off"],
        ),
    ] {
        let out = d.join(format!("out-{tag}"));
        let report = d.join(format!("{tag}.json"));
        let o = bin()
            .args(["convert-many", s(&inp), "--output-prefix", s(&out)])
            .args(["--report", s(&report)])
            .args(&extra)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert_eq!(o.status.code(), Some(1), "{tag}: {stdout}{stderr}");
        assert!(
            stderr.contains("1 of 4 products failed: broken.zarr"),
            "{tag}: {stderr}"
        );
        assert!(stdout.contains("3 converted"), "{tag}: {stdout}");
        for n in names {
            assert_same_store(&d.join(format!("single-{n}")), &out.join(n));
        }
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        let rows = r["products"].as_array().unwrap();
        assert_eq!(rows.len(), 4);
        for row in rows {
            let ok = row["product"] != "broken.zarr";
            assert_eq!(
                row["status"],
                if ok { "converted" } else { "failed" },
                "{row}"
            );
            if ok {
                assert!(row["bytes_written"].as_u64().unwrap() > 1_000_000, "{row}");
                assert!(row["core_seconds"].as_f64().unwrap() > 0.0, "{row}");
                assert!(row["error"].is_null());
            } else {
                assert!(
                    row["error"]
                        .as_str()
                        .unwrap()
                        .contains("broken.zarr/.zmetadata"),
                    "{row}"
                );
            }
        }
    }

    // a list file; one output complete, one unfinished: skipped and resumed
    let out = d.join("out-inproc");
    // unfinished: the root without consolidated metadata (as an interrupted
    // run leaves it) and a band's chunks gone
    let root = out.join("S2A_b.zarr/zarr.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&root).unwrap()).unwrap();
    meta.as_object_mut()
        .unwrap()
        .remove("consolidated_metadata");
    std::fs::write(&root, meta.to_string()).unwrap();
    std::fs::remove_dir_all(out.join("S2A_b.zarr/measurements/reflectance/r10m/0/b02/c")).unwrap();
    let list = d.join("list.txt");
    std::fs::write(
        &list,
        format!(
            "# two products\n{}\n\n{}\n",
            inp.join("S2A_a.zarr").display(),
            inp.join("S2A_b.zarr").display()
        ),
    )
    .unwrap();
    let report = d.join("list.json");
    let o = bin()
        .args(["convert-many", s(&list), "--output-prefix", s(&out)])
        .args(["--report", s(&report)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(common::report_statuses(&report), ["skipped", "resumed"]);
    assert_same_store(&d.join("single-S2A_b.zarr"), &out.join("S2A_b.zarr"));

    // bad lists: one clear line each
    for (list, want) in [
        (d.join("nothing-here"), "no such file or directory"),
        (inp.join("S2A_a.zarr"), "is a Zarr store itself"),
    ] {
        let o = bin()
            .args(["convert-many", s(&list), "--output-prefix", s(&d.join("x"))])
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && e.contains(want), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "{e}");
    }
}
