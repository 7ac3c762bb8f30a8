//! The Docker daemon as a source: look the image up, then read its export as it streams.

use crate::daemon::Engine;
use crate::image::Image;
use crate::progress::{human, Progress};
use crate::source::archive;
use crate::store::Store;

pub fn load(engine: &Engine, name: &str, store: Store, progress: &Progress) -> anyhow::Result<Image> {
    let info = engine.inspect(name)?;
    log::debug!("daemon at {} speaks API {}", engine.host(), engine.api_version());
    progress.line(format!("reading {name} ({}) from the daemon at {}", human(info.size), engine.host()));
    let stream = engine.export(name)?;
    let image = archive::read(stream, store, &format!("the export of {name} from {}", engine.host()))?;
    progress.line(format!("{name}: {} layers, {} compressed", image.layers.len(), human(image.total_size())));
    Ok(image)
}
