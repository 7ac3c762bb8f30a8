//! Faults between idpush and the real registry, injected by [`FaultProxy`]: each push either
//! heals (the expected number of attempts, counted from the proxy's log, and the image pulled
//! back from the registry directly has the original ID) or fails with exit 1 and no manifest.
//! Ctrl-C and SIGTERM during an upload or a backoff sleep exit 130 / 143 within a second.
//!
//! Backoff is shortened with `IDPUSH_RETRY_BASE_MS` (a test knob) and `--retry-max-delay`.

use crate::fault_proxy::{self, Fault, FaultProxy};
use crate::support::*;
use std::time::{Duration, Instant};

struct Case {
    dir: TestDir,
    images: ImageGuard,
    image: String,
    id: String,
    repo: String,
    proxy: FaultProxy,
}

/// A fresh one-layer image (256 KiB payload, so a request body is worth cutting) and a proxy
/// in front of the real registry.
fn case(what: &str) -> Case {
    case_sized(what, 256 * 1024)
}

fn case_sized(what: &str, payload: usize) -> Case {
    let dir = TestDir::new(what);
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique(&format!("e2e-{what}")));
    let id = import_image(&dir.path, &image, payload);
    images.add(&image);
    let proxy = FaultProxy::start(&env().registry);
    let repo = format!("e2e/{}", unique(what));
    Case { dir, images, image, id, repo, proxy }
}

impl Case {
    fn dest(&self) -> String {
        format!("{}/{}:v1", self.proxy.addr(), self.repo)
    }

    fn idpush(&self, extra: &[&str]) -> Idpush {
        Idpush::new(&self.dir.sub("run"), &env().docker_host)
            .env("IDPUSH_RETRY_BASE_MS", "20")
            .args(["push", "--retry-max-delay", "1", &self.image, &self.dest()])
            .args(extra)
    }

    /// Push with the faults injected; it must succeed; the image pulled back from the registry
    /// (not through the proxy) must have the original ID.
    fn push_heals(&mut self, extra: &[&str]) -> Output {
        let out = self.idpush(extra).run();
        assert_eq!(out.code, Some(0), "push through faults failed:\n{}\nproxy log:\n{}", out.describe(), self.proxy.describe());
        let pushed = parse_pushed(&out);
        assert_eq!(pushed.repo, self.repo);
        self.assert_tmp_empty();
        docker_rmi(&[&self.image]);
        let reference = format!("{}/{}:v1", env().registry, self.repo);
        self.images.add(&reference);
        assert_eq!(pull_and_id(&reference), self.id, "image pulled back has a different ID");
        out
    }

    /// Push that must fail with exit 1, one stderr line (-q), no manifest, TMPDIR empty.
    fn push_fails(&self, extra: &[&str]) -> String {
        let mut args = vec!["-q"];
        args.extend_from_slice(extra);
        let out = self.idpush(&args).run();
        assert_eq!(out.code, Some(1), "expected exit 1:\n{}\nproxy log:\n{}", out.describe(), self.proxy.describe());
        assert!(out.stdout.is_empty(), "{}", out.describe());
        let lines = out.error_lines();
        assert_eq!(lines.len(), 1, "expected one error line:\n{}", out.describe());
        self.assert_no_manifest();
        self.assert_tmp_empty();
        lines[0].to_string()
    }

    fn assert_no_manifest(&self) {
        assert_eq!(self.proxy.count(fault_proxy::manifest_put), 0, "a manifest PUT was sent:\n{}", self.proxy.describe());
        let (status, _) = registry_manifest_digest(&env().registry, &self.repo, "v1");
        assert_eq!(status, 404, "a manifest was written");
    }

    fn assert_tmp_empty(&self) {
        let left = dir_entries(&self.dir.path.join("run").join("tmp"));
        assert!(left.is_empty(), "idpush left files in TMPDIR: {left:?}");
    }
}

