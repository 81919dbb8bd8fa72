//! The cluster across hosts: test hosts made of network namespaces (a
//! scheduler host, three worker hosts, two client hosts and an S3 host
//! running s3s-fs, joined by veth pairs to a bridge in a switch namespace;
//! addresses on 10.77.0.0/24 exist only inside them, all removed at the
//! end, also on failure). Over mutual TLS with a token, data read from and
//! written to S3 across the network, every scenario ends in output
//! byte-identical to an in-process run:
//! 1. baseline; a worker with another CA's certificate or a wrong token is
//!    refused;
//! 2. a worker's link cut for 15 s mid-job: lost after 10 s, its tasks
//!    re-run elsewhere, it rejoins when the link returns;
//! 4. the scheduler's link cut for 5 s: nothing lost or re-run;
//! 5. two clients on two hosts at once: both finish, side by side.
//!
//! 3. 50 ms delay each way and 1 % packet loss on every link: the job
//!    completes; the slowdown against the baseline is printed. The loss is
//!    the kernel's (an nftables rule dropping 1 % of the packets each host
//!    receives); the delay comes from a delaying proxy in front of the
//!    scheduler and the S3 server (`netns/delay.rs`), since `tc netem` is
//!    missing from some kernels (this one's).
//!
//! Needs root, iproute2 and nftables (CI runs as root; `.ci/run` installs
//! them).

mod common;
#[path = "netns/delay.rs"]
mod delay;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::pki::Pki;
use common::{assert_same_store, cli_ok, count_chunks, wait_for};

const KEY: &str = "netns-test-key";
const SECRET: &str = "netns-test-secret";
const TOKEN: &str = "netns-test-token";

