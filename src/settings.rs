//! Registry settings shared by every command that talks to a registry: the registry URL as
//! given, loopback hosts, yes/no and duration values, the log level. No I/O here.

use crate::redact::quote;
use anyhow::{bail, Context};
use std::time::Duration;

/// The longest `--connect-timeout` / `--read-timeout`: a day. Longer values are refused (a
/// value near `u64::MAX` seconds overflowed an `Instant` deadline).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest `--retry-max-delay`: an hour (a longer wait between two tries helps nobody).
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60 * 60);

/// A registry URL as the user gave it: scheme (if any) and `host[:port]`.
#[derive(Debug, PartialEq)]
pub struct RegistryUrl {
    pub scheme: Option<&'static str>,
    pub host: String,
}

/// `[scheme://]host[:port][/]`: the registry as `-r` / `IDPBUILDER_REGISTRY_URL` give it.
pub fn parse_registry_url(s: &str) -> anyhow::Result<RegistryUrl> {
    let shown = quote(s);
    let (scheme, rest) = match s.split_once("://") {
        Some(("https", rest)) => (Some("https"), rest),
        Some(("http", rest)) => (Some("http"), rest),
        Some((other, _)) => bail!("registry URL {shown} has scheme {}: use https:// or http://", quote(other)),
        None => (None, s),
    };
    let host = rest.trim_end_matches('/');
    if crate::redact::has_userinfo(s) || host.contains('@') {
        bail!(
            "registry URL {shown} must not carry a user or password: give them with -u/-p, \
             --password-stdin or IDPBUILDER_REGISTRY_USERNAME/PASSWORD"
        );
    }
    if host.contains(['/', '?', '#']) || host.is_empty() {
        bail!("registry URL {shown} must be scheme://host[:port], with no path or query");
    }
    crate::reference::check_host(host).with_context(|| format!("registry URL {shown}"))?;
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

/// A yes/no environment value: 1/0, true/false, yes/no, on/off (any case); else `None`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// `24 hours`, `1 hour`, `90 seconds`: a limit as a person reads it.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        3600 => "1 hour".to_string(),
        _ if s % 3600 == 0 => format!("{} hours", s / 3600),
        _ => format!("{s} seconds"),
    }
}

pub fn parse_log_level(s: Option<&str>, quiet: bool) -> anyhow::Result<log::LevelFilter> {
    Ok(match s {
        None if quiet => log::LevelFilter::Error,
        None => log::LevelFilter::Info,
        Some("error") => log::LevelFilter::Error,
        Some("warn") => log::LevelFilter::Warn,
        Some("info") => log::LevelFilter::Info,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        Some(other) => bail!("--log-level {} is not one of error, warn, info, debug, trace", quote(other)),
    })
}

/// `--insecure`, else IDPBUILDER_REGISTRY_INSECURE (a yes/no value; empty means unset).
pub fn insecure(flag: bool, var: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<bool> {
    if flag {
        return Ok(true);
    }
    match var("IDPBUILDER_REGISTRY_INSECURE") {
        Some(v) => parse_bool(&v).ok_or_else(|| {
            anyhow::anyhow!(
                "IDPBUILDER_REGISTRY_INSECURE={} is not a yes or no: use 1/0, true/false, yes/no or on/off \
                 (it stands in for --insecure; empty means unset)",
                quote(&v)
            )
        }),
        None => Ok(false),
    }
}

/// Retries and timeouts, each from its flag, else its IDPBUILDER_* variable, else the default.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Network {
    /// Retries after a transient failure (attempts = retries + 1).
    pub retries: u32,
    pub retry_max_delay: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
}

