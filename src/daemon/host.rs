//! Where the Docker daemon listens: parsing `DOCKER_HOST` (`unix://`, `tcp://`), and finding
//! the daemon the way the docker CLI does ([`discover`]): `-H/--host`, `DOCKER_HOST`,
//! `DOCKER_CONTEXT`, the docker config's `currentContext`, then the default socket, and when
//! that is absent the rootless Docker and Podman sockets. Discovery is a pure function of a
//! [`Sys`] (environment and file system as closures), so it is tested without real files.

use std::fmt;
use std::path::PathBuf;

use super::ssh::SshTarget;
use super::tls::TlsFiles;
use crate::error::{fail, Cause};
use serde::Deserialize;
use std::path::Path;

const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
const PODMAN_SOCKET: &str = "/run/podman/podman.sock";
const DEFAULT_TCP_PORT: u16 = 2375;
/// docker's default port for `tcp://` with TLS.
const DEFAULT_TLS_PORT: u16 = 2376;
/// The `Host` header over a unix socket, as the Go client sends it.
const UNIX_HOST_HEADER: &str = "api.moby.localhost";

/// Where the Docker daemon listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    /// A unix socket path.
    Unix(PathBuf),
    /// Plain (non-TLS) TCP, as `host:port`.
    Tcp(String),
    /// TCP with TLS, as `host:port`, and the certificate files.
    TcpTls(String, TlsFiles),
    /// `ssh://[user@]host[:port]`: `docker system dial-stdio` run over ssh.
    Ssh(SshTarget),
}

impl DockerHost {

    /// The daemon `DOCKER_HOST` names (`None` or empty: the default socket), with TLS when
    /// `tls` says so and it is a `tcp://` address.
    pub(crate) fn from_values(host: Option<&str>, tls: Option<TlsFiles>) -> anyhow::Result<DockerHost> {
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            return Ok(DockerHost::Unix(PathBuf::from(DEFAULT_SOCKET)));
        };
        DockerHost::parse_as(host, tls)
    }

    /// Parses `unix:///path`, `tcp://host[:port]` (default port 2375) or
    /// `ssh://[user@]host[:port]`.
    #[cfg(test)] // discovery parses with parse_as
    pub fn parse(s: &str) -> anyhow::Result<DockerHost> {
        DockerHost::parse_as(s, None)
    }

    /// [`DockerHost::parse`], with TLS for a `tcp://` address when `tls` is given (default
    /// port 2376, as docker's).
    fn parse_as(s: &str, tls: Option<TlsFiles>) -> anyhow::Result<DockerHost> {
        // The value may carry a user and password (tcp://user:pw@host): quoted redacted.
        let bad = |why: &str| fail(Cause::BadInput, format!("invalid DOCKER_HOST {}: {why}", crate::redact::quote(s)));
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("expected unix:///path/to/docker.sock, tcp://host:port or ssh://user@host"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "unix" if rest.is_empty() => Err(bad("missing socket path")),
            "unix" if rest.split('/').next().is_some_and(|a| a.contains('@')) => {
                Err(bad("unix:// takes a socket path, not a user or password"))
            }
            "unix" => Ok(DockerHost::Unix(PathBuf::from(rest))),
            "tcp" => match tls {
                None => parse_tcp(rest, DEFAULT_TCP_PORT).map(DockerHost::Tcp).map_err(bad),
                Some(files) => parse_tcp(rest, DEFAULT_TLS_PORT).map(|a| DockerHost::TcpTls(a, files)).map_err(bad),
            },
            "ssh" => SshTarget::parse(rest).map(DockerHost::Ssh).map_err(bad),
            other => Err(bad(&format!("{}:// is not supported (use unix://, tcp:// or ssh://)", crate::redact::redact(other)))),
        }
    }

    /// The `Host` header for requests to this daemon.
    pub(crate) fn host_header(&self) -> &str {
        match self {
            DockerHost::Unix(_) => UNIX_HOST_HEADER,
            DockerHost::Tcp(addr) | DockerHost::TcpTls(addr, _) => addr,
            // What the docker CLI sends through its connection helpers.
            DockerHost::Ssh(_) => "api.moby.localhost",
        }
    }
}

/// What discovery may look at: the environment and the file system.
pub struct Sys<'a> {
    /// An environment variable (unset and empty are both `None`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// A file's contents, `None` if it cannot be read.
    pub read: &'a dyn Fn(&Path) -> Option<String>,
    /// Whether a path exists (a socket, a directory).
    pub exists: &'a dyn Fn(&Path) -> bool,
}

