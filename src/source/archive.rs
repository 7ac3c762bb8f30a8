//! Reading a `docker save` stream into an image on disk, as it streams.
//!
//! Both formats the daemon writes are understood: the classic one (`manifest.json`,
//! `<id>.json` configs, `<id>/layer.tar` layers, duplicate layers as symlinks) and Engine 25+'s
//! OCI layout (`index.json`, `blobs/sha256/<hex>`, plus a compatible `manifest.json`). Entry
//! order is not guaranteed (manifest.json may come last, blobs before index.json), so every
//! entry is taken as it comes, and what it is follows from its path: `*.json` files are read
//! into memory (capped), `*.tar` files are layers, spooled into the store. A
//! `blobs/sha256/<hex>` entry could be either: it is JSON when it is small (at most 4 MiB),
//! starts with `{` and parses as a JSON object (a tar or gzip stream never does), else a layer.
//! That needs neither the index first nor a second pass over a spooled blob. When the stream
//! ends, the manifest ties them together and every layer is checked against the config's
//! `rootfs.diff_ids`, and the config against what the caller expected (the daemon's inspect).

use crate::digest::Digest;
use crate::error::{fail, Cause};
use crate::image::Image;
use crate::oci::{Config, Index, Manifest, SaveEntry};
use crate::store::{Blob, Layer, Store};
use anyhow::{bail, Context};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

/// Largest JSON file (manifest.json, index.json, a `<id>.json` config) we keep in memory.
const MAX_JSON: u64 = 16 * 1024 * 1024;
/// Largest `blobs/sha256/<hex>` entry that is tried as JSON (a manifest, index or config; the
/// distribution spec caps manifests at 4 MiB). Larger blobs are layers.
const MAX_BLOB_JSON: u64 = 4 * 1024 * 1024;

/// What one archive path holds.
pub(crate) enum Entry {
    Json(Vec<u8>),
    Layer(Layer),
    /// A blob kept byte for byte and not decoded (a zstd layer): its digest and size.
    Opaque(Blob),
    /// A symlink or hard link, as the archive path it points to.
    Link(String),
}

/// What the caller knows of the image before its archive is read (the daemon's inspect).
#[derive(Debug)]
pub struct Expected {
    /// The image ID: the digest the config must have.
    pub id: Digest,
    /// `RootFS.Layers`: the diff_ids the config must list, in order.
    pub layers: Vec<Digest>,
}

/// Hears of each layer as soon as it is spooled: its archive path, the layer and its blob
/// file. An error stops the read.
pub type OnLayer<'a> = dyn FnMut(&str, &Layer, PathBuf) -> anyhow::Result<()> + 'a;

/// Reads a docker save (or OCI archive) stream into `store`. `what` names the stream in
/// errors ("the export of demo:latest from unix:///var/run/docker.sock").
#[cfg(test)]
pub fn read(stream: impl Read, store: Store, what: &str) -> anyhow::Result<Image> {
    read_with(stream, store, what, None, &mut |_, _, _| Ok(()))
}

/// [`read`], telling `on_layer` about each layer as soon as it is spooled, before the
/// manifest has been seen (the caller may start uploading it), and checking the image against
/// `expected` when the stream ends.
pub fn read_with(
    stream: impl Read,
    store: Store,
    what: &str,
    expected: Option<&Expected>,
    on_layer: &mut OnLayer,
) -> anyhow::Result<Image> {
    let entries = read_entries(stream, &store, on_layer).with_context(|| format!("reading {what}"))?;
    assemble(&entries, store, expected).with_context(|| format!("reading {what}"))
}

/// How an archive path is read, decided by the path alone (never by the first bytes: a layer
/// tar whose first member is named `{x}` starts with `{`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `manifest.json`, `index.json`, `<id>.json`: read into memory, capped.
    Json,
    /// `<id>/layer.tar` (classic docker save): spooled.
    Layer,
    /// `blobs/<alg>/<hex>`: JSON (manifest, index, config) or a layer, told apart by content.
    Blob,
    /// Anything else (`VERSION`, legacy `json`, `repositories`, `oci-layout`): passed over.
    Skip,
}

