//! The upload stage: every blob (layers, then config) that the registry lacks, then the
//! manifest, and the result.
//!
//! Layers may be handed over one by one while the source is still reading the next ones
//! ([`Uploader::blob`]), so uploading overlaps reading and compressing; a large layer even
//! starts to go up while it is still being spooled ([`Uploader::next_layer`], `stream.rs`). The manifest is put only
//! in [`Uploader::finish`], after every blob is confirmed present, so a push that fails half way
//! never leaves a tag pointing at missing blobs.
//!
//! What the layer cache claims is confirmed here before anything is skipped
//! ([`Uploader::confirm`], `cached.rs`).

mod cached;
mod stream;

pub use cached::{claims, confirm_cached, remember};

use crate::cache::Cache;
use crate::digest::Digest;
use crate::error::{fail, Cause};
use crate::image::{Image, IndexImage};
use crate::interrupt;
use crate::report::progress::{human, metering, Outcome, Progress};
use crate::reference::Reference;
use crate::registry::{BlobOutcome, Registry};
use std::collections::HashSet;
use std::path::Path;

/// What a push did, for one reference.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `host/repo:tag@sha256:…`
    pub reference: String,
    pub digest: Digest,
    pub media_type: String,
    /// `os/arch[/variant]` of the image, or of each image of an index, where known.
    pub platforms: Vec<String>,
    /// Bytes of the distinct blobs.
    pub size: u64,
    /// Each blob of the image and what became of it in this push.
    pub blobs: Vec<BlobDone>,
}

/// A blob of a push and its outcome.
#[derive(Debug, Clone)]
pub struct BlobDone {
    pub digest: Digest,
    pub size: u64,
    pub outcome: Outcome,
}

/// What the registry said of a blob a cache claims is in the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// 200 with the claimed size.
    Confirmed,
    /// 404: not in this repository.
    Absent,
    /// Anything else (another size, a refusal, a failure): the claim is not believed.
    Wrong,
}

/// Uploads blobs to one repository, each digest once.
pub struct Uploader<'a> {
    registry: &'a mut Registry,
    dest: &'a Reference,
    progress: &'a Progress,
    /// Blobs confirmed present in the repository.
    present: HashSet<Digest>,
    uploaded: usize,
    skipped: usize,
    mounted: usize,
    sent: u64,
    /// The layer cache and the destination's `host[:port]`: where else a blob may be.
    cache: Cache,
    host: String,
    /// What became of each blob, in the order they were settled.
    done: Vec<BlobDone>,
    /// The store's layers being spooled, streamed while they are written (`stream.rs`).
    spools: Option<crate::store::Spools>,
    /// Layers streamed while spooled, not completed yet (`stream.rs`).
    streamed: Vec<stream::Streamed>,
    /// Blobs known to be in another repository of this registry besides what the cache
    /// knows (a build's base read from there): mounted from it first.
    known_in: std::collections::HashMap<Digest, String>,
    /// The repository lacked the image's config when we authenticated (see
    /// [`Uploader::upload_unasked`]).
    new_image: bool,
}

/// A blob no larger than this, new to the cache, of an image new to the repository, is
/// uploaded without a HEAD first: a HEAD is a round trip, and an upload of a blob that is there
/// after all is confirmed like any other and only costs its bytes.
pub const SMALL_BLOB: u64 = 1 << 20;

impl Drop for Uploader<'_> {
    /// A push that failed may leave streamed sessions open: cancel them (best effort).
    fn drop(&mut self) {
        self.cancel_streamed();
    }
}


impl<'a> Uploader<'a> {
    /// Checks the registry answers (and learns how to authenticate).
    pub fn new(registry: &'a mut Registry, dest: &'a Reference, progress: &'a Progress) -> anyhow::Result<Self> {
        registry.ping()?;
        Ok(Uploader {
            registry,
            dest,
            progress,
            present: HashSet::new(),
            uploaded: 0,
            skipped: 0,
            mounted: 0,
            sent: 0,
            cache: Cache::disabled(),
            host: String::new(),
            done: Vec::new(),
            spools: None,
            streamed: Vec::new(),
            new_image: false,
            known_in: Default::default(),
        })
    }

