//! Pushing content: checking for a blob, uploading a blob (POST then a monolithic PUT streamed
//! from the file), and putting a manifest. Each operation is retried as a whole on transient
//! failure.

use super::client::{display_url, resolve_location, with_query, Payload, Reply};
use super::retry::with_retry;
use super::Registry;
use crate::digest::Digest;
use crate::error::{fail, Class};
use anyhow::Context;
use std::fs::File;
use std::path::Path;
use ureq::http::Method;

impl Registry {
    /// HEAD /v2/<repo>/blobs/<digest> → Ok(true) on 200, Ok(false) on 404.
    pub fn blob_exists(&mut self, repo: &str, digest: &Digest) -> anyhow::Result<bool> {
        check_repository(repo)?;
        let policy = self.policy.clone();
        with_retry(&format!("checking for blob {digest} in {repo}"), &policy, || {
            let url = self.client.base.url(&format!("/v2/{repo}/blobs/{digest}"));
            let reply = self.exchange(&Method::HEAD, &url, Some(repo), &[], || Ok(Payload::None))?;
            match reply.status {
                200..=299 => Ok(true),
                404 => Ok(false),
                _ => Err(self.unexpected("HEAD", &url, Some(repo), &reply)),
            }
        })
    }

    /// POST /v2/<repo>/blobs/uploads/ then PUT <location>[?&]digest=<digest> with the file's
    /// bytes (Content-Length = size, Content-Type application/octet-stream). Streams from the
    /// file; never reads it into memory. Retried (fresh upload session, file reopened from the
    /// start) on transient failure.
    pub fn upload_blob(&mut self, repo: &str, digest: &Digest, size: u64, path: &Path) -> anyhow::Result<()> {
        check_repository(repo)?;
        let policy = self.policy.clone();
        with_retry(&format!("uploading blob {digest} to {repo}"), &policy, || {
            self.upload_blob_once(repo, digest, size, path)
        })
    }

    fn upload_blob_once(&mut self, repo: &str, digest: &Digest, size: u64, path: &Path) -> anyhow::Result<()> {
        let open = || -> anyhow::Result<File> {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let len = file.metadata().with_context(|| format!("cannot read {}", path.display()))?.len();
            if len != size {
                return Err(fail(
                    Class::Permanent,
                    format!("{} is {len} bytes but blob {digest} should be {size} bytes", path.display()),
                ));
            }
            Ok(file)
        };
        // Open before starting a session, so a missing file does not leave one behind.
        let mut first = Some(open()?);

        let start_url = self.client.base.url(&format!("/v2/{repo}/blobs/uploads/"));
        let reply = self.exchange(&Method::POST, &start_url, Some(repo), &[], || Ok(Payload::Bytes(&[])))?;
        if !reply.is_success() {
            return Err(self.unexpected("POST", &start_url, Some(repo), &reply));
        }
        let location = reply.header("location").ok_or_else(|| {
            fail(
                Class::Permanent,
                format!(
                    "registry answered {} to POST {} without a Location header",
                    reply.status,
                    display_url(&start_url)
                ),
            )
        })?;
        let upload_url = resolve_location(&self.client.base, &start_url, location)?;
        let put_url = with_query(&upload_url, "digest", &digest.to_string());

        let headers = [("content-type", "application/octet-stream")];
        let reply = self.exchange(&Method::PUT, &put_url, Some(repo), &headers, || {
            let file = match first.take() {
                Some(f) => f,
                None => open()?,
            };
            Ok(Payload::File(file))
        })?;
        if !reply.is_success() {
            return Err(self.unexpected("PUT", &put_url, Some(repo), &reply));
        }
        check_digest_header(&reply, digest, &format!("blob in {repo}"))
    }

