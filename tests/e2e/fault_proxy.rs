//! A fault-injecting HTTP/1.1 proxy on 127.0.0.1, put in front of the real registry: idpush's
//! DEST names the proxy's port, the proxy forwards each request to the registry unless a rule
//! says to misbehave. Rules match a request by method and path and fire a given number of
//! times: answer a status (503, 429 with Retry-After, 403 …), reset the connection in the
//! middle of the request body, stall without answering, or send response headers and then drop
//! the connection. Every request is logged with the fault it got, so tests count attempts.
//!
//! One request per connection (each response says `Connection: close`), std threads only,
//! loopback only; a stall is bounded and ends when the proxy is dropped. Like Go's net/http
//! (the real registry), a TLS ClientHello gets a plain `400 Bad Request` (see
//! [`refuse_tls_hello`]), so idpush's HTTPS-first probe of a loopback DEST falls back to http.
//! The log records the request body bytes the proxy read from idpush and forwarded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Which requests a rule applies to: `(method, path with query)`.
pub type Matcher = fn(&str, &str) -> bool;

/// What to do instead of forwarding.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Read the whole request, answer this status with these extra headers and body.
    Status { code: u16, headers: Vec<(String, String)>, body: String },
    /// Read about 1 KiB of the request body, then close with the rest unread (the kernel
    /// answers the client with a TCP reset).
    ResetMidBody,
    /// Read the request, then say nothing for this long (or until the proxy is dropped).
    Stall(Duration),
    /// Read the request, send `200 OK` headers announcing a body, then close.
    DropAfterHeaders,
}

impl Fault {
    pub fn status(code: u16) -> Fault {
        Fault::Status { code, headers: Vec::new(), body: String::new() }
    }

    fn label(&self) -> String {
        match self {
            Fault::Status { code, .. } => format!("status {code}"),
            Fault::ResetMidBody => "reset mid-body".into(),
            Fault::Stall(_) => "stall".into(),
            Fault::DropAfterHeaders => "drop after headers".into(),
        }
    }
}

