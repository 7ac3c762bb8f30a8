//! A tiny Docker Engine API server on a Unix socket, enough for `idpush push`: it announces API
//! 1.44 (Engine 25+), describes one image, and streams that image's export tar (chunked), whole
//! or cut short. Every request is recorded, so a test can also assert that nothing connected.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const API_VERSION: &str = "1.44";

/// How the export tar (`GET /images/get`) is sent.
#[derive(Clone, Debug)]
pub enum Export {
    /// The whole tar, chunked, ending with the last-chunk marker.
    Full(Vec<u8>),
    /// These bytes only, then a clean end of the chunked body (`0\r\n\r\n`).
    TruncatedCleanEnd(Vec<u8>),
    /// These bytes only, then the connection is closed mid-body.
    TruncatedClose(Vec<u8>),
    /// These bytes, then nothing more until the server is dropped (to interrupt the client).
    Stall(Vec<u8>),
    /// The first `.1` bytes of `.0`, then nothing until the gate `.2` is set (or the server is
    /// dropped), then the rest: a test can make the client show what it does mid-export.
    Gated(Vec<u8>, usize, std::sync::Arc<AtomicBool>),
    /// The whole tar as `Full`, but only after this long without a byte (not even the
    /// response head), like Podman writing its temporary file.
    #[allow(dead_code)]
    SlowStart(Duration, Vec<u8>),
}

/// The image the fake daemon knows.
#[derive(Clone, Debug)]
pub struct FakeImage {
    /// `repo:tag`, as given on the idpush command line.
    pub name: String,
    /// `sha256:…` (the config digest).
    pub id: String,
    pub diff_ids: Vec<String>,
    pub size: u64,
    pub export: Export,
}

/// What a fake daemon with the containerd image store knows beyond the image.
#[derive(Clone, Debug, Default)]
pub struct Containerd {
    /// `Manifests` of `GET /images/{name}/json?manifests=1`.
    pub manifests: serde_json::Value,
    /// The export served when the request has a `platform` parameter (else the image's).
    pub platform_export: Option<Vec<u8>>,
}

struct Shared {
    image: Option<FakeImage>,
    /// The `Api-Version` announced.
    api: String,
    /// With the containerd image store: `GET /info` names it, `?manifests=1` lists these.
    containerd: Option<Containerd>,
    connections: AtomicUsize,
    requests: Mutex<Vec<String>>,
    export_started: AtomicBool,
    stop: AtomicBool,
}

pub struct FakeDaemon {
    path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDaemon {
    /// Listen on `dir`/d.sock. `image: None` makes a daemon that knows no image.
    pub fn start(dir: &Path, image: Option<FakeImage>) -> FakeDaemon {
        FakeDaemon::start_as(dir, image, API_VERSION, None)
    }

    /// [`FakeDaemon::start`] announcing API `api`, and with `containerd` an `/info` that names
    /// the containerd image store (else `/info` is not found, as before).
    pub fn start_as(dir: &Path, image: Option<FakeImage>, api: &str, containerd: Option<Containerd>) -> FakeDaemon {
        let path = dir.join("d.sock");
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display()));
        let shared = Arc::new(Shared {
            image,
            api: api.to_string(),
            containerd,
            connections: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            export_started: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let sh = shared.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sh.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                sh.connections.fetch_add(1, Ordering::SeqCst);
                let sh2 = sh.clone();
                std::thread::spawn(move || {
                    let _ = serve_connection(conn, &sh2);
                });
            }
        });
        FakeDaemon {
            path,
            shared,
            thread: Some(thread),
        }
    }

    /// `unix:///…/d.sock`
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// `METHOD PATH` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Whether the export body has started to be sent.
    pub fn export_started(&self) -> bool {
        self.shared.export_started.load(Ordering::SeqCst)
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Strip an API version prefix (`/v1.44/images/…` → `/images/…`).
fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        if let Some(slash) = rest.find('/') {
            let ver = &rest[..slash];
            if !ver.is_empty() && ver.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
                return &rest[slash..];
            }
        }
    }
    path
}

fn matches(image: &FakeImage, name: &str) -> bool {
    let name = name.trim();
    let candidates = [
        image.name.clone(),
        format!("docker.io/library/{}", image.name),
        format!("library/{}", image.name),
        image.id.clone(),
        image.id.trim_start_matches("sha256:").to_string(),
    ];
    candidates.iter().any(|c| c == name)
        || (!image.name.contains(':') && name == format!("{}:latest", image.name))
        || (image.name.ends_with(":latest") && name == image.name.trim_end_matches(":latest"))
}

fn respond(
    w: &mut UnixStream,
    api: &str,
    status: &str,
    content_type: &str,
    body: &[u8],
    head: bool,
) -> std::io::Result<()> {
    let mut h = format!(
        "HTTP/1.1 {status}\r\nApi-Version: {api}\r\nDocker-Experimental: false\r\nOstype: linux\r\n\
         Server: Docker/25.0.0 (linux)\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if head {
        h = h.replacen(
            &format!("Content-Length: {}", body.len()),
            "Content-Length: 0",
            1,
        );
    }
    w.write_all(h.as_bytes())?;
    if !head {
        w.write_all(body)?;
    }
    w.flush()
}

fn not_found(w: &mut UnixStream, api: &str, msg: &str, head: bool) -> std::io::Result<()> {
    let body = serde_json::json!({ "message": msg }).to_string();
    respond(
        w,
        api,
        "404 Not Found",
        "application/json",
        body.as_bytes(),
        head,
    )
}

