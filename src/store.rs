//! The image on disk: a private temp dir (mode 0700) holding blobs by digest.
//!
//! Layers are spooled in one pass: the uncompressed bytes are hashed (the diff_id), encoded by
//! the store's [`codec`](crate::codec) (parallel gzip by default, or kept as they are), and the
//! blob hashed and written to a temp file, which is then renamed to `blobs/sha256/<hex>`. A
//! layer already gzipped is kept as it is. A layer the push already knows the blob of
//! ([`Store::with_known`]: the layer cache, confirmed by the registry) is only hashed, to
//! confirm its diff_id, and nothing is written. A layer is never held in memory. The dir is removed on drop, and also
//! by [`remove_all`] when the process is interrupted; once that has begun, no thread can create
//! a file or a dir in the store any more. Each dir names its owner process in a marker file, so
//! a later run can remove a dir whose run was killed outright (`owner.rs`).

mod growing;
mod owner;

pub use growing::{End, Growing, Spools};

use crate::codec::{self, Codec, Encoder};
use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::error::{fail, Cause};
use anyhow::Context;
use flate2::read::GzDecoder;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The store dirs of the process, so an interrupt can remove them.
static STORES: Stores = Stores::new();
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A set of store dirs and whether they are being removed: one for the process ([`STORES`]);
/// unit tests make their own, so they can close one without closing every other test's.
struct Stores {
    /// Every dir that exists now. Held while a dir is made, so a dir is either in the list
    /// [`Stores::remove_all`] reads or made after `closing` is set (and then it is not made).
    live: Mutex<Vec<PathBuf>>,
    /// Set once by [`Stores::remove_all`]: the process is ending; nothing new may be created.
    closing: AtomicBool,
}

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
    stores: &'static Stores,
    _dir: Arc<Dir>,
    /// How uncompressed layers become blobs.
    codec: Codec,
    encoder: Arc<Encoder>,
    /// diff_id → the blob already known for it: such a layer is only hashed.
    known: Arc<HashMap<Digest, Blob>>,
    /// Layers being spooled, announced to whoever follows them (`growing.rs`).
    spools: Spools,
}

/// Removes the dir when dropped.
struct Dir {
    path: PathBuf,
    stores: &'static Stores,
}

impl Store {
    /// Creates a fresh private dir under `parent` (normally `TMPDIR`), after removing the dirs
    /// there that killed runs left behind (see `owner.rs`).
    pub fn create(parent: &Path) -> anyhow::Result<Store> {
        Store::create_in(parent, &STORES)
    }

