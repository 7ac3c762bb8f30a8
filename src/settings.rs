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
        _ if s.is_multiple_of(3600) => format!("{} hours", s / 3600),
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
