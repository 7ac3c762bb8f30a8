use super::*;

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
