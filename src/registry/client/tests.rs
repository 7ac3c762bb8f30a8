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
fn chooses_proxies_like_go() {
    let env = |vars: &'static [(&'static str, &'static str)]| move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    let p = Proxies::from_env(&env(&[
        ("https_proxy", "http://proxy:3128"),
        ("HTTP_PROXY", "http://p2:8080"),
        ("no_proxy", "internal.example, .corp ,*.lan,reg.example:5000,10.1.2.3,[::2]:443"),
    ]));
    assert_eq!(p.https.as_deref(), Some("http://proxy:3128"));
    assert_eq!(p.http.as_deref(), Some("http://p2:8080"));
    assert!(p.use_proxy("gitea.cnoe.localtest.me", 8443));
    for (host, port) in [("internal.example", 443), ("a.internal.example", 443), ("x.corp", 443), ("a.b.lan", 80), ("reg.example", 5000), ("10.1.2.3", 443), ("[::2]", 443), ("127.0.0.1", 443), ("localhost", 80), ("[::1]", 5000)] {
        assert!(!p.use_proxy(host, port), "{host}:{port}");
    }
    for (host, port) in [("notinternal.example", 443), ("corp", 443), ("reg.example", 443), ("10.1.2.30", 443), ("[::2]", 80)] {
        assert!(p.use_proxy(host, port), "{host}:{port}");
    }
    let p = Proxies::from_env(&env(&[("ALL_PROXY", "http://all:1"), ("NO_PROXY", "*")]));
    assert_eq!((p.https.as_deref(), p.http.as_deref()), (Some("http://all:1"), Some("http://all:1")));
    assert!(!p.use_proxy("example.com", 443));
    assert!(Proxies::from_env(&|_| None).https.is_none());
}

/// A CONNECT proxy that records the first line of each request and answers 502.
fn fake_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            seen2.lock().unwrap().push(line.trim_end().to_string());
            let _ = stream.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

#[test]
fn requests_go_through_the_environment_proxy_unless_no_proxy() {
    let (proxy, seen) = fake_proxy();
    let d = Duration::from_secs(5);
    for insecure in [false, true] {
        let tls = TlsOptions { insecure, ca_cert: None };
        let p = proxy.clone();
        let env = move |k: &str| match k {
            "HTTPS_PROXY" => Some(p.clone()),
            "NO_PROXY" => Some("direct.invalid".to_string()),
            _ => None,
        };
        let client = Client::with_env(base("https://registry.invalid"), &tls, d, d, &env).unwrap();
        assert!(client.send(&Method::GET, "https://registry.invalid/v2/", None, &[], Payload::None).is_err());
        assert!(client.send(&Method::GET, "https://x.direct.invalid/v2/", None, &[], Payload::None).is_err());
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, ["CONNECT registry.invalid:443 HTTP/1.1", "CONNECT registry.invalid:443 HTTP/1.1"]);
}

#[test]
fn refuses_credentials_over_plain_http_to_other_hosts() {
    let tls = TlsOptions::default();
    let d = Duration::from_secs(1);
    let client = Client::with_env(base("http://reg.example:5000"), &tls, d, d, &|_| None).unwrap();
    let secret = Secret::new("Basic c2VjcmV0");
    let err = client.send(&Method::GET, "http://reg.example:5000/v2/", Some(&secret), &[], Payload::None).err().expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("plain http") && msg.contains("--insecure") && !msg.contains("c2VjcmV0"), "{msg}");
}

#[test]
fn displays_urls_without_secrets() {
    assert_eq!(display_url("https://u:p@h:1/v2/x?_state=s#f"), "https://h:1/v2/x?…");
    assert_eq!(display_url("http://h/v2/"), "http://h/v2/");
    assert_eq!(display_url("http://u@h"), "http://h");
}
