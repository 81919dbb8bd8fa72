//! Shared helpers for the end-to-end tests: the CLI binary, the pinned Python
//! venv, the test fixtures, and store comparison.
#![allow(dead_code)]

pub mod pki;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `eopf-geozarr` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eopf-geozarr"))
}

/// Run the CLI, returning its output.
pub fn cli(args: &[&str]) -> Output {
    bin().args(args).output().expect("run eopf-geozarr")
}

/// Run the CLI and require success.
pub fn cli_ok(args: &[&str]) -> String {
    let o = cli(args);
    assert!(
        o.status.success(),
        "eopf-geozarr {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Run a command that must fail with exactly one error line (no panic)
/// holding every needle; returns (stdout, stderr).
pub fn fails_cmd(mut c: Command, args: &[&str], needles: &[&str]) -> (String, String) {
    let o = c.args(args).output().expect("run eopf-geozarr");
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(!o.status.success(), "{args:?} should fail:\n{out}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "expected one error line, got:\n{err}"
    );
    for n in needles {
        assert!(
            err.contains(n),
            "error for {args:?} should mention {n:?}: {err}"
        );
    }
    assert!(!err.contains("panicked"), "{err}");
    (out, err)
}

/// Repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Test data copied into the repository from the shared material
/// (`make_small_input.py`, the Python tool's golden metadata), so a clone
/// alone passes its tests.
pub fn fixtures() -> PathBuf {
    root().join("tests/fixtures")
}

/// A venv's Python: `$var`, else `venv/bin/python` in the repository.
/// Missing = test failure, saying `how` to make it.
fn venv_python(var: &str, venv: &str, how: &str) -> PathBuf {
    let p = std::env::var(var)
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(venv).join("bin/python"));
    assert!(p.exists(), "{venv} missing at {}: {how}", p.display());
    p
}

/// The pinned venv's Python (created by scripts/test.sh). Missing = test failure.
pub fn python() -> PathBuf {
    venv_python(
        "GEOZARR_PYTHON",
        ".venv",
        "run scripts/test.sh (it creates the pinned Python venv)",
    )
}

/// Run a Python script from tests/python with arguments; require success.
pub fn py(script: &str, args: &[&str]) -> String {
    run_py(python(), script, args)
}

/// Run tests/python/`script` with `python`; require success; its stdout.
fn run_py(python: PathBuf, script: &str, args: &[&str]) -> String {
    let o = Command::new(python)
        .arg(root().join("tests/python").join(script))
        .args(args)
        .output()
        .expect("run python");
    assert!(
        o.status.success(),
        "{script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Build the small product of tests/fixtures/make_small_input.py.
pub fn make_small_input(out: &Path) {
    let o = Command::new(python())
        .arg(fixtures().join("make_small_input.py"))
        .arg(out)
        .output()
        .expect("run python");
    assert!(
        o.status.success(),
        "make_small_input.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Every file under `dir` (relative path → bytes).
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        // tolerant of a store being written meanwhile (files come and go)
        let Ok(entries) = std::fs::read_dir(d) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.insert(
                    p.strip_prefix(base).unwrap().to_string_lossy().into_owned(),
                    bytes,
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Assert two stores hold the same files with the same bytes.
pub fn assert_same_store(a: &Path, b: &Path) {
    let (fa, fb) = (files(a), files(b));
    let ka: Vec<_> = fa.keys().collect();
    let kb: Vec<_> = fb.keys().collect();
    assert_eq!(
        ka,
        kb,
        "stores {} and {} hold different files",
        a.display(),
        b.display()
    );
    for (k, v) in &fa {
        assert!(
            v == &fb[k],
            "{k} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// The status of each product in a `convert-many --report` file, in order.
pub fn report_statuses(report: &Path) -> Vec<String> {
    json(report)["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_str().unwrap().to_string())
        .collect()
}

/// Read a JSON file.
pub fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// Chunk files written so far under a store (temporary files excluded).
pub fn count_chunks(dir: &Path) -> usize {
    files(dir)
        .keys()
        .filter(|k| k.contains("/c/") && !k.ends_with(".tmp"))
        .count()
}

/// Poll `f` every 20 ms until it holds; panic naming `what` after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut f: impl FnMut() -> bool) {
    let t = std::time::Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The Python 3.12 venv with titiler-eopf (scripts/titiler-venv.sh, run by
/// scripts/test.sh, which exports its python as GEOZARR_TITILER_PYTHON).
fn titiler_python() -> PathBuf {
    venv_python(
        "GEOZARR_TITILER_PYTHON",
        ".venv-titiler",
        "run scripts/titiler-venv.sh (scripts/test.sh does) for the titiler-eopf venv",
    )
}

/// Run tests/python/titiler_check.py in the titiler-eopf venv; its stdout.
pub fn titiler_check(args: &[&str]) -> String {
    run_py(titiler_python(), "titiler_check.py", args)
}
