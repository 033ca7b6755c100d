//! A loopback HTTP/1.1 server for the unit tests (127.0.0.1, a free port), written on raw TCP
//! so that tests control the bytes: byte ranges, a body cut short, a server that ignores
//! ranges, one that never answers. It logs every request (method, path, Range, body).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a path is served.
#[derive(Clone, Debug)]
pub enum Route {
    /// The bytes, with byte ranges (206).
    File(Vec<u8>),
    /// The first request without a Range gets the full Content-Length but only `after` bytes,
    /// then the connection closes; later requests are served like `File`.
    CutOnce { body: Vec<u8>, after: usize },
    /// Always the whole body with 200, whatever the Range.
    NoRange(Vec<u8>),
    /// Never answers (until the server stops).
    Stall,
    /// This status and a short body.
    Status(u16),
    /// A JSON body (for POST /crn/graphql).
    Json(String),
}

/// A logged request.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub body: String,
}

type Routes = Arc<Mutex<HashMap<String, (Route, bool)>>>;

/// The server; stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    routes: Routes,
    pub log: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(routes: Vec<(&str, Route)>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Routes =
            Arc::new(Mutex::new(routes.into_iter().map(|(p, r)| (p.to_owned(), (r, false))).collect()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, l, s) = (routes.clone(), log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (r, l, s) = (r.clone(), l.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = handle(stream, &r, &l, &s);
                });
            }
        });
        TestServer { addr, routes, log, stop, thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces (or adds) a route.
    pub fn set(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), (route, false));
    }

    /// The logged requests for `path`.
    pub fn requests(&self, path: &str) -> Vec<Req> {
        self.log.lock().unwrap().iter().filter(|r| r.path == path).cloned().collect()
    }
}

fn handle(stream: TcpStream, routes: &Routes, log: &Mutex<Vec<Req>>, stop: &AtomicBool) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").split('?').next().unwrap_or("").to_owned();
    let (mut range, mut length) = (None, 0usize);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "range" => range = Some(v.trim().to_owned()),
                "content-length" => length = v.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    log.lock().unwrap().push(Req {
        method,
        path: path.clone(),
        range: range.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let route = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&path) {
            None => None,
            Some((route, used)) => {
                let r = route.clone();
                let first = !*used && range.is_none();
                if range.is_none() {
                    *used = true;
                }
                Some((r, first))
            }
        }
    };
    let mut out = stream;
    match route {
        None => respond(&mut out, 404, "text/plain", b"not found", &[]),
        Some((Route::Status(s), _)) => respond(&mut out, s, "text/plain", b"status", &[]),
        Some((Route::Json(j), _)) => respond(&mut out, 200, "application/json", j.as_bytes(), &[]),
        Some((Route::NoRange(b), _)) => respond(&mut out, 200, "application/octet-stream", &b, &[]),
        Some((Route::Stall, _)) => {
            for _ in 0..100 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
        Some((Route::CutOnce { body, after }, true)) => {
            write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
            out.write_all(&body[..after])?;
            out.flush()?;
            out.shutdown(std::net::Shutdown::Both)
        }
        Some((Route::File(body) | Route::CutOnce { body, .. }, _)) => serve_range(&mut out, &body, range.as_deref()),
    }
}

fn serve_range(out: &mut TcpStream, body: &[u8], range: Option<&str>) -> std::io::Result<()> {
    let Some(spec) = range.and_then(|r| r.strip_prefix("bytes=")) else {
        return respond(out, 200, "application/octet-stream", body, &[]);
    };
    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
    let start: usize = a.parse().unwrap_or(0);
    if start >= body.len() {
        return respond(out, 416, "text/plain", b"", &[format!("Content-Range: bytes */{}", body.len())]);
    }
    let end: usize = if b.is_empty() { body.len() - 1 } else { b.parse::<usize>().unwrap_or(0).min(body.len() - 1) };
    respond(
        out,
        206,
        "application/octet-stream",
        &body[start..=end],
        &[format!("Content-Range: bytes {start}-{end}/{}", body.len())],
    )
}

fn respond(out: &mut TcpStream, status: u16, kind: &str, body: &[u8], extra: &[String]) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
