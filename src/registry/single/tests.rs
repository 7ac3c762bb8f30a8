//! Single-request uploads against fake registries on loopback (kept-alive connections):
//! Gitea-like (201), distribution-like (202, body ignored), and answers that confirm nothing.

use super::*;
use crate::registry::test_http::{keep_alive_response as response, serve_keep_alive, Request};
use crate::registry::Options;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (method, target, body) of each request the fake saw.
type Log = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

fn fake(respond: impl Fn(&Request) -> Vec<u8> + Send + Sync + 'static) -> (Registry, Log, Arc<AtomicUsize>) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let (base, connections) = serve_keep_alive(move |req| {
        seen.lock().unwrap().push((req.method.clone(), req.target.clone(), req.body.clone()));
        respond(req)
    });
    let mut opts = Options::new(&base);
    opts.retry_max_delay = Duration::ZERO;
    (Registry::new(opts).unwrap(), log, connections)
}

/// A file holding `content`, removed on drop.
struct Blob(std::path::PathBuf, Digest, u64);
impl Blob {
    fn new(content: &[u8]) -> Blob {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir()
            .join(format!("idpush-single-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
        std::fs::write(&path, content).unwrap();
        Blob(path, Digest::of(content), content.len() as u64)
    }
}
impl Drop for Blob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn methods(log: &Log) -> Vec<String> {
    log.lock().unwrap().iter().map(|(m, t, b)| format!("{m} {} {}", t.split('?').next().unwrap(), b.len())).collect()
}

/// Gitea: `POST ?digest=` with the body stores the blob (201, naming the digest).
fn gitea_like(req: &Request) -> Vec<u8> {
    match req.method.as_str() {
        "POST" if req.target.contains("digest=") => {
            let d = Digest::of(&req.body);
            let dcd = format!("Docker-Content-Digest: {d}");
            response("201 Created", &[&dcd, &format!("Location: /v2/team/app/blobs/{d}")], "")
        }
        _ => response("500 Internal Server Error", &[], "unexpected"),
    }
}

/// Distribution 2.8: `POST` (with or without `?digest=`) ignores any body, opens a session.
fn distribution_like(req: &Request) -> Vec<u8> {
    match req.method.as_str() {
        "POST" => response("202 Accepted", &["Location: /v2/team/app/blobs/uploads/u1?_state=s", "Range: 0-0"], ""),
        "PUT" if req.target.contains("digest=") => {
            let d = Digest::of(&req.body);
            response("201 Created", &[&format!("Docker-Content-Digest: {d}")], "")
        }
        _ => response("500 Internal Server Error", &[], "unexpected"),
    }
}

#[test]
fn a_registry_that_answers_201_gets_each_blob_in_one_request() {
    let (mut reg, log, _) = fake(gitea_like);
    let small = Blob::new(b"small layer");
    let large = Blob::new(&vec![7u8; (PROBE_LIMIT as usize) * 3]);
    reg.upload_blob("team/app", &small.1, small.2, &small.0).unwrap();
    // Once the registry is known to take it, larger blobs (up to the chunk size) go so too.
    reg.upload_blob("team/app", &large.1, large.2, &large.0).unwrap();
    assert_eq!(
        methods(&log),
        [format!("POST /v2/team/app/blobs/uploads/ {}", small.2), format!("POST /v2/team/app/blobs/uploads/ {}", large.2)]
    );
    assert!(log.lock().unwrap()[0].1.contains(&format!("digest=sha256%3A{}", small.1.hex())));
}

#[test]
fn a_registry_that_answers_202_gets_the_body_in_its_session_then_post_and_put() {
    let (mut reg, log, connections) = fake(distribution_like);
    let first = Blob::new(b"first layer");
    let second = Blob::new(b"second layer");
    let large = Blob::new(&vec![1u8; (PROBE_LIMIT as usize) + 1]);
    reg.upload_blob("team/app", &first.1, first.2, &first.0).unwrap();
    reg.upload_blob("team/app", &second.1, second.2, &second.0).unwrap();
    reg.upload_blob("team/app", &large.1, large.2, &large.0).unwrap();
    assert_eq!(
        methods(&log),
        [
            // The probe: the body was ignored (Range 0-0), so it goes again in the session.
            format!("POST /v2/team/app/blobs/uploads/ {}", first.2),
            format!("PUT /v2/team/app/blobs/uploads/u1 {}", first.2),
            // Remembered: no body with the POST from now on.
            "POST /v2/team/app/blobs/uploads/ 0".to_string(),
            format!("PUT /v2/team/app/blobs/uploads/u1 {}", second.2),
            "POST /v2/team/app/blobs/uploads/ 0".to_string(),
            format!("PUT /v2/team/app/blobs/uploads/u1 {}", large.2),
        ]
    );
    assert!(!log.lock().unwrap()[2].1.contains("digest="));
    // Keep-alive: one agent, one connection for all six requests (every body read to the end).
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}

#[test]
fn a_large_blob_never_probes() {
    let (mut reg, log, _) = fake(distribution_like);
    let large = Blob::new(&vec![2u8; (PROBE_LIMIT as usize) + 1]);
    reg.upload_blob("team/app", &large.1, large.2, &large.0).unwrap();
    assert_eq!(methods(&log), ["POST /v2/team/app/blobs/uploads/ 0".to_string(), format!("PUT /v2/team/app/blobs/uploads/u1 {}", large.2)]);
}

#[test]
fn a_session_that_kept_the_body_is_only_closed() {
    // A registry that answers 202 but says (Range) it holds every byte: PUT with no body.
    let blob = Blob::new(b"kept body");
    let (mut reg, log, _) = fake(|req| match req.method.as_str() {
        "POST" => response("202 Accepted", &["Location: /v2/team/app/blobs/uploads/u2", "Range: 0-8"], ""),
        "PUT" if req.body.is_empty() => response("201 Created", &[], ""),
        _ => response("400 Bad Request", &[], ""),
    });
    reg.upload_blob("team/app", &blob.1, blob.2, &blob.0).unwrap();
    assert_eq!(methods(&log), ["POST /v2/team/app/blobs/uploads/ 9", "PUT /v2/team/app/blobs/uploads/u2 0"]);
}

#[test]
fn a_single_request_answer_that_confirms_nothing_is_no_success() {
    let blob = Blob::new(b"unconfirmed");
    let other = Digest::of(b"other").to_string();
    for (status, header) in [("201 Created", format!("Docker-Content-Digest: {other}")), ("200 OK", String::new())] {
        let (mut reg, _, _) = fake(move |req| match req.method.as_str() {
            "POST" if req.target.contains("digest=") => {
                let headers: Vec<&str> = if header.is_empty() { vec![] } else { vec![header.as_str()] };
                response(status, &headers, "")
            }
            _ => response("500 Internal Server Error", &[], "unexpected"),
        });
        // 200 without a digest: not a known answer, so POST + PUT; the fake then fails.
        assert!(reg.upload_blob("team/app", &blob.1, blob.2, &blob.0).is_err(), "{status}");
    }
}

#[test]
fn a_registry_that_rejects_the_form_gets_post_and_put() {
    let blob = Blob::new(b"rejected form");
    let (mut reg, log, _) = fake(|req| match req.method.as_str() {
        "POST" if req.target.contains("digest=") => response("405 Method Not Allowed", &[], ""),
        "POST" => response("202 Accepted", &["Location: /v2/team/app/blobs/uploads/u3"], ""),
        "PUT" => response("201 Created", &[], ""),
        _ => response("500 Internal Server Error", &[], ""),
    });
    reg.upload_blob("team/app", &blob.1, blob.2, &blob.0).unwrap();
    reg.upload_blob("team/app", &blob.1, blob.2, &blob.0).unwrap();
    assert_eq!(
        methods(&log),
        [
            format!("POST /v2/team/app/blobs/uploads/ {}", blob.2),
            "POST /v2/team/app/blobs/uploads/ 0".into(),
            format!("PUT /v2/team/app/blobs/uploads/u3 {}", blob.2),
            "POST /v2/team/app/blobs/uploads/ 0".into(),
            format!("PUT /v2/team/app/blobs/uploads/u3 {}", blob.2),
        ]
    );
}

#[test]
fn a_413_to_a_single_request_is_no_verdict_on_the_form() {
    let small = Blob::new(b"tiny");
    let big = Blob::new(&vec![3u8; 1000]);
    // Gitea-like, behind something that refuses POST bodies over 100 bytes.
    let (mut reg, log, _) = fake(|req| match req.method.as_str() {
        "POST" if req.body.len() > 100 => response("413 Payload Too Large", &[], ""),
        "POST" if req.target.contains("digest=") => response("201 Created", &[], ""),
        "POST" => response("202 Accepted", &["Location: /v2/team/app/blobs/uploads/u5"], ""),
        "PUT" => response("201 Created", &[], ""),
        _ => response("500 Internal Server Error", &[], ""),
    });
    reg.upload_blob("team/app", &small.1, small.2, &small.0).unwrap();
    reg.upload_blob("team/app", &big.1, big.2, &big.0).unwrap();
    reg.upload_blob("team/app", &small.1, small.2, &small.0).unwrap();
    assert_eq!(
        methods(&log),
        [
            "POST /v2/team/app/blobs/uploads/ 4",
            "POST /v2/team/app/blobs/uploads/ 1000",
            "POST /v2/team/app/blobs/uploads/ 0",
            "PUT /v2/team/app/blobs/uploads/u5 1000",
            // Still one request for a small blob.
            "POST /v2/team/app/blobs/uploads/ 4",
        ]
    );
}

#[test]
fn what_a_registry_did_is_learnt_and_an_earlier_note_replaces_the_probe() {
    let (mut reg, log, _) = fake(distribution_like);
    assert_eq!(reg.learnt_single_request(), None);
    let blob = Blob::new(b"a layer");
    reg.upload_blob("team/app", &blob.1, blob.2, &blob.0).unwrap();
    assert_eq!(reg.learnt_single_request(), Some(false), "202: remembered as no");

    // A later run told by the cache: no probe, POST with no body + PUT.
    let (mut reg, log2, _) = fake(distribution_like);
    reg.assume_single_request(Some(false));
    reg.upload_blob("team/app", &blob.1, blob.2, &blob.0).unwrap();
    assert_eq!(methods(&log2), ["POST /v2/team/app/blobs/uploads/ 0".to_string(), format!("PUT /v2/team/app/blobs/uploads/u1 {}", blob.2)]);
    assert_eq!(reg.learnt_single_request(), None, "nothing new learnt");
    drop(log);

    // Gitea-like, known from the cache: a blob above the probe limit goes in one request.
    let (mut reg, log3, _) = fake(gitea_like);
    reg.assume_single_request(Some(true));
    let large = Blob::new(&vec![3u8; (PROBE_LIMIT as usize) * 2]);
    reg.upload_blob("team/app", &large.1, large.2, &large.0).unwrap();
    assert_eq!(methods(&log3), [format!("POST /v2/team/app/blobs/uploads/ {}", large.2)]);
    assert_eq!(reg.learnt_single_request(), Some(true));
}

#[test]
fn a_passing_failure_while_probing_is_not_learnt() {
    let (mut reg, _, _) = fake(|req| match req.method.as_str() {
        "POST" if req.target.contains("digest=") => response("503 Service Unavailable", &[], ""),
        _ => distribution_like(req),
    });
    let blob = Blob::new(b"a layer");
    reg.upload_blob("team/app", &blob.1, blob.2, &blob.0).unwrap();
    assert_eq!(reg.learnt_single_request(), None, "a 503 says nothing of the form");
}
