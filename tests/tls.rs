//! TLS on the cluster's links, with real processes on 127.0.0.1 and
//! certificates made by the test (rcgen): a scheduler requiring mutual TLS
//! and a token runs a job from a TLS client on a TLS worker, writing the
//! in-process bytes; a worker or client with a certificate from another CA,
//! without one, or speaking plain HTTP is refused; the dashboard is served
//! over https; a token in clear beyond loopback is refused unless
//! `--insecure`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::pki::Pki;
use common::{assert_same_store, bin, cli_ok};

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_eopf-geozarr"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A scheduler process; its first stdout lines; killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn scheduler(args: &[&str], token: &str) -> (Proc, Vec<String>) {
    let mut child = Command::new(bin_dir().join("geozarr-scheduler"))
        .args(args)
        .env("GEOZARR_TOKEN", token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut lines = vec![];
    let want = if args.contains(&"--dashboard") { 2 } else { 1 };
    for _ in 0..want {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        lines.push(l.trim().to_string());
    }
    std::thread::spawn(move || std::io::copy(&mut r, &mut std::io::sink()));
    (Proc(child), lines)
}

#[test]
fn mutual_tls_job_writes_the_in_process_bytes_and_strangers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let input = d.join("in.zarr");
    cli_ok(&["synth", s(&input), "--scale", "20"]);
    let local = d.join("local.zarr");
    cli_ok(&["convert", s(&input), s(&local)]);

    let ca = Pki::new(d, "cluster-ca");
    let other = Pki::new(d, "other-ca");
    let (scert, skey) = ca.leaf("scheduler", &["localhost", "127.0.0.1"]);
    let (wcert, wkey) = ca.leaf("worker", &["worker.test"]);
    let (ccert, ckey) = ca.leaf("client", &["client.test"]);
    let (xcert, xkey) = other.leaf("stranger", &["stranger.test"]);
    let token = "tls-test-token";
    let (_sched, lines) = scheduler(
        &[
            "--listen",
            "127.0.0.1:0",
            "--dashboard",
            "127.0.0.1:0",
            "--tls-cert",
            s(&scert),
            "--tls-key",
            s(&skey),
            "--tls-client-ca",
            s(&ca.ca()),
        ],
        token,
    );
    let addr = lines[0].strip_prefix("listening on ").expect("listening");
    let url = format!("https://{addr}");
    let dash = lines[1]
        .strip_prefix("dashboard on ")
        .expect("dashboard line");
    assert!(dash.starts_with("https://"), "{dash}");

    // the dashboard over https, trusted through the cluster CA
    let o = Command::new("curl")
        .args(["-sS", "--cacert", s(&ca.ca()), &format!("{dash}/health")])
        .output()
        .expect("curl (installed by .ci/run)");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok", "{o:?}");

    let worker = |cert: &Path, key: &Path| {
        Command::new(bin_dir().join("geozarr-worker"))
            .args(["--scheduler", &url, "--slots", "2", "--connect-wait", "3"])
            .args([
                "--tls-ca",
                s(&ca.ca()),
                "--tls-cert",
                s(cert),
                "--tls-key",
                s(key),
            ])
            .env("GEOZARR_TOKEN", token)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // a worker whose certificate another CA signed: refused, says so, exits
    let o = worker(&xcert, &xkey).wait_with_output().unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains(&url), "{e}");

    let _w = Proc(worker(&wcert, &wkey));
    let client = |out: &Path, tls: &[&str], url: &str| {
        bin()
            .args(["convert", s(&input), s(out), "--scheduler", url])
            .args(tls)
            .env("GEOZARR_TOKEN", token)
            .env_remove("GEOZARR_TLS_CA")
            .output()
            .unwrap()
    };
    let ca_pem = ca.ca();
    let ca_arg = ["--tls-ca", s(&ca_pem)];
    let mine = [
        ca_arg.as_slice(),
        &["--tls-cert", s(&ccert), "--tls-key", s(&ckey)],
    ]
    .concat();
    let theirs = [
        ca_arg.as_slice(),
        &["--tls-cert", s(&xcert), "--tls-key", s(&xkey)],
    ]
    .concat();
    // refused: no client certificate, a stranger's, plain HTTP, unknown CA
    for (what, tls, u) in [
        ("no client certificate", ca_arg.to_vec(), url.clone()),
        ("a stranger's certificate", theirs, url.clone()),
        ("plain HTTP", vec![], format!("http://{addr}")),
        (
            "no CA (system roots)",
            vec!["--tls-cert", s(&ccert), "--tls-key", s(&ckey)],
            url.clone(),
        ),
    ] {
        let out = d.join("refused.zarr");
        let o = client(&out, &tls, &u);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{what}: accepted");
        assert!(e.contains("scheduler"), "{what}: {o:?}");
        assert!(!e.contains(token), "{what}: token leaked: {e}");
        assert!(
            !out.join("zarr.json").exists()
                || !std::fs::read_to_string(out.join("zarr.json"))
                    .unwrap()
                    .contains("consolidated_metadata"),
            "{what}: output looks complete"
        );
    }
    // the real client: the same bytes as in-process
    let out = d.join("tls.zarr");
    let o = client(&out, &mine, &url);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same_store(&local, &out);
}

#[test]
fn token_in_clear_beyond_loopback_is_refused_unless_insecure() {
    let o = Command::new(bin_dir().join("geozarr-scheduler"))
        .args(["--listen", "0.0.0.0:0"])
        .env("GEOZARR_TOKEN", "secret-token-value")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("0.0.0.0:0") && e.contains("TLS") && e.contains("--insecure"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(!e.contains("secret-token-value"), "{e}");
    // --insecure: it starts
    let (_s, lines) = scheduler(&["--listen", "0.0.0.0:0", "--insecure"], "t");
    assert!(lines[0].starts_with("listening on "), "{lines:?}");
    // loopback needs no TLS
    let (_s, lines) = scheduler(&["--listen", "127.0.0.1:0"], "t");
    assert!(lines[0].starts_with("listening on "), "{lines:?}");
    // a missing certificate file: one line naming it
    let o = Command::new(bin_dir().join("geozarr-scheduler"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent/c.pem",
        ])
        .args(["--tls-key", "/nonexistent/k.pem"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("/nonexistent/c.pem") && e.contains("cannot read"),
        "{e}"
    );
}
