//! Round trips per blob (issue 8): a first push of an image new to the repository sends each
//! small blob with POST + PUT and no HEAD (the only HEAD is the one that authenticates, for
//! the config); a re-push of the same image (config there) keeps a HEAD per blob, so every
//! blob is still skipped, never re-uploaded. Counted through the fault proxy. And the 201 path
//! of a Gitea-like fake: one request per blob, remembered per registry in the cache.

use crate::fault_proxy::{self, FaultProxy};
use crate::support::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[test]
fn small_blobs_of_a_new_image_cost_two_requests_and_a_repush_still_skips_them() {
    let dir = TestDir::new("roundtrips");
    let mut images = ImageGuard::new();
    let base = format!("{}:base", unique("e2e-rt-base"));
    import_image(&dir.path, &base, 16 * 1024);
    images.add(&base);
    let image = format!("{}:v1", unique("e2e-rt"));
    build_image(
        &dir.path,
        &image,
        &format!("FROM {base}\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n"),
        &[("a.txt", image.as_bytes()), ("b.txt", b"bee")],
    );
    images.add(&image);
    let id = image_id(&image);
    let diff_ids = image_diff_ids(&image);
    let blobs = diff_ids.len() + 1;
    let repo = format!("e2e/{}", unique("rt"));

    let proxy = FaultProxy::start(&env().registry);
    let out = Idpush::new(&dir.sub("first"), &env().docker_host)
        .args(["push", &image, &format!("{}/{repo}:v1", proxy.addr())])
        .run();
    let pushed = parse_pushed(&out);
    verify_registry_image(&env().registry, &repo, &pushed.digest, &id, &diff_ids);
    assert_eq!(proxy.count(fault_proxy::blob_head), 1, "only the HEAD that authenticates:\n{}", proxy.describe());
    assert_eq!(proxy.count(fault_proxy::upload_start), blobs, "one POST per blob:\n{}", proxy.describe());
    assert_eq!(proxy.count(fault_proxy::blob_put), blobs, "one PUT per blob:\n{}", proxy.describe());
    assert_eq!(proxy.count(fault_proxy::blob_patch), 0, "{}", proxy.describe());
    // The first small blob probed the single-request form (distribution answers 202).
    let probes = |p: &FaultProxy| p.log().iter().filter(|e| e.method == "POST" && e.path.contains("digest=")).count();
    assert_eq!(probes(&proxy), 1, "{}", proxy.describe());

    // The same image again, with an empty cache: its config is there, so every blob is asked
    // for, found, and skipped.
    let first_proxy = proxy;
    let proxy = FaultProxy::start(&env().registry);
    let out = Idpush::new(&dir.sub("second"), &env().docker_host)
        .args(["push", &image, &format!("{}/{repo}:v2", proxy.addr())])
        .run();
    let again = parse_pushed(&out);
    assert_eq!(again.digest, pushed.digest);
    assert_eq!(proxy.count(fault_proxy::blob_head), 1 + blobs, "{}", proxy.describe());
    assert_eq!(proxy.count(fault_proxy::upload_start), 0, "nothing uploaded again:\n{}", proxy.describe());
    let skipped = out.stderr_lines().iter().filter(|l| l.contains("skipped (exists)")).count();
    assert_eq!(skipped, blobs, "{}", out.describe());

    // Another image with the first push's cache, to the same host:port: the registry's 202
    // is remembered, no probe.
    let other = format!("{}:v1", unique("e2e-rt-other"));
    build_image(&dir.path, &other, &format!("FROM {base}\nCOPY c.txt /c.txt\n"), &[("c.txt", other.as_bytes())]);
    images.add(&other);
    let proxy = first_proxy;
    let before = probes(&proxy);
    let out = Idpush::new(&dir.sub("first"), &env().docker_host)
        .args(["push", "--log-level", "debug", &other, &format!("{}/{repo}:other", proxy.addr())])
        .run();
    parse_pushed(&out);
    assert_eq!(probes(&proxy), before, "{}", proxy.describe());
    assert!(out.stderr.contains("does not store a blob sent in one request"), "{}", out.describe());
}

