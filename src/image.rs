//! The image on disk: what every source produces and the upload consumes.
//!
//! It owns the temp dir its blobs live in; the manifest is kept as the exact bytes that will
//! be pushed, with their digest.

use crate::digest::Digest;
use crate::oci::{self, Descriptor, Manifest};
use crate::store::{Blob, Layer, Store};
use std::path::PathBuf;

pub struct Image {
    pub store: Store,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    pub manifest_digest: Digest,
}

impl Image {
    /// The image of a config blob and layers, in order, in the format the store's codec asks
    /// for: an OCI image when layers are pushed uncompressed (`--compression none`; a layer
    /// whose blob is its diff_id is an uncompressed tar), else docker schema 2.
    pub fn new(store: Store, config: Blob, layers: &[Layer]) -> Image {
        if store.uncompressed() {
            Image::oci(store, config, layers)
        } else {
            Image::docker(store, config, layers)
        }
    }

    /// An OCI image from a config blob and layers (uncompressed tars or gzipped), in order.
    pub fn oci(store: Store, config: Blob, layers: &[Layer]) -> Image {
        let desc = |media_type: &str, b: &Blob| Descriptor {
            media_type: media_type.to_string(),
            size: b.size,
            digest: b.digest.clone(),
            annotations: None,
        };
        let config = desc(oci::OCI_CONFIG, &config);
        let layers: Vec<Descriptor> = layers
            .iter()
            .map(|l| desc(if l.blob.digest == l.diff_id { oci::OCI_LAYER } else { oci::OCI_LAYER_GZIP }, &l.blob))
            .collect();
        let manifest = Manifest::oci(config.clone(), layers.clone()).to_bytes();
        Image {
            store,
            manifest_digest: Digest::of(&manifest),
            manifest,
            manifest_media_type: oci::OCI_MANIFEST.to_string(),
            config,
            layers,
        }
    }

    /// A docker schema 2 image from a config blob and gzipped layers, in order.
    pub fn docker(store: Store, config: Blob, layers: &[Layer]) -> Image {
        let desc = |media_type: &str, b: &Blob| Descriptor {
            media_type: media_type.to_string(),
            size: b.size,
            digest: b.digest.clone(),
            annotations: None,
        };
        let config = desc(oci::DOCKER_CONFIG, &config);
        let layers: Vec<Descriptor> =
            layers.iter().map(|l| desc(oci::DOCKER_LAYER_GZIP, &l.blob)).collect();
        let manifest = Manifest::docker(config.clone(), layers.clone()).to_bytes();
        Image {
            store,
            manifest_digest: Digest::of(&manifest),
            manifest,
            manifest_media_type: oci::DOCKER_MANIFEST.to_string(),
            config,
            layers,
        }
    }

    /// Every blob to upload, layers first and the config last, each digest once.
    pub fn blobs(&self) -> Vec<&Descriptor> {
        let mut seen = std::collections::HashSet::new();
        self.layers
            .iter()
            .chain(std::iter::once(&self.config))
            .filter(|d| seen.insert(d.digest.clone()))
            .collect()
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.store.blob_path(digest)
    }

    /// Total bytes of the distinct blobs.
    pub fn total_size(&self) -> u64 {
        self.blobs().iter().map(|d| d.size).sum()
    }
}

/// A multi-platform image: an index (OCI image index or docker manifest list) as the exact
/// bytes to push, and its children, each an image whose blobs are in the store. Children go
/// up first, by digest; the index last.
pub struct IndexImage {
    pub children: Vec<Image>,
    pub manifest: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

/// What a source gives to push: one image or an index of several.
pub enum Pushable {
    Single(Image),
    Index(IndexImage),
}

impl Pushable {
    /// A config to authenticate with before anything goes up (the first child's).
    pub fn config_digest(&self) -> &Digest {
        match self {
            Pushable::Single(i) => &i.config.digest,
            Pushable::Index(x) => x.children.first().map(|c| &c.config.digest).unwrap_or(&x.digest),
        }
    }

    /// Bytes of the distinct blobs.
    pub fn total_size(&self) -> u64 {
        match self {
            Pushable::Single(i) => i.total_size(),
            Pushable::Index(x) => {
                let mut seen = std::collections::HashSet::new();
                x.children.iter().flat_map(|c| c.blobs()).filter(|d| seen.insert(d.digest.clone())).map(|d| d.size).sum()
            }
        }
    }

    /// What it is, for a progress line: "1 layer", "an index of 3 images".
    pub fn describe(&self) -> String {
        match self {
            Pushable::Single(i) => crate::report::progress::count(i.layers.len(), "layer"),
            Pushable::Index(x) => format!("an index of {}", crate::report::progress::count(x.children.len(), "image")),
        }
    }
}
