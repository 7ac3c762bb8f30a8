//! The local layer cache: what earlier pushes learned, so that a later push can skip the
//! export, the compression and the upload of what has not changed.
//!
//! # What it holds
//! - **layers**: (diff_id, codec) → the compressed blob idpush made from that layer with that
//!   codec: digest, size, media type. The codec name says everything that changes the output
//!   bytes (back-end, block size, level: `pgzip1-b1m-l1`, `none`), so a different level is a
//!   different key, never a stale answer.
//! - **configs**: image ID → the config bytes. Verifiable: the ID is their sha256, checked on
//!   every read (a mismatch is ignored like a corrupt entry).
//! - **registries**: per registry `host[:port]`, what it did with a single-request upload
//!   (`POST …/uploads/?digest=` with the body: `201` stored it, `202` opened a session), so a
//!   later push does not probe again (`registries.rs`).
//! - **registry blobs**: (registry `host[:port]`, digest) → the repositories of that registry
//!   known to hold the blob, most recently confirmed first (at most [`MAX_REPOS`]): where to
//!   HEAD it and where to mount it from. A repository that turns out not to hold it (404 on
//!   HEAD, a refused mount, denied) is forgotten with [`Cache::forget_repository`]. An empty
//!   answer means "never seen in this registry".
//!
//! # The contract: hints, never trusted
//! Every answer may be wrong: the registry may have deleted a blob (garbage collection, a reset
//! registry on the same port), another tool may have edited the cache, a disk may have lied.
//! The cache checks only what it can check locally (a config's sha256, that a record is whole
//! and names the key it is stored under); it stores a claim as given — a layer record with a
//! wrong size reads back with that wrong size. **The push confirms every claim against the
//! registry before it skips anything**: a layer is skipped only after a HEAD of its compressed
//! digest answers 200 with the cached size as `Content-Length` (or a mount answers 201); on a
//! mismatch it forgets the claim and does the work (export, compress, upload). The cache has no
//! end-to-end test of its own for that; the wiring's tests cover it (a wrong-size claim, a layer
//! deleted from the registry behind the cache's back).
//!
//! # How a push uses it
//! ```text
//! cache  = --no-cache ? Cache::disabled() : Cache::from_env(&env)
//! config = cache.config(&image_id)                  // None: the export is needed anyway
//! for each diff_id of the image (inspect's RootFS.Layers):
//!     known = cache.layer(&diff_id, codec)           // the blob this layer became before
//!     where = cache.repositories(registry, &known.digest)
//!     HEAD /v2/<dest repo>/blobs/<digest>            // 200 + Content-Length == known.size: skip
//!     else POST /v2/<dest repo>/blobs/uploads/?mount=<digest>&from=<where[i]>   // 201: skip
//!     a 404 / refused mount / size mismatch: cache.forget_repository(registry, &digest, repo)
//!                                            (a size mismatch: cache.forget_layer too)
//! all confirmed and config cached: push the manifest, no export; else export and compress
//! (or only hash, for confirmed layers), then for each blob pushed, mounted or confirmed:
//!     cache.put_layer(&diff_id, codec, &CachedLayer { digest, size, media_type })
//!     cache.add_repository(registry, &digest, dest repo)
//! cache.put_config(&image_id, &config_bytes)
//! ```
//!
//! # Failure is never an error
//! Nothing here returns an error or panics on bad disk state. A missing, truncated, garbage,
//! oversized or unreadable entry reads as absent, with a `log::debug!` line naming the file. A
//! cache dir that cannot be created or written (read-only, a file in the way, no `HOME`) turns
//! the cache off for the run with one debug line; a write that fails later is a debug line. The
//! push goes on without it either way.
//!
//! # On disk (format v1)
//! Under the cache dir (`$IDPUSH_CACHE_DIR`, else `$XDG_CACHE_HOME/idpush`, else
//! `~/.cache/idpush`; `--no-cache` is [`Cache::disabled`]), dirs mode 0700, files 0600 (a
//! config can carry an image's `Env`), a `CACHEDIR.TAG` so backup tools skip it, and:
//! ```text
//! v1/layers/<diff_id hex>.<codec>      {"diffId":"sha256:…","codec":"pgzip1-b1m-l1",
//!                                       "digest":"sha256:…","size":123,"mediaType":"…"}
//! v1/configs/<image id hex>            the config bytes, exactly as the daemon gave them
//! v1/blobs/<digest hex>@<registry>     {"registry":"localhost:5000","digest":"sha256:…",
//!                                       "repositories":["team/app","team/base"]}
//! v1/registries/<registry>             {"registry":"localhost:5000","singleRequestUpload":false}
//! ```
//! `<registry>` is the lowercased `host[:port]` with every byte outside `[a-z0-9.-]` written as
//! `%xx` (`localhost%3a5000`). Codecs are `[A-Za-z0-9_.-]`, at most 64 bytes. A JSON record
//! repeats its key, and a record that does not match the name it is read under is ignored.
//! Unknown JSON fields are ignored (v1 may gain optional fields); any other change of format
//! goes to `v2/`, and `v1/` can then be deleted by hand. Temp files are `.tmp-*` in the same
//! dir. Nothing secret is stored: no credentials, no tokens, no registry answers beyond
//! "this repository holds this digest".
//!
//! # Concurrency and growth
//! Writes are atomic (temp file in the same dir, then rename; see `shelf.rs`), so concurrent
//! idpush processes never see a partial entry. The one read-modify-write, adding or forgetting
//! a repository, re-reads after its rename and merges again (up to three times) when another
//! process's rename replaced its own; a change can still be lost under heavy contention, which
//! costs a HEAD or an upload later, never a wrong push. Each kind has a cap ([`Limits`]): one
//! new entry in `prune_every` (chosen by a hash of its name, so about one in that many new
//! entries, whatever the process) lists that kind's dir, and if it holds more than the cap,
//! removes the least recently used (by mtime; a hit refreshes an mtime older than an hour)
//! down to nine tenths of the cap. A push that only hits the cache lists nothing.


