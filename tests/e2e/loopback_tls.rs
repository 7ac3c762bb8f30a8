//! A loopback registry that speaks TLS, named without a scheme (`127.0.0.1:PORT/x/y:1`): idpush
//! tries HTTPS first and stays there (verifying with `--ca-cert`); a plain-HTTP loopback
//! registry still works without a scheme (it answers the handshake in plain HTTP), and an
//! untrusted certificate is an error, never a fallback to plain HTTP. Regression test for
//! issue 7, defect 8 (plain HTTP was sent to the TLS port).

use crate::support::*;

/// `(IDPUSH_TEST_TLS_REGISTRY, IDPUSH_TEST_TLS_CA)` from the env file.
fn tls_registry() -> (String, String) {
    env();
    let path = env_file_path();
    let vars = parse_env_lines(&std::fs::read_to_string(&path).unwrap_or_default());
    let get = |k: &str| {
        vars.get(k).cloned().filter(|v| !v.is_empty()).unwrap_or_else(|| {
            panic!("{} has no {k}= line: run `scripts/test-env.sh start` (it runs scripts/env-tls.sh)", path.display())
        })
    };
    (get("IDPUSH_TEST_TLS_REGISTRY"), get("IDPUSH_TEST_TLS_CA"))
}

#[test]
fn a_loopback_tls_registry_without_a_scheme_is_spoken_to_over_tls() {
    let (tls, ca) = tls_registry();
    let dir = TestDir::new("loopback-tls");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-lotls"));
    let id = import_image(&dir.path, &image, 32 * 1024);
    images.add(&image);
    let repo = format!("e2e/{}", unique("lotls"));
    let empty_certs_d = dir.sub("certs.d");
    let idpush = |name: &str| {
        Idpush::new(&dir.sub(name), &env().docker_host).env("IDPUSH_CERTS_D", empty_certs_d.to_str().unwrap())
    };

    // The TLS port, no scheme, the test CA: pushed over TLS, the choice logged at debug.
    let out = idpush("tls")
        .args(["push", &image, &format!("{tls}/{repo}:v1"), "--ca-cert", &ca, "--log-level", "debug"])
        .run();
    let pushed = parse_pushed(&out);
    assert_eq!(pushed.host, tls);
    assert!(out.stderr.contains(&format!("registry {tls} speaks https")), "{}", out.describe());
    assert!(!out.stderr.contains(&format!("> GET http://{tls}/")), "plain http sent to the TLS port:\n{}", out.describe());
    verify_registry_image(&env().registry, &repo, &pushed.digest, &id, &image_diff_ids(&image));

    // Without the CA: the certificate error, no fallback to plain http.
    let out = idpush("untrusted").args(["push", "-q", &image, &format!("{tls}/{repo}:v2")]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty());
    let lines = out.error_lines();
    assert_eq!(lines.len(), 1, "{}", out.describe());
    assert!(lines[0].contains("not trusted"), "{}", lines[0]);
    assert!(out.hint().is_some_and(|h| h.contains("--ca-cert")), "{}", out.describe());

    // The plain registry without a scheme: https first, then plain http, logged.
    let plain = &env().registry;
    let out = idpush("plain").args(["push", &image, &format!("{plain}/{repo}:v3"), "--log-level", "debug"]).run();
    assert_eq!(parse_pushed(&out).host, *plain);
    assert!(
        out.stderr.contains(&format!("registry {plain} answered the tls handshake in plain http: using http://{plain}")),
        "{}",
        out.describe()
    );

    // An explicit https:// stays TLS only: against the plain registry that is an error.
    let out = idpush("https-only").args(["push", "-q", &image, &format!("{plain}/{repo}:v4"), "-r", &format!("https://{plain}")]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty());
}
