//! Round trips per blob (issue 8): a first push of an image new to the repository sends each
//! small blob with POST + PUT and no HEAD (the only HEAD is the one that authenticates, for
//! the config); a re-push of the same image (config there) keeps a HEAD per blob, so every
//! blob is still skipped, never re-uploaded. Counted through the fault proxy.

use crate::fault_proxy::{self, FaultProxy};
use crate::support::*;

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
