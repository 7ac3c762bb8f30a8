//! Turning failures into classified errors: an unexpected HTTP response ([`response_error`])
//! or a transport error from ureq ([`transport_error`]).
//!
//! The class of an answer is not decided here: [`response_error`] builds a
//! [`Cause::Status`] (the status and the body's error codes) and `error.rs` holds the table
//! (408/429/5xx and TOOMANYREQUESTS transient, 401/403/DENIED auth, 404 NAME_UNKNOWN not
//! found, 404 BLOB_UPLOAD_UNKNOWN transient, the rest permanent). A transient answer with a
//! `Retry-After` keeps the wait for the retry loop ([`super::retry::RetryAfter`]).
//! [`transport_error`] names the cause of a request that got no answer: [`Cause::Network`]
//! when it may pass (refused, reset, timed out, a temporary DNS failure),
//! [`Cause::Unreachable`] when it will not (unknown host, untrusted certificate, wrong
//! protocol), [`Cause::LocalIo`] when the file being sent failed.
//!
//! Messages are lowercase, name the method and the URL (without userinfo or query), and quote
//! the registry's error codes and messages, or a short sanitized excerpt of a non-JSON body.

use super::client::display_url;
use super::retry::RetryAfter;
use crate::error::{fail, Cause, Class};
use std::time::Duration;
use ureq::http::HeaderMap;

/// One entry of a registry error body `{"errors":[{"code","message","detail"}]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ApiError {
    pub code: String,
    pub message: String,
}

/// The registry error entries of a body, if it is such JSON.
pub(super) fn api_errors(body: &[u8]) -> Vec<ApiError> {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: Option<serde_json::Value>,
        #[serde(default)]
        message: Option<serde_json::Value>,
        #[serde(default)]
        detail: Option<serde_json::Value>,
    }
    let text = |v: Option<serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
    };
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        return Vec::new();
    };
    parsed
        .errors
        .into_iter()
        .map(|e| {
            let mut message = text(e.message);
            let detail = text(e.detail);
            if !detail.is_empty() && detail != message {
                message = if message.is_empty() { detail } else { format!("{message} ({detail})") };
            }
            ApiError { code: text(e.code), message: excerpt(&message, 300) }
        })
        .filter(|e| !e.code.is_empty() || !e.message.is_empty())
        .collect()
}

/// What a body says, for a message: the registry error codes and messages if it is registry
/// JSON, else a short excerpt of its text (tags stripped, whitespace collapsed).
pub(super) fn describe_body(body: &[u8]) -> Option<String> {
    let errors = api_errors(body);
    if !errors.is_empty() {
        let parts: Vec<String> = errors
            .iter()
            .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{} {}", e.code, e.message),
                (false, true) => e.code.clone(),
                _ => e.message.clone(),
            })
            .collect();
        return Some(parts.join("; "));
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let text = strip_tags(&text);
    let text = excerpt(&text, 160);
    (!text.is_empty()).then_some(text)
}

/// The error for a response the caller did not expect, classed by [`Cause::Status`] (the
/// status and the body's error codes; see `error.rs` for the table).
pub(super) fn response_error(method: &str, url: &str, status: u16, headers: &HeaderMap, body: &[u8]) -> anyhow::Error {
    let codes: Vec<String> = api_errors(body).into_iter().map(|e| e.code.to_ascii_uppercase()).collect();
    let cause = Cause::Status { status, codes };
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!(" {}", r.to_ascii_lowercase()))
        .unwrap_or_default();
    let mut message = format!("registry answered {status}{reason} to {method} {}", display_url(url));
    if let Some(detail) = describe_body(body) {
        message.push_str(": ");
        message.push_str(&detail);
    }
    if cause.class() == Class::Transient {
        if let Some(after) = retry_after(headers) {
            return RetryAfter::error(cause, message, after);
        }
    }
    fail(cause, message)
}

