//! Mounts against fake registries on loopback: 201 mounted, 202 upload in that session,
//! refusals fall back to an upload, and a 201 naming another blob is no success.

use super::*;
use crate::registry::test_http::{keep_alive_response as response, serve_keep_alive, Request};
use crate::registry::{Credentials, Options};
use crate::secret::Secret;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// (method, target, authorization, body length) of each request the fake saw.
type Log = Arc<Mutex<Vec<(String, String, Option<String>, usize)>>>;

fn fake(respond: impl Fn(&Request) -> Vec<u8> + Send + Sync + 'static) -> (String, Log) {
    let log: Log = Arc::default();
    let seen = log.clone();
    let (base, _) = serve_keep_alive(move |req| {
        let auth = req.header("authorization").map(str::to_string);
        seen.lock().unwrap().push((req.method.clone(), req.target.clone(), auth, req.body.len()));
        respond(req)
    });
    (base, log)
}

fn registry(base: &str, credentials: Credentials) -> Registry {
    let mut opts = Options::new(base);
    opts.credentials = credentials;
    opts.retry_max_delay = Duration::ZERO;
    Registry::new(opts).unwrap()
}

fn blob(content: &[u8]) -> (tempfile_path::TempBlob, Digest) {
    (tempfile_path::TempBlob::new(content), Digest::of(content))
}

