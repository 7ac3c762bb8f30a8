//! Bad input never panics and never leaves files behind. A corpus generated in code:
//! - broken `docker save` exports served by the fake daemon (not a tar, empty, a non-image tar,
//!   manifest.json that lies: missing blobs, bad JSON, paths escaping the archive, symlink
//!   loops, wrong config digest, a layer whose tar header claims an absurd size, a trailing
//!   error JSON where the rest of the export should be);
//! - daemons that misbehave: refusing the API version, a malformed Api-Version, hanging before
//!   the first byte;
//! - registries that answer HTML, nothing, a huge body, a wrong Docker-Content-Digest, a
//!   malformed WWW-Authenticate or Location header (a tiny scripted registry on loopback).
//!
//! Each case has its exit code and a piece of its one-line error; TMPDIR must be empty after.

use crate::fake_daemon::{Export, FakeDaemon, FakeImage};
use crate::support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Exports

/// An entry of a generated tar.
pub enum Item {
    File(String, Vec<u8>),
    Link(String, String),
    /// A regular-file header claiming `size` bytes, followed by only `data`.
    Lying(String, u64, Vec<u8>),
}

pub fn tar_of(items: &[Item]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut tail = Vec::new();
    for item in items {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        match item {
            Item::File(name, data) => {
                h.set_size(data.len() as u64);
                h.set_entry_type(tar::EntryType::Regular);
                b.append_data(&mut h, name, &data[..]).unwrap();
            }
            Item::Link(name, target) => {
                h.set_size(0);
                h.set_entry_type(tar::EntryType::Symlink);
                b.append_link(&mut h, name, target).unwrap();
            }
            Item::Lying(name, size, data) => {
                h.set_path(name).unwrap();
                h.set_size(*size);
                h.set_entry_type(tar::EntryType::Regular);
                h.set_cksum();
                tail.extend_from_slice(h.as_bytes());
                tail.extend_from_slice(data);
            }
        }
    }
    let mut out = b.into_inner().unwrap();
    if !tail.is_empty() {
        // Replace the end-of-archive blocks with the lying entry (cut short).
        out.truncate(out.len() - 1024);
        out.extend_from_slice(&tail);
    }
    out
}

/// A valid classic (pre-Engine-25) export of a one-layer image with `layer` as its layer tar.
pub struct Classic {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub config_name: String,
    pub id: String,
    pub diff_id: String,
}

impl Classic {
    pub fn new(layer: Vec<u8>) -> Classic {
        let diff_id = sha256_digest(&layer);
        Classic::with_diff_id(layer, diff_id)
    }

    /// With the layer's digest computed by the caller (a large layer is hashed faster by
    /// `sha256sum` than by the unoptimized test build).
    pub fn with_diff_id(layer: Vec<u8>, diff_id: String) -> Classic {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }))
        .unwrap();
        let id = sha256_digest(&config);
        let config_name = format!("{}.json", id.trim_start_matches("sha256:"));
        Classic { layer, config, config_name, id, diff_id }
    }

    pub fn manifest(&self, name: &str, layers: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!([
            {"Config": self.config_name, "RepoTags": [name], "Layers": layers}
        ]))
        .unwrap()
    }

    /// The whole export as `docker save` writes it.
    pub fn tar(&self, name: &str) -> Vec<u8> {
        tar_of(&[
            Item::File("aaa/layer.tar".into(), self.layer.clone()),
            Item::File(self.config_name.clone(), self.config.clone()),
            Item::File("manifest.json".into(), self.manifest(name, &["aaa/layer.tar"])),
        ])
    }

    pub fn fake_image(&self, name: &str, export: Export) -> FakeImage {
        FakeImage {
            name: name.to_string(),
            id: self.id.clone(),
            diff_ids: vec![self.diff_id.clone()],
            size: self.layer.len() as u64,
            export,
        }
    }
}

/// A small layer tar whose content names `seed`.
pub fn small_layer(seed: &str) -> Vec<u8> {
    tar_of(&[Item::File("etc/seed".into(), format!("{seed}\n").into_bytes())])
}

/// Runs `idpush push -q IMAGE DEST` against `docker_host`; checks the exit code, that the one
/// error line contains `want`, and that TMPDIR is empty. Returns the line.
fn expect_failure(dir: &TestDir, docker_host: &str, dest: &str, extra: &[&str], code: i32, want: &str) -> String {
    let run = dir.sub(&unique("run"));
    let out = Idpush::new(&run, docker_host)
        .env("IDPUSH_RETRY_BASE_MS", "10")
        .args(["push", "-q", "--retry-max-delay", "1", "corpus:v1", dest])
        .args(extra)
        .run();
    out.failed_cleanly(code, want, &run.join("tmp"))
}

