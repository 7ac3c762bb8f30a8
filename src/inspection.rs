//! What `idpush inspect` reports about a manifest in a registry: its digest and media type;
//! for an index, each child with its platform; for an image, its layers with sizes and a
//! summary of its config. A stage: it reads through [`Registry`] and prints nothing.
//!
//! Only the fields reported are modelled; unknown fields are ignored, missing ones are
//! `None` (a config without `created`, say).

use crate::digest::Digest;
use crate::error::{fail, Cause};
use crate::registry::Registry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The inspected manifest. Its JSON (`--json`) is the documented shape of
/// `src/report/schema/inspect.json`: every key is always there (`null` or `[]` where it does
/// not apply).
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// `host/repository:tag` or `host/repository@digest`, as asked.
    pub reference: String,
    pub digest: Digest,
    pub media_type: String,
    /// `image` (a manifest) or `index` (an OCI index or Docker manifest list).
    pub kind: &'static str,
    /// The manifest's own size in bytes.
    pub size: u64,
    /// The children of an index (`[]` for an image).
    pub manifests: Vec<Child>,
    /// The config of an image (`null` for an index).
    pub config: Option<ConfigSummary>,
    /// The layers of an image (`[]` for an index).
    pub layers: Vec<Layer>,
    /// The sum of the layers' sizes (0 for an index).
    pub layers_size: u64,
}

/// One manifest of an index.
#[derive(Debug, Serialize)]
pub struct Child {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// `os/architecture[/variant]`, or `null` if the index gives none.
    pub platform: Option<String>,
    /// An attestation manifest (`vnd.docker.reference.type` annotation), not an image.
    pub attestation: bool,
}

#[derive(Debug, Serialize)]
pub struct Layer {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// The parts of an image config people ask about.
#[derive(Debug, Serialize)]
pub struct ConfigSummary {
    pub digest: Digest,
    pub size: u64,
    pub created: Option<String>,
    /// `os/architecture[/variant]`.
    pub platform: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub labels: BTreeMap<String, String>,
}

// The wire shapes, as far as they are read.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireDescriptor {
    #[serde(default)]
    media_type: String,
    size: u64,
    digest: Digest,
    #[serde(default)]
    platform: Option<crate::oci::Platform>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireManifest {
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<WireDescriptor>,
    #[serde(default)]
    layers: Option<Vec<WireDescriptor>>,
    #[serde(default)]
    manifests: Option<Vec<WireDescriptor>>,
}

#[derive(Deserialize, Default)]
struct WireConfig {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<WireRunConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct WireRunConfig {
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

fn platform(os: &str, arch: &str, variant: Option<&str>) -> Option<String> {
    if os.is_empty() && arch.is_empty() {
        return None;
    }
    let mut p = format!("{os}/{arch}");
    if let Some(v) = variant.filter(|v| !v.is_empty()) {
        p.push('/');
        p.push_str(v);
    }
    Some(p)
}

/// Reads the manifest `reference` (a tag or digest) of `repo` and, for an image, its config.
/// `shown` names it in the report and in errors (`host/repo:tag`).
pub fn inspect(registry: &mut Registry, repo: &str, reference: &str, shown: &str) -> anyhow::Result<Inspection> {
    let fetched = registry.get_manifest(repo, reference)?;
    let bad = |why: String| fail(Cause::BadAnswer, format!("manifest {shown} ({}) {why}", fetched.digest));
    let wire: WireManifest =
        serde_json::from_slice(&fetched.bytes).map_err(|e| bad(format!("is not a manifest: {e}")))?;
    let media_type = if fetched.media_type.is_empty() { wire.media_type.clone().unwrap_or_default() } else { fetched.media_type.clone() };
    let mut out = Inspection {
        reference: shown.to_string(),
        digest: fetched.digest.clone(),
        media_type,
        kind: "image",
        size: fetched.bytes.len() as u64,
        manifests: Vec::new(),
        config: None,
        layers: Vec::new(),
        layers_size: 0,
    };
    if let Some(children) = wire.manifests {
        out.kind = "index";
        out.manifests = children
            .into_iter()
            .map(|d| Child {
                platform: d.platform.as_ref().and_then(|p| platform(&p.os, &p.architecture, p.variant.as_deref())),
                attestation: d.annotations.as_ref().is_some_and(|a| a.contains_key("vnd.docker.reference.type")),
                digest: d.digest,
                media_type: d.media_type,
                size: d.size,
            })
            .collect();
        return Ok(out);
    }
    let Some(config) = wire.config else {
        return Err(bad("has neither a config nor manifests".into()));
    };
    out.layers = wire
        .layers
        .unwrap_or_default()
        .into_iter()
        .map(|d| Layer { digest: d.digest, media_type: d.media_type, size: d.size })
        .collect();
    out.layers_size = out.layers.iter().map(|l| l.size).sum();
    let bytes = registry.get_small_blob(repo, &config.digest, config.size)?;
    let parsed: WireConfig = serde_json::from_slice(&bytes)
        .map_err(|e| fail(Cause::BadAnswer, format!("config {} of {shown} is not an image config: {e}", config.digest)))?;
    let run = parsed.config.unwrap_or_default();
    out.config = Some(ConfigSummary {
        digest: config.digest,
        size: config.size,
        created: parsed.created,
        platform: platform(
            parsed.os.as_deref().unwrap_or(""),
            parsed.architecture.as_deref().unwrap_or(""),
            parsed.variant.as_deref(),
        ),
        entrypoint: run.entrypoint,
        cmd: run.cmd,
        working_dir: run.working_dir.filter(|w| !w.is_empty()),
        user: run.user.filter(|u| !u.is_empty()),
        labels: run.labels.unwrap_or_default(),
    });
    Ok(out)
}
