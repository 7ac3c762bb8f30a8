//! One error per class a user meets first, each with its `hint:` line (issue 10): the daemon
//! is not there, the image is not there, the registry refuses the password, nothing listens at
//! the registry address. (An untrusted certificate's hint is checked in tls.rs and
//! loopback_tls.rs.) The error line names the object; the hint says what to do; no secret in
//! either.

use crate::support::*;
use crate::token_server::ensure;

/// Exactly an error line and a hint line on stderr, nothing on stdout; returns both.
fn error_and_hint(out: &Output, code: i32) -> (String, String) {
    assert_eq!(out.code, Some(code), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let lines = out.stderr_lines();
    assert_eq!(lines.len(), 2, "an error line and a hint line:\n{}", out.describe());
    assert!(lines[0].starts_with("idpush: error: "), "{}", out.describe());
    let hint = out.hint().unwrap_or_else(|| panic!("no hint: line:\n{}", out.describe()));
    (lines[0].to_string(), hint.to_string())
}

fn dest(registry: &str, what: &str) -> String {
    format!("{registry}/e2e/{}:v1", unique(what))
}

#[test]
fn daemon_unreachable_says_how_to_reach_one() {
    let dir = TestDir::new("hint-daemon");
    let socket = format!("/nonexistent/{}/docker.sock", unique("hint"));
    let out = Idpush::new(&dir.path, &format!("unix://{socket}"))
        .args(["push", "-q", "any:v1", &dest(&env().registry, "hint-daemon")])
        .run();
    let (line, hint) = error_and_hint(&out, 2);
    assert!(line.contains(&socket), "{line}");
    assert!(hint.contains("DOCKER_HOST") && hint.contains("start"), "{hint}");
}

#[test]
fn missing_image_says_where_to_look() {
    let dir = TestDir::new("hint-image");
    let image = format!("{}:v1", unique("hint-missing"));
    let out = Idpush::new(&dir.path, &env().docker_host).args(["push", "-q", &image, &dest(&env().registry, "hint-image")]).run();
    let (line, hint) = error_and_hint(&out, 2);
    assert!(line.contains(image.trim_end_matches(":v1")), "{line}");
    assert!(hint.contains("docker images"), "{hint}");
}

#[test]
fn wrong_password_names_the_credential_source_never_the_secret() {
    let a = ensure();
    let dir = TestDir::new("hint-auth");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-hint-auth"));
    import_image(&dir.path, &image, 4 * 1024);
    images.add(&image);
    let secret = "not-the-password-hint-77";
    let out = Idpush::new(&dir.sub("run"), &env().docker_host)
        .args(["push", "-q", &image, &dest(&a.basic_registry, "hint-auth"), "-u", &a.user, "-p", secret])
        .run();
    let (line, hint) = error_and_hint(&out, 1);
    assert!(line.contains(&a.basic_registry), "{line}");
    assert!(hint.contains("flags") && hint.contains(&format!("docker login {}", a.basic_registry)), "{hint}");
    assert!(hint.contains(&a.user), "names the user: {hint}");
    assert!(!out.stderr.contains(secret), "{}", out.describe());
}

#[test]
fn nothing_listening_names_the_url_tried() {
    let dir = TestDir::new("hint-refused");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-hint-refused"));
    import_image(&dir.path, &image, 4 * 1024);
    images.add(&image);
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let registry = format!("127.0.0.1:{port}");
    let out = Idpush::new(&dir.sub("run"), &env().docker_host)
        .args(["push", "-q", "--retries", "0", &image, &dest(&registry, "hint-refused")])
        .run();
    let (line, hint) = error_and_hint(&out, 1);
    assert!(line.contains(&registry), "{line}");
    assert!(hint.contains(&registry) && hint.contains("up"), "{hint}");
}

#[test]
fn a_bare_push_is_one_usage_line_and_the_help_pointer() {
    let dir = TestDir::new("hint-usage");
    for (args, want) in [(vec!["push"], "image"), (vec!["push", "--no-such-flag", "a:1"], "--no-such-flag"), (vec![], "push")] {
        let out = Idpush::new(&dir.path, &env().docker_host).args(&args).run();
        let (line, hint) = error_and_hint(&out, 1);
        assert!(line.contains(want), "{args:?}: {line}");
        assert!(hint.contains("--help"), "{args:?}: {hint}");
    }
}

#[test]
fn version_names_the_commit() {
    let dir = TestDir::new("hint-version");
    let out = Idpush::new(&dir.path, &env().docker_host).args(["--version"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let head = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short=12", "HEAD"])
        .output()
        .expect("git runs");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    assert_eq!(head.len(), 12, "git rev-parse HEAD in the repo");
    assert_eq!(out.stdout.trim(), format!("idpush {} (commit {head})", env!("CARGO_PKG_VERSION")), "{}", out.describe());
}