#[test]
fn broken_exports_fail_cleanly() {
    let c = Classic::new(small_layer("corpus"));
    let name = "corpus:v1";
    let good_manifest = c.manifest(name, &["aaa/layer.tar"]);
    let layer = || Item::File("aaa/layer.tar".into(), c.layer.clone());
    let config = || Item::File(c.config_name.clone(), c.config.clone());
    let manifest = |m: Vec<u8>| Item::File("manifest.json".into(), m);
    let wrong_config = Classic::new(small_layer("other"));

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not a tar", pseudo_random("junk", 10_000), "not a valid tar"),
        ("empty export", Vec::new(), "manifest.json"),
        ("a non-image tar", tar_of(&[Item::File("etc/passwd".into(), b"root:x:0:0\n".to_vec())]), "manifest.json"),
        ("manifest.json not json", tar_of(&[layer(), config(), manifest(b"{not json".to_vec())]), "manifest.json"),
        ("missing layer", tar_of(&[config(), manifest(good_manifest.clone())]), "aaa/layer.tar"),
        ("missing config", tar_of(&[layer(), manifest(good_manifest.clone())]), &c.config_name),
        (
            "path escaping the archive",
            tar_of(&[layer(), config(), manifest(c.manifest(name, &["../../etc/passwd"]))]),
            "etc/passwd",
        ),
        (
            "symlink loop",
            tar_of(&[
                Item::Link("aaa/layer.tar".into(), "../bbb/layer.tar".into()),
                Item::Link("bbb/layer.tar".into(), "../aaa/layer.tar".into()),
                config(),
                manifest(good_manifest.clone()),
            ]),
            "layer.tar",
        ),
        (
            "config that is not the image's",
            tar_of(&[
                layer(),
                Item::File(c.config_name.clone(), wrong_config.config.clone()),
                manifest(good_manifest.clone()),
            ]),
            "sha256",
        ),
        (
            "a layer header claiming 1 TiB",
            tar_of(&[config(), manifest(good_manifest.clone()), Item::Lying("aaa/layer.tar".into(), 1 << 40, vec![0; 4096])]),
            "",
        ),
    ];
    let env = env();
    let dir = TestDir::new("corpus-exports");
    let mut failures = Vec::new();
    for (what, tar, want) in cases {
        let sub = dir.sub(&unique("case"));
        let daemon = FakeDaemon::start(&sub, Some(c.fake_image(name, Export::Full(tar))));
        let dest = format!("{}/e2e/{}:v1", env.registry, unique("corpus"));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| expect_failure(&dir, &daemon.docker_host(), &dest, &[], 1, want)));
        match result {
            Ok(line) => eprintln!("corpus: {what}: {line}"),
            Err(_) => failures.push(what),
        }
    }
    assert!(failures.is_empty(), "cases that failed: {failures:?}");
}

#[test]
fn trailing_error_json_in_export_fails_cleanly() {
    // The daemon failed part way and wrote its error where the rest of the tar should be.
    let c = Classic::new(small_layer("trailing"));
    let full = c.tar("corpus:v1");
    let mut body = full[..full.len() / 2].to_vec();
    body.extend_from_slice(br#"{"message":"write /var/lib/docker/tmp/x: no space left on device"}"#);
    let dir = TestDir::new("corpus-trailing");
    let daemon = FakeDaemon::start(&dir.path, Some(c.fake_image("corpus:v1", Export::TruncatedCleanEnd(body))));
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("trailing"));
    expect_failure(&dir, &daemon.docker_host(), &dest, &[], 1, "");
}

// ---------------------------------------------------------------------------------------------
// Daemons that misbehave

/// What a scripted daemon does with a request line.
#[derive(Clone)]
enum DaemonReply {
    Raw(String),
    Hang,
}

/// A unix-socket server that answers each request by `script(request line)`.
fn scripted_daemon(dir: &std::path::Path, script: fn(&str) -> DaemonReply) -> String {
    let path = dir.join("s.sock");
    let listener = UnixListener::bind(&path).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || {
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                }
                match script(line.trim()) {
                    DaemonReply::Raw(s) => {
                        let _ = w.write_all(s.as_bytes());
                    }
                    DaemonReply::Hang => std::thread::sleep(Duration::from_secs(120)),
                }
            });
        }
    });
    format!("unix://{}", path.display())
}

