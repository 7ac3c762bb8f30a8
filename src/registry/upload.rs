//! Pushing content: checking for a blob, uploading a blob, and putting a manifest. Each
//! operation is retried as a whole on transient failure.
//!
//! A blob up to the chunk size goes up in one request where the registry takes that (see
//! `single.rs`), else as POST then one monolithic PUT streamed from the file.
//! A larger one, or one whose monolithic PUT got 413 (a proxy's body limit, e.g. idpbuilder's
//! ingress at 1 GiB), goes up as PATCHes of `Content-Range: start-end` (inclusive, no `bytes `
//! prefix, start = bytes the registry has, as Gitea requires), each to the previous response's
//! Location, then `PUT <location>&digest=` with no body. A 413 on a chunk halves the chunk size
//! (down to 1 MiB) and resumes where the registry's `Range` (from `GET <location>`) says.
//! Chunks are streamed from the file with their own Content-Length, never held in memory.
//! A transient failure of a PATCH or of the final PUT (a reset, a 503) does not start over:
//! the retry asks `GET <location>` where the session stands and goes on from the registry's
//! `Range`; only a session the registry no longer knows is replaced, and a session given up on
//! is cancelled with `DELETE <location>` (best effort).
//!
//! A layer still being spooled (its digest unknown) is streamed by the uploader
//! (`push/stream.rs`) with the pieces here: [`Registry::open_session`], one
//! [`Registry::patch_chunk`] per chunk of [`Registry::stream_chunk`] bytes as they land, and
//! [`Registry::finish_stream`] once the digest is known (the rest, then `PUT ?digest=`, resuming
//! from the registry's `Range` if a PATCH failed), or [`Registry::cancel_session`].
//!
//! Success is what the registry confirms, never just a 2xx: a blob is there only on `HEAD` 200
//! with `Content-Length` equal to its size (and a matching `Docker-Content-Digest`, if sent);
//! an upload is complete on `201 Created` (distribution and Gitea answer that), or another 2xx
//! naming the digest; a manifest is stored on 201, or 200/202 naming its digest.
//! A 307/308 on an upload is followed by sending the body again to the new Location
//! (Authorization only ever goes to the registry's own origin).

use super::client::{display_url, resolve_location, with_query, Payload, Reply};
use super::retry::with_retry;
use std::io::{Seek, SeekFrom};
use super::Registry;
use crate::digest::Digest;
use crate::error::{fail, Cause};
use std::fs::File;
use std::path::Path;
use ureq::http::Method;

/// Blobs larger than this go up in chunks, by default (under idpbuilder's 1 GiB body limit).
pub const DEFAULT_CHUNK_SIZE: u64 = 512 << 20;
/// The largest chunk a layer is streamed in while it is still being spooled (smaller chunks
/// start its upload sooner; each is a round trip).
pub const STREAM_CHUNK: u64 = 16 << 20;
/// The smallest chunk: halving after a 413 stops here.
pub const MIN_CHUNK_SIZE: u64 = 1 << 20;
/// Redirects followed for one upload request.
const MAX_UPLOAD_REDIRECTS: usize = 5;
/// Times one chunked upload resynchronises with the registry (416, 413) before giving up.
const MAX_RESUMES: usize = 64;

/// A size as a user writes it: bytes, or a number with K, M, G or T (powers of 1024; `KiB`,
/// `MB` and the like are accepted and mean the same).
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| anyhow::anyhow!("{s:?} is not a size (e.g. 64M, 1G, 1048576)"))?;
    let shift = match unit.trim().to_ascii_lowercase().trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => anyhow::bail!("{s:?} is not a size: use a number with K, M or G (e.g. 64M)"),
    };
    let bytes = n.checked_mul(1 << shift).ok_or_else(|| anyhow::anyhow!("{s:?} is too large"))?;
    if bytes < MIN_CHUNK_SIZE {
        anyhow::bail!("{s:?} is below the smallest chunk size, 1M");
    }
    Ok(bytes)
}

