//! The real S3 server of the tests: s3s-fs (SigV4 checked) on 127.0.0.1, one
//! per test, with a bucket `bucket` (a directory under its root).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Access key id of the test server.
pub const KEY: &str = "GZTESTKEY0000001";
/// Secret key of the test server (must never appear in any output).
pub const SECRET: &str = "s3cr3t-Qx7Lm2Vb9Tz4Wn8Rk1Hy6Jp3";

/// The s3s-fs binary: `$S3S_FS`, on PATH, or in `~/.cargo/bin` (scripts/test.sh
/// installs it there when missing).
fn s3s_fs() -> PathBuf {
    if let Ok(p) = std::env::var("S3S_FS") {
        return PathBuf::from(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(h).join("bin"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(h).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
        .expect(
            "s3s-fs not found: run scripts/test.sh (it installs it with \
             `cargo install s3s-fs@0.14.1 --features binary --locked`)",
        )
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct S3Server {
    pub port: u16,
    /// The server's data directory: `root/BUCKET/KEY` is an object.
    pub root: tempfile::TempDir,
    /// An empty HOME for the CLI (no ~/.aws of the machine).
    pub home: tempfile::TempDir,
    child: Child,
}

impl S3Server {
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("bucket")).unwrap();
        let log = std::fs::File::create(home.path().join("s3s-fs.log")).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(s3s_fs())
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", KEY, "--secret-key", SECRET])
                .arg(root.path())
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(log.try_clone().unwrap())
                .spawn()
                .expect("start s3s-fs");
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(20) {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return S3Server {
                        port,
                        root,
                        home,
                        child,
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break; // port taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "s3s-fs did not start: {}",
            std::fs::read_to_string(home.path().join("s3s-fs.log")).unwrap_or_default()
        );
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The directory holding the objects under `bucket/prefix`.
    pub fn dir(&self, bucket_and_prefix: &str) -> PathBuf {
        self.root.path().join(bucket_and_prefix)
    }

    /// Copy a local store into the bucket under `prefix` (an S3 input).
    pub fn upload_dir(&self, from: &Path, prefix: &str) {
        copy_dir(from, &self.dir(&format!("bucket/{prefix}")));
    }

    /// The CLI with an environment pointing at this server (and nothing of
    /// the machine's AWS setup).
    pub fn cli(&self) -> Command {
        self.cli_at(&self.endpoint())
    }

    /// The CLI pointed at another endpoint (a proxy, a dead port) with this
    /// server's credentials.
    pub fn cli_at(&self, endpoint: &str) -> Command {
        let mut c = super::common::bin();
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") {
                c.env_remove(k);
            }
        }
        c.env_remove("RUST_LOG")
            .env("HOME", self.home.path())
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_REGION", "us-east-1");
        c
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}
