//! `idpush build CONTEXT`: wires the flags and environment into a build plan, the build
//! (`source/build.rs`) into a store, each `--output` writer (`output/`), and with `--push DEST`
//! the uploader (`push.rs`) with the push plan (`plan.rs`: the same registry, credential, TLS
//! and retry settings as `idpush push`); prints one line per output and per push. The built
//! [`Image`](crate::image::Image) is what `push` uploads. `--base` is read here: a local
//! source as `push` reads it, or an image in a registry (`source/remote.rs`) through its own
//! read-only connection ([`connect_base`]).

use crate::source::build::{self, Platform, Settings};
use crate::digest::Digest;
use crate::report::progress;
use crate::{cli, credentials, error::fail, error::Cause, output, plan, push, registry, report, source, store};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

/// What to build and where to write it: the flags and environment, checked.
#[derive(Debug)]
pub struct Plan {
    pub context: PathBuf,
    pub settings: Settings,
    pub outputs: Vec<output::Target>,
    pub tags: Vec<String>,
    pub quiet: bool,
    /// `--progress` (auto until the build sees whether stderr is a terminal).
    pub progress: progress::Mode,
    /// `--json`: the result as one JSON object.
    pub json: bool,
    pub tmpdir: PathBuf,
    /// `--push DEST`: the push flags, planned by `plan.rs` when the build runs.
    pub push: Option<cli::PushArgs>,
    /// `--base`: the image to build on (a local source as `idpush push` names them, but not
    /// stdin, or a registry reference); None for scratch.
    pub base: Option<BaseRef>,
    /// The TLS, retry and `-r` flags, for reading a base from a registry (its credentials are
    /// looked up for its host, or are --push's when it is the same registry).
    pub base_flags: crate::settings::RegistryFlags,
    /// Whether `--platform` was given (a base then must have that platform).
    pub platform_given: bool,
}

/// Where `--base` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseRef {
    /// A daemon image, archive or layout: read as `idpush push` reads a SOURCE.
    Local(source::Source),
    /// `docker://HOST/REPO[:TAG|@DIGEST]`, or `HOST/REPO...` whose first part is a registry
    /// host (a `.` or `:`, or `localhost`) and that is no path on disk.
    Registry(crate::reference::Reference),
}

impl std::fmt::Display for BaseRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BaseRef::Local(s) => write!(f, "{s}"),
            BaseRef::Registry(r) => write!(f, "{r}"),
        }
    }
}

/// `--base` as typed: `docker-daemon:` and the other prefixes of a local source win; then
/// `docker://REF` is a registry; then a plain string is a path when one exists there, a
/// registry reference when its first part is a registry host, else a daemon image name.
fn parse_base(b: &str, probe: &dyn Fn(&std::path::Path) -> source::PathKind) -> anyhow::Result<Option<BaseRef>> {
    let remote = |r: &str| -> anyhow::Result<BaseRef> {
        let reference = crate::reference::Reference::parse(r).map_err(|e| e.context("in --base"))?;
        if reference.registry.is_none() {
            return Err(fail(
                Cause::BadInput,
                format!("--base {b:?} names no registry host: give docker://HOST[:PORT]/REPO[:TAG], e.g. docker://localhost:5000/base:v1"),
            ));
        }
        Ok(BaseRef::Registry(reference))
    };
    match b {
        "scratch" => Ok(None),
        "" => Err(fail(Cause::BadInput, "--base is empty: give an image (as push takes a SOURCE, or a registry reference), or scratch")),
        _ if b.starts_with("docker://") => remote(&b["docker://".len()..]).map(Some),
        _ => match source::Source::parse(b, probe).map_err(|e| e.context("in --base"))? {
            source::Source::Stdin => Err(fail(Cause::BadInput, "--base -: a base cannot come from stdin; give a file")),
            source::Source::Daemon(name) if !b.starts_with("docker-daemon:") && has_registry_host(&name) => remote(&name).map(Some),
            src => Ok(Some(BaseRef::Local(src))),
        },
    }
}

/// Whether a name's first `/`-part is a registry host, by docker's rule.
fn has_registry_host(name: &str) -> bool {
    crate::reference::Reference::parse(name).is_ok_and(|r| r.registry.is_some())
}

