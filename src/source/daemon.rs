//! The Docker daemon as a source: look the image up, then read its export as it streams.
//!
//! Split in three so each step happens at its time: the lookup (which decides "image not
//! found", and learns the image ID and its layers) before anything else; the export is opened
//! only once the registry has answered; the reading runs on its own thread while earlier layers
//! upload.
//!
//! The export is asked for by image ID, never by name: `GET /images/get?names=myapp` sends
//! every tag of `myapp`, and a name can be re-tagged between inspect and export. The config in
//! the export must hash to that ID, and a layer is handed over for upload only once its
//! diff_id is one of the image's `RootFS.Layers` ([`gate`](crate::source::gate)).

use crate::daemon::{Engine, ImageInfo, ImageStore, Platform};
use crate::digest::Digest;
use crate::error::{fail, Cause};
use crate::image::Image;
use crate::report::progress::{human, Event, Progress};
use crate::source::archive::{self, Expected};
use crate::source::gate::{Gate, Verdict};
use crate::store::{Layer, Store};
use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the export may keep its first byte before progress says we are waiting: Podman
/// writes the whole image to a temporary file before it answers.
const SLOW_START: Duration = Duration::from_secs(2);

/// An image the daemon has: what inspect said about it.
pub struct Found {
    name: String,
    from: String,
    /// The image ID (its config digest) and `RootFS.Layers`.
    expected: Expected,
    /// Where to say that the export is slow to start.
    progress: Progress,
    /// `--platform`: the one platform of a multi-platform image to export.
    platform: Option<Platform>,
    /// The image ID the export is asked for (the inspect's; `expected.id` is the platform's
    /// manifest when one platform of a containerd-store image is exported).
    export_id: String,
    /// What inspect says the image's layers hold, uncompressed.
    size: u64,
}

impl Found {
    /// The image ID: the digest of its config.
    pub fn id(&self) -> &Digest {
        &self.expected.id
    }

    /// `RootFS.Layers`: the image's diff_ids, in order.
    pub fn layers(&self) -> &[Digest] {
        &self.expected.layers
    }
}

/// An image export the daemon has started sending.
pub struct Export {
    found: Found,
    stream: Box<dyn Read + Send>,
}

/// GET /images/{name}/json: the image's ID and layers (a bare `myapp` is `myapp:latest` to
/// the daemon, as to docker).
pub fn lookup(engine: &Engine, name: &str, progress: &Progress) -> anyhow::Result<Found> {
    lookup_platform(engine, name, None, progress)
}

/// [`lookup`] of one platform (`--platform`) of a multi-platform image (the containerd image
/// store), which the export will then be asked for too.
pub fn lookup_platform(engine: &Engine, name: &str, platform: Option<&Platform>, progress: &Progress) -> anyhow::Result<Found> {
    let mut info = engine.inspect_platform(name, platform)?;
    let export_id = info.id.clone();
    if engine.image_store() == ImageStore::Containerd {
        log::debug!("the daemon at {} uses the containerd image store: layers are exported compressed and pushed as they are", engine.host());
        if let Some(p) = platform {
            // One platform's export is that platform's manifest alone: the image is known by
            // the manifest's digest there, not by the index's (the image ID).
            info.id = platform_manifest(engine, name, &info.id, p)?;
        }
    }
    log::debug!("daemon at {} speaks API {}", engine.host(), engine.api_version());
    let from = engine.host().to_string();
    let expected = expected_of(&info, name, &from)?;
    log::debug!("{name} is image {} with {} layers", expected.id, expected.layers.len());
    progress.line(format!("reading {name} ({}) from the daemon at {from}", human(info.size)));
    Ok(Found { name: name.to_string(), from, expected, progress: progress.clone(), platform: platform.cloned(), export_id, size: info.size })
}

/// The digest of image `id`'s manifest for `platform` (containerd store), from inspect's
/// `Manifests`; none available for it is "not found".
fn platform_manifest(engine: &Engine, name: &str, id: &str, platform: &Platform) -> anyhow::Result<String> {
    let manifests = engine.manifests(id)?;
    let images: Vec<_> = manifests.iter().filter(|m| m.kind == "image").collect();
    let found = images.iter().find(|m| m.available && m.platform.as_ref().is_some_and(|p| platform.matches(p)));
    match found {
        Some(m) => Ok(m.digest.clone()),
        None if manifests.is_empty() => Ok(id.to_string()),
        None => {
            let have: Vec<String> = images.iter().filter(|m| m.available).filter_map(|m| m.platform.as_ref().map(|p| p.to_string())).collect();
            Err(fail(
                Cause::ImageNotFound,
                format!("image not found: {name} for {platform} (the daemon at {} has it for {})", engine.host(), if have.is_empty() { "no platform".to_string() } else { have.join(", ") }),
            ))
        }
    }
}

