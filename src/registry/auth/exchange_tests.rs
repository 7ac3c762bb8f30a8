//! The token exchange against loopback fakes: which answers to the OAuth2 POST fall back to
//! GET, errors that name the request that failed, a token answer over the size cap, no
//! secret to a plain-http realm on another host, and a refusal by a redirect target.

use super::super::test_http::{response, serve, Request};
use super::super::{Credentials, Options, Registry};
use crate::digest::Digest;
use crate::error::{class_of, Class};
use crate::secret::Secret;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn registry(base: &str, credentials: Credentials, insecure: bool) -> Registry {
    let mut opts = Options::new(base);
    opts.credentials = credentials;
    opts.insecure = insecure;
    opts.retries = 0;
    opts.retry_max_delay = Duration::ZERO;
    Registry::new(opts).unwrap()
}

fn identity() -> Credentials {
    Credentials::IdentityToken { username: Some("alice".into()), token: Secret::new("refresh-s3cret") }
}

fn empty() -> Digest {
    EMPTY.parse().unwrap()
}

type Seen = Arc<Mutex<Vec<String>>>;

/// A registry that wants a Bearer token from `realm` (given the request's Host, so it can point
/// at itself); `/token` answers POST with `post` and GET with `get`; the empty blob exists.
fn bearer_registry(realm: fn(&str) -> String, post: &'static str, get: fn() -> (String, String)) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let base = serve(move |req: &Request| {
        log.lock().unwrap().push(format!("{} {}", req.method, req.target));
        let host = req.header("host").unwrap_or("").to_string();
        match (req.method.as_str(), req.target.split('?').next().unwrap_or("")) {
            ("POST", "/token") => response(post, &[], r#"{"error":"nope"}"#),
            ("GET", "/token") => {
                let (status, body) = get();
                response(&status, &["Content-Type: application/json"], &body)
            }
            _ if req.header("authorization") == Some("Bearer tok-1") => response("200 OK", &[], ""),
            _ => response(
                "401 Unauthorized",
                &[&format!("WWW-Authenticate: Bearer realm=\"{}\",service=\"fake\"", realm(&host))],
                "",
            ),
        }
    });
    (base, seen)
}

fn own_realm(host: &str) -> String {
    format!("http://{host}/token")
}

fn good_token() -> (String, String) {
    ("200 OK".into(), r#"{"token":"tok-1"}"#.into())
}

#[test]
fn an_identity_token_post_refused_as_unsupported_falls_back_to_get() {
    for post in ["401 Unauthorized", "404 Not Found", "405 Method Not Allowed", "501 Not Implemented"] {
        let (base, seen) = bearer_registry(own_realm, post, good_token);
        let mut reg = registry(&base, identity(), false);
        let found = reg.blob_exists("team/app", &empty(), 0);
        let seen = seen.lock().unwrap().clone();
        assert!(found.as_ref().is_ok_and(|f| *f), "POST answered {post}: {:?}\n{seen:?}", found.map_err(|e| format!("{e:#}")));
        let token: Vec<&str> = seen.iter().filter(|s| s.contains("/token")).map(|s| s.split(' ').next().unwrap()).collect();
        assert_eq!(token, ["POST", "GET"], "POST answered {post}");
    }
}

#[test]
fn a_failed_token_post_is_named_as_the_post() {
    let (base, _) = bearer_registry(own_realm, "400 Bad Request", good_token);
    let err = registry(&base, identity(), false).blob_exists("team/app", &empty(), 0).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("to POST http://127.0.0.1:") && msg.contains("/token"), "{msg}");
    assert!(!msg.contains("GET"), "{msg}");
    assert!(!msg.contains("refresh-s3cret"), "{msg}");

    // When the GET after a fallback fails, the message names the GET and says why it was asked.
    let (base, _) = bearer_registry(own_realm, "404 Not Found", || ("400 Bad Request".into(), String::new()));
    let msg = format!("{:#}", registry(&base, identity(), false).blob_exists("team/app", &empty(), 0).unwrap_err());
    assert!(msg.contains("to GET http://127.0.0.1:") && msg.contains("after POST") && msg.contains("answered 404"), "{msg}");
}

#[test]
fn a_token_answer_over_the_size_cap_is_too_large_not_invalid_json() {
    let huge = || ("200 OK".to_string(), format!(r#"{{"token":"{}"}}"#, "a".repeat(2 << 20)));
    let (base, _) = bearer_registry(own_realm, "404 Not Found", huge);
    let basic = Credentials::Basic { username: "alice".into(), password: Secret::new("pw") };
    let err = registry(&base, basic, false).blob_exists("team/app", &empty(), 0).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("too large") && !msg.contains("invalid json"), "{msg}");
    assert_eq!(class_of(&err), Class::Permanent);
}

#[test]
fn no_secret_goes_to_a_plain_http_realm_on_another_host() {
    let other = |_: &str| "http://token.idpush-test.invalid/token".to_string();
    let basic = || Credentials::Basic { username: "alice".into(), password: Secret::new("pw-s3cret") };
    for (credentials, what) in [(identity(), "the identity token"), (basic(), "the password")] {
        let (base, _) = bearer_registry(other, "404 Not Found", good_token);
        let err = registry(&base, credentials, false).blob_exists("team/app", &empty(), 0).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("refusing to send {what} to the plain-http token realm http://token.idpush-test.invalid/token")), "{msg}");
        assert!(msg.contains("--insecure") && !msg.contains("resolve"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }
    // --insecure allows it: the request is tried (and fails to resolve the made-up host).
    let (base, _) = bearer_registry(other, "404 Not Found", good_token);
    let msg = format!("{:#}", registry(&base, identity(), true).blob_exists("team/app", &empty(), 0).unwrap_err());
    assert!(!msg.contains("refusing"), "{msg}");
    // A realm on this machine is fine over plain http.
    let (base, _) = bearer_registry(own_realm, "404 Not Found", good_token);
    assert!(registry(&base, identity(), false).blob_exists("team/app", &empty(), 0).unwrap());
}

#[test]
fn a_401_from_a_redirect_target_does_not_blame_the_password() {
    let storage = serve(|_: &Request| response("401 Unauthorized", &["WWW-Authenticate: Basic realm=\"s3\""], ""));
    let storage = Arc::new(storage);
    let target = storage.clone();
    let base = serve(move |req: &Request| {
        if req.header("authorization").is_none() {
            return response("401 Unauthorized", &["WWW-Authenticate: Basic realm=\"reg\""], "");
        }
        response("307 Temporary Redirect", &[&format!("Location: {target}/blob?sig=x")], "")
    });
    let basic = Credentials::Basic { username: "alice".into(), password: Secret::new("pw") };
    let err = registry(&base, basic, false).blob_exists("team/app", &empty(), 0).unwrap_err();
    let msg = format!("{err:#}");
    let host = storage.trim_start_matches("http://");
    assert!(msg.contains(&format!("to {host}, which refused it without credentials (401)")), "{msg}");
    assert!(!msg.contains("check the"), "{msg}");
}
