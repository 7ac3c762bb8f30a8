//! `idpush push SOURCE [DEST]`: wires the stages — plan, daemon lookup, layer cache, spool,
//! uploader — and prints the pushed reference.

use crate::report::progress;
use crate::{cli, codec, credentials, image, plan, push, registry, report, source, store};
use anyhow::Context;
use std::process::ExitCode;

mod sources;
use sources::push_read;

pub fn run(args: cli::PushArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let mut args = args;
    if args.image == cli::STDIN {
        args.image = "-".to_string();
    }
    if args.password_stdin && args.image == "-" {
        anyhow::bail!("--password-stdin and SOURCE - both read stdin: give the password with --password or IDPBUILDER_REGISTRY_PASSWORD");
    }
    let host_flag = args.host.take();
    if args.password_stdin {
        args.password = Some(read_password_stdin(args.password.is_some())?.into());
    }
    let env = |k: &str| std::env::var(k).ok();
    let from = source::Source::parse(&args.image, &source::probe)?;
    let plan = plan::plan_from(args, from, &env, &|host| credentials::lookup(host, &env))?;
    debug_assert_eq!(plan.log_level, log::max_level(), "main started the logger at the level the plan chose");
    for note in &plan.credential_notes {
        log::debug!("{note}");
    }
    log::debug!("credentials for {} from {}", plan.dest.registry.as_deref().unwrap_or("?"), plan.credential_source);
    let host = plan.dest.registry.clone().unwrap_or_default();
    let facts = report::hint::Facts {
        daemon_source: matches!(plan.from, source::Source::Daemon(_)),
        ..report::hint::Facts::registry(&plan.base_url, &host, &plan.credentials, &plan.credential_source)
    };
    push(plan, host_flag.as_deref(), &env, started).map_err(|e| report::hint::add(e, &facts))
}

/// The push itself, once the plan is made.
fn push(mut plan: plan::Plan, host_flag: Option<&str>, env: &dyn Fn(&str) -> Option<String>, started: std::time::Instant) -> anyhow::Result<ExitCode> {
    let progress = progress::Progress::for_run(plan.progress, plan.quiet, env);

    let mut registry = registry::Registry::new(plan.registry_options())?;
    let name = match &plan.from {
        source::Source::Daemon(name) => name.clone(),
        _ => {
            let pushed = push_read(&mut plan, &mut registry, &progress)?;
            return print(&plan, &pushed, started);
        }
    };
    let engine = super::engine(host_flag)?;
    // Nothing is read from the export before the registry has answered and accepted us.
    // --platform picks one image of a daemon with the containerd image store (API 1.49+).
    let found = source::daemon::lookup_platform(&engine, &name, plan.platform.as_ref(), &progress)?;
    let context = || format!("pushing {} to {}", plan.source, plan.dest);
    progress.line(context());
    // What earlier pushes learned, each claim confirmed with the registry (push/cached.rs).
    let cache = plan.cache(env);
    let codec = codec::Encoder::new(plan.compression).name();
    let host = plan.dest.registry.clone().unwrap_or_default();
    let mut uploader =
        push::Uploader::new(&mut registry, &plan.dest, &progress).with_context(context)?.with_cache(cache.clone(), &host);
    uploader.authenticate(found.id()).with_context(context)?;

    let (image_id, diff_ids) = (found.id().clone(), found.layers().to_vec());
    // An export the cache cannot spare is asked for now: the daemon prepares it while the
    // registry confirms what the cache says (a round trip per layer to a far registry).
    let claims = push::claims(&cache, &codec, &image_id, &diff_ids);
    let export = source::daemon::ask(engine, found, claims.export_needed());
    let confirmed = push::confirm_cached(&cache, claims, &host, &mut uploader).with_context(context)?;
    let store = store::Store::create(&plan.tmpdir)?.with_codec(plan.compression).with_known(confirmed.layers.clone());
    let uploader = uploader.following(store.spools());

    let (pushed, image) = if let Some(config) = confirmed.everything() {
        progress.line(format!("every layer is in {} already (layer cache, confirmed): no export needed", plan.dest.repository));
        let image = confirmed.image(store, config, &diff_ids)?;
        let pushed = uploader.finish_tags(&image, &plan.tags).with_context(context).inspect_err(|_| store::remove_all())?;
        (pushed, image)
    } else {
        let export = export.open()?;
        // The export is read (and layers compressed) on a thread; each layer of the image
        // uploads as soon as it is on disk, while the next one is read.
        let (layers, spooled) = std::sync::mpsc::channel();
        let reader_progress = progress.clone();
        // Held until the uploads are done: a reader that fails must not remove files being uploaded.
        let _keep = store.clone();
        let reader = std::thread::spawn(move || {
            source::daemon::read(export, store, &reader_progress, &mut |layer, path| {
                let _ = layers.send((layer.blob.clone(), path));
            })
        });
        upload(uploader, spooled, reader, &plan.tags).with_context(context).inspect_err(|_| store::remove_all())?
    };
    push::remember(&cache, &codec, &host, &plan.dest.repository, &image_id, &diff_ids, &image);
    drop(image);

    print(&plan, &pushed, started)
}

/// The progress block is closed, the `--digest-file` written, then stdout gets one line (or
/// with `--json` one object) per pushed reference.
fn print(plan: &plan::Plan, pushed: &[push::Pushed], started: std::time::Instant) -> anyhow::Result<ExitCode> {
    progress::close();
    if let (Some(path), Some(first)) = (&plan.digest_file, pushed.first()) {
        report::pushed::digest_file(path, &first.digest.to_string())?;
    }
    report::stdout(&report::pushed::result(pushed, plan.json, started.elapsed().as_secs_f64()))?;
    Ok(ExitCode::SUCCESS)
}

/// Uploads layers as the reader hands them over, then whatever else the image needs and the
/// manifest; returns the image too (its store still holds the config).
fn upload(
    mut uploader: push::Uploader<'_>,
    spooled: std::sync::mpsc::Receiver<(store::Blob, std::path::PathBuf)>,
    reader: std::thread::JoinHandle<anyhow::Result<image::Image>>,
    tags: &[String],
) -> anyhow::Result<(Vec<push::Pushed>, image::Image)> {
    while let Some((blob, path)) = uploader.next_layer(&spooled)? {
        uploader.blob("layer", &blob.digest, blob.size, &path)?;
    }
    let image = reader.join().map_err(|_| anyhow::anyhow!("the image reader thread panicked"))??;
    Ok((uploader.finish_tags(&image, tags)?, image))
}

/// The password for `--password-stdin`: stdin up to the first newline (a trailing `\r\n` or
/// `\n` dropped).
pub(super) fn read_password_stdin(also_flag: bool) -> anyhow::Result<String> {
    use std::io::BufRead;
    if also_flag {
        anyhow::bail!("give either --password or --password-stdin, not both");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password from stdin")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        anyhow::bail!("--password-stdin: stdin gave an empty password");
    }
    Ok(password.to_string())
}