fn sh(args: &[&str]) {
    let o = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Test hosts as network namespaces on one bridge; removed on drop.
struct Net {
    id: String,
    hosts: Vec<(String, u8)>,
}

impl Net {
    fn new(hosts: &[(&str, u8)]) -> Net {
        let id = format!("gz{}", std::process::id() % 100_000);
        let net = Net {
            id,
            hosts: hosts.iter().map(|(h, n)| (h.to_string(), *n)).collect(),
        };
        net.remove();
        let br = net.ns("br");
        sh(&["ip", "netns", "add", &br]);
        sh(&["ip", "-n", &br, "link", "add", "br0", "type", "bridge"]);
        sh(&["ip", "-n", &br, "link", "set", "br0", "up"]);
        for (h, n) in &net.hosts {
            let ns = net.ns(h);
            sh(&["ip", "netns", "add", &ns]);
            sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            let peer = format!("p{n}");
            sh(&[
                "ip", "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &peer,
                "netns", &br,
            ]);
            sh(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.77.0.{n}/24"),
                "dev",
                "eth0",
            ]);
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            sh(&["ip", "-n", &br, "link", "set", &peer, "master", "br0"]);
            sh(&["ip", "-n", &br, "link", "set", &peer, "up"]);
        }
        net
    }
    fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.id)
    }
    fn addr(&self, host: &str) -> String {
        let n = self.hosts.iter().find(|(h, _)| h == host).unwrap().1;
        format!("10.77.0.{n}")
    }
    /// `prog args…` run on `host`.
    fn cmd(&self, host: &str, prog: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host)]).arg(prog);
        c
    }
    /// Cut (`false`) or restore (`true`) a host's link at the switch.
    fn link(&self, host: &str, up: bool) {
        let n = self.hosts.iter().find(|(h, _)| h == host).unwrap().1;
        let state = if up { "up" } else { "down" };
        sh(&[
            "ip",
            "-n",
            &self.ns("br"),
            "link",
            "set",
            &format!("p{n}"),
            state,
        ]);
    }
    /// Drop `pct` % of the packets `host` receives from the network.
    fn loss(&self, host: &str, pct: u32) {
        let rules = format!(
            "table inet loss {{\n chain input {{\n type filter hook input priority 0;\n \
             iifname \"eth0\" numgen random mod 100 < {pct} counter drop\n }}\n}}\n"
        );
        let mut c = Command::new("ip")
            .args(["netns", "exec", &self.ns(host), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("nft (nftables: scripts/test.sh installs it)");
        c.stdin.take().unwrap().write_all(rules.as_bytes()).unwrap();
        assert!(c.wait().unwrap().success(), "nft on {host}");
    }
    /// Packets the `loss` rule dropped on `host`.
    fn dropped(&self, host: &str) -> u64 {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(host),
                "nft",
                "list",
                "table",
                "inet",
                "loss",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        let n = text.split("counter packets ").nth(1).unwrap_or("0");
        n.split_whitespace().next().unwrap().parse().unwrap()
    }
    fn remove(&self) {
        let names = self
            .hosts
            .iter()
            .map(|(h, _)| self.ns(h))
            .chain([self.ns("br")]);
        for ns in names {
            if let Ok(o) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A child killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_eopf-geozarr"))
        .parent()
        .unwrap()
        .join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Where a host reaches the scheduler and the S3 server.
struct Route {
    sched: String,
    s3: String,
}

fn finish(c: Child) -> (Output, String) {
    let o = c.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    (o, e)
}

#[test]
fn cluster_across_network_namespaces_survives_cuts_and_serves_two_clients() {
    let hosts = [
        ("sched", 1),
        ("w1", 11),
        ("w2", 12),
        ("w3", 13),
        ("client", 20),
        ("client2", 21),
        ("s3", 30),
    ];
    let net = Net::new(&hosts);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // the product, and the in-process reference
    let input = d.join("in.zarr");
    cli_ok(&["synth", s(&input), "--scale", "4"]);
    let reference = d.join("ref.zarr");
    cli_ok(&["convert", s(&input), s(&reference)]);
    let total = count_chunks(&reference);

    // the S3 host: s3s-fs serving root/bucket, holding the input
    let root = d.join("s3");
    std::fs::create_dir_all(root.join("bucket")).unwrap();
    sh(&["cp", "-r", s(&input), s(&root.join("bucket/in.zarr"))]);
    let s3s = std::env::var("S3S_FS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo/bin/s3s-fs")
        });
    let _s3 = Proc(
        net.cmd("s3", &s3s)
            .args(["--host", "0.0.0.0", "--port", "9000", "--access-key", KEY])
            .args(["--secret-key", SECRET, s(&root)])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs (scripts/test.sh installs it)"),
    );
    let direct = Route {
        sched: format!("https://{}:8786", net.addr("sched")),
        s3: format!("http://{}:9000", net.addr("s3")),
    };

    // certificates: the scheduler's names its address
    let pki = Pki::new(d, "cluster");
    let other = Pki::new(d, "other");
    let (scert, skey) = pki.leaf("sched", &[&net.addr("sched")]);
    let (wcert, wkey) = pki.leaf("worker", &["worker"]);
    let (xcert, xkey) = other.leaf("stranger", &["stranger"]);

    let mut sched = net
        .cmd("sched", &bin("geozarr-scheduler"))
        .args(["--listen", "0.0.0.0:8786", "--dashboard", "0.0.0.0:8787"])
        .args([
            "--tls-cert",
            s(&scert),
            "--tls-key",
            s(&skey),
            "--tls-client-ca",
        ])
        .arg(pki.ca())
        .env("GEOZARR_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(sched.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on 0.0.0.0:8786"), "{line:?}");
    // keep its stdout open (the dashboard line follows)
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let _sched = Proc(sched);

    let worker = |host: &str, cert: &Path, key: &Path, token: &str, to: &Route, slots: u32| {
        net.cmd(host, &bin("geozarr-worker"))
            .args([
                "--scheduler",
                &to.sched,
                "--slots",
                &slots.to_string(),
                "--connect-wait",
                "5",
            ])
            .args([
                "--tls-ca",
                s(&pki.ca()),
                "--tls-cert",
                s(cert),
                "--tls-key",
                s(key),
            ])
            .env("GEOZARR_TOKEN", token)
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_ENDPOINT_URL", &to.s3)
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let client = |host: &str, out: &str, to: &Route| {
        net.cmd(host, &bin("eopf-geozarr"))
            .args([
                "convert",
                "s3://bucket/in.zarr",
                &format!("s3://bucket/{out}"),
            ])
            .args(["--scheduler", &to.sched, "--verbose"])
            .args([
                "--tls-ca",
                s(&pki.ca()),
                "--tls-cert",
                s(&wcert),
                "--tls-key",
                s(&wkey),
            ])
            .env("GEOZARR_TOKEN", TOKEN)
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_ENDPOINT_URL", &to.s3)
            .env("AWS_REGION", "us-east-1")
            .env("HOME", d)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // 1. strangers are refused: another CA's certificate, a wrong token
    let (o, e) = finish(worker("w3", &xcert, &xkey, TOKEN, &direct, 1));
    assert!(!o.status.success() && e.contains(&direct.sched), "{e}");
    let (o, e) = finish(worker("w3", &wcert, &wkey, "wrong-token", &direct, 1));
    assert!(!o.status.success() && e.contains("token"), "{e}");
    assert!(!e.contains(TOKEN), "{e}");
    let workers: Vec<Proc> = ["w1", "w2", "w3"]
        .iter()
        .map(|h| Proc(worker(h, &wcert, &wkey, TOKEN, &direct, 1)))
        .collect();
    // baseline over mutual TLS, data through S3 across the network
    let t = Instant::now();
    let (o, e) = finish(client("client", "base.zarr", &direct));
    assert!(o.status.success(), "{e}");
    let baseline = t.elapsed().as_secs_f64();
    assert_same_store(&reference, &root.join("bucket/base.zarr"));

    // 2. a worker's link cut for 15 s mid-job
    let out = root.join("bucket/cut.zarr");
    let c = client("client", "cut.zarr", &direct);
    wait_for("a few chunks", Duration::from_secs(60), || {
        count_chunks(&out) >= 10
    });
    assert!(count_chunks(&out) < total, "the job ended before the cut");
    net.link("w1", false);
    let cut_at = Instant::now();
    std::thread::sleep(Duration::from_secs(15));
    net.link("w1", true);
    let (o, e) = finish(c);
    assert!(o.status.success(), "{e}");
    if cut_at.elapsed() > Duration::from_secs(10) {
        assert!(e.contains("worker silent for 10 s; retrying"), "{e}");
    }
    assert_same_store(&reference, &out);
    // it rejoins: the scheduler lists three workers again
    let status = || {
        let o = net
            .cmd("client", Path::new("curl"))
            .args(["-sS", "--cacert", s(&pki.ca())])
            .arg(format!("https://{}:8787/api/status", net.addr("sched")))
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap_or_default()
    };
    wait_for("w1 back", Duration::from_secs(60), || {
        status()["workers"].as_array().map_or(0, Vec::len) == 3
    });

    // 4. the scheduler's link cut for 5 s: nothing lost, nothing re-run
    let out = root.join("bucket/sched-cut.zarr");
    let c = client("client", "sched-cut.zarr", &direct);
    wait_for("a few chunks", Duration::from_secs(60), || {
        count_chunks(&out) >= 10
    });
    net.link("sched", false);
    std::thread::sleep(Duration::from_secs(5));
    net.link("sched", true);
    let (o, e) = finish(c);
    assert!(o.status.success(), "{e}");
    assert!(!e.contains("retrying"), "a task was re-run: {e}");
    assert_same_store(&reference, &out);

    // 5. two clients on two hosts at once: both progress side by side
    let (a, b) = (
        root.join("bucket/two-a.zarr"),
        root.join("bucket/two-b.zarr"),
    );
    let (ca, cb) = (
        client("client", "two-a.zarr", &direct),
        client("client2", "two-b.zarr", &direct),
    );
    let mut side_by_side = 0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(180) {
        let (na, nb) = (count_chunks(&a), count_chunks(&b));
        if na > 0 && nb > 0 && na < total && nb < total {
            side_by_side += 1;
        }
        if na == total && nb == total {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for c in [ca, cb] {
        let (o, e) = finish(c);
        assert!(o.status.success(), "{e}");
    }
    assert!(side_by_side > 0, "the second job waited for the first");
    assert_same_store(&reference, &a);
    assert_same_store(&reference, &b);
    drop(workers);

    // 3. 50 ms each way and 1 % packet loss on every link: new workers and
    //    a client reach the scheduler and S3 only through delaying proxies
    //    on their hosts, and every host loses 1 % of what it receives
    let delay = Duration::from_millis(50);
    let at = |host: &str, port: u16| format!("{}:{port}", net.addr(host)).parse().unwrap();
    let _proxies = [
        delay::start(
            &net.ns("sched"),
            at("sched", 9786),
            "127.0.0.1:8786".parse().unwrap(),
            delay,
        ),
        delay::start(
            &net.ns("s3"),
            at("s3", 9900),
            "127.0.0.1:9000".parse().unwrap(),
            delay,
        ),
    ];
    let slow = Route {
        sched: format!("https://{}:9786", net.addr("sched")),
        s3: format!("http://{}:9900", net.addr("s3")),
    };
    let names: Vec<&str> = hosts.iter().map(|(h, _)| *h).collect();
    for h in &names {
        net.loss(h, 1);
    }
    // the same workers (one slot each), then with 4 slots each to hide
    // the latency (one conversion at a time, each with its own workers)
    let mut times = vec![];
    for slots in [1, 4] {
        let workers: Vec<Proc> = ["w1", "w2", "w3"]
            .iter()
            .map(|h| Proc(worker(h, &wcert, &wkey, TOKEN, &slow, slots)))
            .collect();
        let name = format!("slow-{slots}.zarr");
        let t = Instant::now();
        let (o, e) = finish(client("client", &name, &slow));
        assert!(o.status.success(), "{e}");
        times.push(t.elapsed().as_secs_f64());
        assert_same_store(&reference, &root.join("bucket").join(&name));
        drop(workers);
    }
    let dropped: u64 = names.iter().map(|h| net.dropped(h)).sum();
    assert!(dropped > 0, "the loss rules dropped nothing");
    eprintln!(
        "scenario 3 (50 ms each way, 1 % loss; {dropped} packets dropped): 3 workers \
         with 1 slot {:.1} s against {baseline:.1} s on the plain network ({:.1}x); \
         with 4 slots {:.1} s ({:.1}x)",
        times[0],
        times[0] / baseline,
        times[1],
        times[1] / baseline
    );
}
