//! Writes an [`Image`] as an OCI image layout (`oci:DIR`) or a tar of one (`oci-archive:PATH`).
//!
//! The layout is `oci-layout`, `index.json` (one manifest descriptor per `--tag`, each named by
//! `org.opencontainers.image.ref.name`; one unnamed descriptor without a tag) and
//! `blobs/sha256/<hex>` for the manifest, the config and the layers. The archive holds the same
//! files in that order (index first, so a one-pass reader knows the manifest before the blobs),
//! with fixed headers (uid/gid 0, mtime 0), so the same image gives the same archive bytes.
//! Into an existing layout the blobs are added and `index.json` rewritten, replacing any entry
//! with the same ref.name (or, untagged, the same unnamed digest); other entries are kept.

use super::Output;
use crate::error::{fail, Cause};
use crate::image::Image;
use crate::store::Store;
use anyhow::Context;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
const LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Writes `image` to `output`, named by `tags` (may be empty).
pub fn write(image: &Image, output: &Output, tags: &[String]) -> anyhow::Result<()> {
    match output {
        Output::OciArchive(path) => write_archive(image, path, tags),
        Output::OciDir(dir) => write_dir(image, dir, tags),
    }
    .with_context(|| format!("writing {output}"))
}

/// This image's entries of `index.json`.
fn descriptors(image: &Image, tags: &[String]) -> Vec<Value> {
    let plain = json!({
        "mediaType": image.manifest_media_type,
        "digest": image.manifest_digest.to_string(),
        "size": image.manifest.len(),
    });
    if tags.is_empty() {
        return vec![plain];
    }
    tags.iter()
        .map(|t| {
            let mut d = plain.clone();
            d["annotations"] = json!({ REF_NAME: t });
            d
        })
        .collect()
}

fn index_bytes(manifests: Vec<Value>) -> Vec<u8> {
    let index = json!({ "schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests });
    serde_json::to_vec(&index).expect("an index always serializes")
}

/// The dir an output path is in (`.` for a bare name), which must exist.
fn parent_dir(path: &Path) -> anyhow::Result<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(fail(Cause::BadInput, format!("the dir {} does not exist (create it first)", parent.display())));
    }
    Ok(parent)
}

fn io_error(what: &Path, e: io::Error) -> anyhow::Error {
    fail(Cause::LocalIo, format!("writing {}: {}", what.display(), e.to_string().to_lowercase()))
}

fn write_archive(image: &Image, path: &Path, tags: &[String]) -> anyhow::Result<()> {
    if path.is_dir() {
        return Err(fail(Cause::BadInput, format!("{} is a directory (give a file path, or use oci:DIR)", path.display())));
    }
    let scratch = Store::create(&parent_dir(path)?)?;
    let tmp = scratch.scratch_path("archive")?;
    let file = File::create(&tmp).map_err(|e| io_error(&tmp, e))?;
    let mut tar = tar::Builder::new(BufWriter::with_capacity(256 * 1024, file));
    let header = |size: u64, dir: bool| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(if dir { tar::EntryType::Directory } else { tar::EntryType::Regular });
        h.set_mode(if dir { 0o755 } else { 0o644 });
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    };
    let result = (|| -> io::Result<()> {
        let index = index_bytes(descriptors(image, tags));
        for (name, bytes) in [("oci-layout", LAYOUT_FILE), ("index.json", &index[..])] {
            tar.append_data(&mut header(bytes.len() as u64, false), name, bytes)?;
        }
        for dir in ["blobs/", "blobs/sha256/"] {
            tar.append_data(&mut header(0, true), dir, io::empty())?;
        }
        let manifest = &image.manifest;
        let name = format!("blobs/sha256/{}", image.manifest_digest.hex());
        tar.append_data(&mut header(manifest.len() as u64, false), name, &manifest[..])?;
        for blob in image.blobs() {
            let file = File::open(image.blob_path(&blob.digest))?;
            let name = format!("blobs/sha256/{}", blob.digest.hex());
            tar.append_data(&mut header(blob.size, false), name, io::Read::take(file, blob.size))?;
        }
        let file = tar.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    })();
    result.map_err(|e| io_error(path, e))?;
    fs::rename(&tmp, path).map_err(|e| io_error(path, e))
}

