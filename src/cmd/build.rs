//! `idpush build CONTEXT`: wires the flags and environment into a build plan, the build
//! (`source/build.rs`) into a store, each `--output` writer (`output/`), and with `--push DEST`
//! the uploader (`push.rs`) with the push plan (`plan.rs`: the same registry, credential, TLS
//! and retry settings as `idpush push`); prints one line per output and per push. The built
//! [`Image`](crate::image::Image) is what `push` uploads. `--base` is read here: a local
//! source as `push` reads it, or an image in a registry (`source/remote.rs`) through its own
//! read-only connection ([`connect_base`]).

use crate::source::build::{self, Platform};
use crate::digest::Digest;
use crate::report::progress;
use crate::{cli, credentials, error::fail, error::Cause, output, plan, push, registry, report, source, store};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

mod settings;
pub use settings::{plan, BaseRef, Plan};

pub fn run(args: cli::BuildArgs) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let env = |k: &str| std::env::var(k).ok();
    let mut plan = plan(args, &env)?;
    let daemon_source = matches!(plan.base, Some(BaseRef::Local(source::Source::Daemon(_))));
    let Some(mut push_args) = plan.push.take() else {
        // A --base that is not found gets the daemon's hint (`docker images`).
        let facts = report::hint::Facts { daemon_source, ..Default::default() };
        let mut remote = connect_base(&plan, None, &env)?;
        return build_and_write(&plan, None, remote.as_mut(), started).map_err(|e| report::hint::add(e, &facts));
    };
    // The push is planned, and the registry asked to accept us, before anything is built.
    if push_args.password_stdin {
        push_args.password = Some(super::push::read_password_stdin(push_args.password.is_some())?.into());
    }
    let from = source::Source::Daemon(push_args.image.clone());
    let push_plan = plan::plan_from(push_args, from, &env, &|host| credentials::lookup(host, &env))?;
    for note in &push_plan.credential_notes {
        log::debug!("{note}");
    }
    let host = push_plan.dest.registry.clone().unwrap_or_default();
    let facts = report::hint::Facts {
        daemon_source,
        ..report::hint::Facts::registry(&push_plan.base_url, &host, &push_plan.credentials, &push_plan.credential_source)
    };
    let mut remote = connect_base(&plan, Some(&push_plan), &env)?;
    build_and_write(&plan, Some(&push_plan), remote.as_mut(), started).map_err(|e| report::hint::add(e, &facts))
}

/// A base in a registry: that registry, reached for reading (pull tokens) and pinged, with
/// the facts its errors' hints name. Its credentials are --push's when it is the same
/// registry, else its own host's (docker's config, credential helpers); the
/// IDPBUILDER_REGISTRY_* credentials go only to the --push registry.
pub struct RemoteBase {
    registry: registry::Registry,
    host: String,
    facts: report::hint::Facts,
}

fn connect_base(plan: &Plan, push_plan: Option<&plan::Plan>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Option<RemoteBase>> {
    let Some(BaseRef::Registry(reference)) = &plan.base else { return Ok(None) };
    let host = reference.registry.clone().unwrap_or_default();
    let flags = crate::settings::RegistryFlags {
        registry: plan.base_flags.registry.clone(),
        insecure: plan.base_flags.insecure,
        ca_cert: plan.base_flags.ca_cert.clone(),
        retries: plan.base_flags.retries,
        retry_max_delay: plan.base_flags.retry_max_delay,
        connect_timeout: plan.base_flags.connect_timeout,
        read_timeout: plan.base_flags.read_timeout,
        ..Default::default()
    };
    let own = |k: &str| if k.starts_with("IDPBUILDER_REGISTRY_") && k != "IDPBUILDER_REGISTRY_URL" && k != "IDPBUILDER_REGISTRY_CA_CERT" { None } else { env(k) };
    let mut access = crate::settings::read_access(flags, Some(&host), &own, &|h| credentials::lookup(h, env))?;
    if let Some(p) = push_plan.filter(|p| p.dest.registry.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(&host))) {
        access.options.credentials = p.credentials.clone();
        access.credential_source = p.credential_source.clone();
        access.options.base_url = p.base_url.clone();
        access.options.http_fallback = p.http_fallback;
    }
    for note in &access.credential_notes {
        log::debug!("{note}");
    }
    log::debug!("credentials for the base's registry {} from {}", access.host, access.credential_source);
    let facts = report::hint::Facts::registry(&access.options.base_url, &access.host, &access.options.credentials, &access.credential_source);
    let connected = registry::Registry::new(access.options).and_then(|r| {
        let mut r = r.read_only();
        r.ping()?;
        Ok(r)
    });
    let registry = connected.with_context(|| format!("reading the base image {reference}")).map_err(|e| report::hint::add(e, &facts))?;
    Ok(Some(RemoteBase { registry, host, facts }))
}

