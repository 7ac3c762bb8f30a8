//! The Docker Engine API calls idpush makes: finding the daemon (`DOCKER_HOST`), connecting
//! and negotiating the API version (`/_ping`), inspecting an image and streaming its
//! `docker save` export. Every call opens its own connection through [`super::http`]; connection
//! failures become one-line `Cause::DaemonUnreachable` errors (exit 2) that say how to fix them.

use std::io::{self, BufReader, Read};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::http::{self, Response, Stream};
use super::host::DockerHost;
use crate::error::{fail, Cause};

/// The newest API version we speak; we use `min(this, the daemon's)`. 1.49 (Docker 28.1):
/// both inspect and export take a `platform`.
const MAX_API: (u32, u32) = (1, 49);
/// The version whose inspect and export both take `platform` (export has it from 1.48).
pub const PLATFORM_API: (u32, u32) = (1, 49);
/// The containerd image store came with Docker 24 (API 1.43); older daemons are not asked.
const CONTAINERD_STORE_API: (u32, u32) = (1, 43);
/// The oldest API version a daemon may advertise (Docker 19.03; Docker 20.10 and Podman 4
/// speak 1.41): older ones lack what inspect and export must say.
const MIN_API: (u32, u32) = (1, 40);
/// The version to assume when the daemon does not say (what the Go client assumes).
const FALLBACK_API: &str = "1.24";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a ping or inspect may wait for the daemon.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the export may go without a byte: the daemon may stage the whole image on disk
/// before the first byte of a `docker save` stream.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The largest JSON answer (inspect) or error body we read into memory.
const MAX_JSON: usize = 16 << 20;
const MAX_ERROR_BODY: usize = 64 << 10;

/// A connection to a Docker daemon with a negotiated API version.
#[derive(Debug)]
pub struct Engine {
    host: DockerHost,
    /// The API version to use, like `1.47`.
    version: String,
}

/// What `docker image inspect` says about an image (the parts idpush needs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub size: u64,
    /// `RootFS.Layers`: the image's diff_ids, in order.
    pub layers: Vec<String>,
}

/// Where the daemon keeps images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageStore {
    /// The graph drivers (overlay2, vfs, …): exports carry uncompressed layers.
    Classic,
    /// The containerd image store (`driver-type io.containerd.snapshotter.v1`): exports are OCI
    /// layouts with the layers compressed as pulled, and images may be multi-platform.
    Containerd,
}

/// The image store an `/info` answer names: `DriverStatus` has `["driver-type",
/// "io.containerd.snapshotter.v1"]` for the containerd store.
fn image_store_of(body: &[u8]) -> ImageStore {
    #[derive(Deserialize)]
    struct Info {
        #[serde(rename = "DriverStatus", default)]
        driver_status: Option<Vec<Vec<String>>>,
    }
    let status = serde_json::from_slice::<Info>(body).ok().and_then(|i| i.driver_status).unwrap_or_default();
    let containerd = status
        .iter()
        .any(|kv| matches!(kv.as_slice(), [k, v] if k == "driver-type" && v == "io.containerd.snapshotter.v1"));
    if containerd { ImageStore::Containerd } else { ImageStore::Classic }
}

/// One manifest of an image in the containerd store (`Manifests` of inspect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSummary {
    /// The manifest's digest.
    pub digest: String,
    /// Whether its content is in the daemon (an image pulled for one platform lists all).
    pub available: bool,
    /// `image` or `attestation`.
    pub kind: String,
    pub platform: Option<Platform>,
}

