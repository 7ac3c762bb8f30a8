//! Flags + environment → a validated plan: what to push, where, and how to log in.
//!
//! Every check that needs no network happens here, so a bad name or a missing password is
//! reported before any work is done. The environment is passed in as a function, which keeps
//! this testable.

use crate::cli::PushArgs;
use crate::reference::Reference;
use crate::registry::{self, Credentials};
use crate::secret::Secret;
use anyhow::{bail, Context};
use std::path::PathBuf;

pub const DEFAULT_REGISTRY: &str = registry::DEFAULT_BASE_URL;

#[derive(Debug)]
pub struct Plan {
    /// The image as the daemon knows it.
    pub source: String,
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
}

/// A registry URL as the user gave it: scheme (if any) and `host[:port]`.
#[derive(Debug, PartialEq)]
struct RegistryUrl {
    scheme: Option<&'static str>,
    host: String,
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
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let log_level = parse_log_level(args.log_level.as_deref(), args.quiet)?;
    let insecure = args.insecure || var("IDPBUILDER_REGISTRY_INSECURE").is_some_and(|v| truthy(&v));
    let any_flag = args.username.is_some() || args.password.is_some() || args.token.is_some() || args.password_stdin;
    let env_filled = (args.username.is_none() && var("IDPBUILDER_REGISTRY_USERNAME").is_some())
        || (args.password.is_none() && var("IDPBUILDER_REGISTRY_PASSWORD").is_some())
        || (args.token.is_none() && var("IDPBUILDER_REGISTRY_TOKEN").is_some());
    let username = args.username.or_else(|| var("IDPBUILDER_REGISTRY_USERNAME"));
    let password = args.password.or_else(|| var("IDPBUILDER_REGISTRY_PASSWORD"));
    let token = args.token.or_else(|| var("IDPBUILDER_REGISTRY_TOKEN"));
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
    let mut dest = destination(&args.image, args.dest.as_deref(), &registry.host, username.as_deref())?;
    if !from_flags {
        let host = dest.registry.clone().expect("destination always has a registry");
        let lookup = stored(&host)?;
        credential_notes = lookup.notes;
        if let Some(f) = lookup.found {
            credential_source = f.source.clone();
            if f.username.is_some() {
                dest = destination(&args.image, args.dest.as_deref(), &registry.host, f.username.as_deref())?;
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

    let credentials = match (username, password, token) {
        _ if found.is_some() => found.expect("checked"),
        (Some(u), _, Some(t)) => Credentials::Basic { username: u, password: Secret::new(t) },
        (None, _, Some(t)) => Credentials::Token(Secret::new(t)),
        (Some(u), Some(p), None) => Credentials::Basic { username: u, password: Secret::new(p) },
        (Some(u), None, None) => bail!(
            "a password is needed for user {u:?}: give --password, --token or IDPBUILDER_REGISTRY_PASSWORD"
        ),
        (None, Some(_), None) => {
            bail!("a password was given without a username: give --username or IDPBUILDER_REGISTRY_USERNAME")
        }
        (None, None, None) => Credentials::Anonymous,
    };
    let number = |flag: Option<u64>, name: &str, env_name: &str, default: u64| -> anyhow::Result<u64> {
        match flag {
            Some(n) => Ok(n),
            None => match var(env_name) {
                Some(v) => v.trim().parse::<u64>().map_err(|_| {
                    anyhow::anyhow!("{env_name}={v:?} is not a whole number (it stands in for --{name})")
                }),
                None => Ok(default),
            },
        }
    };
    let retries = number(args.retries.map(u64::from), "retries", "IDPBUILDER_RETRIES", registry::DEFAULT_RETRIES.into())?;
    let retries = u32::try_from(retries).map_err(|_| anyhow::anyhow!("--retries {retries} is too large"))?;
    let secs = std::time::Duration::from_secs;
    let retry_max_delay = secs(number(args.retry_max_delay, "retry-max-delay", "IDPBUILDER_RETRY_MAX_DELAY", registry::DEFAULT_RETRY_MAX_DELAY.as_secs())?);
    let connect_timeout = secs(number(args.connect_timeout, "connect-timeout", "IDPBUILDER_CONNECT_TIMEOUT", registry::DEFAULT_CONNECT_TIMEOUT.as_secs())?);
    let read_timeout = secs(number(args.read_timeout, "read-timeout", "IDPBUILDER_READ_TIMEOUT", registry::DEFAULT_READ_TIMEOUT.as_secs())?);
    if connect_timeout.is_zero() || read_timeout.is_zero() {
        bail!("--connect-timeout and --read-timeout must be at least 1 second");
    }
    if scheme == "http" && !insecure && !is_loopback(&dest_host) && !matches!(credentials, Credentials::Anonymous) {
        bail!(
            "refusing to send credentials over plain http to {dest_host}: use an https:// registry URL, \
             or --insecure to allow it"
        );
    }
    let ca_cert = args.ca_cert.or_else(|| var("IDPBUILDER_REGISTRY_CA_CERT")).map(PathBuf::from);
    let chunk_size = match args.chunk_size.or_else(|| var("IDPUSH_CHUNK_SIZE")) {
        Some(s) => crate::registry::parse_size(&s).with_context(|| format!("--chunk-size {s:?}"))?,
        None => crate::registry::DEFAULT_CHUNK_SIZE,
    };
    let tmpdir = args
        .tmpdir
        .or_else(|| var("TMPDIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));

    Ok(Plan {
        source: args.image,
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
    })
}

/// The full destination reference: DEST as given (with the registry's host when it names
/// none), else the registry's host plus the image's repository and tag. A one-part repository
/// goes under the lowercased username, as Gitea wants `owner/name`.
fn destination(image: &str, dest: Option<&str>, host: &str, user: Option<&str>) -> anyhow::Result<Reference> {
    let mut r = match dest {
        Some(d) => Reference::parse(d).context("in DEST")?,
        None => {
            if image.starts_with("sha256:") || is_short_id(image) {
                bail!("{image:?} looks like an image ID: give a destination, e.g. `idpush push {image} myapp:latest`");
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

fn parse_registry_url(s: &str) -> anyhow::Result<RegistryUrl> {
    let (scheme, rest) = match s.split_once("://") {
        Some(("https", rest)) => (Some("https"), rest),
        Some(("http", rest)) => (Some("http"), rest),
        Some((other, _)) => bail!("registry URL {s:?} has scheme {other:?}: use https:// or http://"),
        None => (None, s),
    };
    let host = rest.trim_end_matches('/');
    if host.contains('/') || host.contains('@') || host.is_empty() {
        bail!("registry URL {s:?} must be scheme://host[:port], with no path or user");
    }
    Reference::parse(&format!("{host}/x")).with_context(|| format!("registry URL {s:?}"))?;
    Ok(RegistryUrl { scheme, host: host.to_string() })
}

/// Hosts that are this machine: plain HTTP is fine there, as docker assumes.
pub fn is_loopback(host_port: &str) -> bool {
    let host = match host_port.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host_port,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

fn parse_log_level(s: Option<&str>, quiet: bool) -> anyhow::Result<log::LevelFilter> {
    Ok(match s {
        None if quiet => log::LevelFilter::Error,
        None => log::LevelFilter::Info,
        Some("error") => log::LevelFilter::Error,
        Some("warn") => log::LevelFilter::Warn,
        Some("info") => log::LevelFilter::Info,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        Some(other) => bail!("--log-level {other:?} is not one of error, warn, info, debug, trace"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(image: &str, dest: Option<&str>) -> PushArgs {
        PushArgs {
            image: image.into(),
            dest: dest.map(Into::into),
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
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
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

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["example.com", "10.0.0.1:5000", "gitea.cnoe.localtest.me:8443"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
