//! The layer cache wired into the push, against the real daemon and registry: an unchanged
//! image is pushed without an export, a claim the registry does not confirm (a deleted blob, a
//! wrong size) is not trusted, an incremental image compresses only its new layer, and
//! `--compression none` / `--no-cache` do what they say. Every test has its own cache dir.

use crate::support::*;
use std::path::Path;

/// `idpush push IMAGE DEST --log-level debug` with the cache in `cache`.
fn push(dir: &TestDir, cache: &Path, image: &str, dest: &str, extra: &[&str]) -> (Pushed, Output) {
    let out = Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
        .env("IDPUSH_CACHE_DIR", cache.to_str().unwrap())
        .args(["push", image, dest, "--log-level", "debug"])
        .args(extra)
        .run();
    (parse_pushed(&out), out)
}

/// How many export requests (`GET …/images/get`) the run made to the daemon.
fn exports(out: &Output) -> usize {
    out.stderr_lines().iter().filter(|l| l.contains("docker: GET") && l.contains("/images/get")).count()
}

fn uploaded(out: &Output) -> Vec<String> {
    out.stderr_lines().iter().filter(|l| l.ends_with(" pushed")).map(|l| l.to_string()).collect()
}

/// A base image (one imported layer) and a child adding one compressible layer of more than
/// one codec block (so the parallel gzip path is taken), both removed by `images`.
fn base_and_child(dir: &TestDir, images: &mut ImageGuard, what: &str) -> (String, String) {
    let base = format!("{}:base", unique(&format!("e2e-{what}")));
    import_image(&dir.path, &base, 64 * 1024);
    images.add(&base);
    let child = format!("{}:child", unique(&format!("e2e-{what}")));
    let text: Vec<u8> = (0..40_000).flat_map(|i| format!("line {i} of {child}\n").into_bytes()).collect();
    build_image(&dir.path, &child, &format!("FROM {base}\nCOPY app.txt /app.txt\n"), &[("app.txt", &text)]);
    images.add(&child);
    (base, child)
}

fn layer_digests(repo: &str, digest: &str, image: &str) -> Vec<String> {
    verify_registry_image(&env().registry, repo, digest, &image_id(image), &image_diff_ids(image)).layer_digests
}

#[test]
fn unchanged_repush_under_a_new_tag_makes_no_export_and_uploads_nothing() {
    let dir = TestDir::new("cache-unchanged");
    let cache = dir.sub("cache");
    let mut images = ImageGuard::new();
    let (_, image) = base_and_child(&dir, &mut images, "cache-unchanged");
    let repo = format!("e2e/{}", unique("cache-unchanged"));
    let registry = &env().registry;

    let (first, out) = push(&dir, &cache, &image, &format!("{registry}/{repo}:v1"), &[]);
    assert_eq!(exports(&out), 1, "a first push exports:\n{}", out.describe());
    assert!(!dir_entries(&cache.join("v1/layers")).is_empty(), "the push fills the cache");

    let (second, out) = push(&dir, &cache, &image, &format!("{registry}/{repo}:v2"), &[]);
    assert_eq!(exports(&out), 0, "an unchanged image is pushed without an export:\n{}", out.describe());
    assert!(uploaded(&out).is_empty(), "nothing is uploaded:\n{}", out.describe());
    assert!(out.stderr.contains("0 blobs uploaded") && out.stderr.contains("no export needed"), "{}", out.describe());
    assert_eq!(second.digest, first.digest, "the manifest built from the cache is the one a full push makes");
    let (status, by_tag) = registry_manifest_digest(registry, &repo, "v2");
    assert_eq!((status, by_tag.as_deref()), (200, Some(first.digest.as_str())), "the new tag resolves to the same digest");
    verify_registry_image(registry, &repo, &second.digest, &image_id(&image), &image_diff_ids(&image));
}

