//! The dashboard served by a real scheduler (`--dashboard`), fed by real
//! conversions on two workers: `/api/*` and `/metrics` agree with the jobs,
//! and the page in headless Chromium shows both workers, every task in the
//! task stream, every progress bar complete; with two jobs, the task stream
//! draws the last job's tasks as separate bars, the jobs page lists both
//! with their durations, a clicked task shows its details and the graph
//! page draws a band's tasks. Screenshots are kept (see [`shots`]).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::cli_ok;

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_eopf-geozarr"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// GET over plain HTTP/1.1 on 127.0.0.1 (body only).
fn get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    body.to_string()
}

struct Kill(Vec<Child>);
impl Drop for Kill {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A scheduler with a dashboard: its processes, gRPC URL and dashboard
/// address.
struct Cluster {
    procs: Kill,
    url: String,
    web: String,
}

impl Cluster {
    fn start() -> Self {
        let mut sched = Command::new(bin_dir().join("geozarr-scheduler"))
            .args(["--listen", "127.0.0.1:0", "--dashboard", "127.0.0.1:0"])
            .env_remove("GEOZARR_TOKEN")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(sched.stdout.take().unwrap()).lines();
        let grpc = lines.next().unwrap().unwrap();
        let dash = lines.next().unwrap().unwrap();
        let url = format!("http://{}", grpc.strip_prefix("listening on ").unwrap());
        let web = dash
            .strip_prefix("dashboard on http://")
            .unwrap()
            .to_string();
        Cluster {
            procs: Kill(vec![sched]),
            url,
            web,
        }
    }

    fn workers(&mut self, n: usize) {
        for _ in 0..n {
            self.procs.0.push(
                Command::new(bin_dir().join("geozarr-worker"))
                    .args(["--scheduler", &self.url, "--slots", "1"])
                    .env_remove("GEOZARR_TOKEN")
                    .spawn()
                    .unwrap(),
            );
        }
    }

    fn convert(&self, input: &Path, out: &Path) -> Command {
        let mut c = common::bin();
        c.args([
            "convert",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "--scheduler",
            &self.url,
        ])
        .env_remove("GEOZARR_TOKEN");
        c
    }

