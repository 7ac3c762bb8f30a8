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

/// Where an image of an index runs: `os/architecture[/variant]`. Read leniently (a config, an
/// index entry or the daemon's inspect may leave a part out: it is empty, and matches nothing).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`, as `--platform` takes it.
    pub fn parse(s: &str) -> anyhow::Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        // Lowercase letters, digits, `_`, `-`, `.`: how OCI writes os, architecture and variant.
        let ok = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform { os: os.to_string(), architecture: arch.to_string(), variant: None }),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => {
                Ok(Platform { os: os.to_string(), architecture: arch.to_string(), variant: Some(v.to_string()) })
            }
            _ => Err(crate::error::fail(
                crate::error::Cause::BadInput,
                format!("invalid --platform {}: expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8", crate::redact::quote(s)),
            )),
        }
    }

    /// Whether an image of platform `other` is one this asks for (no variant asked: any).
    pub fn matches(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// One entry of an index: its descriptor and platform.
#[derive(Debug, Clone, Deserialize)]
pub struct IndexEntry {
    #[serde(flatten)]
    pub desc: Descriptor,
    #[serde(default)]
    pub platform: Option<Platform>,
}

/// An index with the platforms of its entries.
#[derive(Debug, Clone, Deserialize)]
pub struct PlatformIndex {
    pub manifests: Vec<IndexEntry>,
}

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

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
    fn platforms_parse_and_match() {
        let p = Platform::parse("linux/arm64").unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        let v8 = Platform::parse("linux/arm64/v8").unwrap();
        assert!(p.matches(&v8) && v8.matches(&v8) && !v8.matches(&p));
        assert!(!p.matches(&Platform::parse("linux/amd64").unwrap()));
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
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