#[test]
fn a_layer_deleted_behind_the_caches_back_is_uploaded_again() {
    let dir = TestDir::new("cache-deleted");
    let cache = dir.sub("cache");
    let mut images = ImageGuard::new();
    let (_, image) = base_and_child(&dir, &mut images, "cache-deleted");
    let repo = format!("e2e/{}", unique("cache-deleted"));
    let registry = &env().registry;
    let (first, _) = push(&dir, &cache, &image, &format!("{registry}/{repo}:v1"), &[]);
    let layers = layer_digests(&repo, &first.digest, &image);
    let gone = &layers[1];
    let r = crate::http::request("DELETE", registry, &format!("/v2/{repo}/blobs/{gone}"), &[]).unwrap();
    assert_eq!(r.status, 202, "DELETE of blob {gone}");

    let (second, out) = push(&dir, &cache, &image, &format!("{registry}/{repo}:v2"), &[]);
    assert_eq!(exports(&out), 1, "a layer missing from the registry needs the export:\n{}", out.describe());
    let up = uploaded(&out);
    assert_eq!(up.len(), 1, "exactly the deleted layer is uploaded again:\n{}", out.describe());
    assert!(gone.contains(up[0].split(' ').nth(1).unwrap()), "{up:?} vs {gone}");
    assert_eq!(second.digest, first.digest);
    verify_registry_image(registry, &repo, &second.digest, &image_id(&image), &image_diff_ids(&image));
}

#[test]
fn an_incremental_image_compresses_only_its_new_layer_and_pulls_back_identical() {
    let dir = TestDir::new("cache-incremental");
    let cache = dir.sub("cache");
    let mut images = ImageGuard::new();
    let (base, child) = base_and_child(&dir, &mut images, "cache-incremental");
    let repo = format!("e2e/{}", unique("cache-incremental"));
    let registry = &env().registry;
    push(&dir, &cache, &base, &format!("{registry}/{repo}:base"), &[]);

    let (pushed, out) = push(&dir, &cache, &child, &format!("{registry}/{repo}:child"), &[]);
    let diff_ids = image_diff_ids(&child);
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let reused: Vec<&str> = out.stderr_lines().into_iter().filter(|l| l.contains("debug: reused ")).collect();
    let spooled: Vec<&str> = out.stderr_lines().into_iter().filter(|l| l.contains("debug: spooled ")).collect();
    assert!(reused.len() == 1 && reused[0].contains(&hex(&diff_ids[0])), "the base layer is reused:\n{}", out.describe());
    assert!(spooled.len() == 1 && spooled[0].contains(&hex(&diff_ids[1])), "only the new layer is compressed:\n{}", out.describe());
    assert_eq!(uploaded(&out).len(), 2, "the new layer and the config:\n{}", out.describe());
    verify_registry_image(registry, &repo, &pushed.digest, &image_id(&child), &diff_ids);

    // The codec's gzip output (the new layer is several blocks) pulls back with the daemon.
    let id = image_id(&child);
    docker_rmi(&[&child]);
    let reference = format!("{registry}/{repo}:child");
    images.add(&reference);
    assert_eq!(pull_and_id(&reference), id, "the image pulled back has another ID");
}

