//! The result of `idpush push`: one line per pushed reference (`host/repo:tag@sha256:…`), or
//! with `--json` one JSON object per reference, one per line (`schema/push.json`); and the
//! `--digest-file`, written atomically.

use crate::push::Pushed;
use serde::Serialize;
use std::path::Path;

/// `--json` of `idpush push`, per reference (also each `pushed` item of `idpush build --json`).
#[derive(Serialize)]
pub(super) struct Json<'a> {
    reference: &'a str,
    digest: String,
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    platforms: &'a [String],
    size: u64,
    blobs: Vec<Blob>,
    seconds: f64,
}

#[derive(Serialize)]
struct Blob {
    digest: String,
    size: u64,
    outcome: &'static str,
}

/// The stdout of a push that took `seconds`.
pub fn result(pushed: &[Pushed], as_json: bool, seconds: f64) -> String {
    let mut out = String::new();
    for p in pushed {
        if as_json {
            out.push_str(&serde_json::to_string(&json(p, seconds)).expect("the report types serialize"));
        } else {
            out.push_str(&p.reference);
        }
        out.push('\n');
    }
    out
}

/// The `--json` object of one pushed reference, of a push that took `seconds` (rounded to ms).
pub(super) fn json(p: &Pushed, seconds: f64) -> Json<'_> {
    Json {
        reference: &p.reference,
        digest: p.digest.to_string(),
        media_type: &p.media_type,
        platforms: &p.platforms,
        size: p.size,
        blobs: p.blobs.iter().map(|b| Blob { digest: b.digest.to_string(), size: b.size, outcome: b.outcome.as_str() }).collect(),
        seconds: millis(seconds),
    }
}

/// Seconds rounded to the millisecond, as the JSON results give them.
pub(super) fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// Writes `digest` and a newline to `path` atomically: a temporary file beside it, renamed over
/// it, so a reader sees the old content or the new, never a part (and a failure leaves no
/// temporary file).
pub fn digest_file(path: &Path, digest: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let name = path.file_name().ok_or_else(|| anyhow::anyhow!("--digest-file {}: not a file path", path.display()))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".idpush-{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let written = std::fs::write(&tmp, format!("{digest}\n")).and_then(|_| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing the manifest digest to --digest-file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::push::BlobDone;
    use crate::report::progress::Outcome;

    #[test]
    fn json_is_one_object_a_line_with_every_field() {
        let d = Digest::of(b"m");
        let p = Pushed {
            reference: format!("h/r:1@{d}"),
            digest: d.clone(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platforms: vec!["linux/amd64".into()],
            size: 3,
            blobs: vec![BlobDone { digest: d.clone(), size: 3, outcome: Outcome::Mounted }],
        };
        let out = result(&[p.clone(), p.clone()], true, 1.23456);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["digest"], d.to_string());
        assert_eq!(v["blobs"][0]["outcome"], "mounted");
        assert_eq!(v["seconds"], 1.235);
        assert_eq!(v["platforms"][0], "linux/amd64");
        assert_eq!(result(&[p], false, 0.0), format!("h/r:1@{d}\n"));
    }

    #[test]
    fn digest_file_is_replaced_whole_and_leaves_no_temp_file() {
        let dir = std::env::temp_dir().join(format!("idpush-digest-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("digest");
        std::fs::write(&path, "old").unwrap();
        digest_file(&path, "sha256:abc").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "sha256:abc\n");
        let e = digest_file(&dir.join("missing/digest"), "sha256:abc").unwrap_err();
        assert!(format!("{e:#}").contains("--digest-file"), "{e:#}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "only the digest file is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
