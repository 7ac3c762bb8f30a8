//! The Docker daemon as a source: look the image up, then read its export as it streams.
//!
//! Split in two so the lookup (which decides "image not found") happens before anything else,
//! and the reading can run on its own thread while earlier layers upload.

use crate::daemon::Engine;
use crate::image::Image;
use crate::progress::{human, Progress};
use crate::source::archive;
use crate::store::{Layer, Store};
use std::io::Read;
use std::path::PathBuf;

/// An image export the daemon has started sending.
pub struct Export {
    name: String,
    from: String,
    stream: Box<dyn Read + Send>,
}

/// GET /images/{name}/json, then GET /images/get?names={name}.
pub fn open(engine: &Engine, name: &str, progress: &Progress) -> anyhow::Result<Export> {
    let info = engine.inspect(name)?;
    log::debug!("daemon at {} speaks API {}", engine.host(), engine.api_version());
    progress.line(format!("reading {name} ({}) from the daemon at {}", human(info.size), engine.host()));
    let stream = engine.export(name)?;
    Ok(Export { name: name.to_string(), from: engine.host().to_string(), stream })
}

/// Reads the export into `store`; `on_layer` hears of each layer as soon as it is on disk.
pub fn read(export: Export, store: Store, progress: &Progress, on_layer: &mut dyn FnMut(&Layer, PathBuf)) -> anyhow::Result<Image> {
    let Export { name, from, stream } = export;
    let image = archive::read_with(stream, store, &format!("the export of {name} from {from}"), on_layer)?;
    progress.line(format!("{name}: {} layers, {} compressed", image.layers.len(), human(image.total_size())));
    Ok(image)
}
