//! Reading a blob of any size: `GET /v2/<name>/blobs/<digest>`, its body streamed to the
//! caller (a base image's layers go to disk as they come, never into memory).
//!
//! The caller's sink reads the body and says what it got (digest and size, as it hashed
//! them); that must be the descriptor's, or the answer is a [`Cause::BadAnswer`]. The body is
//! cut one byte past the descriptor's size, so a registry that sends more cannot fill the disk.
//! A transport failure while the body streams is retried from the start like any other.

use super::upload::check_repository;
use super::{with_retry, Registry};
use crate::digest::Digest;
use crate::error::{fail, Cause};
use std::io::Read;
use ureq::http::Method;

impl Registry {
    /// GET /v2/<repo>/blobs/<digest>: the body goes to `sink` (called again from the start on
    /// each retry), which returns its result with the digest and size of what it read. A 404 is
    /// a [`Cause::NotInRegistry`] error naming the blob.
    pub fn get_blob<T>(
        &mut self,
        repo: &str,
        digest: &Digest,
        size: u64,
        mut sink: impl FnMut(&mut dyn Read) -> anyhow::Result<(T, Digest, u64)>,
    ) -> anyhow::Result<T> {
        check_repository(repo)?;
        let host = self.client.base.host().to_string();
        let policy = self.policy.clone();
        with_retry(&format!("reading blob {digest} of {host}/{repo}"), &policy, || {
            let url = self.client.base.url(&format!("/v2/{repo}/blobs/{digest}"));
            let mut got: Option<anyhow::Result<(T, Digest, u64)>> = None;
            let mut to = |body: &mut dyn Read| -> anyhow::Result<()> {
                let mut limited = body.take(size.saturating_add(1));
                match sink(&mut limited) {
                    Ok(v) => {
                        got = Some(Ok(v));
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            let reply = self.exchange_to(&Method::GET, &url, Some(repo), None, &[], || Ok(super::Payload::None), Some(&mut to))?;
            match reply.status {
                200 => {}
                404 => return Err(fail(Cause::NotInRegistry, format!("blob {digest} not found in {host}/{repo}"))),
                _ => return Err(self.unexpected("GET", &url, Some(repo), &reply)),
            }
            let Some(Ok((value, got_digest, got_size))) = got.take() else {
                return Err(fail(Cause::BadAnswer, format!("registry {host} answered GET of blob {digest} with no body")));
            };
            if got_digest != *digest || got_size != size {
                return Err(fail(
                    Cause::BadAnswer,
                    format!(
                        "registry {host} sent blob {digest} of {repo} as {}{got_size} bytes with digest {got_digest}, expected {size} bytes",
                        if got_size > size { "more than " } else { "" }
                    ),
                ));
            }
            Ok(value)
        })
    }
}