impl Registry {
    /// HEAD /v2/<repo>/blobs/<digest> → Ok(true) only on 200 with `Content-Length` equal to
    /// `size` (and `Docker-Content-Digest`, when sent, equal to `digest`), Ok(false) on 404.
    /// Any other answer is an error that says what the registry answered: a server that says
    /// 200 to everything must not make a push skip its blobs.
    pub fn blob_exists(&mut self, repo: &str, digest: &Digest, size: u64) -> anyhow::Result<bool> {
        check_repository(repo)?;
        let policy = self.policy.clone();
        with_retry(&format!("checking for blob {digest} in {repo}"), &policy, || {
            let url = self.client.base.url(&format!("/v2/{repo}/blobs/{digest}"));
            let reply = self.exchange(&Method::HEAD, &url, Some(repo), &[], || Ok(Payload::None))?;
            match reply.status {
                200 => {
                    confirm_blob(&reply, digest, size).map_err(|why| self.unconfirmed("HEAD", &url, &reply, &why))?;
                    Ok(true)
                }
                404 => Ok(false),
                s if (200..300).contains(&s) => Err(self.unconfirmed(
                    "HEAD",
                    &url,
                    &reply,
                    &format!("a blob is there only on 200 with its size ({size} bytes)"),
                )),
                _ => Err(self.unexpected("HEAD", &url, Some(repo), &reply)),
            }
        })
    }

    /// HEAD /v2/<repo>/blobs/<digest>, only to authenticate for `repo` before any work: a
    /// refused password or token fails here. 200 or 404 both mean "we may ask"; a 200 is not
    /// believed (the blob's size is not known yet), so it claims nothing. Returns true on 404:
    /// the registry says the blob is not there (a hint for what is worth a HEAD later, never
    /// a reason to skip anything).
    pub fn check_access(&mut self, repo: &str, digest: &Digest) -> anyhow::Result<bool> {
        check_repository(repo)?;
        let policy = self.policy.clone();
        with_retry(&format!("checking access to {repo}"), &policy, || {
            let url = self.client.base.url(&format!("/v2/{repo}/blobs/{digest}"));
            let reply = self.exchange(&Method::HEAD, &url, Some(repo), &[], || Ok(Payload::None))?;
            match reply.status {
                404 => Ok(true),
                200..=299 => Ok(false),
                _ => Err(self.unexpected("HEAD", &url, Some(repo), &reply)),
            }
        })
    }

    /// POST /v2/<repo>/blobs/uploads/ then PUT <location>[?&]digest=<digest> with the file's
    /// bytes (Content-Length = size, Content-Type application/octet-stream), or in chunks (see
    /// the module docs). Streams from the file; never reads it into memory. Retried on
    /// transient failure: a monolithic upload in a fresh session, a chunked one from where the
    /// registry says its session is (`GET <location>` → `Range`), so a failed chunk or final
    /// PUT costs one chunk, not the whole blob. A chunked session given up on is cancelled
    /// (`DELETE <location>`, best effort).
    ///
    /// A blob up to the chunk size may go up in one request instead (see `single.rs`).
    pub fn upload_blob(&mut self, repo: &str, digest: &Digest, size: u64, path: &Path) -> anyhow::Result<()> {
        check_repository(repo)?;
        self.upload_blob_in(repo, digest, size, path, None)
    }

    /// [`Registry::upload_blob`] into `started`, a session the registry already opened (the
    /// `202` answer to a mount or a single-request upload: its URL and the bytes the registry
    /// says it holds), if given; a retry after a failure starts afresh.
    pub(super) fn upload_blob_in(
        &mut self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        started: Option<(String, u64)>,
    ) -> anyhow::Result<()> {
        self.upload_blob_from(repo, digest, size, path, started, None)
    }

    /// [`Registry::upload_blob_in`], or, given `resume` (a session whose state we do not know,
    /// e.g. after a failed PATCH), asking it where it stands first (`GET <location>` → `Range`)
    /// and going on from there, or in a new session if it is gone.
    fn upload_blob_from(
        &mut self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        mut started: Option<(String, u64)>,
        resume: Option<String>,
    ) -> anyhow::Result<()> {
        let policy = self.policy.clone();
        // The chunked session an attempt left unfinished: the next attempt resumes it.
        let mut session: Option<String> = resume;
        let result = with_retry(&format!("uploading blob {digest} to {repo}"), &policy, || {
            self.upload_blob_once(repo, digest, size, path, &mut session, started.take())
        });
        if result.is_err() {
            if let Some(url) = session.take() {
                self.cancel_upload(repo, &url);
            }
        }
        result
    }

