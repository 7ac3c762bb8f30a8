//! The daemon source pushes exactly the image asked for, and nothing before it is known to
//! belong to it (issue 7, defects 2 and 7):
//! - an untagged name with several tags in the daemon pushes `:latest` alone (real dockerd);
//! - an export whose config is not the inspected image, or whose layer is not one of the
//!   inspected `RootFS.Layers`, is refused, with nothing of it uploaded and nothing tagged;
//! - an OCI blob of something else in the export is kept back, not uploaded;
//! - the export is not even asked for before the registry answered and accepted the
//!   credentials.

use crate::corpus::{small_layer, tar_of, Item};
use crate::fake_daemon::{Export, FakeDaemon, FakeImage};
use crate::http;
use crate::support::*;
use std::io::Write;

/// Status of `HEAD /v2/<repo>/blobs/<digest>` on the plain registry.
fn blob_status(repo: &str, digest: &str) -> u16 {
    http::request("HEAD", &env().registry, &format!("/v2/{repo}/blobs/{digest}"), &[]).unwrap().status
}

/// The config and layer digests of the manifest at `repo@digest`.
fn manifest_blobs(repo: &str, digest: &str) -> Vec<String> {
    let raw = skopeo_raw_manifest(&format!("{}/{repo}@{digest}", env().registry));
    let m: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let mut blobs = vec![m["config"]["digest"].as_str().unwrap().to_string()];
    blobs.extend(m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()));
    blobs
}

/// Pushes `image` to a fresh repo of the plain registry; returns (repo, manifest digest).
fn push_fresh(dir: &TestDir, image: &str, what: &str) -> (String, Pushed) {
    let repo = format!("e2e/{}", unique(what));
    let out = Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
        .args(["push", image, &format!("{}/{repo}:v1", env().registry)])
        .run();
    (repo, parse_pushed(&out))
}

/// Regression (defect 2): `idpush push X DEST` exported by name, and the daemon sent every tag
/// of X: blobs of every image went up, and the tag went to whichever image came first.
#[test]
fn untagged_name_pushes_only_latest() {
    let dir = TestDir::new("source-untagged");
    let mut images = ImageGuard::new();
    let repo_name = unique("e2e-untagged");
    let (latest, other, third) = (format!("{repo_name}:latest"), format!("{repo_name}:other"), format!("{repo_name}:third"));
    let latest_id = import_image(&dir.path, &latest, 8 * 1024);
    images.add(&latest);
    let other_id = import_image(&dir.path, &other, 12 * 1024);
    images.add(&other);
    let third_id = build_image(
        &dir.path,
        &third,
        "FROM scratch\nCOPY unrelated /unrelated\n",
        &[("unrelated", repo_name.as_bytes())],
    );
    images.add(&third);
    assert!(latest_id != other_id && other_id != third_id && latest_id != third_id);

    // What idpush pushes for the other two, each to a repository of its own.
    let (other_repo, other_pushed) = push_fresh(&dir, &other, "untagged-other");
    let (third_repo, third_pushed) = push_fresh(&dir, &third, "untagged-third");
    let mut foreign = manifest_blobs(&other_repo, &other_pushed.digest);
    foreign.extend(manifest_blobs(&third_repo, &third_pushed.digest));
    foreign.extend(image_diff_ids(&other));
    foreign.extend(image_diff_ids(&third));

    let repo = format!("e2e/{}", unique("untagged"));
    let dest = format!("{}/{repo}:v1", env().registry);
    let out = Idpush::new(&dir.sub("run"), &env().docker_host).args(["push", &repo_name, &dest]).run();
    let pushed = parse_pushed(&out);
    let image = verify_registry_image(&env().registry, &repo, &pushed.digest, &latest_id, &image_diff_ids(&latest));
    assert_eq!(image.layer_digests.len(), 1);
    for digest in std::iter::once(&image.config_digest).chain(&image.layer_digests) {
        assert_eq!(blob_status(&repo, digest), 200, "{digest} of {latest}");
    }
    for digest in &foreign {
        assert_eq!(blob_status(&repo, digest), 404, "blob {digest} of another tag is in {repo}:\n{}", out.describe());
    }

    let reference = format!("{}/{repo}:v1", env().registry);
    images.add(&reference);
    assert_eq!(pull_and_id(&reference), latest_id, "the pushed image is not {latest}");
}

