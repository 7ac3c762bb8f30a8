//! The upload stage: every blob (layers, then config) that the registry lacks, then the
//! manifest, and the result.
//!
//! The manifest is put only after every blob is confirmed present, so a push that fails half
//! way never leaves a tag pointing at missing blobs.

use crate::error::{fail, Class};
use crate::image::Image;
use crate::interrupt;
use crate::progress::{human, Progress};
use crate::reference::Reference;
use crate::registry::Registry;

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    /// `host/repo:tag@sha256:…`
    pub reference: String,
}

pub fn push(image: &Image, dest: &Reference, registry: &mut Registry, progress: &Progress) -> anyhow::Result<Pushed> {
    if let Some(want) = &dest.digest {
        if want != &image.manifest_digest {
            return Err(fail(
                Class::Permanent,
                format!("the manifest digest would be {}, not the {want} that {dest} asks for", image.manifest_digest),
            ));
        }
    }
    registry.ping()?;
    let repo = &dest.repository;
    let (mut uploaded, mut skipped, mut sent) = (0, 0, 0u64);
    for desc in image.blobs() {
        interrupt::check()?;
        let kind = if desc.digest == image.config.digest { "config" } else { "layer" };
        if registry.blob_exists(repo, &desc.digest)? {
            progress.blob(kind, &desc.digest, desc.size, "skipped (exists)");
            skipped += 1;
        } else {
            registry.upload_blob(repo, &desc.digest, desc.size, &image.blob_path(&desc.digest))?;
            progress.blob(kind, &desc.digest, desc.size, "pushed");
            uploaded += 1;
            sent += desc.size;
        }
    }
    interrupt::check()?;
    let digest = registry.put_manifest(repo, &dest.manifest_reference(), &image.manifest_media_type, &image.manifest)?;
    let mut pushed = dest.clone();
    pushed.digest = Some(digest);
    let size = image.total_size();
    progress.line(format!(
        "pushed {pushed}: {uploaded} blobs uploaded ({}), {skipped} already there, {} in all",
        human(sent),
        human(size)
    ));
    Ok(Pushed { reference: pushed.to_string() })
}
