//! Where a built image is written locally: `--output oci-archive:PATH[:TAG]` (a tar of an OCI
//! image layout) or `--output oci:DIR[:TAG]` (the layout itself). The writers are in
//! `output/oci.rs`.
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

/// One `--output` value with the tag it may end in: `oci:DIR[:TAG]`, `oci-archive:PATH[:TAG]`
/// (as skopeo writes them and `idpush push` reads them). A last `:TAG` is taken as a tag when it
/// is a valid one without a `/`; the rest is the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub output: Output,
    pub tag: Option<String>,
}

impl Target {
    pub fn parse(text: &str) -> anyhow::Result<Target> {
        if let Some((head, tag)) = text.rsplit_once(':') {
            let has_path = head.split_once(':').is_some_and(|(_, path)| !path.is_empty());
            if has_path && !tag.contains('/') && check_tag(tag).is_ok() {
                return Ok(Target { output: Output::parse(head)?, tag: Some(tag.to_string()) });
            }
        }
        Ok(Target { output: Output::parse(text)?, tag: None })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tag {
            Some(t) => write!(f, "{}:{t}", self.output),
            None => write!(f, "{}", self.output),
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
    fn targets_may_end_in_a_tag() {
        let t = Target::parse("oci:layout:v1").unwrap();
        assert_eq!((t.output, t.tag.as_deref()), (Output::OciDir("layout".into()), Some("v1")));
        let t = Target::parse("oci-archive:/tmp/a.tar:1.2.3").unwrap();
        assert_eq!((t.output.clone(), t.tag.as_deref()), (Output::OciArchive("/tmp/a.tar".into()), Some("1.2.3")));
        assert_eq!(t.to_string(), "oci-archive:/tmp/a.tar:1.2.3");
        for plain in ["oci:layout", "oci:a:b/c", "oci-archive:x:", "oci::v1"] {
            let t = Target::parse(plain);
            assert!(t.as_ref().map_or(true, |t| t.tag.is_none()), "{plain:?}: {t:?}");
        }
        assert_eq!(Target::parse("oci:a:b/c").unwrap().output, Output::OciDir("a:b/c".into()));
        assert!(Target::parse("oci::v1").is_ok_and(|t| t.output == Output::OciDir(":v1".into())));
        assert!(Target::parse("tar:x:v1").is_err());
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
