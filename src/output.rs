//! Where a built image is written locally: `--output oci-archive:PATH` (a tar of an OCI image
//! layout) or `--output oci:DIR` (the layout itself). The writers are in `output/oci.rs`.
//!
//! Every write is atomic: the output is made in a private temp dir beside it (a [`Store`] in
//! the output's parent dir, so it is removed on error, on Ctrl-C, and by the next run after a
//! kill) and renamed into place once complete. Into an existing layout, new blobs are renamed
//! in one by one and `index.json` last, so the layout is valid at every moment.
//!
//! [`Store`]: crate::store::Store

mod oci;

pub use oci::write;

use crate::error::{fail, Cause};
use std::fmt;
use std::path::PathBuf;

/// One `--output` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    OciArchive(PathBuf),
    OciDir(PathBuf),
}

impl Output {
    /// Parses `oci-archive:PATH` or `oci:DIR`.
    pub fn parse(text: &str) -> anyhow::Result<Output> {
        let (kind, path) = text.split_once(':').unwrap_or(("", ""));
        match (kind, path) {
            (_, "") => Err(fail(
                Cause::BadInput,
                format!("--output {text:?}: give oci-archive:PATH (a tar of an OCI layout) or oci:DIR (an OCI layout)"),
            )),
            ("oci-archive", p) => Ok(Output::OciArchive(p.into())),
            ("oci", p) => Ok(Output::OciDir(p.into())),
            (other, _) => Err(fail(
                Cause::BadInput,
                format!("--output {text:?}: {other:?} is not a known output; give oci-archive:PATH or oci:DIR"),
            )),
        }
    }
}

impl Output {
    /// The file or dir written.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Output::OciArchive(p) | Output::OciDir(p) => p,
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::OciArchive(p) => write!(f, "oci-archive:{}", p.display()),
            Output::OciDir(p) => write!(f, "oci:{}", p.display()),
        }
    }
}

/// Checks a `--tag` value as an `org.opencontainers.image.ref.name`: letters and digits, joined
/// by single `-._:@+/` (or `--`), starting and ending with a letter or digit (`v1`, `1.2.3`,
/// `registry.example.com/app:v1`).
pub fn check_tag(tag: &str) -> anyhow::Result<()> {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let sep = |c: char| "-._:@+/".contains(c);
    let chars: Vec<char> = tag.chars().collect();
    let ok = !chars.is_empty()
        && chars.first().copied().is_some_and(alnum)
        && chars.last().copied().is_some_and(alnum)
        && chars.iter().all(|&c| alnum(c) || sep(c))
        && chars.windows(2).all(|w| !(sep(w[0]) && sep(w[1])) || (w[0] == '-' && w[1] == '-'));
    if ok {
        Ok(())
    } else {
        Err(fail(
            Cause::BadInput,
            format!("--tag {tag:?}: give a tag like v1 or 1.2.3 (letters and digits joined by - . _ : @ + /)"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_outputs() {
        assert_eq!(Output::parse("oci-archive:a/b.tar").unwrap(), Output::OciArchive("a/b.tar".into()));
        assert_eq!(Output::parse("oci:/x:y").unwrap(), Output::OciDir("/x:y".into()));
        assert_eq!(Output::parse("oci:layout").unwrap().to_string(), "oci:layout");
        for bad in ["", "oci:", "img.tar", "docker-archive:x.tar", ":x"] {
            let e = format!("{:#}", Output::parse(bad).unwrap_err());
            assert!(e.starts_with("--output"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn tags() {
        for good in ["v1", "latest", "1.2.3", "a--b", "registry.example.com/app:v1", "x@y"] {
            check_tag(good).unwrap_or_else(|e| panic!("{good:?}: {e:#}"));
        }
        for bad in ["", "-v1", "v1.", "a..b", "a b", "é", "a:/b"] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
    }
}