    /// Uses the layer cache of registry `host` (`host[:port]`) to mount blobs other
    /// repositories hold.
    ///
    /// Also takes the cache's note of whether the registry stores a blob sent in one request.
    pub fn with_cache(mut self, cache: Cache, host: &str) -> Self {
        self.registry.assume_single_request(cache.single_request_upload(host));
        self.cache = cache;
        self.host = host.to_string();
        self
    }

    /// Says that `digests` are in `repo` of this registry (a build's base was read from it),
    /// so they are mounted from there (with the usual fallback to an upload) rather than sent.
    pub fn known_in(&mut self, repo: &str, digests: impl IntoIterator<Item = Digest>) {
        if repo != self.dest.repository {
            self.known_in.extend(digests.into_iter().map(|d| (d, repo.to_string())));
        }
    }

    /// Other repositories of this registry the cache says hold `digest`.
    fn elsewhere(&self, digest: &Digest) -> Vec<String> {
        let repo = &self.dest.repository;
        let mut all = self.cache.repositories(&self.host, digest);
        if let Some(r) = self.known_in.get(digest).filter(|r| !all.contains(r)) {
            all.insert(0, r.clone());
        }
        all.into_iter().filter(|r| r != repo).collect()
    }

    /// Makes a blob present in the repository without a copy of it: mounted from where it is
    /// known to be, else found there by HEAD. False when neither: the caller must get the
    /// blob to upload it.
    pub fn present_without_copy(&mut self, kind: &str, digest: &Digest, size: u64) -> anyhow::Result<bool> {
        if self.mount(kind, digest, size)? {
            return Ok(true);
        }
        interrupt::check()?;
        let repo = self.dest.repository.clone();
        if self.registry.blob_exists(&repo, digest, size)? {
            self.settled(kind, digest, size, Outcome::Skipped, "");
            self.present.insert(digest.clone());
            return Ok(true);
        }
        Ok(false)
    }

    /// POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<repo> for a blob the cache says
    /// another repository holds, with no copy to fall back on: true when mounted (it then
    /// counts as present). A refusal forgets that repository in the cache.
    pub fn mount(&mut self, kind: &str, digest: &Digest, size: u64) -> anyhow::Result<bool> {
        if self.present.contains(digest) {
            return Ok(true);
        }
        let Some(from) = self.elsewhere(digest).into_iter().next() else { return Ok(false) };
        interrupt::check()?;
        if self.registry.mount_blob(&self.dest.repository, digest, &from)? {
            self.settled(kind, digest, size, Outcome::Mounted, &from);
            self.present.insert(digest.clone());
            self.cache.add_repository(&self.host, digest, &self.dest.repository);
            Ok(true)
        } else {
            log::debug!("blob {digest} was not mounted from {from}: the cache forgets it is there");
            self.cache.forget_repository(&self.host, digest, &from);
            Ok(false)
        }
    }

    /// HEAD /v2/<name>/blobs/<config digest>: authenticates for the repository (a refused
    /// password or token fails here) before anything is read from the source. A 200 is not
    /// believed (the config is checked again when it is pushed); a 404 marks the image new to
    /// the repository, so small unseen blobs go up without a HEAD ([`Uploader::upload_unasked`]).
    pub fn authenticate(&mut self, config: &Digest) -> anyhow::Result<()> {
        self.new_image = self.registry.check_access(&self.dest.repository, config)?;
        log::debug!("authenticated for {}", self.dest.repository);
        Ok(())
    }

