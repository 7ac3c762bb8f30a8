//! The image on disk: a private temp dir (mode 0700) holding blobs by digest.
//!
//! Layers are spooled in one pass: the uncompressed bytes are hashed (the diff_id), gzipped,
//! and the compressed bytes hashed and written to a temp file, which is then renamed to
//! `blobs/sha256/<hex>`. A layer is never held in memory. The dir is removed on drop, and also
//! by [`remove_all`] when the process is interrupted.

use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::error::{fail, Class};
use anyhow::Context;
use flate2::{read::GzDecoder, write::GzEncoder, Compression};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Every store dir that exists now, so an interrupt can remove them.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Gzip level for layers we compress: fast, since the upload waits on it.
const GZIP_LEVEL: u32 = 1;

/// A blob in the store: its digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
}

/// A layer in the store: its compressed blob and the digest of its uncompressed tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub blob: Blob,
    pub diff_id: Digest,
}

/// A handle on the dir; clones share it, and the dir goes when the last one is dropped (so a
/// thread still uploading from it keeps it while the reader that made it gives up).
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
    _dir: Arc<Dir>,
}

/// Removes the dir when dropped.
struct Dir(PathBuf);

impl Store {
    /// Creates a fresh private dir under `parent` (normally `TMPDIR`).
    pub fn create(parent: &Path) -> anyhow::Result<Store> {
        let pid = std::process::id();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let root = parent.join(format!("idpush-{pid}-{n}-{nanos:x}"));
            match fs::DirBuilder::new().mode(0o700).create(&root) {
                Ok(()) => {
                    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push(root.clone());
                    let store = Store { _dir: Arc::new(Dir(root.clone())), root };
                    fs::DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(store.root.join("blobs/sha256"))
                        .map_err(|e| disk_error(&store.root, e))?;
                    return Ok(store);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(anyhow::Error::new(e)).with_context(|| {
                        format!("cannot create a temp dir in {} (set TMPDIR or --tmpdir to a writable dir)", parent.display())
                    })
                }
            }
        }
    }

    #[cfg(test)]
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Stores a small blob (config, manifest) given as bytes.
    pub fn write_blob(&self, bytes: &[u8]) -> anyhow::Result<Blob> {
        let (tmp, mut file) = self.temp_file()?;
        file.write_all(bytes).map_err(|e| disk_error(&self.root, e))?;
        let blob = Blob { digest: Digest::of(bytes), size: bytes.len() as u64 };
        self.commit(&tmp, &blob.digest)?;
        Ok(blob)
    }

    /// Spools a layer from a stream: an uncompressed tar is gzipped, a gzipped one is kept as
    /// it is; either way both digests are computed.
    pub fn spool_layer(&self, input: impl Read) -> anyhow::Result<Layer> {
        let mut input = BufReader::with_capacity(256 * 1024, input);
        let head = input.fill_buf().context("reading a layer")?;
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(fail(Class::Permanent, "zstd-compressed layers are not supported yet"));
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            self.spool_compressed(input)
        } else {
            self.spool_uncompressed(input)
        }
    }

    fn spool_uncompressed(&self, input: impl Read) -> anyhow::Result<Layer> {
        let (tmp, file) = self.temp_file()?;
        let mut tar = HashingReader::new(input);
        let out = HashingWriter::new(BufWriter::with_capacity(256 * 1024, file));
        let mut gz = GzEncoder::new(out, Compression::new(GZIP_LEVEL));
        copy(&mut tar, &mut gz, &self.root)?;
        let out = gz.finish().map_err(|e| disk_error(&self.root, e))?;
        let (buf, digest, size) = out.finish();
        buf.into_inner().map_err(|e| disk_error(&self.root, e.into_error()))?;
        let (diff_id, _) = tar.finish();
        self.commit(&tmp, &digest)?;
        Ok(Layer { blob: Blob { digest, size }, diff_id })
    }

    fn spool_compressed(&self, input: impl Read) -> anyhow::Result<Layer> {
        let (tmp, file) = self.temp_file()?;
        let mut input = input;
        let mut out = HashingWriter::new(BufWriter::with_capacity(256 * 1024, file));
        copy(&mut input, &mut out, &self.root)?;
        let (buf, digest, size) = out.finish();
        buf.into_inner().map_err(|e| disk_error(&self.root, e.into_error()))?;
        // Second pass over the file for the diff_id: the compressed stream is kept as it is.
        let file = File::open(&tmp).with_context(|| format!("reading {}", tmp.display()))?;
        let mut tar = HashingReader::new(GzDecoder::new(BufReader::with_capacity(256 * 1024, file)));
        io::copy(&mut tar, &mut io::sink()).context("a gzipped layer does not decompress")?;
        let (diff_id, _) = tar.finish();
        self.commit(&tmp, &digest)?;
        Ok(Layer { blob: Blob { digest, size }, diff_id })
    }

    fn temp_file(&self) -> anyhow::Result<(PathBuf, File)> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self.root.join(format!("tmp-{n}"));
        let file = File::create(&path).map_err(|e| disk_error(&self.root, e))?;
        Ok((path, file))
    }

    fn commit(&self, tmp: &Path, digest: &Digest) -> anyhow::Result<()> {
        fs::rename(tmp, self.blob_path(digest)).map_err(|e| disk_error(&self.root, e))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
        LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != &self.0);
    }
}