/// A Gitea-like registry on loopback: `POST …/uploads/?digest=` with the body stores the blob
/// (201), HEAD answers for stored blobs, manifests are accepted. One request per connection.
/// Returns its address and the `METHOD target body-length` of every request.
fn gitea_like() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut stored: HashMap<String, usize> = HashMap::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if crate::fault_proxy::refuse_tls_hello(&conn) {
                continue;
            }
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim_end().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.trim().eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock().unwrap().push(format!("{method} {} {length}", target.split('?').next().unwrap_or("")));
            let end = "Content-Length: 0\r\nConnection: close\r\n\r\n";
            let query_digest = target.split("digest=").nth(1).map(|d| d.split('&').next().unwrap().replace("%3A", ":"));
            let reply = match (method.as_str(), query_digest) {
                ("GET", _) if target == "/v2/" => format!("HTTP/1.1 200 OK\r\n{end}"),
                ("HEAD", _) => {
                    let digest = target.rsplit('/').next().unwrap_or("");
                    match stored.get(digest) {
                        Some(len) => format!("HTTP/1.1 200 OK\r\nDocker-Content-Digest: {digest}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"),
                        None => format!("HTTP/1.1 404 Not Found\r\n{end}"),
                    }
                }
                ("POST" | "PUT", Some(digest)) if target.contains("/blobs/uploads/") => {
                    if sha256_digest(&body) == digest {
                        stored.insert(digest.clone(), body.len());
                        format!("HTTP/1.1 201 Created\r\nDocker-Content-Digest: {digest}\r\n{end}")
                    } else {
                        format!("HTTP/1.1 400 Bad Request\r\n{end}")
                    }
                }
                ("POST", None) if target.contains("/blobs/uploads/") => {
                    format!("HTTP/1.1 202 Accepted\r\nLocation: /v2/team/app/blobs/uploads/u1\r\nRange: 0-0\r\n{end}")
                }
                ("PUT", _) if target.contains("/manifests/") => {
                    format!("HTTP/1.1 201 Created\r\nDocker-Content-Digest: {}\r\n{end}", sha256_digest(&body))
                }
                _ => format!("HTTP/1.1 404 Not Found\r\n{end}"),
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    (addr, seen)
}

/// Against a registry that stores a blob sent in one request (Gitea answers 201), each blob of
/// a new image is one request; the cache remembers it per registry, so the next push sends
/// even a blob above the probe limit (64 KiB) that way from the start.
#[test]
fn a_registry_that_answers_201_gets_each_blob_in_one_request_and_the_cache_remembers() {
    let dir = TestDir::new("rt-gitea");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-rt-gitea"));
    import_image(&dir.path, &image, 16 * 1024);
    images.add(&image);
    let (registry, seen) = gitea_like();
    let home = dir.sub("run");
    let out = Idpush::new(&home, &env().docker_host).args(["push", &image, &format!("{registry}/team/app:v1")]).run();
    parse_pushed(&out);
    let first: Vec<String> = seen.lock().unwrap().drain(..).collect();
    let posts = first.iter().filter(|r| r.starts_with("POST")).count();
    assert_eq!(posts, 2, "layer and config, one POST each: {first:#?}");
    assert!(!first.iter().any(|r| r.starts_with("PUT /v2/team/app/blobs")), "no PUT after a 201: {first:#?}");
    assert_eq!(first.iter().filter(|r| r.starts_with("HEAD")).count(), 1, "only the HEAD that authenticates: {first:#?}");

    // A new image whose layer is above the probe limit, same cache, same registry.
    let big = format!("{}:v1", unique("e2e-rt-gitea-big"));
    import_image(&dir.path, &big, 512 * 1024);
    images.add(&big);
    let out = Idpush::new(&home, &env().docker_host)
        .args(["push", "--log-level", "debug", &big, &format!("{registry}/team/app:big")])
        .run();
    parse_pushed(&out);
    assert!(out.stderr.contains("stores a blob sent in one request"), "{}", out.describe());
    let second: Vec<String> = seen.lock().unwrap().drain(..).collect();
    let layer_post = second.iter().find(|r| r.starts_with("POST") && r.split(' ').nth(2).unwrap().parse::<u64>().unwrap() > 64 * 1024);
    assert!(layer_post.is_some(), "the large layer went up in one request: {second:#?}");
    assert!(!second.iter().any(|r| r.starts_with("PUT /v2/team/app/blobs")), "{second:#?}");
}
