//! Tests for the Engine API client: `DOCKER_HOST` parsing, version negotiation, encoding,
//! error messages, and whole calls against a fake daemon on a temporary unix socket or TCP port.

use super::*;
use crate::error::{class_of, Class};
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

fn tcp(s: &str) -> DockerHost {
    DockerHost::Tcp(s.to_string())
}

#[test]
fn negotiates_the_api_version() {
    assert_eq!(negotiate(None).unwrap(), "1.24");
    assert_eq!(negotiate(Some("1.52")).unwrap(), "1.49");
    assert_eq!(negotiate(Some("1.100")).unwrap(), "1.49");
    assert_eq!(negotiate(Some("2.0")).unwrap(), "1.49");
    assert_eq!(negotiate(Some("1.41")).unwrap(), "1.41");
    assert_eq!(negotiate(Some(" 1.47 ")).unwrap(), "1.47");
    assert_eq!(negotiate(Some("1.40")).unwrap(), "1.40");
    assert_eq!(negotiate(Some("1.39")), Err(Refusal::TooOld("1.39".into())));
    assert_eq!(negotiate(Some("0.99")), Err(Refusal::TooOld("0.99".into())));
    assert_eq!(negotiate(Some("1.x")), Err(Refusal::Malformed("1.x".into())));
    for bad in ["abc", "1.", ".5", "1.4.1", "1.-2", ""] {
        assert!(negotiate(Some(bad)).is_err(), "{bad:?}");
    }
}

#[test]
fn encodes_names() {
    let name = "registry:5000/ns/img:tag@sha256:ab12";
    assert_eq!(encode(name, b"/:@"), name);
    assert_eq!(encode(name, b""), "registry%3A5000%2Fns%2Fimg%3Atag%40sha256%3Aab12");
    assert_eq!(encode("a b+c?d#e%f", b"/:@"), "a%20b%2Bc%3Fd%23e%25f");
    assert_eq!(encode("é", b""), "%C3%A9");
    assert_eq!(encode("A-z.0_9~", b""), "A-z.0_9~");
}