/// A blob in a file removed on drop.
mod tempfile_path {
    pub struct TempBlob(pub std::path::PathBuf);
    impl TempBlob {
        pub fn new(content: &[u8]) -> TempBlob {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir()
                .join(format!("idpush-mount-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
            std::fs::write(&path, content).unwrap();
            TempBlob(path)
        }
    }
    impl Drop for TempBlob {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn calls(log: &Log) -> Vec<(String, String)> {
    log.lock().unwrap().iter().map(|(m, t, _, _)| (m.clone(), t.clone())).collect()
}

#[test]
fn a_201_mounts_without_sending_the_blob() {
    let (file, digest) = blob(b"layer bytes");
    let d = digest.to_string();
    let want = format!("/v2/team/b/blobs/uploads/?mount={d}&from=team/a");
    let (base, log) = fake(move |req| {
        if req.method == "POST" && req.target == want {
            let loc = format!("Location: /v2/team/b/blobs/{d}");
            let dcd = format!("Docker-Content-Digest: {d}");
            return response("201 Created", &[&loc, &dcd], "");
        }
        response("500 Internal Server Error", &[], "unexpected")
    });
    let mut reg = registry(&base, Credentials::Anonymous);
    let from = ["team/b".to_string(), "team/a".to_string()];
    let got = reg.mount_or_upload("team/b", &digest, 11, &file.0, &from).unwrap();
    assert_eq!(got, BlobOutcome::Mounted);
    let calls = calls(&log);
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(log.lock().unwrap()[0].3, 0, "a mount sends no body");
}

#[test]
fn a_202_to_a_mount_uploads_into_that_same_session() {
    let content = b"layer bytes for the session";
    let (file, digest) = blob(content);
    let d = digest.to_string();
    let body_seen: Arc<Mutex<Vec<u8>>> = Arc::default();
    let seen = body_seen.clone();
    let (base, log) = fake(move |req| match req.method.as_str() {
        "POST" if req.target.starts_with("/v2/team/b/blobs/uploads/?mount=") => response(
            "202 Accepted",
            &["Location: /v2/team/b/blobs/uploads/s1?_state=abc", "Range: 0-0"],
            "",
        ),
        "PUT" if req.target.starts_with("/v2/team/b/blobs/uploads/s1?_state=abc&digest=") => {
            *seen.lock().unwrap() = req.body.clone();
            response("201 Created", &[&format!("Docker-Content-Digest: {d}")], "")
        }
        _ => response("500 Internal Server Error", &[], "unexpected"),
    });
    let mut reg = registry(&base, Credentials::Anonymous);
    let got = reg.mount_or_upload("team/b", &digest, content.len() as u64, &file.0, &["team/a".into()]).unwrap();
    assert_eq!(got, BlobOutcome::Uploaded);
    let calls = calls(&log);
    assert_eq!(calls.len(), 2, "one POST (the mount), one PUT, no second POST: {calls:?}");
    assert_eq!(calls[1].0, "PUT");
    assert_eq!(*body_seen.lock().unwrap(), content);
}

/// A token registry (like distribution with a token server): the token endpoint grants the
/// scopes asked for; `mount_allowed` says whether a mount is then accepted (201) or refused
/// with 401, as a registry does when the source repository's pull is not granted.
fn token_registry(mount_allowed: bool) -> (String, Log) {
    let base: Arc<Mutex<String>> = Arc::default();
    let base2 = base.clone();
    let (url, log) = fake(move |req| {
        let realm = format!("Bearer realm=\"{}/token\",service=\"fake\"", base2.lock().unwrap());
        let auth = req.header("authorization").unwrap_or("");
        if req.target.starts_with("/token?") {
            // The token names the scopes it was asked for.
            let scopes: Vec<&str> = req.target.split('&').filter_map(|p| p.strip_prefix("scope=")).collect();
            return response("200 OK", &["Content-Type: application/json"], &format!(r#"{{"token":"tok[{}]"}}"#, scopes.join("+")));
        }
        let push = "repository%3Ateam%2Fb%3Apull%2Cpush";
        let pull_a = "repository%3Ateam%2Fa%3Apull";
        if !auth.starts_with("Bearer tok[") {
            return response("401 Unauthorized", &[&format!("WWW-Authenticate: {realm}")], "");
        }
        match req.method.as_str() {
            "POST" if req.target.contains("mount=") => {
                if mount_allowed && auth == format!("Bearer tok[{push}+{pull_a}]") {
                    response("201 Created", &[], "")
                } else {
                    response("401 Unauthorized", &[&format!("WWW-Authenticate: {realm}")], "")
                }
            }
            "POST" if req.target.contains("digest=") => response("202 Accepted", &["Location: /v2/team/b/blobs/uploads/s2", "Range: 0-0"], ""),
            "POST" => response("202 Accepted", &["Location: /v2/team/b/blobs/uploads/s2"], ""),
            "PUT" => response("201 Created", &[], ""),
            _ => response("500 Internal Server Error", &[], "unexpected"),
        }
    });
    *base.lock().unwrap() = url.clone();
    (url, log)
}

#[test]
fn the_mount_token_also_has_pull_on_the_source_as_a_second_scope() {
    let (base, log) = token_registry(true);
    let (file, digest) = blob(b"x");
    let creds = Credentials::Basic { username: "alice".into(), password: Secret::new("pw") };
    let mut reg = registry(&base, creds);
    assert_eq!(reg.mount_or_upload("team/b", &digest, 1, &file.0, &["team/a".into()]).unwrap(), BlobOutcome::Mounted);
    let calls = calls(&log);
    let token = calls.iter().find(|(_, t)| t.starts_with("/token?")).expect("a token request");
    assert_eq!(
        token.1,
        "/token?service=fake&scope=repository%3Ateam%2Fb%3Apull%2Cpush&scope=repository%3Ateam%2Fa%3Apull"
    );
    assert!(!calls.iter().any(|(m, _)| m == "PUT"), "{calls:?}");
}

#[test]
fn a_refused_mount_falls_back_to_a_normal_upload() {
    let (base, log) = token_registry(false);
    let (file, digest) = blob(b"refused mount");
    let creds = Credentials::Basic { username: "alice".into(), password: Secret::new("pw") };
    let mut reg = registry(&base, creds);
    assert_eq!(reg.mount_or_upload("team/b", &digest, 13, &file.0, &["team/a".into()]).unwrap(), BlobOutcome::Uploaded);
    let seen = calls(&log);
    let put = seen.iter().filter(|(m, _)| m == "PUT").count();
    assert_eq!(put, 1, "{seen:?}");
    let puts: Vec<_> = log.lock().unwrap().iter().filter(|c| c.0 == "PUT").map(|c| c.3).collect();
    assert_eq!(puts, [13], "the blob's bytes went up");

    // 403, 404 and 400 (Harbor, registries without mounts) fall back too.
    for status in ["403 Forbidden", "404 Not Found", "400 Bad Request"] {
        let (base, log) = fake(move |req| match req.method.as_str() {
            "POST" if req.target.contains("mount=") => response(status, &[], r#"{"errors":[{"code":"DENIED"}]}"#),
            "POST" => response("202 Accepted", &["Location: /v2/team/b/blobs/uploads/s3"], ""),
            "PUT" => response("201 Created", &[], ""),
            _ => response("500 Internal Server Error", &[], ""),
        });
        let mut reg = registry(&base, Credentials::Anonymous);
        assert_eq!(reg.mount_or_upload("team/b", &digest, 13, &file.0, &["team/a".into()]).unwrap(), BlobOutcome::Uploaded, "{status}");
        assert!(calls(&log).iter().any(|(m, _)| m == "PUT"), "{status}");
    }
}

#[test]
fn a_201_naming_another_blob_is_an_error() {
    let (file, digest) = blob(b"mine");
    let other = Digest::of(b"theirs").to_string();
    for header in [format!("Docker-Content-Digest: {other}"), format!("Location: /v2/team/b/blobs/{other}")] {
        let (base, _) = fake(move |_| response("201 Created", &[&header], ""));
        let mut reg = registry(&base, Credentials::Anonymous);
        let err = reg.mount_or_upload("team/b", &digest, 4, &file.0, &["team/a".into()]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&other), "{msg}");
    }
}

#[test]
fn no_candidate_is_a_plain_upload() {
    let (file, digest) = blob(b"plain");
    let (base, log) = fake(|req| match req.method.as_str() {
        "POST" => response("202 Accepted", &["Location: /v2/team/b/blobs/uploads/s4"], ""),
        "PUT" => response("201 Created", &[], ""),
        _ => response("500 Internal Server Error", &[], ""),
    });
    let mut reg = registry(&base, Credentials::Anonymous);
    let from = ["team/b".to_string(), "Not A Repo".to_string()];
    assert_eq!(reg.mount_or_upload("team/b", &digest, 5, &file.0, &from).unwrap(), BlobOutcome::Uploaded);
    assert!(calls(&log).iter().all(|(_, t)| !t.contains("mount=")));
}

#[test]
fn mount_blob_without_a_copy_says_whether_it_mounted_and_cancels_a_202_session() {
    let digest = Digest::of(b"no copy here");
    let (base, log) = fake(|req| match req.method.as_str() {
        "POST" if req.target.contains("from=team/a") => response("201 Created", &[], ""),
        "POST" if req.target.contains("from=team/c") => {
            response("202 Accepted", &["Location: /v2/team/b/blobs/uploads/s9?_state=z", "Range: 0-0"], "")
        }
        "POST" => response("403 Forbidden", &[], ""),
        "DELETE" => response("204 No Content", &[], ""),
        _ => response("500 Internal Server Error", &[], ""),
    });
    let mut reg = registry(&base, Credentials::Anonymous);
    assert!(reg.mount_blob("team/b", &digest, "team/a").unwrap());
    assert!(!reg.mount_blob("team/b", &digest, "team/c").unwrap());
    assert!(!reg.mount_blob("team/b", &digest, "team/d").unwrap());
    assert!(!reg.mount_blob("team/b", &digest, "team/b").unwrap());
    let seen = calls(&log);
    let methods: Vec<&str> = seen.iter().map(|(m, _)| m.as_str()).collect();
    assert_eq!(methods, ["POST", "POST", "DELETE", "POST"], "{seen:?}");
    assert_eq!(seen[2].1, "/v2/team/b/blobs/uploads/s9?_state=z");
}
