//! idpush: push a container image from where a developer has it to an OCI registry.
//!
//! The binary is glue: flags → plan → source → image on disk → registry upload → result.
//! Each stage is a module; errors carry their class to the exit code (`exit.rs`).

mod cli;
mod codec;
mod credentials;
mod daemon;
mod digest;
mod error;
mod exit;
mod image;
mod interrupt;
mod oci;
mod plan;
mod progress;
mod push;
mod reference;
mod registry;
mod secret;
mod source;
mod store;

use anyhow::Context;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli: cli::Cli = argh::from_env();
    if cli.version {
        println!("idpush {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let Some(cli::Command::Push(args)) = cli.command else {
        eprintln!("idpush: give a command: `idpush push IMAGE [DEST]` (see `idpush push --help`)");
        return ExitCode::from(exit::ERROR);
    };
    interrupt::install();
    match run(args) {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    }
}

fn run(args: cli::PushArgs) -> anyhow::Result<ExitCode> {
    let mut args = args;
    if args.password_stdin {
        args.password = Some(read_password_stdin(args.password.is_some())?);
    }
    let env = |k: &str| std::env::var(k).ok();
    let plan = plan::plan_with(args, &env, &|host| credentials::lookup(host, &env))?;
    init_logger(plan.log_level);
    for note in &plan.credential_notes {
        log::debug!("{note}");
    }
    log::debug!("credentials for {} from {}", plan.dest.registry.as_deref().unwrap_or("?"), plan.credential_source);
    let progress = progress::Progress::new(plan.quiet);

    let mut registry = registry::Registry::new(registry::Options {
        base_url: plan.base_url.clone(),
        insecure: plan.insecure,
        ca_cert: plan.ca_cert.clone(),
        chunk_size: plan.chunk_size,
        credentials: plan.credentials.clone(),
        retries: plan.retries,
        retry_max_delay: plan.retry_max_delay,
        connect_timeout: plan.connect_timeout,
        read_timeout: plan.read_timeout,
    })?;
    let engine = daemon::Engine::connect(daemon::DockerHost::from_env()?)?;
    // Nothing is read from the export before the registry has answered and accepted us.
    let found = source::daemon::lookup(&engine, &plan.source, &progress)?;
    let context = || format!("pushing {} to {}", plan.source, plan.dest);
    progress.line(context());
    let mut uploader = push::Uploader::new(&mut registry, &plan.dest, &progress).with_context(context)?;
    uploader.authenticate(found.id()).with_context(context)?;
    let store = store::Store::create(&plan.tmpdir)?;
    let export = source::daemon::open(&engine, found)?;

    // The export is read (and layers compressed) on a thread; each layer of the image uploads
    // as soon as it is on disk, while the next one is read.
    let (layers, spooled) = std::sync::mpsc::channel();
    let reader_progress = progress.clone();
    // Held until the uploads are done: a reader that fails must not remove files being uploaded.
    let _keep = store.clone();
    let reader = std::thread::spawn(move || {
        source::daemon::read(export, store, &reader_progress, &mut |layer, path| {
            let _ = layers.send((layer.blob.clone(), path));
        })
    });
    let pushed = upload(uploader, spooled, reader).with_context(context).inspect_err(|_| store::remove_all())?;

    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", pushed.reference).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the result"),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// Uploads layers as the reader hands them over, then whatever else the image needs and the
/// manifest.
fn upload(
    mut uploader: push::Uploader<'_>,
    spooled: std::sync::mpsc::Receiver<(store::Blob, std::path::PathBuf)>,
    reader: std::thread::JoinHandle<anyhow::Result<image::Image>>,
) -> anyhow::Result<push::Pushed> {
    for (blob, path) in spooled {
        uploader.blob("layer", &blob.digest, blob.size, &path)?;
    }
    let image = reader.join().map_err(|_| anyhow::anyhow!("the image reader thread panicked"))??;
    uploader.finish(&image)
}

/// The password for `--password-stdin`: stdin up to the first newline (a trailing `\r\n` or
/// `\n` dropped).
fn read_password_stdin(also_flag: bool) -> anyhow::Result<String> {
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

fn init_logger(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        // ureq's protocol crate hex-dumps raw requests, Authorization included, at trace.
        .filter_module("ureq_proto", level.min(log::LevelFilter::Debug))
        // rustls dumps every handshake message at trace: noise, not registry traffic.
        .filter_module("rustls", level.min(log::LevelFilter::Debug))
        .format(|buf, record| writeln!(buf, "idpush: {}: {}", record.level().as_str().to_lowercase(), record.args()))
        .target(env_logger::Target::Stderr)
        .init();
}
