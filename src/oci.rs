//! The image formats we read and write: media types, descriptors, manifests, the config
//! subset we check, and docker save's `manifest.json`.
//!
//! Only the fields idpush uses are modelled; configs are kept as the exact bytes they came as,
//! since their digest is the image ID.

use crate::digest::Digest;
use serde::{Deserialize, Serialize};

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A content descriptor: what a manifest says about one blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub size: u64,
    pub digest: Digest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An image manifest (docker schema 2 or OCI; the two share this shape).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// An OCI index (or docker manifest list): the entry point of an OCI layout.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// The part of an image config that idpush checks: the uncompressed layer digests.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub rootfs: RootFs,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

/// One entry of docker save's `manifest.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct SaveEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
}

impl Manifest {
    /// A docker schema 2 manifest for a config and its compressed layers.
    pub fn docker(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest { schema_version: 2, media_type: Some(DOCKER_MANIFEST.to_string()), config, layers }
    }

    /// An OCI image manifest for a config and its layers.
    pub fn oci(config: Descriptor, layers: Vec<Descriptor>) -> Manifest {
        Manifest { schema_version: 2, media_type: Some(OCI_MANIFEST.to_string()), config, layers }
    }

    /// The exact bytes to push; the manifest digest is computed over these.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_serializes_in_registry_shape() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().unwrap();
        let desc = |mt: &str| Descriptor { media_type: mt.into(), size: 3, digest: d.clone(), annotations: None };
        let m = Manifest::docker(desc(DOCKER_CONFIG), vec![desc(DOCKER_LAYER_GZIP)]);
        let v: serde_json::Value = serde_json::from_slice(&m.to_bytes()).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], DOCKER_MANIFEST);
        assert_eq!(v["config"]["mediaType"], DOCKER_CONFIG);
        assert_eq!(v["layers"][0]["size"], 3);
        assert_eq!(v["layers"][0]["digest"], d.to_string());
        assert!(v["layers"][0].get("annotations").is_none());
    }

    #[test]
    fn reads_docker_save_manifest() {
        let json = r#"[{"Config":"abc.json","RepoTags":["a:b"],"Layers":["x/layer.tar"]}]"#;
        let entries: Vec<SaveEntry> = serde_json::from_str(json).unwrap();
        assert_eq!(entries[0].layers, ["x/layer.tar"]);
        let json = r#"[{"Config":"blobs/sha256/abc","RepoTags":null,"Layers":[]}]"#;
        assert_eq!(serde_json::from_str::<Vec<SaveEntry>>(json).unwrap()[0].config, "blobs/sha256/abc");
    }
}