impl Sys<'static> {
    /// The real process environment and file system.
    pub fn real() -> Sys<'static> {
        Sys {
            env: &|k| std::env::var(k).ok().filter(|v| !v.is_empty()),
            read: &|p| std::fs::read_to_string(p).ok(),
            exists: &|p| p.exists(),
        }
    }
}

/// The daemon to talk to and how it was chosen (for `--log-level info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub host: DockerHost,
    pub how: String,
}

impl Discovered {
    /// Whether the user named this daemon (`--host`, `DOCKER_HOST`) or it is the default
    /// socket, rather than a context or a fallback socket found for them.
    pub fn named_by_user(&self) -> bool {
        self.how == "--host" || self.how == "DOCKER_HOST" || self.how == "the default socket"
    }
}

/// Finds the daemon in the docker CLI's order: `flag` (`-H/--host`), `DOCKER_HOST`,
/// `DOCKER_CONTEXT`, `currentContext` in `$DOCKER_CONFIG/config.json` (else
/// `~/.docker/config.json`), then the default socket; when that does not exist, the rootless
/// Docker socket (`$XDG_RUNTIME_DIR/docker.sock`), then Podman's (`/run/podman/podman.sock`,
/// `$XDG_RUNTIME_DIR/podman/podman.sock`).
pub fn discover(flag: Option<&str>, sys: &Sys) -> anyhow::Result<Discovered> {
    let config_dir = docker_config_dir(sys);
    let tls = |host: &str| env_tls(sys, host, config_dir.as_deref());
    if let Some(flag) = flag.filter(|f| !f.is_empty()) {
        let host = DockerHost::from_values(Some(flag), tls(flag)?).map_err(|e| renamed(e, "DOCKER_HOST", "--host"))?;
        return Ok(Discovered { host, how: "--host".into() });
    }
    if let Some(env) = (sys.env)("DOCKER_HOST") {
        return Ok(Discovered { host: DockerHost::from_values(Some(&env), tls(&env)?)?, how: "DOCKER_HOST".into() });
    }
    let (context, how) = match (sys.env)("DOCKER_CONTEXT") {
        Some(name) => (Some(name), "DOCKER_CONTEXT".to_string()),
        None => match &config_dir {
            Some(dir) => {
                let file = dir.join("config.json");
                (current_context(sys, &file)?, format!("currentContext in {}", file.display()))
            }
            None => (None, String::new()),
        },
    };
    match context.filter(|c| c != "default") {
        Some(name) => {
            let Some(dir) = config_dir else {
                return Err(fail(Cause::BadInput, format!("docker context {name:?} (from {how}) cannot be found: neither DOCKER_CONFIG nor HOME is set")));
            };
            let host = context_host(sys, &dir, &name, &how)?;
            Ok(Discovered { host, how: format!("docker context {name:?} ({how})") })
        }
        None => Ok(default_socket(sys)),
    }
}

/// TLS for a `tcp://` `host` from the environment, as docker reads it: `DOCKER_TLS_VERIFY`
/// (verify) or `DOCKER_TLS` (no verification), files from `DOCKER_CERT_PATH`, else the docker
/// config dir.
fn env_tls(sys: &Sys, host: &str, config_dir: Option<&Path>) -> anyhow::Result<Option<TlsFiles>> {
    let verify = (sys.env)("DOCKER_TLS_VERIFY").is_some();
    if !(verify || (sys.env)("DOCKER_TLS").is_some()) || !host.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("tcp://")) {
        return Ok(None);
    }
    let (dir, from) = match (sys.env)("DOCKER_CERT_PATH") {
        Some(d) => (PathBuf::from(d), "DOCKER_CERT_PATH"),
        None => match config_dir {
            Some(d) => (d.to_path_buf(), "the docker config dir; set DOCKER_CERT_PATH"),
            None => return Ok(Some(TlsFiles { verify, ca: None, client: None })),
        },
    };
    TlsFiles::in_dir(&dir, verify, sys.exists, from).map(Some)
}

/// `$DOCKER_CONFIG`, else `$HOME/.docker`.
fn docker_config_dir(sys: &Sys) -> Option<PathBuf> {
    (sys.env)("DOCKER_CONFIG").map(PathBuf::from).or_else(|| (sys.env)("HOME").map(|h| Path::new(&h).join(".docker")))
}

/// `currentContext` of the docker config file, if it names one.
fn current_context(sys: &Sys, file: &Path) -> anyhow::Result<Option<String>> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(rename = "currentContext", default)]
        current_context: Option<String>,
    }
    let Some(text) = (sys.read)(file) else { return Ok(None) };
    let config: Config = serde_json::from_str(&text).map_err(|e| {
        fail(Cause::BadInput, format!("cannot read the docker config {}: {e} (fix or remove it)", file.display()))
    })?;
    Ok(config.current_context.filter(|c| !c.is_empty()))
}

