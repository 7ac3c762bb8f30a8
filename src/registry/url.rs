//! URLs as the registry client handles them: the registry's [`Endpoint`], the origin of a URL,
//! a URL made safe to show (no userinfo, no query values), `Location` resolved against the
//! request, a query parameter added, percent-encoding.

use crate::error::{fail, Cause};

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
                Cause::BadInput,
                format!("registry url {shown:?} must start with http:// or https://"),
            ));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(fail(
                Cause::BadInput,
                format!("registry url {shown:?} must be scheme://host[:port] without a path"),
            ));
        }
        if rest.contains('@') {
            return Err(fail(
                Cause::BadInput,
                format!("registry url {shown:?} must not carry credentials: use the credential options"),
            ));
        }
        if rest.is_empty() || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail(Cause::BadInput, format!("registry url {shown:?} has no valid host")));
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
        return Err(fail(Cause::BadAnswer, "registry sent an empty Location header"));
    }
    if location.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(fail(
            Cause::BadAnswer,
            format!("registry sent an invalid Location header {:?}", display_url(location)),
        ));
    }
    if let Some((scheme, _)) = location.split_once("://") {
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            return Ok(location.to_string());
        }
        if !scheme.contains(['/', '?']) {
            return Err(fail(
                Cause::BadAnswer,
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

/// `host[:port]` of an absolute URL as written (no userinfo), for messages.
pub(super) fn authority_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit_once('@').map_or(authority, |(_, h)| h).to_ascii_lowercase()
}