fn manifests_of(body: &[u8]) -> serde_json::Result<Vec<ManifestSummary>> {
    #[derive(Deserialize)]
    struct Inspect {
        #[serde(rename = "Manifests", default)]
        manifests: Option<Vec<Summary>>,
    }
    #[derive(Deserialize)]
    struct Summary {
        #[serde(rename = "ID", default)]
        id: String,
        #[serde(rename = "Available", default)]
        available: bool,
        #[serde(rename = "Kind", default)]
        kind: String,
        #[serde(rename = "ImageData", default)]
        image_data: Option<ImageData>,
    }
    #[derive(Deserialize)]
    struct ImageData {
        #[serde(rename = "Platform")]
        platform: Option<Platform>,
    }
    let j: Inspect = serde_json::from_slice(body)?;
    Ok(j.manifests
        .unwrap_or_default()
        .into_iter()
        .map(|m| ManifestSummary {
            digest: m.id,
            available: m.available,
            kind: m.kind,
            platform: m.image_data.and_then(|d| d.platform).map(|p| Platform {
                os: p.os,
                architecture: p.architecture,
                variant: p.variant.filter(|v| !v.is_empty()),
            }),
        })
        .collect())
}

/// The platform type is the model's; the Engine API's `platform` parameter takes it as JSON.
pub use crate::oci::Platform;

/// The JSON the Engine API's `platform` parameter takes.
fn platform_json(p: &Platform) -> String {
    let mut v = serde_json::json!({"os": p.os, "architecture": p.architecture});
    if let Some(variant) = &p.variant {
        v["variant"] = variant.clone().into();
    }
    v.to_string()
}

/// The inspect JSON; fields may be missing or null.
#[derive(Deserialize)]
struct InspectJson {
    #[serde(rename = "Id", default)]
    id: Option<String>,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "RepoDigests", default)]
    repo_digests: Option<Vec<String>>,
    #[serde(rename = "Size", default)]
    size: Option<i64>,
    #[serde(rename = "RootFS", default)]
    rootfs: Option<RootFsJson>,
}

#[derive(Deserialize)]
struct RootFsJson {
    #[serde(rename = "Layers", default)]
    layers: Option<Vec<String>>,
}

impl Engine {
    /// HEAD /_ping (then GET /_ping if HEAD fails: old daemons refuse HEAD, and only GET
    /// carries an error message), then negotiates the API version from `Api-Version`.
    pub fn connect(host: DockerHost) -> anyhow::Result<Engine> {
        let mut engine = Engine { host, version: String::new() };
        let mut resp = engine.call("HEAD", "/_ping", CALL_TIMEOUT)?;
        if !(200..300).contains(&resp.status) {
            log::debug!("HEAD /_ping answered {}; trying GET", resp.status);
            resp = engine.call("GET", "/_ping", CALL_TIMEOUT)?;
        }
        if !(200..300).contains(&resp.status) {
            let msg = daemon_message(&mut resp);
            let class = if resp.status >= 500 { Cause::DaemonFailed } else { Cause::DaemonRefused };
            return Err(fail(
                class,
                format!("the docker daemon at {} failed /_ping: {msg}", engine.host),
            ));
        }
        engine.version = negotiate(resp.headers.get("api-version")).map_err(|v| match v {
            Refusal::Malformed(v) => fail(
                Cause::DaemonRefused,
                format!("the docker daemon at {} sent an invalid Api-Version {v:?}", engine.host),
            ),
            Refusal::TooOld(v) => fail(
                Cause::DaemonRefused,
                format!(
                    "the docker daemon at {} speaks API v{v}; idpush needs v{}.{} or newer (Docker 19.03+, Podman 3+): upgrade the engine",
                    engine.host, MIN_API.0, MIN_API.1
                ),
            ),
        })?;
        log::debug!("docker daemon at {}: using API v{}", engine.host, engine.version);
        Ok(engine)
    }

    /// The negotiated API version, like `1.47`.
    pub fn api_version(&self) -> &str {
        &self.version
    }

    /// Whether the negotiated version has what API `major.minor` added (a query parameter
    /// is sent only when it does).
    pub fn supports(&self, major: u32, minor: u32) -> bool {
        parse_version(&self.version).is_some_and(|v| v >= (major, minor))
    }