fn kind_of(path: &str) -> Kind {
    if path.starts_with("blobs/") {
        Kind::Blob
    } else if path.ends_with(".json") {
        Kind::Json
    } else if path.ends_with(".tar") {
        Kind::Layer
    } else {
        Kind::Skip
    }
}

pub(crate) fn read_entries(stream: impl Read, store: &Store, on_layer: &mut OnLayer) -> anyhow::Result<HashMap<String, Entry>> {
    let mut archive = tar::Archive::new(stream);
    let mut entries = HashMap::new();
    let iter = archive.entries().context("not a tar archive")?;
    for entry in iter {
        let entry = entry.map_err(cut_short)?;
        let kind = entry.header().entry_type();
        // A dir entry holds nothing (`./` of `tar -C layout -cf x.tar .` is not even a path).
        if kind.is_dir() {
            continue;
        }
        let path = clean_path(&entry.path_bytes())?;
        // The entry's size with a PAX `size` record applied (the header field may say 0).
        let size = entry.size();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name_bytes().map(|b| b.into_owned()).unwrap_or_default();
            let target = String::from_utf8_lossy(&target).into_owned();
            let resolved = if kind.is_symlink() { resolve_link(&path, &target)? } else { clean_path(target.as_bytes())? };
            entries.insert(path, Entry::Link(resolved));
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let read = match kind_of(&path) {
            Kind::Skip => continue,
            Kind::Json => Entry::Json(read_capped(entry, size, MAX_JSON, &path)?),
            Kind::Layer => Entry::Layer(spool(store, entry, &path, on_layer)?),
            Kind::Blob => blob_entry(store, entry, size, &path, on_layer)?,
        };
        entries.insert(path, read);
    }
    check_trailer(archive.into_inner())?;
    Ok(entries)
}

