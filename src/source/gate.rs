//! The gate between reading an export and uploading it: which spooled layers are known to
//! belong to the image, before the export's manifest has been seen.
//!
//! The daemon's inspect answer names the image's layers up front (`RootFS.Layers`, the diff_ids
//! in order). The export streams its entries in an order of its own (docker writes them sorted
//! by file name, so by hash, and `manifest.json` or `index.json` comes after the layers), so a
//! layer's position can only be told by its content: a layer whose diff_id is
//! `RootFS.Layers[i]` is layer `i` (and every other position holding the same diff_id: a
//! duplicate layer). Only such a layer may go up while the export is still read.
//!
//! Any other layer is a mismatch and stops the read at once, with one exception: an OCI blob
//! (`blobs/sha256/<hex>`) whose content matches its own name but that is no layer of this
//! image, as a multi-platform export carries for its other platforms. It is kept back (not
//! uploaded); should the manifest list it, the end-of-stream check refuses the image.

use crate::digest::Digest;
use crate::error::{fail, Cause};
use crate::store::Layer;

/// What a spooled layer may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It is one of the image's layers: upload it.
    Upload,
    /// An intact blob of something else in the archive: keep it back.
    Hold,
}

/// The image's layers as inspect reported them, and the image they belong to.
pub struct Gate {
    image: Digest,
    layers: Vec<Digest>,
}

impl Gate {
    /// `layers`: `RootFS.Layers` of image `image`, in order.
    pub fn new(image: Digest, layers: Vec<Digest>) -> Gate {
        Gate { image, layers }
    }

    /// Decides for the layer spooled from archive path `path`; `Err` on a mismatch.
    pub fn admit(&self, path: &str, layer: &Layer) -> anyhow::Result<Verdict> {
        if self.layers.contains(&layer.diff_id) {
            return Ok(Verdict::Upload);
        }
        if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            let intact = hex == layer.diff_id.hex() || hex == layer.blob.digest.hex();
            let ours = self.layers.iter().any(|d| d.hex() == hex);
            if intact && !ours {
                log::debug!("{path} is not a layer of {}: kept back, not uploaded", self.image);
                return Ok(Verdict::Hold);
            }
        }
        Err(fail(
            Cause::BadImage,
            format!(
                "layer {path} has content {}, which is none of the {} layers the daemon reported for image {} (RootFS.Layers); nothing of it was uploaded",
                layer.diff_id,
                self.layers.len(),
                self.image
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Blob;

    fn layer(content: &[u8]) -> Layer {
        // The compressed digest only has to differ from the diff_id here.
        let gz = [content, b"-gz"].concat();
        Layer { blob: Blob { digest: Digest::of(&gz), size: gz.len() as u64 }, diff_id: Digest::of(content) }
    }

    fn gate(layers: &[&[u8]]) -> Gate {
        Gate::new(Digest::of(b"config"), layers.iter().map(|l| Digest::of(l)).collect())
    }

    #[test]
    fn admits_the_image_layers_in_any_order_and_duplicates() {
        let g = gate(&[b"one", b"two", b"one"]);
        for content in [&b"two"[..], b"one", b"one"] {
            assert_eq!(g.admit("x/layer.tar", &layer(content)).unwrap(), Verdict::Upload);
        }
        let path = format!("blobs/sha256/{}", Digest::of(b"two").hex());
        assert_eq!(g.admit(&path, &layer(b"two")).unwrap(), Verdict::Upload);
    }

    #[test]
    fn refuses_a_layer_that_is_not_the_image_s() {
        let g = gate(&[b"one"]);
        let e = format!("{:#}", g.admit("aaa/layer.tar", &layer(b"evil")).unwrap_err());
        assert!(e.contains("layer aaa/layer.tar has content") && e.contains("RootFS.Layers"), "{e}");
        assert!(e.contains(&Digest::of(b"evil").to_string()), "{e}");
        // A blob named as one of the image's layers but holding something else.
        let named_ours = format!("blobs/sha256/{}", Digest::of(b"one").hex());
        assert!(g.admit(&named_ours, &layer(b"evil")).is_err());
        // A blob whose content does not match its name.
        let misnamed = format!("blobs/sha256/{}", Digest::of(b"other").hex());
        assert!(g.admit(&misnamed, &layer(b"evil")).is_err());
    }

    #[test]
    fn holds_intact_blobs_of_something_else() {
        let g = gate(&[b"one"]);
        let l = layer(b"other platform");
        for hex in [l.diff_id.hex(), l.blob.digest.hex()] {
            assert_eq!(g.admit(&format!("blobs/sha256/{hex}"), &l).unwrap(), Verdict::Hold);
        }
    }
}