    /// The daemon this engine talks to.
    pub fn host(&self) -> &DockerHost {
        &self.host
    }

    /// GET /images/{name}/json
    #[cfg(test)] // push asks with inspect_platform
    pub fn inspect(&self, name: &str) -> anyhow::Result<ImageInfo> {
        self.inspect_platform(name, None)
    }

    /// GET /images/{name}/json[?platform=…]: `platform` (an OCI platform as JSON) is sent only
    /// when the negotiated version knows it ([`PLATFORM_API`]); else it is an error.
    pub fn inspect_platform(&self, name: &str, platform: Option<&Platform>) -> anyhow::Result<ImageInfo> {
        check_name(name)?;
        let query = self.platform_query(platform, '?')?;
        let path = format!("/v{}/images/{}/json{query}", self.version, encode(name, b"/:@"));
        let mut resp = self.call("GET", &path, CALL_TIMEOUT)?;
        if resp.status != 200 {
            return Err(self.status_error(&mut resp, name, "inspecting"));
        }
        let body = resp.body.read_to_end_limited(MAX_JSON);
        let body = body
            .with_context(|| format!("reading the inspect answer for {name} from {}", self.host))?;
        parse_inspect(&body).map_err(|e| {
            fail(
                Cause::DaemonRefused,
                format!(
                    "the docker daemon at {} sent invalid inspect json for {name}: {e}",
                    self.host
                ),
            )
        })
    }

    /// GET /images/get?names={name}: the image as a `docker save` tar stream. Give an image
    /// ID (`sha256:…`): a repository name exports every tag of it.
    #[cfg(test)] // push asks with export_platform
    pub fn export(&self, name: &str) -> anyhow::Result<Box<dyn Read + Send>> {
        self.export_platform(name, None)
    }

    /// [`Engine::export`] of one platform of a multi-platform image (see
    /// [`Engine::inspect_platform`]).
    pub fn export_platform(&self, name: &str, platform: Option<&Platform>) -> anyhow::Result<Box<dyn Read + Send>> {
        check_name(name)?;
        let query = self.platform_query(platform, '&')?;
        let path = format!("/v{}/images/get?names={}{query}", self.version, encode(name, b":"));
        let mut resp = self.call("GET", &path, EXPORT_TIMEOUT)?;
        if resp.status != 200 {
            return Err(self.status_error(&mut resp, name, "exporting"));
        }
        Ok(Box::new(ExportStream { inner: resp.body, host: self.host.to_string(), name: name.to_string() }))
    }

    /// GET /images/{name}/json?manifests=1 (API 1.48+, the containerd image store): the
    /// image's manifests, each with its platform. Empty for a daemon too old to say.
    pub fn manifests(&self, name: &str) -> anyhow::Result<Vec<ManifestSummary>> {
        check_name(name)?;
        if !self.supports(1, 48) {
            return Ok(Vec::new());
        }
        let path = format!("/v{}/images/{}/json?manifests=1", self.version, encode(name, b"/:@"));
        let mut resp = self.call("GET", &path, CALL_TIMEOUT)?;
        if resp.status != 200 {
            return Err(self.status_error(&mut resp, name, "inspecting"));
        }
        let body = resp.body.read_to_end_limited(MAX_JSON).with_context(|| format!("reading the manifests of {name} from {}", self.host))?;
        manifests_of(&body).map_err(|e| {
            fail(Cause::DaemonRefused, format!("the docker daemon at {} sent invalid inspect json for {name}: {e}", self.host))
        })
    }