/// A `blobs/<alg>/<hex>` entry of `size` bytes: JSON (manifest, index, config) when it parses
/// as a JSON object, a zstd blob kept as it is, else a layer, spooled.
pub(crate) fn blob_entry(store: &Store, body: impl Read, size: u64, path: &str, on_layer: &mut OnLayer) -> anyhow::Result<Entry> {
    let mut body = BufReader::with_capacity(64 * 1024, body);
    let head = body.fill_buf().map_err(cut_short)?;
    if head.starts_with(&ZSTD_MAGIC) {
        let blob = store.spool_exact(body).map_err(|e| cut_short_any(e, path))?;
        log::debug!("kept {path} as it is (zstd, {} bytes)", blob.size);
        return Ok(Entry::Opaque(blob));
    }
    let starts_like_json = head.first() == Some(&b'{');
    if starts_like_json && size <= MAX_BLOB_JSON {
        let bytes = read_capped(body, size, MAX_BLOB_JSON, path)?;
        if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes).is_ok() {
            Ok(Entry::Json(bytes))
        } else {
            Ok(Entry::Layer(spool(store, &bytes[..], path, on_layer)?))
        }
    } else {
        Ok(Entry::Layer(spool(store, body, path, on_layer)?))
    }
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Reads a whole entry of `size` bytes into memory, refusing one over `max` (and reading at
/// most `max + 1` bytes, whatever the size claims).
pub(crate) fn read_capped(entry: impl Read, size: u64, max: u64, path: &str) -> anyhow::Result<Vec<u8>> {
    let too_large = |n: u64| fail(Cause::BadImage, format!("{path} is {n} bytes, too large for a JSON file (at most {max})"));
    if size > max {
        return Err(too_large(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry.take(max + 1).read_to_end(&mut bytes).map_err(cut_short)?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Spools a layer entry into the store and tells `on_layer`. A layer the store already knows
/// the blob of ([`Store::with_known`]) is only hashed: at once when its path names its diff_id
/// (`blobs/sha256/<diff_id>`, Engine 25+), else after a plain copy to disk (classic format).
fn spool(store: &Store, mut body: impl Read, path: &str, on_layer: &mut OnLayer) -> anyhow::Result<Layer> {
    let named = path.strip_prefix("blobs/sha256/").and_then(|hex| format!("sha256:{hex}").parse::<Digest>().ok());
    let layer = match named.and_then(|diff_id| store.spool_known(body.by_ref(), &diff_id)) {
        Some(known) => {
            let layer = known.map_err(|e| cut_short_any(e, path))?;
            log::debug!("reused {path}: {} is {} ({} bytes), hashed, not compressed", layer.diff_id, layer.blob.digest, layer.blob.size);
            layer
        }
        None => match store.spool_maybe_known(body).map_err(|e| cut_short_any(e, path))? {
            (layer, true) => {
                log::debug!("reused {path}: {} is {} ({} bytes), hashed, not compressed", layer.diff_id, layer.blob.digest, layer.blob.size);
                layer
            }
            (layer, false) => {
                log::debug!("spooled {path}: {} as {} ({} bytes)", layer.diff_id, layer.blob.digest, layer.blob.size);
                layer
            }
        },
    };
    on_layer(path, &layer, store.blob_path(&layer.blob.digest))?;
    Ok(layer)
}

/// After the tar's end marker there may only be zero padding. The daemon reports an export
/// that failed half way by writing its error JSON into the stream.
pub(crate) fn check_trailer(mut rest: impl Read) -> anyhow::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen = 0u64;
    loop {
        let n = rest.read(&mut buf).map_err(cut_short)?;
        if n == 0 {
            return Ok(());
        }
        if let Some(i) = buf[..n].iter().position(|&b| b != 0) {
            let excerpt = String::from_utf8_lossy(&buf[i..n.min(i + 300)]).replace(['\n', '\r'], " ");
            bail!("the stream carries data after the end of the tar (an error from the daemon?): {excerpt}");
        }
        seen += n as u64;
        if seen > 1024 * 1024 {
            bail!("the stream carries over 1 MiB of padding after the end of the tar");
        }
    }
}

pub(crate) fn cut_short(e: std::io::Error) -> anyhow::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<crate::error::Failure>()) {
        // The source already classified it (the daemon's export stream failed).
        anyhow::Error::new(e).context("reading the archive")
    } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
        fail(Cause::BadImage, format!("the archive ends early, in the middle of an entry ({e})"))
    } else {
        anyhow::Error::new(e).context("the archive is not a valid tar (cut short or corrupt)")
    }
}

fn cut_short_any(e: anyhow::Error, path: &str) -> anyhow::Error {
    match e.downcast::<std::io::Error>() {
        Ok(io) => cut_short(io).context(format!("layer {path}")),
        Err(e) => e.context(format!("layer {path}")),
    }
}

/// A normalized archive path: no leading `./` or `/`, no `..` that leaves the archive.
fn clean_path(raw: &[u8]) -> anyhow::Result<String> {
    let s = String::from_utf8_lossy(raw);
    let mut parts: Vec<&str> = Vec::new();
    for p in s.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    bail!("archive path {s:?} escapes the archive");
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        bail!("archive path {s:?} is empty");
    }
    Ok(parts.join("/"))
}

/// A symlink target, relative to the link's own directory, as an archive path.
fn resolve_link(link: &str, target: &str) -> anyhow::Result<String> {
    if target.starts_with('/') {
        bail!("symlink {link} points outside the archive ({target})");
    }
    let dir = link.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    clean_path(format!("{dir}/{target}").as_bytes())
        .with_context(|| format!("symlink {link} -> {target}"))
}

/// Follows links to the entry a path holds.
pub(crate) fn lookup<'a>(entries: &'a HashMap<String, Entry>, path: &str) -> anyhow::Result<&'a Entry> {
    let mut path = clean_path(path.as_bytes())?;
    for _ in 0..16 {
        match entries.get(&path) {
            Some(Entry::Link(to)) => path = to.clone(),
            Some(e) => return Ok(e),
            None => bail!("{path} is missing from the archive (is it complete?)"),
        }
    }
    bail!("{path}: too many levels of links (a link loop?)")
}

pub(crate) fn json<'a>(entries: &'a HashMap<String, Entry>, path: &str) -> anyhow::Result<&'a [u8]> {
    match lookup(entries, path)? {
        Entry::Json(b) => Ok(b),
        _ => bail!("{path} should be a JSON file but is not"),
    }
}

pub(crate) fn layer<'a>(entries: &'a HashMap<String, Entry>, path: &str) -> anyhow::Result<&'a Layer> {
    match lookup(entries, path)? {
        Entry::Layer(l) => Ok(l),
        _ => bail!("{path} should be a layer tar but is not"),
    }
}