/// The [`Network`] settings from `--retries`, `--retry-max-delay`, `--connect-timeout`,
/// `--read-timeout` (or IDPBUILDER_RETRIES, …); a value out of its range is refused, so no
/// deadline can overflow.
pub fn network(
    retries: Option<u32>,
    retry_max_delay: Option<u64>,
    connect_timeout: Option<u64>,
    read_timeout: Option<u64>,
    var: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Network> {
    use crate::registry;
    // A whole number from its flag, else its environment variable, with how it was given.
    let number = |flag: Option<u64>, name: &str, env_name: &str| -> anyhow::Result<Option<(u64, String)>> {
        if let Some(n) = flag {
            return Ok(Some((n, format!("--{name} {n}"))));
        }
        let Some(v) = var(env_name) else { return Ok(None) };
        let given = format!("{env_name}={} (it stands in for --{name})", quote(&v));
        match v.trim().parse::<u64>() {
            Ok(n) => Ok(Some((n, given))),
            Err(_) => bail!("{given} is not a whole number"),
        }
    };
    // Seconds, from `min` up to `max`: refused outside, so no deadline can overflow.
    let seconds = |flag: Option<u64>, name: &str, env_name: &str, default: Duration, min: u64, max: Duration| -> anyhow::Result<Duration> {
        match number(flag, name, env_name)? {
            None => Ok(default),
            Some((n, given)) if n > max.as_secs() => {
                bail!("{given} is too long: at most {} seconds ({})", max.as_secs(), human(max))
            }
            Some((n, given)) if n < min => bail!("{given} is too short: at least {min} second"),
            Some((n, _)) => Ok(Duration::from_secs(n)),
        }
    };
    let retries = match number(retries.map(u64::from), "retries", "IDPBUILDER_RETRIES")? {
        None => registry::DEFAULT_RETRIES,
        Some((n, given)) => u32::try_from(n).map_err(|_| anyhow::anyhow!("{given} is too large"))?,
    };
    let retry_max_delay = seconds(retry_max_delay, "retry-max-delay", "IDPBUILDER_RETRY_MAX_DELAY", registry::DEFAULT_RETRY_MAX_DELAY, 0, MAX_RETRY_DELAY)?;
    let connect_timeout = seconds(connect_timeout, "connect-timeout", "IDPBUILDER_CONNECT_TIMEOUT", registry::DEFAULT_CONNECT_TIMEOUT, 1, MAX_TIMEOUT)?;
    let read_timeout = seconds(read_timeout, "read-timeout", "IDPBUILDER_READ_TIMEOUT", registry::DEFAULT_READ_TIMEOUT, 1, MAX_TIMEOUT)?;
    Ok(Network { retries, retry_max_delay, connect_timeout, read_timeout })
}

/// The credentials a username, password and token (from flags or IDPBUILDER_REGISTRY_*)
/// make: a token with a username is its password (a Gitea access token), a token alone is a
/// bearer token; nothing is anonymous.
pub fn credentials(
    username: Option<String>,
    password: Option<crate::secret::Secret>,
    token: Option<crate::secret::Secret>,
) -> anyhow::Result<crate::registry::Credentials> {
    use crate::registry::Credentials;
    Ok(match (username, password, token) {
        (Some(u), _, Some(t)) => Credentials::Basic { username: u, password: t },
        (None, _, Some(t)) => Credentials::Token(t),
        (Some(u), Some(p), None) => Credentials::Basic { username: u, password: p },
        (Some(u), None, None) => bail!(
            "a password is needed for user {}: give --password, --token or IDPBUILDER_REGISTRY_PASSWORD",
            quote(&u)
        ),
        (None, Some(_), None) => {
            bail!("a password was given without a username: give --username or IDPBUILDER_REGISTRY_USERNAME")
        }
        (None, None, None) => Credentials::Anonymous,
    })
}

/// Refuses credentials over plain http to a host that is not this machine, unless `insecure`.
pub fn refuse_plain_http(
    scheme: &str,
    insecure: bool,
    host: &str,
    credentials: &crate::registry::Credentials,
) -> anyhow::Result<()> {
    if scheme == "http" && !insecure && !is_loopback(host) && !matches!(credentials, crate::registry::Credentials::Anonymous) {
        bail!(
            "refusing to send credentials over plain http to {host}: use an https:// registry URL, \
             or --insecure to allow it"
        );
    }
    Ok(())
}

/// The registry flags of the listing commands (`catalog`, `tags`, `inspect`), as typed.
#[derive(Debug, Default)]
pub struct RegistryFlags {
    pub registry: Option<String>,
    pub username: Option<String>,
    pub password: Option<crate::secret::Secret>,
    /// `--password-stdin`: the command reads it into `password` before the settings.
    pub password_stdin: bool,
    pub token: Option<crate::secret::Secret>,
    pub insecure: bool,
    pub ca_cert: Option<String>,
    pub retries: Option<u32>,
    pub retry_max_delay: Option<u64>,
    pub connect_timeout: Option<u64>,
    pub read_timeout: Option<u64>,
}

/// How to reach one registry to read from it, with where the credentials came from.
#[derive(Debug)]
pub struct ReadAccess {
    /// `host[:port]` of the registry.
    pub host: String,
    pub options: crate::registry::Options,
    /// Where the credentials came from (for the debug log; never a value).
    pub credential_source: String,
    /// Notes from the stored-credential lookup.
    pub credential_notes: Vec<String>,
}

/// The registry settings for reading from `host` (the host a REPO or REF names), else the
/// registry of `-r` / IDPBUILDER_REGISTRY_URL / idpbuilder's Gitea: the same defaults,
/// credential order (flags, IDPBUILDER_REGISTRY_*, then `stored(host)`), TLS and retries as a
/// push. The scheme of `-r` applies when it names the same host; a loopback host without one
/// tries https, then plain http.
pub fn read_access(
    flags: RegistryFlags,
    host: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    stored: &dyn Fn(&str) -> anyhow::Result<crate::credentials::Lookup>,
) -> anyhow::Result<ReadAccess> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let insecure = insecure(flags.insecure, &var)?;
    let network = network(flags.retries, flags.retry_max_delay, flags.connect_timeout, flags.read_timeout, &var)?;
    let registry_flag = flags.registry.or_else(|| var("IDPBUILDER_REGISTRY_URL"));
    let registry = parse_registry_url(registry_flag.as_deref().unwrap_or(crate::registry::DEFAULT_BASE_URL))?;
    let host = host.map(str::to_string).unwrap_or_else(|| registry.host.clone());
    let scheme = if host == registry.host { registry.scheme } else { None };
    let http_fallback = scheme.is_none() && is_loopback(&host);
    let scheme = scheme.unwrap_or("https");

    let from_flags = flags.username.is_some() || flags.password.is_some() || flags.token.is_some();
    let username = flags.username.or_else(|| var("IDPBUILDER_REGISTRY_USERNAME"));
    let password = flags.password.or_else(|| var("IDPBUILDER_REGISTRY_PASSWORD").map(crate::secret::Secret::new));
    let token = flags.token.or_else(|| var("IDPBUILDER_REGISTRY_TOKEN").map(crate::secret::Secret::new));
    let given = username.is_some() || password.is_some() || token.is_some();
    let (credentials, credential_source, credential_notes) = if given {
        let source = if from_flags { "flags" } else { "IDPBUILDER_REGISTRY_* environment" };
        (credentials(username, password, token)?, source.to_string(), Vec::new())
    } else {
        let lookup = stored(&host)?;
        match lookup.found {
            Some(f) => (f.credentials, f.source, lookup.notes),
            None => (crate::registry::Credentials::Anonymous, "nowhere: anonymous".to_string(), lookup.notes),
        }
    };
    refuse_plain_http(scheme, insecure, &host, &credentials)?;
    let ca_cert = flags.ca_cert.or_else(|| var("IDPBUILDER_REGISTRY_CA_CERT")).map(std::path::PathBuf::from);
    let options = crate::registry::Options {
        base_url: format!("{scheme}://{host}"),
        http_fallback,
        insecure,
        ca_cert,
        chunk_size: crate::registry::DEFAULT_CHUNK_SIZE,
        credentials,
        retries: network.retries,
        retry_max_delay: network.retry_max_delay,
        connect_timeout: network.connect_timeout,
        read_timeout: network.read_timeout,
    };
    Ok(ReadAccess { host, options, credential_source, credential_notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Credentials;

    fn none(_: &str) -> anyhow::Result<crate::credentials::Lookup> {
        Ok(crate::credentials::Lookup::default())
    }

    #[test]
    fn read_access_defaults_schemes_and_credentials() {
        let no_env = |_: &str| None;
        let a = read_access(RegistryFlags::default(), None, &no_env, &none).unwrap();
        assert_eq!(a.host, "gitea.cnoe.localtest.me:8443");
        assert_eq!(a.options.base_url, "https://gitea.cnoe.localtest.me:8443");
        assert!(matches!(a.options.credentials, Credentials::Anonymous));

        // A loopback host named by the REPO: https first, plain http as the fallback.
        let a = read_access(RegistryFlags::default(), Some("127.0.0.1:5100"), &no_env, &none).unwrap();
        assert_eq!((a.options.base_url.as_str(), a.options.http_fallback), ("https://127.0.0.1:5100", true));

        // -r's scheme applies to its own host.
        let flags = RegistryFlags { registry: Some("http://10.0.0.1:5000".into()), ..Default::default() };
        let a = read_access(flags, Some("10.0.0.1:5000"), &no_env, &none).unwrap();
        assert_eq!((a.options.base_url.as_str(), a.options.http_fallback), ("http://10.0.0.1:5000", false));

        // The environment stands in for flags; stored credentials are not asked then.
        let env = |k: &str| match k {
            "IDPBUILDER_REGISTRY_USERNAME" => Some("alice".to_string()),
            "IDPBUILDER_REGISTRY_PASSWORD" => Some("pw".to_string()),
            "IDPBUILDER_RETRIES" => Some("2".to_string()),
            _ => None,
        };
        let a = read_access(RegistryFlags::default(), None, &env, &|_| panic!("stored asked")).unwrap();
        assert!(matches!(&a.options.credentials, Credentials::Basic { username, .. } if username == "alice"));
        assert_eq!(a.options.retries, 2);

        // Credentials over plain http to another host are refused, as for a push.
        let flags = RegistryFlags {
            registry: Some("http://10.0.0.1:5000".into()),
            username: Some("alice".into()),
            password: Some(crate::secret::Secret::new("pw")),
            ..Default::default()
        };
        let err = read_access(flags, None, &no_env, &none).unwrap_err();
        assert!(format!("{err:#}").contains("refusing to send credentials over plain http"), "{err:#}");
    }
}
