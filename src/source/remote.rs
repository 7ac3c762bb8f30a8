//! A base image read from a registry (`idpush build --base HOST/REPO[:TAG|@DIGEST]`) into a
//! store: the manifest (of an index or manifest list, the one child for the platform), the
//! config, and every layer streamed to disk as it comes, each checked against its descriptor
//! (digest and size) and each layer's diff_id against the config. The layers keep their bytes
//! (gzip stays the same gzip; an uncompressed tar stays uncompressed); zstd is refused before
//! anything is downloaded, since a build cannot reuse it.

use crate::digest::Digest;
use crate::error::{fail, Cause};
use crate::image::Image;
use crate::oci::{self, Descriptor, Platform};
use crate::registry::Registry;
use crate::store::Store;

/// Docker's manifest list, besides the OCI index ([`oci::OCI_INDEX`]).
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Reads `repo` at `reference` (a tag or a digest) from `registry` into `store`. Of an index,
/// the child for `platform` (attestation manifests never match); `shown` names the image in
/// messages (`host/repo:tag`). A layer for which `have` says true is not read at all (it is
/// already where the image goes: its blob is then absent from the store, and its diff_id is
/// the config's, unchecked).
pub fn read(
    registry: &mut Registry,
    repo: &str,
    reference: &str,
    platform: &Platform,
    shown: &str,
    store: Store,
    have: &mut dyn FnMut(&Descriptor) -> anyhow::Result<bool>,
) -> anyhow::Result<Image> {
    let top = registry.get_manifest(repo, reference)?;
    let fetched = if top.media_type == oci::OCI_INDEX || top.media_type == DOCKER_LIST {
        let index: oci::PlatformIndex = serde_json::from_slice(&top.bytes)
            .map_err(|e| fail(Cause::BadAnswer, format!("the index of {shown} does not parse: {e}")))?;
        let images = || index.manifests.iter().filter(|e| !is_attestation(&e.desc));
        let Some(child) = images().find(|e| e.platform.as_ref().is_some_and(|p| platform.matches(p))) else {
            let has: Vec<String> = images().filter_map(|e| e.platform.as_ref().map(|p| p.to_string())).collect();
            return Err(fail(
                Cause::NotInRegistry,
                format!("{shown} has no image for {platform} (it has {}): give --platform os/arch of one of them", has.join(", ")),
            ));
        };
        let fetched = registry.get_manifest(repo, &child.desc.digest.to_string())?;
        if fetched.media_type == oci::OCI_INDEX || fetched.media_type == DOCKER_LIST {
            return Err(fail(Cause::BadImage, format!("{shown}'s image for {platform} is itself an index: give its digest as the base")));
        }
        fetched
    } else {
        top
    };
    if fetched.media_type != oci::OCI_MANIFEST && fetched.media_type != oci::DOCKER_MANIFEST {
        return Err(fail(Cause::BadImage, format!("{shown} is a {:?}, not an image manifest", fetched.media_type)));
    }
    let manifest: oci::Manifest = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| fail(Cause::BadAnswer, format!("the manifest of {shown} does not parse: {e}")))?;
    if let Some(d) = manifest.layers.iter().find(|d| !reusable(&d.media_type)) {
        return Err(fail(
            Cause::BadInput,
            format!("the base {shown} has a layer {} of type {}: a build can only reuse gzip or uncompressed tar layers", d.digest, d.media_type),
        ));
    }
    let config = registry.get_small_blob(repo, &manifest.config.digest, manifest.config.size)?;
    let diff_ids = serde_json::from_slice::<oci::Config>(&config)
        .map_err(|e| fail(Cause::BadImage, format!("the config of {shown} has no rootfs.diff_ids: {e}")))?
        .rootfs
        .diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(fail(
            Cause::BadImage,
            format!("the config of {shown} lists {} layers, its manifest {}", diff_ids.len(), manifest.layers.len()),
        ));
    }
    store.write_blob(&config)?;
    for (d, diff_id) in manifest.layers.iter().zip(&diff_ids) {
        crate::interrupt::check()?;
        if have(d)? {
            continue;
        }
        let got = layer(registry, repo, d, &store)?;
        if got != *diff_id {
            return Err(fail(
                Cause::BadImage,
                format!("layer {} of {shown} unpacks to {got}, but its config says {diff_id}", d.digest),
            ));
        }
    }
    Ok(Image {
        store,
        config: manifest.config,
        layers: manifest.layers,
        manifest: fetched.bytes,
        manifest_media_type: fetched.media_type,
        manifest_digest: fetched.digest,
    })
}

/// One layer into the store, byte for byte; returns its diff_id (the digest of the tar).
fn layer(registry: &mut Registry, repo: &str, d: &Descriptor, store: &Store) -> anyhow::Result<Digest> {
    let gzip = d.media_type.ends_with("gzip");
    registry.get_blob(repo, &d.digest, d.size, |body| {
        if gzip {
            // Kept as it is; the spool unpacks it only to hash the tar.
            let layer = store.spool_layer(body)?;
            Ok((layer.diff_id, layer.blob.digest, layer.blob.size))
        } else {
            let blob = store.spool_exact(body)?;
            Ok((blob.digest.clone(), blob.digest, blob.size))
        }
    })
}