    fn create_in(parent: &Path, stores: &'static Stores) -> anyhow::Result<Store> {
        owner::sweep(parent);
        let pid = std::process::id();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let root = parent.join(format!("idpush-{pid}-{n}-{nanos:x}"));
            let made = {
                let mut live = stores.live.lock().unwrap_or_else(|e| e.into_inner());
                if stores.closing.load(Ordering::SeqCst) {
                    return Err(fail(Cause::Interrupted, format!("interrupted: not creating a temp dir in {}", parent.display())));
                }
                let made = fs::DirBuilder::new().mode(0o700).create(&root);
                if made.is_ok() {
                    live.push(root.clone());
                }
                made
            };
            match made {
                Ok(()) => {
                    let store = Store {
                        _dir: Arc::new(Dir { path: root.clone(), stores }),
                        root,
                        stores,
                        codec: Codec::DEFAULT,
                        encoder: Arc::new(Encoder::new(Codec::DEFAULT)),
                        known: Arc::new(HashMap::new()),
                        spools: Spools::default(),
                    };
                    if let Some(me) = owner::Owner::me() {
                        store.check_open()?;
                        owner::write_marker(&store.root, me).map_err(|e| disk_error(&store.root, e))?;
                    }
                    store.create_dir(&store.root.join("blobs/sha256"))?;
                    return Ok(store);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(fail(
                        Cause::LocalIo,
                        format!(
                            "cannot create a temp dir in {}: {} (set TMPDIR or --tmpdir to a writable dir)",
                            parent.display(),
                            e.to_string().to_lowercase()
                        ),
                    ))
                }
            }
        }
    }

    /// This store encoding uncompressed layers with `codec` (default: [`Codec::DEFAULT`]), on
    /// one thread per core (see [`Encoder::new`]).
    pub fn with_codec(mut self, codec: Codec) -> Store {
        self.codec = codec;
        self.encoder = Arc::new(Encoder::new(codec));
        self
    }

    /// This store taking the layers with these diff_ids as already pushed, as these blobs:
    /// [`Store::spool_known`] only hashes them.
    pub fn with_known(mut self, known: HashMap<Digest, Blob>) -> Store {
        self.known = Arc::new(known);
        self
    }

    /// The layers this store spools, announced while they are written once something
    /// follows them ([`Spools::follow`]): an uploader can stream a layer before it is complete.
    /// Known layers ([`Store::with_known`]) are never announced: nothing is written for them.
    pub fn spools(&self) -> Spools {
        self.spools.clone()
    }

    /// Whether uncompressed layers stay uncompressed (`--compression none`).
    pub fn uncompressed(&self) -> bool {
        self.codec == Codec::None
    }

    /// Reads a layer whose blob is already known (`diff_id`'s entry in [`Store::with_known`])
    /// only to hash it: the layer is that blob if the stream's sha256 is `diff_id`. Nothing is
    /// written. None if the diff_id is not known.
    pub fn spool_known(&self, input: impl Read, diff_id: &Digest) -> Option<anyhow::Result<Layer>> {
        let blob = self.known.get(diff_id)?.clone();
        Some(self.hash_known(Spooling(input), diff_id, blob))
    }

    /// Spools a layer whose name does not say its diff_id (classic `docker save`:
    /// `<v1 id>/layer.tar`) while some layers are known ([`Store::with_known`]): the tar is
    /// written as it is to a temp file while it is hashed; if its diff_id is a known one, that
    /// file goes and the known blob is the layer (`true`: reused), else the file is encoded
    /// as [`Store::spool_layer`] would (a local copy more, no deflate for a known layer).
    /// Without known layers, or for a compressed stream, it is [`Store::spool_layer`].
    pub fn spool_maybe_known(&self, mut input: impl Read) -> anyhow::Result<(Layer, bool)> {
        self.spool_maybe_known_from(&mut input)
    }

    fn spool_maybe_known_from(&self, input: &mut dyn Read) -> anyhow::Result<(Layer, bool)> {
        if self.known.is_empty() {
            return Ok((self.spool_layer(input)?, false));
        }
        let mut input = BufReader::with_capacity(256 * 1024, input);
        let head = input.fill_buf().context("reading a layer")?;
        if head.starts_with(&[0x1f, 0x8b]) || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Ok((self.spool_layer(input)?, false));
        }
        let (raw, file) = self.temp_file()?;
        let spilled = (|| {
            let mut tar = HashingReader::new(Spooling(input));
            let mut out = BufWriter::with_capacity(256 * 1024, file);
            copy(&mut tar, &mut out, &self.root)?;
            out.into_inner().map_err(|e| disk_error(&self.root, e.into_error()))?;
            let (diff_id, _) = tar.finish();
            if let Some(blob) = self.known.get(&diff_id) {
                return Ok((Layer { blob: blob.clone(), diff_id }, true));
            }
            let file = File::open(&raw).map_err(|e| disk_error(&self.root, e))?;
            let layer = self.spool_uncompressed(file)?;
            if layer.diff_id != diff_id {
                return Err(fail(Cause::LocalIo, format!("the layer read back from {} changed on disk", raw.display())));
            }
            Ok((layer, false))
        })();
        let _ = fs::remove_file(&raw);
        spilled
    }

    fn hash_known(&self, input: impl Read, diff_id: &Digest, blob: Blob) -> anyhow::Result<Layer> {
        self.check_open()?;
        // The uncompressed codec into nowhere: one read-and-hash pass, the digest is the diff_id.
        let got = Encoder::new(Codec::None).encode(input, io::sink()).map_err(|e| match e {
            codec::Error::Read(e) => anyhow::Error::new(e).context("reading a layer"),
            other => fail(Cause::LocalIo, format!("hashing a layer: {other}")),
        })?.diff_id;
        if &got != diff_id {
            return Err(fail(Cause::BadImage, format!("the layer's content is {got}, not the {diff_id} its name says")));
        }
        Ok(Layer { blob, diff_id: got })
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

    /// Spools a layer from a stream: an uncompressed tar is encoded with the store's codec, a
    /// gzipped one is kept as it is; either way both digests are computed.
    pub fn spool_layer(&self, input: impl Read) -> anyhow::Result<Layer> {
        // One copy of the spooling code whatever the reader (a 11 KB function, instantiated
        // seven times when it was generic): the dynamic call per 256 KiB read costs nothing.
        self.spool_layer_from(&mut Spooling(input))
    }

    fn spool_layer_from(&self, input: &mut dyn Read) -> anyhow::Result<Layer> {
        let mut input = BufReader::with_capacity(256 * 1024, input);
        let head = input.fill_buf().context("reading a layer")?;
        if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Err(fail(Cause::BadImage, "zstd-compressed layers are not supported yet"));
        }
        if head.starts_with(&[0x1f, 0x8b]) {
            self.spool_compressed(input)
        } else {
            self.spool_uncompressed(input)
        }
    }

    /// Spools an uncompressed tar (a layer idpush writes itself), encoded with the store's
    /// codec, without looking at its first bytes: a tar whose first name starts with the gzip
    /// magic is still a tar.
    pub fn spool_tar(&self, input: impl Read) -> anyhow::Result<Layer> {
        self.spool_uncompressed(input)
    }

    /// A fresh path in the store's dir for a file or dir the caller makes (removed with the
    /// store, on drop or interrupt), named `name`: a store made in an output's parent dir holds
    /// the output until it is complete and renamed into place.
    pub fn scratch_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        self.check_open()?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Ok(self.root.join(format!("{name}-{n}")))
    }

    /// Spools a blob byte for byte, hashing it, without decoding it (a zstd layer of an OCI
    /// layout, which idpush cannot decompress): the caller checks digest and size against the
    /// descriptor.
    pub fn spool_exact(&self, input: impl Read) -> anyhow::Result<Blob> {
        let (tmp, file) = self.temp_file()?;
        let mut input = Spooling(input);
        let mut out = HashingWriter::new(BufWriter::with_capacity(256 * 1024, file));
        let copied = copy(&mut input, &mut out, &self.root);
        if let Err(e) = copied {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let (buf, digest, size) = out.finish();
        if let Err(e) = buf.into_inner() {
            let _ = fs::remove_file(&tmp);
            return Err(disk_error(&self.root, e.into_error()));
        }
        self.commit(&tmp, &digest)?;
        Ok(Blob { digest, size })
    }

    fn spool_uncompressed(&self, input: impl Read) -> anyhow::Result<Layer> {
        let (tmp, file) = self.temp_file()?;
        let feed = self.spools.announce(&tmp).map_err(|e| disk_error(&self.root, e))?;
        let encoded = match &feed {
            Some(feed) => self.encoder.encode(input, feed.writer(file)),
            None => self.encoder.encode(input, file),
        }
        .map_err(|e| match e {
            codec::Error::Read(e) => anyhow::Error::new(e).context("reading a layer"),
            codec::Error::Write(e) => disk_error(&self.root, e),
            codec::Error::Deflate(why) => fail(Cause::LocalIo, format!("compressing a layer: {why}")),
        })?;
        self.commit(&tmp, &encoded.digest)?;
        let blob = Blob { digest: encoded.digest, size: encoded.size };
        if let Some(feed) = feed {
            feed.finish(blob.clone(), self.blob_path(&blob.digest));
        }
        Ok(Layer { blob, diff_id: encoded.diff_id })
    }

    fn spool_compressed(&self, input: impl Read) -> anyhow::Result<Layer> {
        let (tmp, file) = self.temp_file()?;
        let feed = self.spools.announce(&tmp).map_err(|e| disk_error(&self.root, e))?;
        let file: Box<dyn Write> = match &feed {
            Some(feed) => Box::new(feed.writer(file)),
            None => Box::new(file),
        };
        let mut input = input;
        let mut out = HashingWriter::new(BufWriter::with_capacity(256 * 1024, file));
        copy(&mut input, &mut out, &self.root)?;
        let (buf, digest, size) = out.finish();
        buf.into_inner().map_err(|e| disk_error(&self.root, e.into_error()))?;
        // Second pass over the file for the diff_id: the compressed stream is kept as it is.
        let file = File::open(&tmp).with_context(|| format!("reading {}", tmp.display()))?;
        let mut tar = HashingReader::new(GzDecoder::new(BufReader::with_capacity(256 * 1024, file)));
        // A Failure, not an io error: the archive readers would call it a bad tar.
        io::copy(&mut tar, &mut io::sink())
            .map_err(|e| fail(Cause::BadImage, format!("a gzipped layer does not decompress ({}): the layer is corrupt", e.to_string().to_lowercase())))?;
        let (diff_id, _) = tar.finish();
        self.commit(&tmp, &digest)?;
        let blob = Blob { digest, size };
        if let Some(feed) = feed {
            feed.finish(blob.clone(), self.blob_path(&blob.digest));
        }
        Ok(Layer { blob, diff_id })
    }

    fn temp_file(&self) -> anyhow::Result<(PathBuf, File)> {
        self.check_open()?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = self.root.join(format!("tmp-{n}"));
        let file = File::create(&path).map_err(|e| disk_error(&self.root, e))?;
        Ok((path, file))
    }

    fn commit(&self, tmp: &Path, digest: &Digest) -> anyhow::Result<()> {
        self.check_open()?;
        fs::rename(tmp, self.blob_path(digest)).map_err(|e| disk_error(&self.root, e))
    }

    fn create_dir(&self, dir: &Path) -> anyhow::Result<()> {
        self.check_open()?;
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| disk_error(&self.root, e))
    }

    /// An `Interrupted` error once [`remove_all`] has begun: checked before every file or dir
    /// the store creates, so nothing reappears in a dir being removed. (One creation that passed
    /// the check just before may still land; [`remove_all`] retries until the dir is gone, and
    /// after that a create in it fails.)
    fn check_open(&self) -> anyhow::Result<()> {
        if self.stores.closing.load(Ordering::SeqCst) {
            return Err(fail(Cause::Interrupted, format!("interrupted: the temp dir {} is being removed", self.root.display())));
        }
        Ok(())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        remove_dir_fully(&self.path);
        self.stores.live.lock().unwrap_or_else(|e| e.into_inner()).retain(|p| p != &self.path);
    }
}

