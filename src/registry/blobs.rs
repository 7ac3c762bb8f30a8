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
                    if got_size > size {
                        format!("registry {host} sent blob {digest} of {repo} as more than the {size} bytes its descriptor says")
                    } else {
                        format!("registry {host} sent blob {digest} of {repo} as {got_size} bytes with digest {got_digest}, expected {size} bytes")
                    },
                ));
            }
            Ok(value)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::digest::Digest;
    use crate::error::{class_of, Class};
    use crate::registry::test_http::{response, serve};
    use crate::registry::{Options, Registry};
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    const BLOB: &str = "the layer's bytes, streamed";

    fn registry(base: &str, retries: u32) -> Registry {
        let mut opts = Options::new(base);
        opts.retries = retries;
        opts.retry_max_delay = Duration::ZERO;
        Registry::new(opts).unwrap().read_only()
    }

    /// Reads the body to its end: what it got, with its digest and size.
    fn sink(body: &mut dyn Read) -> anyhow::Result<(Vec<u8>, Digest, u64)> {
        let mut all = Vec::new();
        body.read_to_end(&mut all)?;
        let (digest, size) = (Digest::of(&all), all.len() as u64);
        Ok((all, digest, size))
    }

    #[test]
    fn streams_checks_and_retries_a_cut_body() {
        let digest = Digest::of(BLOB.as_bytes());
        let path = format!("/v2/team/base/blobs/{digest}");
        let attempts = Arc::new(AtomicUsize::new(0));
        let seen = attempts.clone();
        let base = serve(move |req| {
            if req.target != path {
                return response("404 Not Found", &[], "");
            }
            // The first answer promises the whole blob and sends half of it.
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                return format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", BLOB.len(), &BLOB[..10]).into_bytes();
            }
            response("200 OK", &[], BLOB)
        });
        let got = registry(&base, 2).get_blob("team/base", &digest, BLOB.len() as u64, sink).unwrap();
        assert_eq!(got, BLOB.as_bytes());
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "the cut body is read again");

        let err = registry(&base, 0).get_blob("team/other", &digest, BLOB.len() as u64, sink).unwrap_err();
        assert_eq!(class_of(&err), Class::NotFound, "{err:#}");
        assert!(format!("{err:#}").contains(&format!("blob {digest} not found in")), "{err:#}");
    }

    #[test]
    fn another_blob_or_a_longer_one_is_a_bad_answer() {
        let base = serve(|_| response("200 OK", &[], BLOB));
        let wrong = Digest::of(b"something else");
        let err = registry(&base, 3).get_blob("team/base", &wrong, BLOB.len() as u64, sink).unwrap_err();
        assert_eq!(class_of(&err), Class::Permanent, "{err:#}");
        assert!(format!("{err:#}").contains(&format!("expected {} bytes", BLOB.len())), "{err:#}");
        // A registry that sends more than the descriptor's size is cut one byte past it.
        let digest = Digest::of(&BLOB.as_bytes()[..5]);
        let err = registry(&base, 0).get_blob("team/base", &digest, 5, sink).unwrap_err();
        assert!(format!("{err:#}").contains("as more than the 5 bytes its descriptor says"), "{err:#}");
    }
}