    /// `{sep}platform={json}` for `platform`, or nothing; an error when the negotiated version
    /// does not know the parameter (it is never sent to a daemon that would ignore it).
    fn platform_query(&self, platform: Option<&Platform>, sep: char) -> anyhow::Result<String> {
        let Some(p) = platform else { return Ok(String::new()) };
        if !self.supports(PLATFORM_API.0, PLATFORM_API.1) {
            return Err(fail(
                Cause::BadInput,
                format!(
                    "--platform {p} needs a daemon with API v{}.{} or newer (Docker 28.1+); the daemon at {} speaks v{} (drop --platform to push the image it has)",
                    PLATFORM_API.0, PLATFORM_API.1, self.host, self.version
                ),
            ));
        }
        Ok(format!("{sep}platform={}", encode(&platform_json(p), b"")))
    }

    /// GET /info: which image store the daemon uses. Asked only of daemons that may have the
    /// containerd store (API 1.43+); a failed call says nothing (classic is assumed).
    pub fn image_store(&self) -> ImageStore {
        if !self.supports(CONTAINERD_STORE_API.0, CONTAINERD_STORE_API.1) {
            return ImageStore::Classic;
        }
        let path = format!("/v{}/info", self.version);
        let body = self.call("GET", &path, CALL_TIMEOUT).and_then(|mut r| match r.status {
            200 => r.body.read_to_end_limited(MAX_JSON).map_err(anyhow::Error::from),
            s => anyhow::bail!("HTTP {s}"),
        });
        match body {
            Ok(body) => image_store_of(&body),
            Err(e) => {
                log::debug!("GET /info on the daemon at {} failed ({e:#}): assuming the classic image store", self.host);
                ImageStore::Classic
            }
        }
    }

    /// Opens a connection, sends one request and reads the response head.
    fn call(
        &self,
        method: &str,
        target: &str,
        timeout: Duration,
    ) -> anyhow::Result<Response<BufReader<Stream>>> {
        let stream = dial(&self.host)?;
        stream.set_timeout(Some(timeout)).context("setting a socket timeout")?;
        log::debug!("docker: {method} {target}");
        let ssh_stderr = match &stream {
            Stream::Ssh(s) => Some(s.stderr()),
            _ => None,
        };
        http::roundtrip(stream, method, target, self.host.host_header()).map_err(|e| {
            // The stream is gone (ssh has exited): what ssh said is the reason.
            match ssh_stderr.as_deref().and_then(super::ssh::last_line) {
                Some(said) => fail(
                    Cause::DaemonUnreachable,
                    format!("cannot reach the docker daemon at {}: ssh said: {said} (check that `{}` works)", self.host, match &self.host {
                        DockerHost::Ssh(t) => t.try_command(),
                        _ => String::new(),
                    }),
                ),
                None => self.io_error(e, method, target, timeout),
            }
        })
    }

    /// A one-line error for a failed request: a timeout, a garbled answer, a broken socket.
    fn io_error(
        &self,
        e: io::Error,
        method: &str,
        target: &str,
        timeout: Duration,
    ) -> anyhow::Error {
        let host = &self.host;
        match e.kind() {
            io::ErrorKind::TimedOut => fail(
                Cause::DaemonFailed,
                format!("the docker daemon at {host} did not answer {method} {target} within {}s (is it hung? try `docker info`)", timeout.as_secs()),
            ),
            io::ErrorKind::UnexpectedEof => fail(
                Cause::DaemonFailed,
                format!("the docker daemon at {host} closed the connection during {method} {target}: {e}{}", eof_hint(host)),
            ),
            io::ErrorKind::InvalidData => fail(
                Cause::DaemonRefused,
                format!("the docker daemon at {host} sent an invalid answer to {method} {target}: {e} (does DOCKER_HOST point at a docker daemon?)"),
            ),
            // A reset or broken socket, mid-request: the daemon's trouble, and it may pass.
            _ => fail(
                Cause::DaemonFailed,
                format!("{method} {target} on the docker daemon at {host}: {}", e.to_string().to_lowercase()),
            ),
        }
    }

