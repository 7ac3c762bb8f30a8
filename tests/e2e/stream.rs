//! A layer goes up while it is still being spooled (issue 8). The fake daemon holds the export
//! in the middle of the image's big layer until the test opens its gate; the test opens it
//! only once the fault proxy in front of the registry has seen that layer's PATCHes. So a push
//! that did not stream would never finish (the wait fails the test); one that does shows the
//! upload began before the export ended, and the image must still pull back identical.
//! Also: a PATCH cut mid-stream resumes from the registry's Range once the spool is complete,
//! and a streamed blob found to be there already has its session cancelled (DELETE).

use crate::engine25::{engine25_export, Engine25Export};
use crate::fake_daemon::{Export, FakeDaemon, FakeImage};
use crate::fault_proxy::{self, Fault, FaultProxy};
use crate::support::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A one-layer image of ~8 MiB of incompressible payload on the real daemon, and its Engine
/// 25+ export.
fn big_layer_image(dir: &TestDir, images: &mut ImageGuard, what: &str) -> (String, Engine25Export) {
    let image = format!("{}:v1", unique(&format!("e2e-{what}")));
    import_image(&dir.path, &image, 8 << 20);
    images.add(&image);
    let export = engine25_export(&dir.path, &image);
    (image, export)
}

/// A fake daemon serving `export`, held at the middle of its biggest layer until the gate opens.
fn gated_daemon(dir: &TestDir, image: &str, export: &Engine25Export) -> (FakeDaemon, Arc<AtomicBool>) {
    let gate = Arc::new(AtomicBool::new(false));
    let fake = FakeImage {
        name: image.to_string(),
        id: export.id.clone(),
        diff_ids: export.diff_ids.clone(),
        size: export.size,
        export: Export::Gated(export.tar.clone(), export.mid_layer, gate.clone()),
    };
    (FakeDaemon::start(&dir.path, Some(fake)), gate)
}

