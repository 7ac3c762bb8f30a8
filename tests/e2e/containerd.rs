//! The containerd image store's export (Docker 29+ by default), served by the fake daemon with
//! an `/info` that names the store (issue 11): an OCI layout whose layers are gzipped as pulled,
//! index.json naming an image index of two platforms (the absent one listed first, as an image
//! pulled for one platform exports), a docker-compatible manifest.json, and an image ID that is
//! the index's digest, not the config's. idpush must push the gzipped layers as they are (same
//! digests, no recompression) and the real daemon must pull back the same config.

use crate::fake_daemon::{Containerd, Export, FakeDaemon, FakeImage};
use crate::support::*;
use std::io::Write;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

struct ContainerdExport {
    tar: Vec<u8>,
    /// The index digest: the image ID in the containerd store.
    id: String,
    /// The config digest: the image ID once pulled into the classic store.
    config: String,
    diff_ids: Vec<String>,
    /// The gzipped layers' digests, as the daemon has them.
    blobs: Vec<String>,
    /// The export of the linux/amd64 platform alone (`platform` parameter): index.json names
    /// that manifest, and the index is not in it.
    platform_tar: Vec<u8>,
    /// The linux/amd64 manifest's digest and the absent linux/arm64 one's.
    manifest: String,
    absent: String,
}

/// The containerd-store export of `image` (from the private dockerd's classic `docker save`).
fn containerd_export(image: &str) -> ContainerdExport {
    let save = docker_cmd(&["save", image]).output().expect("docker save");
    assert!(save.status.success(), "docker save {image} failed");
    let files = read_tar(&save.stdout);
    let legacy: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config = files[legacy[0]["Config"].as_str().unwrap()].clone();
    let config_digest = sha256_digest(&config);
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let mut blobs: Vec<(String, Vec<u8>)> = vec![(hex(&config_digest), config.clone())];
    let (mut diff_ids, mut gz_digests, mut descs) = (vec![], vec![], vec![]);
    for p in legacy[0]["Layers"].as_array().unwrap() {
        let layer = &files[p.as_str().unwrap()];
        diff_ids.push(sha256_digest(layer));
        // Not idpush's compressor: best compression, so a recompressed layer could not match.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(layer).unwrap();
        let gz = e.finish().unwrap();
        let d = sha256_digest(&gz);
        descs.push(serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": gz.len()}));
        gz_digests.push(d.clone());
        blobs.push((hex(&d), gz));
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = sha256_digest(&manifest);
    blobs.push((hex(&md), manifest.clone()));
    let absent = sha256_digest(b"the linux/arm64 manifest, not exported");
    let absent = absent.as_str().to_string();
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": absent, "size": 1234, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": OCI_MANIFEST, "digest": md, "size": manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    }))
    .unwrap();
    let id = sha256_digest(&index);
    blobs.push((hex(&id), index.clone()));
    let top = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_INDEX, "digest": id, "size": index.len(),
            "annotations": {"io.containerd.image.name": format!("docker.io/library/{image}"), "org.opencontainers.image.ref.name": image.rsplit(':').next().unwrap()}}],
    });
    let compat = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", hex(&config_digest)),
        "RepoTags": [image],
        "Layers": gz_digests.iter().map(|d| format!("blobs/sha256/{}", hex(d))).collect::<Vec<_>>(),
    }]);
    // The order Docker 29 writes: blobs (by digest), then index.json, manifest.json, oci-layout.
    let layout = |blobs: &[(String, Vec<u8>)], top: &serde_json::Value| {
        let mut blobs = blobs.to_vec();
        blobs.sort();
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o444);
            h.set_mtime(0);
            b.append_data(&mut h, path, data).unwrap();
        };
        for (hex, data) in &blobs {
            add(&format!("blobs/sha256/{hex}"), data);
        }
        add("index.json", top.to_string().as_bytes());
        add("manifest.json", compat.to_string().as_bytes());
        add("oci-layout", br#"{"imageLayoutVersion": "1.0.0"}"#);
        b.into_inner().unwrap()
    };
    let tar = layout(&blobs, &top);
    // One platform: index.json names its manifest, and the index blob is left out.
    let single: Vec<(String, Vec<u8>)> = blobs.iter().filter(|(h, _)| *h != hex(&id)).cloned().collect();
    let single_top = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": md, "size": manifest.len(), "platform": {"architecture": "amd64", "os": "linux"}}],
    });
    let platform_tar = layout(&single, &single_top);
    ContainerdExport { tar, id, config: config_digest, diff_ids, blobs: gz_digests, platform_tar, manifest: md, absent }
}

