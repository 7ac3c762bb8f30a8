//! The HTTP layer: one `ureq` agent, the registry's base URL, URL helpers, and a `send` that
//! turns every exchange into a [`Reply`] (any status) or a classified transport error.
//!
//! Nothing here knows about authentication: the caller passes the `Authorization` value (as a
//! [`Secret`]) and decides where it may go.

use super::classify;
use crate::error::{fail, Class};
use crate::secret::Secret;
use std::io::Read;
use std::time::Duration;
use ureq::http::{HeaderMap, Method, Request};

/// The most of a response body we ever keep (token JSON, error bodies); the rest is dropped.
const BODY_LIMIT: u64 = 1 << 20;

/// Scheme and authority of the registry, from `Options::base_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` as given (lowercased), without userinfo.
    pub authority: String,
}

impl Endpoint {
    /// Parses `scheme://host[:port]` (a trailing `/` is allowed, a path is not).
    pub fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let shown = display_url(url);
        let Some((scheme, rest)) = split_scheme(url) else {
            return Err(fail(
                Class::Permanent,
                format!("registry url {shown:?} must start with http:// or https://"),
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(fail(
                Class::Permanent,
                format!("registry url {shown:?} must be scheme://host[:port] without a path"),
            ));
        }
        if rest.contains('@') {
            return Err(fail(
                Class::Permanent,
                format!("registry url {shown:?} must not carry credentials: use the credential options"),
            ));
        }
        if rest.is_empty() || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(Class::Permanent, format!("registry url {shown:?} has no valid host")));
        }
        Ok(Endpoint { scheme, authority: rest.to_ascii_lowercase() })
    }

    /// `scheme://authority` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.scheme, self.authority, path)
    }

    /// `host[:port]`, for messages.
    pub fn host(&self) -> &str {
        &self.authority
    }

    /// Whether `url` goes to this registry's scheme, host and port (credentials may go there).
    pub fn same_origin(&self, url: &str) -> bool {
        origin(url).is_some() && origin(url) == origin(&self.url("/"))
    }
}

/// Lowercased scheme and the rest of an absolute http(s) URL.
fn split_scheme(url: &str) -> Option<(String, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    (scheme == "http" || scheme == "https").then_some((scheme, rest))
}

/// `(scheme, host, port)` of an absolute http(s) URL, with the default port filled in.
pub(super) fn origin(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = split_scheme(url)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default = if scheme == "https" { 443 } else { 80 };
    // IPv6 literal: [::1]:5000
    let (host, port) = if let Some(end) = hostport.find(']') {
        let port = hostport[end + 1..].strip_prefix(':');
        (&hostport[..=end], port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        None | Some("") => default,
        Some(p) => p.parse().ok()?,
    };
    if host.is_empty() {
        return None;
    }
    Some((scheme, host.to_ascii_lowercase(), port))
}

/// A URL fit for messages and logs: no userinfo, and the query (upload state, signatures)
/// replaced by `?…`.
pub(super) fn display_url(url: &str) -> String {
    let (before_fragment, _) = url.split_once('#').unwrap_or((url, ""));
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, _)) => (p, "?…"),
        None => (before_fragment, ""),
    };
    let stripped = match path.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{authority}{tail}")
        }
        None => path.to_string(),
    };
    format!("{stripped}{query}")
}

/// Resolves an upload `Location` header against the registry and the URL of the request that
/// returned it. Absolute URLs are kept as they are (query included), `//host/…` takes the
/// registry's scheme, `/…` goes to the registry, anything else is relative to `request_url`'s
/// directory. A fragment is dropped.
pub(super) fn resolve_location(base: &Endpoint, request_url: &str, location: &str) -> anyhow::Result<String> {
    let location = location.trim();
    let location = location.split_once('#').map_or(location, |(l, _)| l);
    if location.is_empty() {
        return Err(fail(Class::Permanent, "registry sent an empty Location header"));
    }
    if location.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(
            Class::Permanent,
            format!("registry sent an invalid Location header {:?}", display_url(location)),
        ));
    }
    if let Some((scheme, _)) = location.split_once("://") {
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            return Ok(location.to_string());
        }
        if !scheme.contains(['/', '?']) {
            return Err(fail(
                Class::Permanent,
                format!("registry sent a Location with unsupported scheme {scheme:?}"),
            ));
        }
    }
    if location.starts_with("//") {
        return Ok(format!("{}:{location}", base.scheme));
    }
    if location.starts_with('/') {
        return Ok(base.url(location));
    }
    let path = request_url.split(['?', '#']).next().unwrap_or(request_url);
    let dir = match path.rfind('/') {
        Some(i) if i + 1 > path.find("://").map_or(0, |s| s + 3) => &path[..=i],
        _ => return Ok(format!("{path}/{location}")),
    };
    Ok(format!("{dir}{location}"))
}

