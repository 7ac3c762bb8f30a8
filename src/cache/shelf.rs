//! One kind of cache entry on disk: a flat directory of small files, each written atomically,
//! read with a size bound, and pruned oldest-first (by mtime) when the kind outgrows its cap.
//!
//! A shelf knows nothing about what an entry means: names and bytes go in and out. It never
//! fails the caller in a way that matters: reads answer "absent" or a reason (a sentence naming
//! the file) that the cache logs at debug and then treats as absent; writes answer a reason too.
//!
//! Concurrency: a write goes to a private temp file in the same directory (`.tmp-<pid>-<n>-…`,
//! created exclusively) and is renamed over the entry, so any reader, in any process, opens
//! either the old complete file or the new complete file. Two writers of one name race on the
//! rename and the last one wins; each rename installs a whole entry. A prune only unlinks
//! whole files. No locks, no fsync (a crash may lose entries, never tear one, except on file
//! systems that reorder data and rename; a torn entry then fails its checks and is ignored).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

/// A read hit older than this gets its mtime set to now, so pruning drops the least recently
/// used entries, not merely the oldest written. Coarse, so that a hit rarely costs a write.
const TOUCH_AFTER: Duration = Duration::from_secs(3600);

/// A temp file this old is left over from a crashed or killed writer; a prune removes it.
const STALE_TEMP: Duration = Duration::from_secs(3600);

/// The prefix of temp files; readers and the cap never count them as entries.
const TEMP_PREFIX: &str = ".tmp-";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The directory of one kind, its cap and how often a new entry checks it.
#[derive(Debug, Clone)]
pub(super) struct Shelf {
    dir: PathBuf,
    /// The most entries kept; a prune removes the oldest down to nine tenths of this.
    cap: usize,
    /// One new entry in this many (chosen by a hash of its name) lists the dir to check the cap.
    prune_every: u64,
    /// The largest entry read; a bigger file is ignored (it cannot be one of ours).
    max_entry: u64,
}

impl Shelf {
    /// The shelf in `dir`, created (mode 0700) if missing.
    pub(super) fn create(dir: PathBuf, cap: usize, prune_every: u64, max_entry: u64) -> io::Result<Shelf> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
        Ok(Shelf { dir, cap: cap.max(1), prune_every: prune_every.max(1), max_entry })
    }

    pub(super) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    #[cfg(test)]
    pub(super) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The bytes of entry `name`: `Ok(None)` if there is none, `Err(reason)` if the file is
    /// there but cannot be used (unreadable, not a file, too big).
    pub(super) fn read(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let path = self.path(name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot open cache entry {}: {}", path.display(), lower(&e))),
        };
        let meta = file.metadata().map_err(|e| format!("cannot stat cache entry {}: {}", path.display(), lower(&e)))?;
        if !meta.is_file() {
            return Err(format!("cache entry {} is not a regular file", path.display()));
        }
        if meta.len() > self.max_entry {
            return Err(format!("cache entry {} is {} bytes, more than an entry holds ({})", path.display(), meta.len(), self.max_entry));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        (&file)
            .take(self.max_entry + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read cache entry {}: {}", path.display(), lower(&e)))?;
        if bytes.len() as u64 > self.max_entry {
            return Err(format!("cache entry {} grew past {} bytes while read", path.display(), self.max_entry));
        }
        touch(&file, &meta);
        Ok(Some(bytes))
    }

    /// Replaces entry `name` with `bytes`, atomically; a new entry may trigger a prune. An
    /// entry that already holds exactly these bytes is left alone (only refreshed): a rename
    /// over an existing file costs several times a fresh one on ext4 (`auto_da_alloc` starts
    /// writeback of the new file), and a re-push would otherwise rewrite every entry it used.
    pub(super) fn write(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        if let Ok(Some(current)) = self.read(name) {
            if current == bytes {
                return Ok(());
            }
        }
        let target = self.path(name);
        let temp = self.dir.join(temp_name());
        let written = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .and_then(|mut f| f.write_all(bytes));
        if let Err(e) = written {
            let _ = fs::remove_file(&temp);
            return Err(format!("cannot write cache entry {}: {}", temp.display(), lower(&e)));
        }
        let is_new = fs::symlink_metadata(&target).is_err();
        if let Err(e) = fs::rename(&temp, &target) {
            let _ = fs::remove_file(&temp);
            return Err(format!("cannot rename {} to {}: {}", temp.display(), target.display(), lower(&e)));
        }
        if is_new && fnv1a(name.as_bytes()) % self.prune_every == 0 {
            self.prune();
        }
        Ok(())
    }

    /// Removes entry `name` (a missing one is fine).
    pub(super) fn remove(&self, name: &str) {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::debug!("cannot remove cache entry {}: {}", path.display(), lower(&e)),
        }
    }

    /// Lists the dir once: removes stale temp files and, if there are more entries than the
    /// cap, the least recently used ones down to nine tenths of it (so the next prune is not
    /// due at once). Another process pruning at the same time only makes some unlinks miss.
    pub(super) fn prune(&self) {
        let listing = match fs::read_dir(&self.dir) {
            Ok(l) => l,
            Err(e) => {
                log::debug!("cannot list the cache dir {}: {}", self.dir.display(), lower(&e));
                return;
            }
        };
        let now = SystemTime::now();
        let mut entries: Vec<(SystemTime, PathBuf)> = Vec::new();
        for item in listing.flatten() {
            let Ok(meta) = item.metadata() else { continue };
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if item.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                if now.duration_since(mtime).is_ok_and(|age| age > STALE_TEMP) {
                    let _ = fs::remove_file(item.path());
                }
                continue;
            }
            entries.push((mtime, item.path()));
        }
        if entries.len() <= self.cap {
            return;
        }
        let keep = self.cap - self.cap / 10;
        entries.sort();
        let excess = entries.len() - keep;
        log::debug!("cache dir {} holds {} entries (cap {}): removing the {excess} least recently used", self.dir.display(), entries.len(), self.cap);
        for (_, path) in entries.into_iter().take(excess) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Sets a hit's mtime to now if it is older than [`TOUCH_AFTER`]; failure is harmless.
fn touch(file: &File, meta: &fs::Metadata) {
    let now = SystemTime::now();
    let stale = meta.modified().map(|m| now.duration_since(m).is_ok_and(|age| age > TOUCH_AFTER)).unwrap_or(false);
    if stale {
        let _ = file.set_modified(now);
    }
}

/// A temp file name no other writer (thread or process) uses at the same time.
fn temp_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{TEMP_PREFIX}{}-{n}-{nanos:x}", std::process::id())
}

/// Whether `name` is a temp file rather than an entry.
#[cfg(test)]
pub(super) fn is_temp(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

/// FNV-1a: a cheap, stable hash, so that which new entries check the cap does not depend on
/// the process (entry names start with a digest, so this spreads evenly).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn lower(e: &io::Error) -> String {
    e.to_string().to_lowercase()
}

#[cfg(test)]
pub(super) fn set_mtime(path: &std::path::Path, when: SystemTime) {
    File::options().write(true).open(path).unwrap().set_modified(when).unwrap();
}
