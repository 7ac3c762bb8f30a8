//! `idpush build`'s flags and environment, checked into a [`Plan`]: what to build, the base,
//! the outputs, and the push flags (planned by `plan.rs` as `idpush push`'s are).

use crate::source::build::{self, Platform, Settings};
use crate::report::progress;
use crate::{cli, error::fail, error::Cause, output, source};
use std::path::PathBuf;

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
    /// `-H/--host`: the daemon of a daemon base (else found as the docker CLI finds it).
    pub docker_host: Option<String>,
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
        docker_host: args.host,
    })
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