/// A `Retry-After` in seconds or as an HTTP date (IMF-fixdate, `Wed, 21 Oct 2015 07:28:00 GMT`;
/// a date in the past means no wait). Anything else is ignored. The retry loop caps it.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn parse_http_date(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| m == month)? as u64 + 1;
    let year: u64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let hms: Vec<u64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), for years ≥ 1970.
    let (y, mo) = if month <= 2 { (year - 1, month + 9) } else { (year, month - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

/// The error for a request that got no response.
pub(super) fn transport_error(method: &str, url: &str, err: ureq::Error) -> anyhow::Error {
    let shown = display_url(url);
    let host = super::client::origin(url).map(|(_, h, p)| format!("{h}:{p}")).unwrap_or_else(|| shown.clone());
    let target = format!("{method} {shown}");
    match err {
        ureq::Error::Io(io) => {
            if let Some(tls) = io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                return tls_error(&host, &target, tls);
            }
            // getaddrinfo failures come as uncategorized I/O errors: only EAI_AGAIN
            // ("Temporary failure in name resolution") is worth retrying.
            let text = io.to_string();
            if let Some(why) = text.strip_prefix("failed to lookup address information: ") {
                let transient = why.to_ascii_lowercase().contains("temporary failure");
                return fail(
                    if transient { Cause::Network } else { Cause::Unreachable },
                    format!("cannot resolve host {host} for {target}: {}", why.to_lowercase()),
                );
            }
            let cause = match io.kind() {
                // A file being sent (a spool file of ours) went missing or became unreadable:
                // not the network, and not something a retry mends.
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => Cause::LocalIo,
                _ => Cause::Network,
            };
            let what = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused (is the registry running?)".to_string(),
                std::io::ErrorKind::UnexpectedEof => "connection closed early".to_string(),
                _ => io.to_string().to_lowercase(),
            };
            fail(cause, format!("network error for {target}: {what}"))
        }
        ureq::Error::Rustls(tls) => tls_error(&host, &target, &tls),
        ureq::Error::Timeout(t) => {
            let what = match t {
                ureq::Timeout::RecvResponse => "the response headers did not arrive in full within --read-timeout".to_string(),
                ureq::Timeout::RecvBody => "the response body did not arrive in full within --read-timeout".to_string(),
                ureq::Timeout::PerRead => "nothing arrived within --read-timeout".to_string(),
                ureq::Timeout::PerWrite => "nothing could be sent within --read-timeout".to_string(),
                ureq::Timeout::Connect | ureq::Timeout::Resolve => "no connection within --connect-timeout".to_string(),
                other => format!("{other}"),
            };
            fail(Cause::Network, format!("timed out for {target}: {what}"))
        }
        ureq::Error::ConnectionFailed => fail(Cause::Network, format!("could not connect to {host} for {target}")),
        ureq::Error::HostNotFound => fail(
            Cause::Unreachable,
            format!("cannot resolve host {host} for {target}: check the registry address"),
        ),
        ureq::Error::Protocol(e) => fail(
            Cause::Unreachable,
            format!("bad http from {host} for {target}: {e} (does the registry speak {}?)", other_scheme(url)),
        ),
        ureq::Error::RedirectFailed | ureq::Error::TooManyRedirects => {
            fail(Cause::BadAnswer, format!("registry redirected {target} in a way that cannot be followed"))
        }
        ureq::Error::BadUri(u) => fail(Cause::BadInput, format!("invalid url {}", display_url(&u))),
        ureq::Error::Tls(what) => fail(Cause::Unreachable, format!("tls error with {host} for {target}: {what}")),
        other => fail(Cause::Unreachable, format!("request failed for {target}: {}", other.to_string().to_lowercase())),
    }
}

