//! The HTTP layer: one `ureq` agent, the registry's base URL (URL helpers in `url.rs`), and a `send` that
//! turns every exchange into a [`Reply`] (any status) or a classified transport error.
//!
//! Nothing here knows about authentication: the caller passes the `Authorization` value (as a
//! [`Secret`]) and decides where it may go.

use super::classify;
use super::tls::TlsOptions;
use super::trace;
use crate::error::{fail, Cause};
use crate::secret::Secret;
use std::io::Read;
use std::time::Duration;
use ureq::http::{HeaderMap, Method, Request};

pub(super) use super::url::*;

/// The most of a response body we ever keep (token JSON, error bodies); the rest is dropped.
pub(super) const BODY_LIMIT: u64 = 1 << 20;

/// What a request sends.
pub(super) enum Payload<'a> {
    /// No body (GET, HEAD).
    None,
    /// A body in memory, sent with its length (`Content-Length: 0` for an empty slice).
    Bytes(&'a [u8]),
    /// A file streamed from its current position; ureq sends its metadata length as
    /// Content-Length, which the caller has checked.
    File(std::fs::File),
    /// `len` bytes of a file from its current position (a chunk), streamed, with that
    /// Content-Length.
    Section { file: std::fs::File, len: u64 },
}

/// A file being sent, its bytes counted on a progress meter as they are read: the meter starts
/// at the file's position (a resumed chunk, a fresh attempt) and gains each read, one relaxed
/// atomic add per read (no lock on the hot path).
struct Metered {
    file: std::fs::File,
    meter: crate::report::progress::Meter,
}

impl Metered {
    fn new(mut file: std::fs::File, meter: crate::report::progress::Meter) -> Metered {
        use std::io::Seek as _;
        meter.set(file.stream_position().unwrap_or(0));
        Metered { file, meter }
    }
}

impl std::io::Read for Metered {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.meter.add(n as u64);
        Ok(n)
    }
}

/// Where a streamed answer's body goes (see [`Client::send_to`]).
pub(super) type Sink<'s> = dyn FnMut(&mut dyn Read) -> anyhow::Result<()> + 's;

/// A body reader that remembers the first failure of the network under it, so a sink's
/// error can be told apart from the connection's.
struct Watched<R> {
    inner: R,
    failed: Option<std::io::Error>,
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.failed.is_none() {
                self.failed = Some(std::io::Error::new(e.kind(), e.to_string()));
            }
        })
    }
}

/// A response: any status, selected headers, and at most [`BODY_LIMIT`] bytes of body.
pub(super) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The URL that gave this answer: the request's, or where GET/HEAD redirects led.
    pub final_url: String,
    /// The body was longer than [`BODY_LIMIT`] and was cut there.
    pub truncated: bool,
}

impl Reply {
    /// A header's value, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A reply with no body (for unit tests of the checks on answers).
    #[cfg(test)]
    pub fn test(status: u16, headers: &[(&str, &str)]) -> Reply {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(ureq::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        Reply { status, headers: map, body: Vec::new(), final_url: String::new(), truncated: false }
    }
}

/// What a TLS handshake with a registry showed (see `Registry::settle_scheme`).
pub(super) enum Probe {
    /// The server speaks TLS: an HTTP answer came over it (any status), or the handshake
    /// failed in TLS terms (an untrusted certificate, an alert).
    Tls,
    /// The server answered the handshake with plain-text HTTP.
    PlainHttp,
    /// No TLS or HTTP answer at all (refused, reset, timed out), described.
    Unreachable(String),
}

/// The registry's HTTP client: one agent for direct connections and one per proxy in the
/// environment (`HTTPS_PROXY` for https URLs, `HTTP_PROXY` for http URLs, `ALL_PROXY` for
/// both; lowercase names too), chosen per request with `NO_PROXY` (see [`Proxies`]).
pub(super) struct Client {
    direct: ureq::Agent,
    via_https: Option<ureq::Agent>,
    via_http: Option<ureq::Agent>,
    proxies: Proxies,
    insecure: bool,
    pub base: Endpoint,
}

impl Client {
    /// A client for `base`; `connect` bounds TCP connect plus TLS handshake; `read` bounds each
    /// read and write of a request body (an upload stream may take as long as it keeps moving),
    /// and, as a whole, the response headers (from the end of the request) and then the
    /// response body: a server that trickles its answer a byte at a time cannot hold a request
    /// open for longer than `read` per phase.
    pub fn new(base: Endpoint, tls: &TlsOptions, connect: Duration, read: Duration) -> anyhow::Result<Client> {
        Client::with_env(base, tls, connect, read, &|k| std::env::var(k).ok())
    }