/// The image ID and `RootFS.Layers` of an inspect answer, as digests.
fn expected_of(info: &ImageInfo, name: &str, from: &str) -> anyhow::Result<Expected> {
    let bad = |what: &str, e: anyhow::Error| {
        fail(Cause::DaemonRefused, format!("the docker daemon at {from} sent an invalid {what} for {name}: {e:#}"))
    };
    let id: Digest = info.id.parse().map_err(|e| bad("image ID", e))?;
    let layers = info
        .layers
        .iter()
        .map(|l| l.parse::<Digest>())
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|e| bad("RootFS.Layers", e))?;
    Ok(Expected { id, layers })
}

/// GET /images/get?names=sha256:{id}: the export of exactly the image found. When its first
/// byte takes more than [`SLOW_START`], progress says we are waiting for the daemon.
pub fn open(engine: &Engine, found: Found) -> anyhow::Result<Export> {
    let message = format!("waiting for the daemon at {} to start the export of {} (it may be writing the image to a temporary file first)", found.from, found.name);
    let waiting = Waiting::start(found.progress.clone(), SLOW_START, message);
    let stream = engine.export_platform(&found.export_id, found.platform.as_ref())?;
    Ok(Export { found, stream: Box::new(FirstByte { inner: stream, waiting: Some(waiting) }) })
}

/// The export of `found`, asked for now (`now`: [`open`] on a thread, so the daemon prepares
/// it — dockerd's classic store writes it all to a temp dir before its first byte — while
/// the caller goes on with the registry) or only when [`Pending::open`] is called.
pub fn ask(engine: Engine, found: Found, now: bool) -> Pending {
    if now {
        Pending::Asked(std::thread::spawn(move || open(&engine, found)))
    } else {
        Pending::Later(Box::new((engine, found)))
    }
}

/// An export asked for on a thread, or not yet ([`ask`]).
pub enum Pending {
    Asked(std::thread::JoinHandle<anyhow::Result<Export>>),
    Later(Box<(Engine, Found)>),
}

impl Pending {
    /// The export, once the daemon has started sending it (or its error).
    pub fn open(self) -> anyhow::Result<Export> {
        match self {
            Pending::Asked(thread) => thread.join().map_err(|_| anyhow::anyhow!("the thread asking the daemon for the export panicked"))?,
            Pending::Later(later) => open(&later.0, later.1),
        }
    }
}

/// A thread that prints one progress line unless dropped within its delay.
struct Waiting {
    done: Arc<AtomicBool>,
}

impl Waiting {
    fn start(progress: Progress, after: Duration, message: String) -> Waiting {
        let done = Arc::new(AtomicBool::new(false));
        let seen = done.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            while start.elapsed() < after {
                if seen.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20).min(after));
            }
            if !seen.load(Ordering::Relaxed) {
                progress.line(message);
            }
        });
        Waiting { done }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
    }
}

/// The export stream; the wait is over at its first byte (or error).
struct FirstByte<R> {
    inner: R,
    waiting: Option<Waiting>,
}

impl<R: Read> Read for FirstByte<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf);
        if !buf.is_empty() {
            self.waiting = None;
        }
        n
    }
}

/// Reads the export into `store`; `on_layer` hears of each layer of the image as soon as it
/// is on disk and known to be one of the image's layers.
pub fn read(export: Export, store: Store, progress: &Progress, on_layer: &mut dyn FnMut(&Layer, PathBuf)) -> anyhow::Result<Image> {
    let Export { found: Found { name, from, expected, size, .. }, stream } = export;
    let compressing = !store.uncompressed();
    progress.emit(Event::Reading { what: name.clone(), total: Some(size), daemon: true, compressing });
    let gate = Gate::new(expected.id.clone(), expected.layers.clone());
    let what = format!("the export of {name} ({}) from {from}", expected.id);
    let image = archive::read_with(stream, store, &what, Some(&expected), &mut |path, layer, file| {
        if gate.admit(path, layer)? == Verdict::Upload {
            on_layer(layer, file);
        }
        Ok(())
    })?;
    progress.emit(Event::Read { total: image.total_size() });
    progress.line(format!("{name}: {}, {} compressed", crate::report::progress::count(image.layers.len(), "layer"), human(image.total_size())));
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inspect_answer_must_name_the_image_by_digest() {
        let id = Digest::of(b"config").to_string();
        let layer = Digest::of(b"layer").to_string();
        let info = |id: &str, layers: &[&str]| ImageInfo {
            id: id.into(),
            layers: layers.iter().map(|l| l.to_string()).collect(),
            ..ImageInfo::default()
        };
        let ok = expected_of(&info(&id, &[&layer, &layer]), "a:1", "unix:///d.sock").unwrap();
        assert_eq!((ok.id.to_string(), ok.layers.len()), (id.clone(), 2));
        assert!(expected_of(&info(&id, &[]), "a:1", "unix:///d.sock").unwrap().layers.is_empty());
        for (bad, what) in [(info("abc", &[]), "invalid image ID for a:1"), (info(&id, &["sha256:xyz"]), "invalid RootFS.Layers for a:1")] {
            let e = format!("{:#}", expected_of(&bad, "a:1", "unix:///d.sock").unwrap_err());
            assert!(e.starts_with("the docker daemon at unix:///d.sock sent an") && e.contains(what), "{e}");
        }
    }
}
