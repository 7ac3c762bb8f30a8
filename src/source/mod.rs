//! Image sources: each turns what the user has into an [`Image`](crate::image::Image) on disk.
//!
//! [`Source`] is what SOURCE names, parsed without I/O except the one probe of a plain path
//! (passed in, so the parsing is testable).

pub mod archive;
pub mod build;

pub mod daemon;
pub mod gate;
pub mod docker_archive;
pub mod ignore;
pub mod oci_layout;
pub mod remote;

use crate::digest::Digest;
use anyhow::bail;
use std::path::PathBuf;

/// Where the image to push is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An image of the Docker daemon, by name or ID (`docker-daemon:NAME` or plain `NAME`).
    Daemon(String),
    /// A `docker save` tar (plain or gzipped); `name` picks one image of a multi-image archive.
    DockerArchive { path: PathBuf, name: Option<String> },
    /// An OCI image layout directory.
    Oci { dir: PathBuf, select: Option<Select> },
    /// A tar of an OCI image layout (plain or gzipped).
    OciArchive { path: PathBuf, tag: Option<String> },
    /// A docker-archive or oci-archive on stdin (told apart by content; gzip too).
    Stdin,
}

/// Which manifest of an OCI layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select {
    /// Matched against `org.opencontainers.image.ref.name`.
    Tag(String),
    /// The manifest (or index) with this digest.
    Digest(Digest),
}

/// What a plain path on disk holds, as far as SOURCE parsing cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Nothing there (or unreadable): the string is a daemon image name.
    Missing,
    /// A directory with `oci-layout` or `index.json`.
    Layout,
    /// Any other directory.
    Dir,
    /// A file: an archive, told apart by content when read.
    File,
}

/// The probe that [`Source::parse`] uses on disk.
pub fn probe(path: &std::path::Path) -> PathKind {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            if path.join("oci-layout").exists() || path.join("index.json").exists() {
                PathKind::Layout
            } else {
                PathKind::Dir
            }
        }
        Ok(_) => PathKind::File,
        Err(_) => PathKind::Missing,
    }
}

impl Source {
    /// Parses SOURCE. `probe` says what a plain string names on disk: an existing OCI layout
    /// directory, or an existing file that looks like a path (it has a `/` or a tar-like
    /// extension), is read as such; anything else is a daemon image name.
    pub fn parse(s: &str, probe: &dyn Fn(&std::path::Path) -> PathKind) -> anyhow::Result<Source> {
        let empty = |what: &str, form: &str| -> anyhow::Result<Source> {
            bail!("SOURCE {s:?} names no {what}: give it as {form}")
        };
        if s == "-" {
            return Ok(Source::Stdin);
        }
        if let Some(name) = s.strip_prefix("docker-daemon:") {
            if name.is_empty() {
                return empty("image", "docker-daemon:NAME[:TAG]");
            }
            return Ok(Source::Daemon(name.to_string()));
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (path, name) = split_first(rest);
            if path.is_empty() {
                return empty("archive", "docker-archive:PATH[:NAME]");
            }
            if name == Some("") {
                bail!("SOURCE {s:?} ends with ':' but names no image: give docker-archive:PATH:NAME, or drop the ':'");
            }
            return Ok(Source::DockerArchive { path: path.into(), name: name.map(str::to_string) });
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (path, tag) = split_first(rest);
            if path.is_empty() {
                return empty("archive", "oci-archive:PATH[:TAG]");
            }
            let tag = tag.map(|t| check_tag(s, t)).transpose()?;
            return Ok(Source::OciArchive { path: path.into(), tag });
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, select) = match rest.split_once('@') {
                Some((dir, digest)) => {
                    let d = digest.parse::<Digest>().map_err(|e| {
                        anyhow::anyhow!("SOURCE {s:?}: {digest:?} is not a digest ({e:#}): give oci:DIR@sha256:<64 hex digits>")
                    })?;
                    (dir, Some(Select::Digest(d)))
                }
                None => match split_first(rest) {
                    (dir, Some(tag)) => (dir, Some(Select::Tag(check_tag(s, tag)?))),
                    (dir, None) => (dir, None),
                },
            };
            if dir.is_empty() {
                return empty("directory", "oci:DIR[:TAG|@DIGEST]");
            }
            return Ok(Source::Oci { dir: dir.into(), select });
        }
        if s.is_empty() {
            bail!("SOURCE is empty: give an image name, a path, or docker-archive:/oci:/oci-archive:/-");
        }
        let path = std::path::Path::new(s);
        let path_like = s.contains('/') || [".tar", ".tar.gz", ".tgz"].iter().any(|x| s.ends_with(x));
        match probe(path) {
            PathKind::Layout => Ok(Source::Oci { dir: path.into(), select: None }),
            PathKind::File if path_like => Ok(Source::DockerArchive { path: path.into(), name: None }),
            PathKind::Dir if path_like => bail!(
                "SOURCE {s:?} is a directory without an OCI layout (no oci-layout or index.json): \
                 give an OCI layout directory, an archive, or an image name"
            ),
            PathKind::Missing if s.contains('/') && (s.starts_with('.') || s.starts_with('/')) => {
                Err(crate::error::fail(
                    crate::error::Cause::ImageNotFound,
                    format!("SOURCE {s:?} does not exist: give an existing archive or OCI layout, or an image name"),
                ))
            }
            _ => Ok(Source::Daemon(s.to_string())),
        }
    }

    /// The image name SOURCE itself gives, for a destination when DEST is missing: the daemon
    /// image's name, or a docker-archive's `:NAME`. Other sources name theirs when read.
    pub fn name(&self) -> Option<&str> {
        match self {
            Source::Daemon(n) => Some(n),
            Source::DockerArchive { name: Some(n), .. } => Some(n),
            _ => None,
        }
    }
}

