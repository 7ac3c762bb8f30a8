//! Spool files that are still being written, for an uploader that follows them.
//!
//! When something follows the store's spools ([`Spools::follow`]), every layer the store
//! encodes is announced as it starts: a [`Growing`] handle on its temp file (opened for reading
//! before any byte is written, so the rename at the end does not matter), how many bytes are
//! on disk so far, and at the end either the blob (digest, size, final path) or that the spool
//! failed. The writer side ([`Feed`]) counts bytes as they reach the file; a feed dropped
//! without [`Feed::finish`] marks the spool failed, so a follower never waits forever.
//! Without a follower nothing is announced and nothing is kept.

use super::Blob;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The store's announcements of layers being spooled; clones share them.
#[derive(Clone, Default)]
pub struct Spools(Arc<Shared>);

#[derive(Default)]
struct Shared {
    state: Mutex<Queue>,
    /// Notified on an announcement and on every change of a growing spool.
    changed: Condvar,
}

#[derive(Default)]
struct Queue {
    following: bool,
    pending: VecDeque<Growing>,
}

/// How far a growing spool is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Still being written.
    Open,
    /// Complete: the blob, and where its file is now.
    Done(Blob, PathBuf),
    /// The spool failed (its error goes to whoever spooled it); the file is gone.
    Failed,
}

/// A layer's spool file while it is written: a follower's handle.
#[derive(Clone)]
pub struct Growing(Arc<Spool>);

struct Spool {
    file: File,
    state: Mutex<(u64, End)>,
    spools: Spools,
    /// The byte count a follower waits for: a write below it wakes nobody.
    want: AtomicU64,
}

/// The writer side of a [`Growing`] spool.
pub(super) struct Feed(Arc<Spool>);

/// A file writer that tells the feed how many bytes reached the file.
pub(super) struct FeedWriter {
    file: File,
    spool: Arc<Spool>,
}

impl Spools {
    /// From now on each layer spooled is announced, to be taken with [`Spools::next`].
    pub fn follow(&self) {
        self.lock().following = true;
    }

    /// The oldest announced spool not taken yet, waiting up to `wait` for one (None if none
    /// came). Also returns early, with None, when any spool changed.
    pub fn next(&self, wait: Duration) -> Option<Growing> {
        let mut q = self.lock();
        if let Some(g) = q.pending.pop_front() {
            return Some(g);
        }
        q = self.0.changed.wait_timeout(q, wait).unwrap_or_else(|e| e.into_inner()).0;
        q.pending.pop_front()
    }

    /// A new growing spool on `file` (the temp file just created; `path` is where it is), if
    /// anything follows; else None and nothing is kept.
    pub(super) fn announce(&self, path: &std::path::Path) -> io::Result<Option<Feed>> {
        if !self.lock().following {
            return Ok(None);
        }
        let file = File::open(path)?;
        let spool = Arc::new(Spool { file, state: Mutex::new((0, End::Open)), spools: self.clone(), want: AtomicU64::new(u64::MAX) });
        let mut q = self.lock();
        q.pending.push_back(Growing(spool.clone()));
        drop(q);
        self.0.changed.notify_all();
        Ok(Some(Feed(spool)))
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Growing {
    /// Waits until at least `bytes` are on disk or the spool ended, up to `wait`; returns the
    /// bytes on disk and how it stands.
    pub fn wait_for(&self, bytes: u64, wait: Duration) -> (u64, End) {
        let deadline = Instant::now() + wait;
        let shared = &self.0.spools.0;
        // The queue's lock guards the condvar; the spool's own lock only its numbers.
        let mut q = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        self.0.want.store(bytes, Ordering::SeqCst);
        loop {
            let now = self.state();
            if now.0 >= bytes || now.1 != End::Open {
                return now;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return now;
            }
            q = shared.changed.wait_timeout(q, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Bytes on disk, and how the spool stands.
    pub fn state(&self) -> (u64, End) {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A handle on the spool file for reading (its own position).
    pub fn file(&self) -> io::Result<File> {
        self.0.file.try_clone()
    }
}

impl Spool {
    /// Changes the state and wakes the followers (a byte count only once it reaches what a
    /// follower waits for).
    fn set(&self, f: impl FnOnce(&mut (u64, End))) {
        let written = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut state);
            (state.1 == End::Open).then_some(state.0)
        };
        if written.is_some_and(|w| w < self.want.load(Ordering::SeqCst)) {
            return;
        }
        // Taken so a follower between its check and its wait cannot miss the notification.
        let _q = self.spools.lock();
        self.spools.0.changed.notify_all();
    }
}

impl Feed {
    /// A writer into `file` (the spool's temp file) that counts what reaches it.
    pub(super) fn writer(&self, file: File) -> FeedWriter {
        FeedWriter { file, spool: self.0.clone() }
    }

    /// The spool is complete: `blob`, now at `path`.
    pub(super) fn finish(self, blob: Blob, path: PathBuf) {
        self.0.set(|s| s.1 = End::Done(blob, path));
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if self.0.state.lock().unwrap_or_else(|e| e.into_inner()).1 == End::Open {
            self.0.set(|s| s.1 = End::Failed);
        }
    }
}

impl Write for FeedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if n > 0 {
            self.spool.set(|s| s.0 += n as u64);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::test_support::TempDir;

    #[test]
    fn a_follower_sees_bytes_as_they_land_and_the_end() {
        let dir = TempDir::new("growing");
        let path = dir.path().join("spool");
        let spools = Spools::default();
        let file = File::create(&path).unwrap();
        assert!(spools.announce(&path).unwrap().is_none(), "nothing is announced without a follower");
        spools.follow();
        let feed = spools.announce(&path).unwrap().unwrap();
        let g = spools.next(Duration::ZERO).expect("announced");
        assert!(spools.next(Duration::ZERO).is_none());
        let mut w = feed.writer(file);
        w.write_all(b"hello").unwrap();
        assert_eq!(g.wait_for(5, Duration::from_secs(5)), (5, End::Open));
        let waiter = {
            let g = g.clone();
            std::thread::spawn(move || g.wait_for(1 << 20, Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        let blob = Blob { digest: Digest::of(b"hello"), size: 5 };
        feed.finish(blob.clone(), path.clone());
        assert_eq!(waiter.join().unwrap(), (5, End::Done(blob, path)));
        let mut read = String::new();
        io::Read::read_to_string(&mut g.file().unwrap(), &mut read).unwrap();
        assert_eq!(read, "hello");
    }

    #[test]
    fn a_feed_dropped_unfinished_is_failed() {
        let dir = TempDir::new("growing");
        let path = dir.path().join("spool");
        File::create(&path).unwrap();
        let spools = Spools::default();
        spools.follow();
        let feed = spools.announce(&path).unwrap().unwrap();
        let g = spools.next(Duration::ZERO).unwrap();
        drop(feed);
        assert_eq!(g.wait_for(1, Duration::from_secs(5)), (0, End::Failed));
    }
}
