use super::*;
use crate::error::Class;
use crate::registry::manifests::check_reference;

#[test]
fn parses_sizes() {
    assert_eq!(parse_size("512M").unwrap(), 512 << 20);
    assert_eq!(parse_size("1g").unwrap(), 1 << 30);
    assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
    assert_eq!(parse_size("2048K").unwrap(), 2 << 20);
    assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
    for bad in ["", "M", "1x", "-1M", "100K", "1.5G", "99999999999T"] {
        assert!(parse_size(bad).is_err(), "{bad}");
    }
    assert_eq!(range_end("0-1023"), Some(1023));
    assert_eq!(range_end("bytes=0-9"), Some(9));
    assert_eq!(range_end("x"), None);
}

#[test]
fn checks_repository_names() {
    for ok in ["a", "giteaadmin/app", "library/alpine", "a.b_c__d---e/f0", "x/y/z"] {
        assert!(check_repository(ok).is_ok(), "{ok}");
    }
    for bad in ["", "A", "a/", "/a", "a//b", "-a", "a-", "a..b", "a___b", "a_.b", "a b", "a?b", "a#b", "a:b"] {
        assert!(check_repository(bad).is_err(), "{bad}");
    }
}

#[test]
fn checks_references() {
    let d = Digest::of(b"{}");
    for ok in ["latest", "v1.2.3", "_x", "A-b_c.d"] {
        assert!(check_reference(ok, &d).is_ok(), "{ok}");
    }
    assert!(check_reference(&d.to_string(), &d).is_ok());
    assert!(check_reference(&Digest::of(b"x").to_string(), &d).is_err());
    for bad in ["", ".x", "-x", "a/b", "a b", &"x".repeat(129), "sha256:zz"] {
        assert!(check_reference(bad, &d).is_err(), "{bad}");
    }
}

#[test]
fn checks_reported_digests() {
    let d = Digest::of(b"{}");
    let reply = |v: Option<&str>| {
        let mut headers = ureq::http::HeaderMap::new();
        if let Some(v) = v {
            headers.insert("docker-content-digest", v.parse().unwrap());
        }
        Reply { status: 201, headers, body: Vec::new(), final_url: String::new(), truncated: false }
    };
    assert!(check_digest_header(&reply(None), &d, "m").is_ok());
    assert!(check_digest_header(&reply(Some(&d.to_string())), &d, "m").is_ok());
    assert!(check_digest_header(&reply(Some("sha512:abcd")), &d, "m").is_ok());
    let e = check_digest_header(&reply(Some(&Digest::of(b"x").to_string())), &d, "m").unwrap_err();
    assert_eq!(crate::error::class_of(&e), Class::Permanent);
    assert!(check_digest_header(&reply(Some("sha256:nothex")), &d, "m").is_err());
}

#[test]
fn a_blob_is_there_only_with_its_size_and_digest() {
    let d = Digest::of(b"layer");
    let dh = d.to_string();
    assert!(confirm_blob(&Reply::test(200, &[("content-length", "5")]), &d, 5).is_ok());
    assert!(confirm_blob(&Reply::test(200, &[("content-length", "5"), ("docker-content-digest", &dh)]), &d, 5).is_ok());
    let other = Digest::of(b"x").to_string();
    for (headers, why) in [
        (vec![], "no Content-Length"),
        (vec![("content-length", "1234")], "Content-Length 1234 for a blob of 5 bytes"),
        (vec![("content-length", "five")], "invalid Content-Length"),
        (vec![("content-length", "5"), ("docker-content-digest", other.as_str())], "Docker-Content-Digest"),
        (vec![("content-length", "5"), ("docker-content-digest", "sha256:nothex")], "Docker-Content-Digest"),
    ] {
        let e = confirm_blob(&Reply::test(200, &headers), &d, 5).unwrap_err();
        assert!(e.contains(why), "{headers:?}: {e}");
    }
    assert!(names_digest(&Reply::test(202, &[("docker-content-digest", &dh)]), &d));
    assert!(!names_digest(&Reply::test(202, &[]), &d));
    assert!(!names_digest(&Reply::test(202, &[("docker-content-digest", &other)]), &d));
}

/// A server that answers `200` with an HTML page to everything (a captive portal, a web
/// server on the wrong port) confirms nothing: no blob is "there", no upload or manifest
/// "stored".
#[test]
fn a_server_that_says_200_to_everything_confirms_nothing() {
    use super::super::test_http::{response, serve};
    use super::super::Options;
    let page = "<html><body>welcome</body></html>";
    let base = serve(move |_| response("200 OK", &["Content-Type: text/html"], page));
    let mut opts = Options::new(&base);
    opts.retries = 0;
    let mut reg = Registry::new(opts).unwrap();
    let d = Digest::of(b"layer");
    let msg = format!("{:#}", reg.blob_exists("team/app", &d, 5).unwrap_err());
    assert!(msg.contains("registry answered 200 ok to HEAD") && msg.contains("Content-Length 33 for a blob of 5 bytes"), "{msg}");
    let manifest = b"{\"schemaVersion\":2}";
    let err = reg.put_manifest("team/app", "v1", "application/vnd.oci.image.manifest.v1+json", manifest).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("registry answered 200 ok to PUT") && msg.contains("Docker-Content-Digest") && msg.contains("welcome"), "{msg}");
    assert_eq!(crate::error::class_of(&err), Class::Permanent);

    // An upload PUT answered 200 or 202 without the digest: not stored either.
    let base = serve(|req| match req.method.as_str() {
        "POST" => response("202 Accepted", &["Location: /up/1"], ""),
        _ => response("200 OK", &[], ""),
    });
    let mut opts = Options::new(&base);
    opts.retries = 0;
    let mut reg = Registry::new(opts).unwrap();
    let dir = crate::test_support::TempDir::new("unconfirmed");
    let path = dir.join("layer");
    std::fs::write(&path, b"layer").unwrap();
    let result = reg.upload_blob("team/app", &d, 5, &path);
    let _ = std::fs::remove_file(&path);
    let msg = format!("{:#}", result.unwrap_err());
    assert!(msg.contains("registry answered 200 ok to PUT") && msg.contains("201 Created"), "{msg}");
}

// Regression (issue 7, defect 10): a spool file that went missing was an I/O NotFound, which
// exited 2 ("image not found"); it is a local failure of ours: permanent, exit 1, the path named.
#[test]
fn a_missing_blob_file_is_a_local_failure() {
    use super::super::test_http::{response, serve};
    use super::super::Options;
    let base = serve(|req| match req.method.as_str() {
        "POST" => response("202 Accepted", &["Location: /up/1"], ""),
        _ => response("500 Internal Server Error", &[], ""),
    });
    let mut opts = Options::new(&base);
    opts.retries = 0;
    let mut reg = Registry::new(opts).unwrap();
    let dir = crate::test_support::TempDir::new("missing-blob");
    let path = dir.join("gone");
    let err = reg.upload_blob("team/app", &Digest::of(b"layer"), 5, &path).unwrap_err();
    let msg = format!("{err:#}");
    assert_eq!(crate::error::class_of(&err), Class::Permanent, "{msg}");
    assert_eq!(crate::exit::code_for(crate::error::class_of(&err)), 1);
    assert!(msg.contains(&format!("cannot open {}", path.display())), "{msg}");
}
