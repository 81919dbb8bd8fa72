//! A local cluster: a `geozarr-scheduler` and N `geozarr-worker` processes
//! (`--local-workers N`, `--dask-cluster`, Python's `local_workers=N`),
//! children of this process that die with it, stopped at the end, on error,
//! on cancellation and on Ctrl-C. A [`Launcher`] says how to start them.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use geozarr_core::{Error, Result};

/// MB of decoded-chunk cache a local cluster hands out: each worker gets
/// this divided by the number of workers, but at least [`MIN_CACHE_MB`].
const LOCAL_CACHE_MB: usize = 1024;
/// The least cache a local worker gets (so 16 workers use 2 GB in all).
const MIN_CACHE_MB: usize = 128;

/// A random token for a local cluster (hex, 128 bits from `/dev/urandom`).
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// How a local cluster's processes are started.
#[derive(Clone, Debug)]
pub enum Launcher {
    /// The `geozarr-scheduler` and `geozarr-worker` executables in this
    /// directory (the CLI: next to itself, see [`bin_dir`]).
    Binaries(PathBuf),
    /// A program and its first arguments, to which the role
    /// (`geozarr-scheduler` or `geozarr-worker`) and that program's
    /// arguments are appended (the Python package: `python -m
    /// eopf_geozarr_rs._cluster`, which runs them from the extension).
    Command(Vec<OsString>),
}

impl Launcher {
    /// The command that starts `role`, or why it cannot be started.
    fn command(&self, role: &str) -> Result<(Command, String)> {
        match self {
            Launcher::Binaries(dir) => {
                let bin = binary(dir, role)?;
                let name = bin.display().to_string();
                Ok((child(Command::new(bin)), name))
            }
            Launcher::Command(argv) => {
                let (prog, rest) = argv
                    .split_first()
                    .ok_or_else(|| Error::Usage("empty local-cluster launcher".into()))?;
                let mut c = Command::new(prog);
                c.args(rest).arg(role);
                Ok((child(c), format!("{} ({role})", prog.to_string_lossy())))
            }
        }
    }
}

/// A child process that dies with this one (Linux `PR_SET_PDEATHSIG`), so
/// a killed client leaves no cluster behind.
fn child(mut c: Command) -> Command {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("RUST_LOG").is_none() {
        // the CLI reports failures itself; keep the children quiet
        c.env("RUST_LOG", "error");
    }
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    c
}

fn kill_all(children: &mut Vec<Child>) {
    for c in children.iter_mut() {
        let _ = c.kill();
    }
    for mut c in children.drain(..) {
        let _ = c.wait();
    }
}

/// A scheduler and workers started as child processes of this one; killed on drop.
pub struct LocalCluster {
    /// Scheduler URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its dashboard's URL, when it serves one.
    pub dashboard: Option<String>,
    scheduler: Mutex<Child>,
    workers: Mutex<Vec<Child>>,
}

/// Where the cluster binaries are: `GEOZARR_BIN_DIR`, else next to the
/// running executable.
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("GEOZARR_BIN_DIR") {
        return Ok(PathBuf::from(d));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::Usage(format!("cannot locate this executable: {e}")))?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

fn binary(dir: &Path, name: &str) -> Result<PathBuf> {
    let p = dir.join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(Error::Usage(format!(
            "{}: not found (the cluster binaries are built with `cargo build --release --workspace`; GEOZARR_BIN_DIR overrides the directory)",
            p.display()
        )))
    }
}