fn http(status: &str, headers: &str, body: &str) -> String {
    format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

#[test]
fn api_version_refused_is_a_clear_error() {
    let dir = TestDir::new("corpus-api");
    let host = scripted_daemon(&dir.path, |line| {
        if line.contains("/_ping") {
            DaemonReply::Raw(http("200 OK", "Api-Version: 1.44\r\n", "OK"))
        } else {
            DaemonReply::Raw(http(
                "400 Bad Request",
                "Content-Type: application/json\r\n",
                r#"{"message":"client version 1.44 is too old. Minimum supported API version is 1.45, please upgrade your client to a newer version"}"#,
            ))
        }
    });
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("api"));
    expect_failure(&dir, &host, &dest, &[], 1, "client version 1.44 is too old");
}

#[test]
fn malformed_api_version_is_a_clear_error() {
    let dir = TestDir::new("corpus-apiver");
    let host = scripted_daemon(&dir.path, |_| DaemonReply::Raw(http("200 OK", "Api-Version: banana\r\n", "OK")));
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("apiver"));
    expect_failure(&dir, &host, &dest, &[], 1, "banana");
}

#[test]
fn daemon_that_is_not_http_is_a_clear_error() {
    let dir = TestDir::new("corpus-nothttp");
    let host = scripted_daemon(&dir.path, |_| DaemonReply::Raw("SSH-2.0-OpenSSH_9.2\r\n".into()));
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("nothttp"));
    expect_failure(&dir, &host, &dest, &[], 1, "docker daemon");
}

#[test]
fn daemon_hanging_before_first_byte_times_out() {
    // The daemon's call timeout is 30 s (src/daemon/engine.rs); this test waits it out.
    let dir = TestDir::new("corpus-hang");
    let host = scripted_daemon(&dir.path, |_| DaemonReply::Hang);
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("hang"));
    let start = Instant::now();
    expect_failure(&dir, &host, &dest, &[], 1, "did not answer");
    assert!(start.elapsed() < Duration::from_secs(90));
}

#[test]
fn daemon_hanging_is_interruptible() {
    let dir = TestDir::new("corpus-hang-int");
    let host = scripted_daemon(&dir.path, |_| DaemonReply::Hang);
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("hangint"));
    let run = dir.sub("run");
    let mut child = Idpush::new(&run, &host).args(["push", "corpus:v1", &dest]).spawn();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!child.has_exited());
    let sent = Instant::now();
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    while !child.has_exited() {
        assert!(sent.elapsed() < Duration::from_secs(5), "no exit after SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sent.elapsed() < Duration::from_secs(1), "took {:?}", sent.elapsed());
    let out = child.wait(Duration::from_secs(1));
    assert_eq!(out.code, Some(130), "{}", out.describe());
    assert!(dir_entries(&run.join("tmp")).is_empty());
}

#[test]
fn daemon_socket_permission_denied() {
    // Root ignores file modes: as root, run idpush as `nobody` (setpriv, util-linux) against a
    // socket only root may use, as with a docker.sock the user has no group for.
    let is_root = std::process::Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    let dir = TestDir::new("corpus-perm");
    let host = scripted_daemon(&dir.path, |_| DaemonReply::Hang);
    let path = host.trim_start_matches("unix://");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("perm"));
    if !is_root {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o000)).unwrap();
        expect_failure(&dir, &host, &dest, &[], 2, "permission denied");
        return;
    }
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_idpush"))
        .args(["push", "-q", "corpus:v1", &dest])
        .env_clear()
        .env("DOCKER_HOST", &host)
        .env("TMPDIR", "/tmp")
        .output()
        .expect("setpriv (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")), "one error line and a hint at most: {stderr}");
    assert!(lines[0].contains("permission denied") && lines[0].contains("docker"), "{stderr}");
    assert!(stderr.contains(path), "names the socket: {stderr}");
}

// ---------------------------------------------------------------------------------------------
// Registries that misbehave

/// What the scripted registry does with a request.
enum Answer {
    Raw(Vec<u8>),
    Close,
}

/// A plain-HTTP registry on loopback that answers every request (one per connection) with
/// `script(method, path)`; the defaults for a push are in [`normal`].
fn scripted_registry(script: fn(&str, &str) -> Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                if crate::fault_proxy::refuse_tls_hello(&conn) {
                    return;
                }
                let mut w = conn.try_clone().unwrap();
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let mut len = 0u64;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let _ = std::io::copy(&mut (&mut r).take(len), &mut std::io::sink());
                let mut parts = line.split(' ');
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                match script(&method, &path) {
                    Answer::Raw(bytes) => {
                        let _ = w.write_all(&bytes);
                    }
                    Answer::Close => {}
                }
            });
        }
    });
    addr
}