/// Checks every flag (and `SOURCE_DATE_EPOCH`, `TMPDIR`) before anything is read or written.
pub fn plan(args: cli::BuildArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Plan> {
    plan_probing(args, env, &source::probe)
}

/// [`plan`] with the probe that tells what a plain `--base` path holds (a layout, a file...).
pub fn plan_probing(
    args: cli::BuildArgs,
    env: &dyn Fn(&str) -> Option<String>,
    probe: &dyn Fn(&std::path::Path) -> source::PathKind,
) -> anyhow::Result<Plan> {
    let mut args = args;
    let base_flags = crate::settings::RegistryFlags {
        registry: args.registry.clone(),
        insecure: args.insecure,
        ca_cert: args.ca_cert.clone(),
        retries: args.retries,
        retry_max_delay: args.retry_max_delay,
        connect_timeout: args.connect_timeout,
        read_timeout: args.read_timeout,
        ..Default::default()
    };
    let push = args.push_args();
    if let Some(level) = &args.log_level {
        if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
            return Err(fail(Cause::BadInput, format!("--log-level {level:?} is not one of error, warn, info, debug, trace")));
        }
    }
    if args.output.is_empty() && push.is_none() {
        return Err(fail(
            Cause::BadInput,
            "give at least one --output oci-archive:PATH, --output oci:DIR or --push DEST (where the image goes)",
        ));
    }
    let progress = progress::Mode::parse(args.progress.as_deref()).map_err(|e| fail(Cause::BadInput, format!("{e:#}")))?;
    let outputs = args.output.iter().map(|o| output::Target::parse(o)).collect::<anyhow::Result<Vec<_>>>()?;
    for t in &args.tag {
        output::check_tag(t)?;
    }
    let epoch = match env("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => v.parse::<u64>().map_err(|_| {
            fail(Cause::BadInput, format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds since 1970 (e.g. $(git log -1 --format=%ct))"))
        })?,
    };
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let mut settings = Settings::new(platform, epoch);
    for l in &args.label {
        let (k, v) = build::config::parse_pair("--label", l)?;
        settings.labels.insert(k, v);
    }
    for e in &args.env {
        let (k, v) = build::config::parse_pair("--env", e)?;
        settings.set_env(&k, &v);
    }
    settings.entrypoint = args.entrypoint.as_deref().map(|e| build::config::parse_command("--entrypoint", e)).transpose()?;
    settings.cmd = args.cmd.as_deref().map(|c| build::config::parse_command("--cmd", c)).transpose()?;
    if let Some(w) = &args.workdir {
        if !w.starts_with('/') {
            return Err(fail(Cause::BadInput, format!("--workdir {w:?}: give an absolute path (e.g. /app)")));
        }
    }
    settings.workdir = args.workdir;
    if args.user.as_deref() == Some("") {
        return Err(fail(Cause::BadInput, "--user is empty: give a name, a uid, or user:group"));
    }
    settings.user = args.user;
    let tmpdir = args.tmpdir.or_else(|| env("TMPDIR")).filter(|t| !t.is_empty()).unwrap_or_else(|| "/tmp".into());
    let base = match args.base.as_deref() {
        None => None,
        Some(b) => parse_base(b, probe)?,
    };
    Ok(Plan {
        context: args.context.into(),
        settings,
        outputs,
        tags: args.tag,
        quiet: args.quiet,
        progress,
        json: args.json,
        tmpdir: tmpdir.into(),
        push,
        base,
        base_flags,
        platform_given: args.platform.is_some(),
    })
}

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
        Some(p) => Some(registry::Registry::new(registry::Options {
            base_url: p.base_url.clone(),
            http_fallback: p.http_fallback,
            insecure: p.insecure,
            ca_cert: p.ca_cert.clone(),
            chunk_size: p.chunk_size,
            credentials: p.credentials.clone(),
            retries: p.retries,
            retry_max_delay: p.retry_max_delay,
            connect_timeout: p.connect_timeout,
            read_timeout: p.read_timeout,
        })?),
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
            let engine = super::engine(None)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> cli::BuildArgs {
        let mut all = vec!["ctx"];
        all.extend_from_slice(extra);
        <cli::BuildArgs as argh::FromArgs>::from_args(&["build"], &all).unwrap()
    }

    fn err(extra: &[&str], env: &[(&str, &str)]) -> String {
        let env = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        format!("{:#}", plan(args(extra), &env).unwrap_err())
    }

    #[test]
    fn plans_every_flag() {
        let env = |k: &str| (k == "SOURCE_DATE_EPOCH").then(|| "1700000000".to_string());
        let p = plan(
            args(&[
                "--output", "oci:l", "--output", "oci-archive:a.tar:v2", "--tag", "v1", "--label", "a=1", "--label", "a=2",
                "--env", "X=1", "--cmd", "serve", "--entrypoint", "[\"/app\"]", "--workdir", "/w", "--user", "1000:1000",
                "--platform", "linux/arm64", "-q", "--progress", "plain", "--json",
            ]),
            &env,
        )
        .unwrap();
        let outputs: Vec<_> = p.outputs.iter().map(|t| (t.output.clone(), t.tag.clone())).collect();
        assert_eq!(outputs, [(output::Output::OciDir("l".into()), None), (output::Output::OciArchive("a.tar".into()), Some("v2".into()))]);
        assert_eq!(p.settings.epoch, 1_700_000_000);
        assert_eq!(p.settings.labels["a"], "2");
        assert_eq!(p.settings.env, ["X=1"]);
        assert_eq!(p.settings.cmd.as_deref(), Some(&["/bin/sh".to_string(), "-c".into(), "serve".into()][..]));
        assert_eq!(p.settings.entrypoint.as_deref(), Some(&["/app".to_string()][..]));
        assert_eq!(p.settings.platform.architecture, "arm64");
        assert!(p.quiet);
        assert_eq!((p.progress, p.json), (progress::Mode::Plain, true));
        assert_eq!(p.tmpdir, PathBuf::from("/tmp"));
        let p = plan(args(&["--output", "oci:l"]), &|_| None).unwrap();
        assert_eq!((p.settings.epoch, p.settings.platform.clone()), (0, Platform::host()));
        assert_eq!((p.progress, p.json), (progress::Mode::Auto, false));
    }

    #[test]
    fn bad_flags_are_one_line_each() {
        let out = ["--output", "oci:l"];
        fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
            [&["--output", "oci:l"][..], extra].concat()
        }
        assert!(err(&[], &[]).starts_with("give at least one --output"));
        assert!(plan(args(&["--push", "127.0.0.1:5000/a/b:v1"]), &|_| None).unwrap().push.is_some(), "--push alone is enough");
        assert!(err(&["--output", "tar:x"], &[]).starts_with("--output \"tar:x\""));
        assert!(err(&with(&["--label", "novalue"]), &[]).starts_with("--label \"novalue\": give KEY=VALUE"));
        assert!(err(&with(&["--env", "=x"]), &[]).starts_with("--env"));
        assert!(err(&with(&["--tag", "bad tag"]), &[]).starts_with("--tag"));
        assert!(err(&with(&["--platform", "amd64"]), &[]).starts_with("--platform"));
        assert!(err(&with(&["--cmd", "[oops"]), &[]).starts_with("--cmd"));
        assert!(err(&with(&["--workdir", "rel"]), &[]).starts_with("--workdir"));
        assert!(err(&with(&["--log-level", "loud"]), &[]).starts_with("--log-level"));
        assert!(err(&with(&["--base", "docker://y:1"]), &[]).starts_with("--base \"docker://y:1\" names no registry host"));
        assert!(err(&with(&["--base", "docker://x.io/Y"]), &[]).starts_with("in --base: invalid image reference"));
        assert!(err(&with(&["--progress", "fancy"]), &[]).starts_with("--progress \"fancy\": use auto, tty, plain or none"));
        assert!(err(&with(&["--base", "-"]), &[]).starts_with("--base -: a base cannot come from stdin"));
        let base_with = |b: &str, kind: source::PathKind| {
            plan_probing(args(&["--output", "oci:l", "--base", b]), &|_| None, &move |_| kind).unwrap().base
        };
        let base = |b: &str| base_with(b, source::PathKind::Missing);
        let daemon = |n: &str| Some(BaseRef::Local(source::Source::Daemon(n.into())));
        assert_eq!((base("scratch"), base("docker-daemon:a:1"), base("a:1")), (None, daemon("a:1"), daemon("a:1")));
        assert_eq!(base("team/app:1"), daemon("team/app:1"), "no registry host: a daemon image");
        assert!(matches!(base("oci:/l:v1"), Some(BaseRef::Local(source::Source::Oci { .. }))));
        assert!(matches!(base("docker-archive:x.tar"), Some(BaseRef::Local(source::Source::DockerArchive { .. }))));
        // A registry: docker://, or a first part that is a host, unless docker-daemon: or a path says otherwise.
        let remote = |r: &str| Some(BaseRef::Registry(crate::reference::Reference::parse(r).unwrap()));
        assert_eq!(base("docker://127.0.0.1:5000/team/app:v1"), remote("127.0.0.1:5000/team/app:v1"));
        assert_eq!(base("127.0.0.1:5000/team/app:v1"), remote("127.0.0.1:5000/team/app:v1"));
        assert_eq!(base("localhost/app"), remote("localhost/app"));
        assert_eq!(base("reg.example.com/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            remote("reg.example.com/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        assert_eq!(base("docker-daemon:localhost:5000/app:v1"), daemon("localhost:5000/app:v1"));
        assert!(matches!(base_with("reg.example.com/layout", source::PathKind::Layout), Some(BaseRef::Local(source::Source::Oci { .. }))));
        assert!(err(&out, &[("SOURCE_DATE_EPOCH", "yesterday")]).starts_with("SOURCE_DATE_EPOCH=\"yesterday\""));
    }
}