    /// The chunk a growing spool is streamed in: `--chunk-size`, at most [`STREAM_CHUNK`].
    pub fn stream_chunk(&self) -> u64 {
        self.chunk_size.min(STREAM_CHUNK)
    }

    /// POST /v2/<repo>/blobs/uploads/ (retried): a session to stream a blob into whose digest
    /// is not known yet; its upload URL.
    pub fn open_session(&mut self, repo: &str) -> anyhow::Result<String> {
        check_repository(repo)?;
        let policy = self.policy.clone();
        with_retry(&format!("starting an upload to {repo}"), &policy, || self.start_upload(repo))
    }

    /// PATCH <url> with `len` bytes of `file` from `offset` (`Content-Range: offset-end`), once:
    /// the session's next Location. Any answer but a 2xx whose `Range`, if sent, says the
    /// registry now holds `offset + len` bytes is an error (the caller resumes the session from
    /// what the registry says, see [`Registry::finish_stream`]).
    pub fn patch_chunk(&mut self, repo: &str, url: &str, file: &File, offset: u64, len: u64) -> anyhow::Result<String> {
        let range = format!("{}-{}", offset, offset + len - 1);
        let headers = [("content-type", "application/octet-stream"), ("content-range", range.as_str())];
        let reply = self.upload_request(&Method::PATCH, url, repo, &headers, &mut || {
            let mut file = file.try_clone().map_err(|e| fail(Cause::LocalIo, format!("reading a spool file: {e}")))?;
            file.seek(SeekFrom::Start(offset)).map_err(|e| fail(Cause::LocalIo, format!("reading a spool file: {e}")))?;
            Ok(Payload::Section { file, len })
        })?;
        if !reply.is_success() {
            return Err(self.unexpected("PATCH", url, Some(repo), &reply));
        }
        if let Some(end) = reply.header("range").and_then(range_end) {
            if end + 1 != offset + len {
                return Err(fail(
                    Cause::BadAnswer,
                    format!("registry holds {} bytes after a chunk ending at byte {}", end + 1, offset + len),
                ));
            }
        }
        self.next_location(url, &reply)
    }

    /// Completes a blob streamed into the session at `url`: the rest of the file at `path`
    /// from `offset` in chunks, then `PUT <url>&digest=` (with retries, as
    /// [`Registry::upload_blob`]). When the stream failed (`in_doubt`), the session is asked
    /// where it stands first, and a session the registry lost is replaced.
    pub fn finish_stream(
        &mut self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        url: String,
        offset: u64,
        in_doubt: bool,
    ) -> anyhow::Result<()> {
        if in_doubt {
            self.upload_blob_from(repo, digest, size, path, None, Some(url))
        } else {
            self.upload_blob_from(repo, digest, size, path, Some((url, offset)), None)
        }
    }

    /// DELETE <location> of a session we no longer need (best effort).
    pub fn cancel_session(&mut self, repo: &str, url: &str) {
        self.cancel_upload(repo, url);
    }

    /// DELETE <location>: cancels an upload session we give up on. Best effort: a failure is
    /// logged at debug, never returned.
    pub(super) fn cancel_upload(&mut self, repo: &str, url: &str) {
        match self.exchange(&Method::DELETE, url, Some(repo), &[], || Ok(Payload::None)) {
            Ok(reply) => log::debug!("cancelled upload session {}: {}", display_url(url), reply.status),
            Err(e) => log::debug!("could not cancel upload session {}: {e:#}", display_url(url)),
        }
    }

    /// GET <location> → where an unfinished session stands: `Some((bytes the registry has,
    /// the Location to go on with))`, or `None` when the session is gone (the caller starts a
    /// new one). A transient failure is returned (the session is kept for the next attempt).
    fn upload_status(&mut self, repo: &str, url: &str, size: u64) -> anyhow::Result<Option<(u64, String)>> {
        let reply = self.exchange(&Method::GET, url, Some(repo), &[], || Ok(Payload::None))?;
        if !reply.is_success() {
            let err = self.unexpected("GET", url, Some(repo), &reply);
            if crate::error::class_of(&err) == crate::error::Class::Transient && reply.status != 404 {
                return Err(err);
            }
            log::debug!("upload status {} answered {}: starting a new session", display_url(url), reply.status);
            return Ok(None);
        }
        let offset = reply.header("range").and_then(range_end).map_or(0, |e| if e == 0 { 0 } else { e + 1 });
        if offset > size {
            log::debug!("upload status {} says {offset} bytes of a {size}-byte blob: starting a new session", display_url(url));
            return Ok(None);
        }
        Ok(Some((offset, self.next_location(url, &reply)?)))
    }