#[test]
fn an_export_the_cache_cannot_spare_is_asked_for_while_the_registry_confirms_the_rest() {
    use crate::fault_proxy::{self, Fault, FaultProxy};
    let dir = TestDir::new("cache-early");
    let cache = dir.sub("cache");
    let mut images = ImageGuard::new();
    let (base, child) = base_and_child(&dir, &mut images, "cache-early");
    let proxy = FaultProxy::start(&env().registry);
    let repo = format!("e2e/{}", unique("cache-early"));
    push(&dir, &cache, &base, &format!("{}/{repo}:base", proxy.addr()), &[]);

    // The child's new layer is not in the cache, so its push needs the export whatever the
    // registry says. The HEAD confirming the cached base layer (after the one for the config)
    // stalls past --read-timeout and is tried again: the export was asked for meanwhile.
    proxy.inject_after(fault_proxy::blob_head, 1, Fault::Stall(std::time::Duration::from_secs(5)), 1);
    let (pushed, out) = push(&dir, &cache, &child, &format!("{}/{repo}:child", proxy.addr()), &["--read-timeout", "1"]);
    let lines = out.stderr_lines();
    let export = lines.iter().position(|l| l.contains("docker: GET") && l.contains("/images/get"));
    let base_layer = lines.iter().find(|l| l.contains("debug: reused ")).and_then(|l| l.split(" is ").nth(1)).map(|d| d.split(' ').next().unwrap().to_string());
    let base_layer = base_layer.unwrap_or_else(|| panic!("the base layer is reused:\n{}", out.describe()));
    let heads: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.contains("> HEAD") && l.contains(&base_layer)).map(|(i, _)| i).collect();
    assert_eq!(heads.len(), 2, "the stalled HEAD of {base_layer} and its retry:\n{}", out.describe());
    assert!(export.is_some_and(|e| e < heads[1]), "the export is asked for before the cached layer is confirmed:\n{}", out.describe());
    assert_eq!(exports(&out), 1, "{}", out.describe());
    verify_registry_image(&env().registry, &repo, &pushed.digest, &image_id(&child), &image_diff_ids(&child));
}

#[test]
fn a_wrong_size_claim_in_the_cache_is_not_trusted() {
    let dir = TestDir::new("cache-size");
    let cache = dir.sub("cache");
    let mut images = ImageGuard::new();
    let (_, image) = base_and_child(&dir, &mut images, "cache-size");
    let repo = format!("e2e/{}", unique("cache-size"));
    let registry = &env().registry;
    let (first, _) = push(&dir, &cache, &image, &format!("{registry}/{repo}:v1"), &[]);
    let layers_dir = cache.join("v1/layers");
    let diff_id = image_diff_ids(&image)[1].clone();
    let entry = dir_entries(&layers_dir)
        .into_iter()
        .find(|n| n.starts_with(diff_id.trim_start_matches("sha256:")))
        .expect("a cache entry for the new layer");
    let path = layers_dir.join(&entry);
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let size = record["size"].as_u64().unwrap();
    record["size"] = (size + 1).into();
    std::fs::write(&path, serde_json::to_vec(&record).unwrap()).unwrap();

    let (second, out) = push(&dir, &cache, &image, &format!("{registry}/{repo}:v2"), &[]);
    assert_eq!(exports(&out), 1, "an unconfirmed claim means the export is read:\n{}", out.describe());
    assert!(
        out.stderr_lines().iter().any(|l| l.contains("debug: spooled ") && l.contains(diff_id.trim_start_matches("sha256:"))),
        "the layer with the wrong claim is compressed again, not reused:\n{}",
        out.describe()
    );
    assert_eq!(second.digest, first.digest);
    let fixed: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(fixed["size"].as_u64(), Some(size), "the push records the real size again");
}