fn two_layer_image(dir: &TestDir, images: &mut ImageGuard) -> String {
    let base = format!("{}:base", unique("e2e-ctrd-base"));
    import_image(&dir.path, &base, 64 * 1024);
    images.add(&base);
    let image = format!("{}:v1", unique("e2e-ctrd"));
    build_image(&dir.path, &image, &format!("FROM {base}\nCOPY note.txt /etc/note.txt\n"), &[("note.txt", image.as_bytes())]);
    images.add(&image);
    image
}

/// What `?manifests=1` says: arm64 listed but not available, amd64 available.
fn containerd(export: &ContainerdExport) -> Option<Containerd> {
    let manifests = serde_json::json!([
        {"ID": export.absent, "Available": false, "Kind": "image", "ImageData": {"Platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}},
        {"ID": export.manifest, "Available": true, "Kind": "image", "ImageData": {"Platform": {"os": "linux", "architecture": "amd64"}}},
    ]);
    Some(Containerd { manifests, platform_export: Some(export.platform_tar.clone()) })
}

fn fake(image: &str, export: &ContainerdExport) -> FakeImage {
    FakeImage { name: image.to_string(), id: export.id.clone(), diff_ids: export.diff_ids.clone(), size: export.tar.len() as u64, export: Export::Full(export.tar.clone()) }
}

#[test]
fn the_containerd_store_export_is_pushed_with_its_compressed_layers_as_they_are() {
    let dir = TestDir::new("ctrd");
    let mut images = ImageGuard::new();
    let image = two_layer_image(&dir, &mut images);
    let export = containerd_export(&image);
    let daemon = FakeDaemon::start_as(&dir.path, Some(fake(&image, &export)), "1.52", containerd(&export));
    let repo = unique("ctrd/push");
    let dest = format!("{}/{repo}:v1", env().registry);
    let out = Idpush::new(&dir.sub("run"), &daemon.docker_host()).args(["push", &image, &dest, "--log-level", "debug"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stderr.contains("uses the containerd image store"), "{}", out.describe());
    let requests = daemon.requests();
    assert!(requests.iter().any(|r| r == "GET /v1.49/info"), "{requests:?}");
    assert!(!requests.iter().any(|r| r.contains("platform=")), "no --platform, no platform parameter: {requests:?}");
    let pushed = parse_pushed(&out);
    let got = verify_registry_image(&env().registry, &repo, &pushed.digest, &export.config, &export.diff_ids);
    let layers: Vec<String> = got.manifest["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect();
    assert_eq!(layers, export.blobs, "the layers were recompressed, not pushed as the daemon had them");
    images.add(&pushed.by_digest());
    assert_eq!(pull_and_id(&pushed.by_digest()), export.config, "image ID after pulling into the classic store");
}

#[test]
fn platform_goes_to_daemons_that_know_it_and_is_refused_by_older_ones() {
    let dir = TestDir::new("ctrd-platform");
    let mut images = ImageGuard::new();
    let image = two_layer_image(&dir, &mut images);
    let export = containerd_export(&image);
    let dest = format!("{}/{}:v1", env().registry, unique("ctrd/platform"));
    let new = FakeDaemon::start_as(&dir.sub("new"), Some(fake(&image, &export)), "1.52", containerd(&export));
    let out = Idpush::new(&dir.sub("run1"), &new.docker_host()).args(["push", &image, &dest, "--platform", "linux/amd64"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let with_platform: Vec<String> = new.requests().into_iter().filter(|r| r.contains("platform=%7B%22architecture%22%3A%22amd64%22%2C%22os%22%3A%22linux%22%7D")).collect();
    assert_eq!(with_platform.len(), 2, "inspect and export, each with the platform: {:?}", new.requests());
    assert!(new.requests().iter().any(|r| r.contains("/json?manifests=1")), "{:?}", new.requests());
    let pushed = parse_pushed(&out);
    verify_registry_image(&env().registry, &pushed.repo, &pushed.digest, &export.config, &export.diff_ids);
    // A platform the daemon lists but does not have: not found, naming what it has.
    let out = Idpush::new(&dir.sub("run3"), &new.docker_host()).args(["push", &image, &dest, "--platform", "linux/arm64"]).run();
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains(&format!("image not found: {image} for linux/arm64 (the daemon at {} has it for linux/amd64)", new.docker_host())), "{}", out.describe());
    let old = FakeDaemon::start_as(&dir.sub("old"), Some(fake(&image, &export)), "1.47", containerd(&export));
    let out = Idpush::new(&dir.sub("run2"), &old.docker_host()).args(["push", &image, &dest, "--platform", "linux/amd64"]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.contains("--platform linux/amd64 needs a daemon with API v1.49 or newer"), "{}", out.describe());
    assert!(!old.requests().iter().any(|r| r.contains("/images/")), "nothing but the ping: {:?}", old.requests());
}
