//! Uploading a layer while it is still being spooled.
//!
//! The store announces each layer it encodes as it starts (`store::Spools`). While the
//! uploader waits for the next finished layer ([`Uploader::next_layer`]) it takes those
//! announcements in order; a spool that grows past one stream chunk
//! (`Registry::stream_chunk`: `--chunk-size`, at most 16 MiB) before it is complete gets an
//! upload session (POST) at once, and each chunk goes up (PATCH, `Content-Range`) as soon as
//! it is on disk. Nothing is completed before the reader hands the layer over (its diff_id
//! checked against the image, `source/gate.rs`): then its digest is known, and HEAD comes
//! first — a blob that turns out to be there already cancels the session (DELETE) and counts
//! as already there — else the rest goes up and `PUT <location>&digest=` closes it. A streamed
//! layer the reader never hands over (kept back, or the read failed) has its session
//! cancelled when the reader is done, or when the uploader is dropped. A spool that completes
//! within its first chunk is left to the ordinary path ([`Uploader::blob`]: HEAD, mount or
//! single request), so small layers cost no more requests than before.
//!
//! A failed PATCH stops the stream (nothing is retried mid-stream); once the spool is complete
//! the session is asked where it stands and the upload goes on from the registry's `Range`,
//! or starts over from the spool file in a new session (the retries of every upload). A spool
//! that fails cancels the session; the reader's error is what the push reports.
//! Uploads stay one at a time, in the order the layers are spooled.

use super::Uploader;
use crate::digest::Digest;
use crate::error::{class_of, Class};
use crate::interrupt;
use crate::report::progress::{metering, Meter, Outcome};
use crate::store::{Blob, End, Growing, Spools};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Duration;

/// A layer streamed while it was spooled, waiting to be handed over and completed.
pub(super) struct Streamed {
    blob: Blob,
    /// The complete spool file.
    path: PathBuf,
    /// The session, and how many bytes went up in it.
    url: String,
    offset: u64,
    /// A PATCH failed: ask the session where it stands before going on.
    in_doubt: bool,
    /// The bytes sent, for the progress block (its row goes when this is dropped).
    meter: Meter,
}

/// How long a wait lasts before the uploader looks at its channel (and for Ctrl-C) again.
const POLL: Duration = Duration::from_millis(10);

impl<'a> Uploader<'a> {
    /// Follows the layers `spools` announces, to stream each one while it is written.
    pub fn following(mut self, spools: Spools) -> Self {
        spools.follow();
        self.spools = Some(spools);
        self
    }

    /// The next layer the reader handed over on `spooled` (None once the reader is done),
    /// streaming the layers being spooled in the meantime (see the module docs). For a layer
    /// streamed already, [`Uploader::blob`] only completes its session.
    pub fn next_layer(&mut self, spooled: &Receiver<(Blob, PathBuf)>) -> anyhow::Result<Option<(Blob, PathBuf)>> {
        loop {
            match spooled.try_recv() {
                Ok(layer) => return Ok(Some(layer)),
                Err(TryRecvError::Disconnected) => {
                    self.cancel_streamed();
                    return Ok(None);
                }
                Err(TryRecvError::Empty) => {}
            }
            interrupt::check()?;
            let Some(spools) = &self.spools else {
                return Ok(spooled.recv().ok());
            };
            if let Some(growing) = spools.next(POLL) {
                if self.stream(&growing)? {
                    // The reader hands this layer over next (or fails): wait for it rather
                    // than start on the next spool, so the layer is completed at once.
                    return self.recv(spooled);
                }
            }
        }
    }

    /// The next layer on `spooled`, waiting (and checking for Ctrl-C); None once the reader
    /// is done, and then the sessions of layers it never handed over are cancelled.
    fn recv(&mut self, spooled: &Receiver<(Blob, PathBuf)>) -> anyhow::Result<Option<(Blob, PathBuf)>> {
        loop {
            match spooled.recv_timeout(POLL) {
                Ok(layer) => return Ok(Some(layer)),
                Err(RecvTimeoutError::Disconnected) => {
                    self.cancel_streamed();
                    return Ok(None);
                }
                Err(RecvTimeoutError::Timeout) => interrupt::check()?,
            }
        }
    }