#[test]
fn blob_upload_503s_heal_with_fresh_sessions() {
    let mut c = case("f503");
    c.proxy.inject(fault_proxy::blob_put, Fault::status(503), 3);
    let out = c.push_heals(&[]);
    // Two blobs (layer, config): 3 failed PUTs + 2 good ones, each after a fresh POST.
    assert_eq!(c.proxy.faulted(), 3, "{}", c.proxy.describe());
    assert_eq!(c.proxy.count(fault_proxy::blob_put), 5, "{}", c.proxy.describe());
    assert_eq!(c.proxy.count(fault_proxy::upload_start), 5, "{}", c.proxy.describe());
    assert_eq!(c.proxy.count(fault_proxy::manifest_put), 1);
    for k in 1..=3 {
        let want = format!("(attempt {k} of 10)");
        assert!(
            out.stderr.lines().any(|l| l.starts_with("idpush: info:") && l.contains(&want) && l.contains("503") && l.contains("retrying in")),
            "no info line for retry {k}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn manifest_429_honours_retry_after() {
    let mut c = case("f429");
    let fault = Fault::Status {
        code: 429,
        headers: vec![("Retry-After".into(), "1".into())],
        body: r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#.into(),
    };
    c.proxy.inject(fault_proxy::manifest_put, fault, 2);
    let start = Instant::now();
    let out = c.push_heals(&[]);
    assert!(start.elapsed() >= Duration::from_secs(2), "Retry-After: 1 twice, but took {:?}", start.elapsed());
    assert_eq!(c.proxy.count(fault_proxy::manifest_put), 3, "{}", c.proxy.describe());
    assert!(out.stderr.contains("retrying in 1.0s"), "{}", out.stderr);
}

#[test]
fn connection_reset_mid_body_heals() {
    let mut c = case("freset");
    c.proxy.inject(fault_proxy::blob_put, Fault::ResetMidBody, 2);
    c.push_heals(&[]);
    assert_eq!(c.proxy.faulted(), 2, "{}", c.proxy.describe());
    assert_eq!(c.proxy.count(fault_proxy::blob_put), 4, "{}", c.proxy.describe());
}

/// `PATCH …/blobs/uploads/…` (a chunk of a chunked upload).
fn chunk_patch(method: &str, path: &str) -> bool {
    method == "PATCH" && path.contains("/blobs/uploads/")
}

#[test]
fn chunked_upload_reset_resumes_the_session() {
    // A 3 MiB layer in 1 MiB chunks; the second chunk's connection is reset.
    let mut c = case_sized("fchunk", 3 << 20);
    // Let the first PATCH through, break the second.
    c.proxy.inject_after(chunk_patch, 1, Fault::ResetMidBody, 1);
    c.push_heals(&["--chunk-size", "1M"]);
    assert_eq!(c.proxy.faulted(), 1, "{}", c.proxy.describe());
    // The layer's session goes on where the registry says it is (GET <location>), sending the
    // broken chunk again: one session for the layer, one for the config, four chunks.
    assert_eq!(c.proxy.count(fault_proxy::upload_start), 2, "{}", c.proxy.describe());
    assert_eq!(c.proxy.count(|m, p| m == "GET" && p.contains("/blobs/uploads/")), 1, "{}", c.proxy.describe());
    assert_eq!(c.proxy.count(chunk_patch), 4 + 1, "{}", c.proxy.describe());
}

#[test]
fn stalled_upload_times_out_and_heals() {
    let mut c = case("fstall");
    c.proxy.inject(fault_proxy::blob_put, Fault::Stall(Duration::from_secs(30)), 1);
    let start = Instant::now();
    c.push_heals(&["--read-timeout", "1"]);
    assert!(start.elapsed() < Duration::from_secs(25), "the stall was not cut by --read-timeout");
    assert_eq!(c.proxy.count(fault_proxy::blob_put), 3, "{}", c.proxy.describe());
}

#[test]
fn dropped_after_headers_heals() {
    let mut c = case("fdrop");
    c.proxy.inject(fault_proxy::ping, Fault::DropAfterHeaders, 1);
    c.proxy.inject(fault_proxy::blob_put, Fault::DropAfterHeaders, 1);
    c.push_heals(&[]);
    assert_eq!(c.proxy.faulted(), 2, "{}", c.proxy.describe());
    assert_eq!(c.proxy.count(fault_proxy::ping), 2, "{}", c.proxy.describe());
    assert_eq!(c.proxy.count(fault_proxy::blob_put), 3, "{}", c.proxy.describe());
}

#[test]
fn more_faults_than_retries_fails_without_manifest() {
    let c = case("fmany");
    c.proxy.inject(fault_proxy::blob_put, Fault::status(503), 100);
    let line = c.push_fails(&["--retries", "2"]);
    assert!(line.contains("503") && line.contains("3 attempts"), "{line}");
    assert_eq!(c.proxy.count(fault_proxy::blob_put), 3, "{}", c.proxy.describe());
}

#[test]
fn retries_zero_means_one_attempt() {
    let c = case("fzero");
    c.proxy.inject(fault_proxy::blob_head, Fault::status(502), 100);
    let line = c.push_fails(&["--retries", "0"]);
    assert!(line.contains("502"), "{line}");
    assert_eq!(c.proxy.count(fault_proxy::blob_head), 1, "{}", c.proxy.describe());
}

#[test]
fn auth_refusal_is_not_retried() {
    let c = case("fauth");
    let fault = Fault::Status {
        code: 403,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#.into(),
    };
    c.proxy.inject(fault_proxy::blob_put, fault, 100);
    let line = c.push_fails(&[]);
    assert!(line.contains("403") || line.to_lowercase().contains("denied"), "{line}");
    assert_eq!(c.proxy.count(fault_proxy::blob_put), 1, "{}", c.proxy.describe());
}

/// Starts a push whose blob PUTs get `fault` forever, waits until the first one is seen plus
/// `settle`, sends `signal`, and checks the exit code, the time to exit, TMPDIR and the
/// registry.
fn interrupt_case(what: &str, fault: Fault, base_ms: &str, signal: &str, want: i32) {
    let c = case(what);
    c.proxy.inject(fault_proxy::blob_put, fault, 1000);
    let mut child = Idpush::new(&c.dir.sub("run"), &env().docker_host)
        .env("IDPUSH_RETRY_BASE_MS", base_ms)
        .args(["push", "--retry-max-delay", "60", &c.image, &c.dest()])
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.proxy.faulted() == 0 {
        assert!(!child.has_exited(), "idpush exited early:\n{}", child.wait(Duration::from_secs(1)).describe());
        assert!(Instant::now() < deadline, "no blob PUT reached the proxy:\n{}", c.proxy.describe());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(!child.has_exited(), "idpush exited before the signal");
    let sent = Instant::now();
    let st = std::process::Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    while !child.has_exited() {
        assert!(sent.elapsed() < Duration::from_secs(5), "idpush did not stop within 5 s of {signal}");
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = sent.elapsed();
    let out = child.wait(Duration::from_secs(1));
    assert_eq!(out.code, Some(want), "{}", out.describe());
    assert!(took < Duration::from_secs(1), "took {took:?} to stop after {signal}");
    assert!(out.stdout.is_empty(), "{}", out.describe());
    c.assert_tmp_empty();
    c.assert_no_manifest();
}

#[test]
fn ctrl_c_during_backoff_sleep_exits_130_at_once() {
    // 503 forever with a 20 s base delay: the signal arrives in the middle of the sleep.
    interrupt_case("fintsleep", Fault::status(503), "20000", "-INT", 130);
}

#[test]
fn ctrl_c_during_upload_exits_130_at_once() {
    interrupt_case("fintup", Fault::Stall(Duration::from_secs(60)), "20", "-INT", 130);
}

#[test]
fn sigterm_during_backoff_exits_143() {
    interrupt_case("ftermsleep", Fault::status(503), "20000", "-TERM", 143);
}
