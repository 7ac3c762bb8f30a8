//! The result of `idpush build`: one line per output written (`oci-archive:site.tar@sha256:…`)
//! and per pushed reference (`host/repo:tag@sha256:…`), or with `--json` one JSON object of the
//! whole build (`schema/build.json`): the image, each output, and each pushed reference in the
//! shape of `idpush push --json` (`pushed.rs`).

use super::pushed;
use crate::image::Image;
use crate::oci::Descriptor;
use crate::output::{Output, Target};
use crate::push::Pushed;
use serde::Serialize;

/// An output the build wrote, with the tags its index.json names the image by.
pub struct Written<'a> {
    pub target: &'a Target,
    pub tags: Vec<String>,
}

/// What the build made, for its result.
pub struct Built<'a> {
    pub image: &'a Image,
    /// How many of the image's first layers are the base's.
    pub from_base: usize,
    /// `os/arch[/variant]` of the image's config, if it says.
    pub platform: Option<String>,
    pub outputs: &'a [Written<'a>],
    pub pushed: &'a [Pushed],
    /// The command's wall time so far.
    pub seconds: f64,
}

#[derive(Serialize)]
struct Json<'a> {
    image: ImageJson<'a>,
    outputs: Vec<OutputJson<'a>>,
    pushed: Vec<pushed::Json<'a>>,
    seconds: f64,
}

#[derive(Serialize)]
struct ImageJson<'a> {
    digest: String,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    platform: Option<&'a str>,
    size: u64,
    config: BlobJson<'a>,
    layers: Vec<LayerJson<'a>>,
}

#[derive(Serialize)]
struct BlobJson<'a> {
    digest: String,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    size: u64,
}

#[derive(Serialize)]
struct LayerJson<'a> {
    #[serde(flatten)]
    blob: BlobJson<'a>,
    #[serde(rename = "fromBase")]
    from_base: bool,
}

#[derive(Serialize)]
struct OutputJson<'a> {
    kind: &'static str,
    path: String,
    tags: &'a [String],
    reference: String,
}

fn blob(d: &Descriptor) -> BlobJson<'_> {
    BlobJson { digest: d.digest.to_string(), media_type: &d.media_type, size: d.size }
}

/// `OUTPUT@sha256:…`: an output with the image's manifest digest, as the text result names it.
fn reference(target: &Target, image: &Image) -> String {
    format!("{target}@{}", image.manifest_digest)
}

/// The stdout of a build: text lines, or with `as_json` one JSON object and a newline.
pub fn result(built: &Built<'_>, as_json: bool) -> String {
    if !as_json {
        let mut out = String::new();
        for w in built.outputs {
            out.push_str(&reference(w.target, built.image));
            out.push('\n');
        }
        out.push_str(&pushed::result(built.pushed, false, built.seconds));
        return out;
    }
    let image = built.image;
    let doc = Json {
        image: ImageJson {
            digest: image.manifest_digest.to_string(),
            media_type: &image.manifest_media_type,
            platform: built.platform.as_deref(),
            size: image.total_size(),
            config: blob(&image.config),
            layers: image.layers.iter().enumerate().map(|(i, d)| LayerJson { blob: blob(d), from_base: i < built.from_base }).collect(),
        },
        outputs: built
            .outputs
            .iter()
            .map(|w| OutputJson {
                kind: match w.target.output {
                    Output::OciArchive(_) => "oci-archive",
                    Output::OciDir(_) => "oci",
                },
                path: w.target.output.path().display().to_string(),
                tags: &w.tags,
                reference: reference(w.target, image),
            })
            .collect(),
        pushed: built.pushed.iter().map(|p| pushed::json(p, built.seconds)).collect(),
        seconds: pushed::millis(built.seconds),
    };
    let mut out = serde_json::to_string(&doc).expect("the report types serialize");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::push::BlobDone;
    use crate::report::progress::Outcome;

    fn image(dir: &crate::test_support::TempDir) -> Image {
        let store = crate::store::Store::create(dir.path()).unwrap();
        let config = store.write_blob(b"{\"os\":\"linux\",\"architecture\":\"amd64\"}").unwrap();
        let layers: Vec<crate::store::Layer> = [b"base".as_slice(), b"ctx"]
            .iter()
            .map(|b| {
                let blob = store.write_blob(b).unwrap();
                crate::store::Layer { diff_id: blob.digest.clone(), blob }
            })
            .collect();
        Image::oci(store, config, &layers)
    }

    #[test]
    fn text_is_a_line_per_output_then_per_reference_and_json_one_object() {
        let dir = crate::test_support::TempDir::new("report-built");
        let image = image(&dir);
        let targets = [Target::parse("oci-archive:a.tar:v2").unwrap(), Target::parse("oci:lay").unwrap()];
        let outputs = [
            Written { target: &targets[0], tags: vec!["v2".into(), "v1".into()] },
            Written { target: &targets[1], tags: vec!["v1".into()] },
        ];
        let d = Digest::of(b"m");
        let pushed = [Pushed {
            reference: format!("h/r:1@{d}"),
            digest: d.clone(),
            media_type: image.manifest_media_type.clone(),
            platforms: vec!["linux/amd64".into()],
            size: 3,
            blobs: vec![BlobDone { digest: d.clone(), size: 3, outcome: Outcome::Pushed }],
        }];
        let built =
            Built { image: &image, from_base: 1, platform: Some("linux/amd64".into()), outputs: &outputs, pushed: &pushed, seconds: 1.23456 };
        let m = &image.manifest_digest;
        assert_eq!(result(&built, false), format!("oci-archive:a.tar:v2@{m}\noci:lay@{m}\nh/r:1@{d}\n"));

        let out = result(&built, true);
        assert_eq!(out.lines().count(), 1, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["image"]["digest"], m.to_string());
        assert_eq!(v["image"]["platform"], "linux/amd64");
        assert_eq!(v["image"]["config"]["digest"], image.config.digest.to_string());
        assert_eq!((v["image"]["layers"][0]["fromBase"].as_bool(), v["image"]["layers"][1]["fromBase"].as_bool()), (Some(true), Some(false)));
        assert_eq!(v["image"]["layers"][1]["size"], 3);
        assert_eq!((v["outputs"][0]["kind"].as_str(), v["outputs"][0]["path"].as_str()), (Some("oci-archive"), Some("a.tar")));
        assert_eq!(v["outputs"][0]["tags"], serde_json::json!(["v2", "v1"]));
        assert_eq!(v["outputs"][1]["kind"], "oci");
        assert_eq!(v["outputs"][1]["reference"], format!("oci:lay@{m}"));
        assert_eq!(v["pushed"][0]["blobs"][0]["outcome"], "pushed");
        assert_eq!((v["pushed"][0]["seconds"].as_f64(), v["seconds"].as_f64()), (Some(1.235), Some(1.235)));

        let none = Built { platform: None, pushed: &[], ..built };
        let v: serde_json::Value = serde_json::from_str(&result(&none, true)).unwrap();
        assert_eq!((v["image"]["platform"].is_null(), v["pushed"].as_array().map(Vec::len)), (true, Some(0)));
    }
}
