//! TLS, body limits, redirects and HTTP tracing, against real components: nginx (started by
//! `scripts/env-tls.sh`) terminating TLS with a test CA's certificate in front of the plain test
//! registry, on one port without a body limit and one with `client_max_body_size 1m`. What was
//! pushed through nginx is checked in the plain registry behind it and pulled back with docker.
//! The redirect test uses two small loopback servers of its own (a registry and a "storage").

use crate::support::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What `scripts/env-tls.sh` appended to the env file.
struct TlsEnv {
    /// `127.0.0.1:PORT`: TLS, no body limit.
    tls: String,
    /// `127.0.0.1:PORT`: TLS, 1 MiB body limit.
    small: String,
    /// The test CA (PEM).
    ca: String,
}

fn tls_env() -> TlsEnv {
    env();
    let path = env_file_path();
    let vars = parse_env_lines(&std::fs::read_to_string(&path).unwrap_or_default());
    let get = |k: &str| {
        vars.get(k).cloned().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!("{} has no {k}= line: run `scripts/test-env.sh start` (it runs scripts/env-tls.sh)", path.display())
        })
    };
    TlsEnv { tls: get("IDPUSH_TEST_TLS_REGISTRY"), small: get("IDPUSH_TEST_TLS_SMALL_REGISTRY"), ca: get("IDPUSH_TEST_TLS_CA") }
}

/// A fresh imported one-layer image with `payload` bytes of incompressible data.
fn image(dir: &TestDir, images: &mut ImageGuard, what: &str, payload: usize) -> (String, String) {
    let name = format!("{}:base", unique(&format!("e2e-{what}")));
    let id = import_image(&dir.path, &name, payload);
    images.add(&name);
    (name, id)
}

/// `idpush push IMAGE HOST/REPO:TAG -r https://HOST EXTRA…` with `envs`.
fn push_tls(dir: &TestDir, image: &str, host: &str, repo: &str, extra: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut run = Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
        .args(["push", image, &format!("{host}/{repo}:v1"), "-r", &format!("https://{host}")])
        .args(extra);
    for (k, v) in envs {
        run = run.env(k, v);
    }
    run.run()
}

/// The push succeeded, printed the nginx host, and the plain registry behind nginx has the image.
fn check_pushed(out: &Output, host: &str, repo: &str, image: &str, id: &str) -> Pushed {
    let pushed = parse_pushed(out);
    assert_eq!(pushed.host, host, "{}", out.describe());
    assert_eq!(pushed.repo, repo, "{}", out.describe());
    verify_registry_image(&env().registry, repo, &pushed.digest, id, &image_diff_ids(image));
    pushed
}

#[test]
fn tls_with_ca_cert_certs_d_insecure_and_failing_cleanly_without() {
    let t = tls_env();
    let dir = TestDir::new("tls");
    let mut images = ImageGuard::new();
    let (img, id) = image(&dir, &mut images, "tls", 64 * 1024);
    let repo = unique("e2e/tls");

    // Without a CA: exit 1, one error line and a hint that names the three fixes.
    let out = push_tls(&dir, &img, &t.tls, &repo, &["-q"], &[("IDPUSH_CERTS_D", dir.sub("empty-certs-d").to_str().unwrap())]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert_eq!(out.error_lines().len(), 1, "one error line expected:\n{}", out.describe());
    assert!(out.error_lines()[0].contains("not trusted"), "{}", out.describe());
    let hint = out.hint().unwrap_or_else(|| panic!("no hint:\n{}", out.describe()));
    for want in ["--ca-cert", "--insecure", &format!("{}/ca.crt", t.tls)] {
        assert!(hint.contains(want), "{want:?} missing in {hint:?}");
    }
    assert!(out.stdout.is_empty());

    // --ca-cert.
    let out = push_tls(&dir, &img, &t.tls, &repo, &["--ca-cert", &t.ca], &[]);
    check_pushed(&out, &t.tls, &repo, &img, &id);

    // The CA in a certs.d directory for host:port (found through IDPUSH_CERTS_D).
    let certs_d = dir.sub("certs.d");
    std::fs::create_dir_all(certs_d.join(&t.tls)).unwrap();
    std::fs::copy(&t.ca, certs_d.join(&t.tls).join("ca.crt")).unwrap();
    let out = push_tls(&dir, &img, &t.tls, &repo, &[], &[("IDPUSH_CERTS_D", certs_d.to_str().unwrap())]);
    check_pushed(&out, &t.tls, &repo, &img, &id);

    // --insecure: no verification.
    let out = push_tls(&dir, &img, &t.tls, &repo, &["--insecure"], &[]);
    let pushed = check_pushed(&out, &t.tls, &repo, &img, &id);

    // An https URL for a loopback host is spoken to over TLS, never plain http.
    let out = Idpush::new(&dir.sub("http"), &env().docker_host)
        .args(["push", "-q", &img, &format!("{}/{repo}:v1", t.tls), "-r", &format!("https://{}", t.tls), "--ca-cert", &t.ca])
        .run();
    assert_eq!(parse_pushed(&out).digest, pushed.digest);
}

#[test]
fn large_layers_go_through_a_body_limit_in_chunks() {
    let t = tls_env();
    let dir = TestDir::new("chunks");
    let mut images = ImageGuard::new();
    // A layer of ~3 MiB (incompressible): over nginx's 1 MiB limit.
    let (img, id) = image(&dir, &mut images, "chunks", 3 * 1024 * 1024 + 12345);

    // No flag: the monolithic PUT gets 413, the upload falls back to chunks and halves them.
    let repo = unique("e2e/chunks-auto");
    let out = push_tls(&dir, &img, &t.small, &repo, &["--ca-cert", &t.ca], &[]);
    let pushed = check_pushed(&out, &t.small, &repo, &img, &id);
    assert!(out.stderr.contains("(413)"), "expected the 413 fallback to be reported:\n{}", out.describe());

    // An explicit chunk size under the limit: chunks from the start, no 413.
    let repo2 = unique("e2e/chunks-1m");
    let out = push_tls(&dir, &img, &t.small, &repo2, &["--ca-cert", &t.ca, "--chunk-size", "1M"], &[]);
    check_pushed(&out, &t.small, &repo2, &img, &id);
    // Not a bare "413": a digest's hex may hold those digits.
    assert!(!out.stderr.contains("(413)") && !out.stderr.contains(" 413 "), "{}", out.describe());

    // Pull back from the plain registry behind nginx: the same image.
    docker_rmi(&[&img]);
    let reference = format!("{}/{repo}@{}", env().registry, pushed.digest);
    images.add(&reference);
    assert_eq!(pull_and_id(&reference), id, "image pulled back from {reference}");
}

// ---------------------------------------------------------------------------------------------
// Redirects, with two loopback servers of our own

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    authorization: Option<String>,
}

