//! The deployment files: every Kubernetes manifest under deploy/k8s passes
//! `kubernetes-validate --strict` (PyPI, in the pinned test venv) against
//! the Kubernetes schemas, and a broken one is caught; the schedulers of
//! the manifests and of docker-compose.yml start with the arguments written
//! there (a token in clear beyond loopback needs --insecure).

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn validate(files: &[PathBuf]) -> std::process::Output {
    let py = common::python();
    let tool = py.parent().unwrap().join("kubernetes-validate");
    Command::new(&tool)
        .arg("--strict")
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/test.sh installs it)", tool.display()))
}

#[test]
fn manifests_pass_kubernetes_validate_and_a_broken_one_does_not() {
    let k8s = common::root().join("deploy/k8s");
    let mut files = vec![];
    for d in [k8s.clone(), k8s.join("tls")] {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "yaml") {
                files.push(e.path());
            }
        }
    }
    assert!(files.len() >= 6, "{files:?}");
    let o = validate(&files);
    let out = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    for kind in [
        "deployment/geozarr-scheduler",
        "service/geozarr-scheduler",
        "deployment/geozarr-workers",
        "secret/geozarr-token",
        "secret/geozarr-tls",
    ] {
        assert!(
            out.contains(&format!("passed for resource {kind}")),
            "{kind}: {out}"
        );
    }
    // the validator does catch mistakes: a string replica count, an unknown field
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(k8s.join("workers.yaml"))
        .unwrap()
        .replace("replicas: 3", "replicas: three");
    std::fs::write(&bad, text).unwrap();
    assert!(!validate(std::slice::from_ref(&bad)).status.success());
    let text = std::fs::read_to_string(k8s.join("scheduler.yaml"))
        .unwrap()
        .replace(
            "strategy: {type: Recreate}",
            "strategy: {type: Recreate}\n  replica: 1",
        );
    std::fs::write(&bad, text).unwrap();
    assert!(!validate(&[bad]).status.success());
}

/// The scheduler arguments written in `file` (the first `args:` or
/// `command:` list naming it), with ports made free ones.
fn scheduler_args(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(common::root().join(file)).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("\"--listen\""))
        .unwrap_or_else(|| panic!("{file}: no scheduler arguments"));
    let list = &line[line.find('[').unwrap() + 1..line.rfind(']').unwrap()];
    list.split(',')
        .map(|a| a.trim().trim_matches('"').to_string())
        .filter(|a| a != "geozarr-scheduler")
        .map(|a| match a.as_str() {
            "0.0.0.0:8786" => "0.0.0.0:0".to_string(),
            "0.0.0.0:8787" => "127.0.0.1:0".to_string(),
            _ => a,
        })
        .collect()
}

#[test]
fn the_written_scheduler_arguments_start_a_scheduler_with_a_token() {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_eopf-geozarr"))
        .parent()
        .unwrap()
        .join("geozarr-scheduler");
    for file in ["deploy/k8s/scheduler.yaml", "docker-compose.yml"] {
        let args = scheduler_args(file);
        assert!(args.contains(&"--insecure".to_string()), "{file}: {args:?}");
        let mut c = Command::new(&bin)
            .args(&args)
            .env("GEOZARR_TOKEN", "deploy-test")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(c.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = c.kill();
        let o = c.wait_with_output().unwrap();
        assert!(
            line.starts_with("listening on 0.0.0.0:"),
            "{file}: {line:?} {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