/// A layer type a build can put under its own: a tar, plain or gzipped.
fn reusable(media_type: &str) -> bool {
    matches!(
        media_type,
        oci::OCI_LAYER | oci::OCI_LAYER_GZIP | oci::DOCKER_LAYER_GZIP | "application/vnd.docker.image.rootfs.diff.tar"
    )
}

/// `vnd.docker.reference.type: attestation-manifest`: buildx's provenance and SBOM manifests.
fn is_attestation(d: &Descriptor) -> bool {
    d.annotations.as_ref().and_then(|a| a.get("vnd.docker.reference.type")).and_then(|v| v.as_str()) == Some("attestation-manifest")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::test_http::{response, serve};
    use crate::registry::Options;
    use crate::test_support::TempDir;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    /// A registry holding `team/base:v1` = a manifest of `layer_type` over one layer whose
    /// config claims `diff_id`, and `team/base:multi` = an index of it for linux/arm64; it
    /// records each path asked for.
    fn fake(layer_type: &'static str, diff_id: Digest) -> (String, Arc<Mutex<Vec<String>>>, Digest) {
        let layer = gzip(b"not really a tar, but gzip");
        let config = serde_json::json!({"architecture": "arm64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).to_string();
        let desc = |mt: &str, bytes: &[u8]| serde_json::json!({"mediaType": mt, "digest": Digest::of(bytes), "size": bytes.len()});
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": oci::OCI_MANIFEST,
            "config": desc(oci::OCI_CONFIG, config.as_bytes()), "layers": [desc(layer_type, &layer)]
        })
        .to_string();
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": oci::OCI_INDEX, "manifests": [{
            "mediaType": oci::OCI_MANIFEST, "digest": Digest::of(manifest.as_bytes()), "size": manifest.len(),
            "platform": {"os": "linux", "architecture": "arm64"}
        }]})
        .to_string();
        let layer_digest = Digest::of(&layer);
        let served = layer_digest.clone();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let base = serve(move |req| {
            log.lock().unwrap().push(req.target.clone());
            let t = req.target.as_str();
            let blob = |d: &Digest| format!("/v2/team/base/blobs/{d}");
            if t == "/v2/team/base/manifests/v1" || t == format!("/v2/team/base/manifests/{}", Digest::of(manifest.as_bytes())) {
                response("200 OK", &[&format!("Content-Type: {}", oci::OCI_MANIFEST)], &manifest)
            } else if t == "/v2/team/base/manifests/multi" {
                response("200 OK", &[&format!("Content-Type: {}", oci::OCI_INDEX)], &index)
            } else if t == blob(&Digest::of(config.as_bytes())) {
                response("200 OK", &[], &config)
            } else if t == blob(&served) {
                let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", layer.len()).into_bytes();
                out.extend_from_slice(&layer);
                out
            } else {
                response("404 Not Found", &[], "")
            }
        });
        (base, seen, layer_digest)
    }

    fn read_from(base: &str, reference: &str, platform: &str, dir: &TempDir) -> anyhow::Result<Image> {
        let mut opts = Options::new(base);
        opts.retries = 0;
        let mut registry = Registry::new(opts).unwrap().read_only();
        let store = Store::create(dir.path()).unwrap();
        read(&mut registry, "team/base", reference, &Platform::parse(platform).unwrap(), "the base", store, &mut |_| Ok(false))
    }

    #[test]
    fn an_index_gives_its_platform_and_every_blob_is_checked() {
        let dir = TempDir::new("remote-base");
        let diff_id = Digest::of(b"not really a tar, but gzip");
        let (base, _, layer) = fake(oci::OCI_LAYER_GZIP, diff_id.clone());
        let image = read_from(&base, "multi", "linux/arm64", &dir).unwrap();
        assert_eq!(image.layers.iter().map(|d| d.digest.clone()).collect::<Vec<_>>(), [layer.clone()]);
        assert!(image.blob_path(&layer).exists() && image.blob_path(&image.config.digest).exists());
        let err = read_from(&base, "multi", "linux/amd64", &dir).err().expect("no amd64 child");
        assert_eq!(format!("{err:#}"), "the base has no image for linux/amd64 (it has linux/arm64): give --platform os/arch of one of them");

        // A config whose diff_id is not the layer's is refused.
        let (base, _, _) = fake(oci::OCI_LAYER_GZIP, Digest::of(b"another tar"));
        let err = read_from(&base, "v1", "linux/arm64", &dir).err().expect("a wrong diff_id");
        assert!(format!("{err:#}").contains(&format!("unpacks to {diff_id}, but its config says")), "{err:#}");
    }

    #[test]
    fn a_zstd_base_is_refused_before_any_blob_is_read() {
        let dir = TempDir::new("remote-zstd");
        let (base, seen, _) = fake("application/vnd.oci.image.layer.v1.tar+zstd", Digest::of(b"x"));
        let err = read_from(&base, "v1", "linux/arm64", &dir).err().expect("zstd");
        assert!(format!("{err:#}").contains("a build can only reuse gzip or uncompressed tar layers"), "{err:#}");
        assert!(!seen.lock().unwrap().iter().any(|t| t.contains("/blobs/")), "{:?}", seen.lock().unwrap());
    }
}