impl LocalCluster {
    /// Start `geozarr-scheduler --listen 127.0.0.1:0` (serving its
    /// dashboard on `dashboard`, or the next free port after it) and
    /// `workers` × `geozarr-worker --slots slots`, all sharing `token`.
    pub fn start(
        launcher: &Launcher,
        workers: usize,
        slots: u32,
        token: &str,
        dashboard: Option<SocketAddr>,
    ) -> Result<Self> {
        let (mut sched_cmd, sched_bin) = launcher.command("geozarr-scheduler")?;
        let (_, worker_bin) = launcher.command("geozarr-worker")?;
        sched_cmd.args(["--listen", "127.0.0.1:0"]);
        if let Some(d) = dashboard {
            sched_cmd.args(["--dashboard", &free_from(d).to_string()]);
        }
        let mut sched = sched_cmd
            .env("GEOZARR_TOKEN", token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Error::Task(format!("{sched_bin}: cannot start: {e}")))?;
        let stdout = sched.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let want = 1 + usize::from(dashboard.is_some());
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            for _ in 0..want {
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                let _ = tx.send(line);
            }
            // keep reading: a scheduler writing into a closed pipe would die
            let _ = std::io::copy(&mut r, &mut std::io::sink());
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let dash_line = match dashboard {
            Some(_) => rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default(),
            None => String::new(),
        };
        let (Some(addr), dashboard_url) = (
            line.trim().strip_prefix("listening on "),
            dash_line
                .trim()
                .strip_prefix("dashboard on ")
                .map(str::to_string),
        ) else {
            let _ = sched.kill();
            let _ = sched.wait();
            return Err(Error::Task(format!(
                "the local scheduler did not start ({sched_bin})"
            )));
        };
        if dashboard.is_some() && dashboard_url.is_none() {
            let _ = sched.kill();
            let _ = sched.wait();
            return Err(Error::Task(format!(
                "the local scheduler could not serve its dashboard ({sched_bin}); \
                 --dashboard off runs without it"
            )));
        }
        let url = format!("http://{addr}");
        let cluster = LocalCluster {
            url: url.clone(),
            dashboard: dashboard_url,
            scheduler: Mutex::new(sched),
            workers: Mutex::new(vec![]),
        };
        let cache_mb = cache_mb_per_worker(workers).to_string();
        for _ in 0..workers.max(1) {
            let w = launcher
                .command("geozarr-worker")?
                .0
                .args(["--scheduler", &url, "--slots", &slots.max(1).to_string()])
                .args(["--connect-wait", "10", "--cache-mb", &cache_mb])
                // its scheduler never comes back: stop with it
                .args(["--reconnect-wait", "0"])
                .env("GEOZARR_TOKEN", token)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| Error::Task(format!("{worker_bin}: cannot start: {e}")))?;
            cluster
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(w);
        }
        tracing::info!(workers, slots, "local cluster at {url}");
        Ok(cluster)
    }

    /// Kill the workers, then the scheduler, and reap them.
    pub fn kill(&self) {
        kill_all(&mut self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        let mut s = self.scheduler.lock().unwrap_or_else(|e| e.into_inner());
        let _ = s.kill();
        let _ = s.wait();
    }

    /// Why the cluster cannot go on, if so: scheduler or every worker exited.
    pub fn broken(&self) -> Option<String> {
        if let Ok(Some(st)) = self
            .scheduler
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_wait()
        {
            return Some(format!("the local scheduler exited ({st})"));
        }
        let mut ws = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = None;
        for w in ws.iter_mut() {
            match w.try_wait() {
                Ok(Some(st)) => last = Some(st),
                _ => return None,
            }
        }
        last.map(|st| format!("every local worker exited (last: {st})"))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The default address of a local cluster's dashboard (Dask's port).
pub const DASHBOARD: &str = "127.0.0.1:8787";

/// `addr`, or the next port after it that is free now (as Dask's
/// LocalCluster does when 8787 is taken); port 0 stays 0 (any port).
fn free_from(addr: SocketAddr) -> SocketAddr {
    if addr.port() == 0 {
        return addr;
    }
    (addr.port()..=addr.port().saturating_add(100))
        .map(|p| SocketAddr::new(addr.ip(), p))
        .find(|a| std::net::TcpListener::bind(a).is_ok())
        .unwrap_or(addr)
}

/// `--cache-mb` of each local worker: one machine's budget shared out
/// among them, but never less than [`MIN_CACHE_MB`] each.
fn cache_mb_per_worker(workers: usize) -> usize {
    (LOCAL_CACHE_MB / workers.max(1)).max(MIN_CACHE_MB)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_share_1024_mb_of_cache_but_get_at_least_128_each() {
        assert_eq!(cache_mb_per_worker(1), 1024);
        assert_eq!(cache_mb_per_worker(2), 512);
        assert_eq!(cache_mb_per_worker(8), 128);
        // more workers: 128 MB each, so the cluster uses more than 1024 MB
        assert_eq!(cache_mb_per_worker(16), 128);
        assert_eq!(16 * cache_mb_per_worker(16), 2048);
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_ne!(a, b);
    }
}