mod location;
mod registries;
mod shelf;
#[cfg(test)]
mod tests;

use crate::digest::Digest;
use serde::{Deserialize, Serialize};
use registries::MAX_REGISTRIES;
use shelf::Shelf;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The format version: the one dir under the cache dir this code reads and writes.
const VERSION_DIR: &str = "v1";

/// The most repositories remembered per (registry, blob); the least recent fall off.
pub const MAX_REPOS: usize = 32;

/// The largest config kept (real ones are a few KiB to a few hundred).
const MAX_CONFIG: u64 = 8 << 20;

/// The largest JSON record read (real ones are a few hundred bytes).
const MAX_RECORD: u64 = 64 << 10;

/// How many times adding or forgetting a repository re-reads and merges again.
const MERGE_ATTEMPTS: usize = 3;

const CACHEDIR_TAG: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by idpush.\n\
# For information about cache directory tags, see https://bford.info/cachedir/\n";

/// What the cache says about a layer compressed with a codec: the blob the push made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedLayer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// The cap of each kind (entries), and how often a new entry checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub layers: usize,
    pub configs: usize,
    pub blobs: usize,
    /// One new entry in this many checks its kind's cap (1: every new entry).
    pub prune_every: u64,
}

impl Default for Limits {
    /// About 3 MB of layer records, 1,000 configs (typically 2–50 KiB each), 4 MB of blob
    /// records; a check lists a dir about once in 32 new entries.
    fn default() -> Limits {
        Limits { layers: 10_000, configs: 1_000, blobs: 20_000, prune_every: 32 }
    }
}

/// The cache, or its absence (`--no-cache`, or no usable dir): then every lookup misses and
/// every write does nothing. Cheap to clone; clones share the dir.
#[derive(Debug, Clone)]
pub struct Cache {
    shelves: Option<Shelves>,
}

