//! HTTP tracing for `--log-level debug` (request and response lines and headers) and `trace`
//! (plus JSON response bodies), with every secret redacted: `Authorization`,
//! `Proxy-Authorization`, `Cookie`/`Set-Cookie` values, passwords in URLs, secret-looking query
//! parameters, and token/password fields of JSON bodies.

use ureq::http::HeaderMap;

const REDACTED: &str = "<redacted>";

/// Headers whose values are never shown (Authorization keeps its scheme word).
const SECRET_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie", "set-cookie", "x-registry-auth"];

/// JSON keys whose values are never shown.
const SECRET_KEYS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "identitytoken",
    "registrytoken",
    "password",
    "secret",
    "auth",
    "client_secret",
];

/// Whether a query parameter or JSON key name looks like it carries a secret.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    SECRET_KEYS.contains(&n.as_str())
        || ["token", "password", "secret", "signature", "credential"].iter().any(|s| n.contains(s))
        || n == "sig"
}

/// `url` with the userinfo's password and secret-looking query values replaced.
pub(super) fn url(url: &str) -> String {
    let (url, fragment) = url.split_once('#').map_or((url, None), |(u, f)| (u, Some(f)));
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, tail) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                    format!("{user}:{REDACTED}@{host}")
                }
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{tail}")
        }
        None => base.to_string(),
    };
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if secret_name(k) => format!("{k}={REDACTED}"),
                _ => kv.to_string(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    if fragment.is_some() {
        out.push_str("#…");
    }
    out
}

/// A header value as it may be shown.
pub(super) fn header_value(name: &str, value: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if lower == "location" {
        // Redirects to storage may carry signed URLs.
        return url(value);
    }
    if !SECRET_HEADERS.contains(&lower.as_str()) {
        return value.to_string();
    }
    if lower.ends_with("authorization") {
        if let Some((scheme, _)) = value.split_once(' ') {
            return format!("{scheme} {REDACTED}");
        }
    }
    REDACTED.to_string()
}

/// Logs a request about to be sent (debug): method, URL, the headers we set.
pub(super) fn request(method: &str, target: &str, headers: &[(&str, &str)], authorization: Option<&str>, body_len: Option<u64>) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    let mut lines = format!("> {method} {}", url(target));
    if let Some(a) = authorization {
        lines.push_str(&format!("\n>   authorization: {}", header_value("authorization", a)));
    }
    for (name, value) in headers {
        lines.push_str(&format!("\n>   {}: {}", name.to_ascii_lowercase(), header_value(name, value)));
    }
    if let Some(n) = body_len {
        lines.push_str(&format!("\n>   (body: {n} bytes)"));
    }
    log::debug!("{lines}");
}

/// Logs a response (debug), and at trace its body if it is JSON (redacted).
pub(super) fn response(method: &str, target: &str, status: u16, headers: &HeaderMap, body: &[u8]) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    let mut lines = format!("< {status} for {method} {}", url(target));
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes());
        lines.push_str(&format!("\n<   {}: {}", name.as_str(), header_value(name.as_str(), &v)));
    }
    log::debug!("{lines}");
    if !body.is_empty() && log::log_enabled!(log::Level::Trace) {
        let json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        if json {
            if let Some(shown) = json_body(body) {
                log::trace!("< body: {shown}");
            }
        }
    }
}

/// A JSON body with secret fields replaced; `None` if it is not JSON.
pub(super) fn json_body(body: &[u8]) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_slice(body).ok()?;
    redact_json(&mut value);
    Some(value.to_string())
}

fn redact_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if secret_name(k) && !val.is_object() && !val.is_array() {
                    *val = serde_json::Value::String(REDACTED.into());
                } else {
                    redact_json(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_urls() {
        assert_eq!(url("https://u:hunter2@h:1/v2/x"), "https://u:<redacted>@h:1/v2/x");
        assert_eq!(url("https://h/t?service=s&scope=a&access_token=abc&X-Amz-Signature=zz"),
            "https://h/t?service=s&scope=a&access_token=<redacted>&X-Amz-Signature=<redacted>");
        assert_eq!(url("http://h/v2/u/1?_state=x&digest=sha256%3Aab"), "http://h/v2/u/1?_state=x&digest=sha256%3Aab");
    }

    #[test]
    fn redacts_headers_and_json() {
        assert_eq!(header_value("Authorization", "Bearer tok"), "Bearer <redacted>");
        assert_eq!(header_value("authorization", "tok"), "<redacted>");
        assert_eq!(header_value("Cookie", "a=b"), "<redacted>");
        assert_eq!(header_value("Location", "/v2/x"), "/v2/x");
        assert_eq!(header_value("Location", "https://s3/b?X-Amz-Signature=abc&x=1"), "https://s3/b?X-Amz-Signature=<redacted>&x=1");
        let shown = json_body(br#"{"token":"t1","access_token":"t2","expires_in":60,"nested":{"password":"p"},"list":[{"refresh_token":"r"}]}"#).unwrap();
        for s in ["t1", "t2", "\"p\"", "\"r\""] {
            assert!(!shown.contains(s), "{shown}");
        }
        assert!(shown.contains("\"expires_in\":60"), "{shown}");
        assert!(json_body(b"<html>").is_none());
    }
}