/// A gzipped layer (stored as it comes, so its blob digest is known here) and its diff_id.
fn gz_layer(seed: &str) -> (Vec<u8>, String) {
    let plain = small_layer(seed);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    (gz.finish().unwrap(), sha256_digest(&plain))
}

/// A classic `docker save` of an image with these (stored bytes, diff_id) layers, layers first
/// in the stream, in order. Returns the tar and the image ID.
fn classic_export(layers: &[(Vec<u8>, String)]) -> (Vec<u8>, String) {
    let diff_ids: Vec<&String> = layers.iter().map(|(_, d)| d).collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let id = sha256_digest(&config);
    let config_name = format!("{}.json", id.trim_start_matches("sha256:"));
    let paths: Vec<String> = (0..layers.len()).map(|i| format!("l{i}/layer.tar")).collect();
    let mut items: Vec<Item> = layers.iter().zip(&paths).map(|((bytes, _), p)| Item::File(p.clone(), bytes.clone())).collect();
    items.push(Item::File(config_name.clone(), config));
    let manifest = serde_json::json!([{"Config": config_name, "RepoTags": null, "Layers": paths}]);
    items.push(Item::File("manifest.json".into(), serde_json::to_vec(&manifest).unwrap()));
    (tar_of(&items), id)
}

fn fake(name: &str, id: &str, diff_ids: &[String], tar: Vec<u8>) -> FakeImage {
    FakeImage { name: name.into(), id: id.into(), diff_ids: diff_ids.to_vec(), size: tar.len() as u64, export: Export::Full(tar) }
}

