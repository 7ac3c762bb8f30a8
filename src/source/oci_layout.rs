//! OCI image layouts: a directory (`oci:DIR`) or a tar of one (`oci-archive:PATH`), read into an
//! image that keeps the source's manifest.
//!
//! The manifest is picked from `index.json` by tag (`org.opencontainers.image.ref.name`) or by
//! digest. Blobs already compressed (gzip, zstd) are kept byte for byte; an uncompressed layer
//! is compressed with the store's codec, and only then is the manifest rewritten (its layer
//! descriptors, nothing else), so a layout pushed as it is keeps its manifest digest. Every
//! blob is checked against its descriptor (digest and size) and every layer's diff_id against
//! the config (a zstd layer's cannot be: idpush has no zstd decoder; its digest is checked).
//!
//! A directory is read by what the picked manifest names, nothing else; each blob once.

use crate::digest::Digest;
use crate::error::{fail, Cause};
use crate::image::{Image, IndexImage, Pushable};
use crate::oci::{self, Config, Descriptor, Platform, PlatformIndex};
use crate::source::archive::{self, blob_path, json, lookup, Entry, OnLayer};
use crate::source::Select;
use crate::store::{Blob, Store};
use anyhow::Context;
use std::collections::HashMap;
use std::path::Path;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// An image read from a layout, and the name the layout gives it (a full reference in
/// `ref.name` or `io.containerd.image.name`), if any.
pub struct Read {
    pub image: Pushable,
    pub name: Option<String>,
    /// The image was picked from an index by its platform there (what its config says is
    /// not checked again).
    pub by_platform: bool,
}

/// The descriptor of `index.json` that `select` picks, else its only one. Where several are
/// left (entries of index.json for several platforms, with or without one tag), `platform`
/// picks among them.
pub(crate) fn select<'a>(
    index: &'a PlatformIndex,
    select: Option<&Select>,
    platform: Option<&Platform>,
    what: &str,
) -> anyhow::Result<&'a Descriptor> {
    let names: Vec<String> = index.manifests.iter().filter_map(|e| annotation(&e.desc, REF_NAME)).map(str::to_string).collect();
    let listed = || if names.is_empty() { "no tags (no org.opencontainers.image.ref.name)".to_string() } else { format!("the tags {}", names.join(", ")) };
    let candidates: Vec<&oci::IndexEntry> = match select {
        Some(Select::Tag(tag)) => index.manifests.iter().filter(|e| annotation(&e.desc, REF_NAME) == Some(tag.as_str())).collect(),
        Some(Select::Digest(digest)) => index.manifests.iter().filter(|e| &e.desc.digest == digest).collect(),
        None => index.manifests.iter().collect(),
    };
    let candidates = match (platform, candidates.len()) {
        (Some(want), n) if n > 1 => {
            let of_platform: Vec<_> = candidates
                .iter()
                .copied()
                .filter(|e| !is_attestation(&e.desc) && e.platform.as_ref().is_some_and(|p| want.matches(p)))
                .collect();
            if of_platform.is_empty() { candidates } else { of_platform }
        }
        _ => candidates,
    };
    match (candidates.as_slice(), select) {
        ([first, ..], Some(_)) => Ok(&first.desc),
        ([only], None) => Ok(&only.desc),
        ([], Some(Select::Tag(tag))) => Err(fail(Cause::ImageNotFound, format!("{what} has no image tagged {tag}; it has {}", listed()))),
        ([], Some(Select::Digest(digest)) ) => Err(fail(Cause::ImageNotFound, format!("{what} has no manifest {digest} in its index.json"))),
        ([], None) => Err(fail(Cause::BadImage, format!("{what} lists no image in its index.json"))),
        (many, None) => Err(fail(
            Cause::BadInput,
            format!("{what} holds {} images ({}): pick one with oci:DIR:TAG, oci:DIR@DIGEST or --platform", many.len(), listed()),
        )),
    }
}

fn annotation<'a>(d: &'a Descriptor, key: &str) -> Option<&'a str> {
    d.annotations.as_ref()?.get(key)?.as_str()
}

/// The image name a descriptor gives: a `ref.name` that is a full reference (a bare tag is
/// not: it names no repository), else containerd's image name.
fn name_of(d: &Descriptor) -> Option<String> {
    let full = |n: &str| n.contains('/') || n.contains(':') || n.contains('@');
    annotation(d, REF_NAME).filter(|n| full(n)).or_else(|| annotation(d, CONTAINERD_NAME)).map(str::to_string)
}

