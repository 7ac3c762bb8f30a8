//! Archives as sources: a `docker save` tar (`docker-archive:PATH[:NAME]`), a tar of an OCI
//! layout (`oci-archive:PATH[:TAG]`) and either one on stdin (`-`), plain or gzipped.
//!
//! One pass over the stream with the entry reader the daemon's export uses
//! ([`archive`](crate::source::archive)), never rewound (stdin cannot be) and never extracted:
//! layers are spooled into the store as they come. What the archive holds decides how it is
//! read: docker save's `manifest.json` (docker-archive; a docker image stays docker), else an
//! OCI `index.json` (the manifest kept as it is, see [`oci_layout`](crate::source::oci_layout)).

use crate::error::{fail, Cause};
use crate::image::Pushable;
use crate::oci::Platform;
use crate::source::archive::{self, Entry};
use crate::source::oci_layout::{self, Read as Picked};
use crate::source::{Select, Source};
use crate::store::Store;
use anyhow::Context;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};

/// Opens `path` (a file, or stdin for `-`), gunzipping it when it starts like gzip.
fn open(source: &Source) -> anyhow::Result<(Box<dyn Read + Send>, String)> {
    let (raw, what): (Box<dyn Read + Send>, String) = match source {
        Source::Stdin => (Box::new(std::io::stdin()), "the archive on stdin".to_string()),
        Source::DockerArchive { path, .. } | Source::OciArchive { path, .. } => {
            let what = format!("the archive {}", path.display());
            let file = std::fs::File::open(path).map_err(|e| {
                let cause = if e.kind() == std::io::ErrorKind::NotFound { Cause::ImageNotFound } else { Cause::BadInput };
                fail(cause, format!("cannot open {what}: {}", e.to_string().to_lowercase()))
            })?;
            if file.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(fail(Cause::BadInput, format!("{} is a directory, not an archive: give it as oci:DIR", path.display())));
            }
            (Box::new(file), what)
        }
        _ => unreachable!("only archives are opened here"),
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, raw);
    let head = buffered.fill_buf().map_err(archive::cut_short).with_context(|| format!("reading {what}"))?;
    if head.is_empty() {
        return Err(fail(Cause::BadImage, format!("{what} is empty: not an image archive")));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok((Box::new(flate2::read::MultiGzDecoder::new(buffered)), format!("{what} (gzip)")))
    } else {
        Ok((Box::new(buffered), what))
    }
}

/// Reads an archive source into `store`.
pub fn read(source: &Source, store: Store, platform: Option<&Platform>) -> anyhow::Result<Picked> {
    let (stream, what) = open(source)?;
    let nothing = &mut |_: &str, _: &crate::store::Layer, _: std::path::PathBuf| Ok(());
    let entries = archive::read_entries(stream, &store, nothing).map_err(|e| not_an_archive(e, &what))?;
    assemble(&entries, store, source, platform, &what)
}

fn not_an_archive(e: anyhow::Error, what: &str) -> anyhow::Error {
    e.context(format!("reading {what}"))
}

fn assemble(entries: &HashMap<String, Entry>, store: Store, source: &Source, platform: Option<&Platform>, what: &str) -> anyhow::Result<Picked> {
    let save = entries.contains_key("manifest.json");
    let oci = entries.contains_key("index.json");
    let wrap = |e: anyhow::Error| not_an_archive(e, what);
    match source {
        Source::OciArchive { tag, .. } if oci => {
            let pick = tag.clone().map(Select::Tag);
            oci_layout::assemble(entries, store, pick.as_ref(), platform, what)
        }
        Source::OciArchive { .. } if save => Err(fail(
            Cause::BadInput,
            format!("{what} is a docker save archive (manifest.json, no index.json): give it as docker-archive:PATH"),
        )),
        Source::DockerArchive { name, .. } if save => {
            let (image, name) = archive::assemble_save(entries, store, None, name.as_deref()).map_err(wrap)?;
            Ok(Picked { image: Pushable::Single(image), name, by_platform: false })
        }
        Source::Stdin if save => {
            let (image, name) = archive::assemble_save(entries, store, None, None).map_err(wrap)?;
            Ok(Picked { image: Pushable::Single(image), name, by_platform: false })
        }
        // A docker-archive that is an OCI layout: its NAME is a ref.name.
        Source::DockerArchive { name, .. } if oci => {
            let pick = name.clone().map(Select::Tag);
            oci_layout::assemble(entries, store, pick.as_ref(), platform, what)
        }
        Source::Stdin if oci => oci_layout::assemble(entries, store, None, platform, what),
        _ => Err(fail(
            Cause::BadImage,
            format!("{what} is not an image archive: it has neither manifest.json (docker save) nor index.json (OCI layout)"),
        )),
    }
}