/// `url` with `key=value` appended to its query (`?` or `&` as needed); the value is
/// percent-encoded.
pub(super) fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = match url.find('?') {
        None => "?",
        Some(_) if url.ends_with('?') || url.ends_with('&') => "",
        Some(_) => "&",
    };
    format!("{url}{sep}{}={}", percent_encode(key), percent_encode(value))
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
pub(super) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a request sends.
pub(super) enum Payload<'a> {
    /// No body (GET, HEAD).
    None,
    /// A body in memory, sent with its length (`Content-Length: 0` for an empty slice).
    Bytes(&'a [u8]),
    /// A file streamed from its current position; ureq sends its metadata length as
    /// Content-Length, which the caller has checked.
    File(std::fs::File),
}

/// A response: any status, selected headers, and at most [`BODY_LIMIT`] bytes of body.
pub(super) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The registry's HTTP client.
pub(super) struct Client {
    agent: ureq::Agent,
    pub base: Endpoint,
}

impl Client {
    pub fn new(base: Endpoint, insecure: bool) -> Client {
        let tls = ureq::tls::TlsConfig::builder().disable_verification(insecure).build();
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls)
            .user_agent(concat!("idpush/", env!("CARGO_PKG_VERSION")))
            // GET/HEAD may follow redirects (blob storage); Authorization is never carried
            // along. Requests with a body never follow one (see `send`).
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::Never)
            .max_redirects(5)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(300)))
            .timeout_per_write(Some(Duration::from_secs(300)))
            .build();
        Client { agent: config.new_agent(), base }
    }

    /// Sends one request and reads the response (status, headers, capped body). Transport
    /// failures come back classified; every status comes back as a [`Reply`].
    pub fn send(
        &self,
        method: &Method,
        url: &str,
        authorization: Option<&Secret>,
        headers: &[(&str, &str)],
        payload: Payload<'_>,
    ) -> anyhow::Result<Reply> {
        let shown = display_url(url);
        let mut builder = Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        if let Some(auth) = authorization {
            let mut value = ureq::http::HeaderValue::from_str(auth.expose()).map_err(|_| {
                fail(Class::Permanent, "the credentials contain characters not allowed in an http header")
            })?;
            value.set_sensitive(true);
            builder = builder.header("authorization", value);
        }
        let result = match payload {
            Payload::None => self.run(builder.body(()), url),
            Payload::Bytes(bytes) => self.run(builder.body(bytes), url),
            Payload::File(file) => self.run(builder.body(file), url),
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                log::debug!("{method} {shown} -> {e}");
                return Err(classify::transport_error(method.as_str(), url, e));
            }
        };
        let status = response.status().as_u16();
        log::debug!("{method} {shown} -> {status}");
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        if *method != Method::HEAD {
            let mut reader = response.body_mut().as_reader().take(BODY_LIMIT);
            if let Err(e) = reader.read_to_end(&mut body) {
                return Err(classify::transport_error(method.as_str(), url, ureq::Error::from(e)));
            }
        }
        Ok(Reply { status, headers, body })
    }

    fn run<B: ureq::AsSendBody>(
        &self,
        request: Result<Request<B>, ureq::http::Error>,
        url: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
        let request = request.map_err(|_| ureq::Error::BadUri(display_url(url)))?;
        let has_body = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
        if has_body {
            // A 307/308 would need the body again and a 301-303 would turn the upload into a
            // GET: report redirects of uploads instead of following them.
            let request = self.agent.configure_request(request).max_redirects(0).build();
            self.agent.run(request)
        } else {
            self.agent.run(request)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap()
    }

    #[test]
    fn parses_base_urls() {
        let e = base("https://Gitea.cnoe.localtest.me:8443/");
        assert_eq!(e.scheme, "https");
        assert_eq!(e.host(), "gitea.cnoe.localtest.me:8443");
        assert_eq!(e.url("/v2/"), "https://gitea.cnoe.localtest.me:8443/v2/");
        assert_eq!(base("HTTP://127.0.0.1:5000").url("/v2/"), "http://127.0.0.1:5000/v2/");
        for bad in ["127.0.0.1:5000", "ftp://x", "https://", "https://x/v2/", "https://u:p@x", "http://a b"] {
            assert!(Endpoint::parse(bad).is_err(), "accepted {bad:?}");
        }
        let msg = format!("{:#}", Endpoint::parse("https://user:hunter2@x").unwrap_err());
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn compares_origins() {
        let e = base("https://reg.example:443");
        assert!(e.same_origin("https://reg.example/v2/x?y=1"));
        assert!(e.same_origin("https://REG.example:443/v2/"));
        assert!(!e.same_origin("http://reg.example/v2/"));
        assert!(!e.same_origin("https://reg.example:8443/v2/"));
        assert!(!e.same_origin("https://s3.example/bucket"));
        assert!(!e.same_origin("https://reg.example.evil/v2/"));
        assert!(!e.same_origin("/relative"));
        let e = base("http://[::1]:5000");
        assert!(e.same_origin("http://[::1]:5000/v2/"));
        assert!(!e.same_origin("http://[::1]/v2/"));
    }

    #[test]
    fn resolves_locations() {
        let e = base("https://reg.example:8443");
        let req = "https://reg.example:8443/v2/a/b/blobs/uploads/";
        let cases = [
            // relative to the registry root, query kept
            ("/v2/a/b/blobs/uploads/u1?_state=xyz", "https://reg.example:8443/v2/a/b/blobs/uploads/u1?_state=xyz"),
            ("/v2/a/b/blobs/uploads/u1", "https://reg.example:8443/v2/a/b/blobs/uploads/u1"),
            // absolute, even on another host
            ("http://other:5000/up/1?x=1&y=2", "http://other:5000/up/1?x=1&y=2"),
            ("HTTPS://reg.example:8443/v2/u", "HTTPS://reg.example:8443/v2/u"),
            // scheme-relative
            ("//cdn.example/up/1", "https://cdn.example/up/1"),
            // path-relative to the request's directory
            ("u2?s=1", "https://reg.example:8443/v2/a/b/blobs/uploads/u2?s=1"),
            // fragment and whitespace dropped
            ("  /v2/u3#frag ", "https://reg.example:8443/v2/u3"),
        ];
        for (loc, want) in cases {
            assert_eq!(resolve_location(&e, req, loc).unwrap(), want, "location {loc:?}");
        }
        for bad in ["", "   ", "ftp://x/y", "/a b"] {
            assert!(resolve_location(&e, req, bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn appends_query_parameters() {
        let d = "sha256:abc";
        assert_eq!(with_query("https://r/v2/u/1", "digest", d), "https://r/v2/u/1?digest=sha256%3Aabc");
        assert_eq!(with_query("https://r/v2/u/1?_state=x", "digest", d), "https://r/v2/u/1?_state=x&digest=sha256%3Aabc");
        assert_eq!(with_query("https://r/u?", "digest", d), "https://r/u?digest=sha256%3Aabc");
        assert_eq!(with_query("https://r/u?a=1&", "digest", d), "https://r/u?a=1&digest=sha256%3Aabc");
    }

    #[test]
    fn percent_encodes() {
        assert_eq!(percent_encode("repository:a/b:pull,push"), "repository%3Aa%2Fb%3Apull%2Cpush");
        assert_eq!(percent_encode("A-z_0.9~"), "A-z_0.9~");
        assert_eq!(percent_encode("é *"), "%C3%A9%20%2A");
    }

    #[test]
    fn displays_urls_without_secrets() {
        assert_eq!(display_url("https://u:p@h:1/v2/x?_state=s#f"), "https://h:1/v2/x?…");
        assert_eq!(display_url("http://h/v2/"), "http://h/v2/");
        assert_eq!(display_url("http://u@h"), "http://h");
    }
}
