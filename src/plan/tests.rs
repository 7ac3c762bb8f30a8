use super::*;
use std::time::Duration;

fn args(image: &str, dest: Option<&str>) -> PushArgs {
    PushArgs {
        image: image.into(),
        dest: dest.map(Into::into),
        host: None,
        registry: None,
        username: None,
        password: None,
        password_stdin: false,
        token: None,
        insecure: false,
        ca_cert: None,
        chunk_size: None,
        log_level: None,
        quiet: false,
        tmpdir: None,
        retries: None,
        retry_max_delay: None,
        connect_timeout: None,
        read_timeout: None,
        no_cache: false,
        compression: None,
        compression_level: None,
        tag: vec![],
        platform: None,
        progress: None,
        json: false,
        digest_file: None,
    }
}

#[test]
fn compression_flags_and_environment() {
    use crate::codec::Codec;
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    };
    let plan_of = |a: PushArgs, e: &dyn Fn(&str) -> Option<String>| plan(a, e);
    let p = plan_of(args("a:1", Some("127.0.0.1:5000/a:1")), &no_env).unwrap();
    assert_eq!((p.compression, p.no_cache), (Codec::Gzip { level: 1 }, false));
    let mut a = args("a:1", Some("127.0.0.1:5000/a:1"));
    a.compression = Some("none".into());
    a.no_cache = true;
    let p = plan_of(a, &no_env).unwrap();
    assert_eq!((p.compression, p.no_cache), (Codec::None, true));
    let p = plan_of(args("a:1", Some("127.0.0.1:5000/a:1")), &env(&[("IDPUSH_COMPRESSION_LEVEL", "6"), ("IDPUSH_NO_CACHE", "1")])).unwrap();
    assert_eq!((p.compression, p.no_cache), (Codec::Gzip { level: 6 }, true));
    let mut a = args("a:1", Some("127.0.0.1:5000/a:1"));
    a.compression_level = Some(0);
    let p = plan_of(a, &env(&[("IDPUSH_COMPRESSION", "gzip"), ("IDPUSH_COMPRESSION_LEVEL", "9")])).unwrap();
    assert_eq!(p.compression, Codec::Gzip { level: 0 }, "a flag wins over its variable");
    for (flag, level, e, want) in [
        (Some("zstd"), None, &[][..], "--compression \"zstd\" is not a compression: use gzip or none"),
        (None, Some(10), &[][..], "--compression-level 10 is not a gzip level"),
        (None, None, &[("IDPUSH_COMPRESSION_LEVEL", "fast")][..], "IDPUSH_COMPRESSION_LEVEL=\"fast\""),
        (Some("none"), Some(3), &[][..], "--compression-level 3 has no meaning with --compression none"),
    ] {
        let mut a = args("a:1", Some("127.0.0.1:5000/a:1"));
        a.compression = flag.map(Into::into);
        a.compression_level = level;
        let pairs: &'static [(&'static str, &'static str)] = Box::leak(e.to_vec().into_boxed_slice());
        let err = format!("{:#}", plan_of(a, &env(pairs)).unwrap_err());
        assert!(err.contains(want), "{err}");
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn sources_that_name_their_image_later_and_extra_tags() {
    let stored = |_: &str| Ok(crate::credentials::Lookup::default());
    let from = |s: &str| Source::parse(s, &|_| PathKind::Layout).unwrap();
    // A layout without DEST: pending until read; the registry host is known already.
    let mut a = args("oci:/l", None);
    a.registry = Some("http://127.0.0.1:5000".into());
    a.username = Some("Dev".into());
    a.password = Some("pw".into());
    a.tag = vec!["v2".into(), "v1".into(), "v2".into()];
    let mut p = plan_from(a, from("oci:/l"), &no_env, &stored).unwrap();
    assert!(p.dest_pending);
    assert_eq!(p.dest.registry.as_deref(), Some("127.0.0.1:5000"));
    let e = format!("{:#}", p.resolve_dest(None).unwrap_err());
    assert!(e.contains("oci:/l does not name its image") && e.contains("give a DEST"), "{e}");
    p.resolve_dest(Some("team/app:v1")).unwrap();
    assert_eq!(p.dest.to_string(), "127.0.0.1:5000/team/app:v1");
    assert_eq!(p.tags, ["v2"], "each tag once, not the destination's own");
    // A one-part name goes under the user, as for a daemon image.
    let mut p = plan_from(args("-", None), Source::Stdin, &no_env, &stored).unwrap();
    p.resolve_dest(Some("app")).unwrap();
    assert_eq!(p.dest.to_string(), "gitea.cnoe.localtest.me:8443/app:latest");
    // docker-archive:PATH:NAME names it; DEST wins over everything.
    let p = plan_from(args("docker-archive:x.tar:app:v3", None), from("docker-archive:x.tar:app:v3"), &no_env, &stored).unwrap();
    assert!(!p.dest_pending);
    assert_eq!(p.dest.to_string(), "gitea.cnoe.localtest.me:8443/app:v3");
    let mut p = plan_from(args("oci:/l", Some("127.0.0.1:5000/a/b:c")), from("oci:/l"), &no_env, &stored).unwrap();
    p.resolve_dest(Some("other/name:x")).unwrap();
    assert_eq!(p.dest.to_string(), "127.0.0.1:5000/a/b:c");
    for (tag, platform, want) in [("bad tag", None, "--tag \"bad tag\""), ("ok", Some("linux"), "expected os/arch")] {
        let mut a = args("x", Some("127.0.0.1:5000/a/b:c"));
        a.tag = vec![tag.into()];
        a.platform = platform.map(Into::into);
        let e = format!("{:#}", plan(a, &no_env).unwrap_err());
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn default_destination_is_gitea_under_the_lowercased_user() {
    let mut a = args("myapp:latest", None);
    a.username = Some("giteaAdmin".into());
    a.password = Some("pw".into());
    let p = plan(a, &no_env).unwrap();
    assert_eq!(p.dest.to_string(), "gitea.cnoe.localtest.me:8443/giteaadmin/myapp:latest");
    assert_eq!(p.base_url, DEFAULT_REGISTRY);
}

#[test]
fn destinations() {
    let cases: &[(&str, Option<&str>, Option<&str>, &str, &str)] = &[
        ("myapp", None, None, "gitea.cnoe.localtest.me:8443/myapp:latest", "https://gitea.cnoe.localtest.me:8443"),
        ("org/app:v1", None, None, "gitea.cnoe.localtest.me:8443/org/app:v1", "https://gitea.cnoe.localtest.me:8443"),
        ("docker.io/library/nginx:1", None, None, "gitea.cnoe.localtest.me:8443/library/nginx:1", "https://gitea.cnoe.localtest.me:8443"),
        // Loopback without a scheme: https first (falling back to http, see below).
        ("x", Some("127.0.0.1:5000/a/b:t"), None, "127.0.0.1:5000/a/b:t", "https://127.0.0.1:5000"),
        ("x", Some("localhost:5000/a"), None, "localhost:5000/a:latest", "https://localhost:5000"),
        ("x", Some("reg.example.com/a"), None, "reg.example.com/a:latest", "https://reg.example.com"),
        ("x", Some("a/b:c"), Some("http://10.0.0.1:80"), "10.0.0.1:80/a/b:c", "http://10.0.0.1:80"),
        ("x", Some("127.0.0.1:9/a"), Some("https://127.0.0.1:9"), "127.0.0.1:9/a:latest", "https://127.0.0.1:9"),
        ("x", None, Some("127.0.0.1:5000"), "127.0.0.1:5000/x:latest", "https://127.0.0.1:5000"),
        ("x", Some("127.0.0.1:5000/a"), Some("http://127.0.0.1:5000"), "127.0.0.1:5000/a:latest", "http://127.0.0.1:5000"),
    ];
    for (image, dest, reg, want, url) in cases {
        let mut a = args(image, *dest);
        a.registry = reg.map(Into::into);
        let p = plan(a, &no_env).unwrap_or_else(|e| panic!("{image} {dest:?}: {e:#}"));
        assert_eq!(p.dest.to_string(), *want);
        assert_eq!(p.base_url, *url);
        // Plain http only as a fallback, only for loopback hosts named without a scheme.
        let fallback = reg.is_none_or(|r| !r.contains("://")) && crate::plan::is_loopback(p.dest.registry.as_deref().unwrap());
        assert_eq!(p.http_fallback, fallback, "{image} {dest:?} {reg:?}");
    }
}

#[test]
fn rejects_bad_input_before_any_work() {
    let cases: &[(&str, Option<&str>, &str)] = &[
        ("myapp", Some("127.0.0.1:5000/Team/App"), "lowercase"),
        ("MyApp", None, "lowercase"),
        ("0123456789ab", None, "image ID"),
        ("x", Some("127.0.0.1:5000/a b"), "invalid"),
    ];
    for (image, dest, want) in cases {
        let e = format!("{:#}", plan(args(image, *dest), &no_env).unwrap_err());
        assert!(e.contains(want), "{image} {dest:?}: {e}");
    }
    let mut a = args("x", None);
    a.registry = Some("ftp://x".into());
    assert!(format!("{:#}", plan(a, &no_env).unwrap_err()).contains("scheme"));
    let mut a = args("x", None);
    a.username = Some("u".into());
    assert!(format!("{:#}", plan(a, &no_env).unwrap_err()).contains("password is needed"));
    let mut a = args("x", None);
    a.log_level = Some("loud".into());
    assert!(plan(a, &no_env).is_err());
}

#[test]
fn flags_win_over_environment() {
    let env = |k: &str| match k {
        "IDPBUILDER_REGISTRY_URL" => Some("http://127.0.0.1:7000".to_string()),
        "IDPBUILDER_REGISTRY_USERNAME" => Some("envuser".to_string()),
        "IDPBUILDER_REGISTRY_PASSWORD" => Some("envpass".to_string()),
        "IDPBUILDER_REGISTRY_INSECURE" => Some("true".to_string()),
        _ => None,
    };
    let p = plan(args("app", None), &env).unwrap();
    assert_eq!(p.dest.to_string(), "127.0.0.1:7000/envuser/app:latest");
    assert!(p.insecure);
    assert!(matches!(&p.credentials, Credentials::Basic { username, password } if username == "envuser" && password.expose() == "envpass"));

    let mut a = args("app", None);
    a.registry = Some("http://127.0.0.1:8000".into());
    a.username = Some("flaguser".into());
    a.password = Some("flagpass".into());
    let p = plan(a, &env).unwrap();
    assert_eq!(p.dest.to_string(), "127.0.0.1:8000/flaguser/app:latest");
    assert!(matches!(&p.credentials, Credentials::Basic { username, password } if username == "flaguser" && password.expose() == "flagpass"));

    let mut a = args("app", None);
    a.token = Some("tok".into());
    let p = plan(a, &|_| None).unwrap();
    assert!(matches!(&p.credentials, Credentials::Token(t) if t.expose() == "tok"));
}

#[test]
fn retry_and_timeout_settings() {
    let p = plan(args("x", Some("127.0.0.1:5000/a")), &no_env).unwrap();
    assert_eq!((p.retries, p.retry_max_delay.as_secs()), (9, 30));
    assert_eq!((p.connect_timeout.as_secs(), p.read_timeout.as_secs()), (30, 300));
    let env = |k: &str| match k {
        "IDPBUILDER_RETRIES" => Some("3".to_string()),
        "IDPBUILDER_RETRY_MAX_DELAY" => Some("2".to_string()),
        "IDPBUILDER_CONNECT_TIMEOUT" => Some("4".to_string()),
        "IDPBUILDER_READ_TIMEOUT" => Some("5".to_string()),
        _ => None,
    };
    let p = plan(args("x", Some("127.0.0.1:5000/a")), &env).unwrap();
    assert_eq!((p.retries, p.retry_max_delay.as_secs()), (3, 2));
    assert_eq!((p.connect_timeout.as_secs(), p.read_timeout.as_secs()), (4, 5));
    let mut a = args("x", Some("127.0.0.1:5000/a"));
    a.retries = Some(0);
    a.read_timeout = Some(7);
    let p = plan(a, &env).unwrap();
    assert_eq!((p.retries, p.read_timeout.as_secs()), (0, 7));
    let bad = |k: &str| (k == "IDPBUILDER_RETRIES").then(|| "many".to_string());
    let e = format!("{:#}", plan(args("x", Some("127.0.0.1:5000/a")), &bad).unwrap_err());
    assert!(e.contains("IDPBUILDER_RETRIES") && e.contains("--retries"), "{e}");
    let mut a = args("x", Some("127.0.0.1:5000/a"));
    a.connect_timeout = Some(0);
    assert!(plan(a, &no_env).is_err());
}

#[test]
fn no_credentials_over_plain_http_to_other_hosts() {
    let with_creds = |dest: &str, reg: Option<&str>, insecure: bool| {
        let mut a = args("x", Some(dest));
        a.registry = reg.map(Into::into);
        a.username = Some("u".into());
        a.password = Some("p".into());
        a.insecure = insecure;
        plan(a, &no_env)
    };
    let e = format!("{:#}", with_creds("10.0.0.1:80/a/b", Some("http://10.0.0.1:80"), false).unwrap_err());
    assert!(e.contains("plain http") && e.contains("--insecure"), "{e}");
    assert!(with_creds("10.0.0.1:80/a/b", Some("http://10.0.0.1:80"), true).is_ok());
    assert!(with_creds("127.0.0.1:5000/a/b", None, false).is_ok());
    assert!(with_creds("reg.example/a/b", None, false).is_ok());
    // Anonymous is fine anywhere.
    let mut a = args("x", Some("10.0.0.1:80/a/b"));
    a.registry = Some("http://10.0.0.1:80".into());
    assert!(plan(a, &no_env).is_ok());
    // Chunk sizes.
    let mut a = args("x", Some("127.0.0.1:5000/a"));
    a.chunk_size = Some("64M".into());
    assert_eq!(plan(a, &no_env).unwrap().chunk_size, 64 << 20);
    let mut a = args("x", Some("127.0.0.1:5000/a"));
    a.chunk_size = Some("lots".into());
    assert!(format!("{:#}", plan(a, &no_env).unwrap_err()).contains("--chunk-size"));
}

#[test]
fn stored_credentials_only_without_flags_or_env_and_their_user_owns_the_repo() {
    use crate::credentials::{Found, Lookup};
    let asked = std::cell::Cell::new(0);
    let stored = |host: &str| {
        asked.set(asked.get() + 1);
        assert_eq!(host, "127.0.0.1:7000");
        Ok(Lookup {
            found: Some(Found {
                credentials: Credentials::Basic { username: "CfgUser".into(), password: Secret::new("pw") },
                username: Some("CfgUser".into()),
                source: "docker config /x/config.json (auths)".into(),
            }),
            notes: vec![],
        })
    };
    let mut a = args("app", None);
    a.registry = Some("http://127.0.0.1:7000".into());
    let p = plan_with(a, &no_env, &stored).unwrap();
    assert_eq!(p.dest.to_string(), "127.0.0.1:7000/cfguser/app:latest");
    assert_eq!(p.credential_source, "docker config /x/config.json (auths)");
    assert!(matches!(&p.credentials, Credentials::Basic { username, .. } if username == "CfgUser"));
    let mut a = args("app", None);
    a.registry = Some("http://127.0.0.1:7000".into());
    a.username = Some("flag".into());
    a.password = Some("pw".into());
    let p = plan_with(a, &no_env, &stored).unwrap();
    assert_eq!(asked.get(), 1, "flags given: the stored credentials are not looked up");
    assert_eq!(p.credential_source, "flags");
    let env = |k: &str| (k == "IDPBUILDER_REGISTRY_TOKEN").then(|| "t".to_string());
    let mut a = args("app", None);
    a.registry = Some("http://127.0.0.1:7000".into());
    assert_eq!(plan_with(a, &env, &stored).unwrap().credential_source, "IDPBUILDER_REGISTRY_* environment");
    assert_eq!(asked.get(), 1);
}

/// Defect 3 (issue 7): a password or token in the registry URL (flag or env), in DEST or in
/// a query was echoed whole in the error line.
#[test]
fn secrets_in_urls_and_dest_never_reach_the_message() {
    const S: &str = "Hunter2Secret";
    // (registry flag, registry env, DEST, what the message must say)
    let cases: &[(Option<&str>, Option<&str>, Option<&str>, &str)] = &[
        (Some("http://user:Hunter2Secret@127.0.0.1:5000"), None, None, "user or password"),
        (Some("https://Hunter2Secret@reg.example"), None, None, "user or password"),
        (None, Some("http://user:Hunter2Secret@127.0.0.1:5000"), None, "user or password"),
        (Some("https://reg.example?token=Hunter2Secret"), None, None, "no path or query"),
        (Some("https://reg.example/v2/?access_token=Hunter2Secret"), None, None, "no path or query"),
        (Some("ftp://u:Hunter2Secret@reg.example"), None, None, "scheme"),
        (None, None, Some("user:Hunter2Secret@127.0.0.1:5000/x/y:1"), "user or password"),
        (None, None, Some("Hunter2Secret@reg.example/x"), "user or password"),
        (None, None, Some("127.0.0.1:5000/x/y:1?token=Hunter2Secret"), "query"),
        (None, None, Some("http://user:Hunter2Secret@127.0.0.1:5000/x/y:1"), "takes no scheme"),
        (None, None, Some("reg.example/x\n\u{1b}[2Kfake: ok Hunter2Secret@x/y"), "invalid image reference"),
    ];
    for (flag, env_url, dest, want) in cases {
        let mut a = args("x", *dest);
        a.registry = flag.map(Into::into);
        let env = |k: &str| if k == "IDPBUILDER_REGISTRY_URL" { env_url.map(Into::into) } else { None };
        let e = format!("{:#}", plan(a, &env).unwrap_err());
        assert!(e.contains(want), "{flag:?} {env_url:?} {dest:?}: {e}");
        assert!(!e.contains(S) && !e.contains('\n') && !e.contains('\u{1b}'), "secret or control character in: {e}");
    }
    let mut a = args("x", None);
    a.password = Some(S.into());
    a.token = Some(S.into());
    let shown = format!("{a:?}");
    assert!(!shown.contains(S) && shown.contains("<redacted>"), "{shown}");
}

/// Defect 4 (issue 7): `--connect-timeout 18446744073709551615` (or the env form) panicked
/// on an `Instant` overflow. Every duration is refused past its limit.
#[test]
fn durations_are_refused_past_their_limit() {
    type Set = fn(&mut PushArgs, u64);
    let flags: &[(&str, &str, Set, u64)] = &[
        ("connect-timeout", "IDPBUILDER_CONNECT_TIMEOUT", |a, n| a.connect_timeout = Some(n), 86_400),
        ("read-timeout", "IDPBUILDER_READ_TIMEOUT", |a, n| a.read_timeout = Some(n), 86_400),
        ("retry-max-delay", "IDPBUILDER_RETRY_MAX_DELAY", |a, n| a.retry_max_delay = Some(n), 3_600),
    ];
    for (flag, env_name, set, max) in flags {
        for n in [u64::MAX, u64::MAX / 1000, max + 1] {
            let mut a = args("x", Some("127.0.0.1:5000/a"));
            set(&mut a, n);
            let e = format!("{:#}", plan(a, &no_env).unwrap_err());
            assert!(e.contains(&format!("--{flag} {n}")) && e.contains("too long") && e.contains(&format!("at most {max} seconds")), "{e}");
            let v = n.to_string();
            let env = |k: &str| (k == *env_name).then(|| v.clone());
            let e = format!("{:#}", plan(args("x", Some("127.0.0.1:5000/a")), &env).unwrap_err());
            assert!(e.contains(&format!("{env_name}=\"{n}\"")) && e.contains(&format!("--{flag}")) && e.contains("too long"), "{e}");
        }
        let mut a = args("x", Some("127.0.0.1:5000/a"));
        set(&mut a, *max);
        assert!(plan(a, &no_env).is_ok(), "--{flag} {max}");
    }
    let mut a = args("x", Some("127.0.0.1:5000/a"));
    a.read_timeout = Some(0);
    assert!(format!("{:#}", plan(a, &no_env).unwrap_err()).contains("--read-timeout 0 is too short"));
    let mut a = args("x", Some("127.0.0.1:5000/a"));
    a.retry_max_delay = Some(0);
    assert_eq!(plan(a, &no_env).unwrap().retry_max_delay, Duration::ZERO);
}

/// Defect 11 (issue 7): a bad IDPBUILDER_REGISTRY_INSECURE was silently false.
#[test]
fn insecure_environment_values() {
    let cases: &[(&str, Option<bool>)] = &[
        ("1", Some(true)), ("true", Some(true)), ("TRUE", Some(true)), ("yes", Some(true)), ("On", Some(true)),
        ("0", Some(false)), ("false", Some(false)), ("no", Some(false)), ("OFF", Some(false)), ("", Some(false)),
        (" yes ", Some(true)), ("maybe", None), ("2", None), ("y", None), ("truee", None),
    ];
    for (v, want) in cases {
        let env = |k: &str| (k == "IDPBUILDER_REGISTRY_INSECURE").then(|| v.to_string());
        match (plan(args("x", Some("127.0.0.1:5000/a")), &env), want) {
            (Ok(p), Some(w)) => assert_eq!(p.insecure, *w, "{v:?}"),
            (Err(e), None) => {
                let e = format!("{e:#}");
                assert!(e.contains("IDPBUILDER_REGISTRY_INSECURE") && e.contains("true/false") && e.contains(&format!("{v:?}")), "{e}");
            }
            (got, _) => panic!("{v:?}: {:?}", got.map(|p| p.insecure)),
        }
    }
    // The flag wins without looking at the environment.
    let mut a = args("x", Some("127.0.0.1:5000/a"));
    a.insecure = true;
    assert!(plan(a, &|k| (k == "IDPBUILDER_REGISTRY_INSECURE").then(|| "maybe".into())).unwrap().insecure);
}

/// Defect 11 (issue 7): a scheme in DEST said `registry port "" is not a number`; `[::1]`
/// without a port was refused; a malformed IPv6 host passed and failed after the image was read.
#[test]
fn dest_and_registry_hosts() {
    // (DEST, -r, Ok(destination, base URL) or Err(what the message says))
    let cases: &[(Option<&str>, Option<&str>, Result<(&str, &str), &str>)] = &[
        (Some("http://127.0.0.1:5100/x/y:1"), None, Err("`-r http://127.0.0.1:5100 127.0.0.1:5100/x/y:1`")),
        (Some("https://reg.example/x/y:1"), None, Err("takes no scheme")),
        (Some("http://u:pw@127.0.0.1:5100/x/y:1"), None, Err("with -r, and the user and password with -u/-p, e.g. `-r http://127.0.0.1:5100 127.0.0.1:5100/x/y:1`")),
        // "*": a loopback host without a scheme; how it is reached is the registry's choice (defect 8).
        (Some("[::1]/x:1"), None, Ok(("[::1]/x:1", "*"))),
        (Some("[::1]:5000/x:1"), None, Ok(("[::1]:5000/x:1", "*"))),
        (Some("[2001:db8::1]:443/a/b"), None, Ok(("[2001:db8::1]:443/a/b:latest", "https://[2001:db8::1]:443"))),
        (None, Some("http://[::1]"), Ok(("[::1]/x:latest", "http://[::1]"))),
        (None, Some("https://[::1]:5443/"), Ok(("[::1]:5443/x:latest", "https://[::1]:5443"))),
        (Some("[::1/x"), None, Err("unclosed '['")),
        (Some("[zz::1]:5000/x"), None, Err("not a valid IPv6 address")),
        (Some("[::1]x/y"), None, Err("only :port")),
        (Some("::1/x"), None, Err("in brackets")),
        (Some("reg-.example/x"), None, Err("not a valid host name")),
        (Some("127.0.0.1:/x"), None, Err("registry port \"\"")),
        (None, Some("http://[::1"), Err("unclosed '['")),
        (None, Some("http://[zz::1]:5000"), Err("not a valid IPv6 address")),
    ];
    for (dest, reg, want) in cases {
        let mut a = args("x", *dest);
        a.registry = reg.map(Into::into);
        match (plan(a, &no_env), want) {
            (Ok(p), Ok((d, url))) => {
                assert_eq!(p.dest.to_string(), *d, "{dest:?} {reg:?}");
                assert!(*url == "*" || p.base_url == *url, "{dest:?} {reg:?}: {}", p.base_url);
            }
            (Err(e), Err(w)) => {
                let e = format!("{e:#}");
                assert!(e.contains(w), "{dest:?} {reg:?}: {e}");
            }
            (got, _) => panic!("{dest:?} {reg:?}: {:?}", got.map(|p| p.dest.to_string()).map_err(|e| format!("{e:#}"))),
        }
    }
}

#[test]
fn loopback_hosts() {
    for h in ["localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000", "[::1]"] {
        assert!(is_loopback(h), "{h}");
    }
    for h in ["example.com", "10.0.0.1:5000", "gitea.cnoe.localtest.me:8443"] {
        assert!(!is_loopback(h), "{h}");
    }
}