    fn upload_blob_once(
        &mut self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        session: &mut Option<String>,
        started: Option<(String, u64)>,
    ) -> anyhow::Result<()> {
        let open = || -> anyhow::Result<File> {
            let file = File::open(path).map_err(|e| local_io("cannot open", path, e))?;
            let len = file.metadata().map_err(|e| local_io("cannot read", path, e))?.len();
            if len != size {
                return Err(fail(
                    Cause::LocalIo,
                    format!("{} is {len} bytes but blob {digest} should be {size} bytes", path.display()),
                ));
            }
            Ok(file)
        };
        // Open before starting a session, so a missing file does not leave one behind.
        let mut first = Some(open()?);

        if let Some(url) = session.clone() {
            match self.upload_status(repo, &url, size)? {
                Some((offset, next)) => {
                    log::info!("resuming the upload of blob {digest} at byte {offset} of {size}");
                    *session = Some(next.clone());
                    return self.upload_chunks(repo, digest, size, path, next, offset, session);
                }
                None => {
                    *session = None;
                    self.cancel_upload(repo, &url);
                }
            }
        }
        let (upload_url, offset) = match started {
            Some(started) => started,
            None => match self.single_request_upload(repo, digest, size, &mut || match first.take() {
                Some(f) => Ok(f),
                None => open(),
            })? {
                super::single::Single::Stored => return Ok(()),
                super::single::Single::Session { url, offset } => (url, offset),
                super::single::Single::NotTried => (self.start_upload(repo)?, 0),
            },
        };
        // A session that holds some bytes already (a registry that kept part of a body) goes
        // on from there; one that holds them all only needs the closing PUT.
        if size > self.chunk_size || offset > 0 {
            *session = Some(upload_url.clone());
            return self.upload_chunks(repo, digest, size, path, upload_url, offset, session);
        }
        let put_url = with_query(&upload_url, "digest", &digest.to_string());

        let headers = [("content-type", "application/octet-stream")];
        let reply = self.upload_request(&Method::PUT, &put_url, repo, &headers, &mut || {
            let file = match first.take() {
                Some(f) => f,
                None => open()?,
            };
            Ok(Payload::File(file))
        })?;
        if reply.status == 413 && size > 1 {
            // A body limit on the way (nginx's client_max_body_size): go again in chunks,
            // smaller than this blob, in a fresh session.
            let chunk = (size / 2).clamp(MIN_CHUNK_SIZE, self.chunk_size);
            log::info!(
                "registry refused blob {digest} ({size} bytes) in one request (413): uploading it in chunks of {chunk} bytes"
            );
            self.chunk_size = chunk;
            self.cancel_upload(repo, &upload_url);
            let upload_url = self.start_upload(repo)?;
            *session = Some(upload_url.clone());
            return self.upload_chunks(repo, digest, size, path, upload_url, 0, session);
        }
        self.finished_upload(&put_url, repo, digest, &reply)
    }

    /// Checks the answer to the PUT that completes an upload: `201 Created`, or another 2xx
    /// that names our digest in `Docker-Content-Digest` (distribution and Gitea answer 201;
    /// an answer that does not confirm the blob is an error, never a success).
    pub(super) fn finished_upload(&self, put_url: &str, repo: &str, digest: &Digest, reply: &Reply) -> anyhow::Result<()> {
        if !reply.is_success() {
            return Err(self.unexpected("PUT", put_url, Some(repo), reply));
        }
        check_digest_header(reply, digest, &format!("blob in {repo}"))?;
        if reply.status != 201 && !names_digest(reply, digest) {
            return Err(self.unconfirmed(
                "PUT",
                put_url,
                reply,
                "an upload is complete only on 201 Created, or with a Docker-Content-Digest naming the blob",
            ));
        }
        Ok(())
    }