    /// PUT /v2/<repo>/manifests/<reference> with Content-Type = media_type exactly and the exact
    /// bytes; checks the response's Docker-Content-Digest (if present) equals Digest::of(bytes)
    /// (mismatch → Permanent error). Returns the digest.
    pub fn put_manifest(&mut self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> anyhow::Result<Digest> {
        check_repository(repo)?;
        let digest = Digest::of(bytes);
        check_reference(reference, &digest)?;
        if media_type.is_empty() || !media_type.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(fail(Class::Permanent, format!("invalid manifest media type {media_type:?}")));
        }
        let policy = self.policy.clone();
        with_retry(&format!("pushing manifest {repo}:{reference}"), &policy, || {
            let url = self.client.base.url(&format!("/v2/{repo}/manifests/{reference}"));
            let headers = [("content-type", media_type)];
            let reply = self.exchange(&Method::PUT, &url, Some(repo), &headers, || Ok(Payload::Bytes(bytes)))?;
            if !reply.is_success() {
                return Err(self.unexpected("PUT", &url, Some(repo), &reply));
            }
            check_digest_header(&reply, &digest, &format!("manifest {repo}:{reference}"))?;
            Ok(digest.clone())
        })
    }
}

/// Fails if the response names a different sha256 digest than `want`.
fn check_digest_header(reply: &Reply, want: &Digest, what: &str) -> anyhow::Result<()> {
    let Some(value) = reply.header("docker-content-digest").map(str::trim) else {
        return Ok(());
    };
    if !value.starts_with("sha256:") {
        log::debug!("registry reported {what} with a non-sha256 digest {value:?}; not checked");
        return Ok(());
    }
    match value.parse::<Digest>() {
        Ok(got) if got == *want => Ok(()),
        Ok(got) => Err(fail(Class::Permanent, format!("registry stored {what} as {got}, expected {want}"))),
        Err(_) => Err(fail(Class::Permanent, format!("registry reported {what} with an invalid digest {value:?}"))),
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
            Class::Permanent,
            format!("invalid repository name {repo:?}: use lowercase letters, digits and . _ - separated by /"),
        ));
    }
    Ok(())
}

/// A tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a digest, which must then be the manifest's.
pub(super) fn check_reference(reference: &str, digest: &Digest) -> anyhow::Result<()> {
    if reference.contains(':') {
        let named: Digest = reference.parse()?;
        if named != *digest {
            return Err(fail(
                Class::Permanent,
                format!("manifest reference {named} does not match the manifest's digest {digest}"),
            ));
        }
        return Ok(());
    }
    let bytes = reference.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(fail(
            Class::Permanent,
            format!("invalid tag {reference:?}: use up to 128 letters, digits, _ . - (not starting with . or -)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_repository_names() {
        for ok in ["a", "giteaadmin/app", "library/alpine", "a.b_c__d---e/f0", "x/y/z"] {
            assert!(check_repository(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "a/", "/a", "a//b", "-a", "a-", "a..b", "a___b", "a_.b", "a b", "a?b", "a#b", "a:b"] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_references() {
        let d = Digest::of(b"{}");
        for ok in ["latest", "v1.2.3", "_x", "A-b_c.d"] {
            assert!(check_reference(ok, &d).is_ok(), "{ok}");
        }
        assert!(check_reference(&d.to_string(), &d).is_ok());
        assert!(check_reference(&Digest::of(b"x").to_string(), &d).is_err());
        for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(129), "sha256:zz"] {
            assert!(check_reference(bad, &d).is_err(), "{bad}");
        }
    }

    #[test]
    fn checks_reported_digests() {
        let d = Digest::of(b"{}");
        let reply = |v: Option<&str>| {
            let mut headers = ureq::http::HeaderMap::new();
            if let Some(v) = v {
                headers.insert("docker-content-digest", v.parse().unwrap());
            }
            Reply { status: 201, headers, body: Vec::new() }
        };
        assert!(check_digest_header(&reply(None), &d, "m").is_ok());
        assert!(check_digest_header(&reply(Some(&d.to_string())), &d, "m").is_ok());
        assert!(check_digest_header(&reply(Some("sha512:abcd")), &d, "m").is_ok());
        let e = check_digest_header(&reply(Some(&Digest::of(b"x").to_string())), &d, "m").unwrap_err();
        assert_eq!(crate::error::class_of(&e), Class::Permanent);
        assert!(check_digest_header(&reply(Some("sha256:nothex")), &d, "m").is_err());
    }
}
