//! A delaying TCP proxy on a test host, for kernels without `tc netem`:
//! it listens inside the host's network namespace and forwards each
//! connection to a server there, holding every byte back for a fixed delay
//! in each direction (in order, without limiting the rate, as a long link
//! does). Its threads enter the namespace with `setns`, so the sockets they
//! make live there.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// A running proxy; stops accepting on drop.
pub struct DelayProxy {
    stop: Arc<AtomicBool>,
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Move this thread into the network namespace `/run/netns/{ns}`.
fn enter(ns: &str) -> std::io::Result<()> {
    let f = std::fs::File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: setns on a valid namespace fd affects only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Listen on `listen` in namespace `ns` and forward to `target` there, each
/// direction delayed by `delay`.
pub fn start(ns: &str, listen: SocketAddr, target: SocketAddr, delay: Duration) -> DelayProxy {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready, bound) = mpsc::channel();
    let (name, halt) = (ns.to_string(), stop.clone());
    std::thread::spawn(move || {
        let listener = enter(&name).and_then(|()| {
            let l = TcpListener::bind(listen)?;
            l.set_nonblocking(true)?;
            Ok(l)
        });
        let listener = match listener {
            Ok(l) => {
                ready.send(Ok(())).unwrap();
                l
            }
            Err(e) => return ready.send(Err(e)).unwrap(),
        };
        // threads spawned from here inherit the namespace
        while !halt.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((down, _)) => {
                    std::thread::spawn(move || connection(down, target, delay));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    bound
        .recv()
        .unwrap()
        .unwrap_or_else(|e| panic!("delay proxy on {listen} in {ns}: {e}"));
    DelayProxy { stop }
}

fn connection(down: TcpStream, target: SocketAddr, delay: Duration) {
    let Ok(up) = TcpStream::connect(target) else {
        return;
    };
    down.set_nonblocking(false).unwrap();
    for s in [&down, &up] {
        let _ = s.set_nodelay(true);
    }
    let (down2, up2) = (down.try_clone().unwrap(), up.try_clone().unwrap());
    std::thread::spawn(move || pipe(down2, up2, delay));
    pipe(up, down, delay);
}

/// Copy `from` to `to`, each read written `delay` after it arrived.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let writer = std::thread::spawn(move || {
        for (due, bytes) in rx {
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if bytes.is_empty() {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            if to.write_all(&bytes).is_err() {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    });
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        if tx
            .send((Instant::now() + delay, buf[..n].to_vec()))
            .is_err()
            || n == 0
        {
            break;
        }
    }
    drop(tx);
    let _ = writer.join();
    let _ = from.shutdown(Shutdown::Read);
}