    /// Whether a blob goes up without a HEAD first: a small one ([`SMALL_BLOB`]) that the
    /// cache has never seen in this registry, of an image whose config the repository did not
    /// have ([`Uploader::authenticate`] got a 404). A re-push of an image keeps every HEAD, so
    /// its blobs are skipped as before; what this can cost is the upload of a small blob the
    /// repository has from elsewhere (waste, never wrong: a skip always needs a HEAD).
    fn upload_unasked(&self, size: u64, known: &[String]) -> bool {
        self.new_image && known.is_empty() && size <= SMALL_BLOB
    }

    /// The repository pushed to.
    pub fn repository(&self) -> &str {
        &self.dest.repository
    }

    /// HEAD /v2/<name>/blobs/<digest>: whether a blob a cache claims is there is, with that
    /// size. Only a 200 with `Content-Length` equal to `size` confirms it (it then counts as
    /// present, and is not checked again); a 404, another size or any failure is "no" (a debug
    /// line says why), and the blob is handled as unknown: the push does the work.
    pub fn confirm(&mut self, kind: &str, digest: &Digest, size: u64) -> anyhow::Result<Claim> {
        if self.present.contains(digest) {
            return Ok(Claim::Confirmed);
        }
        interrupt::check()?;
        match self.registry.blob_exists(&self.dest.repository, digest, size) {
            Ok(true) => {
                self.settled(kind, digest, size, Outcome::Skipped, "");
                self.present.insert(digest.clone());
                Ok(Claim::Confirmed)
            }
            Ok(false) => {
                log::debug!("the cache's {digest} is not in {}: it is pushed again", self.dest.repository);
                Ok(Claim::Absent)
            }
            Err(e) => {
                interrupt::check()?;
                log::debug!("the cache's claim of {digest} ({size} bytes) is not confirmed: {e:#}");
                Ok(Claim::Wrong)
            }
        }
    }

    /// Makes sure one blob is in the repository: mounted when the cache knows it in another
    /// repository of the registry (uploaded if the mount is refused), else skipped when HEAD
    /// /v2/<name>/blobs/<digest> finds it, uploaded otherwise.
    pub fn blob(&mut self, kind: &str, digest: &Digest, size: u64, path: &Path) -> anyhow::Result<()> {
        if self.present.contains(digest) {
            return Ok(());
        }
        interrupt::check()?;
        if self.complete_streamed(digest)?.is_some() {
            return Ok(());
        }
        let repo = &self.dest.repository;
        let mut known = self.cache.repositories(&self.host, digest);
        if let Some(r) = self.known_in.get(digest).filter(|r| !known.contains(r)) {
            known.insert(0, r.clone());
        }
        let from: Vec<String> = known.iter().filter(|r| *r != repo).cloned().collect();
        if !from.is_empty() {
            let meter = self.progress.uploading(kind, digest, size);
            match metering(&meter, || self.registry.mount_or_upload(repo, digest, size, path, &from))? {
                BlobOutcome::Mounted => {
                    self.settled(kind, digest, size, Outcome::Mounted, &from[0]);
                }
                BlobOutcome::Uploaded => {
                    log::debug!("blob {digest} was not mounted from {}: the cache forgets it is there", from[0]);
                    self.cache.forget_repository(&self.host, digest, &from[0]);
                    self.settled(kind, digest, size, Outcome::Pushed, "");
                }
            }
            self.cache.add_repository(&self.host, digest, repo);
        } else if self.upload_unasked(size, &known) {
            log::debug!("blob {digest} ({size} bytes) is new to the cache and the image new to {repo}: uploaded without a HEAD");
            let meter = self.progress.uploading(kind, digest, size);
            metering(&meter, || self.registry.upload_blob(repo, digest, size, path))?;
            self.settled(kind, digest, size, Outcome::Pushed, "");
        } else if self.registry.blob_exists(repo, digest, size)? {
            self.settled(kind, digest, size, Outcome::Skipped, "");
        } else {
            let meter = self.progress.uploading(kind, digest, size);
            metering(&meter, || self.registry.upload_blob(repo, digest, size, path))?;
            self.settled(kind, digest, size, Outcome::Pushed, "");
        }
        self.present.insert(digest.clone());
        Ok(())
    }