fn write_chunks(w: &mut UnixStream, data: &[u8]) -> std::io::Result<()> {
    for chunk in data.chunks(16 * 1024) {
        w.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
        w.write_all(chunk)?;
        w.write_all(b"\r\n")?;
    }
    w.flush()
}

/// Serve requests on one connection until the client closes it. Returns Err to drop it.
fn serve_connection(conn: UnixStream, sh: &Shared) -> std::io::Result<()> {
    let api = sh.api.as_str();
    conn.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut content_length = 0usize;
        let mut close = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    content_length = v.trim().parse().unwrap_or(0);
                }
                if k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        if content_length > 0 {
            let mut sink = vec![0u8; content_length];
            r.read_exact(&mut sink)?;
        }
        sh.requests
            .lock()
            .unwrap()
            .push(format!("{method} {target}"));

        let head = method == "HEAD";
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let path = strip_version(path).to_string();
        let query = query.to_string();

        if path == "/_ping" {
            respond(&mut w, api, "200 OK", "text/plain; charset=utf-8", b"OK", head)?;
        } else if path == "/info" && sh.containerd.is_some() {
            let body = serde_json::json!({
                "ID": "e2e-fake", "Driver": "overlayfs", "ServerVersion": "29.1.0",
                "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]],
            })
            .to_string();
            respond(&mut w, api, "200 OK", "application/json", body.as_bytes(), head)?;
        } else if path == "/version" {
            let body = serde_json::json!({
                "Version": "25.0.0", "ApiVersion": api, "MinAPIVersion": "1.24",
                "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0",
                "GoVersion": "go1.21.6", "GitCommit": "e2e-fake",
            })
            .to_string();
            respond(&mut w, api, "200 OK", "application/json", body.as_bytes(), head)?;
        } else if let Some(name) = path
            .strip_prefix("/images/")
            .and_then(|p| p.strip_suffix("/json"))
        {
            let name = percent_decode(name);
            match &sh.image {
                Some(img) if matches(img, &name) => {
                    let mut body = serde_json::json!({
                        "Id": img.id,
                        "RepoTags": [img.name],
                        "RepoDigests": [],
                        "Size": img.size,
                        "Os": "linux",
                        "Architecture": "amd64",
                        "RootFS": { "Type": "layers", "Layers": img.diff_ids },
                    });
                    if let Some(c) = sh.containerd.as_ref().filter(|_| query.contains("manifests=1")) {
                        body["Manifests"] = c.manifests.clone();
                    }
                    let body = body.to_string();
                    respond(&mut w, api, "200 OK", "application/json", body.as_bytes(), head)?;
                }
                _ => not_found(&mut w, api, &format!("No such image: {name}"), head)?,
            }
        } else if path == "/images/get" || (path.starts_with("/images/") && path.ends_with("/get"))
        {
            let name = if path == "/images/get" {
                query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == "names")
                    .map(|(_, v)| percent_decode(v))
                    .unwrap_or_default()
            } else {
                percent_decode(path.trim_start_matches("/images/").trim_end_matches("/get"))
            };
            let Some(img) = sh.image.as_ref().filter(|img| matches(img, &name)) else {
                not_found(&mut w, api, &format!("No such image: {name}"), head)?;
                if close {
                    return Ok(());
                }
                continue;
            };
            if let Export::SlowStart(delay, _) = &img.export {
                std::thread::sleep(*delay);
            }
            w.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nApi-Version: {api}\r\nDocker-Experimental: false\r\n\
                     Ostype: linux\r\nServer: Docker/25.0.0 (linux)\r\nContent-Type: application/x-tar\r\n\
                     Transfer-Encoding: chunked\r\n\r\n"
                )
                .as_bytes(),
            )?;
            sh.export_started.store(true, Ordering::SeqCst);
            if head {
                w.write_all(b"0\r\n\r\n")?;
                continue;
            }
            let platform_export = sh.containerd.as_ref().and_then(|c| c.platform_export.clone()).filter(|_| query.contains("platform="));
            if let Some(data) = platform_export {
                write_chunks(&mut w, &data)?;
                w.write_all(b"0\r\n\r\n")?;
                w.flush()?;
                if close {
                    return Ok(());
                }
                continue;
            }
            match &img.export {
                Export::Full(data) | Export::TruncatedCleanEnd(data) | Export::SlowStart(_, data) => {
                    write_chunks(&mut w, data)?;
                    w.write_all(b"0\r\n\r\n")?;
                    w.flush()?;
                }
                Export::TruncatedClose(data) => {
                    write_chunks(&mut w, data)?;
                    let _ = w.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
                Export::Gated(data, cut, gate) => {
                    write_chunks(&mut w, &data[..*cut])?;
                    w.flush()?;
                    while !gate.load(Ordering::SeqCst) {
                        if sh.stop.load(Ordering::SeqCst) {
                            let _ = w.shutdown(std::net::Shutdown::Both);
                            return Ok(());
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    write_chunks(&mut w, &data[*cut..])?;
                    w.write_all(b"0\r\n\r\n")?;
                    w.flush()?;
                }
                Export::Stall(data) => {
                    write_chunks(&mut w, data)?;
                    while !sh.stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let _ = w.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
            }
        } else {
            not_found(&mut w, api, &format!("page not found: {method} {path}"), head)?;
        }
        if close {
            return Ok(());
        }
    }
}