#[derive(Debug, Clone)]
struct Shelves {
    root: PathBuf,
    layers: Shelf,
    configs: Shelf,
    blobs: Shelf,
    registries: Shelf,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LayerRecord {
    diff_id: Digest,
    codec: String,
    digest: Digest,
    size: u64,
    media_type: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BlobRecord {
    registry: String,
    digest: Digest,
    repositories: Vec<String>,
}

impl Cache {
    /// No cache: for `--no-cache`.
    pub fn disabled() -> Cache {
        Cache { shelves: None }
    }

    /// The cache in the dir the environment names (see the module doc), or none, with a debug
    /// line saying why. `env` is `|k| std::env::var(k).ok()` in the binary.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Cache {
        match location::dir_from_env(env) {
            Ok(dir) => Cache::open(&dir),
            Err(why) => {
                log::debug!("{why}");
                Cache::disabled()
            }
        }
    }

    /// The cache in `dir` (created if missing) with the default [`Limits`]; off, with a debug
    /// line, if the dir cannot be created or written.
    pub fn open(dir: &Path) -> Cache {
        Cache::open_with(dir, Limits::default())
    }

    /// [`Cache::open`] with other caps.
    pub fn open_with(dir: &Path, limits: Limits) -> Cache {
        match Shelves::create(dir, limits) {
            Ok(shelves) => {
                log::debug!("layer cache at {}", shelves.root.display());
                Cache { shelves: Some(shelves) }
            }
            Err(why) => {
                log::debug!("layer cache off: {why}");
                Cache::disabled()
            }
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.shelves.is_some()
    }

    /// The cache dir (the one holding `v1/`), if the cache is on.
    #[allow(dead_code)] // only tests and tools read it
    pub fn dir(&self) -> Option<&Path> {
        self.shelves.as_ref().map(|s| s.root.as_path())
    }

    /// The blob this layer became with this codec, as an earlier push recorded it. A hint:
    /// confirm it with a HEAD (size included) before skipping anything.
    pub fn layer(&self, diff_id: &Digest, codec: &str) -> Option<CachedLayer> {
        let shelves = self.shelves.as_ref()?;
        quiet(shelves.load_layer(diff_id, codec))
    }

    /// Records what a layer became with a codec, as given (sizes are not checked here).
    pub fn put_layer(&self, diff_id: &Digest, codec: &str, layer: &CachedLayer) {
        let Some(shelves) = &self.shelves else { return };
        let Some(name) = layer_name(diff_id, codec) else {
            log::debug!("not caching layer {diff_id}: codec name {codec:?} is not [A-Za-z0-9_.-], 1 to 64 bytes");
            return;
        };
        if layer.media_type.is_empty() {
            log::debug!("not caching layer {diff_id}: empty media type");
            return;
        }
        let record = LayerRecord {
            diff_id: diff_id.clone(),
            codec: codec.to_string(),
            digest: layer.digest.clone(),
            size: layer.size,
            media_type: layer.media_type.clone(),
        };
        logged(shelves.layers.write(&name, &json(&record)));
    }

    /// Drops what the cache says about a layer and codec (after the registry contradicted it).
    pub fn forget_layer(&self, diff_id: &Digest, codec: &str) {
        if let (Some(shelves), Some(name)) = (&self.shelves, layer_name(diff_id, codec)) {
            shelves.layers.remove(&name);
        }
    }

    /// The config bytes of an image, checked: their sha256 is `image_id`.
    pub fn config(&self, image_id: &Digest) -> Option<Vec<u8>> {
        let shelves = self.shelves.as_ref()?;
        quiet(shelves.load_config(image_id))
    }

    /// Keeps an image's config; bytes that do not hash to `image_id` are not kept.
    pub fn put_config(&self, image_id: &Digest, bytes: &[u8]) {
        let Some(shelves) = &self.shelves else { return };
        if Digest::of(bytes) != *image_id {
            log::debug!("not caching the config of {image_id}: its bytes hash to {}", Digest::of(bytes));
            return;
        }
        if bytes.len() as u64 > MAX_CONFIG {
            log::debug!("not caching the config of {image_id}: {} bytes, more than {MAX_CONFIG}", bytes.len());
            return;
        }
        logged(shelves.configs.write(image_id.hex(), bytes));
    }

    /// The repositories of `registry` (`host[:port]`, the same form every time) known to hold
    /// `digest`, most recently confirmed first; empty if the blob was never seen there.
    pub fn repositories(&self, registry: &str, digest: &Digest) -> Vec<String> {
        let Some(shelves) = &self.shelves else { return Vec::new() };
        quiet(shelves.load_blob(registry, digest)).unwrap_or_default()
    }

    /// Records that `repo` of `registry` holds `digest` (pushed, mounted or confirmed by HEAD).
    pub fn add_repository(&self, registry: &str, digest: &Digest, repo: &str) {
        if !valid_repo(repo) {
            log::debug!("not caching repository {repo:?}: not a repository name");
            return;
        }
        self.merge_repositories(registry, digest, repo, true);
    }

    /// Forgets that `repo` of `registry` holds `digest` (HEAD said 404, a mount was refused,
    /// the registry denied access).
    pub fn forget_repository(&self, registry: &str, digest: &Digest, repo: &str) {
        self.merge_repositories(registry, digest, repo, false);
    }

    /// Adds `repo` at the front (`add`) or removes it, then re-reads: if another process's
    /// rename replaced ours, merges into what it wrote, up to [`MERGE_ATTEMPTS`] writes.
    fn merge_repositories(&self, registry: &str, digest: &Digest, repo: &str, add: bool) {
        let Some(shelves) = &self.shelves else { return };
        let Some((registry, name)) = blob_key(registry, digest) else {
            log::debug!("not caching blob {digest}: registry {registry:?} is not host[:port]");
            return;
        };
        for attempt in 0..=MERGE_ATTEMPTS {
            let mut repos = quiet(shelves.load_blob(&registry, digest)).unwrap_or_default();
            let done = if add {
                // First write: only "already first" is done; after it, "still there" is.
                if attempt == 0 { repos.first().map(String::as_str) == Some(repo) } else { repos.iter().any(|r| r == repo) }
            } else {
                !repos.iter().any(|r| r == repo)
            };
            if done || attempt == MERGE_ATTEMPTS {
                return;
            }
            repos.retain(|r| r != repo);
            if add {
                repos.insert(0, repo.to_string());
                repos.truncate(MAX_REPOS);
            }
            if repos.is_empty() {
                shelves.blobs.remove(&name);
            } else {
                let record = BlobRecord { registry: registry.clone(), digest: digest.clone(), repositories: repos };
                if logged(shelves.blobs.write(&name, &json(&record))).is_none() {
                    return;
                }
            }
        }
    }
}

impl Shelves {
    /// The three kind dirs under `root/v1`, created and checked writable.
    fn create(root: &Path, limits: Limits) -> Result<Shelves, String> {
        let version = root.join(VERSION_DIR);
        let shelf = |kind: &str, cap: usize, max_entry: u64| {
            let dir = version.join(kind);
            Shelf::create(dir.clone(), cap, limits.prune_every, max_entry)
                .map_err(|e| format!("cannot create {}: {}", dir.display(), e.to_string().to_lowercase()))
        };
        let layers = shelf("layers", limits.layers, MAX_RECORD)?;
        // Existing dirs "create" fine when read-only: one probe says whether the cache is
        // writable (the three dirs share their owner and mode; a later failure is a debug line).
        layers.probe()?;
        let shelves = Shelves {
            layers,
            configs: shelf("configs", limits.configs, MAX_CONFIG)?,
            blobs: shelf("blobs", limits.blobs, MAX_RECORD)?,
            registries: shelf("registries", MAX_REGISTRIES, MAX_RECORD)?,
            root: root.to_path_buf(),
        };
        shelves.tag();
        Ok(shelves)
    }

    /// Writes `CACHEDIR.TAG` if it is missing (a failure only loses the tag).
    fn tag(&self) {
        let path = self.root.join("CACHEDIR.TAG");
        if path.exists() {
            return;
        }
        if let Ok(mut f) = OpenOptions::new().write(true).create_new(true).open(&path) {
            let _ = f.write_all(CACHEDIR_TAG);
        }
    }

    fn load_layer(&self, diff_id: &Digest, codec: &str) -> Result<Option<CachedLayer>, String> {
        let Some(name) = layer_name(diff_id, codec) else { return Ok(None) };
        let Some(bytes) = self.layers.read(&name)? else { return Ok(None) };
        let path = self.layers.path(&name);
        let r: LayerRecord = parse(&bytes, &path)?;
        if r.diff_id != *diff_id || r.codec != codec {
            return Err(format!("ignoring cache entry {}: it records layer {} with codec {:?}", path.display(), r.diff_id, r.codec));
        }
        if r.media_type.is_empty() {
            return Err(format!("ignoring cache entry {}: empty media type", path.display()));
        }
        Ok(Some(CachedLayer { digest: r.digest, size: r.size, media_type: r.media_type }))
    }

    fn load_config(&self, image_id: &Digest) -> Result<Option<Vec<u8>>, String> {
        let Some(bytes) = self.configs.read(image_id.hex())? else { return Ok(None) };
        let actual = Digest::of(&bytes);
        if actual != *image_id {
            let path = self.configs.path(image_id.hex());
            return Err(format!("ignoring cache entry {}: its bytes hash to {actual}, not the image ID", path.display()));
        }
        Ok(Some(bytes))
    }

    fn load_blob(&self, registry: &str, digest: &Digest) -> Result<Option<Vec<String>>, String> {
        let Some((registry, name)) = blob_key(registry, digest) else { return Ok(None) };
        let Some(bytes) = self.blobs.read(&name)? else { return Ok(None) };
        let path = self.blobs.path(&name);
        let r: BlobRecord = parse(&bytes, &path)?;
        if r.registry != registry || r.digest != *digest {
            return Err(format!("ignoring cache entry {}: it records blob {} in {:?}", path.display(), r.digest, r.registry));
        }
        if let Some(bad) = r.repositories.iter().find(|repo| !valid_repo(repo)) {
            return Err(format!("ignoring cache entry {}: {bad:?} is not a repository name", path.display()));
        }
        Ok(Some(r.repositories))
    }
}

impl Shelf {
    /// Creates and removes a temp file: the dir is writable, or the reason it is not.
    fn probe(&self) -> Result<(), String> {
        let probe = self.path(&format!(".tmp-probe-{}", std::process::id()));
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&probe)
            .map_err(|e| format!("cannot write in {}: {}", probe.parent().unwrap_or(&probe).display(), e.to_string().to_lowercase()))?;
        let _ = std::fs::remove_file(&probe);
        Ok(())
    }
}

/// The file name of a layer record, if the codec name is one we accept.
fn layer_name(diff_id: &Digest, codec: &str) -> Option<String> {
    let ok = !codec.is_empty()
        && codec.len() <= 64
        && !codec.starts_with('.')
        && codec.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    ok.then(|| format!("{}.{codec}", diff_id.hex()))
}

/// The normalized registry (lowercased `host[:port]`) and the file name of a blob record, if
/// `registry` is a host and the name fits.
fn blob_key(registry: &str, digest: &Digest) -> Option<(String, String)> {
    let (r, escaped) = blob_key_registry(registry)?;
    Some((r, format!("{}@{escaped}", digest.hex())))
}

/// A registry's `host[:port]` lowercased, and as a file name (see [`escape`]); None if it is
/// not a plain `host[:port]`.
fn blob_key_registry(registry: &str) -> Option<(String, String)> {
    let r = registry.to_ascii_lowercase();
    let escaped = escape(&r);
    let ok = !r.is_empty() && !r.contains('/') && r.bytes().all(|b| b.is_ascii_graphic()) && escaped.len() <= 180;
    ok.then_some((r, escaped))
}

/// `[a-z0-9.-]` as is, every other byte as `%xx`: a registry as a file name part.
fn escape(registry: &str) -> String {
    let mut out = String::with_capacity(registry.len());
    for b in registry.bytes() {
        if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// A repository name as registries spell them: path components, no spaces or controls.
fn valid_repo(repo: &str) -> bool {
    !repo.is_empty() && repo.len() <= 255 && repo.bytes().all(|b| b.is_ascii_graphic())
}

fn json<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("a cache record always serializes")
}

fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8], path: &Path) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("ignoring cache entry {}: {e}", path.display()))
}

/// A load's answer, with the reason an entry was unusable logged at debug and read as absent.
fn quiet<T>(loaded: Result<Option<T>, String>) -> Option<T> {
    loaded.unwrap_or_else(|why| {
        log::debug!("{why}");
        None
    })
}

/// A write's outcome, its failure logged at debug: `Some(())` if it was written.
fn logged(written: Result<(), String>) -> Option<()> {
    written.map_err(|why| log::debug!("{why}")).ok()
}