/// The build, its outputs, and the push when there is one.
fn build_and_write(
    plan: &Plan,
    push_plan: Option<&plan::Plan>,
    mut remote: Option<&mut RemoteBase>,
    started: std::time::Instant,
) -> anyhow::Result<ExitCode> {
    let progress = progress::Progress::for_run(plan.progress, plan.quiet, &|k| std::env::var(k).ok());
    let mut registry = match push_plan {
        None => None,
        Some(p) => Some(registry::Registry::new(p.registry_options())?),
    };
    let mut uploader = match (&mut registry, push_plan) {
        (Some(registry), Some(p)) => {
            let context = || format!("pushing the build of {} to {}", plan.context.display(), p.dest);
            let mut uploader = push::Uploader::new(registry, &p.dest, &progress).with_context(context)?;
            // HEAD of the empty blob: refused credentials fail here, before the build.
            uploader.authenticate(&Digest::of(b"")).with_context(context)?;
            Some(uploader)
        }
        _ => None,
    };

    // The outputs, when inside the context, stay out of the image (a rebuild would pack the
    // last result); as canonical paths, like the walk's.
    let outputs: Vec<PathBuf> = plan.outputs.iter().filter_map(|o| canonical(o.output.path())).collect();
    let entries = build::walk(&plan.context, &outputs)?;
    progress.line(format!("building {} ({} entries)", plan.context.display(), entries.len()));
    // Made after the walk, so a TMPDIR inside the context is not packed either.
    let store = store::Store::create(&plan.tmpdir)?;
    let base = match &plan.base {
        None => None,
        Some(src) => {
            // A base in the --push registry: its layers are mounted from its repository (or
            // found in the destination), not sent; with no --output they are not even read
            // unless that fails.
            let same = match (src, push_plan) {
                (BaseRef::Registry(r), Some(p)) => r.registry.as_deref().zip(p.dest.registry.as_deref()).is_some_and(|(a, b)| a.eq_ignore_ascii_case(b)),
                _ => false,
            };
            let mut have = |d: &crate::oci::Descriptor| -> anyhow::Result<bool> {
                match (&mut uploader, src) {
                    (Some(u), BaseRef::Registry(r)) if same => {
                        u.known_in(&r.repository, [d.digest.clone()]);
                        Ok(plan.outputs.is_empty() && u.present_without_copy("layer", &d.digest, d.size)?)
                    }
                    _ => Ok(false),
                }
            };
            Some(read_base(plan, src, remote.as_deref_mut(), store.clone(), &progress, &mut have).inspect_err(|_| store::remove_all())?)
        }
    };
    let image = build::build_on(&plan.context, &entries, &plan.settings, base.as_ref(), store)
        .inspect_err(|_| store::remove_all())?;
    let from_base = base.as_ref().map_or(0, |b| b.layers.len());
    for (i, layer) in image.layers.iter().enumerate() {
        let how = if i < from_base { "from the base" } else { "built" };
        progress.line(format!("layer {} {} {how}", progress::short(&layer.digest), progress::human(layer.size)));
    }
    let mut written = Vec::new();
    for out in &plan.outputs {
        crate::interrupt::check()?;
        // The output's own :TAG first, then every --tag.
        let mut tags: Vec<String> = out.tag.iter().cloned().collect();
        tags.extend(plan.tags.iter().filter(|t| out.tag.as_ref() != Some(*t)).cloned());
        output::write(&image, &out.output, &tags).inspect_err(|_| store::remove_all())?;
        progress.line(format!("wrote {out}"));
        written.push(report::built::Written { target: out, tags });
    }
    let mut pushed = Vec::new();
    if let (Some(uploader), Some(p)) = (uploader.take(), push_plan) {
        let context = || format!("pushing the build of {} to {}", plan.context.display(), p.dest);
        pushed = uploader.finish_tags(&image, &[]).with_context(context).inspect_err(|_| store::remove_all())?;
    }
    // The progress block is closed, then stdout gets the result in one write (a closed stdout,
    // `| true`, is not an error: the image is written).
    progress::close();
    let built = report::built::Built {
        image: &image,
        from_base,
        platform: crate::push::platform_of_config(&image.blob_path(&image.config.digest)),
        outputs: &written,
        pushed: &pushed,
        seconds: started.elapsed().as_secs_f64(),
    };
    report::stdout(&report::built::result(&built, plan.json))?;
    Ok(ExitCode::SUCCESS)
}

