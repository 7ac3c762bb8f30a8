//! Checking what is in the registry: manifests, blobs and pulled-back image IDs.

use super::*;

/// What a manifest in the registry says, checked against the blobs the registry holds.
#[derive(Debug)]
#[allow(dead_code)]
pub struct RegistryImage {
    pub manifest: serde_json::Value,
    pub config_digest: String,
    pub layer_digests: Vec<String>,
}

fn registry_path(repo: &str, kind: &str, reference: &str) -> String {
    format!("/v2/{repo}/{kind}/{reference}")
}

/// Verify the image at `registry/repo@digest`:
/// - the manifest bytes (read with skopeo) hash to `digest`; its config is `expected_id`;
/// - it has one layer per diff ID, and each layer blob (HEAD: Content-Length equals the
///   descriptor's size; GET: bytes hash to the descriptor's digest) un-gzips, if compressed, to
///   a tar whose sha256 is the matching diff ID;
/// - the config blob is there with the right size and digest.
pub fn verify_registry_image(
    registry: &str,
    repo: &str,
    digest: &str,
    expected_id: &str,
    expected_diff_ids: &[String],
) -> RegistryImage {
    let raw = skopeo_raw_manifest(&format!("{registry}/{repo}@{digest}"));
    assert_eq!(
        sha256_digest(&raw),
        digest,
        "manifest bytes from skopeo do not hash to the printed digest"
    );
    let manifest: serde_json::Value = serde_json::from_slice(&raw).expect("manifest is JSON");
    assert_eq!(manifest["schemaVersion"], 2, "manifest: {manifest}");
    let media_type = manifest["mediaType"].as_str().unwrap_or("");
    assert!(
        media_type == "application/vnd.docker.distribution.manifest.v2+json"
            || media_type == "application/vnd.oci.image.manifest.v1+json"
            || media_type.is_empty(),
        "unexpected manifest media type {media_type:?}"
    );

    let config = &manifest["config"];
    let config_digest = config["digest"]
        .as_str()
        .expect("config.digest")
        .to_string();
    assert_eq!(
        config_digest, expected_id,
        "the manifest's config is not the original image's config (image ID)"
    );
    let config_size = config["size"].as_u64().expect("config.size");
    let head = http::request(
        "HEAD",
        registry,
        &registry_path(repo, "blobs", &config_digest),
        &[],
    )
    .unwrap();
    assert_eq!(head.status, 200, "HEAD config blob {config_digest}");
    assert_eq!(
        head.content_length(),
        Some(config_size),
        "config blob Content-Length vs descriptor size"
    );
    let cfg = http::request(
        "GET",
        registry,
        &registry_path(repo, "blobs", &config_digest),
        &[],
    )
    .unwrap();
    assert_eq!(cfg.status, 200);
    assert_eq!(
        sha256_digest(&cfg.body),
        config_digest,
        "config blob content does not match its digest"
    );
    let cfg_json: serde_json::Value = serde_json::from_slice(&cfg.body).expect("config is JSON");
    let cfg_diff_ids: Vec<String> = cfg_json["rootfs"]["diff_ids"]
        .as_array()
        .expect("config rootfs.diff_ids")
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        cfg_diff_ids, expected_diff_ids,
        "config diff_ids vs the daemon's RootFS.Layers"
    );

    let layers = manifest["layers"].as_array().expect("manifest layers");
    assert_eq!(
        layers.len(),
        expected_diff_ids.len(),
        "manifest has {} layers, the image has {} (duplicates included)",
        layers.len(),
        expected_diff_ids.len()
    );
    let mut layer_digests = Vec::new();
    for (i, (layer, diff_id)) in layers.iter().zip(expected_diff_ids).enumerate() {
        let ldigest = layer["digest"].as_str().expect("layer digest").to_string();
        let lsize = layer["size"].as_u64().expect("layer size");
        let lmedia = layer["mediaType"].as_str().unwrap_or("").to_string();
        let head = http::request(
            "HEAD",
            registry,
            &registry_path(repo, "blobs", &ldigest),
            &[],
        )
        .unwrap();
        assert_eq!(head.status, 200, "HEAD layer {i} {ldigest}");
        assert_eq!(
            head.content_length(),
            Some(lsize),
            "layer {i} {ldigest}: Content-Length vs descriptor size"
        );
        let blob = http::request(
            "GET",
            registry,
            &registry_path(repo, "blobs", &ldigest),
            &[],
        )
        .unwrap();
        assert_eq!(blob.status, 200, "GET layer {i}");
        assert_eq!(blob.body.len() as u64, lsize, "layer {i} body length");
        assert_eq!(
            sha256_digest(&blob.body),
            ldigest,
            "layer {i} content does not match its digest"
        );
        let uncompressed = if blob.body.starts_with(&[0x1f, 0x8b]) {
            assert!(
                lmedia.contains("gzip"),
                "layer {i} is gzip but its media type is {lmedia:?}"
            );
            let mut d = flate2::read::GzDecoder::new(&blob.body[..]);
            let mut v = Vec::new();
            d.read_to_end(&mut v).expect("gunzip layer");
            v
        } else {
            assert!(
                !lmedia.contains("gzip") && !lmedia.contains("zstd"),
                "layer {i} is not compressed but its media type is {lmedia:?}"
            );
            blob.body
        };
        assert_eq!(
            &sha256_digest(&uncompressed),
            diff_id,
            "layer {i}: uncompressed content vs diff ID"
        );
        layer_digests.push(ldigest);
    }
    RegistryImage {
        manifest,
        config_digest,
        layer_digests,
    }
}

/// GET a manifest by tag over HTTP (accepting docker v2 and OCI): status and
/// Docker-Content-Digest.
pub fn registry_manifest_digest(
    registry: &str,
    repo: &str,
    reference: &str,
) -> (u16, Option<String>) {
    let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
    let r = http::request(
        "GET",
        registry,
        &registry_path(repo, "manifests", reference),
        &[("Accept", accept)],
    )
    .unwrap();
    let digest = r.header("docker-content-digest").map(|s| s.to_string());
    if r.status == 200 {
        assert_eq!(
            Some(sha256_digest(&r.body)),
            digest,
            "Docker-Content-Digest vs manifest bytes"
        );
    }
    (r.status, digest)
}

/// `docker pull REF` with the real daemon, then its image ID.
pub fn pull_and_id(reference: &str) -> String {
    docker(&["pull", "-q", reference]);
    image_id(reference)
}

/// PUT of raw bytes (a manifest, an index) straight to a plain-HTTP registry at `host`, with no
/// client in between; the status.
pub fn registry_put(host: &str, path: &str, content_type: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("no status in {text}"))
}