struct Rule {
    matcher: Matcher,
    fault: Fault,
    /// Matching requests to let through before the rule fires.
    skip: usize,
    left: usize,
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
pub struct Entry {
    pub method: String,
    pub path: String,
    /// The fault it got, or `None` if it was forwarded.
    pub fault: Option<String>,
    /// Request body bytes read from idpush (all of them for a forwarded request; what was
    /// read before the fault otherwise).
    pub body_bytes: u64,
}

struct Shared {
    upstream: String,
    rules: Mutex<Vec<Rule>>,
    log: Mutex<Vec<Entry>>,
    stop: AtomicBool,
    /// Request body bytes a second forwarded to the registry (0: as fast as they come).
    throttle: std::sync::atomic::AtomicU64,
}

pub struct FaultProxy {
    addr: String,
    shared: Arc<Shared>,
}

impl FaultProxy {
    /// A proxy on a free loopback port forwarding to `upstream` (`host:port`).
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            throttle: std::sync::atomic::AtomicU64::new(0),
        });
        let sh = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let sh2 = sh.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &sh2);
                });
            }
        });
        FaultProxy { addr, shared }
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The next `times` requests that `matcher` accepts get `fault`. Rules are tried in the
    /// order they were added.
    pub fn inject(&self, matcher: Matcher, fault: Fault, times: usize) {
        self.inject_after(matcher, 0, fault, times);
    }

    /// Like [`inject`](Self::inject), after letting `skip` matching requests through.
    pub fn inject_after(&self, matcher: Matcher, skip: usize, fault: Fault, times: usize) {
        self.shared.rules.lock().unwrap().push(Rule { matcher, fault, skip, left: times });
    }

    /// Forwards request bodies at about `bytes_per_sec` (a slow link, so a push lasts long
    /// enough to watch its progress).
    pub fn throttle(&self, bytes_per_sec: u64) {
        self.shared.throttle.store(bytes_per_sec, Ordering::SeqCst);
    }

    /// Request body bytes read from idpush for the requests `matcher` accepts.
    pub fn body_bytes(&self, matcher: Matcher) -> u64 {
        self.log().iter().filter(|e| matcher(&e.method, &e.path)).map(|e| e.body_bytes).sum()
    }

    pub fn log(&self) -> Vec<Entry> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests seen that `matcher` accepts (faulted or not).
    pub fn count(&self, matcher: Matcher) -> usize {
        self.log().iter().filter(|e| matcher(&e.method, &e.path)).count()
    }

    /// Requests that got a fault.
    pub fn faulted(&self) -> usize {
        self.log().iter().filter(|e| e.fault.is_some()).count()
    }

    /// The log as lines, for failure messages.
    pub fn describe(&self) -> String {
        self.log()
            .iter()
            .map(|e| format!("{} {} ({} bytes) -> {}", e.method, e.path, e.body_bytes, e.fault.as_deref().unwrap_or("forwarded")))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

// Matchers for the requests of a push.

/// `PUT …/blobs/uploads/…` (the upload of a blob's bytes).
pub fn blob_put(method: &str, path: &str) -> bool {
    method == "PUT" && path.contains("/blobs/uploads/")
}

/// `POST …/blobs/uploads/` (starting an upload session).
pub fn upload_start(method: &str, path: &str) -> bool {
    method == "POST" && path.contains("/blobs/uploads/")
}

/// `PATCH …/blobs/uploads/…` (a chunk of a chunked upload).
pub fn blob_patch(method: &str, path: &str) -> bool {
    method == "PATCH" && path.contains("/blobs/uploads/")
}

/// `PUT …/manifests/…`
pub fn manifest_put(method: &str, path: &str) -> bool {
    method == "PUT" && path.contains("/manifests/")
}

/// `HEAD …/blobs/sha256:…`
pub fn blob_head(method: &str, path: &str) -> bool {
    method == "HEAD" && path.contains("/blobs/sha256:")
}

/// `GET /v2/`
pub fn ping(method: &str, path: &str) -> bool {
    method == "GET" && path == "/v2/"
}

/// Reads the request head (up to the blank line, at most 64 KiB): request line and headers.
fn read_head(r: &mut impl BufRead) -> std::io::Result<Option<(String, Vec<String>)>> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut headers = Vec::new();
    let mut total = first.len();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line)?;
        total += n;
        if n == 0 || total > 64 * 1024 {
            return Ok(None);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    Ok(Some((first.trim_end().to_string(), headers)))
}