pub use oci_layout::Read;

/// Reads a source other than the daemon into `store`: an archive (file or stdin) in one pass,
/// or an OCI layout directory.
/// With `platform`, a multi-platform index gives only its image for that platform.
/// A single image (not an index) must be of `platform` when one is asked for.
pub fn read(source: &Source, store: crate::store::Store, platform: Option<&crate::oci::Platform>) -> anyhow::Result<Read> {
    read_with(source, store, platform, &mut |_, _, _| Ok(()))
}

/// [`read`], telling `on_layer` of each layer spooled that is known to be intact and one of
/// the image's (an OCI layout directory reads manifest and config first, so it may go up at
/// once); an archive is only known to hold its image when it has been read whole, so none of
/// its layers is told.
pub fn read_with(
    source: &Source,
    store: crate::store::Store,
    platform: Option<&crate::oci::Platform>,
    on_layer: &mut archive::OnLayer,
) -> anyhow::Result<Read> {
    let read = read_any(source, store, platform, on_layer)?;
    if let (Some(want), crate::image::Pushable::Single(image), false) = (platform, &read.image, read.by_platform) {
        check_platform(image, want, source)?;
    }
    Ok(read)
}

/// The platform an image's config names must be `want`.
fn check_platform(image: &crate::image::Image, want: &crate::oci::Platform, source: &Source) -> anyhow::Result<()> {
    let bytes = std::fs::read(image.blob_path(&image.config.digest))
        .map_err(|e| crate::error::fail(crate::error::Cause::LocalIo, format!("reading the config back from the temp dir: {e}")))?;
    let got: crate::oci::Platform = serde_json::from_slice(&bytes).map_err(|e| {
        crate::error::fail(crate::error::Cause::BadImage, format!("the config of {source} does not parse: {e}"))
    })?;
    if !want.matches(&got) {
        return Err(crate::error::fail(
            crate::error::Cause::ImageNotFound,
            format!("{source} is one image, for {got}, not {want}: drop --platform or give the image for {want}"),
        ));
    }
    Ok(())
}

fn read_any(
    source: &Source,
    store: crate::store::Store,
    platform: Option<&crate::oci::Platform>,
    on_layer: &mut archive::OnLayer,
) -> anyhow::Result<Read> {
    match source {
        Source::Oci { dir, select } => oci_layout::read_dir(dir, store, select.as_ref(), platform, on_layer),
        Source::DockerArchive { .. } | Source::OciArchive { .. } | Source::Stdin => docker_archive::read(source, store, platform),
        Source::Daemon(_) => unreachable!("the daemon is read in three steps (source::daemon)"),
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Daemon(n) => write!(f, "{n}"),
            Source::DockerArchive { path, name: None } => write!(f, "docker-archive:{}", path.display()),
            Source::DockerArchive { path, name: Some(n) } => write!(f, "docker-archive:{}:{n}", path.display()),
            Source::Oci { dir, select: None } => write!(f, "oci:{}", dir.display()),
            Source::Oci { dir, select: Some(Select::Tag(t)) } => write!(f, "oci:{}:{t}", dir.display()),
            Source::Oci { dir, select: Some(Select::Digest(d)) } => write!(f, "oci:{}@{d}", dir.display()),
            Source::OciArchive { path, tag: None } => write!(f, "oci-archive:{}", path.display()),
            Source::OciArchive { path, tag: Some(t) } => write!(f, "oci-archive:{}:{t}", path.display()),
            Source::Stdin => write!(f, "stdin"),
        }
    }
}

