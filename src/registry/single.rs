//! The single-request upload: `POST /v2/<repo>/blobs/uploads/?digest=<digest>` with the whole
//! blob as its body (Content-Length, `application/octet-stream`), one round trip instead of
//! POST + PUT. Gitea stores the blob and answers `201 Created`; distribution (2.8) ignores the
//! body and answers `202 Accepted` with a fresh session (`Range: 0-0`).
//!
//! What the registry did is remembered for this run (`Registry::single_post`), and across runs
//! in the layer cache, per registry ([`Registry::assume_single_request`],
//! [`Registry::learnt_single_request`]): a registry known to answer `202` is not probed again.
//! - not known yet: tried only with a blob of at most [`PROBE_LIMIT`] bytes, so that a
//!   registry that ignores the body wastes little (and a server that does not read an unwanted
//!   body, Go's drains up to 256 KiB, has no reason to reset the connection);
//! - `201`: later blobs up to the chunk size go up this way;
//! - `202`: the upload goes on in the session it opened, from the bytes its `Range` says it
//!   holds (never assumed), and later blobs use POST + PUT directly;
//! - `413` (a proxy's body limit): this blob goes the usual way, nothing is learnt;
//! - anything else (a 400/404/405 from a registry that rejects the form, a transport failure
//!   while probing): POST + PUT from now on; a failure of the plain path is then reported.
//!
//! Success is only `201` (with `Docker-Content-Digest`, if sent, equal to the blob's digest),
//! or another 2xx naming the digest, as for every upload (`Registry::finished_upload`).

use super::client::{display_url, resolve_location, with_query, Payload};
use super::upload::range_end;
use super::Registry;
use crate::digest::Digest;
use crate::error::{class_of, Class};
use std::fs::File;
use ureq::http::Method;

/// The largest blob used to find out whether the registry takes single-request uploads.
pub const PROBE_LIMIT: u64 = 64 << 10;

/// What a single-request upload came to.
pub(super) enum Single {
    /// The registry stored and confirmed the blob.
    Stored,
    /// The registry opened a session instead (`202`): its upload URL, and the bytes it holds.
    Session { url: String, offset: u64 },
    /// Not tried (unknown support and a large blob, known refusal, too large), or refused in a
    /// way that leaves no session: upload with POST + PUT.
    NotTried,
}

impl Registry {
    /// Takes what an earlier run learnt of single-request uploads to this registry (the
    /// cache's note), unless this run knows better already.
    pub fn assume_single_request(&mut self, stores: Option<bool>) {
        if self.single_post.is_none() {
            if let Some(stores) = stores {
                log::debug!("the layer cache says registry {} {} a blob sent in one request", self.client.base.host(), if stores { "stores" } else { "does not store" });
            }
            self.single_post = stores;
        }
    }

    /// What this run learnt of single-request uploads from a clear answer, if anything.
    pub fn learnt_single_request(&self) -> Option<bool> {
        self.single_post_learnt
    }

    /// `POST /v2/<repo>/blobs/uploads/?digest=<digest>` with the file `open` gives as body,
    /// when the registry is known to take it (or not known yet and the blob is small).
    pub(super) fn single_request_upload(
        &mut self,
        repo: &str,
        digest: &Digest,
        size: u64,
        open: &mut dyn FnMut() -> anyhow::Result<File>,
    ) -> anyhow::Result<Single> {
        let worth_it = match self.single_post {
            Some(false) => false,
            Some(true) => size <= self.chunk_size,
            None => size <= PROBE_LIMIT.min(self.chunk_size),
        };
        if !worth_it {
            return Ok(Single::NotTried);
        }
        let url = with_query(&self.client.base.url(&format!("/v2/{repo}/blobs/uploads/")), "digest", &digest.to_string());
        let headers = [("content-type", "application/octet-stream")];
        let probing = self.single_post.is_none();
        let reply = match self.exchange(&Method::POST, &url, Some(repo), &headers, || Ok(Payload::File(open()?))) {
            Ok(reply) => reply,
            Err(e) if probing && class_of(&e) != Class::Auth => {
                log::debug!("single-request upload to {} failed ({e:#}): using POST + PUT", display_url(&url));
                self.single_post = Some(false);
                return Ok(Single::NotTried);
            }
            Err(e) => return Err(e),
        };
        match reply.status {
            201 => {
                self.finished_upload(&url, repo, digest, &reply).map_err(|e| e.context("a single-request upload"))?;
                if probing {
                    log::debug!("registry {} stores a blob in one request: using that for blobs up to {} bytes", self.client.base.host(), self.chunk_size);
                }
                self.single_post = Some(true);
                self.single_post_learnt = Some(true);
                Ok(Single::Stored)
            }
            202 => {
                log::debug!(
                    "registry {} answered 202 to a single-request upload: going on in its session, and with POST + PUT from now on",
                    self.client.base.host()
                );
                self.single_post = Some(false);
                self.single_post_learnt = Some(false);
                let Some(location) = reply.header("location") else {
                    return Ok(Single::NotTried);
                };
                let session = resolve_location(&self.client.base, &url, location)?;
                let offset = reply.header("range").and_then(range_end).map_or(0, |e| if e == 0 { 0 } else { e + 1 });
                if offset > size {
                    log::debug!("session {} says {offset} bytes of a {size}-byte blob: starting another", display_url(&session));
                    self.cancel_upload(repo, &session);
                    return Ok(Single::NotTried);
                }
                Ok(Single::Session { url: session, offset })
            }
            413 => {
                // A body limit on the way, not a refusal of the form: this blob goes the usual
                // way (which splits it into chunks if needed); smaller ones may still go so.
                log::debug!("registry refused blob {digest} ({size} bytes) in one request (413): using POST + PUT");
                Ok(Single::NotTried)
            }
            status => {
                let err = self.unexpected("POST", &url, Some(repo), &reply);
                let transient = class_of(&err) == Class::Transient;
                if transient && !probing {
                    return Err(err);
                }
                log::debug!("registry answered {status} to a single-request upload: using POST + PUT from now on");
                self.single_post = Some(false);
                if !transient && class_of(&err) != Class::Auth {
                    // A refusal of the form, not a passing failure: worth remembering.
                    self.single_post_learnt = Some(false);
                }
                Ok(Single::NotTried)
            }
        }
    }
}

#[cfg(test)]
mod tests;
