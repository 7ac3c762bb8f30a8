//! A chunked upload that fails mid-way resumes its session: the fault proxy resets the
//! connection in the middle of the third PATCH and answers 503 to the final PUT (neither
//! reaches the registry); the push succeeds, the image pulls back identical, and the PATCH
//! bodies idpush sent stay under 1.5× the layer (the old code started over in a new session
//! after each failure, sending the layer about twice). Regression test for issue 7, defect 9.

use crate::fault_proxy::{self, Fault, FaultProxy};
use crate::support::*;

#[test]
fn a_failed_chunk_and_a_failed_final_put_resume_instead_of_starting_over() {
    let dir = TestDir::new("resume");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-resume"));
    // ~4.5 MiB of incompressible payload: five 1 MiB chunks.
    let id = import_image(&dir.path, &image, 4 * 1024 * 1024 + 500_000);
    images.add(&image);
    let proxy = FaultProxy::start(&env().registry);
    proxy.inject_after(fault_proxy::blob_patch, 2, Fault::ResetMidBody, 1);
    proxy.inject(fault_proxy::blob_put, Fault::status(503), 1);
    let repo = format!("e2e/{}", unique("resume"));
    let out = Idpush::new(&dir.sub("run"), &env().docker_host)
        .env("IDPUSH_RETRY_BASE_MS", "20")
        .args(["push", "--retry-max-delay", "1", "--chunk-size", "1M", &image, &format!("{}/{repo}:v1", proxy.addr())])
        .run();
    let pushed = parse_pushed(&out);
    assert_eq!(proxy.faulted(), 2, "both faults fired:\n{}", proxy.describe());
    assert!(dir_entries(&dir.path.join("run").join("tmp")).is_empty(), "idpush left files in TMPDIR");

    let stored = verify_registry_image(&env().registry, &repo, &pushed.digest, &id, &image_diff_ids(&image));
    let layer = stored.manifest["layers"][0]["size"].as_u64().expect("layer size");
    assert!(layer > 4 * 1024 * 1024, "the layer must span several chunks: {layer} bytes");
    let sent = proxy.body_bytes(fault_proxy::blob_patch);
    assert!(
        (sent as f64) < 1.5 * layer as f64,
        "PATCH bodies carried {sent} bytes for a {layer}-byte layer:\n{}",
        proxy.describe()
    );
    assert!(out.stderr.contains("resuming the upload of blob"), "{}", out.describe());
    assert_eq!(proxy.count(fault_proxy::upload_start), 2, "one session for the layer, one for the config:\n{}", proxy.describe());

    docker_rmi(&[&image]);
    let reference = format!("{}/{repo}:v1", env().registry);
    images.add(&reference);
    assert_eq!(pull_and_id(&reference), id, "image pulled back has a different ID");
}