/// `PATH[:REST]`, split at the first `:` (as skopeo does).
fn split_first(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

/// A tag (or a ref.name, which may be a full reference) after `:`.
fn check_tag(s: &str, tag: &str) -> anyhow::Result<String> {
    if tag.is_empty() {
        bail!("SOURCE {s:?} ends with ':' but names no tag: give the tag after ':', or drop the ':'");
    }
    if tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("SOURCE {s:?}: the tag {tag:?} has a space or control character");
    }
    Ok(tag.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> anyhow::Result<Source> {
        Source::parse(s, &|p| match p.to_str().unwrap() {
            "layout" | "./out/layout" => PathKind::Layout,
            "img.tar" | "./img" | "/tmp/x.tar.gz" | "myapp" => PathKind::File,
            "dir" | "./dir" => PathKind::Dir,
            _ => PathKind::Missing,
        })
    }

    #[test]
    fn prefixed_sources() {
        let d = Digest::of(b"m");
        let cases = [
            ("-", Source::Stdin),
            ("docker-daemon:myapp:v1", Source::Daemon("myapp:v1".into())),
            ("docker-archive:/a/b.tar", Source::DockerArchive { path: "/a/b.tar".into(), name: None }),
            ("docker-archive:b.tar.gz:myapp:v1", Source::DockerArchive { path: "b.tar.gz".into(), name: Some("myapp:v1".into()) }),
            ("oci:/l", Source::Oci { dir: "/l".into(), select: None }),
            ("oci:/l:v1", Source::Oci { dir: "/l".into(), select: Some(Select::Tag("v1".into())) }),
            (&format!("oci:/l@{d}"), Source::Oci { dir: "/l".into(), select: Some(Select::Digest(d.clone())) }),
            ("oci-archive:x.tar", Source::OciArchive { path: "x.tar".into(), tag: None }),
            ("oci-archive:x.tar:latest", Source::OciArchive { path: "x.tar".into(), tag: Some("latest".into()) }),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s).unwrap_or_else(|e| panic!("{s}: {e:#}")), want, "{s}");
            if want != Source::Stdin {
                assert_eq!(parse(&want.to_string()).unwrap(), want, "{s} round trip");
            }
        }
    }

    #[test]
    fn plain_strings_by_what_is_on_disk() {
        let cases = [
            ("myapp:latest", Source::Daemon("myapp:latest".into())),
            ("registry.example.com/team/app:v1", Source::Daemon("registry.example.com/team/app:v1".into())),
            ("layout", Source::Oci { dir: "layout".into(), select: None }),
            ("./out/layout", Source::Oci { dir: "./out/layout".into(), select: None }),
            ("img.tar", Source::DockerArchive { path: "img.tar".into(), name: None }),
            ("./img", Source::DockerArchive { path: "./img".into(), name: None }),
            ("/tmp/x.tar.gz", Source::DockerArchive { path: "/tmp/x.tar.gz".into(), name: None }),
            // A file in the working dir named like an image does not hide the daemon's image.
            ("myapp", Source::Daemon("myapp".into())),
            ("dir", Source::Daemon("dir".into())),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s).unwrap(), want, "{s}");
        }
    }

    #[test]
    fn parse_errors_are_one_clear_line() {
        let cases = [
            ("docker-daemon:", "names no image"),
            ("docker-archive:", "docker-archive:PATH[:NAME]"),
            ("docker-archive:x.tar:", "names no image"),
            ("oci:", "oci:DIR[:TAG|@DIGEST]"),
            ("oci:/l:", "names no tag"),
            ("oci:/l@sha256:abc", "is not a digest"),
            ("oci-archive:", "oci-archive:PATH[:TAG]"),
            ("", "SOURCE is empty"),
            ("./dir", "directory without an OCI layout"),
            ("./missing.tar", "does not exist"),
            ("/no/such/dir", "does not exist"),
        ];
        for (s, want) in cases {
            let e = format!("{:#}", parse(s).unwrap_err());
            assert!(e.contains(want) && !e.contains('\n'), "{s}: {e}");
        }
    }
}