    fn json(&self, path: &str) -> serde_json::Value {
        serde_json::from_str(&get(&self.web, path)).unwrap()
    }
}

/// Where screenshots go: `$GEOZARR_SCREENSHOTS`, else
/// `target/dashboard-screenshots/` (created, printed).
fn shots(test: &str) -> PathBuf {
    let dir = std::env::var_os("GEOZARR_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| bin_dir().parent().unwrap().join("dashboard-screenshots"))
        .join(test);
    std::fs::create_dir_all(&dir).unwrap();
    println!("screenshots in {}", dir.display());
    dir
}

/// Run browser steps on the dashboard page; panics with the log on failure.
fn browser(web: &str, steps: &serde_json::Value) {
    let browser = common::root().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core missing in tests/browser: run scripts/test.sh (it runs npm ci)"
    );
    let o = Command::new("node")
        .arg(browser.join("run.mjs"))
        .args([
            "--url",
            &format!("http://{web}/"),
            "--steps",
            &steps.to_string(),
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "browser steps failed:\n{log}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn dashboard_shows_a_finished_job_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.zarr");
    cli_ok(&["synth", input.to_str().unwrap(), "--scale", "20"]);
    let mut cluster = Cluster::start();
    cluster.workers(2);
    let web = cluster.web.clone();
    let o = cluster
        .convert(&input, &dir.path().join("out.zarr"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let status: serde_json::Value = serde_json::from_str(&get(&web, "/api/status")).unwrap();
    assert_eq!(status["workers"].as_array().unwrap().len(), 2, "{status}");
    let job = &status["jobs"][0];
    assert_eq!(job["state"], "done", "{job}");
    let total = job["total"].as_u64().unwrap();
    assert!(total > 20);
    assert_eq!(job["done"], total);
    for p in job["parts"].as_array().unwrap() {
        assert_eq!(p["done"], p["total"], "{p}");
    }
    // progress per band and level, else per kind of task (worded by the
    // scheduler from each task's typed kind)
    let names: Vec<&str> = job["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for level in ["level 0", "level 1"] {
        let b02 = format!("/b02 {level}");
        assert!(names.iter().any(|n| n.ends_with(&b02)), "{names:?}");
    }
    assert!(
        names.contains(&"carry") && names.contains(&"coords"),
        "{names:?}"
    );
    // the next heartbeats carry each worker's chunk-cache counters
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status: serde_json::Value = serde_json::from_str(&get(&web, "/api/status")).unwrap();
    let sum = |k: &str| -> u64 {
        status["workers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w[k].as_u64().unwrap())
            .sum()
    };
    assert!(sum("chunks_decoded") > 0, "{status}");
    assert!(
        sum("cache_hits") > 0,
        "levels read from the cache: {status}"
    );
    let metrics = get(&web, "/metrics");
    assert!(
        metrics.contains(&format!("geozarr_tasks_done_total {total}\n")),
        "{metrics}"
    );
    assert!(metrics.contains("geozarr_workers 2\n"), "{metrics}");
    assert!(metrics.contains("geozarr_jobs_done_total 1\n"), "{metrics}");

    let shots = shots("one-job");
    let steps = serde_json::json!([
        {"wait": "#workers tbody tr"},
        {"expect": "document.querySelectorAll('#workers tbody tr').length === 2", "label": "two workers"},
        {"expect": format!("new Promise(r => {{ const t = Date.now(); (function w() {{ if (window.geozarr.tasks.length >= {total} || Date.now() - t > 5000) r(window.geozarr.tasks.length === {total}); else setTimeout(w, 100); }})(); }})"), "label": "every task in the stream"},
        {"expect": "window.geozarr.lanes.size === 2", "label": "one lane group per worker"},
        {"expect": "[...document.querySelectorAll('#workers td.cache')].some(td => /^[1-9][0-9]* \\/ [1-9]/.test(td.textContent))", "label": "chunk-cache counters shown"},
        {"expect": "document.querySelectorAll('.bar').length > 0 && document.querySelectorAll('.bar').length === document.querySelectorAll('.bar.done').length", "label": "all progress bars complete"},
        {"expect": "document.getElementById('summary').textContent.includes('done')", "label": "job shown done"},
        {"expect": "document.getElementById('errors').textContent === 'none'", "label": "no errors"},
        {"screenshot": shots.join("status.png")},
    ]);
    browser(&web, &steps);
    drop(cluster);
}

/// Two jobs one after the other on one scheduler: the page during the
/// first (queued: no worker yet; then mid-run, its one worker paused with
/// SIGSTOP so the run holds still) and after both.
#[test]
fn dashboard_follows_two_jobs_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.zarr");
    cli_ok(&["synth", input.to_str().unwrap(), "--scale", "20"]);
    // job 1 is bigger (scale 8), so it is still running when paused
    let big = dir.path().join("first").join("in.zarr");
    cli_ok(&["synth", big.to_str().unwrap(), "--scale", "8"]);
    let mut cluster = Cluster::start();
    let web = cluster.web.clone();
    let shots = shots("two-jobs");

    // job 1 waits for workers: the page shows it running, nothing done
    let first = cluster
        .convert(&big, &dir.path().join("out1.zarr"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    browser(
        &web,
        &serde_json::json!([
            {"until": "window.geozarr.status && window.geozarr.status.jobs.length === 1", "label": "job 1 submitted", "timeout": 30000},
            {"until": "document.querySelectorAll('#progress .bar').length > 0", "label": "progress shown"},
            {"expect": "window.geozarr.status.jobs[0].state === 'running' && window.geozarr.status.jobs[0].done === 0", "label": "job 1 running, nothing done"},
            {"expect": "document.querySelectorAll('#progress .bar.done').length === 0", "label": "no bar complete yet"},
            {"screenshot": shots.join("during-queued.png")},
        ]),
    );
    // mid-run: one worker, paused (SIGSTOP) once some tasks are done, so
    // the page sees a job part-way, a task in flight and the stream's bars
    cluster.workers(1);
    let worker = cluster.procs.0.last().unwrap().id().to_string();
    common::wait_for(
        "some tasks done",
        std::time::Duration::from_secs(30),
        || cluster.json("/api/status")["jobs"][0]["done"].as_u64() >= Some(5),
    );
    let signal = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &worker])
            .status()
            .unwrap()
            .success())
    };
    signal("-STOP");
    let job1 = cluster.json("/api/status")["jobs"][0].clone();
    let (done1, total1) = (
        job1["done"].as_u64().unwrap(),
        job1["total"].as_u64().unwrap(),
    );
    assert!(done1 < total1, "job 1 ended before the pause");
    browser(
        &web,
        &serde_json::json!([
            {"until": format!("window.geozarr.status && window.geozarr.status.jobs[0].done === {done1}"), "label": "job 1 part-way"},
            {"until": format!("window.geozarr.tasks.length === {done1}"), "label": "its finished tasks in the stream"},
            {"until": "window.geozarr.stream.inWindow > 0", "label": "stream drawn"},
            {"expect": "window.geozarr.stream.distinct === window.geozarr.stream.inWindow", "label": "each task a separate bar"},
            {"expect": "document.querySelectorAll('#progress .bar.done').length < document.querySelectorAll('#progress .bar').length", "label": "not every bar complete"},
            {"until": "[...document.querySelectorAll('#progress .bar i.running')].some(i => parseFloat(i.style.width) > 0)", "label": "a task shown running"},
            {"screenshot": shots.join("during-running.png")},
        ]),
    );
    signal("-CONT");
    cluster.workers(1);
    let o = first.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = cluster
        .convert(&input, &dir.path().join("out2.zarr"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let jobs = cluster.json("/api/jobs");
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    for j in jobs {
        assert_eq!(j["state"], "done", "{j}");
        let (start, end) = (j["started_ms"].as_u64(), j["finished_ms"].as_u64());
        assert!(start.is_some() && end >= start, "{j}");
        assert!(j["core_seconds"].as_f64().unwrap() > 0.0, "{j}");
        assert!(j["bytes_written"].as_u64().unwrap() > 0, "{j}");
        assert!(j["input"].as_str().unwrap().ends_with("in.zarr"), "{j}");
    }
    assert!(
        jobs[1]["started_ms"].as_u64() >= jobs[0]["finished_ms"].as_u64(),
        "one after the other: {jobs:?}"
    );
    let (t1, t2) = (
        jobs[0]["total"].as_u64().unwrap(),
        jobs[1]["total"].as_u64().unwrap(),
    );
    // the band with the most tasks, and its task count from the progress parts
    let job2 = cluster.json("/api/job/2");
    let mut per_band: Vec<(String, u64)> = vec![];
    for p in job2["parts"].as_array().unwrap() {
        if let Some((band, _)) = p["name"].as_str().unwrap().split_once(" level ") {
            match per_band.iter_mut().find(|(b, _)| b == band) {
                Some((_, n)) => *n += p["total"].as_u64().unwrap(),
                None => per_band.push((band.into(), p["total"].as_u64().unwrap())),
            }
        }
    }
    let (band, band_tasks) = per_band.into_iter().max_by_key(|(_, n)| *n).unwrap();
    assert!(band_tasks >= 2, "{band}: {band_tasks}");
    let graph = cluster.json(&format!("/api/graph/2/{band}"));
    assert_eq!(
        graph["nodes"].as_array().unwrap().len() as u64,
        band_tasks,
        "{graph}"
    );
    let task = cluster.json("/api/task/2/0");
    assert_eq!(task["state"], "done", "{task}");
    assert_eq!(task["attempts"][0]["ok"], true, "{task}");
    // the throughput history is kept after the jobs ended
    assert!(
        cluster.json("/api/throughput").as_array().unwrap().len() >= 2,
        "throughput samples"
    );

    let all = t1 + t2;
    browser(
        &web,
        &serde_json::json!([
            {"until": format!("window.geozarr.tasks.length >= {all}"), "label": "every task in the stream"},
            {"expect": format!("window.geozarr.tasks.length === {all}"), "label": "each task once"},
            {"until": "window.geozarr.stream.inWindow > 0", "label": "stream drawn"},
            {"expect": format!("window.geozarr.stream.inWindow === {t2}"), "label": "the default window holds the last job's tasks"},
            {"expect": "window.geozarr.stream.distinct === window.geozarr.stream.inWindow", "label": "each task a separate bar"},
            {"until": "document.querySelectorAll('#progress .bar').length > 0 && document.querySelectorAll('#progress .bar').length === document.querySelectorAll('#progress .bar.done').length", "label": "progress bars 100 %"},
            {"expect": "[...document.querySelectorAll('#progress .bar.done i.done')].every(i => parseFloat(i.style.width) === 100)", "label": "done shade full"},
            {"until": "document.querySelectorAll('#workers i.mem').length === 2", "label": "two memory bars"},
            {"expect": "[...document.querySelectorAll('#workers i.mem')].every(i => parseFloat(i.style.width) > 0)", "label": "memory bars non-empty"},
            {"until": "document.querySelectorAll('#workers td.spark canvas').length === 6", "label": "sparklines"},
            {"screenshot": shots.join("status-after.png")},
            {"clickAt": "window.geozarr.pick()"},
            {"until": "(p => p && document.getElementById('task-detail').dataset.task === String(p.task) && !document.getElementById('task-detail').hidden)(window.geozarr.pick())", "label": "the clicked task's details"},
            {"expect": "document.querySelectorAll('#task-detail tbody tr').length >= 1 && document.getElementById('task-detail').textContent.includes('done')", "label": "its attempts"},
            {"screenshot": shots.join("task-detail.png")},
            {"click": "#whole"},
            {"expect": format!("window.geozarr.stream.inWindow === {t2}"), "label": "whole job: the last job"},
            {"expect": "(location.hash = '#/jobs', true)"},
            {"until": "document.querySelectorAll('#jobs .row').length === 2", "label": "both jobs listed"},
            {"expect": "[...document.querySelectorAll('#jobs .row .duration')].every(d => / (ms|s|min)$/.test(d.textContent))", "label": "with durations"},
            {"expect": "[...document.querySelectorAll('#jobs .row')].map(r => r.dataset.job).join() === '2,1'", "label": "newest first"},
            {"screenshot": shots.join("jobs.png")},
            {"click": "#jobs .row[data-job='1']"},
            {"until": "location.hash === '#/status/1' && document.getElementById('progress-job').textContent.startsWith('job 1')", "label": "a job's own status view"},
            {"expect": format!("(location.hash = '#/graph/2/' + encodeURI({}), true)", serde_json::to_string(&band).unwrap())},
            {"until": format!("window.geozarr.graph.nodes === {band_tasks} && window.geozarr.graph.band === {}", serde_json::to_string(&band).unwrap()), "label": "the band's graph"},
            {"expect": "window.geozarr.graph.states.every(s => s === 'done')", "label": "all done"},
            {"screenshot": shots.join("graph.png")},
            {"expect": "(location.hash = '#/workers', true)"},
            {"until": "document.querySelectorAll('#workers-page tbody tr').length === 2", "label": "workers page"},
            {"screenshot": shots.join("workers.png")},
        ]),
    );
    drop(cluster);
}