    /// A blob is in the repository: counted, recorded for the result, reported (`detail`: the
    /// repository it was mounted from).
    pub(super) fn settled(&mut self, kind: &str, digest: &Digest, size: u64, outcome: Outcome, detail: &str) {
        match outcome {
            Outcome::Pushed => {
                self.uploaded += 1;
                self.sent += size;
            }
            Outcome::Skipped => self.skipped += 1,
            Outcome::Mounted => self.mounted += 1,
        }
        self.done.push(BlobDone { digest: digest.clone(), size, outcome });
        self.progress.blob(kind, digest, size, outcome, detail);
    }

    /// What became of each of `blobs` (digests), in that order; one settled before this push
    /// (a blob the image shares with an earlier one) is skipped.
    fn outcomes<'d>(&self, blobs: impl Iterator<Item = (&'d Digest, u64)>) -> Vec<BlobDone> {
        let mut seen = HashSet::new();
        blobs
            .filter(|(d, _)| seen.insert((*d).clone()))
            .map(|(d, size)| {
                let outcome = self.done.iter().find(|b| &b.digest == d).map_or(Outcome::Skipped, |b| b.outcome);
                BlobDone { digest: d.clone(), size, outcome }
            })
            .collect()
    }

    /// Every blob of the image not handed over yet, then the manifest, then the manifest
    /// again under each of `tags`, one after the other (Gitea answers 500 to concurrent manifest PUTs): one [`Pushed`] per reference.
    pub fn finish_tags(mut self, image: &Image, tags: &[String]) -> anyhow::Result<Vec<Pushed>> {
        let dest = self.dest;
        if let Some(want) = &dest.digest {
            if want != &image.manifest_digest {
                return Err(fail(
                    Cause::BadInput,
                    format!("the manifest digest would be {}, not the {want} that {dest} asks for", image.manifest_digest),
                ));
            }
        }
        for desc in image.blobs() {
            let kind = if desc.digest == image.config.digest { "config" } else { "layer" };
            self.blob(kind, &desc.digest, desc.size, &image.blob_path(&desc.digest))?;
        }
        let blobs = self.outcomes(image.blobs().into_iter().map(|d| (&d.digest, d.size)));
        let platforms = platform_of_config(&image.blob_path(&image.config.digest)).into_iter().collect();
        let result = Made { media_type: &image.manifest_media_type, total: image.total_size(), platforms, blobs };
        self.put_tags(&image.manifest, result, tags)
    }

    /// A single image ([`Uploader::finish_tags`]) or an index ([`Uploader::finish_index`]).
    pub fn finish_pushable(self, image: &crate::image::Pushable, tags: &[String]) -> anyhow::Result<Vec<Pushed>> {
        match image {
            crate::image::Pushable::Single(image) => self.finish_tags(image, tags),
            crate::image::Pushable::Index(index) => self.finish_index(index, tags),
        }
    }

    /// A multi-platform image: each child's blobs, then each child's manifest by digest, then
    /// the index under the destination and each of `tags`, one after the other.
    pub fn finish_index(mut self, index: &IndexImage, tags: &[String]) -> anyhow::Result<Vec<Pushed>> {
        if let Some(want) = &self.dest.digest {
            if want != &index.digest {
                return Err(fail(
                    Cause::BadInput,
                    format!("the index digest would be {}, not the {want} that {} asks for", index.digest, self.dest),
                ));
            }
        }
        let mut total = 0;
        for child in &index.children {
            for desc in child.blobs() {
                let kind = if desc.digest == child.config.digest { "config" } else { "layer" };
                self.blob(kind, &desc.digest, desc.size, &child.blob_path(&desc.digest))?;
            }
            interrupt::check()?;
            let repo = self.dest.repository.clone();
            self.registry.put_manifest(&repo, &child.manifest_digest.to_string(), &child.manifest_media_type, &child.manifest)?;
            self.progress.line(format!("pushed the child manifest {}", child.manifest_digest));
            total += child.total_size();
        }
        let blobs = self.outcomes(index.children.iter().flat_map(|c| c.blobs()).map(|d| (&d.digest, d.size)));
        let platforms = platforms_of_index(&index.manifest);
        self.put_tags(&index.manifest, Made { media_type: &index.media_type, total, platforms, blobs }, tags)
    }

    /// PUT the manifest (or index) under the destination, then under each of `tags`.
    fn put_tags(&mut self, manifest: &[u8], result: Made<'_>, tags: &[String]) -> anyhow::Result<Vec<Pushed>> {
        let Made { media_type, total, platforms, blobs } = result;
        let dest = self.dest;
        let mut refs = vec![dest.clone()];
        refs.extend(tags.iter().map(|t| Reference { tag: Some(t.clone()), digest: None, ..dest.clone() }));
        let mut all = Vec::with_capacity(refs.len());
        for (i, r) in refs.into_iter().enumerate() {
            interrupt::check()?;
            let digest = self.registry.put_manifest(&r.repository, &r.manifest_reference(), media_type, manifest)?;
            let mut pushed = r;
            pushed.digest = Some(digest);
            if i == 0 {
                self.progress.line(format!(
                    "pushed {pushed}: {} blobs uploaded ({}), {} mounted, {} already there, {} in all",
                    self.uploaded,
                    human(self.sent),
                    self.mounted,
                    self.skipped,
                    human(total)
                ));
            } else {
                self.progress.line(format!("pushed {pushed}: the same manifest under another tag"));
            }
            let digest = pushed.digest.clone().expect("set above");
            all.push(Pushed {
                reference: pushed.to_string(),
                digest,
                media_type: media_type.to_string(),
                platforms: platforms.clone(),
                size: total,
                blobs: blobs.clone(),
            });
        }
        if let Some(stores) = self.registry.learnt_single_request() {
            self.cache.put_single_request_upload(&self.host, stores);
        }
        Ok(all)
    }
}

