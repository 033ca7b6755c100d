//! A loopback HTTP server for tests (127.0.0.1, a free port): serves files from memory, with
//! byte ranges, and counts requests. Nothing in the tests reaches the internet.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tiny_http::{Header, Response, Server};

/// One served resource: its body and extra headers.
#[derive(Clone, Debug)]
pub struct Resource {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// The server; stops when dropped.
pub struct LocalServer {
    server: Arc<Server>,
    thread: Option<JoinHandle<()>>,
    pub requests: Arc<AtomicUsize>,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl LocalServer {
    /// Serves `routes` (path -> resource; anything else is a 404) on 127.0.0.1.
    pub fn start(routes: BTreeMap<String, Resource>) -> Self {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let requests = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s, n, l) = (server.clone(), requests.clone(), log.clone());
        let thread = std::thread::spawn(move || {
            for request in s.incoming_requests() {
                n.fetch_add(1, Ordering::SeqCst);
                let path = request.url().split('?').next().unwrap_or("").to_owned();
                l.lock().unwrap().push(path.clone());
                let range =
                    request.headers().iter().find(|h| h.field.equiv("Range")).map(|h| h.value.as_str().to_owned());
                let response = match routes.get(&path) {
                    None => Response::from_data(b"not found".to_vec()).with_status_code(404),
                    Some(r) => respond(r, range.as_deref()),
                };
                let _ = request.respond(response);
            }
        });
        LocalServer { server, thread: Some(thread), requests, log }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.server_addr().to_ip().expect("ip address"))
    }
}

fn respond(r: &Resource, range: Option<&str>) -> Response<std::io::Cursor<Vec<u8>>> {
    let size = r.body.len();
    let (status, body, content_range) = match range.and_then(|v| v.strip_prefix("bytes=")) {
        Some(spec) => {
            let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
            let start: usize = a.parse().unwrap_or(0).min(size);
            let end: usize = if b.is_empty() { size.saturating_sub(1) } else { b.parse().unwrap_or(0) };
            let end = end.min(size.saturating_sub(1));
            let body = if start <= end && size > 0 { r.body[start..=end].to_vec() } else { Vec::new() };
            (206, body, Some(format!("bytes {start}-{end}/{size}")))
        }
        None => (200, r.body.clone(), None),
    };
    let mut response = Response::from_data(body).with_status_code(status);
    for (k, v) in
        r.headers.iter().map(|(k, v)| (k.clone(), v.clone())).chain(content_range.map(|c| ("Content-Range".into(), c)))
    {
        response.add_header(Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("header"));
    }
    response
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
