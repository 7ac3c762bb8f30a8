//! `idpush build CONTEXT`: a folder becomes a one-layer OCI image in the store.
//!
//! The context is walked first ([`walk`]), so a problem (a missing context, an unreadable file,
//! a FIFO, a symlink that climbs out of the context, a bad `.dockerignore`) is one error before
//! anything is written. Then one tar is written from that list on a thread and spooled into the
//! store as it streams (hashed for the diff_id, compressed, hashed again). The tar is
//! deterministic: entries depth-first with each dir's names sorted bytewise, uid/gid 0 and no
//! user or group names, the permission bits (and setuid/setgid/sticky) kept, every mtime
//! clamped to the build's epoch (`SOURCE_DATE_EPOCH`, else 0), symlinks stored as symlinks with
//! their target as it is, hard links stored as separate files. The same folder therefore gives
//! the same layer, config and manifest digests whenever and wherever it is built.
//!
//! The image config (platform, labels, env, entrypoint...) is `config.rs`. The result is an
//! [`Image`] in a [`Store`]: the same value a push uploads, so `--push` can reuse the uploader.

pub mod config;

pub use config::{Platform, Settings};

use crate::error::{fail, fail_with_hint, Cause};
use crate::image::Image;
use crate::source::ignore::{self, Matcher};
use crate::store::{Layer, Store};
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The file the context's exclusions are read from.
pub const IGNORE_FILE: &str = ".dockerignore";

/// One entry of the layer, as found by [`walk`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative to the context, slash-separated, no leading `./` (`bin/tool`).
    pub path: String,
    pub kind: Kind,
    /// Permission bits plus setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Seconds since the epoch, as the file system has it (clamped when written).
    pub mtime: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A regular file of this many bytes (at the time of the walk).
    File { size: u64 },
    /// A symlink and its target, never followed.
    Symlink(PathBuf),
}

/// Builds the image from the walked context ([`walk`]): its one layer and a config from
/// `settings`, in `store`, on scratch.
#[cfg(test)]
pub fn build(context: &Path, entries: &[Entry], settings: &Settings, store: Store) -> anyhow::Result<Image> {
    build_on(context, entries, settings, None, store)
}

/// A base image to build on: its config's bytes and its layers, whose blobs are in the store
/// the build spools into. Its layers are reused as they are, not copied into the new one.
pub struct Base {
    pub config: Vec<u8>,
    pub layers: Vec<Layer>,
}

impl Base {
    /// The base of an image read into a store (its config blob read back, its layers paired
    /// with the config's `rootfs.diff_ids`).
    pub fn of(image: &Image) -> anyhow::Result<Base> {
        let path = image.blob_path(&image.config.digest);
        let config = fs::read(&path).map_err(|e| fail(Cause::LocalIo, format!("reading {}: {e}", path.display())))?;
        let parsed: crate::oci::Config = serde_json::from_slice(&config)
            .map_err(|e| fail(Cause::BadImage, format!("the base image's config has no rootfs.diff_ids: {e}")))?;
        if parsed.rootfs.diff_ids.len() != image.layers.len() {
            return Err(fail(Cause::BadImage, "the base image's config lists another number of layers than its manifest"));
        }
        if let Some(d) = image.layers.iter().find(|d| d.media_type.contains("zstd")) {
            return Err(fail(
                Cause::BadInput,
                format!("the base image's layer {} is zstd-compressed: a build can only reuse gzip or uncompressed layers", d.digest),
            ));
        }
        let layers = image
            .layers
            .iter()
            .zip(parsed.rootfs.diff_ids)
            .map(|(d, diff_id)| Layer { blob: crate::store::Blob { digest: d.digest.clone(), size: d.size }, diff_id })
            .collect();
        Ok(Base { config, layers })
    }
}

/// [`build`] on top of `base` (`None`: scratch).
pub fn build_on(context: &Path, entries: &[Entry], settings: &Settings, base: Option<&Base>, store: Store) -> anyhow::Result<Image> {
    let layer = spool(context, entries, settings.epoch, &store)?;
    let (config, mut layers) = match base {
        None => (config::bytes(settings, &layer.diff_id), Vec::new()),
        Some(b) => (config::bytes_on(&b.config, settings, &layer.diff_id)?, b.layers.clone()),
    };
    layers.push(layer);
    let config = store.write_blob(&config)?;
    Ok(Image::oci(store, config, &layers))
}