/// Reads the base image into `store` as `idpush push` reads a source (the daemon's by ID; every
/// blob checked against its descriptor, every layer against the config), and checks its
/// platform. Of a multi-platform base, `--platform` picks the image.
fn read_base(
    plan: &Plan,
    base: &BaseRef,
    remote: Option<&mut RemoteBase>,
    store: store::Store,
    progress: &progress::Progress,
    have: &mut dyn FnMut(&crate::oci::Descriptor) -> anyhow::Result<bool>,
) -> anyhow::Result<build::Base> {
    let src = match (base, remote) {
        (BaseRef::Local(src), _) => src,
        (BaseRef::Registry(r), Some(remote)) => {
            progress.line(format!("reading {r} from the registry"));
            let platform = crate::oci::Platform {
                os: plan.settings.platform.os.clone(),
                architecture: plan.settings.platform.architecture.clone(),
                variant: plan.settings.platform.variant.clone(),
            };
            let image = source::remote::read(&mut remote.registry, &r.repository, &r.manifest_reference(), &platform, &r.to_string(), store, have)
                .with_context(|| format!("reading the base image {r}"))
                .map_err(|e| report::hint::add(e, &remote.facts))?;
            log::debug!("the base {r} is {} from {}", image.manifest_digest, remote.host);
            return base_of(plan, &image, &r.to_string());
        }
        (BaseRef::Registry(r), None) => return Err(fail(Cause::BadInput, format!("the base {r}: its registry is not connected"))),
    };
    let image = match src {
        source::Source::Daemon(name) => {
            let engine = super::engine(plan.docker_host.as_deref())?;
            let found = source::daemon::lookup(&engine, name, progress)?;
            let export = source::daemon::open(&engine, found)?;
            source::daemon::read(export, store, progress, &mut |_, _| {})?
        }
        other => {
            progress.line(format!("reading {other}"));
            let want = plan.platform_given.then(|| crate::oci::Platform {
                os: plan.settings.platform.os.clone(),
                architecture: plan.settings.platform.architecture.clone(),
                variant: plan.settings.platform.variant.clone(),
            });
            match source::read(other, store, want.as_ref())?.image {
                crate::image::Pushable::Single(image) => image,
                crate::image::Pushable::Index(_) => {
                    return Err(fail(
                        Cause::BadInput,
                        format!("the base {other} is a multi-platform image: give --platform os/arch to build on one of them"),
                    ))
                }
            }
        }
    };
    base_of(plan, &image, &src.to_string())
}

/// The base of an image read into the store, whose platform must be `--platform`'s if given.
fn base_of(plan: &Plan, image: &crate::image::Image, name: &str) -> anyhow::Result<build::Base> {
    let base = build::Base::of(image).with_context(|| format!("reading the base image {name}"))?;
    if let Some(p) = build::config::platform_of(&base.config) {
        if plan.platform_given && p != plan.settings.platform {
            let show = |p: &Platform| format!("{}/{}{}", p.os, p.architecture, p.variant.as_deref().map(|v| format!("/{v}")).unwrap_or_default());
            return Err(fail(
                Cause::BadInput,
                format!("--platform {} does not match the base image {name}, which is {}", show(&plan.settings.platform), show(&p)),
            ));
        }
    }
    Ok(base)
}

/// `path` made absolute through its parent dir's canonical path (the path itself may not exist
/// yet); None if the parent cannot be resolved (the writer then reports it).
fn canonical(path: &std::path::Path) -> Option<PathBuf> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    Some(std::fs::canonicalize(parent).ok()?.join(path.file_name()?))
}
