//! The test dockerd over `tcp://` with TLS and a client certificate (issue 11): an nginx stream
//! proxy of scripts/env-dockertls.sh terminates TLS (`ssl_verify_client on`) in front of the
//! dockerd's unix socket. idpush must verify the daemon with DOCKER_CERT_PATH's ca.pem and
//! present cert.pem/key.pem, from the environment and from a docker context's TLS files.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `(tcp://127.0.0.1:PORT, the client cert dir)` from the env file.
fn tls_daemon() -> (String, PathBuf) {
    env();
    let path = env_file_path();
    let vars = parse_env_lines(&std::fs::read_to_string(&path).unwrap_or_default());
    let get = |k: &str| {
        vars.get(k).filter(|v| !v.is_empty()).cloned().unwrap_or_else(|| {
            panic!("{} has no {k}= line: start it with `scripts/test-env.sh start` (or `scripts/env-dockertls.sh start DIR`)", path.display())
        })
    };
    (get("IDPUSH_TEST_DOCKER_TLS_HOST"), PathBuf::from(get("IDPUSH_TEST_DOCKER_CERT_PATH")))
}

fn idpush(dir: &TestDir, host: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd: Command = Idpush::new(&dir.sub(&unique("run")), host).into_command();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args);
    run(cmd, "idpush", IDPUSH_TIMEOUT)
}

fn image(dir: &TestDir, images: &mut ImageGuard, what: &str) -> (String, String) {
    let name = format!("{}:v1", unique(&format!("e2e-{what}")));
    let id = import_image(&dir.path, &name, 20_000);
    images.add(&name);
    (name, id)
}

#[test]
fn tcp_with_tls_verify_and_a_client_certificate_round_trips() {
    let (host, certs) = tls_daemon();
    let dir = TestDir::new("dtls-env");
    let mut images = ImageGuard::new();
    let (name, id) = image(&dir, &mut images, "dtls");
    let dest = format!("{}/{}:v1", env().registry, unique("dtls/env"));
    let certs = certs.to_str().unwrap();
    let out = idpush(&dir, &host, &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", certs)], &["push", &name, &dest]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let pushed = parse_pushed(&out);
    assert_eq!(pull_and_id(&pushed.by_digest()), id, "image ID after the round trip");
}

#[test]
fn tls_failures_are_one_line_errors_that_say_what_to_fix() {
    let (host, certs) = tls_daemon();
    let dir = TestDir::new("dtls-bad");
    let dest = format!("{}/{}:v1", env().registry, unique("dtls/bad"));
    let check = |out: &Output, code: i32, want: &str| {
        assert_eq!(out.code, Some(code), "{}", out.describe());
        let errors: Vec<_> = out.stderr_lines().into_iter().filter(|l| l.starts_with("idpush: error")).collect();
        assert_eq!(errors.len(), 1, "{}", out.describe());
        assert!(errors[0].contains(want), "want {want:?}:\n{}", out.describe());
    };
    // No ca.pem: the bundled roots do not know the test CA.
    let empty = dir.sub("empty");
    let out = idpush(&dir, &host, &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", empty.to_str().unwrap())], &["push", "x:v1", &dest]);
    check(&out, 2, "TLS handshake failed: invalid peer certificate: UnknownIssuer");
    // The CA but no client certificate: the proxy hangs up.
    let ca_only = dir.sub("ca-only");
    std::fs::copy(certs.join("ca.pem"), ca_only.join("ca.pem")).unwrap();
    let out = idpush(&dir, &host, &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", ca_only.to_str().unwrap())], &["push", "x:v1", &dest]);
    check(&out, 1, "put cert.pem and key.pem in DOCKER_CERT_PATH");
    // Plain tcp:// to a TLS port.
    let out = idpush(&dir, &host, &[], &["push", "x:v1", &dest]);
    check(&out, 1, "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH");
    // A key that is not PEM.
    let broken = dir.sub("broken");
    for f in ["ca.pem", "cert.pem"] {
        std::fs::copy(certs.join(f), broken.join(f)).unwrap();
    }
    std::fs::write(broken.join("key.pem"), "not a key").unwrap();
    let out = idpush(&dir, &host, &[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", broken.to_str().unwrap())], &["push", "x:v1", &dest]);
    check(&out, 1, &format!("cannot use the docker TLS file {}", broken.join("key.pem").display()));
}

/// A docker context whose endpoint is the TLS port, its files in contexts/tls/<id>/docker/.
#[test]
fn a_docker_context_with_tls_files_reaches_the_daemon() {
    let (host, certs) = tls_daemon();
    let dir = TestDir::new("dtls-ctx");
    let mut images = ImageGuard::new();
    let (name, id) = image(&dir, &mut images, "dtlsctx");
    let config = dir.sub("docker-config");
    let ctx = unique("tlsctx");
    let hex = sha256_digest(ctx.as_bytes()).trim_start_matches("sha256:").to_string();
    let meta = config.join("contexts/meta").join(&hex);
    std::fs::create_dir_all(&meta).unwrap();
    let json = serde_json::json!({"Name": ctx, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}});
    std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
    let tls: &Path = &config.join("contexts/tls").join(&hex).join("docker");
    std::fs::create_dir_all(tls).unwrap();
    for f in ["ca.pem", "cert.pem", "key.pem"] {
        std::fs::copy(certs.join(f), tls.join(f)).unwrap();
    }
    let dest = format!("{}/{}:v1", env().registry, unique("dtls/ctx"));
    let mut cmd: Command = Idpush::new(&dir.sub("run"), "unused").into_command();
    cmd.env_remove("DOCKER_HOST").env("DOCKER_CONFIG", &config).env("DOCKER_CONTEXT", &ctx).args(["push", &name, &dest]);
    let out = run(cmd, "idpush", IDPUSH_TIMEOUT);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(pull_and_id(&parse_pushed(&out).by_digest()), id);
}