/// Removes every store dir that still exists: for an interrupt, and for a failed push about to
/// exit. From here on no store creates anything (see [`Store::check_open`]), so each removal is
/// retried until the dir is gone. Returns within about a second whatever happens.
pub fn remove_all() {
    STORES.remove_all();
}

impl Stores {
    const fn new() -> Stores {
        Stores { live: Mutex::new(Vec::new()), closing: AtomicBool::new(false) }
    }

    fn remove_all(&self) {
        self.closing.store(true, Ordering::SeqCst);
        // The lock is only ever held for a `mkdir` or a list update, never across a blocking step.
        let dirs = self.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for d in &dirs {
            remove_dir_fully(d);
        }
    }
}

/// `remove_dir_all`, again while it fails (a file created by a thread that was mid-way through
/// `create` makes it fail with "directory not empty"), until the dir is gone or ~1 s has passed.
fn remove_dir_fully(dir: &Path) {
    for _ in 0..500 {
        // Judged by whether the dir is still there: with two removers at once (the watcher and
        // the main thread) either may see an entry vanish under it.
        let _ = fs::remove_dir_all(dir);
        if fs::symlink_metadata(dir).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    log::debug!("cannot remove the temp dir {}", dir.display());
}

/// A source stream being spooled: its bytes are counted for the progress block (one relaxed
/// atomic add per read).
struct Spooling<R>(R);

impl<R: Read> Read for Spooling<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        crate::report::progress::spooled(n as u64);
        Ok(n)
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
    crate::error::fail(Cause::LocalIo, format!("{}: {}", disk_hint(root), e.to_string().to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    #[test]
    fn a_corrupt_gzipped_layer_is_a_bad_image_that_says_so() {
        let parent = TempDir::new("store");
        let store = Store::create(parent.path()).unwrap();
        let mut gz = Vec::new();
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        enc.write_all(&[7u8; 100_000]).unwrap();
        enc.finish().unwrap();
        let mid = gz.len() / 2;
        gz[mid..mid + 16].fill(0xff);
        let e = store.spool_layer(&gz[..]).unwrap_err();
        assert_eq!(crate::error::class_of(&e), crate::error::Class::Permanent);
        assert!(crate::error::failure_of(&e).is_some_and(|f| f.cause == Cause::BadImage), "{e:#}");
        assert!(format!("{e:#}").contains("gzipped layer does not decompress"), "{e:#}");
    }

    #[test]
    fn spools_plain_and_gzipped_layers_to_the_same_diff_id() {
        let parent = TempDir::new("store");
        let store = Store::create(parent.path()).unwrap();
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
        let parent = TempDir::new("store");
        let store = Store::create(parent.path()).unwrap();
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
        let parent = TempDir::new("store");
        let store = Store::create(parent.path()).unwrap();
        let e = store.spool_layer(&[0x28u8, 0xb5, 0x2f, 0xfd, 0][..]).unwrap_err();
        assert!(format!("{e:#}").contains("zstd"));
        assert!(store.spool_layer(&[0x1fu8, 0x8b, 0, 0][..]).is_err());
    }

    #[test]
    fn a_new_store_records_its_owner_and_sweeps_only_dead_runs() {
        let parent = TempDir::new("store");
        let first = Store::create(parent.path()).unwrap();
        let marker = fs::read_to_string(first.root().join(owner::MARKER)).unwrap();
        assert!(marker.contains(&format!("pid {}\n", std::process::id())), "{marker}");
        // A dir a SIGKILLed run left: same shape, but its owner pid is gone.
        let stale = parent.join("idpush-1-0-dead");
        fs::create_dir_all(stale.join("blobs/sha256")).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        fs::write(stale.join(owner::MARKER), marker.replace(&format!("pid {}\n", std::process::id()), &format!("pid {dead}\n"))).unwrap();

        let second = Store::create(parent.path()).unwrap();
        assert!(!stale.exists(), "a dead run's dir is swept when a store is made");
        assert!(first.root().exists(), "a live store (this process) is kept");
        drop((first, second));
        assert!(fs::read_dir(parent.path()).unwrap().next().is_none(), "both stores removed on drop");
    }

    // Regression (issue 7, defect 5): the reader thread created files while the interrupt
    // removed the dir, and the removal gave up (about 1 run in 17 left files).
    #[test]
    fn writers_racing_remove_all_leave_nothing() {
        for round in 0..20 {
            let stores: &'static Stores = Box::leak(Box::new(Stores::new()));
            let parent = TempDir::new("store-race");
            let store = Store::create_in(parent.path(), stores).unwrap();
            let writers: Vec<_> = (0..2)
                .map(|t| {
                    let store = store.clone();
                    std::thread::spawn(move || {
                        for i in 0u64.. {
                            if let Err(e) = store.write_blob(format!("{t}-{i}").as_bytes()) {
                                return e;
                            }
                        }
                        unreachable!()
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(3));
            stores.remove_all();
            assert!(!store.root().exists(), "round {round}: {} is still there", store.root().display());
            for w in writers {
                w.join().unwrap();
            }
            assert!(!store.root().exists(), "round {round}: a writer recreated {}", store.root().display());
            assert!(Store::create_in(parent.path(), stores).is_err(), "no new store once closing");
            drop(store);
            assert!(fs::read_dir(parent.path()).unwrap().next().is_none());
        }
    }
}