/// Where the config and layers are, by archive path.
struct Plan {
    config: String,
    layers: Vec<String>,
}

fn assemble(entries: &HashMap<String, Entry>, store: Store, expected: Option<&Expected>) -> anyhow::Result<Image> {
    assemble_save(entries, store, expected, None).map(|(image, _)| image)
}

/// The image docker save's `manifest.json` describes (else the first of `index.json`), as a
/// docker schema 2 image (OCI with `--compression none`), with the name it is tagged with.
/// `name` picks the image of a multi-image archive by one of its `RepoTags`; without it, an
/// archive of several images is an error unless `expected` says which (the daemon's export).
pub(crate) fn assemble_save(
    entries: &HashMap<String, Entry>,
    store: Store,
    expected: Option<&Expected>,
    name: Option<&str>,
) -> anyhow::Result<(Image, Option<String>)> {
    let (plan, tag) = if entries.contains_key("manifest.json") {
        plan_from_save_manifest(entries, name, expected.is_some())?
    } else if entries.contains_key("index.json") {
        (plan_from_oci_index(entries)?, None)
    } else {
        return Err(fail(
            Cause::BadImage,
            "not a docker save or OCI archive: it has neither manifest.json nor index.json",
        ));
    };
    let config_bytes = json(entries, &plan.config)?;
    if let Some(want) = expected {
        check_expected_config(entries, &plan.config, config_bytes, want)?;
    }
    let config: Config = serde_json::from_slice(config_bytes)
        .with_context(|| format!("{} is not an image config", plan.config))?;
    if let Some(want) = expected.filter(|w| w.layers != config.rootfs.diff_ids) {
        return Err(fail(
            Cause::BadImage,
            format!(
                "the config {} lists the layers {:?}, not the {:?} that the daemon reported for it",
                plan.config, config.rootfs.diff_ids, want.layers
            ),
        ));
    }
    if config.rootfs.diff_ids.len() != plan.layers.len() {
        bail!(
            "the manifest lists {} layers but the config {} has {} diff_ids",
            plan.layers.len(),
            plan.config,
            config.rootfs.diff_ids.len()
        );
    }
    let mut layers = Vec::with_capacity(plan.layers.len());
    for (path, want) in plan.layers.iter().zip(&config.rootfs.diff_ids) {
        let l = layer(entries, path)?;
        if &l.diff_id != want {
            return Err(fail(
                Cause::BadImage,
                format!("layer {path} has content {} but the config expects diff_id {want}", l.diff_id),
            ));
        }
        check_named_digest(path, l)?;
        layers.push(l.clone());
    }
    let config_blob = store.write_blob(config_bytes)?;
    check_named_config(&plan.config, &config_blob.digest)?;
    Ok((Image::new(store, config_blob, &layers), tag))
}

/// The image of `manifest.json` named `name` (one of its `RepoTags`, `:latest` when it names
/// no tag), else the only one (or the first, with `first_is_fine`); with its name.
fn plan_from_save_manifest(
    entries: &HashMap<String, Entry>,
    name: Option<&str>,
    first_is_fine: bool,
) -> anyhow::Result<(Plan, Option<String>)> {
    let list: Vec<SaveEntry> =
        serde_json::from_slice(json(entries, "manifest.json")?).context("manifest.json is malformed")?;
    let tags = |e: &SaveEntry| e.repo_tags.clone().unwrap_or_default();
    let all: Vec<String> = list.iter().flat_map(tags).collect();
    let listed = || if all.is_empty() { "no tagged image".to_string() } else { all.join(", ") };
    let chosen = match name {
        Some(n) => {
            let want = with_default_tag(n);
            let found = list.into_iter().find(|e| tags(e).iter().any(|t| t == n || with_default_tag(t) == want));
            let Some(found) = found else {
                return Err(fail(Cause::ImageNotFound, format!("image {n} is not in the archive; it holds {}", listed())));
            };
            (found, Some(n.to_string()))
        }
        None => {
            if list.len() > 1 && !first_is_fine {
                return Err(fail(
                    Cause::BadInput,
                    format!("the archive holds {} images ({}): pick one with docker-archive:PATH:NAME", list.len(), listed()),
                ));
            }
            let Some(first) = list.into_iter().next() else {
                bail!("manifest.json lists no image");
            };
            let tag = tags(&first).into_iter().next();
            (first, tag)
        }
    };
    let (entry, tag) = chosen;
    Ok((Plan { config: entry.config, layers: entry.layers }, tag))
}