    /// The error for a non-200 answer about image `name`, with the daemon's message.
    fn status_error(
        &self,
        resp: &mut Response<BufReader<Stream>>,
        name: &str,
        doing: &str,
    ) -> anyhow::Error {
        let msg = daemon_message(resp);
        match resp.status {
            404 => fail(
                Cause::ImageNotFound,
                format!("image not found: {name} (the daemon at {} has no such image)", self.host),
            ),
            s => fail(
                if s >= 500 { Cause::DaemonFailed } else { Cause::DaemonRefused },
                format!("the docker daemon at {} failed {doing} {name}: {msg}", self.host),
            ),
        }
    }
}

/// The export body: a failed read is the daemon's failure (a reset or timed-out socket may pass,
/// a garbled stream will not), classified here, where it is known to be the daemon's socket.
struct ExportStream<R> {
    inner: R,
    host: String,
    name: String,
}

impl<R: Read> Read for ExportStream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            let cause = match e.kind() {
                io::ErrorKind::Interrupted => return e,
                io::ErrorKind::InvalidData => Cause::DaemonRefused,
                _ => Cause::DaemonFailed,
            };
            let message = format!(
                "the docker daemon at {} failed while exporting {}: {}",
                self.host,
                self.name,
                e.to_string().to_lowercase()
            );
            crate::error::io_failure(e.kind(), cause, message)
        })
    }
}

/// What a TCP daemon that hangs up at once may want: TLS, or a client certificate.
fn eof_hint(host: &DockerHost) -> &'static str {
    match host {
        DockerHost::Tcp(_) => " (if the daemon uses TLS, set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH)",
        DockerHost::TcpTls(_, files) if files.client.is_none() => {
            " (if the daemon wants a client certificate, put cert.pem and key.pem in DOCKER_CERT_PATH)"
        }
        _ => "",
    }
}

/// Rejects names that cannot be an image reference or ID.
fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(fail(Cause::BadInput, format!("invalid image name {name:?}")));
    }
    Ok(())
}

/// Connects to the daemon; failures are `Cause::DaemonUnreachable` with a hint.
fn dial(host: &DockerHost) -> anyhow::Result<Stream> {
    let result = match host {
        DockerHost::Unix(path) => UnixStream::connect(path).map(Stream::Unix),
        DockerHost::Tcp(addr) => dial_tcp(addr).map(Stream::Tcp),
        DockerHost::TcpTls(addr, files) => return dial_tls(host, addr, files),
        DockerHost::Ssh(target) => return super::ssh::SshStream::spawn(target).map(Stream::Ssh).map_err(|e| {
            let why = match e.kind() {
                io::ErrorKind::NotFound => "ssh is not installed (install the OpenSSH client)".to_string(),
                _ => format!("cannot run ssh: {e}"),
            };
            fail(Cause::DaemonUnreachable, format!("cannot reach the docker daemon at {host}: {why}"))
        }),
    };
    result.map_err(|e| dial_error(host, &e))
}

