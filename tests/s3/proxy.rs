//! A fault-injecting HTTP proxy between the converter and the S3 server:
//! answers a share of requests with 503 SlowDown, drops the connection
//! without an answer, delays them, or denies PUTs, deterministically from the
//! request number. One request per connection (`Connection: close`).

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{read_head, Serving};

/// What to inject (percentages of requests).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub unavailable_pct: u64,
    pub drop_pct: u64,
    pub delay_pct: u64,
    pub delay: Duration,
    /// From this request number on, every request gets a 503.
    pub fail_from: Option<u64>,
    /// Answer every PUT with 403 AccessDenied.
    pub deny_put: bool,
    /// Answer every bucket listing with 403 AccessDenied.
    pub deny_list: bool,
}

/// Counters of what the proxy did.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub unavailable: AtomicU64,
    pub dropped: AtomicU64,
    pub delayed: AtomicU64,
    pub denied: AtomicU64,
    pub forwarded: AtomicU64,
}

pub struct FaultProxy {
    pub serving: Serving,
    pub stats: Arc<Stats>,
    pub faults: Arc<Mutex<Faults>>,
}

impl FaultProxy {
    pub fn start(upstream: u16, faults: Faults) -> FaultProxy {
        let stats = Arc::new(Stats::default());
        let faults = Arc::new(Mutex::new(faults));
        let (s, f) = (stats.clone(), faults.clone());
        FaultProxy {
            serving: Serving::start(move |conn| handle(conn, upstream, &s, &f)),
            stats,
            faults,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.serving.port)
    }

    pub fn count(&self, c: fn(&Stats) -> &AtomicU64) -> u64 {
        c(&self.stats).load(Ordering::SeqCst)
    }
}

/// A deterministic pseudo-random number in 0..100 for request `n`.
fn roll(n: u64, salt: u64) -> u64 {
    let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % 100
}

fn respond(mut w: &TcpStream, status: &str, code: &str) {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
         <Message>injected by the test proxy</Message></Error>"
    );
    let _ = write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

fn handle(conn: TcpStream, upstream: u16, stats: &Stats, faults: &Mutex<Faults>) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let Some(head) = read_head(&mut r) else {
        return;
    };
    let mut body = vec![0; head.content_length()];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let n = stats.requests.fetch_add(1, Ordering::SeqCst);
    let f = faults.lock().unwrap().clone();
    if f.deny_put && head.method == "PUT" {
        stats.denied.fetch_add(1, Ordering::SeqCst);
        return respond(&conn, "403 Forbidden", "AccessDenied");
    }
    if f.deny_list && head.method == "GET" && head.target.contains("list-type=") {
        stats.denied.fetch_add(1, Ordering::SeqCst);
        return respond(&conn, "403 Forbidden", "AccessDenied");
    }
    if f.fail_from.is_some_and(|k| n >= k) || roll(n, 1) < f.unavailable_pct {
        stats.unavailable.fetch_add(1, Ordering::SeqCst);
        return respond(&conn, "503 Service Unavailable", "SlowDown");
    }
    if roll(n, 2) < f.drop_pct {
        stats.dropped.fetch_add(1, Ordering::SeqCst);
        let _ = conn.shutdown(Shutdown::Both);
        return;
    }
    if roll(n, 3) < f.delay_pct {
        stats.delayed.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(f.delay);
    }
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if up.write_all(&head.to_bytes_close()).is_err() || up.write_all(&body).is_err() {
        return;
    }
    let mut resp = vec![];
    if up.read_to_end(&mut resp).is_err() {
        return;
    }
    stats.forwarded.fetch_add(1, Ordering::SeqCst);
    let mut w = &conn;
    let _ = w.write_all(&resp);
    let _ = conn.shutdown(Shutdown::Both);
}
