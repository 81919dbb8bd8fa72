//! The dashboard served by a real scheduler (`--dashboard`), fed by a real
//! conversion on two workers: `/api/status` and `/metrics` agree with the
//! job, and the page in headless Chromium shows both workers, every task
//! in the task stream and every progress bar complete.

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

#[test]
fn dashboard_shows_a_finished_job_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.zarr");
    cli_ok(&["synth", input.to_str().unwrap(), "--scale", "20"]);
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
    let mut procs = Kill(vec![sched]);
    for _ in 0..2 {
        procs.0.push(
            Command::new(bin_dir().join("geozarr-worker"))
                .args(["--scheduler", &url, "--slots", "1"])
                .env_remove("GEOZARR_TOKEN")
                .spawn()
                .unwrap(),
        );
    }
    let out = dir.path().join("out.zarr");
    let o = common::bin()
        .args([
            "convert",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "--scheduler",
            &url,
        ])
        .env_remove("GEOZARR_TOKEN")
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

    let browser = common::root().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "playwright-core missing in tests/browser: run scripts/test.sh (it runs npm ci)"
    );
    let steps = serde_json::json!([
        {"wait": "#workers tbody tr"},
        {"expect": "document.querySelectorAll('#workers tbody tr').length === 2", "label": "two workers"},
        {"expect": format!("new Promise(r => {{ const t = Date.now(); (function w() {{ if (window.geozarr.tasks.length >= {total} || Date.now() - t > 5000) r(window.geozarr.tasks.length === {total}); else setTimeout(w, 100); }})(); }})"), "label": "every task in the stream"},
        {"expect": "window.geozarr.lanes.size === 2", "label": "one lane group per worker"},
        {"expect": "[...document.querySelectorAll('#workers td.cache')].some(td => /^[1-9][0-9]* \\/ [1-9]/.test(td.textContent))", "label": "chunk-cache counters shown"},
        {"expect": "document.querySelectorAll('.bar').length > 0 && document.querySelectorAll('.bar').length === document.querySelectorAll('.bar.done').length", "label": "all progress bars complete"},
        {"expect": "document.getElementById('summary').textContent.includes('done')", "label": "job shown done"},
        {"expect": "document.getElementById('errors').textContent === 'none'", "label": "no errors"},
    ]);
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
