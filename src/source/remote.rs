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
