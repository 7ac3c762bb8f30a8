use super::*;
use crate::error::Class;

#[test]
fn encodes_base64() {
    let cases = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
        ("user:pass", "dXNlcjpwYXNz"),
        ("giteaAdmin:p@ss/w+rd?", "Z2l0ZWFBZG1pbjpwQHNzL3crcmQ/"),
    ];
    for (input, want) in cases {
        assert_eq!(base64(input.as_bytes()), want, "{input:?}");
    }
    assert_eq!(base64(&[0xff, 0xfe, 0xfd, 0x00]), "//79AA==");
}

fn params(c: &Challenge) -> Vec<(&str, &str)> {
    c.params.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

#[test]
fn parses_challenges() {
    type Expected<'a> = &'a [(&'a str, &'a [(&'a str, &'a str)])];
    let table: &[(&str, Expected)] = &[
        (
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
            &[("bearer", &[("realm", "https://auth.docker.io/token"), ("service", "registry.docker.io"), ("scope", "repository:library/alpine:pull")])],
        ),
        (
            r#"Bearer realm="https://gitea.cnoe.localtest.me:8443/v2/token",service="container_registry",scope="*""#,
            &[("bearer", &[("realm", "https://gitea.cnoe.localtest.me:8443/v2/token"), ("service", "container_registry"), ("scope", "*")])],
        ),
        (
            r#"Bearer realm="r",service="s",scope="repository:a/b:pull,push",error="insufficient_scope""#,
            &[("bearer", &[("realm", "r"), ("service", "s"), ("scope", "repository:a/b:pull,push"), ("error", "insufficient_scope")])],
        ),
        (r#"Basic realm="Registry Realm""#, &[("basic", &[("realm", "Registry Realm")])]),
        (r#"basic REALM=r"#, &[("basic", &[("realm", "r")])]),
        ("BEARER  realm = \"x\" ,  service=y", &[("bearer", &[("realm", "x"), ("service", "y")])]),
        (r#"Bearer realm="a \"quoted\" \\ realm, with comma""#, &[("bearer", &[("realm", r#"a "quoted" \ realm, with comma"#)])]),
        (
            r#"Basic realm="b", Bearer realm="https://t/x",service="s""#,
            &[("basic", &[("realm", "b")]), ("bearer", &[("realm", "https://t/x"), ("service", "s")])],
        ),
        (r#"Negotiate, Basic realm="x""#, &[("negotiate", &[]), ("basic", &[("realm", "x")])]),
        (r#"Basic realm="x",, , charset="UTF-8""#, &[("basic", &[("realm", "x"), ("charset", "UTF-8")])]),
        ("Basic", &[("basic", &[])]),
        (r#"Bearer realm="""#, &[("bearer", &[("realm", "")])]),
        (r#"Bearer realm="ünïcode""#, &[("bearer", &[("realm", "ünïcode")])]),
    ];
    for (header, want) in table {
        let got = parse_challenges(header).unwrap_or_else(|e| panic!("{header:?}: {e:#}"));
        assert_eq!(got.len(), want.len(), "{header:?}: {got:?}");
        for (c, (scheme, ps)) in got.iter().zip(want.iter()) {
            assert_eq!(c.scheme, *scheme, "{header:?}");
            assert_eq!(params(c), *ps, "{header:?}");
        }
    }
    let c = &parse_challenges("Negotiate abc+/==, Basic realm=x").unwrap();
    assert_eq!(c[0].token68.as_deref(), Some("abc+/=="));
    assert_eq!(c[1].scheme, "basic");
    let c = &parse_challenges("Negotiate YWJj").unwrap();
    assert_eq!(c[0].token68.as_deref(), Some("YWJj"));
    assert_eq!(parse_challenges(r#"Bearer REALM="x""#).unwrap()[0].param("realm"), Some("x"));
}

#[test]
fn rejects_malformed_challenges() {
    for bad in [
        "",
        "   ",
        ",,",
        r#"Bearer realm="unterminated"#,
        r#"Bearer realm="ends in backslash\"#,
        r#"Bearer realm="x" service="y""#,
        "Bearer =x",
        r#"Bearer realm="x",="y""#,
        r#""Bearer" realm=x"#,
        "Bearer realm=x y",
        "Bearer realm=\"x\"junk",
        "Bearer\u{0}realm=x",
        "@@@",
    ] {
        assert!(parse_challenges(bad).is_err(), "accepted {bad:?}: {:?}", parse_challenges(bad));
    }
    // Never panics on arbitrary prefixes of a valid header.
    let full = r#"Bearer realm="https://x/token",service="s\"q",scope="a,b", Basic realm=r"#;
    for end in 0..=full.len() {
        let _ = parse_challenges(&full[..end]);
    }
}

fn reply(values: &[&str]) -> Reply {
    let mut headers = ureq::http::HeaderMap::new();
    for v in values {
        headers.append("www-authenticate", v.parse().unwrap());
    }
    Reply { status: 401, headers, body: Vec::new(), final_url: String::new(), truncated: false }
}

#[test]
fn chooses_bearer_over_basic() {
    let s = choose_scheme(&reply(&[r#"Basic realm="x""#, r#"Bearer realm="https://t/token",service="s""#])).unwrap();
    assert_eq!(s, Scheme::Bearer { realm: "https://t/token".into(), service: Some("s".into()), scope: None });
    assert_eq!(choose_scheme(&reply(&[r#"Basic realm="x""#])).unwrap(), Scheme::Basic);
    assert!(choose_scheme(&reply(&[])).is_err());
    assert!(choose_scheme(&reply(&[r#"Bearer service="s""#])).is_err());
    assert!(choose_scheme(&reply(&[r#"Bearer realm="/token""#])).is_err());
    assert!(choose_scheme(&reply(&["Negotiate"])).is_err());
}

#[test]
fn refusals_name_the_user_never_the_secret() {
    let auth = Auth::new(Credentials::Basic { username: "giteaAdmin".into(), password: Secret::new("hunter2") });
    let msg = format!("{:#}", auth.refused("gitea.example:8443", Some("giteaadmin/app"), "401", None));
    assert_eq!(
        msg,
        "registry gitea.example:8443 refused user giteaAdmin for push to giteaadmin/app (401): \
         check the username and password/token"
    );
    assert_eq!(crate::error::class_of(&auth.refused("h", None, "403", None)), Class::Auth);
    assert_eq!(auth.scrub("bad password hunter2 / Z2l0ZWFBZG1pbjpodW50ZXIy"), "bad password <redacted> / <redacted>");
}

#[test]
fn learning_a_challenge_decides_the_retry() {
    let basic = r#"Basic realm="r""#;
    let bearer = r#"Bearer realm="https://t/token""#;
    let user = || Credentials::Basic { username: "u".into(), password: Secret::new("p") };
    let mut a = Auth::new(user());
    assert!(a.learn(&reply(&[basic]), false).unwrap());
    assert!(!a.learn(&reply(&[basic]), true).unwrap());
    let mut a = Auth::new(user());
    assert!(a.learn(&reply(&[bearer]), false).unwrap());
    let mut a = Auth::new(Credentials::Anonymous);
    assert!(!a.learn(&reply(&[basic]), false).unwrap());
    assert!(a.learn(&reply(&[bearer]), false).unwrap());
    let mut a = Auth::new(Credentials::Token(Secret::new("t")));
    assert!(!a.learn(&reply(&[bearer]), true).unwrap());
}

mod prop {
    //! Property tests: any WWW-Authenticate value never panics the parser or the scheme
    //! choice, with credentials or without.
    use super::*;
    use proptest::prelude::*;

    fn text(bytes: &[u8]) -> String {
        // Header values are visible ASCII, space and tab; map arbitrary bytes into that
        // range, with the characters the grammar cares about made likely.
        const SPECIAL: &[u8] = b" ,=\"\\\t;:/";
        bytes
            .iter()
            .map(|b| if b % 3 == 0 { SPECIAL[usize::from(*b) % SPECIAL.len()] as char } else { char::from(0x20 + b % 0x5f) })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn any_challenge_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..160), prefix in 0usize..4) {
            let body = text(&raw);
            let value = format!("{}{body}", ["", "Bearer ", "Basic ", "Bearer realm=\""][prefix]);
            let _ = parse_challenges(&value);
            if let Ok(v) = ureq::http::HeaderValue::from_str(&value) {
                let mut headers = ureq::http::HeaderMap::new();
                headers.append("www-authenticate", v);
                let r = Reply { status: 401, headers, body: Vec::new(), final_url: String::new(), truncated: false };
                let _ = choose_scheme(&r);
                let mut a = Auth::new(Credentials::Basic { username: "u".into(), password: crate::secret::Secret::new("p") });
                let _ = a.learn(&r, false);
                let _ = a.learn(&r, true);
                let mut a = Auth::new(Credentials::Anonymous);
                let _ = a.learn(&r, false);
            }
        }
    }
}
