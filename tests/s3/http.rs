//! Minimal HTTP/1.1 plumbing for the tests: request-head parsing, a static
//! file server with Range support (the "HTTPS input" stand-in on 127.0.0.1).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A parsed request head (plus its raw bytes, for forwarding).
pub struct Head {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn content_length(&self) -> usize {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }
    /// Serialise again, replacing `Connection` with `close`.
    pub fn to_bytes_close(&self) -> Vec<u8> {
        let mut s = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        for (k, v) in &self.headers {
            if !k.eq_ignore_ascii_case("connection") {
                s.push_str(&format!("{k}: {v}\r\n"));
            }
        }
        s.push_str("Connection: close\r\n\r\n");
        s.into_bytes()
    }
}

/// Read one request head; `None` at end of stream.
pub fn read_head(r: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = vec![];
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding")),
        "chunked request bodies are not supported by the test plumbing"
    );
    Some(Head {
        method,
        target,
        headers,
    })
}

/// A TCP server on 127.0.0.1 handing each connection to `handler` on its
/// own thread; stops accepting when dropped.
pub struct Serving {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Serving {
    pub fn start(handler: impl Fn(TcpStream) + Send + Sync + 'static) -> Serving {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let h = handler.clone();
                std::thread::spawn(move || h(conn));
            }
        });
        Serving { port, stop }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A static file server over a directory, honouring `Range: bytes=a-b`.
pub struct StaticServer {
    pub serving: Serving,
    /// Requests answered with 206 Partial Content.
    pub range_requests: Arc<AtomicU64>,
    /// All requests.
    pub requests: Arc<AtomicU64>,
}

impl StaticServer {
    /// Serve `root`; `ranges` = honour Range headers (else always 200 + whole body).
    pub fn start(root: PathBuf, ranges: bool) -> StaticServer {
        let (range_requests, requests) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (rr, rq) = (range_requests.clone(), requests.clone());
        StaticServer {
            serving: Serving::start(move |conn| serve(conn, &root, ranges, &rr, &rq)),
            range_requests,
            requests,
        }
    }

    pub fn port(&self) -> u16 {
        self.serving.port
    }
}

fn serve(conn: TcpStream, root: &std::path::Path, ranges: bool, rr: &AtomicU64, rq: &AtomicU64) {
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(head) = read_head(&mut r) {
        rq.fetch_add(1, Ordering::SeqCst);
        let mut body = vec![0; head.content_length()];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let path = head.target.split('?').next().unwrap_or("/");
        let rel = path.trim_start_matches('/');
        let file = root.join(rel);
        let ok_path = !rel.split('/').any(|s| s == "..");
        let data = if ok_path && file.is_file() {
            std::fs::read(&file).ok()
        } else {
            None
        };
        let (status, extra, payload): (&str, String, Vec<u8>) = match (&*head.method, data) {
            ("GET" | "HEAD", Some(d)) => {
                match head
                    .header("range")
                    .filter(|_| ranges)
                    .and_then(|v| parse_range(v, d.len()))
                {
                    Some((a, b)) => {
                        rr.fetch_add(1, Ordering::SeqCst);
                        (
                            "206 Partial Content",
                            format!("Content-Range: bytes {a}-{b}/{}\r\n", d.len()),
                            d[a..=b].to_vec(),
                        )
                    }
                    None => ("200 OK", String::new(), d),
                }
            }
            ("GET" | "HEAD", None) => ("404 Not Found", String::new(), vec![]),
            _ => ("405 Method Not Allowed", String::new(), vec![]),
        };
        let head_only = head.method == "HEAD";
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n\
             Last-Modified: Wed, 25 Nov 2026 12:00:00 GMT\r\nETag: \"{}\"\r\n{extra}\r\n",
            payload.len(),
            payload.len()
        );
        if w.write_all(resp.as_bytes()).is_err() || (!head_only && w.write_all(&payload).is_err()) {
            return;
        }
    }
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → inclusive (start, end).
fn parse_range(v: &str, len: usize) -> Option<(usize, usize)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    if len == 0 {
        return None;
    }
    let (a, b) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: usize = n.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().ok()?, len - 1),
        (a, b) => (a.parse().ok()?, b.parse::<usize>().ok()?.min(len - 1)),
    };
    (a <= b).then_some((a, b))
}