fn header<'a>(headers: &'a [String], name: &str) -> Option<&'a str> {
    headers.iter().find_map(|h| {
        let (k, v) = h.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn content_length(headers: &[String]) -> u64 {
    header(headers, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Whatever",
    }
}

/// If the client opened with a TLS handshake (first byte 0x16, a handshake record), answers
/// it the way Go's net/http does, `400 Bad Request` in plain text, and returns true. Test
/// servers that stand in for a plain-HTTP registry on a loopback DEST call this first: idpush
/// tries HTTPS there and falls back to http only on such an answer.
pub fn refuse_tls_hello(conn: &TcpStream) -> bool {
    let mut first = [0u8; 1];
    if !matches!(conn.peek(&mut first), Ok(1)) || first[0] != 0x16 {
        return false;
    }
    let mut out = conn;
    let _ = out.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request");
    let _ = out.flush();
    // Read what the client sent, so closing does not reset the connection before it reads.
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = std::io::copy(&mut conn.take(64 * 1024), &mut std::io::sink());
    let _ = conn.shutdown(Shutdown::Both);
    true
}

fn serve(conn: TcpStream, sh: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    if refuse_tls_hello(&conn) {
        return Ok(());
    }
    let mut client = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let Some((line, headers)) = read_head(&mut client)? else { return Ok(()) };
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let fault = {
        let mut rules = sh.rules.lock().unwrap();
        let mut fired = None;
        for r in rules.iter_mut().filter(|r| r.left > 0 && (r.matcher)(&method, &path)) {
            if r.skip > 0 {
                r.skip -= 1;
                continue;
            }
            r.left -= 1;
            fired = Some(r.fault.clone());
            break;
        }
        fired
    };
    let len = content_length(&headers);
    let index = {
        let mut log = sh.log.lock().unwrap();
        log.push(Entry { method: method.clone(), path: path.clone(), fault: fault.as_ref().map(Fault::label), body_bytes: 0 });
        log.len() - 1
    };
    let count = |n: u64| sh.log.lock().unwrap()[index].body_bytes += n;
    match fault {
        None => forward(&line, &headers, len, &mut client, &mut out, sh, &count),
        Some(Fault::Status { code, headers: extra, body }) => {
            count(std::io::copy(&mut (&mut client).take(len), &mut std::io::sink())?);
            let mut head = format!("HTTP/1.1 {code} {}\r\n", reason(code));
            for (k, v) in extra {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()));
            out.write_all(head.as_bytes())
        }
        Some(Fault::ResetMidBody) => {
            let mut buf = vec![0; 1024.min(len as usize)];
            client.read_exact(&mut buf)?;
            count(buf.len() as u64);
            // Let more of the body arrive, then close with it unread: the kernel sends RST.
            std::thread::sleep(Duration::from_millis(100));
            drop(client);
            drop(out);
            Ok(())
        }
        Some(Fault::Stall(d)) => {
            count(std::io::copy(&mut (&mut client).take(len), &mut std::io::sink())?);
            let end = Instant::now() + d;
            while Instant::now() < end && !sh.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = out.shutdown(Shutdown::Both);
            Ok(())
        }
        Some(Fault::DropAfterHeaders) => {
            count(std::io::copy(&mut (&mut client).take(len), &mut std::io::sink())?);
            out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"a\":")?;
            out.flush()?;
            let _ = out.shutdown(Shutdown::Both);
            Ok(())
        }
    }
}

/// Sends the request to the registry (with `Connection: close`), streams the body across, and
/// copies the response back with `Connection: close` in place of any Connection header.
fn forward(
    line: &str,
    headers: &[String],
    len: u64,
    client: &mut BufReader<TcpStream>,
    out: &mut TcpStream,
    sh: &Shared,
    count: &dyn Fn(u64),
) -> std::io::Result<()> {
    let up = TcpStream::connect(&sh.upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut up_w = up.try_clone()?;
    let mut head = format!("{line}\r\n");
    for h in headers {
        let name = h.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    up_w.write_all(head.as_bytes())?;
    match sh.throttle.load(Ordering::SeqCst) {
        0 => count(std::io::copy(&mut client.take(len), &mut up_w)?),
        rate => {
            // 1/20 s worth at a time.
            let mut buf = vec![0; (rate / 20).max(1) as usize];
            let mut left = len;
            while left > 0 && !sh.stop.load(Ordering::SeqCst) {
                let want = left.min(buf.len() as u64) as usize;
                let n = client.read(&mut buf[..want])?;
                if n == 0 {
                    break;
                }
                up_w.write_all(&buf[..n])?;
                count(n as u64);
                left -= n as u64;
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    up_w.flush()?;

    let mut up_r = BufReader::new(up);
    let Some((status, resp_headers)) = read_head(&mut up_r)? else { return Ok(()) };
    let mut resp = format!("{status}\r\n");
    for h in &resp_headers {
        let name = h.split(':').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
            continue;
        }
        resp.push_str(h);
        resp.push_str("\r\n");
    }
    resp.push_str("Connection: close\r\n\r\n");
    out.write_all(resp.as_bytes())?;
    std::io::copy(&mut up_r, out)?;
    out.flush()?;
    let _ = out.shutdown(Shutdown::Write);
    Ok(())
}