/// Every entry the layer will hold, in tar order: what is in `context` minus what its
/// `.dockerignore` excludes and minus the paths in `skip` (absolute, as
/// [`std::fs::canonicalize`] gives them: the build's own outputs, when they are inside the
/// context, so a rebuild does not pack the last result). Checks each file can be opened.
pub fn walk(context: &Path, skip: &[PathBuf]) -> anyhow::Result<Vec<Entry>> {
    let meta = fs::metadata(context).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => fail_with_hint(
            Cause::BadInput,
            format!("the build context {} does not exist", context.display()),
            "give the directory whose files go into the image, e.g. `idpush build . --output oci-archive:image.tar`",
        ),
        _ => bad(context, &e),
    })?;
    if !meta.is_dir() {
        return Err(fail(Cause::BadInput, format!("the build context {} is not a directory", context.display())));
    }
    let ignore_path = context.join(IGNORE_FILE);
    let matcher = match fs::symlink_metadata(&ignore_path) {
        Ok(m) if m.is_file() => {
            let text = fs::read_to_string(&ignore_path).map_err(|e| bad(&ignore_path, &e))?;
            Matcher::parse(&text).map_err(|e| fail(Cause::BadInput, format!("{}: {e}", ignore_path.display())))?
        }
        _ => Matcher::default(),
    };
    let skip: Vec<String> = match fs::canonicalize(context) {
        Ok(root) => skip.iter().filter_map(|p| p.strip_prefix(&root).ok()).filter_map(|p| p.to_str()).map(String::from).collect(),
        Err(_) => Vec::new(),
    };
    let mut entries = Vec::new();
    walk_dir(context, "", false, &Walk { matcher: &matcher, skip: &skip }, &mut entries)?;
    Ok(entries)
}

/// What [`walk_dir`] leaves out.
struct Walk<'a> {
    matcher: &'a Matcher,
    /// Context-relative paths never put in the layer.
    skip: &'a [String],
}

/// Appends the entries under `dir` (context-relative `rel`, "" for the root) to `out`. An
/// `excluded` dir (walked only for what an exception may re-include) that cannot be read adds
/// nothing rather than failing the build.
fn walk_dir(dir: &Path, rel: &str, excluded: bool, rules: &Walk, out: &mut Vec<Entry>) -> anyhow::Result<()> {
    let matcher = rules.matcher;
    let mut names = Vec::new();
    let items = match fs::read_dir(dir) {
        Ok(items) => items,
        Err(_) if excluded => return Ok(()),
        Err(e) => return Err(bad(dir, &e)),
    };
    for item in items {
        let item = item.map_err(|e| bad(dir, &e))?;
        let name = item.file_name().into_string().map_err(|name| {
            fail(
                Cause::BadInput,
                format!("{}: the name is not UTF-8 (rename it, or exclude it in {IGNORE_FILE})", dir.join(name).display()),
            )
        })?;
        names.push(name);
    }
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let path = dir.join(&name);
        let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if rules.skip.contains(&rel) {
            continue;
        }
        let excluded = matcher.excludes(&rel);
        let meta = fs::symlink_metadata(&path).map_err(|e| bad(&path, &e))?;
        let kind = meta.file_type();
        if kind.is_dir() {
            // An excluded dir is still walked when an exception may re-include something in it;
            // it goes into the layer only if something in it does.
            if excluded && !matcher.has_exceptions() {
                continue;
            }
            let at = out.len();
            out.push(entry(rel.clone(), Kind::Dir, &meta));
            walk_dir(&path, &rel, excluded, rules, out)?;
            if excluded && out.len() == at + 1 {
                out.pop();
            }
            continue;
        }
        if excluded {
            continue;
        }
        if kind.is_file() {
            File::open(&path).map_err(|e| bad(&path, &e))?;
            out.push(entry(rel, Kind::File { size: meta.len() }, &meta));
        } else if kind.is_symlink() {
            let target = fs::read_link(&path).map_err(|e| bad(&path, &e))?;
            check_target(&path, &rel, &target)?;
            out.push(entry(rel, Kind::Symlink(target), &meta));
        } else {
            let what = if kind.is_fifo() {
                "a named pipe (FIFO)"
            } else if kind.is_socket() {
                "a socket"
            } else {
                "a device file"
            };
            return Err(fail_with_hint(
                Cause::BadInput,
                format!("{} is {what}: a build context may hold only files, dirs and symlinks", path.display()),
                format!("exclude it in the context's {IGNORE_FILE}, or move it out of the context"),
            ));
        }
    }
    Ok(())
}

fn entry(path: String, kind: Kind, meta: &Metadata) -> Entry {
    Entry { path, kind, mode: meta.mode() & 0o7777, mtime: u64::try_from(meta.mtime()).unwrap_or(0) }
}