    /// POST /v2/<repo>/blobs/uploads/ → the session's upload URL.
    pub(super) fn start_upload(&mut self, repo: &str) -> anyhow::Result<String> {
        let start_url = self.client.base.url(&format!("/v2/{repo}/blobs/uploads/"));
        let reply = self.exchange(&Method::POST, &start_url, Some(repo), &[], || Ok(Payload::Bytes(&[])))?;
        if !reply.is_success() {
            return Err(self.unexpected("POST", &start_url, Some(repo), &reply));
        }
        let location = reply.header("location").ok_or_else(|| {
            fail(
                Cause::BadAnswer,
                format!("registry answered {} to POST {} without a Location header", reply.status, display_url(&start_url)),
            )
        })?;
        resolve_location(&self.client.base, &start_url, location)
    }

    /// The chunked upload of a blob into the session at `url`, from byte `offset` (see the
    /// module docs). `session` follows the session's latest Location, so that after a failure
    /// the next attempt can resume it; it is cleared when the blob is stored.
    #[allow(clippy::too_many_arguments)]
    fn upload_chunks(
        &mut self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        mut url: String,
        mut offset: u64,
        session: &mut Option<String>,
    ) -> anyhow::Result<()> {
        let mut resumes = 0usize;
        while offset < size {
            let len = self.chunk_size.min(size - offset);
            let range = format!("{}-{}", offset, offset + len - 1);
            log::debug!("blob {digest}: chunk {range} of {size} bytes");
            let headers = [("content-type", "application/octet-stream"), ("content-range", range.as_str())];
            let reply = self.upload_request(&Method::PATCH, &url, repo, &headers, &mut || {
                let mut file = File::open(path).map_err(|e| local_io("cannot open", path, e))?;
                file.seek(SeekFrom::Start(offset)).map_err(|e| local_io("cannot read", path, e))?;
                Ok(Payload::Section { file, len })
            })?;
            if reply.is_success() {
                url = self.next_location(&url, &reply)?;
                *session = Some(url.clone());
                offset += len;
                if let Some(end) = reply.header("range").and_then(range_end) {
                    if end + 1 != offset {
                        log::debug!("blob {digest}: registry has {} bytes, expected {offset}", end + 1);
                        offset = end + 1;
                    }
                }
                continue;
            }
            let resync = match reply.status {
                413 if self.chunk_size > MIN_CHUNK_SIZE => {
                    self.chunk_size = (self.chunk_size / 2).max(MIN_CHUNK_SIZE);
                    log::info!("registry refused a chunk of {len} bytes (413): going on with chunks of {} bytes", self.chunk_size);
                    true
                }
                416 => true,
                _ => false,
            };
            resumes += 1;
            if !resync || resumes > MAX_RESUMES {
                if reply.status == 413 {
                    return Err(fail(
                        Cause::status(413),
                        format!(
                            "registry refused even a {len}-byte chunk of blob {digest} as too large (413): check the body size limit of the proxy in front of it"
                        ),
                    ));
                }
                return Err(self.unexpected("PATCH", &url, Some(repo), &reply));
            }
            // Where is the session? GET <location> → 204 + Range: 0-<last byte received>.
            match self.upload_status(repo, &url, size)? {
                Some((at, next)) => {
                    offset = at;
                    url = next;
                    log::debug!("blob {digest}: registry has {offset} bytes, resuming");
                }
                None => {
                    self.cancel_upload(repo, &url);
                    url = self.start_upload(repo)?;
                    offset = 0;
                }
            }
            *session = Some(url.clone());
        }
        let put_url = with_query(&url, "digest", &digest.to_string());
        let reply = self.upload_request(&Method::PUT, &put_url, repo, &[], &mut || Ok(Payload::Bytes(&[])))?;
        self.finished_upload(&put_url, repo, digest, &reply)?;
        *session = None;
        Ok(())
    }

    /// The Location of an upload response, resolved; `url` if it has none.
    fn next_location(&self, url: &str, reply: &Reply) -> anyhow::Result<String> {
        match reply.header("location") {
            Some(l) => resolve_location(&self.client.base, url, l),
            None => Ok(url.to_string()),
        }
    }