/// Removes every store dir that still exists (for the interrupt handler).
pub fn remove_all() {
    // try_lock: never block an interrupt on a lock held by the thread being interrupted.
    if let Ok(dirs) = LIVE.try_lock() {
        for d in dirs.iter() {
            let _ = fs::remove_dir_all(d);
        }
    }
}

/// Copies, telling a read error (the source) from a write error (the disk).
fn copy(r: &mut impl Read, w: &mut impl Write, root: &Path) -> anyhow::Result<u64> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context("reading a layer")),
        };
        w.write_all(&buf[..n]).map_err(|e| disk_error(root, e))?;
        total += n as u64;
    }
}

fn disk_hint(root: &Path) -> String {
    format!("writing to the temp dir {} (check free space, or set TMPDIR / --tmpdir)", root.display())
}

/// A failed write to the temp dir, as a classified error: its own message (the dir, the OS
/// error, the hint), not an `io::Error` that a caller could take for a read error.
fn disk_error(root: &Path, e: io::Error) -> anyhow::Error {
    let class = if e.kind() == io::ErrorKind::NotFound { crate::error::Class::NotFound } else { crate::error::Class::Permanent };
    crate::error::fail(class, format!("{}: {}", disk_hint(root), e.to_string().to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let p = std::env::temp_dir().join(format!("idpush-store-test-{}", std::process::id()));
        fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn spools_plain_and_gzipped_layers_to_the_same_diff_id() {
        let parent = scratch();
        let store = Store::create(&parent).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let plain = store.spool_layer(&data[..]).unwrap();
        assert_eq!(plain.diff_id, Digest::of(&data));
        let gz_bytes = fs::read(store.blob_path(&plain.blob.digest)).unwrap();
        assert_eq!(Digest::of(&gz_bytes), plain.blob.digest);
        assert_eq!(gz_bytes.len() as u64, plain.blob.size);

        let kept = store.spool_layer(&gz_bytes[..]).unwrap();
        assert_eq!(kept, plain, "a gzipped layer is stored as it came");
        // Same input, same bytes: pushes of the same image skip every blob the second time.
        assert_eq!(store.spool_layer(&data[..]).unwrap(), plain);
    }

    #[test]
    fn dir_is_private_and_removed_on_drop() {
        use std::os::unix::fs::PermissionsExt;
        let parent = scratch();
        let store = Store::create(&parent).unwrap();
        let root = store.root().to_path_buf();
        assert_eq!(fs::metadata(&root).unwrap().permissions().mode() & 0o777, 0o700);
        store.write_blob(b"{}").unwrap();
        let clone = store.clone();
        drop(store);
        assert!(root.exists(), "a clone keeps the dir");
        drop(clone);
        assert!(!root.exists());
    }

    #[test]
    fn rejects_zstd_and_bad_gzip() {
        let store = Store::create(&scratch()).unwrap();
        let e = store.spool_layer(&[0x28u8, 0xb5, 0x2f, 0xfd, 0][..]).unwrap_err();
        assert!(format!("{e:#}").contains("zstd"));
        assert!(store.spool_layer(&[0x1fu8, 0x8b, 0, 0][..]).is_err());
    }
}
