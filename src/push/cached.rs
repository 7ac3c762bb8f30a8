//! What the layer cache lets a push skip, and what a push teaches it.
//!
//! What the cache says is read once ([`claims`]); then each layer of the image (inspect's
//! `RootFS.Layers`) that the cache has a blob for, with the codec in use, is confirmed in the
//! destination repository before anything is read from the export (which is asked for
//! meanwhile when the cache cannot spare it, [`Claims::export_needed`]):
//! HEAD /v2/<name>/blobs/<digest> with the cached size ([`Uploader::confirm`]). A claim the
//! registry does not confirm is forgotten (the repository, and the layer record too when the
//! blob is there with another size or the answer is no clean "no"), and that layer is read,
//! encoded and pushed as if the cache had never seen it. A layer absent from the destination
//! that the cache knows in another repository of the same registry is mounted from there
//! (POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo>, [`Uploader::mount`]); a mount
//! confirmed with `201` counts as confirmed, a refused one forgets that repository. Then:
//! - every layer confirmed and the config cached (its sha256 is the image ID, checked by the
//!   cache, and its `rootfs.diff_ids` are the layers inspect named): the image is built from
//!   the cache — the same manifest bytes a full push makes — and pushed without an export;
//! - else the export is read, and the confirmed layers are only hashed to check their diff_id
//!   ([`Store::with_known`]), not encoded again.
//!
//! After a successful push, [`remember`] records the config, every layer's blob and, for every
//! blob, that the repository holds it.

use super::{Claim, Uploader};
use crate::cache::{Cache, CachedLayer};
use crate::digest::Digest;
use crate::image::Image;
use crate::oci::Config;
use crate::store::{Blob, Layer, Store};
use std::collections::HashMap;

/// What the cache said and the registry confirmed about an image.
pub struct Confirmed {
    /// The config bytes, if cached.
    config: Option<Vec<u8>>,
    /// Every layer (diff_id) whose cached blob the registry confirmed.
    pub layers: HashMap<Digest, Blob>,
    /// Whether every layer of the image is among them.
    all: bool,
}

impl Confirmed {
    /// The config bytes when nothing needs the export: every layer confirmed, config cached.
    pub fn everything(&self) -> Option<&[u8]> {
        self.config.as_deref().filter(|_| self.all)
    }

    /// The image as a full push would make it, from the cache alone (the config is written to
    /// `store`, to be uploaded if the registry lacks it).
    pub fn image(&self, store: Store, config: &[u8], diff_ids: &[Digest]) -> anyhow::Result<Image> {
        let layers: Vec<Layer> = diff_ids
            .iter()
            .map(|d| Layer { blob: self.layers[d].clone(), diff_id: d.clone() })
            .collect();
        let config = store.write_blob(config)?;
        Ok(Image::new(store, config, &layers))
    }
}

/// What the cache says of an image, read once: its config, and each distinct layer's blob
/// with the codec in use where it has one. [`confirm_cached`] checks it with the registry.
pub struct Claims {
    codec: String,
    image_id: Digest,
    diff_ids: Vec<Digest>,
    config: Option<Vec<u8>>,
    layers: Vec<(Digest, Option<CachedLayer>)>,
}

/// Reads what the cache says of the image `image_id` with layers `diff_ids` and `codec` (the
/// encoder's name); nothing if the cache is off.
pub fn claims(cache: &Cache, codec: &str, image_id: &Digest, diff_ids: &[Digest]) -> Claims {
    let mut layers: Vec<(Digest, Option<CachedLayer>)> = Vec::new();
    if cache.is_enabled() {
        for diff_id in diff_ids {
            if !layers.iter().any(|(d, _)| d == diff_id) {
                layers.push((diff_id.clone(), cache.layer(diff_id, codec)));
            }
        }
    }
    Claims {
        codec: codec.to_string(),
        image_id: image_id.clone(),
        diff_ids: diff_ids.to_vec(),
        config: cache.config(image_id),
        layers,
    }
}

impl Claims {
    /// Whether the export is needed whatever the registry says: the cache is off, or has no
    /// record of the config or of some layer, so [`confirm_cached`] cannot find them all.
    pub fn export_needed(&self) -> bool {
        self.config.is_none() || self.layers.is_empty() || self.layers.iter().any(|(_, known)| known.is_none())
    }
}

/// Confirms with the registry what the cache says of an image (see the module doc).
/// `registry` is the destination's `host[:port]`.
pub fn confirm_cached(cache: &Cache, claims: Claims, registry: &str, uploader: &mut Uploader<'_>) -> anyhow::Result<Confirmed> {
    let mut confirmed = Confirmed { config: None, layers: HashMap::new(), all: false };
    if !cache.is_enabled() {
        return Ok(confirmed);
    }
    let Claims { codec, image_id, diff_ids, config, layers } = claims;
    let repo = uploader.repository().to_string();
    let mut all = true;
    for (diff_id, known) in layers {
        let Some(known) = known else {
            all = false;
            continue;
        };
        match uploader.confirm("layer", &known.digest, known.size)? {
            Claim::Confirmed => {
                confirmed.layers.insert(diff_id, Blob { digest: known.digest, size: known.size });
            }
            Claim::Absent => {
                cache.forget_repository(registry, &known.digest, &repo);
                // Another repository of the registry may hold it: mounted, it is confirmed.
                if uploader.mount("layer", &known.digest, known.size)? {
                    confirmed.layers.insert(diff_id, Blob { digest: known.digest, size: known.size });
                } else {
                    all = false;
                }
            }
            Claim::Wrong => {
                // Another size, a refused HEAD: the record itself is suspect.
                all = false;
                cache.forget_repository(registry, &known.digest, &repo);
                cache.forget_layer(&diff_id, &codec);
            }
        }
    }
    confirmed.config = config.filter(|bytes| {
        let same = serde_json::from_slice::<Config>(bytes).is_ok_and(|c| c.rootfs.diff_ids == diff_ids);
        if !same {
            log::debug!("the cached config of {image_id} does not list the layers the daemon reported: not used");
        }
        same
    });
    confirmed.all = all;
    Ok(confirmed)
}

/// Records what a successful push made and where it is (see the module doc). `diff_ids` are
/// the image's layers in the order of `image.layers`.
pub fn remember(cache: &Cache, codec: &str, registry: &str, repo: &str, image_id: &Digest, diff_ids: &[Digest], image: &Image) {
    if !cache.is_enabled() {
        return;
    }
    match std::fs::read(image.blob_path(&image.config.digest)) {
        Ok(config) => cache.put_config(image_id, &config),
        Err(e) => log::debug!("layer cache: cannot read the config back ({e}): not cached"),
    }
    for (diff_id, desc) in diff_ids.iter().zip(&image.layers) {
        cache.put_layer(diff_id, codec, &CachedLayer { digest: desc.digest.clone(), size: desc.size, media_type: desc.media_type.clone() });
    }
    for desc in image.blobs() {
        cache.add_repository(registry, &desc.digest, repo);
    }
}
