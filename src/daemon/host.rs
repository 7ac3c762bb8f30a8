//! Where the Docker daemon listens: parsing `DOCKER_HOST` (`unix://`, `tcp://`).

use std::fmt;
use std::path::PathBuf;

use crate::error::{fail, Cause};

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
const DEFAULT_TCP_PORT: u16 = 2375;
/// The `Host` header over a unix socket, as the Go client sends it.
const UNIX_HOST_HEADER: &str = "api.moby.localhost";

/// Where the Docker daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// A unix socket path.
    Unix(PathBuf),
    /// Plain (non-TLS) TCP, as `host:port`.
    Tcp(String),
}

impl DockerHost {
    /// The daemon named by `DOCKER_HOST`, else the default unix socket.
    pub fn from_env() -> anyhow::Result<DockerHost> {
        let host = std::env::var("DOCKER_HOST").ok();
        let tls = ["DOCKER_TLS_VERIFY", "DOCKER_TLS"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
        DockerHost::from_values(host.as_deref(), tls)
    }

    /// [`DockerHost::from_env`] given the value of `DOCKER_HOST` and whether TLS is asked for.
    pub(crate) fn from_values(host: Option<&str>, tls: bool) -> anyhow::Result<DockerHost> {
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return Ok(DockerHost::Unix(PathBuf::from(DEFAULT_SOCKET)));
        };
        let host = DockerHost::parse(host)?;
        if tls && matches!(host, DockerHost::Tcp(_)) {
            return Err(fail(
                Cause::BadInput,
                format!("cannot use TLS to reach the docker daemon at {host} (idpush speaks plain tcp:// and unix:// only; unset DOCKER_TLS_VERIFY or use the daemon's unix socket)"),
            ));
        }
        Ok(host)
    }

    /// Parses `unix:///path` or `tcp://host[:port]` (default port 2375).
    pub fn parse(s: &str) -> anyhow::Result<DockerHost> {
        // The value may carry a user and password (tcp://user:pw@host): quoted redacted.
        let bad = |why: &str| fail(Cause::BadInput, format!("invalid DOCKER_HOST {}: {why}", crate::redact::quote(s)));
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("expected unix:///path/to/docker.sock or tcp://host:port"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "unix" if rest.is_empty() => Err(bad("missing socket path")),
            "unix" if rest.split('/').next().is_some_and(|a| a.contains('@')) => {
                Err(bad("unix:// takes a socket path, not a user or password"))
            }
            "unix" => Ok(DockerHost::Unix(PathBuf::from(rest))),
            "tcp" => parse_tcp(rest).map(DockerHost::Tcp).map_err(bad),
            "ssh" => Err(bad("ssh:// is not supported (forward the socket with `ssh -nNT -L /tmp/docker.sock:/var/run/docker.sock user@host` and set DOCKER_HOST=unix:///tmp/docker.sock)")),
            other => Err(bad(&format!("{}:// is not supported (use unix:// or tcp://)", crate::redact::redact(other)))),
        }
    }

    /// The `Host` header for requests to this daemon.
    pub(crate) fn host_header(&self) -> &str {
        match self {
            DockerHost::Unix(_) => UNIX_HOST_HEADER,
            DockerHost::Tcp(addr) => addr,
        }
    }
}

/// Checks `host[:port][/]` and adds the default port.
fn parse_tcp(rest: &str) -> Result<String, &'static str> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace) {
        return Err("expected tcp://host:port with no path, user or query");
    }
    // The host ends after a bracketed IPv6 address, else at the last colon.
    let host_end = match rest.strip_prefix('[') {
        Some(v6) => v6.find(']').map(|i| i + 2).ok_or("unclosed '[' in the address")?,
        None => rest.rfind(':').unwrap_or(rest.len()),
    };
    let (host, port) = rest.split_at(host_end);
    if host.is_empty() || host == "[]" || (!host.starts_with('[') && host.contains(':')) {
        return Err("missing or malformed host");
    }
    match port.strip_prefix(':') {
        None if port.is_empty() => Ok(format!("{host}:{DEFAULT_TCP_PORT}")),
        Some(p)
            if p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0) =>
        {
            Ok(format!("{host}:{p}"))
        }
        _ => Err("invalid port"),
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerHost::Unix(path) => write!(f, "unix://{}", path.display()),
            DockerHost::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

#[cfg(test)]
mod tests;
