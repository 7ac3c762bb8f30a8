//! Cross-repository mount: a blob another repository of the same registry holds is linked
//! into ours with `POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<source>` (no body),
//! with a token that may also pull from the source (`repository:<source>:pull`).
//!
//! - `201 Created`: mounted; a `Docker-Content-Digest` or a `Location` naming another blob is
//!   an error, never a success;
//! - `202 Accepted`: the registry would not mount (Gitea across owners, a blob it does not
//!   have there) and opened an ordinary upload session: the blob goes up in THAT session, no
//!   second POST;
//! - a refusal (401/403 after authenticating, 400, 404, 405): Harbor and others answer so
//!   when the source may not be read; logged at debug, then a normal upload, as crane does;
//! - a transient failure is retried like any request.
//!
//! Which repositories may hold the blob is the caller's knowledge (the local cache); the
//! registry's answer is the only confirmation.

use super::client::{display_url, resolve_location, Reply};
use super::retry::with_retry;
use super::upload::{check_digest_header, check_repository, range_end};
use super::Registry;
use crate::digest::Digest;
use crate::error::{class_of, Class};
use std::path::Path;
use ureq::http::Method;

/// How a blob got into the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobOutcome {
    /// Its bytes were sent (the mount was refused, or there was nothing to mount from).
    Uploaded,
    /// The registry linked it from another repository; no bytes were sent.
    Mounted,
}

/// What the mount request came to.
enum Mount {
    Mounted,
    /// The registry opened a session instead: its URL and the bytes it holds.
    Session(String, u64),
    /// Refused: upload as usual.
    Refused,
}

impl Registry {
    /// Mounts blob `digest` (`size` bytes, a copy at `path`) into `repo` from the first
    /// repository of `from` that is a valid name other than `repo`, or uploads it (see the
    /// module docs). With no candidate it is [`Registry::upload_blob`].
    pub fn mount_or_upload(
        &mut self,
        repo: &str,
        digest: &Digest,
        size: u64,
        path: &Path,
        from: &[String],
    ) -> anyhow::Result<BlobOutcome> {
        check_repository(repo)?;
        let source = from.iter().find(|f| f.as_str() != repo && check_repository(f).is_ok());
        let Some(source) = source else {
            self.upload_blob_in(repo, digest, size, path, None)?;
            return Ok(BlobOutcome::Uploaded);
        };
        let policy = self.policy.clone();
        let mount = with_retry(&format!("mounting blob {digest} into {repo} from {source}"), &policy, || {
            self.mount_once(repo, digest, source)
        })?;
        match mount {
            Mount::Mounted => {
                log::debug!("mounted blob {digest} into {repo} from {source}");
                Ok(BlobOutcome::Mounted)
            }
            Mount::Session(url, offset) => {
                log::debug!("registry did not mount blob {digest} from {source} (202): uploading it in the session it opened");
                self.upload_blob_in(repo, digest, size, path, Some((url, offset)))?;
                Ok(BlobOutcome::Uploaded)
            }
            Mount::Refused => {
                self.upload_blob_in(repo, digest, size, path, None)?;
                Ok(BlobOutcome::Uploaded)
            }
        }
    }

    /// Mounts blob `digest` into `repo` from `from`, without a copy of the blob to fall back
    /// on (a push that skips the export): `Ok(true)` only on a confirmed `201`; `Ok(false)`
    /// when the registry would not (a `202` session, which is cancelled with
    /// `DELETE <location>`, or a refusal); the caller then needs the blob's bytes. A source
    /// equal to `repo` is no mount (`Ok(false)`, nothing sent).
    pub fn mount_blob(&mut self, repo: &str, digest: &Digest, from: &str) -> anyhow::Result<bool> {
        check_repository(repo)?;
        check_repository(from)?;
        if from == repo {
            return Ok(false);
        }
        let policy = self.policy.clone();
        let mount = with_retry(&format!("mounting blob {digest} into {repo} from {from}"), &policy, || {
            self.mount_once(repo, digest, from)
        })?;
        Ok(match mount {
            Mount::Mounted => {
                log::debug!("mounted blob {digest} into {repo} from {from}");
                true
            }
            Mount::Session(url, _) => {
                log::debug!("registry did not mount blob {digest} from {from} (202): cancelling the session it opened");
                self.cancel_upload(repo, &url);
                false
            }
            Mount::Refused => false,
        })
    }

    /// One `POST …/blobs/uploads/?mount=<digest>&from=<source>`.
    fn mount_once(&mut self, repo: &str, digest: &Digest, source: &str) -> anyhow::Result<Mount> {
        // As docker sends it: the digest and the source as they are (both are URL-safe but
        // for `/`, which a query may hold), so the registry's log shows them plainly.
        let url = self.client.base.url(&format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={source}"));
        let reply = match self.exchange_from(&Method::POST, &url, Some(repo), Some(source), &[], || Ok(super::client::Payload::Bytes(&[]))) {
            Ok(reply) => reply,
            Err(e) if class_of(&e) == Class::Auth => {
                log::debug!("mount of blob {digest} from {source} refused ({e:#}): uploading it");
                return Ok(Mount::Refused);
            }
            Err(e) => return Err(e),
        };
        match reply.status {
            201 => {
                check_digest_header(&reply, digest, &format!("blob mounted into {repo}"))?;
                if let Some(named) = location_digest(&reply) {
                    if named != digest.to_string() {
                        return Err(self.unconfirmed(
                            "POST",
                            &url,
                            &reply,
                            &format!("its Location names {named:?}, not {digest}"),
                        ));
                    }
                }
                Ok(Mount::Mounted)
            }
            202 => {
                let Some(location) = reply.header("location") else {
                    log::debug!("registry answered 202 to a mount without a Location: uploading in a new session");
                    return Ok(Mount::Refused);
                };
                let session = resolve_location(&self.client.base, &url, location)?;
                let offset = reply.header("range").and_then(range_end).map_or(0, |e| if e == 0 { 0 } else { e + 1 });
                if offset != 0 {
                    // A fresh session holds nothing; one that says otherwise is not used.
                    log::debug!("mount session {} says it holds {offset} bytes: uploading in a new session", display_url(&session));
                    self.cancel_upload(repo, &session);
                    return Ok(Mount::Refused);
                }
                Ok(Mount::Session(session, 0))
            }
            400 | 403 | 404 | 405 => {
                log::debug!("registry answered {} to the mount of blob {digest} from {source}: uploading it", reply.status);
                Ok(Mount::Refused)
            }
            _ => Err(self.unexpected("POST", &url, Some(repo), &reply)),
        }
    }
}

/// The digest a `Location: …/blobs/<digest>` names, if it names one (path only).
fn location_digest(reply: &Reply) -> Option<String> {
    let location = reply.header("location")?;
    let path = location.split(['?', '#']).next()?;
    let (rest, last) = path.rsplit_once('/')?;
    (rest.ends_with("/blobs") && last.contains(':')).then(|| last.to_string())
}

#[cfg(test)]
mod tests;