fn tls_error(host: &str, target: &str, err: &rustls::Error) -> anyhow::Error {
    match err {
        rustls::Error::InvalidCertificate(_) => crate::error::fail_with_hint(
            Cause::Unreachable,
            format!("tls certificate of {host} not trusted for {target}: {err}"),
            "give its CA with --ca-cert FILE, or put it in ~/.docker/certs.d/HOST:PORT/ca.crt, or use --insecure to skip verification",
        ),
        rustls::Error::InvalidMessage(_) => fail(
            Cause::Unreachable,
            format!("tls handshake with {host} failed for {target}: {err} (does the registry speak http?)"),
        ),
        _ => fail(Cause::Unreachable, format!("tls error with {host} for {target}: {err}")),
    }
}

fn other_scheme(url: &str) -> &'static str {
    if url.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("https:")) {
        "http"
    } else {
        "https"
    }
}

/// Removes `<…>` tags and collapses whitespace and control characters.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            c if c.is_whitespace() || c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters of `text` on one line, with `…` if cut.
fn excerpt(text: &str, max: usize) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let one_line = one_line.trim();
    if one_line.chars().count() <= max {
        return one_line.to_string();
    }
    let mut cut: String = one_line.chars().take(max).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::class_of;

    fn classify(status: u16, body: &str) -> (Class, String) {
        let e = response_error("PUT", "https://u:pw@r.example/v2/x/blobs/uploads/1?_state=s", status, &HeaderMap::new(), body.as_bytes());
        (class_of(&e), format!("{e:#}"))
    }

    #[test]
    fn classifies_statuses() {
        let json = |code: &str| format!(r#"{{"errors":[{{"code":"{code}","message":"m","detail":null}}]}}"#);
        let table: &[(u16, String, Class)] = &[
            (408, String::new(), Class::Transient),
            (429, String::new(), Class::Transient),
            (500, String::new(), Class::Transient),
            (502, "<html>bad gateway</html>".into(), Class::Transient),
            (503, String::new(), Class::Transient),
            (504, String::new(), Class::Transient),
            (401, json("UNAUTHORIZED"), Class::Auth),
            (403, String::new(), Class::Auth),
            (400, json("DENIED"), Class::Auth),
            (404, json("NAME_UNKNOWN"), Class::NotFound),
            (404, json("BLOB_UPLOAD_UNKNOWN"), Class::Transient),
            (404, json("MANIFEST_UNKNOWN"), Class::Permanent),
            (404, String::new(), Class::Permanent),
            (400, json("MANIFEST_INVALID"), Class::Permanent),
            (400, json("TOOMANYREQUESTS"), Class::Transient),
            (405, String::new(), Class::Permanent),
            (413, String::new(), Class::Permanent),
            (501, String::new(), Class::Permanent),
            (507, String::new(), Class::Permanent),
            (302, String::new(), Class::Permanent),
        ];
        for (status, body, want) in table {
            assert_eq!(classify(*status, body).0, *want, "status {status} body {body:?}");
        }
    }

    #[test]
    fn messages_name_request_and_registry_error() {
        let (_, msg) = classify(
            400,
            r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content","detail":{"a":1}}]}"#,
        );
        assert_eq!(
            msg,
            "registry answered 400 bad request to PUT https://r.example/v2/x/blobs/uploads/1?…: \
             DIGEST_INVALID provided digest did not match uploaded content ({\"a\":1})"
        );
        assert!(!msg.contains("pw") && !msg.contains("_state"));
        let (_, msg) = classify(502, "<html><head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>");
        assert!(msg.ends_with(": 502 Bad Gateway nginx"), "{msg}");
        let (_, msg) = classify(500, "");
        assert!(msg.ends_with("internal server error to PUT https://r.example/v2/x/blobs/uploads/1?…"), "{msg}");
        let (_, msg) = classify(500, &"x".repeat(1000));
        assert!(msg.chars().count() < 300, "{msg}");
    }

    #[test]
    fn keeps_retry_after_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let e = response_error("GET", "http://r/v2/", 429, &headers, b"");
        assert_eq!(class_of(&e), Class::Transient);
        assert_eq!(RetryAfter::of(&e), Some(Duration::from_secs(7)));
        assert!(format!("{e}").starts_with("registry answered 429 too many requests to GET http://r/v2/"));
        // an HTTP date in the past: retry at once
        headers.insert("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap());
        assert_eq!(RetryAfter::of(&response_error("GET", "http://r/v2/", 503, &headers, b"")), Some(Duration::ZERO));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(RetryAfter::of(&response_error("GET", "http://r/v2/", 503, &headers, b"")), None);
        // a permanent status ignores it
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(RetryAfter::of(&response_error("GET", "http://r/v2/", 400, &headers, b"")), None);
    }

    #[test]
    fn parses_http_dates() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"), Some(1_445_412_480));
        assert_eq!(parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"), Some(1_835_438_400));
        for bad in ["", "7", "Wed, 21 Oct 2015 07:28:00", "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Foo 2015 07:28:00 GMT", "Wed, 21 Oct 2015 25:00:00 GMT", "x, 1 Jan 1 1:1 GMT"] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
        // a date far ahead: a long wait (the retry loop caps it)
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT".parse().unwrap());
        let e = response_error("GET", "http://r/v2/", 429, &headers, b"");
        assert!(RetryAfter::of(&e).unwrap() > Duration::from_secs(3600));
    }

    #[test]
    fn classifies_transport_errors() {
        use std::io::{Error, ErrorKind};
        let url = "https://r.example/v2/";
        let io = |k: ErrorKind| transport_error("GET", url, ureq::Error::Io(Error::from(k)));
        for kind in [ErrorKind::ConnectionRefused, ErrorKind::ConnectionReset, ErrorKind::TimedOut, ErrorKind::UnexpectedEof, ErrorKind::BrokenPipe] {
            assert_eq!(class_of(&io(kind)), Class::Transient, "{kind:?}");
        }
        assert!(format!("{}", io(ErrorKind::ConnectionRefused)).starts_with("network error for GET https://r.example/v2/: connection refused"));
        // a spool file being sent went missing: ours, not the network (was NotFound, exit 2)
        assert_eq!(class_of(&io(ErrorKind::NotFound)), Class::Permanent);
        assert_eq!(class_of(&io(ErrorKind::PermissionDenied)), Class::Permanent);
        let t = transport_error("GET", url, ureq::Error::Timeout(ureq::Timeout::Connect));
        assert_eq!(class_of(&t), Class::Transient);
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = ureq::Error::Io(Error::new(ErrorKind::InvalidData, cert.clone()));
        for e in [transport_error("GET", url, wrapped), transport_error("GET", url, ureq::Error::Rustls(cert))] {
            assert_eq!(class_of(&e), Class::Permanent);
            assert!(format!("{e}").contains("not trusted"), "{e}");
            let hint = crate::report::hint::of(&e).unwrap_or_default();
            assert!(hint.contains("--ca-cert") && hint.contains("--insecure"), "{hint}");
        }
        assert_eq!(class_of(&transport_error("GET", url, ureq::Error::HostNotFound)), Class::Permanent);
        let dns = |msg: &str| transport_error("GET", url, ureq::Error::Io(Error::other(format!("failed to lookup address information: {msg}"))));
        let e = dns("Name or service not known");
        assert_eq!(class_of(&e), Class::Permanent);
        assert_eq!(format!("{e}"), "cannot resolve host r.example:443 for GET https://r.example/v2/: name or service not known");
        assert_eq!(class_of(&dns("Temporary failure in name resolution")), Class::Transient);
    }

    #[test]
    fn describes_bodies() {
        assert_eq!(describe_body(b""), None);
        assert_eq!(describe_body(b"   \n"), None);
        assert_eq!(describe_body(b"{\"errors\":[{\"code\":\"X\"}]}").as_deref(), Some("X"));
        assert_eq!(describe_body(b"{\"errors\":[]}").as_deref(), Some("{\"errors\":[]}"));
        assert_eq!(describe_body(b"plain\r\ntext\x07").as_deref(), Some("plain text"));
    }
}
