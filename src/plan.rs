//! Flags + environment → a validated plan: what to push, where, and how to log in.
//!
//! Every check that needs no network happens here, so a bad name or a missing password is
//! reported before any work is done. The environment is passed in as a function, which keeps
//! this testable.

use crate::cli::PushArgs;
use crate::redact::{quote, redact};
use crate::reference::Reference;
use crate::registry::{self, Credentials};
use crate::secret::Secret;
use crate::source::{PathKind, Source};
use anyhow::{anyhow, bail, Context};
use std::path::PathBuf;

pub use crate::settings::is_loopback;
use crate::settings::{self, parse_bool, parse_log_level, parse_registry_url};

pub const DEFAULT_REGISTRY: &str = registry::DEFAULT_BASE_URL;

#[derive(Debug)]
pub struct Plan {
    /// SOURCE as given.
    pub source: String,
    /// What SOURCE names.
    pub from: Source,
    /// DEST is not known yet: the source names its image when read ([`Plan::resolve_dest`]);
    /// `dest` has the registry host only.
    pub dest_pending: bool,
    /// The registry host and the username that a destination is made with.
    dest_rule: (String, Option<String>),
    /// `--tag`: tags pushed besides `dest`'s, in order, each once.
    pub tags: Vec<String>,
    /// `--platform`: of a multi-platform image, the one image to push.
    pub platform: Option<crate::oci::Platform>,
    /// Where it goes: always with a registry host, and a tag or a digest.
    pub dest: Reference,
    /// `http://host[:port]` or `https://host[:port]`, the registry that `dest` names.
    pub base_url: String,
    /// `base_url` is https for a loopback host given without a scheme: plain http is used if
    /// the registry answers the TLS handshake in plain http.
    pub http_fallback: bool,
    pub insecure: bool,
    /// `--ca-cert` / IDPBUILDER_REGISTRY_CA_CERT.
    pub ca_cert: Option<PathBuf>,
    /// `--chunk-size` / IDPUSH_CHUNK_SIZE, in bytes.
    pub chunk_size: u64,
    pub credentials: Credentials,
    /// Where the credentials came from (for the debug log; never a value).
    pub credential_source: String,
    /// Notes from the stored-credential lookup (a helper that could not run, …).
    pub credential_notes: Vec<String>,
    pub quiet: bool,
    pub log_level: log::LevelFilter,
    pub tmpdir: PathBuf,
    /// Retries after a transient failure (attempts = retries + 1).
    pub retries: u32,
    pub retry_max_delay: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    pub read_timeout: std::time::Duration,
    /// `--no-cache` / IDPUSH_NO_CACHE: the layer cache is neither read nor written.
    pub no_cache: bool,
    /// `--compression` and `--compression-level` (or IDPUSH_COMPRESSION[_LEVEL]).
    pub compression: crate::codec::Codec,
    /// `--progress` (auto until the command sees whether stderr is a terminal).
    pub progress: crate::report::progress::Mode,
    /// `--json`: the result as JSON lines.
    pub json: bool,
    /// `--digest-file`: where the manifest digest is written.
    pub digest_file: Option<PathBuf>,
}