    pub fn with_env(
        base: Endpoint,
        tls: &TlsOptions,
        connect: Duration,
        read: Duration,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Client> {
        let roots = super::tls::root_certs(base.host(), tls, env)?;
        let tls_config = ureq::tls::TlsConfig::builder()
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .disable_verification(tls.insecure)
            .root_certs(roots)
            .build();
        let agent = |proxy: Option<ureq::Proxy>| {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .tls_config(tls_config.clone())
                .proxy(proxy)
                .user_agent(concat!("idpush/", env!("CARGO_PKG_VERSION")))
                // GET/HEAD follow redirects (blob storage) without ever carrying Authorization
                // along. Requests with a body never follow one here: the upload code resends
                // the body itself (see `upload.rs`).
                .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
                .max_redirects(5)
                .timeout_connect(Some(connect))
                .timeout_per_read(Some(read))
                .timeout_per_write(Some(read))
                // Deadlines for the whole answer, not for each read: the headers, then the
                // body read into memory (ping, errors, tokens).
                .timeout_recv_response(Some(read))
                .timeout_recv_body(Some(read))
                .build()
                .new_agent()
        };
        let proxies = Proxies::from_env(env);
        let make = |url: &Option<String>| -> anyhow::Result<Option<ureq::Agent>> {
            let Some(url) = url else { return Ok(None) };
            let proxy = ureq::Proxy::new(url).map_err(|_| {
                fail(Cause::BadInput, format!("the proxy setting {:?} is not a valid proxy URL", trace::url(url)))
            })?;
            log::debug!("proxy {} (NO_PROXY: {:?})", trace::url(url), proxies.no_proxy);
            Ok(Some(agent(Some(proxy))))
        };
        Ok(Client {
            direct: agent(None),
            via_https: make(&proxies.https)?,
            via_http: make(&proxies.http)?,
            proxies,
            insecure: tls.insecure,
            base,
        })
    }

    /// Whether `--insecure` is on (no TLS verification, credentials allowed over plain http).
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// `GET url` (https) without credentials, to learn whether the server speaks TLS.
    pub fn probe_tls(&self, url: &str) -> Probe {
        trace::request("GET", url, &[], None, None);
        match self.run(Request::builder().method(Method::GET).uri(url).body(()), url) {
            Ok(_) => Probe::Tls,
            Err(e) if super::tls::is_plain_http_answer(&e) => Probe::PlainHttp,
            Err(e) if super::tls::is_tls_error(&e) => Probe::Tls,
            Err(e) => Probe::Unreachable(e.to_string().to_lowercase()),
        }
    }

    /// The agent for `url`: through the scheme's proxy unless NO_PROXY or loopback says direct.
    fn agent_for(&self, url: &str) -> &ureq::Agent {
        let Some((scheme, host, port)) = origin(url) else { return &self.direct };
        let via = if scheme == "https" { &self.via_https } else { &self.via_http };
        match via {
            Some(agent) if self.proxies.use_proxy(&host, port) => agent,
            _ => &self.direct,
        }
    }

    /// Sends one request and reads the response (status, headers, capped body). Transport
    /// failures come back classified; every status comes back as a [`Reply`]. Credentials are
    /// never sent over plain http to a host that is not this machine, unless `--insecure`.
    pub fn send(
        &self,
        method: &Method,
        url: &str,
        authorization: Option<&Secret>,
        headers: &[(&str, &str)],
        payload: Payload<'_>,
    ) -> anyhow::Result<Reply> {
        self.send_to(method, url, authorization, headers, payload, None)
    }

    /// [`Client::send`] that hands a 200 answer's body to `sink` as it streams (no size cap,
    /// no deadline for the body as a whole, only the per-read timeout), instead of reading it
    /// into the [`Reply`] (whose body is then empty). Other statuses are read as `send` reads
    /// them. A read of the body that fails in the network is a classified transport error,
    /// whatever the sink made of it.
    pub fn send_to(
        &self,
        method: &Method,
        url: &str,
        authorization: Option<&Secret>,
        headers: &[(&str, &str)],
        payload: Payload<'_>,
        sink: Option<&mut Sink<'_>>,
    ) -> anyhow::Result<Reply> {
        let streamed = sink.is_some();
        if let Some((scheme, host, _)) = origin(url).filter(|_| authorization.is_some()) {
            if scheme == "http" && !self.insecure && !crate::plan::is_loopback(&host) {
                return Err(fail(
                    Cause::BadInput,
                    format!(
                        "refusing to send credentials over plain http to {}: use an https:// registry URL, or --insecure to allow it",
                        authority_of(url)
                    ),
                ));
            }
        }
        let mut builder = Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(auth) = authorization {
            let mut value = ureq::http::HeaderValue::from_str(auth.expose()).map_err(|_| {
                fail(Cause::BadInput, "the credentials contain characters not allowed in an http header")
            })?;
            value.set_sensitive(true);
            builder = builder.header("authorization", value);
        }
        let body_len = match &payload {
            Payload::None => None,
            Payload::Bytes(b) => Some(b.len() as u64),
            Payload::File(f) => f.metadata().ok().map(|m| m.len()),
            Payload::Section { len, .. } => Some(*len),
        };
        trace::request(method.as_str(), url, headers, authorization.map(|a| a.expose()), body_len);
        let result = match payload {
            Payload::None => self.run_with(builder.body(()), url, streamed),
            Payload::Bytes(bytes) => self.run(builder.body(bytes), url),
            Payload::File(file) => match (crate::report::progress::current_meter(), body_len) {
                // Counted as ureq reads it (progress); the length header as ureq would set it.
                (Some(meter), Some(len)) => {
                    let body = ureq::SendBody::from_owned_reader(Metered::new(file, meter));
                    self.run(builder.header("content-length", len).body(body), url)
                }
                _ => self.run(builder.body(file), url),
            },
            Payload::Section { file, len } => {
                use std::io::Read as _;
                let body = match crate::report::progress::current_meter() {
                    Some(meter) => ureq::SendBody::from_owned_reader(Metered::new(file, meter).take(len)),
                    None => ureq::SendBody::from_owned_reader(file.take(len)),
                };
                self.run(builder.header("content-length", len).body(body), url)
            }
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("{method} {} -> {e}", trace::url(url));
                if super::tls::is_certificate_error(&e) {
                    return Err(super::tls::certificate_error(&authority_of(url), &e, &|k| std::env::var(k).ok()));
                }
                return Err(classify::transport_error(method.as_str(), url, e));
            }
        };
        let status = response.status().as_u16();
        let final_url = {
            use ureq::ResponseExt as _;
            response.get_uri().to_string()
        };
        if final_url != url {
            log::debug!("  {method} {} was redirected to {}", trace::url(url), trace::url(&final_url));
        }
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        if let (Some(sink), 200) = (sink, status) {
            trace::response(method.as_str(), url, status, &headers, &[]);
            let mut watched = Watched { inner: response.body_mut().as_reader(), failed: None };
            return match sink(&mut watched) {
                Ok(()) => Ok(Reply { status, headers, body, final_url, truncated: false }),
                Err(_) if watched.failed.is_some() => {
                    let e = watched.failed.take().unwrap_or_else(|| std::io::Error::other("the body"));
                    Err(classify::transport_error(method.as_str(), url, ureq::Error::from(e)))
                }
                Err(e) => Err(e),
            };
        }
        if *method != Method::HEAD {
            let mut reader = response.body_mut().as_reader().take(BODY_LIMIT + 1);
            if let Err(e) = reader.read_to_end(&mut body) {
                return Err(classify::transport_error(method.as_str(), url, ureq::Error::from(e)));
            }
        }
        let truncated = body.len() as u64 > BODY_LIMIT;
        body.truncate(BODY_LIMIT as usize);
        trace::response(method.as_str(), url, status, &headers, &body);
        Ok(Reply { status, headers, body, final_url, truncated })
    }