fn reply(status: &str, headers: &str, body: &[u8]) -> Answer {
    let mut out = format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(body);
    Answer::Raw(out)
}

/// A registry that accepts a push: `/v2/` 200, blobs missing, uploads accepted with the
/// digest echoed, manifests stored.
fn normal(method: &str, path: &str) -> Answer {
    match method {
        "GET" if path == "/v2/" => reply("200 OK", "Content-Type: application/json\r\n", b"{}"),
        "HEAD" => reply("404 Not Found", "", b""),
        "POST" => reply("202 Accepted", "Location: /v2/e2e/x/blobs/uploads/u1?_state=s\r\n", b""),
        "PUT" => {
            let digest = path.split("digest=").nth(1).unwrap_or("").replace("%3A", ":");
            reply("201 Created", &format!("Docker-Content-Digest: {digest}\r\n"), b"")
        }
        _ => reply("404 Not Found", "", b""),
    }
}

fn registry_case(script: fn(&str, &str) -> Answer, extra: &[&str], want: &str) {
    let c = Classic::new(small_layer(&unique("reg")));
    let dir = TestDir::new("corpus-registry");
    let daemon = FakeDaemon::start(&dir.path, Some(c.fake_image("corpus:v1", Export::Full(c.tar("corpus:v1")))));
    let addr = scripted_registry(script);
    let line = expect_failure(&dir, &daemon.docker_host(), &format!("{addr}/e2e/x:v1"), extra, 1, want);
    assert!(line.len() < 1000, "the error line is too long: {} bytes", line.len());
}

#[test]
fn normal_scripted_registry_accepts_the_push() {
    // The baseline the broken-registry cases change one thing of.
    let c = Classic::new(small_layer("baseline"));
    let dir = TestDir::new("corpus-baseline");
    let daemon = FakeDaemon::start(&dir.path, Some(c.fake_image("corpus:v1", Export::Full(c.tar("corpus:v1")))));
    let addr = scripted_registry(normal);
    let out = Idpush::new(&dir.sub("run"), &daemon.docker_host()).args(["push", "-q", "corpus:v1", &format!("{addr}/e2e/x:v1")]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
}

#[test]
fn registry_answering_html() {
    registry_case(
        |m, p| match (m, p) {
            ("GET", "/v2/") => reply("404 Not Found", "Content-Type: text/html\r\n", b"<html><body><h1>Welcome to nginx</h1></body></html>"),
            _ => normal(m, p),
        },
        &[],
        "404",
    );
}

#[test]
fn registry_answering_nothing() {
    registry_case(|_, _| Answer::Close, &["--retries", "1"], "2 attempts");
}

#[test]
fn registry_answering_a_huge_body() {
    registry_case(
        |m, p| match (m, p) {
            ("GET", "/v2/") => {
                let body = vec![b'x'; 8 << 20];
                reply("500 Internal Server Error", "Content-Type: text/plain\r\n", &body)
            }
            _ => normal(m, p),
        },
        &["--retries", "0"],
        "500",
    );
}

#[test]
fn registry_with_wrong_docker_content_digest() {
    registry_case(
        |m, p| match m {
            "PUT" if p.contains("/blobs/") => reply(
                "201 Created",
                "Docker-Content-Digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\r\n",
                b"",
            ),
            "PUT" => panic!("a manifest was put after a blob digest mismatch"),
            _ => normal(m, p),
        },
        &[],
        "expected sha256:",
    );
}

#[test]
fn registry_with_malformed_www_authenticate() {
    registry_case(
        |m, p| match (m, p) {
            ("GET", "/v2/") => reply("401 Unauthorized", "WWW-Authenticate: Bearer realm=\"unterminated, ,,=\r\n", b""),
            _ => normal(m, p),
        },
        &[],
        "www-authenticate",
    );
}

#[test]
fn registry_with_malformed_location() {
    registry_case(
        |m, p| match m {
            "POST" => reply("202 Accepted", "Location: ftp://elsewhere/upload\r\n", b""),
            _ => normal(m, p),
        },
        &[],
        "location",
    );
}

#[test]
fn registry_without_location() {
    registry_case(
        |m, p| match m {
            "POST" => reply("202 Accepted", "", b""),
            _ => normal(m, p),
        },
        &[],
        "without a location",
    );
}