/// Connects and completes the TLS handshake (within [`CONNECT_TIMEOUT`]); bad certificate
/// files are bad input, a failed handshake leaves the daemon unreachable.
fn dial_tls(host: &DockerHost, addr: &str, files: &super::tls::TlsFiles) -> anyhow::Result<Stream> {
    let config = super::tls::config(files)?;
    let sock = dial_tcp(addr).map_err(|e| dial_error(host, &e))?;
    sock.set_read_timeout(Some(CONNECT_TIMEOUT)).and(sock.set_write_timeout(Some(CONNECT_TIMEOUT))).context("setting a socket timeout")?;
    let name = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let stream = super::tls::connect(sock, name, config).map_err(|e| {
        let hint = match files.verify {
            true => "check the daemon's certificate and DOCKER_CERT_PATH's ca.pem, cert.pem and key.pem",
            false => "check DOCKER_CERT_PATH's cert.pem and key.pem",
        };
        fail(Cause::DaemonUnreachable, format!("cannot reach the docker daemon at {host}: TLS handshake failed: {e} ({hint})"))
    })?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// Resolves `addr` and connects to the first address that answers, each within a timeout.
fn dial_tcp(addr: &str) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address");
    for sa in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&sa, CONNECT_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The error for a failed connection to `host`: what failed on the error line; what to do on
/// the hint line where the cause says more than "start it or point DOCKER_HOST at it" (the
/// default hint of an unreachable daemon, `report/hint.rs`).
fn dial_error(host: &DockerHost, e: &io::Error) -> anyhow::Error {
    let prefix = "cannot reach the docker daemon";
    let unreachable = |msg: String| fail(Cause::DaemonUnreachable, msg);
    match (host, e.kind()) {
        (DockerHost::Unix(p), io::ErrorKind::NotFound) => unreachable(format!("{prefix}: {} does not exist", p.display())),
        (DockerHost::Unix(p), io::ErrorKind::PermissionDenied) => crate::error::fail_with_hint(
            Cause::DaemonUnreachable,
            format!("{prefix}: permission denied on {}", p.display()),
            "add your user to the `docker` group and log in again, or run with sudo",
        ),
        (_, io::ErrorKind::ConnectionRefused) => unreachable(format!("{prefix}: connection refused at {host}")),
        (_, io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock) => crate::error::fail_with_hint(
            Cause::DaemonUnreachable,
            format!("{prefix}: connecting to {host} timed out after {}s", CONNECT_TIMEOUT.as_secs()),
            "check DOCKER_HOST and the network to the daemon",
        ),
        _ => unreachable(format!("{prefix} at {host}: {e}")),
    }
}

/// Why the daemon's `Api-Version` will not do.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    /// Not `MAJOR.MINOR` (an excerpt).
    Malformed(String),
    /// Older than [`MIN_API`].
    TooOld(String),
}

/// The API version to use given the daemon's `Api-Version`: `min(ours, the daemon's)`. No
/// header at all: [`FALLBACK_API`], as the Go client does.
fn negotiate(server: Option<&str>) -> Result<String, Refusal> {
    let Some(server) = server.map(str::trim) else {
        return Ok(FALLBACK_API.to_string());
    };
    let (major, minor) = parse_version(server)
        .ok_or_else(|| Refusal::Malformed(server.chars().take(40).collect::<String>()))?;
    if (major, minor) < MIN_API {
        return Err(Refusal::TooOld(format!("{major}.{minor}")));
    }
    let (major, minor) = (major, minor).min(MAX_API);
    Ok(format!("{major}.{minor}"))
}

/// Parses `MAJOR.MINOR`.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    let num = |s: &str| s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse().ok()).flatten();
    Some((num(major)?, num(minor)?))
}

/// The daemon's error message: the JSON `message`, else the body's first line, else the
/// status line.
fn daemon_message<R: io::BufRead>(resp: &mut Response<R>) -> String {
    let body = resp.body.read_to_end_limited(MAX_ERROR_BODY).unwrap_or_default();
    message_from_body(&body)
        .unwrap_or_else(|| format!("HTTP {} {}", resp.status, resp.reason).trim_end().to_string())
}

fn message_from_body(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorJson {
        message: String,
    }
    let text = match serde_json::from_slice::<ErrorJson>(body) {
        Ok(e) => e.message,
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(300).collect())
}

fn parse_inspect(body: &[u8]) -> serde_json::Result<ImageInfo> {
    let j: InspectJson = serde_json::from_slice(body)?;
    Ok(ImageInfo {
        id: j.id.unwrap_or_default(),
        repo_tags: j.repo_tags.unwrap_or_default(),
        repo_digests: j.repo_digests.unwrap_or_default(),
        size: j.size.unwrap_or(0).max(0) as u64,
        layers: j.rootfs.and_then(|r| r.layers).unwrap_or_default(),
    })
}

/// Percent-encodes everything but unreserved characters and the bytes in `keep`.
fn encode(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || keep.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