/// The docker endpoint of context `name`: `Endpoints.docker.Host` in
/// `DIR/contexts/meta/<sha256 of name>/meta.json`.
fn context_host(sys: &Sys, dir: &Path, name: &str, how: &str) -> anyhow::Result<DockerHost> {
    #[derive(Deserialize)]
    struct Meta {
        #[serde(rename = "Endpoints", default)]
        endpoints: Option<Endpoints>,
    }
    #[derive(Deserialize)]
    struct Endpoints {
        docker: Option<Endpoint>,
    }
    #[derive(Deserialize)]
    struct Endpoint {
        #[serde(rename = "Host", default)]
        host: Option<String>,
        #[serde(rename = "SkipTLSVerify", default)]
        skip_tls_verify: bool,
    }
    let id = crate::digest::Digest::of(name.as_bytes());
    let file = dir.join("contexts/meta").join(id.hex()).join("meta.json");
    let Some(text) = (sys.read)(&file) else {
        return Err(fail(
            Cause::BadInput,
            format!("docker context {name:?} (from {how}) does not exist: no {} (check `docker context ls`)", file.display()),
        ));
    };
    let bad = |why: String| fail(Cause::BadInput, format!("docker context {name:?}: {why} in {} (check `docker context inspect {name}`)", file.display()));
    let meta: Meta = serde_json::from_str(&text).map_err(|e| bad(format!("invalid json: {e}")))?;
    let endpoint = meta.endpoints.and_then(|e| e.docker);
    let skip_verify = endpoint.as_ref().is_some_and(|d| d.skip_tls_verify);
    let host = endpoint.and_then(|d| d.host).filter(|h| !h.is_empty());
    let host = host.ok_or_else(|| bad("no Endpoints.docker.Host".into()))?;
    // TLS when the context has TLS files (contexts/tls/<id>/docker/{ca,cert,key}.pem) or
    // skips verification.
    let tls_dir = dir.join("contexts/tls").join(id.hex()).join("docker");
    let tls = match (sys.exists)(&tls_dir) {
        true => Some(TlsFiles::in_dir(&tls_dir, !skip_verify, sys.exists, &format!("docker context {name:?}"))?),
        false if skip_verify => Some(TlsFiles { verify: false, ca: None, client: None }),
        false => None,
    };
    DockerHost::parse_as(&host, tls).map_err(|e| renamed(e, "DOCKER_HOST", &format!("docker context {name:?} host")))
}

/// The default socket if it exists, else the rootless Docker socket, else Podman's (rootful,
/// then rootless); none there: the default socket (its connect error says so).
fn default_socket(sys: &Sys) -> Discovered {
    let runtime = (sys.env)("XDG_RUNTIME_DIR").map(PathBuf::from);
    let mut candidates = vec![(PathBuf::from(DEFAULT_SOCKET), "the default socket")];
    if let Some(r) = &runtime {
        candidates.push((r.join("docker.sock"), "rootless Docker's socket ($XDG_RUNTIME_DIR/docker.sock)"));
    }
    candidates.push((PathBuf::from(PODMAN_SOCKET), "Podman's socket"));
    if let Some(r) = &runtime {
        candidates.push((r.join("podman/podman.sock"), "rootless Podman's socket ($XDG_RUNTIME_DIR/podman/podman.sock)"));
    }
    for (path, how) in &candidates {
        if (sys.exists)(path) {
            return Discovered { host: DockerHost::Unix(path.clone()), how: how.to_string() };
        }
    }
    Discovered {
        host: DockerHost::Unix(PathBuf::from(DEFAULT_SOCKET)),
        how: "the default socket (no rootless Docker or Podman socket exists either)".into(),
    }
}

/// A bad-input error about `DOCKER_HOST` reworded for where the value came from.
fn renamed(e: anyhow::Error, from: &str, to: &str) -> anyhow::Error {
    fail(Cause::BadInput, e.to_string().replacen(from, to, 1))
}

/// Checks `host[:port][/]` and adds the default port.
fn parse_tcp(rest: &str, default_port: u16) -> Result<String, &'static str> {
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
        None if port.is_empty() => Ok(format!("{host}:{default_port}")),
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
            DockerHost::Tcp(addr) | DockerHost::TcpTls(addr, _) => write!(f, "tcp://{addr}"),
            DockerHost::Ssh(target) => write!(f, "{target}"),
        }
    }
}

#[cfg(test)]
mod tests;