fn parse_index(bytes: &[u8], what: &str) -> anyhow::Result<PlatformIndex> {
    serde_json::from_slice(bytes).map_err(|e| fail(Cause::BadImage, format!("the index.json of {what} is malformed: {e}")))
}

/// Bytes of a JSON blob, checked against its descriptor.
fn checked_json<'a>(entries: &'a HashMap<String, Entry>, d: &Descriptor, what: &str) -> anyhow::Result<&'a [u8]> {
    let path = blob_path(&d.digest);
    let bytes = json(entries, &path).with_context(|| format!("{what}: the blob of {} {}", kind_of(&d.media_type), d.digest))?;
    let got = Digest::of(bytes);
    if got != d.digest || bytes.len() as u64 != d.size {
        return Err(fail(
            Cause::BadImage,
            format!(
                "{what}: {path} does not match its descriptor ({} bytes with digest {got}, the descriptor says {} bytes with {})",
                bytes.len(),
                d.size,
                d.digest
            ),
        ));
    }
    Ok(bytes)
}

fn kind_of(media_type: &str) -> &'static str {
    if media_type.contains("index") || media_type.contains("list") {
        "index"
    } else if media_type.contains("manifest") {
        "manifest"
    } else if media_type.contains("config") {
        "config"
    } else {
        "blob"
    }
}

fn is_index(bytes: &[u8], desc: &Descriptor) -> bool {
    kind_of(&desc.media_type) == "index"
        || serde_json::from_slice::<serde_json::Value>(bytes).is_ok_and(|v| v.get("manifests").is_some())
}

/// The image of the layout's entries (read from a tar, or from a directory by [`read_dir`]):
/// the picked manifest, or the picked index whole, or (`platform`) the index's child for it.
pub(crate) fn assemble(
    entries: &HashMap<String, Entry>,
    store: Store,
    pick: Option<&Select>,
    platform: Option<&Platform>,
    what: &str,
) -> anyhow::Result<Read> {
    let index = parse_index(json(entries, "index.json")?, what)?;
    let desc = select(&index, pick, platform, what)?;
    let bytes = checked_json(entries, desc, what)?;
    let name = name_of(desc);
    if is_index(bytes, desc) {
        let image = index_of(entries, store, desc, bytes, platform, what)?;
        return Ok(Read { image, name, by_platform: platform.is_some() });
    }
    let image = image_of(entries, store, desc, bytes, false, what)?;
    // Picked among index.json's entries by the platform they name: that is the image's.
    let by_platform = platform.is_some_and(|want| {
        index.manifests.iter().any(|e| e.desc.digest == desc.digest && e.platform.as_ref().is_some_and(|p| want.matches(p)))
    });
    Ok(Read { image: Pushable::Single(image), name, by_platform })
}

/// `vnd.docker.reference.type: attestation-manifest`: buildx's provenance and SBOM manifests.
fn is_attestation(d: &Descriptor) -> bool {
    annotation(d, "vnd.docker.reference.type") == Some("attestation-manifest")
}

fn shown(p: &Option<Platform>) -> String {
    p.as_ref().map(|p| p.to_string()).unwrap_or_else(|| "no platform".to_string())
}