#[test]
fn compression_none_pushes_uncompressed_oci_layers_that_pull_back_identical() {
    let dir = TestDir::new("cache-none");
    let cache = dir.sub("cache");
    let mut images = ImageGuard::new();
    let (_, image) = base_and_child(&dir, &mut images, "cache-none");
    let repo = format!("e2e/{}", unique("cache-none"));
    let registry = &env().registry;
    let (pushed, out) = push(&dir, &cache, &image, &format!("{registry}/{repo}:v1"), &["--compression", "none"]);
    let diff_ids = image_diff_ids(&image);
    let got = verify_registry_image(registry, &repo, &pushed.digest, &image_id(&image), &diff_ids);
    assert_eq!(got.manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json", "{}", out.describe());
    assert_eq!(got.manifest["config"]["mediaType"], "application/vnd.oci.image.config.v1+json");
    for (layer, diff_id) in got.manifest["layers"].as_array().unwrap().iter().zip(&diff_ids) {
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar");
        assert_eq!(layer["digest"].as_str(), Some(diff_id.as_str()), "an uncompressed layer's digest is its diff_id");
    }
    // Unchanged, under a new tag: no export with this codec either.
    let (again, out) = push(&dir, &cache, &image, &format!("{registry}/{repo}:v2"), &["--compression", "none"]);
    assert_eq!((exports(&out), again.digest.as_str()), (0, pushed.digest.as_str()), "{}", out.describe());

    let id = image_id(&image);
    docker_rmi(&[&image]);
    let reference = format!("{registry}/{repo}:v1");
    images.add(&reference);
    assert_eq!(pull_and_id(&reference), id, "the image pulled back has another ID");
}

#[test]
fn no_cache_writes_nothing_to_the_cache_dir() {
    let dir = TestDir::new("cache-off");
    let mut images = ImageGuard::new();
    let name = format!("{}:v1", unique("e2e-cache-off"));
    import_image(&dir.path, &name, 16 * 1024);
    images.add(&name);
    let repo = format!("e2e/{}", unique("cache-off"));
    let registry = &env().registry;
    let by_flag = dir.sub("by-flag");
    push(&dir, &by_flag, &name, &format!("{registry}/{repo}:v1"), &["--no-cache"]);
    assert!(dir_entries(&by_flag).is_empty(), "--no-cache wrote {:?}", dir_entries(&by_flag));
    let by_env = dir.sub("by-env");
    let out = Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
        .env("IDPUSH_CACHE_DIR", by_env.to_str().unwrap())
        .env("IDPUSH_NO_CACHE", "1")
        .args(["push", &name, &format!("{registry}/{repo}:v2")])
        .run();
    parse_pushed(&out);
    assert!(dir_entries(&by_env).is_empty(), "IDPUSH_NO_CACHE=1 wrote {:?}", dir_entries(&by_env));
}

#[test]
fn a_second_repository_gets_every_blob_mounted_without_an_export() {
    let dir = TestDir::new("cache-mount");
    let cache = dir.sub("cache");
    let mut images = ImageGuard::new();
    let (_, image) = base_and_child(&dir, &mut images, "cache-mount");
    let a = format!("e2e/{}", unique("cache-mount-a"));
    let b = format!("e2e/{}", unique("cache-mount-b"));
    let registry = &env().registry;
    let (first, _) = push(&dir, &cache, &image, &format!("{registry}/{a}:v1"), &[]);
    let (second, out) = push(&dir, &cache, &image, &format!("{registry}/{b}:v1"), &[]);
    assert_eq!(exports(&out), 0, "a second repository needs no export:\n{}", out.describe());
    assert!(uploaded(&out).is_empty(), "nothing is uploaded:\n{}", out.describe());
    assert!(out.stderr.contains(&format!("mounted from {a}")), "{}", out.describe());
    assert_eq!(second.digest, first.digest);
    verify_registry_image(registry, &b, &second.digest, &image_id(&image), &image_diff_ids(&image));
}

#[test]
fn a_refused_mount_falls_back_to_the_export_and_pushes_correctly() {
    let dir = TestDir::new("cache-refused");
    let cache = dir.sub("cache");
    let mut images = ImageGuard::new();
    let (_, image) = base_and_child(&dir, &mut images, "cache-refused");
    let a = format!("e2e/{}", unique("cache-refused-a"));
    let b = format!("e2e/{}", unique("cache-refused-b"));
    let registry = &env().registry;
    let (first, _) = push(&dir, &cache, &image, &format!("{registry}/{a}:v1"), &[]);
    let layers = layer_digests(&a, &first.digest, &image);
    let gone = &layers[1];
    let r = crate::http::request("DELETE", registry, &format!("/v2/{a}/blobs/{gone}"), &[]).unwrap();
    assert_eq!(r.status, 202, "DELETE of blob {gone}");

    // The cache still claims A holds the deleted blob: its mount is refused.
    let (second, out) = push(&dir, &cache, &image, &format!("{registry}/{b}:v1"), &[]);
    assert_eq!(exports(&out), 1, "a refused mount needs the export:\n{}", out.describe());
    assert_eq!(second.digest, first.digest);
    verify_registry_image(registry, &b, &second.digest, &image_id(&image), &image_diff_ids(&image));
}