fn write_dir(image: &Image, dir: &Path, tags: &[String]) -> anyhow::Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => new_layout(image, dir, tags),
        Err(e) => Err(io_error(dir, e)),
        Ok(m) if !m.is_dir() => {
            Err(fail(Cause::BadInput, format!("{} exists and is not a directory (give a new dir or an OCI layout)", dir.display())))
        }
        Ok(_) if dir.join("oci-layout").is_file() => add_to_layout(image, dir, tags),
        Ok(_) if fs::read_dir(dir).map_err(|e| io_error(dir, e))?.next().is_none() => new_layout(image, dir, tags),
        Ok(_) => Err(fail(
            Cause::BadInput,
            format!("{} is not empty and not an OCI layout (it has no oci-layout file): give a new or empty dir", dir.display()),
        )),
    }
}

/// A whole layout made beside `dir` and renamed to it (`dir` is absent or an empty dir).
fn new_layout(image: &Image, dir: &Path, tags: &[String]) -> anyhow::Result<()> {
    let scratch = Store::create(&parent_dir(dir)?)?;
    let tmp = scratch.scratch_path("layout")?;
    let blobs = tmp.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(|e| io_error(&blobs, e))?;
    fs::write(tmp.join("oci-layout"), LAYOUT_FILE).map_err(|e| io_error(&tmp, e))?;
    fs::write(blobs.join(image.manifest_digest.hex()), &image.manifest).map_err(|e| io_error(&tmp, e))?;
    for blob in image.blobs() {
        fs::copy(image.blob_path(&blob.digest), blobs.join(blob.digest.hex())).map_err(|e| io_error(&blobs, e))?;
    }
    fs::write(tmp.join("index.json"), index_bytes(descriptors(image, tags))).map_err(|e| io_error(&tmp, e))?;
    // Readable like any dir the user makes (the store's own dirs are private).
    set_mode(&tmp, 0o755)?;
    fs::rename(&tmp, dir).map_err(|e| io_error(dir, e))
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| io_error(path, e))
}

/// Adds the image to the existing layout `dir`: missing blobs first (each renamed in whole),
/// then `index.json` (renamed over the old one).
fn add_to_layout(image: &Image, dir: &Path, tags: &[String]) -> anyhow::Result<()> {
    let index_path = dir.join("index.json");
    let old: Value = match fs::read(&index_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            fail(Cause::BadInput, format!("{} is not an OCI index ({e}): fix or remove the layout", index_path.display()))
        })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => json!({ "manifests": [] }),
        Err(e) => return Err(io_error(&index_path, e)),
    };
    let Some(manifests) = old.get("manifests").and_then(Value::as_array) else {
        return Err(fail(Cause::BadInput, format!("{} has no manifests list: fix or remove the layout", index_path.display())));
    };
    let ours = descriptors(image, tags);
    let digest = image.manifest_digest.to_string();
    let mut kept: Vec<Value> = manifests
        .iter()
        .filter(|m| {
            let name = m.pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1"))).and_then(Value::as_str);
            match name {
                Some(n) => !tags.iter().any(|t| t == n),
                None => !(tags.is_empty() && m.get("digest").and_then(Value::as_str) == Some(&digest)),
            }
        })
        .cloned()
        .collect();
    kept.extend(ours);

    let scratch = Store::create(&parent_dir(dir)?)?;
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(|e| io_error(&blobs, e))?;
    let place = |hex: &str, fill: &dyn Fn(&Path) -> io::Result<()>| -> anyhow::Result<()> {
        let target = blobs.join(hex);
        if target.is_file() {
            return Ok(());
        }
        let tmp = scratch.scratch_path("blob")?;
        fill(&tmp).map_err(|e| io_error(&target, e))?;
        fs::rename(&tmp, &target).map_err(|e| io_error(&target, e))
    };
    for blob in image.blobs() {
        place(blob.digest.hex(), &|tmp| fs::copy(image.blob_path(&blob.digest), tmp).map(|_| ()))?;
    }
    place(image.manifest_digest.hex(), &|tmp| fs::write(tmp, &image.manifest))?;
    let tmp = scratch.scratch_path("index")?;
    // Other fields of the old index (its annotations) are kept.
    let mut index = old.clone();
    index["schemaVersion"] = json!(2);
    index["mediaType"] = json!(INDEX_MEDIA_TYPE);
    index["manifests"] = Value::Array(kept);
    let bytes = serde_json::to_vec(&index).expect("an index always serializes");
    fs::write(&tmp, bytes).map_err(|e| io_error(&index_path, e))?;
    fs::rename(&tmp, &index_path).map_err(|e| io_error(&index_path, e))
}

#[cfg(test)]
mod tests;
