//! The worker binary's own failure modes (its work with a scheduler is
//! tested end to end in the workspace's tests/cluster.rs).

use std::process::Command;

fn worker(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_geozarr-worker"))
        .args(args)
        .env_remove("GEOZARR_TOKEN")
        .output()
        .expect("run geozarr-worker")
}

#[test]
fn unreachable_scheduler_is_one_clear_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let o = worker(&["--scheduler", &url, "--connect-wait", "0"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&format!("cannot reach the scheduler at {url}")),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}

#[test]
fn bad_url_is_rejected() {
    let o = worker(&["--scheduler", "not a url", "--connect-wait", "0"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("not a url: not a scheduler URL"), "{e}");
}