    /// Cancels the sessions of streamed layers never handed over (best effort).
    pub(super) fn cancel_streamed(&mut self) {
        let repo = self.dest.repository.clone();
        for s in std::mem::take(&mut self.streamed) {
            log::debug!("layer {} was streamed but is not part of the push: cancelling its upload", s.blob.digest);
            self.registry.cancel_session(&repo, &s.url);
        }
    }

    /// Completes the streamed upload of `digest`, if there is one: Some(()) when done.
    pub(super) fn complete_streamed(&mut self, digest: &Digest) -> anyhow::Result<Option<()>> {
        let Some(i) = self.streamed.iter().position(|s| &s.blob.digest == digest) else { return Ok(None) };
        let s = self.streamed.swap_remove(i);
        self.finish_streamed(s)?;
        Ok(Some(()))
    }

    /// Streams one growing spool, if it outgrows its first chunk before it is complete; true
    /// when it did (the session waits in `streamed` for the layer to be handed over).
    fn stream(&mut self, growing: &Growing) -> anyhow::Result<bool> {
        let chunk = self.registry.stream_chunk();
        if !self.wait_for(growing, chunk)? {
            return Ok(false);
        }
        let repo = self.dest.repository.clone();
        let mut url = self.registry.open_session(&repo)?;
        log::debug!("streaming a layer while it is spooled, in chunks of {chunk} bytes");
        let meter = self.progress.streaming("layer");
        let file = growing.file().map_err(|e| crate::error::fail(crate::error::Cause::LocalIo, format!("reading a spool file: {e}")))?;
        let mut offset = 0u64;
        let mut in_doubt = false;
        let end = loop {
            let (written, end) = growing.wait_for(offset + chunk, POLL);
            if end != End::Open {
                break end;
            }
            interrupt::check()?;
            if written < offset + chunk {
                continue;
            }
            match metering(&meter, || self.registry.patch_chunk(&repo, &url, &file, offset, chunk)) {
                Ok(next) => {
                    url = next;
                    offset += chunk;
                }
                Err(e) if matches!(class_of(&e), Class::Interrupted) => {
                    self.registry.cancel_session(&repo, &url);
                    return Err(e);
                }
                Err(e) => {
                    log::info!("streaming a layer failed at byte {offset}: {e:#}; going on once it is spooled");
                    in_doubt = true;
                    break self.wait_end(growing)?;
                }
            }
        };
        let (blob, path) = match end {
            End::Done(blob, path) => (blob, path),
            _ => {
                log::debug!("the layer being streamed was not spooled: cancelling its upload");
                self.registry.cancel_session(&repo, &url);
                return Ok(false);
            }
        };
        self.streamed.push(Streamed { blob, path, url, offset, in_doubt, meter });
        Ok(true)
    }

    /// Checks the streamed blob is not there already, then completes it.
    fn finish_streamed(&mut self, s: Streamed) -> anyhow::Result<()> {
        let repo = self.dest.repository.clone();
        let Blob { digest, size } = &s.blob;
        if self.present.contains(digest) || self.registry.blob_exists(&repo, digest, *size)? {
            log::debug!("blob {digest} is there already: cancelling its streamed upload");
            self.registry.cancel_session(&repo, &s.url);
            if self.present.insert(digest.clone()) {
                self.settled("layer", digest, *size, Outcome::Skipped, "");
            }
            return Ok(());
        }
        let meter = s.meter.clone();
        self.progress.uploading_on(&meter, "layer", digest, *size);
        metering(&meter, || self.registry.finish_stream(&repo, digest, *size, &s.path, s.url.clone(), s.offset, s.in_doubt))?;
        self.settled("layer", digest, *size, Outcome::Pushed, "");
        self.present.insert(digest.clone());
        Ok(())
    }

    /// Waits until `growing` holds `bytes` (true) or ended first (false).
    fn wait_for(&self, growing: &Growing, bytes: u64) -> anyhow::Result<bool> {
        loop {
            let (written, end) = growing.wait_for(bytes, POLL);
            if end != End::Open {
                return Ok(false);
            }
            if written >= bytes {
                return Ok(true);
            }
            interrupt::check()?;
        }
    }

    /// Waits until `growing` ends.
    fn wait_end(&self, growing: &Growing) -> anyhow::Result<End> {
        loop {
            let (_, end) = growing.wait_for(u64::MAX, POLL);
            if end != End::Open {
                return Ok(end);
            }
            interrupt::check()?;
        }
    }
}