/// What [`Uploader::put_tags`] reports of the manifest it puts.
struct Made<'m> {
    media_type: &'m str,
    total: u64,
    platforms: Vec<String>,
    blobs: Vec<BlobDone>,
}

/// `os/arch[/variant]` of an image config file, if it says.
pub fn platform_of_config(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    platform_string(&v)
}

/// `os/arch[/variant]` of each manifest of an index that names its platform.
fn platforms_of_index(index: &[u8]) -> Vec<String> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(index) else { return Vec::new() };
    let manifests = v.get("manifests").and_then(|m| m.as_array()).cloned().unwrap_or_default();
    manifests.iter().filter_map(|m| m.get("platform")).filter_map(platform_string).collect()
}

/// `os/architecture[/variant]` of a JSON object with those fields (a config, an index entry's
/// platform); `unknown/unknown` (attestations) is not a platform.
fn platform_string(v: &serde_json::Value) -> Option<String> {
    let os = v.get("os")?.as_str()?;
    let arch = v.get("architecture")?.as_str()?;
    if os == "unknown" || os.is_empty() || arch.is_empty() {
        return None;
    }
    Some(match v.get("variant").and_then(|x| x.as_str()).filter(|x| !x.is_empty()) {
        Some(variant) => format!("{os}/{arch}/{variant}"),
        None => format!("{os}/{arch}"),
    })
}

#[cfg(test)]
mod platform_tests {
    #[test]
    fn platforms_of_configs_and_indexes() {
        let v = serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
        assert_eq!(super::platform_string(&v).as_deref(), Some("linux/arm64/v8"));
        let index = br#"{"manifests":[{"platform":{"os":"linux","architecture":"amd64"}},{"platform":{"os":"unknown","architecture":"unknown"}},{}]}"#;
        assert_eq!(super::platforms_of_index(index), vec!["linux/amd64".to_string()]);
    }
}