    /// An upload request (PUT, PATCH) that follows 307/308 redirects by sending the body again
    /// to the new Location; `exchange` adds Authorization only for the registry's own origin.
    fn upload_request<'a>(
        &mut self,
        method: &Method,
        url: &str,
        repo: &str,
        headers: &[(&str, &str)],
        payload: &mut dyn FnMut() -> anyhow::Result<Payload<'a>>,
    ) -> anyhow::Result<Reply> {
        let mut url = url.to_string();
        for _ in 0..=MAX_UPLOAD_REDIRECTS {
            let reply = self.exchange(method, &url, Some(repo), headers, &mut *payload)?;
            if !matches!(reply.status, 307 | 308) {
                return Ok(reply);
            }
            let Some(location) = reply.header("location") else { return Ok(reply) };
            let next = resolve_location(&self.client.base, &url, location)?;
            log::debug!("{method} {} redirected to {}", display_url(&url), display_url(&next));
            url = next;
        }
        Err(fail(Cause::BadAnswer, format!("too many redirects for {method} {}", display_url(&url))))
    }
}

/// The last byte of a `Range: 0-<end>` header (with or without a `bytes=` prefix).
pub(super) fn range_end(v: &str) -> Option<u64> {
    let v = v.trim();
    let v = v.strip_prefix("bytes=").unwrap_or(v);
    v.split_once('-')?.1.trim().parse().ok()
}

/// Why a `200` answer to `HEAD …/blobs/<digest>` does not show the blob: a `Content-Length`
/// other than `size` (or none), or a `Docker-Content-Digest` naming another digest.
fn confirm_blob(reply: &Reply, digest: &Digest, size: u64) -> Result<(), String> {
    match reply.header("content-length").map(|v| v.trim().parse::<u64>()) {
        Some(Ok(len)) if len == size => {}
        Some(Ok(len)) => return Err(format!("Content-Length {len} for a blob of {size} bytes")),
        Some(Err(_)) => return Err(format!("an invalid Content-Length for a blob of {size} bytes")),
        None => return Err(format!("no Content-Length for a blob of {size} bytes")),
    }
    match reply.header("docker-content-digest").map(str::trim) {
        None => Ok(()),
        Some(v) if v.parse::<Digest>().is_ok_and(|d| d == *digest) => Ok(()),
        Some(v) => Err(format!("Docker-Content-Digest {:?}, not {digest}", v.chars().take(80).collect::<String>())),
    }
}

/// Whether the response's `Docker-Content-Digest` is `digest`.
pub(super) fn names_digest(reply: &Reply, digest: &Digest) -> bool {
    reply.header("docker-content-digest").is_some_and(|v| v.trim().parse::<Digest>().is_ok_and(|d| d == *digest))
}

/// Fails if the response names a different sha256 digest than `want`.
pub(super) fn check_digest_header(reply: &Reply, want: &Digest, what: &str) -> anyhow::Result<()> {
    let Some(value) = reply.header("docker-content-digest").map(str::trim) else {
        return Ok(());
    };
    if !value.starts_with("sha256:") {
        log::debug!("registry reported {what} with a non-sha256 digest {value:?}; not checked");
        return Ok(());
    }
    match value.parse::<Digest>() {
        Ok(got) if got == *want => Ok(()),
        Ok(got) => Err(fail(Cause::BadAnswer, format!("registry stored {what} as {got}, expected {want}"))),
        Err(_) => Err(fail(Cause::BadAnswer, format!("registry reported {what} with an invalid digest {value:?}"))),
    }
}

/// A repository name per the OCI distribution spec: `/`-separated components of lowercase
/// alphanumerics joined by `.`, `_`, `__` or runs of `-`.
pub(super) fn check_repository(repo: &str) -> anyhow::Result<()> {
    let component_ok = |c: &str| {
        let bytes = c.as_bytes();
        let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
            return false;
        };
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if !alnum(first) || !alnum(last) {
            return false;
        }
        // Each run of separators must be ".", "_", "__" or only dashes.
        c.split(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            .filter(|sep| !sep.is_empty())
            .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-'))
    };
    if repo.is_empty() || repo.len() > 255 || !repo.split('/').all(component_ok) {
        return Err(fail(
            Cause::BadInput,
            format!("invalid repository name {repo:?}: use lowercase letters, digits and . _ - separated by /"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod chunk_tests;

/// A failure on a blob file of ours (the spool dir): local, never retried, whatever its kind
/// (a spool file that went missing is not "not found").
fn local_io(what: &str, path: &std::path::Path, e: std::io::Error) -> anyhow::Error {
    fail(Cause::LocalIo, format!("{what} {}: {}", path.display(), e.to_string().to_lowercase()))
}