    fn run<B: ureq::AsSendBody>(
        &self,
        request: Result<Request<B>, ureq::http::Error>,
        url: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        self.run_with(request, url, false)
    }

    /// [`Client::run`]; a `streamed` body (a blob GET) has no deadline as a whole, only the
    /// per-read timeout: a large layer may take as long as it keeps moving.
    fn run_with<B: ureq::AsSendBody>(
        &self,
        request: Result<Request<B>, ureq::http::Error>,
        url: &str,
        streamed: bool,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let request = request.map_err(|_| ureq::Error::BadUri(display_url(url)))?;
        let agent = self.agent_for(url);
        if streamed {
            let request = agent.configure_request(request).timeout_recv_body(None).build();
            return agent.run(request);
        }
        let has_body = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
        if has_body {
            // A 307/308 would need the body again and a 301-303 would turn the upload into a
            // GET: hand redirects of uploads back to the caller instead of following them.
            let request = agent.configure_request(request).max_redirects(0).build();
            agent.run(request)
        } else {
            agent.run(request)
        }
    }
}

/// Proxy settings from the environment, as Go (and so docker) reads them: `HTTPS_PROXY` for
/// https URLs, `HTTP_PROXY` for http URLs (uppercase first, then lowercase), `ALL_PROXY` for
/// either when those are unset; `NO_PROXY` lists hosts to reach directly: `*`, `host`,
/// `.domain` or `*.domain` (a subdomain), `host:port`, or an IP; a bare `domain` also covers
/// its subdomains. Loopback hosts are always reached directly.
#[derive(Debug, Default, Clone)]
pub(super) struct Proxies {
    pub https: Option<String>,
    pub http: Option<String>,
    pub no_proxy: Vec<String>,
}

impl Proxies {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Proxies {
        let get = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty())).map(|v| v.trim().to_string());
        let all = get(&["ALL_PROXY", "all_proxy"]);
        Proxies {
            https: get(&["HTTPS_PROXY", "https_proxy"]).or_else(|| all.clone()),
            http: get(&["HTTP_PROXY", "http_proxy"]).or(all),
            no_proxy: get(&["NO_PROXY", "no_proxy"])
                .map(|v| {
                    v.split([',', ' '])
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether a request to `host` (lowercase, IPv6 in brackets) and `port` goes through the proxy.
    pub fn use_proxy(&self, host: &str, port: u16) -> bool {
        if crate::plan::is_loopback(host) {
            return false;
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        !self.no_proxy.iter().any(|entry| {
            if entry == "*" {
                return true;
            }
            // host:port entries match that port only ([v6]:port too).
            let (name, want_port) = match entry.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')) => {
                    (h, p.parse::<u16>().ok())
                }
                _ => (entry.as_str(), None),
            };
            if want_port.is_some_and(|p| p != port) {
                return false;
            }
            let name = name.trim_start_matches('[').trim_end_matches(']');
            let name = name.strip_prefix('*').unwrap_or(name);
            match name.strip_prefix('.') {
                Some(domain) => bare.ends_with(&format!(".{domain}")),
                None => bare == name || bare.ends_with(&format!(".{name}")),
            }
        })
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod deadline_tests;

#[cfg(test)]
mod probe_tests;