/// Serves one request per connection until the process ends; `respond` gets the request and its
/// body and returns the whole response (status line, headers, blank line, body).
fn serve(respond: impl Fn(&Seen, &[u8]) -> String + Send + 'static) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if crate::fault_proxy::refuse_tls_hello(&stream) {
                continue;
            }
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("").to_string();
            let (mut authorization, mut length) = (None, 0usize);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    break;
                }
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    match k.trim().to_ascii_lowercase().as_str() {
                        "authorization" => authorization = Some(v.trim().to_string()),
                        "content-length" => length = v.trim().parse().unwrap_or(0),
                        _ => {}
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let req = Seen { method, target, authorization };
            let response = respond(&req, &body);
            seen2.lock().unwrap().push(req);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (addr, seen)
}

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn redirect_to_another_host_carries_no_authorization_and_debug_log_keeps_secrets() {
    let dir = TestDir::new("redirect");
    let mut images = ImageGuard::new();
    let (img, _) = image(&dir, &mut images, "redirect", 4096);
    let secret = format!("pw-{}", unique("s3cret"));
    let basic = format!("Basic {}", base64(format!("alice:{secret}").as_bytes()));

    // "Storage": has no blob (a 200 would need the blob's size as Content-Length to count).
    let (storage, storage_seen) = serve(|_, _| "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into());
    // The registry: Basic auth; blob HEADs redirect to storage; uploads and manifests are accepted.
    let want = basic.clone();
    let storage2 = storage.clone();
    let (registry, registry_seen) = serve(move |req, body| {
        let close = "Content-Length: 0\r\nConnection: close\r\n\r\n";
        if req.authorization.as_deref() != Some(want.as_str()) {
            return format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"fake\"\r\n{close}");
        }
        match (req.method.as_str(), req.target.as_str()) {
            ("GET", "/v2/") => format!("HTTP/1.1 200 OK\r\n{close}"),
            ("HEAD", t) if t.contains("/blobs/") => {
                let digest = t.rsplit('/').next().unwrap();
                format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://{storage2}/store/{digest}?sig=x\r\n{close}")
            }
            ("POST", t) if t.contains("/blobs/uploads/") => {
                format!("HTTP/1.1 202 Accepted\r\nLocation: /v2/team/app/blobs/uploads/u1\r\n{close}")
            }
            ("PUT", t) if t.contains("/blobs/uploads/") => {
                let digest = t.split("digest=").nth(1).unwrap_or("").replace("%3A", ":");
                format!("HTTP/1.1 201 Created\r\nDocker-Content-Digest: {digest}\r\n{close}")
            }
            ("PUT", t) if t.contains("/manifests/") => {
                format!("HTTP/1.1 201 Created\r\nDocker-Content-Digest: {}\r\n{close}", sha256_digest(body))
            }
            _ => format!("HTTP/1.1 404 Not Found\r\n{close}"),
        }
    });

    let out = Idpush::new(&dir.sub("run"), &env().docker_host)
        .args(["push", &img, &format!("{registry}/team/app:v1"), "-u", "alice", "-p", &secret, "--log-level", "debug"])
        .run();
    let pushed = parse_pushed(&out);
    assert_eq!(pushed.host, registry);

    let storage_seen = storage_seen.lock().unwrap().clone();
    assert!(!storage_seen.is_empty(), "no request reached the redirect target:\n{}", out.describe());
    for s in &storage_seen {
        assert_eq!(s.authorization, None, "Authorization forwarded to another host: {s:?}");
        assert_eq!(s.method, "HEAD");
    }
    let registry_seen = registry_seen.lock().unwrap().clone();
    assert!(registry_seen.iter().any(|s| s.authorization.as_deref() == Some(basic.as_str())));

    // The debug log traces requests and responses, never a secret.
    let log = &out.stderr;
    for want in [
        format!("> GET http://{registry}/v2/"),
        format!("> HEAD http://{registry}/v2/team/app/blobs/sha256:"),
        format!("was redirected to http://{storage}/store/sha256:"),
        "authorization: Basic <redacted>".to_string(),
        format!("> PUT http://{registry}/v2/team/app/manifests/v1"),
    ] {
        assert!(log.contains(&want), "{want:?} missing in the debug log:\n{log}");
    }
    let encoded = basic.trim_start_matches("Basic ");
    assert!(!log.contains(&secret) && !log.contains(encoded), "a secret in the debug log:\n{log}");
    assert!(!out.stdout.contains(&secret));
}