/// `name` with `:latest` when it names neither tag nor digest.
fn with_default_tag(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

fn plan_from_oci_index(entries: &HashMap<String, Entry>) -> anyhow::Result<Plan> {
    let index: Index =
        serde_json::from_slice(json(entries, "index.json")?).context("index.json is malformed")?;
    let Some(desc) = index.manifests.first() else {
        bail!("index.json lists no manifest");
    };
    let mut bytes = json(entries, &blob_path(&desc.digest))?;
    // A nested index (a multi-platform image): its first manifest the archive holds (an export
    // carries the platforms the daemon has, the index lists them all).
    if let Ok(inner) = serde_json::from_slice::<Index>(bytes) {
        let present = inner.manifests.iter().find(|d| entries.contains_key(&blob_path(&d.digest)));
        if let Some(d) = present.or(inner.manifests.first()) {
            bytes = json(entries, &blob_path(&d.digest))?;
        }
    }
    let manifest: Manifest = serde_json::from_slice(bytes).context("the image manifest is malformed")?;
    Ok(Plan {
        config: blob_path(&manifest.config.digest),
        layers: manifest.layers.iter().map(|d| blob_path(&d.digest)).collect(),
    })
}

pub(crate) fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// A layer stored at `blobs/sha256/<hex>` must have that digest, compressed or not.
fn check_named_digest(path: &str, l: &Layer) -> anyhow::Result<()> {
    if let Some(hex) = path.strip_prefix("blobs/sha256/") {
        if hex != l.diff_id.hex() && hex != l.blob.digest.hex() {
            return Err(fail(Cause::BadImage, format!("{path} does not match its digest (its content is {})", l.diff_id)));
        }
    }
    Ok(())
}

/// The export's config must be the image that inspect named: its digest is the image ID, or
/// (the containerd image store) the image ID is the digest of a manifest, or of an index of
/// manifests, in the archive whose config it is. A name re-tagged between inspect and export,
/// or an export of another image, fails here.
fn check_expected_config(entries: &HashMap<String, Entry>, path: &str, bytes: &[u8], want: &Expected) -> anyhow::Result<()> {
    let got = Digest::of(bytes);
    if got != want.id && !id_names_manifest_of(entries, &want.id, &got) {
        return Err(fail(
            Cause::BadImage,
            format!(
                "the exported config {path} is image {got}, not the image {} that the daemon's inspect named (was the image re-tagged or removed meanwhile? try again)",
                want.id
            ),
        ));
    }
    Ok(())
}

/// Whether `blobs/sha256/<id>` is in the archive, has that digest, and is a manifest with
/// config `config` or an index listing such a manifest (one level deep, as the containerd
/// store exports a multi-platform image).
fn id_names_manifest_of(entries: &HashMap<String, Entry>, id: &Digest, config: &Digest) -> bool {
    let blob = |d: &Digest| match entries.get(&blob_path(d)) {
        Some(Entry::Json(b)) if Digest::of(b) == *d => Some(b),
        _ => None,
    };
    let is_manifest_of = |bytes: &[u8]| serde_json::from_slice::<Manifest>(bytes).is_ok_and(|m| m.config.digest == *config);
    let Some(top) = blob(id) else { return false };
    if is_manifest_of(top) {
        return true;
    }
    let Ok(index) = serde_json::from_slice::<Index>(top) else { return false };
    index.manifests.iter().any(|d| blob(&d.digest).is_some_and(|b| is_manifest_of(b)))
}

/// A config stored at `blobs/sha256/<hex>` or `<hex>.json` must have that digest.
fn check_named_config(path: &str, digest: &Digest) -> anyhow::Result<()> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let hex = name.strip_suffix(".json").unwrap_or(name);
    let named = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if named && hex != digest.hex() {
        return Err(fail(Cause::BadImage, format!("config {path} does not match its digest (its content is {digest})")));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
