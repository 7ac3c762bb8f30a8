//! `idpush push` from a source other than the daemon: an archive, stdin, an OCI layout.

use crate::report::progress;
use crate::{plan, push, registry, source, store};
use anyhow::Context;

/// A source other than the daemon. An archive (or stdin) is read whole before anything goes
/// up (only then is it known which layers are its image's); the destination is learnt from it
/// when DEST was not given; then its blobs and manifest go up. An OCI layout directory with a
/// DEST streams like the daemon's export ([`push_layout`]).
pub(super) fn push_read(plan: &mut plan::Plan, registry: &mut registry::Registry, progress: &progress::Progress) -> anyhow::Result<Vec<push::Pushed>> {
    let store = store::Store::create(&plan.tmpdir)?.with_codec(plan.compression);
    progress.line(format!("reading {}", plan.from));
    let compressing = !store.uncompressed();
    progress.emit(progress::Event::Reading { what: plan.from.to_string(), total: None, daemon: false, compressing });
    if matches!(plan.from, source::Source::Oci { .. }) && !plan.dest_pending {
        return push_layout(plan, store, registry, progress);
    }
    // The registry answers before a long archive (or stdin, which cannot be read again) is read.
    registry.ping().with_context(|| format!("pushing {} to {}", plan.from, plan.dest.registry.as_deref().unwrap_or("?")))?;
    let read = source::read(&plan.from, store, plan.platform.as_ref()).inspect_err(|_| store::remove_all())?;
    plan.resolve_dest(read.name.as_deref()).inspect_err(|_| store::remove_all())?;
    progress.emit(progress::Event::Read { total: read.image.total_size() });
    let plan = &*plan;
    let context = || format!("pushing {} to {}", plan.from, plan.dest);
    progress.line(format!("{context}: {}, {} compressed", read.image.describe(), progress::human(read.image.total_size()), context = context()));
    let cache = plan.cache(&|k: &str| std::env::var(k).ok());
    let host = plan.dest.registry.clone().unwrap_or_default();
    let mut uploader = push::Uploader::new(registry, &plan.dest, progress).with_context(context)?.with_cache(cache, &host);
    uploader.authenticate(read.image.config_digest()).with_context(context)?;
    uploader.finish_pushable(&read.image, &plan.tags).with_context(context)
    .inspect_err(|_| store::remove_all())
}

/// An OCI layout directory to a known destination: its index, manifest and config are read
/// first, so each layer goes up as soon as it is spooled (and checked to be one of the
/// image's), while the next one is read; the rest and the manifest after.
fn push_layout(
    plan: &plan::Plan,
    store: store::Store,
    registry: &mut registry::Registry,
    progress: &progress::Progress,
) -> anyhow::Result<Vec<push::Pushed>> {
    let context = || format!("pushing {} to {}", plan.from, plan.dest);
    progress.line(context());
    let cache = plan.cache(&|k: &str| std::env::var(k).ok());
    let host = plan.dest.registry.clone().unwrap_or_default();
    let mut uploader =
        push::Uploader::new(registry, &plan.dest, progress).with_context(context)?.with_cache(cache, &host).following(store.spools());
    let (layers, spooled) = std::sync::mpsc::channel();
    // Held until the uploads are done: a reader that fails must not remove files being uploaded.
    let _keep = store.clone();
    let (from, platform) = (plan.from.clone(), plan.platform.clone());
    let reader = std::thread::spawn(move || {
        source::read_with(&from, store, platform.as_ref(), &mut |_, layer, path| {
            let _ = layers.send((layer.blob.clone(), path));
            Ok(())
        })
    });
    let pushed = (|| {
        while let Some((blob, path)) = uploader.next_layer(&spooled)? {
            uploader.blob("layer", &blob.digest, blob.size, &path)?;
        }
        let read = reader.join().map_err(|_| anyhow::anyhow!("the layout reader thread panicked"))??;
        progress.emit(progress::Event::Read { total: read.image.total_size() });
        progress.line(format!("{}: {}, {} compressed", plan.from, read.image.describe(), progress::human(read.image.total_size())));
        uploader.finish_pushable(&read.image, &plan.tags)
    })();
    pushed.with_context(context).inspect_err(|_| store::remove_all())
}