/// The entries of an index, with a nested index replaced by its own entries (Gitea refuses
/// nested indexes); whether any was; each entry with its descriptor as JSON.
fn flatten(
    entries: &HashMap<String, Entry>,
    bytes: &[u8],
    digest: &Digest,
    what: &str,
    depth: usize,
) -> anyhow::Result<(Vec<(oci::IndexEntry, serde_json::Value)>, bool)> {
    if depth > 8 {
        return Err(fail(Cause::BadImage, format!("{what}: index {digest} nests indexes over 8 deep")));
    }
    let malformed = |e: serde_json::Error| fail(Cause::BadImage, format!("{what}: index {digest} is malformed: {e}"));
    let typed: PlatformIndex = serde_json::from_slice(bytes).map_err(malformed)?;
    let raw: serde_json::Value = serde_json::from_slice(bytes).map_err(malformed)?;
    let raw = raw["manifests"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    let mut nested = false;
    for (entry, value) in typed.manifests.into_iter().zip(raw) {
        if kind_of(&entry.desc.media_type) == "index" {
            let inner = checked_json(entries, &entry.desc, what)?;
            let (children, _) = flatten(entries, inner, &entry.desc.digest, what, depth + 1)?;
            out.extend(children);
            nested = true;
        } else {
            out.push((entry, value));
        }
    }
    Ok((out, nested))
}

/// An index (`bytes`, checked against `desc`): every child, or with `platform` only its
/// child (attestations skipped).
fn index_of(
    entries: &HashMap<String, Entry>,
    store: Store,
    desc: &Descriptor,
    bytes: &[u8],
    platform: Option<&Platform>,
    what: &str,
) -> anyhow::Result<Pushable> {
    let (children, nested) = flatten(entries, bytes, &desc.digest, what, 0)?;
    if let Some(want) = platform {
        let found = children
            .iter()
            .find(|(c, _)| !is_attestation(&c.desc) && c.platform.as_ref().is_some_and(|p| want.matches(p)));
        let Some((child, _)) = found else {
            let has: Vec<String> = children.iter().filter(|(c, _)| !is_attestation(&c.desc)).map(|(c, _)| shown(&c.platform)).collect();
            return Err(fail(
                Cause::ImageNotFound,
                format!("{what}: the index {} has no {want} image; it has {}", desc.digest, has.join(", ")),
            ));
        };
        let child_bytes = checked_json(entries, &child.desc, what)?;
        let image = image_of(entries, store, &child.desc, child_bytes, false, what)
            .with_context(|| format!("the {want} image {} of the index {}", child.desc.digest, desc.digest))?;
        return Ok(Pushable::Single(image));
    }
    let mut images = Vec::with_capacity(children.len());
    for (child, _) in &children {
        let named = || format!("the {} image {} of the index {}", shown(&child.platform), child.desc.digest, desc.digest);
        let child_bytes = checked_json(entries, &child.desc, what).with_context(named)?;
        if is_index(child_bytes, &child.desc) {
            return Err(fail(Cause::BadImage, format!("{what}: {}: it is an index, not an image manifest", named())));
        }
        let image = image_of(entries, store.clone(), &child.desc, child_bytes, is_attestation(&child.desc), what).with_context(named)?;
        images.push(image);
    }
    let manifest = if nested {
        let mut v: serde_json::Value = serde_json::from_slice(bytes).context("the index")?;
        v["manifests"] = children.into_iter().map(|(_, raw)| raw).collect();
        serde_json::to_vec(&v).expect("a JSON value serializes")
    } else {
        bytes.to_vec()
    };
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .unwrap_or_else(|| if desc.media_type.is_empty() { oci::OCI_INDEX.to_string() } else { desc.media_type.clone() });
    Ok(Pushable::Index(IndexImage { children: images, digest: Digest::of(&manifest), manifest, media_type }))
}

/// One image manifest (`bytes`, already checked against `desc`) with its config and layers.
/// An attestation's layers are not tars: their digests and sizes are checked, no diff_id.
fn image_of(
    entries: &HashMap<String, Entry>,
    store: Store,
    desc: &Descriptor,
    bytes: &[u8],
    attestation: bool,
    what: &str,
) -> anyhow::Result<Image> {
    let manifest: oci::Manifest = serde_json::from_slice(bytes)
        .map_err(|e| fail(Cause::BadImage, format!("{what}: manifest {} is malformed: {e}", desc.digest)))?;
    let config_bytes = checked_json(entries, &manifest.config, what)?;
    if attestation {
        let config_blob = store.write_blob(config_bytes)?;
        debug_assert_eq!(config_blob.digest, manifest.config.digest);
        for d in &manifest.layers {
            let path = blob_path(&d.digest);
            let blob = match lookup(entries, &path).with_context(|| format!("{what}: attestation blob {}", d.digest))? {
                Entry::Json(b) => store.write_blob(b)?,
                Entry::Layer(l) => l.blob.clone(),
                Entry::Opaque(b) => b.clone(),
                Entry::Link(_) => unreachable!("lookup follows links"),
            };
            if blob.digest != d.digest || blob.size != d.size {
                return Err(fail(Cause::BadImage, format!("{what}: attestation blob {path} does not match its descriptor")));
            }
        }
        return Ok(Image {
            store,
            config: manifest.config.clone(),
            layers: manifest.layers.clone(),
            manifest_digest: desc.digest.clone(),
            manifest: bytes.to_vec(),
            manifest_media_type: manifest.media_type.clone().unwrap_or_else(|| desc.media_type.clone()),
        });
    }
    let config: Config = serde_json::from_slice(config_bytes)
        .map_err(|e| fail(Cause::BadImage, format!("{what}: config {} is not an image config: {e}", manifest.config.digest)))?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(fail(
            Cause::BadImage,
            format!("{what}: manifest {} lists {} layers but its config has {} diff_ids", desc.digest, manifest.layers.len(), diff_ids.len()),
        ));
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    let mut rewritten = false;
    for (d, want) in manifest.layers.iter().zip(diff_ids) {
        let (layer, changed) = layer_for(entries, &store, d, want, what)?;
        rewritten |= changed;
        layers.push(layer);
    }
    let config_blob = store.write_blob(config_bytes)?;
    debug_assert_eq!(config_blob.digest, manifest.config.digest);
    let media_type = manifest.media_type.clone().unwrap_or_else(|| desc.media_type.clone());
    let manifest_bytes = if rewritten {
        let mut v: serde_json::Value = serde_json::from_slice(bytes).context("the manifest")?;
        let list = v["layers"].as_array_mut().expect("a manifest that parsed has layers");
        for (slot, d) in list.iter_mut().zip(&layers) {
            slot["mediaType"] = d.media_type.clone().into();
            slot["digest"] = d.digest.to_string().into();
            slot["size"] = d.size.into();
        }
        serde_json::to_vec(&v).expect("a JSON value serializes")
    } else {
        bytes.to_vec()
    };
    Ok(Image {
        store,
        config: manifest.config.clone(),
        layers,
        manifest_digest: Digest::of(&manifest_bytes),
        manifest: manifest_bytes,
        manifest_media_type: media_type,
    })
}

/// The layer blob of descriptor `d`, checked (digest, size, diff_id `want`), and whether it was
/// compressed here (its descriptor then changes).
fn layer_for(entries: &HashMap<String, Entry>, store: &Store, d: &Descriptor, want: &Digest, what: &str) -> anyhow::Result<(Descriptor, bool)> {
    let path = blob_path(&d.digest);
    let mismatch = |got: &Blob| {
        fail(
            Cause::BadImage,
            format!(
                "{what}: layer {path} does not match its descriptor ({} bytes with digest {}, the descriptor says {} bytes with {})",
                got.size, got.digest, d.size, d.digest
            ),
        )
    };
    let bad_diff_id = |got: &Digest| {
        fail(Cause::BadImage, format!("{what}: layer {} has content {got} but the config expects diff_id {want}", d.digest))
    };
    let entry = lookup(entries, &path).with_context(|| format!("{what}: layer {}", d.digest))?;
    let layer = match entry {
        Entry::Layer(l) => l.clone(),
        Entry::Json(bytes) => store.spool_layer(&bytes[..])?,
        Entry::Opaque(blob) => {
            if blob.digest != d.digest || blob.size != d.size {
                return Err(mismatch(blob));
            }
            log::debug!("{path}: zstd, kept as it is; its diff_id {want} is not checked (no zstd decoder)");
            return Ok((d.clone(), false));
        }
        Entry::Link(_) => unreachable!("lookup follows links"),
    };
    if layer.diff_id != *want {
        return Err(bad_diff_id(&layer.diff_id));
    }
    if layer.blob.digest == d.digest {
        if layer.blob.size != d.size {
            return Err(mismatch(&layer.blob));
        }
        return Ok((d.clone(), false));
    }
    if layer.diff_id == d.digest {
        // An uncompressed layer, compressed as it was spooled (or kept, with --compression none).
        let media_type = if layer.blob.digest == layer.diff_id {
            d.media_type.clone()
        } else if d.media_type.starts_with("application/vnd.docker.") {
            oci::DOCKER_LAYER_GZIP.to_string()
        } else {
            oci::OCI_LAYER_GZIP.to_string()
        };
        let changed = Descriptor { media_type, size: layer.blob.size, digest: layer.blob.digest.clone(), annotations: d.annotations.clone() };
        return Ok((changed, true));
    }
    Err(mismatch(&layer.blob))
}

/// Reads the layout directory `dir`: `index.json`, the picked manifest (or index, and its
/// children: only `platform`'s if given), their configs and layers (each layer spooled into
/// `store`), nothing else.
pub fn read_dir(dir: &Path, store: Store, pick: Option<&Select>, platform: Option<&Platform>, on_layer: &mut OnLayer) -> anyhow::Result<Read> {
    let what = format!("the OCI layout {}", dir.display());
    let index_path = dir.join("index.json");
    let index_bytes = std::fs::read(&index_path).map_err(|e| {
        let cause = if e.kind() == std::io::ErrorKind::NotFound { Cause::ImageNotFound } else { Cause::BadInput };
        fail(cause, format!("{what}: cannot read {}: {}", index_path.display(), e.to_string().to_lowercase()))
    })?;
    let index = parse_index(&index_bytes, &what)?;
    let mut loader = Loader { dir, store: &store, what: &what, entries: HashMap::new(), on_layer };
    let desc = select(&index, pick, platform, &what)?.clone();
    loader.entries.insert("index.json".to_string(), Entry::Json(index_bytes));
    loader.load_tree(&desc, platform, 0, false)?;
    loader.load_tree(&desc, platform, 0, true)?;
    let entries = loader.entries;
    assemble(&entries, store, pick, platform, &what)
}

/// Loads the blobs of a layout directory that a descriptor reaches, each once.
struct Loader<'a, 'b> {
    dir: &'a Path,
    store: &'a Store,
    what: &'a str,
    entries: HashMap<String, Entry>,
    on_layer: &'a mut OnLayer<'b>,
}

impl Loader<'_, '_> {
    /// Loads blob `d`. A layer of an image whose config lists `diff_ids` is told to
    /// `on_layer` (it may go up at once) when it is intact and one of the image's layers: its
    /// content is its descriptor's digest (kept as it is, with its size) or its diff_id
    /// (compressed here), and its diff_id is in the config.
    fn load(&mut self, d: &Descriptor, diff_ids: Option<&[Digest]>) -> anyhow::Result<()> {
        let path = blob_path(&d.digest);
        if self.entries.contains_key(&path) {
            return Ok(());
        }
        let file_path = self.dir.join(&path);
        let what = self.what;
        let file = std::fs::File::open(&file_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                fail(Cause::BadImage, format!("{what}: {path} ({} {}) is missing", kind_of(&d.media_type), d.digest))
            } else {
                fail(Cause::BadInput, format!("{what}: cannot read {}: {}", file_path.display(), e.to_string().to_lowercase()))
            }
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(d.size);
        let on_layer = &mut *self.on_layer;
        let mut gate = |p: &str, l: &crate::store::Layer, f: std::path::PathBuf| -> anyhow::Result<()> {
            let intact = (l.blob.digest == d.digest && l.blob.size == d.size) || l.diff_id == d.digest;
            match diff_ids {
                Some(ids) if intact && ids.contains(&l.diff_id) => on_layer(p, l, f),
                _ => Ok(()),
            }
        };
        let entry = archive::blob_entry(self.store, file, size, &path, &mut gate).with_context(|| format!("reading {what}"))?;
        self.entries.insert(path, entry);
        Ok(())
    }

    /// `d` and what it names: an image's config and layers, an index's children (only the
    /// `platform` one, attestations left out, when asked for).
    /// With `layers` false, layer files are only checked to be there (a first pass: a missing
    /// blob anywhere fails before any layer is read, or uploaded).
    fn load_tree(&mut self, d: &Descriptor, platform: Option<&Platform>, depth: usize, layers: bool) -> anyhow::Result<()> {
        if depth > 8 {
            return Ok(());
        }
        self.load(d, None)?;
        let Ok(bytes) = json(&self.entries, &blob_path(&d.digest)).map(<[u8]>::to_vec) else { return Ok(()) };
        if Digest::of(&bytes) != d.digest {
            // Not what its descriptor says: nothing it names is read; assemble says why.
            return Ok(());
        }
        if is_index(&bytes, d) {
            let Ok(index) = serde_json::from_slice::<PlatformIndex>(&bytes) else { return Ok(()) };
            let mut chosen = false;
            for child in &index.manifests {
                let nested = kind_of(&child.desc.media_type) == "index";
                let wanted = match platform {
                    None => true,
                    Some(want) => {
                        nested
                            || (!chosen && !is_attestation(&child.desc) && child.platform.as_ref().is_some_and(|p| want.matches(p)))
                    }
                };
                if wanted {
                    chosen |= !nested && platform.is_some();
                    let context = || format!("the {} image {} of the index {}", shown(&child.platform), child.desc.digest, d.digest);
                    self.load_tree(&child.desc, platform, depth + 1, layers).with_context(context)?;
                }
            }
        } else if let Ok(m) = serde_json::from_slice::<oci::Manifest>(&bytes) {
            self.load(&m.config, None)?;
            let diff_ids = json(&self.entries, &blob_path(&m.config.digest))
                .ok()
                .filter(|b| Digest::of(b) == m.config.digest && b.len() as u64 == m.config.size)
                .and_then(|b| serde_json::from_slice::<Config>(b).ok())
                .map(|c| c.rootfs.diff_ids);
            for l in &m.layers {
                if layers {
                    self.load(l, diff_ids.as_deref())?;
                } else if !self.dir.join(blob_path(&l.digest)).exists() {
                    let path = blob_path(&l.digest);
                    return Err(fail(Cause::BadImage, format!("{}: {path} ({} {}) is missing", self.what, kind_of(&l.media_type), l.digest)));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
