//! For unit tests: reading one HTTP/1.1 request off a socket, as the fake registries in the
//! tests need it (request line, headers, a Content-Length body; nothing more).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;

pub struct Request {
    pub method: String,
    pub target: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one request; panics on anything malformed (the tests write the clients).
pub fn read_request(stream: &TcpStream) -> Request {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let mut req = Request { method, target, headers, body: Vec::new() };
    let length: usize = req.header("content-length").map_or(0, |v| v.parse().unwrap());
    req.body = vec![0; length];
    reader.read_exact(&mut req.body).unwrap();
    req
}

/// A loopback server answering each request (one per connection) with the raw bytes
/// `respond` returns for it; runs until the test process ends. Returns `http://127.0.0.1:PORT`.
pub fn serve(respond: impl Fn(&Request) -> Vec<u8> + Send + Sync + 'static) -> String {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let respond = std::sync::Arc::new(respond);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let respond = respond.clone();
            std::thread::spawn(move || {
                let req = read_request(&stream);
                let _ = stream.write_all(&respond(&req));
            });
        }
    });
    base
}

/// `HTTP/1.1 <status>`, the header lines given (each without CRLF), Content-Length, close.
pub fn response(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()));
    out.into_bytes()
}

/// Like [`serve`], but each connection stays open for further requests (HTTP/1.1 keep-alive)
/// until the client closes it; answers should come from [`keep_alive_response`]. Returns the
/// base URL and the count of connections accepted.
pub fn serve_keep_alive(
    respond: impl Fn(&Request) -> Vec<u8> + Send + Sync + 'static,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let respond = std::sync::Arc::new(respond);
    let connections = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let respond = respond.clone();
            std::thread::spawn(move || loop {
                let req = read_request(&stream);
                if req.method.is_empty() {
                    return; // the client closed the connection
                }
                if stream.write_all(&respond(&req)).is_err() {
                    return;
                }
            });
        }
    });
    (base, connections)
}

/// `HTTP/1.1 <status>`, the header lines given, Content-Length; the connection stays open.
pub fn keep_alive_response(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\n");
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out.into_bytes()
}