/// Pushes `src:v1` from `daemon` to a fresh repo of the plain registry; expects exit 1 with
/// `want` in the one error line. Returns the repo.
fn push_fails(dir: &TestDir, daemon: &FakeDaemon, what: &str, want: &str) -> String {
    let repo = format!("e2e/{}", unique(what));
    let run = dir.sub(&unique("run"));
    let out = Idpush::new(&run, &daemon.docker_host()).args(["push", "-q", "src:v1", &format!("{}/{repo}:v1", env().registry)]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let lines = out.error_lines();
    assert_eq!(lines.len(), 1, "{}", out.describe());
    assert!(lines[0].contains(want), "want {want:?}:\n{}", out.describe());
    assert!(dir_entries(&run.join("tmp")).is_empty(), "TMPDIR not empty:\n{}", out.describe());
    let (status, _) = registry_manifest_digest(&env().registry, &repo, "v1");
    assert_eq!(status, 404, "{repo}:v1 was tagged:\n{}", out.describe());
    repo
}

/// Regression (defect 2): the export was never checked against the image inspect named, so a
/// name re-tagged between inspect and export pushed the other image.
#[test]
fn export_of_another_image_than_inspected_is_refused() {
    let dir = TestDir::new("source-retagged");
    let (layer, diff_id) = gz_layer(&unique("retagged"));
    let (tar, exported_id) = classic_export(&[(layer, diff_id.clone())]);
    let inspected_id = sha256_digest(unique("the-image-inspect-named").as_bytes());
    let daemon = FakeDaemon::start(&dir.path, Some(fake("src:v1", &inspected_id, &[diff_id], tar)));
    push_fails(&dir, &daemon, "retagged", &format!("is image {exported_id}, not the image {inspected_id}"));
    let exports: Vec<String> = daemon.requests().into_iter().filter(|r| r.contains("/images/get")).collect();
    assert_eq!(exports, [format!("GET /v{}/images/get?names={inspected_id}", crate::fake_daemon::API_VERSION)], "exported by ID");
}

/// Regression (defect 7): layers went up as they were read, before anything checked them
/// against the image: an export whose first layer is not the inspected one uploaded it.
#[test]
fn export_whose_first_layer_is_not_the_inspected_one_uploads_nothing() {
    let dir = TestDir::new("source-badlayer");
    let good0 = gz_layer(&unique("good0"));
    let good1 = gz_layer(&unique("good1"));
    let evil = gz_layer(&unique("evil"));
    let (_, inspected_id) = classic_export(&[good0.clone(), good1.clone()]);
    let (tar, _) = classic_export(&[evil.clone(), good1.clone()]);
    let daemon = FakeDaemon::start(&dir.path, Some(fake("src:v1", &inspected_id, &[good0.1.clone(), good1.1.clone()], tar)));
    let repo = push_fails(&dir, &daemon, "badlayer", &format!("layer l0/layer.tar has content {}", evil.1));
    for (bytes, _) in [&evil, &good1] {
        let digest = sha256_digest(bytes);
        assert_eq!(blob_status(&repo, &digest), 404, "blob {digest} was uploaded");
    }
}

/// An OCI export (Engine 25+) may hold blobs of other platforms: intact blobs that are no layer
/// of the image are kept back, and the push goes on.
#[test]
fn oci_blob_of_something_else_is_not_uploaded() {
    let dir = TestDir::new("source-otherblob");
    let (layer, diff_id) = gz_layer(&unique("mine"));
    let (foreign, _) = gz_layer(&unique("other-platform"));
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    let id = sha256_digest(&config);
    let (layer_digest, foreign_digest) = (sha256_digest(&layer), sha256_digest(&foreign));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": id, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256_digest(&manifest), "size": manifest.len()}],
    }))
    .unwrap();
    let mut blobs = vec![(hex(&layer_digest), layer), (hex(&foreign_digest), foreign), (hex(&id), config)];
    blobs.push((hex(&sha256_digest(&manifest)), manifest));
    blobs.sort();
    let mut items: Vec<Item> = blobs.into_iter().map(|(h, b)| Item::File(format!("blobs/sha256/{h}"), b)).collect();
    items.push(Item::File("index.json".into(), index));
    items.push(Item::File("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
    let daemon = FakeDaemon::start(&dir.path, Some(fake("src:v1", &id, std::slice::from_ref(&diff_id), tar_of(&items))));
    let repo = format!("e2e/{}", unique("otherblob"));
    let out = Idpush::new(&dir.sub("run"), &daemon.docker_host()).args(["push", "src:v1", &format!("{}/{repo}:v1", env().registry)]).run();
    let pushed = parse_pushed(&out);
    verify_registry_image(&env().registry, &repo, &pushed.digest, &id, &[diff_id]);
    assert_eq!(blob_status(&repo, &foreign_digest), 404, "the other platform's blob was uploaded");
}

/// The requests to the fake daemon that asked for an export.
fn export_requests(daemon: &FakeDaemon) -> Vec<String> {
    daemon.requests().into_iter().filter(|r| r.contains("/images/get")).collect()
}

fn fake_good_image(what: &str) -> FakeImage {
    let (layer, diff_id) = gz_layer(&unique(what));
    let (tar, id) = classic_export(&[(layer, diff_id.clone())]);
    fake("src:v1", &id, &[diff_id], tar)
}

/// Regression (defect 7): the export was opened (and layers read) before the registry was
/// pinged; an unreachable registry is now found out before a single export request.
#[test]
fn unreachable_registry_means_no_export_request() {
    let dir = TestDir::new("source-unreachable");
    let daemon = FakeDaemon::start(&dir.path, Some(fake_good_image("unreachable")));
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let run = dir.sub("run");
    let out = Idpush::new(&run, &daemon.docker_host())
        .args(["push", "-q", "--retries", "0", "src:v1", &format!("127.0.0.1:{port}/e2e/x:v1")])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.contains(&format!("127.0.0.1:{port}")), "{}", out.describe());
    assert!(export_requests(&daemon).is_empty(), "export asked for: {:?}\n{}", daemon.requests(), out.describe());
    assert!(!daemon.export_started());
    assert!(daemon.requests().iter().any(|r| r.contains("/images/src:v1/json")), "inspect first: {:?}", daemon.requests());
    assert!(dir_entries(&run.join("tmp")).is_empty());
}

/// The credentials are tried (a HEAD in the destination repository) before the export starts:
/// a wrong password costs no export.
#[test]
fn refused_credentials_mean_no_export_request() {
    let a = crate::token_server::ensure();
    let dir = TestDir::new("source-refused");
    let daemon = FakeDaemon::start(&dir.path, Some(fake_good_image("refused")));
    let out = Idpush::new(&dir.sub("run"), &daemon.docker_host())
        .args(["push", "-q", "src:v1", &format!("{}/auth/{}:v1", a.basic_registry, unique("refused"))])
        .args(["-u", &a.user, "-p", "not-the-password-17"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.contains(&format!("refused user {}", a.user)), "{}", out.describe());
    assert!(export_requests(&daemon).is_empty(), "export asked for: {:?}\n{}", daemon.requests(), out.describe());
}