/// Waits until the proxy has logged `patches` PATCHes while the export is held, then opens the
/// gate; fails if idpush exits or nothing comes (a push that does not stream).
fn open_after_patches(child: &mut Running, proxy: &FaultProxy, gate: &AtomicBool, patches: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.count(fault_proxy::blob_patch) < patches {
        assert!(!child.has_exited(), "idpush exited while the export was held:\n{}", proxy.describe());
        assert!(
            Instant::now() < deadline,
            "no {patches} PATCH(es) while the export was held in the middle of the layer: the upload did not start before the export ended:\n{}",
            proxy.describe()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    gate.store(true, Ordering::SeqCst);
}

fn push_cmd(dir: &TestDir, daemon: &FakeDaemon, image: &str, dest: &str, extra: &[&str]) -> Running {
    let mut args = vec!["push", "--log-level", "debug", "--no-cache", "--compression", "none", "--chunk-size", "1M"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image, dest]);
    Idpush::new(&dir.sub("run"), &daemon.docker_host()).env("IDPUSH_RETRY_BASE_MS", "20").args(args).spawn()
}

#[test]
fn a_layer_uploads_while_the_export_is_still_running_and_pulls_back_identical() {
    let dir = TestDir::new("stream");
    let mut images = ImageGuard::new();
    let (image, export) = big_layer_image(&dir, &mut images, "stream");
    let (daemon, gate) = gated_daemon(&dir, &image, &export);
    let proxy = FaultProxy::start(&env().registry);
    let repo = format!("e2e/{}", unique("stream"));

    let mut child = push_cmd(&dir, &daemon, &image, &format!("{}/{repo}:v1", proxy.addr()), &[]);
    open_after_patches(&mut child, &proxy, &gate, 2);
    let out = child.wait(Duration::from_secs(120));
    let pushed = parse_pushed(&out);
    assert!(out.stderr.contains("streaming a layer while it is spooled"), "{}", out.describe());
    assert!(dir_entries(&dir.path.join("run").join("tmp")).is_empty(), "idpush left files in TMPDIR");
    // One session for the streamed layer, one request for the config; the layer's bytes once.
    let stored = verify_registry_image(&env().registry, &repo, &pushed.digest, &export.id, &export.diff_ids);
    let layer = stored.manifest["layers"][0]["size"].as_u64().expect("layer size");
    assert_eq!(proxy.body_bytes(fault_proxy::blob_patch), layer, "PATCH bodies vs the layer:\n{}", proxy.describe());
    assert_eq!(proxy.count(fault_proxy::upload_start), 2, "{}", proxy.describe());

    docker_rmi(&[&image]);
    let reference = format!("{}/{repo}:v1", env().registry);
    images.add(&reference);
    assert_eq!(pull_and_id(&reference), export.id, "image pulled back has a different ID");
}

#[test]
fn a_patch_cut_mid_stream_resumes_from_the_registry_range() {
    let dir = TestDir::new("stream-cut");
    let mut images = ImageGuard::new();
    let (image, export) = big_layer_image(&dir, &mut images, "stream-cut");
    let (daemon, gate) = gated_daemon(&dir, &image, &export);
    let proxy = FaultProxy::start(&env().registry);
    // The second PATCH is reset half way, while the export is still held.
    proxy.inject_after(fault_proxy::blob_patch, 1, Fault::ResetMidBody, 1);
    let repo = format!("e2e/{}", unique("stream-cut"));

    let mut child = push_cmd(&dir, &daemon, &image, &format!("{}/{repo}:v1", proxy.addr()), &["--retry-max-delay", "1"]);
    open_after_patches(&mut child, &proxy, &gate, 2);
    let out = child.wait(Duration::from_secs(120));
    let pushed = parse_pushed(&out);
    assert_eq!(proxy.faulted(), 1, "the fault fired:\n{}", proxy.describe());
    assert!(out.stderr.contains("streaming a layer failed"), "{}", out.describe());
    assert!(out.stderr.contains("resuming the upload of blob"), "{}", out.describe());
    assert!(dir_entries(&dir.path.join("run").join("tmp")).is_empty(), "idpush left files in TMPDIR");
    let stored = verify_registry_image(&env().registry, &repo, &pushed.digest, &export.id, &export.diff_ids);
    let layer = stored.manifest["layers"][0]["size"].as_u64().expect("layer size");
    let sent = proxy.body_bytes(fault_proxy::blob_patch);
    assert!((sent as f64) < 1.5 * layer as f64, "PATCH bodies carried {sent} bytes for a {layer}-byte layer:\n{}", proxy.describe());
    assert_eq!(proxy.count(fault_proxy::upload_start), 2, "the session was resumed, not replaced:\n{}", proxy.describe());
}

#[test]
fn a_streamed_blob_that_is_there_already_cancels_its_session() {
    let dir = TestDir::new("stream-there");
    let mut images = ImageGuard::new();
    let (image, export) = big_layer_image(&dir, &mut images, "stream-there");
    let repo = format!("e2e/{}", unique("stream-there"));
    // First push straight from the real daemon: the blobs are in the repository.
    let first = Idpush::new(&dir.sub("first"), &env().docker_host)
        .args(["push", "--no-cache", "--compression", "none", &image, &format!("{}/{repo}:v1", env().registry)])
        .run();
    parse_pushed(&first);

    let (daemon, gate) = gated_daemon(&dir, &image, &export);
    let proxy = FaultProxy::start(&env().registry);
    let mut child = push_cmd(&dir, &daemon, &image, &format!("{}/{repo}:v2", proxy.addr()), &[]);
    open_after_patches(&mut child, &proxy, &gate, 1);
    let out = child.wait(Duration::from_secs(120));
    let pushed = parse_pushed(&out);
    verify_registry_image(&env().registry, &repo, &pushed.digest, &export.id, &export.diff_ids);
    assert!(out.stderr.contains("0 blobs uploaded"), "{}", out.describe());
    let deletes = proxy.count(|m, p| m == "DELETE" && p.contains("/blobs/uploads/"));
    assert_eq!(deletes, 1, "the streamed session is cancelled:\n{}", proxy.describe());
    assert_eq!(proxy.count(fault_proxy::blob_put), 0, "nothing is completed:\n{}", proxy.describe());
}

/// A layer streamed while spooled that turns out not to be the image's (inspect named another
/// diff_id) is never completed: the push fails, its session is cancelled, no blob is put.
#[test]
fn a_streamed_layer_that_is_not_the_images_is_never_completed() {
    let dir = TestDir::new("stream-wrong");
    let mut images = ImageGuard::new();
    let (image, export) = big_layer_image(&dir, &mut images, "stream-wrong");
    let gate = Arc::new(AtomicBool::new(false));
    let fake = FakeImage {
        name: image.clone(),
        id: export.id.clone(),
        diff_ids: vec![sha256_digest(unique("another-layer").as_bytes())],
        size: export.size,
        export: Export::Gated(export.tar.clone(), export.mid_layer, gate.clone()),
    };
    let daemon = FakeDaemon::start(&dir.path, Some(fake));
    let proxy = FaultProxy::start(&env().registry);
    let repo = format!("e2e/{}", unique("stream-wrong"));
    let mut child = push_cmd(&dir, &daemon, &image, &format!("{}/{repo}:v1", proxy.addr()), &[]);
    open_after_patches(&mut child, &proxy, &gate, 1);
    let out = child.wait(Duration::from_secs(120));
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let deletes = proxy.count(|m, p| m == "DELETE" && p.contains("/blobs/uploads/"));
    assert_eq!(deletes, 1, "the streamed session is cancelled:\n{}", proxy.describe());
    assert_eq!(proxy.count(fault_proxy::blob_put), 0, "nothing is completed:\n{}", proxy.describe());
    assert!(dir_entries(&dir.path.join("run").join("tmp")).is_empty(), "idpush left files in TMPDIR");
    let (status, _) = registry_manifest_digest(&env().registry, &repo, "v1");
    assert_eq!(status, 404);
}

/// Ctrl-C while a layer streams (the export held mid-layer): exit 130, no temp files, no
/// manifest.
#[test]
fn an_interrupt_while_a_layer_streams_exits_130_and_cleans_up() {
    let dir = TestDir::new("stream-int");
    let mut images = ImageGuard::new();
    let (image, export) = big_layer_image(&dir, &mut images, "stream-int");
    let (daemon, _gate) = gated_daemon(&dir, &image, &export);
    let proxy = FaultProxy::start(&env().registry);
    let repo = format!("e2e/{}", unique("stream-int"));
    let mut child = push_cmd(&dir, &daemon, &image, &format!("{}/{repo}:v1", proxy.addr()), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.count(fault_proxy::blob_patch) < 1 {
        assert!(!child.has_exited(), "idpush exited while the export was held:\n{}", proxy.describe());
        assert!(Instant::now() < deadline, "no PATCH while the export was held:\n{}", proxy.describe());
        std::thread::sleep(Duration::from_millis(20));
    }
    let st = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
    let out = child.wait(Duration::from_secs(60));
    assert_eq!(out.code, Some(130), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(dir_entries(&dir.path.join("run").join("tmp")).is_empty(), "idpush left files in TMPDIR");
    let (status, _) = registry_manifest_digest(&env().registry, &repo, "v1");
    assert_eq!(status, 404);
    drop(daemon);
}
