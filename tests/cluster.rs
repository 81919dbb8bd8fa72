//! The distributed engine end to end, with real processes on 127.0.0.1:
//! local clusters of 1, 2 and 4 workers write the same bytes as the
//! in-process executor; a worker killed with SIGKILL mid-job changes
//! nothing; a lost or unreachable scheduler is a clear error and a re-run
//! resumes; a wrong token is refused; a task failing 3 times fails the job
//! with its history; two clients at once share the cluster, and one
//! cancelled leaves the other intact.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{assert_same_store, bin, cli_ok, count_chunks, wait_for};

/// Directory of the workspace binaries (the scheduler and worker are built
/// by `cargo build --release --workspace`, which `cargo test --workspace` does).
fn bin_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_BIN_EXE_eopf-geozarr"))
        .parent()
        .unwrap()
        .to_path_buf();
    for b in ["geozarr-scheduler", "geozarr-worker"] {
        assert!(
            d.join(b).is_file(),
            "{} missing: run `cargo build --release --workspace` (scripts/test.sh does)",
            d.join(b).display()
        );
    }
    d
}

/// A synthetic product at `scale` in a fresh temporary directory.
fn product(scale: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.zarr");
    cli_ok(&["synth", s(&input), "--scale", &scale.to_string()]);
    (dir, input)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A scheduler started by the test; killed on drop.
struct Sched {
    child: Child,
    url: String,
}

impl Sched {
    fn start(token: Option<&str>) -> Sched {
        Self::start_on("127.0.0.1:0", token)
    }
    fn start_on(addr: &str, token: Option<&str>) -> Sched {
        let mut c = Command::new(bin_dir().join("geozarr-scheduler"));
        c.args(["--listen", addr])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        match token {
            Some(t) => c.env("GEOZARR_TOKEN", t),
            None => c.env_remove("GEOZARR_TOKEN"),
        };
        let mut child = c.spawn().expect("start scheduler");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected scheduler output {line:?}"))
            .to_string();
        Sched {
            child,
            url: format!("http://{addr}"),
        }
    }
    fn worker(&self, token: Option<&str>) -> Child {
        let mut c = Command::new(bin_dir().join("geozarr-worker"));
        c.args(["--scheduler", &self.url, "--slots", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match token {
            Some(t) => c.env("GEOZARR_TOKEN", t),
            None => c.env_remove("GEOZARR_TOKEN"),
        };
        c.spawn().expect("start worker")
    }
}

impl Drop for Sched {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local cluster's processes: the workers and the scheduler under `cli`.
fn cluster_of(cli: u32) -> Vec<u32> {
    [
        children_named(cli, "geozarr-worker"),
        children_named(cli, "geozarr-scheduler"),
    ]
    .concat()
}

/// Has process `pid` ended (gone, or a zombie waiting to be reaped)?
fn gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |st| st.contains(") Z "))
}

/// Child processes of `pid` named `name` (Linux /proc).
fn children_named(pid: u32, name: &str) -> Vec<u32> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let (Some(l), Some(r)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[l + 1..r];
        let ppid: u32 = stat[r + 2..]
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        // comm is truncated to 15 characters
        if ppid == pid && name.starts_with(comm) {
            out.push(p);
        }
    }
    out
}

#[test]
fn local_clusters_of_1_2_4_workers_write_the_in_process_bytes() {
    bin_dir();
    let (dir, input) = product(10);
    let reference = dir.path().join("ref.zarr");
    cli_ok(&["convert", s(&input), s(&reference)]);
    for n in [1, 2, 4] {
        let out = dir.path().join(format!("c{n}.zarr"));
        let stdout = cli_ok(&[
            "convert",
            s(&input),
            s(&out),
            "--local-workers",
            &n.to_string(),
        ]);
        assert!(stdout.contains("converted 3 groups, 25 bands"), "{stdout}");
        assert_same_store(&reference, &out);
    }
    // whole-band tasks on a cluster write the same bytes too
    let out = dir.path().join("band.zarr");
    cli_ok(&[
        "convert",
        s(&input),
        s(&out),
        "--local-workers",
        "2",
        "--cluster-tasks",
        "band",
    ]);
    assert_same_store(&reference, &out);
    // --dask-cluster = a local cluster with one worker per core
    let out = dir.path().join("dask.zarr");
    cli_ok(&["convert", s(&input), s(&out), "--dask-cluster"]);
    assert_same_store(&reference, &out);
}

#[test]
fn local_cluster_leaves_no_processes_behind() {
    let (dir, input) = product(20);
    let out = dir.path().join("out.zarr");
    let mut cli = bin()
        .args(["convert", s(&input), s(&out), "--local-workers", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = cli.id();
    wait_for("workers", Duration::from_secs(20), || {
        children_named(pid, "geozarr-worker").len() == 2
    });
    let kids = cluster_of(pid);
    assert_eq!(kids.len(), 3);
    assert!(cli.wait().unwrap().success());
    for k in kids {
        assert!(gone(k), "cluster process {k} still running");
    }
}

#[test]
fn ctrl_c_stops_the_local_cluster_and_says_how_to_resume() {
    let (dir, input) = product(4);
    let out = dir.path().join("out.zarr");
    let cli = bin()
        .args(["convert", s(&input), s(&out), "--local-workers", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = cli.id();
    wait_for("a few chunks", Duration::from_secs(60), || {
        count_chunks(&out) >= 10
    });
    let kids = cluster_of(pid);
    assert_eq!(kids.len(), 3);
    // SIGINT to the CLI alone (not its process group): it must stop the cluster
    assert!(signal("-INT", pid));
    let o = cli.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130));
    let e = stderr(&o);
    assert!(
        e.contains("interrupted; re-run the same command to resume"),
        "{e}"
    );
    wait_for("cluster processes gone", Duration::from_secs(10), || {
        kids.iter().all(|k| gone(*k))
    });
    assert!(
        !out.join("zarr.json").exists()
            || !std::fs::read_to_string(out.join("zarr.json"))
                .unwrap()
                .contains("consolidated_metadata"),
        "an interrupted store must not look complete"
    );
}

/// A conversion through a 2-worker local cluster, caught mid-job (after a
/// few chunks), beside an in-process reference of the same product.
struct MidJob {
    _dir: tempfile::TempDir,
    reference: PathBuf,
    out: PathBuf,
    cli: Child,
    workers: Vec<u32>,
}

fn local_cluster_mid_job(extra: &[&str]) -> MidJob {
    let (dir, input) = product(4);
    let reference = dir.path().join("ref.zarr");
    cli_ok(&["convert", s(&input), s(&reference)]);
    let total = count_chunks(&reference);
    let out = dir.path().join("out.zarr");
    let cli = bin()
        .args(["convert", s(&input), s(&out)])
        .args(["--local-workers", "2", "--threads", "2"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a few chunks", Duration::from_secs(60), || {
        count_chunks(&out) >= 20
    });
    let workers = children_named(cli.id(), "geozarr-worker");
    assert_eq!(workers.len(), 2, "two workers running");
    assert!(count_chunks(&out) < total, "job not finished yet");
    MidJob {
        _dir: dir,
        reference,
        out,
        cli,
        workers,
    }
}

/// `kill -SIG pid`; did it reach the process?
fn signal(sig: &str, pid: u32) -> bool {
    Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn worker_killed_mid_job_changes_nothing() {
    let j = local_cluster_mid_job(&[]);
    assert!(signal("-9", j.workers[0]));
    let o = j.cli.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_store(&j.reference, &j.out);
}

#[test]
fn stopped_worker_is_lost_after_ten_silent_seconds_and_its_task_rerun() {
    let j = local_cluster_mid_job(&["--verbose"]);
    // frozen, not dead: its connection stays open, only heartbeats stop
    assert!(signal("-STOP", j.workers[0]));
    let o = j.cli.wait_with_output().unwrap();
    signal("-CONT", j.workers[0]);
    let e = stderr(&o);
    assert!(o.status.success(), "{e}");
    assert!(e.contains("worker silent for 10 s; retrying"), "{e}");
    assert_same_store(&j.reference, &j.out);
    wait_for("the frozen worker gone", Duration::from_secs(20), || {
        gone(j.workers[0])
    });
}

#[test]
fn unreachable_scheduler_is_a_clear_error() {
    let (dir, input) = product(20);
    // a port nobody listens on: bind, note it, close
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let o = bin()
        .args([
            "convert",
            s(&input),
            s(&dir.path().join("o.zarr")),
            "--scheduler",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains(&format!("cannot reach the scheduler at {url}")),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
}

#[test]
fn scheduler_killed_mid_job_fails_clearly_worker_reconnects_and_rerun_resumes() {
    let (dir, input) = product(4);
    let reference = dir.path().join("ref.zarr");
    cli_ok(&["convert", s(&input), s(&reference)]);
    let out = dir.path().join("out.zarr");

    // a port below the kernel's ephemeral range, so no other test's
    // scheduler (bound to port 0) can take it while ours is down
    let free_port = (20_000..32_000)
        .map(|p| p + std::process::id() as u16 % 1000)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port");
    let mut sched = Sched::start_on(&format!("127.0.0.1:{free_port}"), None);
    let mut w = sched.worker(None);
    let cli = bin()
        .args(["convert", s(&input), s(&out), "--scheduler", &sched.url])
        .env_remove("GEOZARR_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a few chunks", Duration::from_secs(60), || {
        count_chunks(&out) >= 10
    });
    sched.child.kill().unwrap();
    let o = cli.wait_with_output().unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("scheduler") && e.contains("re-run the same command to resume"),
        "{e}"
    );
    let partial = count_chunks(&out);
    assert!(partial >= 10);

    // the scheduler restarts on the same address: the worker, still running,
    // reconnects, and the re-run resumes from the chunks written
    let addr = sched.url.trim_start_matches("http://").to_string();
    let sched2 = Sched::start_on(&addr, None);
    let mut rerun = bin()
        .args(["convert", s(&input), s(&out), "--scheduler", &sched2.url])
        .env_remove("GEOZARR_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while rerun.try_wait().unwrap().is_none() && w.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(120), "re-run timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
    if let Some(st) = w.try_wait().unwrap() {
        let _ = rerun.kill();
        let mut e = String::new();
        let _ = w.stderr.take().unwrap().read_to_string(&mut e);
        panic!("the worker exited ({st}) instead of reconnecting: {e}");
    }
    let o = rerun.wait_with_output().unwrap();
    let _ = w.kill();
    let _ = w.wait();
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("resumed"), "{stdout}");
    assert_same_store(&reference, &out);
}

#[test]
fn wrong_token_is_refused_for_clients_and_workers() {
    let (dir, input) = product(20);
    let sched = Sched::start(Some("s3cret-token"));
    // a client with the wrong token, then without one
    for tok in [Some("wrong-guess"), None] {
        let mut c = bin();
        c.args([
            "convert",
            s(&input),
            s(&dir.path().join("o.zarr")),
            "--scheduler",
            &sched.url,
        ]);
        match tok {
            Some(t) => c.env("GEOZARR_TOKEN", t),
            None => c.env_remove("GEOZARR_TOKEN"),
        };
        let o = c.output().unwrap();
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(e.contains("refused") && e.contains("token"), "{e}");
        assert!(
            !e.contains("s3cret") && !e.contains("wrong-guess"),
            "token leaked: {e}"
        );
    }
    // a worker with the wrong token exits with the same message
    let o = sched
        .worker(Some("wrong-guess"))
        .wait_with_output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("refused") && e.contains("token"), "{e}");
    assert!(
        !e.contains("s3cret") && !e.contains("wrong-guess"),
        "token leaked: {e}"
    );
    // the right token works end to end
    let mut w = sched.worker(Some("s3cret-token"));
    let o = bin()
        .args([
            "convert",
            s(&input),
            s(&dir.path().join("ok.zarr")),
            "--scheduler",
            &sched.url,
        ])
        .env("GEOZARR_TOKEN", "s3cret-token")
        .output()
        .unwrap();
    let _ = w.kill();
    let _ = w.wait();
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn task_failing_three_times_fails_the_job_with_its_history() {
    let (dir, input) = product(20);
    // a corrupt input chunk: decoding it fails on every attempt
    let chunk = input.join("measurements/reflectance/r20m/b05/0.0");
    assert!(chunk.is_file());
    std::fs::write(&chunk, b"not a blosc chunk").unwrap();
    let o = bin()
        .args([
            "convert",
            s(&input),
            s(&dir.path().join("o.zarr")),
            "--local-workers",
            "2",
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("b05 level 0 chunk (0, 0) failed 3 times"), "{e}");
    assert!(
        e.contains("attempt 1 on worker") && e.contains("attempt 3 on worker"),
        "{e}"
    );
    // one error line (after the dashboard link printed at the start)
    let lines: Vec<&str> = e.trim().lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(lines[0].starts_with("dashboard: http://127.0.0.1:"), "{e}");
    assert!(lines[1].starts_with("error: "), "{e}");
}

#[test]
fn two_clients_at_once_share_the_cluster_and_a_cancelled_one_leaves_the_other_intact() {
    let (dir, input) = product(4);
    let reference = dir.path().join("ref.zarr");
    cli_ok(&["convert", s(&input), s(&reference)]);
    let total = count_chunks(&reference);
    let sched = Sched::start(Some("multi-job-token"));
    let mut workers: Vec<Child> = (0..2)
        .map(|_| sched.worker(Some("multi-job-token")))
        .collect();
    let client = |out: &Path| {
        bin()
            .args(["convert", s(&input), s(out), "--scheduler", &sched.url])
            .env("GEOZARR_TOKEN", "multi-job-token")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // 1. two jobs at once: both progress side by side (fair share), both
    //    write the in-process bytes
    let (a, b) = (dir.path().join("a.zarr"), dir.path().join("b.zarr"));
    let (ca, cb) = (client(&a), client(&b));
    let mut side_by_side = false;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(120) {
        let (na, nb) = (count_chunks(&a), count_chunks(&b));
        if na > 0 && nb > 0 && na < total && nb < total {
            side_by_side = true;
        }
        if na == total && nb == total {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for c in [ca, cb] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert!(side_by_side, "the second job waited for the first");
    assert_same_store(&reference, &a);
    assert_same_store(&reference, &b);
    // 2. Ctrl-C on one client cancels its job only
    let (c, d) = (dir.path().join("c.zarr"), dir.path().join("d.zarr"));
    let (cc, cd) = (client(&c), client(&d));
    wait_for("both jobs under way", Duration::from_secs(60), || {
        count_chunks(&c) >= 5 && count_chunks(&d) >= 5
    });
    assert!(signal("-INT", cc.id()));
    let o = cc.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let o = cd.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_same_store(&reference, &d);
    let n = count_chunks(&c);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count_chunks(&c), n, "the cancelled job's tasks still run");
    assert!(n < total);
    for w in &mut workers {
        let _ = w.kill();
        let _ = w.wait();
    }
}

#[test]
fn local_cluster_serves_its_dashboard_on_the_next_free_port_and_prints_the_link() {
    let (dir, input) = product(4);
    // hold a port: the cluster must take a later one
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let out = dir.path().join("out.zarr");
    let mut cli = bin()
        .args(["convert", s(&input), s(&out), "--local-workers", "1"])
        .args(["--dashboard", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(cli.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("dashboard: ")
        .unwrap_or_else(|| panic!("no dashboard link first: {line:?}"))
        .to_string();
    let got: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    assert!(got > port && got <= port + 100, "{url} (held {port})");
    // the page and its JSON answer while the job runs
    let o = Command::new("curl")
        .args(["-sS", &format!("{url}/api/status")])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)));
    assert!(status.is_object(), "{status}");
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert!(cli.wait().unwrap().success(), "{rest}");
    drop(held);
    // --dashboard off: no link
    let o = bin()
        .args(["convert", s(&input), s(&dir.path().join("off.zarr"))])
        .args(["--local-workers", "1", "--dashboard", "off"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("dashboard"), "{}", stderr(&o));
}