/// A relative symlink target must stay inside the context (`../x` from the root would point
/// at the host, not the image); an absolute one names a path in the image and is kept.
fn check_target(path: &Path, rel: &str, target: &Path) -> anyhow::Result<()> {
    let Some(text) = target.to_str() else {
        return Err(fail(Cause::BadInput, format!("{}: the symlink's target is not UTF-8", path.display())));
    };
    if text.starts_with('/') {
        return Ok(());
    }
    let parent = rel.rfind('/').map_or("", |i| &rel[..i]);
    let resolved = ignore::clean(format!("{parent}/{text}").trim_start_matches('/'));
    if resolved == ".." || resolved.starts_with("../") {
        return Err(fail_with_hint(
            Cause::BadInput,
            format!("{} is a symlink to {text}, outside the build context", path.display()),
            format!(
                "make it point inside the context (an absolute target is kept, as a path in the image), or exclude it in {IGNORE_FILE}"
            ),
        ));
    }
    Ok(())
}

/// A file or dir of the context that cannot be read, as one line naming it.
fn bad(path: &Path, e: &io::Error) -> anyhow::Error {
    fail(Cause::BadInput, format!("cannot read {}: {}", path.display(), e.to_string().to_lowercase()))
}

/// Writes the layer tar of `entries` on a thread and spools it into `store` as it streams.
pub fn spool(context: &Path, entries: &[Entry], epoch: u64, store: &Store) -> anyhow::Result<Layer> {
    let (reader, writer) = pipe();
    std::thread::scope(|scope| {
        let tar = scope.spawn(move || write_tar(context, entries, epoch, writer));
        let spooled = store.spool_tar(reader);
        let written = tar.join().unwrap_or_else(|_| Err(fail(Cause::LocalIo, "the layer writer failed")));
        match (written, spooled) {
            (Ok(()), spooled) => spooled,
            // The writer's broken pipe is only the spool giving up: its error says why.
            (Err(e), Err(spool_e)) if is_broken_pipe(&e) => Err(spool_e),
            (Err(e), _) => Err(e),
        }
    })
}

/// A pipe between two threads in 256 KiB chunks, at most four in flight (memory stays flat):
/// [`std::io::pipe`] needs Rust 1.87, the project builds with 1.85. Dropping the reader makes
/// the writer fail with `BrokenPipe`; dropping the writer is the reader's end of file.
fn pipe() -> (PipeReader, PipeWriter) {
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    (PipeReader { rx, chunk: Vec::new(), at: 0 }, PipeWriter { tx, buf: Vec::with_capacity(CHUNK) })
}

const CHUNK: usize = 256 * 1024;

struct PipeWriter {
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

struct PipeReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx.send(full).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the layer spool stopped reading"))
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(next) => (self.chunk, self.at) = (next, 0),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<io::Error>().is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe))
}

/// The deterministic tar of `entries` (read from `context`) into `out`.
pub fn write_tar(context: &Path, entries: &[Entry], epoch: u64, out: impl Write) -> anyhow::Result<()> {
    let mut tar = tar::Builder::new(out);
    for e in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_username("").and_then(|_| header.set_groupname(""))?;
        header.set_mode(e.mode);
        header.set_mtime(e.mtime.min(epoch));
        let path = context.join(&e.path);
        match &e.kind {
            Kind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, format!("{}/", e.path), io::empty())
            }
            Kind::Symlink(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, &e.path, target)
            }
            Kind::File { size } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(*size);
                let file = File::open(&path).map_err(|err| bad(&path, &err))?;
                tar.append_data(&mut header, &e.path, Exact { inner: file, left: *size, path: &path })
            }
        }
        .map_err(|err| match err.get_ref().and_then(|inner| inner.downcast_ref::<crate::error::Failure>()) {
            Some(_) => anyhow::Error::new(err),
            None if err.kind() == io::ErrorKind::BrokenPipe => anyhow::Error::new(err),
            None => bad(&path, &err),
        })?;
    }
    tar.into_inner()?.flush()?;
    Ok(())
}

/// A file's content, exactly as many bytes as its tar header says: a file that grew is cut at
/// that size, one that shrank is an error (the tar would be corrupt).
struct Exact<'a> {
    inner: File,
    left: u64,
    path: &'a Path,
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(crate::error::io_failure(
                io::ErrorKind::UnexpectedEof,
                Cause::BadInput,
                format!("{} shrank while it was read (build again once nothing writes to it)", self.path.display()),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
