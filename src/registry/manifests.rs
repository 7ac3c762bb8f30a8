//! Manifests in the registry: `PUT /v2/<name>/manifests/<reference>` (the push's last step),
//! and reading: `GET /v2/<name>/manifests/<reference>` (any of the four manifest types) and
//! small blobs (a config) with `GET /v2/<name>/blobs/<digest>`.
//!
//! Both are checked: a manifest asked for by digest must hash to it, and a
//! `Docker-Content-Digest` must name what came; a blob must have its descriptor's size and
//! digest. Bodies are held in memory, up to 1 MiB (manifests and configs, never layers).

use super::client::{display_url, Payload};
use super::upload::{check_digest_header, check_repository, names_digest};
use super::{with_retry, Registry};
use crate::digest::Digest;
use crate::error::{fail, Cause};
use ureq::http::Method;


/// What a manifest GET accepts: OCI manifest and index, Docker schema 2 manifest and list.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest as the registry holds it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Its media type: the `Content-Type` of the answer, else the body's `mediaType`.
    pub media_type: String,
    /// The digest of the exact bytes.
    pub digest: Digest,
    pub bytes: Vec<u8>,
}

impl Registry {
    /// PUT /v2/<repo>/manifests/<reference> with Content-Type = media_type exactly and the exact
    /// bytes. Stored only on `201 Created` (whose Docker-Content-Digest, if present, must equal
    /// Digest::of(bytes)), or on `200`/`202` with a Docker-Content-Digest equal to it; anything
    /// else is an error naming the answer. Returns the digest.
    pub fn put_manifest(&mut self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> anyhow::Result<Digest> {
        check_repository(repo)?;
        let digest = Digest::of(bytes);
        check_reference(reference, &digest)?;
        if media_type.is_empty() || !media_type.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(fail(Cause::BadImage, format!("invalid manifest media type {media_type:?}")));
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
            let confirmed = match reply.status {
                201 => true,
                200 | 202 => names_digest(&reply, &digest),
                _ => false,
            };
            if !confirmed {
                return Err(self.unconfirmed(
                    "PUT",
                    &url,
                    &reply,
                    "a manifest is stored only on 201 Created, or 200/202 with a Docker-Content-Digest equal to its digest",
                ));
            }
            Ok(digest.clone())
        })
    }

    /// Reads tokens for pull (and the catalog) instead of push: the listing commands.
    pub fn read_only(mut self) -> Registry {
        self.auth.read_only = true;
        self
    }

    /// GET /v2/<repo>/manifests/<reference> with an Accept for every manifest type. A 404 is
    /// a [`Cause::NotInRegistry`] error naming the reference.
    pub fn get_manifest(&mut self, repo: &str, reference: &str) -> anyhow::Result<Fetched> {
        check_repository(repo)?;
        let named: Option<Digest> = if reference.contains(':') { Some(reference.parse()?) } else { None };
        let host = self.client.base.host().to_string();
        let shown = if named.is_some() { format!("{host}/{repo}@{reference}") } else { format!("{host}/{repo}:{reference}") };
        let policy = self.policy.clone();
        with_retry(&format!("reading manifest {shown}"), &policy, || {
            let url = self.client.base.url(&format!("/v2/{repo}/manifests/{reference}"));
            let reply = self.exchange(&Method::GET, &url, Some(repo), &[("accept", ACCEPT)], || Ok(Payload::None))?;
            match reply.status {
                200 => {}
                404 => {
                    return Err(crate::error::fail_with_hint(
                        Cause::NotInRegistry,
                        format!("manifest {shown} not found"),
                        format!("`idpush tags {host}/{repo}` lists the tags there"),
                    ))
                }
                _ => return Err(self.unexpected("GET", &url, Some(repo), &reply)),
            }
            if reply.truncated {
                return Err(fail(Cause::BadAnswer, format!("manifest {shown} is larger than 1 MiB: not a manifest")));
            }
            let digest = Digest::of(&reply.body);
            if let Some(named) = &named {
                if *named != digest {
                    return Err(fail(
                        Cause::BadAnswer,
                        format!("registry {host} answered {} with a manifest whose digest is {digest}", display_url(&url)),
                    ));
                }
            }
            check_digest_header(&reply, &digest, &format!("manifest {shown}"))?;
            let from_body = || {
                serde_json::from_slice::<serde_json::Value>(&reply.body)
                    .ok()
                    .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_string))
            };
            let media_type = reply
                .header("content-type")
                .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
                .filter(|v| v.starts_with("application/vnd."))
                .or_else(from_body)
                .unwrap_or_default();
            Ok(Fetched { media_type, digest, bytes: reply.body })
        })
    }

    /// GET /v2/<repo>/blobs/<digest>: a small blob (a config) in memory, checked against its
    /// size and digest.
    pub fn get_small_blob(&mut self, repo: &str, digest: &Digest, size: u64) -> anyhow::Result<Vec<u8>> {
        check_repository(repo)?;
        let host = self.client.base.host().to_string();
        let policy = self.policy.clone();
        with_retry(&format!("reading blob {digest} of {host}/{repo}"), &policy, || {
            let url = self.client.base.url(&format!("/v2/{repo}/blobs/{digest}"));
            let reply = self.exchange(&Method::GET, &url, Some(repo), &[], || Ok(Payload::None))?;
            match reply.status {
                200 => {}
                404 => return Err(fail(Cause::NotInRegistry, format!("blob {digest} not found in {host}/{repo}"))),
                _ => return Err(self.unexpected("GET", &url, Some(repo), &reply)),
            }
            if reply.truncated {
                return Err(fail(Cause::BadAnswer, format!("blob {digest} of {host}/{repo} is larger than 1 MiB")));
            }
            let got = Digest::of(&reply.body);
            if got != *digest || reply.body.len() as u64 != size {
                return Err(fail(
                    Cause::BadAnswer,
                    format!(
                        "registry {host} sent blob {digest} as {} bytes with digest {got}, expected {size} bytes",
                        reply.body.len()
                    ),
                ));
            }
            Ok(reply.body)
        })
    }
}

/// A tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a digest, which must then be the manifest's.
pub(super) fn check_reference(reference: &str, digest: &Digest) -> anyhow::Result<()> {
    if reference.contains(':') {
        let named: Digest = reference.parse()?;
        if named != *digest {
            return Err(fail(
                Cause::BadInput,
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
            Cause::BadInput,
            format!("invalid tag {reference:?}: use up to 128 letters, digits, _ . - (not starting with . or -)"),
        ));
    }
    Ok(())
}