#[test]
fn extracts_daemon_messages() {
    assert_eq!(
        message_from_body(br#"{"message":"No such image: x:y"}"#).unwrap(),
        "No such image: x:y"
    );
    assert_eq!(message_from_body(b"\n  plain text\nsecond line").unwrap(), "plain text");
    assert_eq!(message_from_body(b""), None);
    assert_eq!(message_from_body(&[b'a'; 1000]).unwrap().len(), 300);
}

#[test]
fn parses_inspect_json() {
    let full = br#"{"Id":"sha256:abc","RepoTags":["a:1","b:2"],"RepoDigests":["a@sha256:def"],"Size":1234,"Other":{},"RootFS":{"Type":"layers","Layers":["sha256:l1","sha256:l2"]}}"#;
    let info = parse_inspect(full).unwrap();
    let want = ImageInfo {
        id: "sha256:abc".into(),
        repo_tags: vec!["a:1".into(), "b:2".into()],
        repo_digests: vec!["a@sha256:def".into()],
        size: 1234,
        layers: vec!["sha256:l1".into(), "sha256:l2".into()],
    };
    assert_eq!(info, want);
    let sparse = parse_inspect(br#"{"Id":"sha256:abc","RepoTags":null,"Size":-1}"#).unwrap();
    assert_eq!((sparse.repo_tags.len(), sparse.repo_digests.len(), sparse.size), (0, 0, 0));
    assert!(sparse.layers.is_empty());
    let no_layers = parse_inspect(br#"{"Id":"sha256:abc","RootFS":{"Type":"layers"}}"#).unwrap();
    assert!(no_layers.layers.is_empty());
    assert!(parse_inspect(b"3").is_err());
    assert!(parse_inspect(b"not json").is_err());
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("idpush-daemon-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves one canned answer per connection, in order; returns the request heads.
fn serve<S>(
    mut accept: impl FnMut() -> S + Send + 'static,
    answers: Vec<Vec<u8>>,
) -> JoinHandle<Vec<String>>
where
    S: Read + Write + Send + 'static,
{
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let mut conn = accept();
            let mut head = Vec::new();
            let mut byte = [0];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            let _ = conn.write_all(&answer);
            seen.push(String::from_utf8(head).unwrap());
        }
        seen
    })
}

/// A fake daemon on a unix socket in `dir`.
fn fake_unix(dir: &Path, answers: &[&str]) -> (DockerHost, JoinHandle<Vec<String>>) {
    let path = dir.join("docker.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let answers = answers.iter().map(|a| a.as_bytes().to_vec()).collect();
    (DockerHost::Unix(path), serve(move || listener.accept().unwrap().0, answers))
}

const PING_OK: &str = "HTTP/1.1 200 OK\r\nApi-Version: 1.52\r\nContent-Length: 0\r\n\r\n";

fn first_line(req: &str) -> &str {
    req.lines().next().unwrap()
}

#[test]
fn connects_with_head_then_get_fallback() {
    let dir = TempDir::new();
    let answers = ["HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n", PING_OK];
    let (host, server) = fake_unix(&dir.0, &answers);
    let engine = Engine::connect(host.clone()).unwrap();
    assert_eq!((engine.api_version(), engine.host()), ("1.49", &host));
    let seen = server.join().unwrap();
    assert_eq!(
        seen.iter().map(|r| first_line(r)).collect::<Vec<_>>(),
        ["HEAD /_ping HTTP/1.1", "GET /_ping HTTP/1.1"]
    );
    assert!(seen[0].contains("\r\nHost: api.moby.localhost\r\n"));
}

#[test]
fn connect_without_api_version_uses_1_24() {
    let dir = TempDir::new();
    let (host, _server) = fake_unix(&dir.0, &["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"]);
    assert_eq!(Engine::connect(host).unwrap().api_version(), "1.24");
}

#[test]
fn connect_rejects_garbage_and_failures() {
    let dir = TempDir::new();
    let (host, _server) = fake_unix(&dir.0, &["SSH-2.0-OpenSSH_9.2p1 Debian\r\n"]);
    let err = Engine::connect(host).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("sent an invalid answer to HEAD /_ping") && msg.contains("SSH-2.0"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));

    let dir = TempDir::new();
    let fail500 = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 21\r\n\r\n{\"message\":\"broken\"}\n";
    let (host, _server) = fake_unix(&dir.0, &[fail500, fail500]);
    let err = Engine::connect(host).unwrap_err();
    assert_eq!(class_of(&err), Class::Transient);
    assert!(err.to_string().ends_with("failed /_ping: broken"), "{err}");

    let dir = TempDir::new();
    let bad = "HTTP/1.1 200 OK\r\nApi-Version: banana\r\n\r\n";
    let (host, _server) = fake_unix(&dir.0, &[bad]);
    assert!(Engine::connect(host)
        .unwrap_err()
        .to_string()
        .contains("invalid Api-Version \"banana\""));

    let dir = TempDir::new();
    let (host, _server) = fake_unix(&dir.0, &["HTTP/1.1 200 OK\r\nApi-Version: 1.39\r\n\r\n"]);
    let err = Engine::connect(host).unwrap_err();
    assert_eq!(class_of(&err), Class::Permanent);
    assert!(err.to_string().contains("speaks API v1.39; idpush needs v1.40 or newer"), "{err}");
}

#[test]
fn supports_only_what_the_negotiated_version_knows() {
    let at = |v: &str| Engine { host: DockerHost::Unix("/s".into()), version: v.into() };
    assert!(at("1.48").supports(1, 48) && at("1.48").supports(1, 40));
    assert!(!at("1.47").supports(1, 48) && !at("1.24").supports(1, 40));
}

#[test]
fn inspects_images() {
    let dir = TempDir::new();
    let json = r#"{"Id":"sha256:abc","RepoTags":["reg:5000/a/b:tag"],"Size":5}"#;
    let ok = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    );
    let missing = "HTTP/1.1 404 Not Found\r\n\r\n{\"message\":\"No such image: nope:1\"}\n";
    let denied = "HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n16\r\n{\"message\":\"bad name\"}\r\n0\r\n\r\n";
    let (host, server) = fake_unix(&dir.0, &[PING_OK, &ok, missing, denied]);
    let engine = Engine::connect(host).unwrap();
    let info = engine.inspect("reg:5000/a/b:tag").unwrap();
    assert_eq!((info.id.as_str(), info.size, info.repo_tags.len()), ("sha256:abc", 5, 1));

    let err = engine.inspect("nope:1").unwrap_err();
    assert_eq!(class_of(&err), Class::NotFound);
    let want = format!(
        "image not found: nope:1 (the daemon at {} has no such image)",
        engine.host()
    );
    assert_eq!(err.to_string(), want);

    let err = engine.inspect("Bad").unwrap_err();
    assert_eq!(class_of(&err), Class::Permanent);
    assert!(err.to_string().ends_with("failed inspecting Bad: bad name"), "{err}");
    assert!(engine.inspect("").is_err() && engine.inspect("a b").is_err());

    let seen = server.join().unwrap();
    assert_eq!(first_line(&seen[1]), "GET /v1.49/images/reg:5000/a/b:tag/json HTTP/1.1");
}

#[test]
fn exports_stream_and_report_truncation() {
    let dir = TempDir::new();
    let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    let cut = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n";
    let missing = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let (host, server) = fake_unix(&dir.0, &[PING_OK, ok, cut, missing]);
    let engine = Engine::connect(host).unwrap();
    let mut got = Vec::new();
    let id = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    engine.export(id).unwrap().read_to_end(&mut got).unwrap();
    assert_eq!(got, b"abcde");
    let mut got = Vec::new();
    let err = engine.export("a/b:t").unwrap().read_to_end(&mut got).unwrap_err();
    assert_eq!((err.kind(), got.as_slice()), (io::ErrorKind::UnexpectedEof, &b"abc"[..]));
    // An export cut short is the daemon's failure, classified where the socket is known to be
    // the daemon's (it was an unclassified I/O error, its class guessed from its kind).
    assert!(err.to_string().starts_with("the docker daemon at ") && err.to_string().contains("failed while exporting a/b:t"), "{err}");
    assert_eq!(class_of(&anyhow::Error::new(err).context("reading the archive")), Class::Transient);
    assert_eq!(engine.export("x").err().map(|e| class_of(&e)), Some(Class::NotFound));
    let seen = server.join().unwrap();
    assert_eq!(first_line(&seen[1]), format!("GET /v1.49/images/get?names={id} HTTP/1.1"));
    assert_eq!(first_line(&seen[2]), "GET /v1.49/images/get?names=a%2Fb:t HTTP/1.1");
}

#[test]
fn talks_tcp_with_a_host_header() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = serve(move || listener.accept().unwrap().0, vec![PING_OK.as_bytes().to_vec()]);
    let engine = Engine::connect(tcp(&addr)).unwrap();
    assert_eq!(engine.api_version(), "1.49");
    assert!(server.join().unwrap()[0].contains(&format!("\r\nHost: {addr}\r\n")));
}

#[test]
fn connection_failures_are_not_found_with_a_hint() {
    let dir = TempDir::new();
    let missing = dir.0.join("missing.sock");
    let err = Engine::connect(DockerHost::Unix(missing.clone())).unwrap_err();
    assert_eq!(class_of(&err), Class::NotFound);
    let want = format!(
        "cannot reach the docker daemon: {} does not exist",
        missing.display()
    );
    assert_eq!(err.to_string(), want);

    let stale = dir.0.join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let err = Engine::connect(DockerHost::Unix(stale)).unwrap_err();
    assert_eq!(class_of(&err), Class::NotFound);
    assert!(err.to_string().contains("connection refused at unix://"), "{err}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = Engine::connect(tcp(&format!("127.0.0.1:{port}"))).unwrap_err();
    assert_eq!(class_of(&err), Class::NotFound);
    let want = format!("cannot reach the docker daemon: connection refused at tcp://127.0.0.1:{port}");
    assert_eq!(err.to_string(), want);

    let e = io::Error::from(io::ErrorKind::PermissionDenied);
    let err = dial_error(&DockerHost::Unix("/var/run/docker.sock".into()), &e);
    assert_eq!(err.to_string(), "cannot reach the docker daemon: permission denied on /var/run/docker.sock");
    let hint = crate::report::hint::of(&err).unwrap_or_default();
    assert!(hint.contains("`docker` group"), "{hint}");
    // Without a cause-specific hint, the default one: start it or set DOCKER_HOST.
    assert!(crate::report::hint::of(&Engine::connect(tcp(&format!("127.0.0.1:{port}"))).unwrap_err())
        .is_some_and(|h| h.contains("DOCKER_HOST")));
}

#[test]
fn platform_is_sent_only_to_daemons_that_know_it() {
    let p = Platform::parse("linux/arm64/v8").unwrap();
    assert_eq!(p.to_string(), "linux/arm64/v8");
    assert_eq!(super::platform_json(&p), r#"{"architecture":"arm64","os":"linux","variant":"v8"}"#);
    for bad in ["linux", "linux/", "/amd64", "Linux/amd64", "linux/amd64/v8/x", "linux/amd 64"] {
        let e = Platform::parse(bad).unwrap_err().to_string();
        assert!(e.starts_with("invalid --platform") && e.contains("os/arch[/variant]"), "{bad}: {e}");
    }
    let at = |v: &str| Engine { host: DockerHost::Unix("/nonexistent/d.sock".into()), version: v.into() };
    assert_eq!(at("1.49").platform_query(Some(&p), '?').unwrap(), "?platform=%7B%22architecture%22%3A%22arm64%22%2C%22os%22%3A%22linux%22%2C%22variant%22%3A%22v8%22%7D");
    assert_eq!(at("1.41").platform_query(None, '&').unwrap(), "");
    // Refused before anything is sent (the socket does not even exist).
    for v in ["1.48", "1.41"] {
        let e = at(v).inspect_platform("a:1", Some(&p)).unwrap_err();
        assert_eq!(class_of(&e), Class::Permanent);
        assert!(e.to_string().contains(&format!("needs a daemon with API v1.49 or newer (Docker 28.1+); the daemon at unix:///nonexistent/d.sock speaks v{v}")), "{e}");
    }
}

#[test]
fn the_image_store_comes_from_info() {
    let info = |status: &str| format!(r#"{{"Driver":"overlayfs","DriverStatus":{status},"ID":"x"}}"#);
    assert_eq!(image_store_of(info(r#"[["driver-type","io.containerd.snapshotter.v1"]]"#).as_bytes()), ImageStore::Containerd);
    assert_eq!(image_store_of(info(r#"[["Backing Filesystem","extfs"],["Supports d_type","true"]]"#).as_bytes()), ImageStore::Classic);
    assert_eq!(image_store_of(info("null").as_bytes()), ImageStore::Classic);
    assert_eq!(image_store_of(b"not json"), ImageStore::Classic);
    // Not asked below 1.43 (Podman, Docker 20.10): no connection at all.
    let old = Engine { host: DockerHost::Unix("/nonexistent/d.sock".into()), version: "1.41".into() };
    assert_eq!(old.image_store(), ImageStore::Classic);
}

#[test]
fn manifests_and_platform_matching() {
    let body = br#"{"Id":"sha256:i","Manifests":[
        {"ID":"sha256:a","Available":false,"Kind":"image","ImageData":{"Platform":{"os":"linux","architecture":"arm64","variant":"v8"}}},
        {"ID":"sha256:b","Available":true,"Kind":"image","ImageData":{"Platform":{"os":"linux","architecture":"amd64"}}},
        {"ID":"sha256:c","Available":true,"Kind":"attestation","AttestationData":{"For":"sha256:b"}}]}"#;
    let m = manifests_of(body).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!((m[1].digest.as_str(), m[1].available, m[1].kind.as_str()), ("sha256:b", true, "image"));
    assert_eq!(m[0].platform, Some(Platform::parse("linux/arm64/v8").unwrap()));
    assert_eq!(m[2].platform, None);
    assert!(manifests_of(br#"{"Id":"x"}"#).unwrap().is_empty());
    let p = |s: &str| Platform::parse(s).unwrap();
    assert!(p("linux/arm64").matches(&p("linux/arm64/v8")));
    assert!(p("linux/arm64/v8").matches(&p("linux/arm64/v8")));
    assert!(!p("linux/arm64/v8").matches(&p("linux/arm64")));
    assert!(!p("linux/amd64").matches(&p("linux/arm64")));
}