/// The plan with no stored credentials (flags and environment only).
#[allow(dead_code)]
pub fn plan(args: PushArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Plan> {
    plan_with(args, env, &|_| Ok(crate::credentials::Lookup::default()))
}

/// The plan; `stored(host)` looks up stored credentials (docker config, credential helpers,
/// podman auth file: `credentials::lookup`), asked only when neither flags nor
/// `IDPBUILDER_REGISTRY_*` give any. Passed in so that this stays free of I/O.
pub fn plan_with(
    args: PushArgs,
    env: &dyn Fn(&str) -> Option<String>,
    stored: &dyn Fn(&str) -> anyhow::Result<crate::credentials::Lookup>,
) -> anyhow::Result<Plan> {
    let from = Source::parse(&args.image, &|_| PathKind::Missing)?;
    plan_from(args, from, env, stored)
}

/// [`plan_with`] for SOURCE already parsed (`Source::parse` with the disk probe).
pub fn plan_from(
    args: PushArgs,
    from: Source,
    env: &dyn Fn(&str) -> Option<String>,
    stored: &dyn Fn(&str) -> anyhow::Result<crate::credentials::Lookup>,
) -> anyhow::Result<Plan> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let log_level = parse_log_level(args.log_level.as_deref(), args.quiet)?;
    let progress = crate::report::progress::Mode::parse(args.progress.as_deref())?;
    let digest_file = match args.digest_file.as_deref() {
        Some("") => anyhow::bail!("--digest-file needs a path"),
        other => other.map(PathBuf::from),
    };
    let insecure = settings::insecure(args.insecure, &var)?;
    // Numbers first: a bad one is refused before any credential lookup.
    let network = settings::network(args.retries, args.retry_max_delay, args.connect_timeout, args.read_timeout, &var)?;
    let settings::Network { retries, retry_max_delay, connect_timeout, read_timeout } = network;
    let any_flag = args.username.is_some() || args.password.is_some() || args.token.is_some() || args.password_stdin;
    let env_filled = (args.username.is_none() && var("IDPBUILDER_REGISTRY_USERNAME").is_some())
        || (args.password.is_none() && var("IDPBUILDER_REGISTRY_PASSWORD").is_some())
        || (args.token.is_none() && var("IDPBUILDER_REGISTRY_TOKEN").is_some());
    let username = args.username.or_else(|| var("IDPBUILDER_REGISTRY_USERNAME"));
    let password = args.password.or_else(|| var("IDPBUILDER_REGISTRY_PASSWORD").map(Secret::new));
    let token = args.token.or_else(|| var("IDPBUILDER_REGISTRY_TOKEN").map(Secret::new));
    let registry_flag = args.registry.or_else(|| var("IDPBUILDER_REGISTRY_URL"));
    let registry = parse_registry_url(registry_flag.as_deref().unwrap_or(DEFAULT_REGISTRY))?;

    let from_flags = args.password_stdin || username.is_some() || password.is_some() || token.is_some();
    let mut credential_source = match (from_flags, any_flag, env_filled) {
        (false, _, _) => "nowhere: anonymous".to_string(),
        (true, false, _) => "IDPBUILDER_REGISTRY_* environment".to_string(),
        (true, true, false) => "flags".to_string(),
        (true, true, true) => "flags and IDPBUILDER_REGISTRY_* environment".to_string(),
    };
    let mut credential_notes = Vec::new();
    let mut found = None;
    let mut tags: Vec<String> = Vec::new();
    for t in &args.tag {
        crate::reference::check_tag(t).with_context(|| format!("--tag {}", quote(t)))?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let platform = args.platform.as_deref().map(crate::oci::Platform::parse).transpose()?;
    // Without DEST, the destination's name comes from SOURCE (a daemon image's name), else
    // from the source when it is read; until then only its host counts.
    let dest_pending = args.dest.is_none() && from.name().is_none();
    let image = from.name().unwrap_or(PENDING_NAME).to_string();
    let mut dest_user = username.clone();
    let mut dest = destination(&image, args.dest.as_deref(), &registry.host, username.as_deref())?;
    if !from_flags {
        let host = dest.registry.clone().expect("destination always has a registry");
        let lookup = stored(&host)?;
        credential_notes = lookup.notes;
        if let Some(f) = lookup.found {
            credential_source = f.source.clone();
            if f.username.is_some() {
                dest = destination(&image, args.dest.as_deref(), &registry.host, f.username.as_deref())?;
                dest_user = f.username.clone();
            }
            found = Some(f.credentials);
        }
    }
    let dest_host = dest.registry.clone().expect("destination always has a registry");
    let scheme = if dest_host == registry.host { registry.scheme } else { None };
    // A loopback registry named without a scheme: HTTPS first, plain HTTP only if it answers
    // the TLS handshake in plain HTTP (as docker and crane do; see `registry::Options`).
    let http_fallback = scheme.is_none() && is_loopback(&dest_host);
    let scheme = scheme.unwrap_or("https");

    let credentials = match found {
        Some(found) => found,
        None => settings::credentials(username, password, token)?,
    };
    settings::refuse_plain_http(scheme, insecure, &dest_host, &credentials)?;
    let ca_cert = args.ca_cert.or_else(|| var("IDPBUILDER_REGISTRY_CA_CERT")).map(PathBuf::from);
    let chunk_size = match args.chunk_size.or_else(|| var("IDPUSH_CHUNK_SIZE")) {
        Some(s) => crate::registry::parse_size(&s).with_context(|| format!("--chunk-size {}", quote(&s)))?,
        None => crate::registry::DEFAULT_CHUNK_SIZE,
    };
    let compression = compression(args.compression.as_deref(), args.compression_level, &var)?;
    let no_cache = args.no_cache
        || match var("IDPUSH_NO_CACHE") {
            Some(v) => parse_bool(&v).ok_or_else(|| {
                anyhow!("IDPUSH_NO_CACHE={} is not a yes or no: use 1/0, true/false, yes/no or on/off", quote(&v))
            })?,
            None => false,
        };
    let tmpdir = args
        .tmpdir
        .or_else(|| var("TMPDIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));

    tags.retain(|t| dest.tag.as_ref() != Some(t));
    Ok(Plan {
        source: args.image,
        from,
        dest_pending,
        dest_rule: (registry.host.clone(), dest_user),
        tags,
        platform,
        base_url: format!("{scheme}://{dest_host}"),
        http_fallback,
        dest,
        insecure,
        ca_cert,
        chunk_size,
        credentials,
        credential_source,
        credential_notes,
        quiet: args.quiet,
        log_level,
        tmpdir,
        retries,
        retry_max_delay,
        connect_timeout,
        read_timeout,
        no_cache,
        compression,
        progress,
        json: args.json,
        digest_file,
    })
}

/// The name a pending destination is made with, for its host alone.
const PENDING_NAME: &str = "idpush-pending";

impl Plan {
    /// The destination of a source that names its image when read (`name`: docker save's
    /// RepoTags, an OCI ref.name), when DEST was not given; nothing when it was.
    pub fn resolve_dest(&mut self, name: Option<&str>) -> anyhow::Result<()> {
        if !self.dest_pending {
            return Ok(());
        }
        let Some(name) = name else {
            return Err(crate::error::fail(
                crate::error::Cause::BadInput,
                format!(
                    "{} does not name its image (no RepoTags, no ref.name with a repository): give a DEST, e.g. `idpush push {} myapp:v1`",
                    self.from,
                    redact(&self.source)
                ),
            ));
        };
        let (host, user) = &self.dest_rule;
        self.dest = destination(name, None, host, user.as_deref())
            .with_context(|| format!("the image name {} that {} gives (or give a DEST)", quote(name), self.from))?;
        self.tags.retain(|t| self.dest.tag.as_ref() != Some(t));
        self.dest_pending = false;
        Ok(())
    }
}

/// The layer codec from `--compression` / IDPUSH_COMPRESSION and `--compression-level` /
/// IDPUSH_COMPRESSION_LEVEL (a flag wins over its variable).
fn compression(
    flag: Option<&str>,
    level_flag: Option<u32>,
    var: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<crate::codec::Codec> {
    use crate::codec::Codec;
    let (name, given) = match flag {
        Some(f) => (f.to_string(), format!("--compression {}", quote(f))),
        None => match var("IDPUSH_COMPRESSION") {
            Some(v) => (v.clone(), format!("IDPUSH_COMPRESSION={} (it stands in for --compression)", quote(&v))),
            None => ("gzip".to_string(), String::new()),
        },
    };
    let level = match level_flag {
        Some(n) => Some((n.to_string(), format!("--compression-level {n}"))),
        None => var("IDPUSH_COMPRESSION_LEVEL")
            .map(|v| (v.clone(), format!("IDPUSH_COMPRESSION_LEVEL={} (it stands in for --compression-level)", quote(&v)))),
    };
    let level = match level {
        None => None,
        Some((v, given)) => match v.trim().parse::<u32>() {
            Ok(n) if n <= 9 => Some((n, given)),
            _ => bail!("{given} is not a gzip level: give a whole number from 0 (stored) to 9 (smallest)"),
        },
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "gzip" => Ok(Codec::Gzip { level: level.map(|(n, _)| n).unwrap_or(1) }),
        "none" => match level {
            Some((_, lg)) => bail!("{lg} has no meaning with --compression none: drop one of them"),
            None => Ok(Codec::None),
        },
        _ => bail!("{given} is not a compression: use gzip or none"),
    }
}

/// The full destination reference: DEST as given (with the registry's host when it names
/// none), else the registry's host plus the image's repository and tag. A one-part repository
/// goes under the lowercased username, as Gitea wants `owner/name`.
fn destination(image: &str, dest: Option<&str>, host: &str, user: Option<&str>) -> anyhow::Result<Reference> {
    let mut r = match dest {
        Some(d) => {
            if let Some((scheme, rest)) = d.split_once("://") {
                // The hint shows DEST without the login (redact hides it as `***@`).
                let rest = redact(rest);
                let (rest, login) = match rest.strip_prefix("***@") {
                    Some(r) => (r.to_string(), ", and the user and password with -u/-p"),
                    None => (rest, ""),
                };
                let host = rest.split('/').next().unwrap_or(&rest);
                bail!(
                    "DEST {} takes no scheme: give it as host[:port]/path/name[:tag] and the scheme with -r{login}, \
                     e.g. `-r {}://{host} {rest}`",
                    quote(d),
                    redact(scheme),
                );
            }
            Reference::parse(d).context("in DEST")?
        }
        None => {
            if image.starts_with("sha256:") || is_short_id(image) {
                bail!(
                    "{} looks like an image ID: give a destination, e.g. `idpush push {} myapp:latest`",
                    quote(image),
                    redact(image)
                );
            }
            let mut r = Reference::parse(image).context("in IMAGE (or give a DEST)")?;
            r.registry = None;
            if r.tag.is_none() && r.digest.is_some() {
                // The pushed manifest has its own digest; name it by tag.
                r.digest = None;
            }
            r
        }
    };
    if r.registry.is_none() {
        r.registry = Some(host.to_string());
        if !r.repository.contains('/') {
            if let Some(u) = user {
                r.repository = format!("{}/{}", u.to_lowercase(), r.repository);
                r = Reference::parse(&r.to_string()).context("the destination under the username")?;
            }
        }
    }
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some("latest".to_string());
    }
    Ok(r)
}

fn is_short_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn args(image: &str, dest: Option<&str>) -> PushArgs {
        PushArgs {
            image: image.into(),
            dest: dest.map(Into::into),
            host: None,
            registry: None,
            username: None,
            password: None,
            password_stdin: false,
            token: None,
            insecure: false,
            ca_cert: None,
            chunk_size: None,
            log_level: None,
            quiet: false,
            tmpdir: None,
            retries: None,
            retry_max_delay: None,
            connect_timeout: None,
            read_timeout: None,
            no_cache: false,
            compression: None,
            compression_level: None,
            tag: vec![],
            platform: None,
            progress: None,
            json: false,
            digest_file: None,
        }
    }

    #[test]
    fn compression_flags_and_environment() {
        use crate::codec::Codec;
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let plan_of = |a: PushArgs, e: &dyn Fn(&str) -> Option<String>| plan(a, e);
        let p = plan_of(args("a:1", Some("127.0.0.1:5000/a:1")), &no_env).unwrap();
        assert_eq!((p.compression, p.no_cache), (Codec::Gzip { level: 1 }, false));
        let mut a = args("a:1", Some("127.0.0.1:5000/a:1"));
        a.compression = Some("none".into());
        a.no_cache = true;
        let p = plan_of(a, &no_env).unwrap();
        assert_eq!((p.compression, p.no_cache), (Codec::None, true));
        let p = plan_of(args("a:1", Some("127.0.0.1:5000/a:1")), &env(&[("IDPUSH_COMPRESSION_LEVEL", "6"), ("IDPUSH_NO_CACHE", "1")])).unwrap();
        assert_eq!((p.compression, p.no_cache), (Codec::Gzip { level: 6 }, true));
        let mut a = args("a:1", Some("127.0.0.1:5000/a:1"));
        a.compression_level = Some(0);
        let p = plan_of(a, &env(&[("IDPUSH_COMPRESSION", "gzip"), ("IDPUSH_COMPRESSION_LEVEL", "9")])).unwrap();
        assert_eq!(p.compression, Codec::Gzip { level: 0 }, "a flag wins over its variable");
        for (flag, level, e, want) in [
            (Some("zstd"), None, &[][..], "--compression \"zstd\" is not a compression: use gzip or none"),
            (None, Some(10), &[][..], "--compression-level 10 is not a gzip level"),
            (None, None, &[("IDPUSH_COMPRESSION_LEVEL", "fast")][..], "IDPUSH_COMPRESSION_LEVEL=\"fast\""),
            (Some("none"), Some(3), &[][..], "--compression-level 3 has no meaning with --compression none"),
        ] {
            let mut a = args("a:1", Some("127.0.0.1:5000/a:1"));
            a.compression = flag.map(Into::into);
            a.compression_level = level;
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(e.to_vec().into_boxed_slice());
            let err = format!("{:#}", plan_of(a, &env(pairs)).unwrap_err());
            assert!(err.contains(want), "{err}");
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn sources_that_name_their_image_later_and_extra_tags() {
        let stored = |_: &str| Ok(crate::credentials::Lookup::default());
        let from = |s: &str| Source::parse(s, &|_| PathKind::Layout).unwrap();
        // A layout without DEST: pending until read; the registry host is known already.
        let mut a = args("oci:/l", None);
        a.registry = Some("http://127.0.0.1:5000".into());
        a.username = Some("Dev".into());
        a.password = Some("pw".into());
        a.tag = vec!["v2".into(), "v1".into(), "v2".into()];
        let mut p = plan_from(a, from("oci:/l"), &no_env, &stored).unwrap();
        assert!(p.dest_pending);
        assert_eq!(p.dest.registry.as_deref(), Some("127.0.0.1:5000"));
        let e = format!("{:#}", p.resolve_dest(None).unwrap_err());
        assert!(e.contains("oci:/l does not name its image") && e.contains("give a DEST"), "{e}");
        p.resolve_dest(Some("team/app:v1")).unwrap();
        assert_eq!(p.dest.to_string(), "127.0.0.1:5000/team/app:v1");
        assert_eq!(p.tags, ["v2"], "each tag once, not the destination's own");
        // A one-part name goes under the user, as for a daemon image.
        let mut p = plan_from(args("-", None), Source::Stdin, &no_env, &stored).unwrap();
        p.resolve_dest(Some("app")).unwrap();
        assert_eq!(p.dest.to_string(), "gitea.cnoe.localtest.me:8443/app:latest");
        // docker-archive:PATH:NAME names it; DEST wins over everything.
        let p = plan_from(args("docker-archive:x.tar:app:v3", None), from("docker-archive:x.tar:app:v3"), &no_env, &stored).unwrap();
        assert!(!p.dest_pending);
        assert_eq!(p.dest.to_string(), "gitea.cnoe.localtest.me:8443/app:v3");
        let mut p = plan_from(args("oci:/l", Some("127.0.0.1:5000/a/b:c")), from("oci:/l"), &no_env, &stored).unwrap();
        p.resolve_dest(Some("other/name:x")).unwrap();
        assert_eq!(p.dest.to_string(), "127.0.0.1:5000/a/b:c");
        for (tag, platform, want) in [("bad tag", None, "--tag \"bad tag\""), ("ok", Some("linux"), "expected os/arch")] {
            let mut a = args("x", Some("127.0.0.1:5000/a/b:c"));
            a.tag = vec![tag.into()];
            a.platform = platform.map(Into::into);
            let e = format!("{:#}", plan(a, &no_env).unwrap_err());
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn default_destination_is_gitea_under_the_lowercased_user() {
        let mut a = args("myapp:latest", None);
        a.username = Some("giteaAdmin".into());
        a.password = Some("pw".into());
        let p = plan(a, &no_env).unwrap();
        assert_eq!(p.dest.to_string(), "gitea.cnoe.localtest.me:8443/giteaadmin/myapp:latest");
        assert_eq!(p.base_url, DEFAULT_REGISTRY);
    }

    #[test]
    fn destinations() {
        let cases: &[(&str, Option<&str>, Option<&str>, &str, &str)] = &[
            ("myapp", None, None, "gitea.cnoe.localtest.me:8443/myapp:latest", "https://gitea.cnoe.localtest.me:8443"),
            ("org/app:v1", None, None, "gitea.cnoe.localtest.me:8443/org/app:v1", "https://gitea.cnoe.localtest.me:8443"),
            ("docker.io/library/nginx:1", None, None, "gitea.cnoe.localtest.me:8443/library/nginx:1", "https://gitea.cnoe.localtest.me:8443"),
            // Loopback without a scheme: https first (falling back to http, see below).
            ("x", Some("127.0.0.1:5000/a/b:t"), None, "127.0.0.1:5000/a/b:t", "https://127.0.0.1:5000"),
            ("x", Some("localhost:5000/a"), None, "localhost:5000/a:latest", "https://localhost:5000"),
            ("x", Some("reg.example.com/a"), None, "reg.example.com/a:latest", "https://reg.example.com"),
            ("x", Some("a/b:c"), Some("http://10.0.0.1:80"), "10.0.0.1:80/a/b:c", "http://10.0.0.1:80"),
            ("x", Some("127.0.0.1:9/a"), Some("https://127.0.0.1:9"), "127.0.0.1:9/a:latest", "https://127.0.0.1:9"),
            ("x", None, Some("127.0.0.1:5000"), "127.0.0.1:5000/x:latest", "https://127.0.0.1:5000"),
            ("x", Some("127.0.0.1:5000/a"), Some("http://127.0.0.1:5000"), "127.0.0.1:5000/a:latest", "http://127.0.0.1:5000"),
        ];
        for (image, dest, reg, want, url) in cases {
            let mut a = args(image, *dest);
            a.registry = reg.map(Into::into);
            let p = plan(a, &no_env).unwrap_or_else(|e| panic!("{image} {dest:?}: {e:#}"));
            assert_eq!(p.dest.to_string(), *want);
            assert_eq!(p.base_url, *url);
            // Plain http only as a fallback, only for loopback hosts named without a scheme.
            let fallback = reg.is_none_or(|r| !r.contains("://")) && crate::plan::is_loopback(p.dest.registry.as_deref().unwrap());
            assert_eq!(p.http_fallback, fallback, "{image} {dest:?} {reg:?}");
        }
    }

    #[test]
    fn rejects_bad_input_before_any_work() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("myapp", Some("127.0.0.1:5000/Team/App"), "lowercase"),
            ("MyApp", None, "lowercase"),
            ("0123456789ab", None, "image ID"),
            ("x", Some("127.0.0.1:5000/a b"), "invalid"),
        ];
        for (image, dest, want) in cases {
            let e = format!("{:#}", plan(args(image, *dest), &no_env).unwrap_err());
            assert!(e.contains(want), "{image} {dest:?}: {e}");
        }
        let mut a = args("x", None);
        a.registry = Some("ftp://x".into());
        assert!(format!("{:#}", plan(a, &no_env).unwrap_err()).contains("scheme"));
        let mut a = args("x", None);
        a.username = Some("u".into());
        assert!(format!("{:#}", plan(a, &no_env).unwrap_err()).contains("password is needed"));
        let mut a = args("x", None);
        a.log_level = Some("loud".into());
        assert!(plan(a, &no_env).is_err());
    }

    #[test]
    fn flags_win_over_environment() {
        let env = |k: &str| match k {
            "IDPBUILDER_REGISTRY_URL" => Some("http://127.0.0.1:7000".to_string()),
            "IDPBUILDER_REGISTRY_USERNAME" => Some("envuser".to_string()),
            "IDPBUILDER_REGISTRY_PASSWORD" => Some("envpass".to_string()),
            "IDPBUILDER_REGISTRY_INSECURE" => Some("true".to_string()),
            _ => None,
        };
        let p = plan(args("app", None), &env).unwrap();
        assert_eq!(p.dest.to_string(), "127.0.0.1:7000/envuser/app:latest");
        assert!(p.insecure);
        assert!(matches!(&p.credentials, Credentials::Basic { username, password } if username == "envuser" && password.expose() == "envpass"));

        let mut a = args("app", None);
        a.registry = Some("http://127.0.0.1:8000".into());
        a.username = Some("flaguser".into());
        a.password = Some("flagpass".into());
        let p = plan(a, &env).unwrap();
        assert_eq!(p.dest.to_string(), "127.0.0.1:8000/flaguser/app:latest");
        assert!(matches!(&p.credentials, Credentials::Basic { username, password } if username == "flaguser" && password.expose() == "flagpass"));

        let mut a = args("app", None);
        a.token = Some("tok".into());
        let p = plan(a, &|_| None).unwrap();
        assert!(matches!(&p.credentials, Credentials::Token(t) if t.expose() == "tok"));
    }

    #[test]
    fn retry_and_timeout_settings() {
        let p = plan(args("x", Some("127.0.0.1:5000/a")), &no_env).unwrap();
        assert_eq!((p.retries, p.retry_max_delay.as_secs()), (9, 30));
        assert_eq!((p.connect_timeout.as_secs(), p.read_timeout.as_secs()), (30, 300));
        let env = |k: &str| match k {
            "IDPBUILDER_RETRIES" => Some("3".to_string()),
            "IDPBUILDER_RETRY_MAX_DELAY" => Some("2".to_string()),
            "IDPBUILDER_CONNECT_TIMEOUT" => Some("4".to_string()),
            "IDPBUILDER_READ_TIMEOUT" => Some("5".to_string()),
            _ => None,
        };
        let p = plan(args("x", Some("127.0.0.1:5000/a")), &env).unwrap();
        assert_eq!((p.retries, p.retry_max_delay.as_secs()), (3, 2));
        assert_eq!((p.connect_timeout.as_secs(), p.read_timeout.as_secs()), (4, 5));
        let mut a = args("x", Some("127.0.0.1:5000/a"));
        a.retries = Some(0);
        a.read_timeout = Some(7);
        let p = plan(a, &env).unwrap();
        assert_eq!((p.retries, p.read_timeout.as_secs()), (0, 7));
        let bad = |k: &str| (k == "IDPBUILDER_RETRIES").then(|| "many".to_string());
        let e = format!("{:#}", plan(args("x", Some("127.0.0.1:5000/a")), &bad).unwrap_err());
        assert!(e.contains("IDPBUILDER_RETRIES") && e.contains("--retries"), "{e}");
        let mut a = args("x", Some("127.0.0.1:5000/a"));
        a.connect_timeout = Some(0);
        assert!(plan(a, &no_env).is_err());
    }

    #[test]
    fn no_credentials_over_plain_http_to_other_hosts() {
        let with_creds = |dest: &str, reg: Option<&str>, insecure: bool| {
            let mut a = args("x", Some(dest));
            a.registry = reg.map(Into::into);
            a.username = Some("u".into());
            a.password = Some("p".into());
            a.insecure = insecure;
            plan(a, &no_env)
        };
        let e = format!("{:#}", with_creds("10.0.0.1:80/a/b", Some("http://10.0.0.1:80"), false).unwrap_err());
        assert!(e.contains("plain http") && e.contains("--insecure"), "{e}");
        assert!(with_creds("10.0.0.1:80/a/b", Some("http://10.0.0.1:80"), true).is_ok());
        assert!(with_creds("127.0.0.1:5000/a/b", None, false).is_ok());
        assert!(with_creds("reg.example/a/b", None, false).is_ok());
        // Anonymous is fine anywhere.
        let mut a = args("x", Some("10.0.0.1:80/a/b"));
        a.registry = Some("http://10.0.0.1:80".into());
        assert!(plan(a, &no_env).is_ok());
        // Chunk sizes.
        let mut a = args("x", Some("127.0.0.1:5000/a"));
        a.chunk_size = Some("64M".into());
        assert_eq!(plan(a, &no_env).unwrap().chunk_size, 64 << 20);
        let mut a = args("x", Some("127.0.0.1:5000/a"));
        a.chunk_size = Some("lots".into());
        assert!(format!("{:#}", plan(a, &no_env).unwrap_err()).contains("--chunk-size"));
    }

    #[test]
    fn stored_credentials_only_without_flags_or_env_and_their_user_owns_the_repo() {
        use crate::credentials::{Found, Lookup};
        let asked = std::cell::Cell::new(0);
        let stored = |host: &str| {
            asked.set(asked.get() + 1);
            assert_eq!(host, "127.0.0.1:7000");
            Ok(Lookup {
                found: Some(Found {
                    credentials: Credentials::Basic { username: "CfgUser".into(), password: Secret::new("pw") },
                    username: Some("CfgUser".into()),
                    source: "docker config /x/config.json (auths)".into(),
                }),
                notes: vec![],
            })
        };
        let mut a = args("app", None);
        a.registry = Some("http://127.0.0.1:7000".into());
        let p = plan_with(a, &no_env, &stored).unwrap();
        assert_eq!(p.dest.to_string(), "127.0.0.1:7000/cfguser/app:latest");
        assert_eq!(p.credential_source, "docker config /x/config.json (auths)");
        assert!(matches!(&p.credentials, Credentials::Basic { username, .. } if username == "CfgUser"));
        let mut a = args("app", None);
        a.registry = Some("http://127.0.0.1:7000".into());
        a.username = Some("flag".into());
        a.password = Some("pw".into());
        let p = plan_with(a, &no_env, &stored).unwrap();
        assert_eq!(asked.get(), 1, "flags given: the stored credentials are not looked up");
        assert_eq!(p.credential_source, "flags");
        let env = |k: &str| (k == "IDPBUILDER_REGISTRY_TOKEN").then(|| "t".to_string());
        let mut a = args("app", None);
        a.registry = Some("http://127.0.0.1:7000".into());
        assert_eq!(plan_with(a, &env, &stored).unwrap().credential_source, "IDPBUILDER_REGISTRY_* environment");
        assert_eq!(asked.get(), 1);
    }

    /// Defect 3 (issue 7): a password or token in the registry URL (flag or env), in DEST or in
    /// a query was echoed whole in the error line.
    #[test]
    fn secrets_in_urls_and_dest_never_reach_the_message() {
        const S: &str = "Hunter2Secret";
        // (registry flag, registry env, DEST, what the message must say)
        let cases: &[(Option<&str>, Option<&str>, Option<&str>, &str)] = &[
            (Some("http://user:Hunter2Secret@127.0.0.1:5000"), None, None, "user or password"),
            (Some("https://Hunter2Secret@reg.example"), None, None, "user or password"),
            (None, Some("http://user:Hunter2Secret@127.0.0.1:5000"), None, "user or password"),
            (Some("https://reg.example?token=Hunter2Secret"), None, None, "no path or query"),
            (Some("https://reg.example/v2/?access_token=Hunter2Secret"), None, None, "no path or query"),
            (Some("ftp://u:Hunter2Secret@reg.example"), None, None, "scheme"),
            (None, None, Some("user:Hunter2Secret@127.0.0.1:5000/x/y:1"), "user or password"),
            (None, None, Some("Hunter2Secret@reg.example/x"), "user or password"),
            (None, None, Some("127.0.0.1:5000/x/y:1?token=Hunter2Secret"), "query"),
            (None, None, Some("http://user:Hunter2Secret@127.0.0.1:5000/x/y:1"), "takes no scheme"),
            (None, None, Some("reg.example/x\n\u{1b}[2Kfake: ok Hunter2Secret@x/y"), "invalid image reference"),
        ];
        for (flag, env_url, dest, want) in cases {
            let mut a = args("x", *dest);
            a.registry = flag.map(Into::into);
            let env = |k: &str| if k == "IDPBUILDER_REGISTRY_URL" { env_url.map(Into::into) } else { None };
            let e = format!("{:#}", plan(a, &env).unwrap_err());
            assert!(e.contains(want), "{flag:?} {env_url:?} {dest:?}: {e}");
            assert!(!e.contains(S) && !e.contains('\n') && !e.contains('\u{1b}'), "secret or control character in: {e}");
        }
        let mut a = args("x", None);
        a.password = Some(S.into());
        a.token = Some(S.into());
        let shown = format!("{a:?}");
        assert!(!shown.contains(S) && shown.contains("<redacted>"), "{shown}");
    }

    /// Defect 4 (issue 7): `--connect-timeout 18446744073709551615` (or the env form) panicked
    /// on an `Instant` overflow. Every duration is refused past its limit.
    #[test]
    fn durations_are_refused_past_their_limit() {
        type Set = fn(&mut PushArgs, u64);
        let flags: &[(&str, &str, Set, u64)] = &[
            ("connect-timeout", "IDPBUILDER_CONNECT_TIMEOUT", |a, n| a.connect_timeout = Some(n), 86_400),
            ("read-timeout", "IDPBUILDER_READ_TIMEOUT", |a, n| a.read_timeout = Some(n), 86_400),
            ("retry-max-delay", "IDPBUILDER_RETRY_MAX_DELAY", |a, n| a.retry_max_delay = Some(n), 3_600),
        ];
        for (flag, env_name, set, max) in flags {
            for n in [u64::MAX, u64::MAX / 1000, max + 1] {
                let mut a = args("x", Some("127.0.0.1:5000/a"));
                set(&mut a, n);
                let e = format!("{:#}", plan(a, &no_env).unwrap_err());
                assert!(e.contains(&format!("--{flag} {n}")) && e.contains("too long") && e.contains(&format!("at most {max} seconds")), "{e}");
                let v = n.to_string();
                let env = |k: &str| (k == *env_name).then(|| v.clone());
                let e = format!("{:#}", plan(args("x", Some("127.0.0.1:5000/a")), &env).unwrap_err());
                assert!(e.contains(&format!("{env_name}=\"{n}\"")) && e.contains(&format!("--{flag}")) && e.contains("too long"), "{e}");
            }
            let mut a = args("x", Some("127.0.0.1:5000/a"));
            set(&mut a, *max);
            assert!(plan(a, &no_env).is_ok(), "--{flag} {max}");
        }
        let mut a = args("x", Some("127.0.0.1:5000/a"));
        a.read_timeout = Some(0);
        assert!(format!("{:#}", plan(a, &no_env).unwrap_err()).contains("--read-timeout 0 is too short"));
        let mut a = args("x", Some("127.0.0.1:5000/a"));
        a.retry_max_delay = Some(0);
        assert_eq!(plan(a, &no_env).unwrap().retry_max_delay, Duration::ZERO);
    }

    /// Defect 11 (issue 7): a bad IDPBUILDER_REGISTRY_INSECURE was silently false.
    #[test]
    fn insecure_environment_values() {
        let cases: &[(&str, Option<bool>)] = &[
            ("1", Some(true)), ("true", Some(true)), ("TRUE", Some(true)), ("yes", Some(true)), ("On", Some(true)),
            ("0", Some(false)), ("false", Some(false)), ("no", Some(false)), ("OFF", Some(false)), ("", Some(false)),
            (" yes ", Some(true)), ("maybe", None), ("2", None), ("y", None), ("truee", None),
        ];
        for (v, want) in cases {
            let env = |k: &str| (k == "IDPBUILDER_REGISTRY_INSECURE").then(|| v.to_string());
            match (plan(args("x", Some("127.0.0.1:5000/a")), &env), want) {
                (Ok(p), Some(w)) => assert_eq!(p.insecure, *w, "{v:?}"),
                (Err(e), None) => {
                    let e = format!("{e:#}");
                    assert!(e.contains("IDPBUILDER_REGISTRY_INSECURE") && e.contains("true/false") && e.contains(&format!("{v:?}")), "{e}");
                }
                (got, _) => panic!("{v:?}: {:?}", got.map(|p| p.insecure)),
            }
        }
        // The flag wins without looking at the environment.
        let mut a = args("x", Some("127.0.0.1:5000/a"));
        a.insecure = true;
        assert!(plan(a, &|k| (k == "IDPBUILDER_REGISTRY_INSECURE").then(|| "maybe".into())).unwrap().insecure);
    }

    /// Defect 11 (issue 7): a scheme in DEST said `registry port "" is not a number`; `[::1]`
    /// without a port was refused; a malformed IPv6 host passed and failed after the image was read.
    #[test]
    fn dest_and_registry_hosts() {
        // (DEST, -r, Ok(destination, base URL) or Err(what the message says))
        let cases: &[(Option<&str>, Option<&str>, Result<(&str, &str), &str>)] = &[
            (Some("http://127.0.0.1:5100/x/y:1"), None, Err("`-r http://127.0.0.1:5100 127.0.0.1:5100/x/y:1`")),
            (Some("https://reg.example/x/y:1"), None, Err("takes no scheme")),
            (Some("http://u:pw@127.0.0.1:5100/x/y:1"), None, Err("with -r, and the user and password with -u/-p, e.g. `-r http://127.0.0.1:5100 127.0.0.1:5100/x/y:1`")),
            // "*": a loopback host without a scheme; how it is reached is the registry's choice (defect 8).
            (Some("[::1]/x:1"), None, Ok(("[::1]/x:1", "*"))),
            (Some("[::1]:5000/x:1"), None, Ok(("[::1]:5000/x:1", "*"))),
            (Some("[2001:db8::1]:443/a/b"), None, Ok(("[2001:db8::1]:443/a/b:latest", "https://[2001:db8::1]:443"))),
            (None, Some("http://[::1]"), Ok(("[::1]/x:latest", "http://[::1]"))),
            (None, Some("https://[::1]:5443/"), Ok(("[::1]:5443/x:latest", "https://[::1]:5443"))),
            (Some("[::1/x"), None, Err("unclosed '['")),
            (Some("[zz::1]:5000/x"), None, Err("not a valid IPv6 address")),
            (Some("[::1]x/y"), None, Err("only :port")),
            (Some("::1/x"), None, Err("in brackets")),
            (Some("reg-.example/x"), None, Err("not a valid host name")),
            (Some("127.0.0.1:/x"), None, Err("registry port \"\"")),
            (None, Some("http://[::1"), Err("unclosed '['")),
            (None, Some("http://[zz::1]:5000"), Err("not a valid IPv6 address")),
        ];
        for (dest, reg, want) in cases {
            let mut a = args("x", *dest);
            a.registry = reg.map(Into::into);
            match (plan(a, &no_env), want) {
                (Ok(p), Ok((d, url))) => {
                    assert_eq!(p.dest.to_string(), *d, "{dest:?} {reg:?}");
                    assert!(*url == "*" || p.base_url == *url, "{dest:?} {reg:?}: {}", p.base_url);
                }
                (Err(e), Err(w)) => {
                    let e = format!("{e:#}");
                    assert!(e.contains(w), "{dest:?} {reg:?}: {e}");
                }
                (got, _) => panic!("{dest:?} {reg:?}: {:?}", got.map(|p| p.dest.to_string()).map_err(|e| format!("{e:#}"))),
            }
        }
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1:5000", "gitea.cnoe.localtest.me:8443"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
