//! Settings refused before any work, through the binary: durations past their limit, a DEST
//! with a scheme, a malformed IPv6 host, a bad IDPBUILDER_REGISTRY_INSECURE, and a credential
//! helper that hangs. Each is one line on stderr, exit 1, no panic, nothing left in TMPDIR.

use crate::support::*;
use std::time::{Duration, Instant};

fn idpush(dir: &TestDir) -> (Idpush, std::path::PathBuf) {
    let run = dir.sub(&unique("run"));
    (Idpush::new(&run, &env().docker_host), run.join("tmp"))
}

/// Exit 1, exactly one stderr line starting `idpush: error:`, nothing on stdout, TMPDIR empty.
fn refused(out: &Output, tmp: &std::path::Path) -> String {
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let lines = out.error_lines();
    assert_eq!(lines.len(), 1, "one line:\n{}", out.describe());
    assert!(lines[0].starts_with("idpush: error: "), "{}", out.describe());
    assert!(!out.stderr.contains("panicked"), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert_eq!(dir_entries(tmp), Vec::<String>::new(), "temp files left");
    lines[0].to_string()
}

/// Defect 4 (issue 7): `--connect-timeout 18446744073709551615` (or the env form) panicked on
/// an `Instant` overflow (exit 101). Every duration is refused past its limit, flag or env.
#[test]
fn huge_durations_are_refused_in_one_line() {
    let dir = TestDir::new("settings-durations");
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("durations"));
    // A real image: without the check, the push got as far as the registry and panicked there.
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-settings-durations"));
    import_image(&dir.path, &image, 1024);
    images.add(&image);
    for (flag, var, max) in [
        ("connect-timeout", "IDPBUILDER_CONNECT_TIMEOUT", "86400"),
        ("read-timeout", "IDPBUILDER_READ_TIMEOUT", "86400"),
        ("retry-max-delay", "IDPBUILDER_RETRY_MAX_DELAY", "3600"),
    ] {
        for n in ["18446744073709551615", "18446744073709551", "100000"] {
            let (cmd, tmp) = idpush(&dir);
            let out = cmd.args(["push", &image, &dest, &format!("--{flag}"), n]).run();
            let line = refused(&out, &tmp);
            assert!(line.contains(&format!("--{flag} {n} is too long: at most {max} seconds")), "{line}");
            let (cmd, tmp) = idpush(&dir);
            let out = cmd.args(["push", &image, &dest]).env(var, n).run();
            let line = refused(&out, &tmp);
            assert!(line.contains(&format!("{var}=\"{n}\"")) && line.contains("too long"), "{line}");
        }
    }
}

/// Defect 11 (issue 7): a scheme in DEST said `registry port "" is not a number`; a malformed
/// IPv6 host passed parsing and failed only after the image was read (the image here does not
/// exist: exit 2 would mean the daemon was asked first); a bad IDPBUILDER_REGISTRY_INSECURE was
/// silently false.
#[test]
fn misleading_settings_are_refused_before_the_image_is_read() {
    let dir = TestDir::new("settings-misleading");
    let image = unique("e2e-misleading-missing");
    let reg = env().registry.clone();
    // (DEST, an environment variable to set, what the line must say)
    type Case<'a> = (String, Option<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        (format!("http://{reg}/x/y:1"), None, format!("takes no scheme: give it as host[:port]/path/name[:tag] and the scheme with -r, e.g. `-r http://{reg} {reg}/x/y:1`")),
        ("[::1/x:1".into(), None, "unclosed '['".into()),
        ("[zz::1]:5000/x:1".into(), None, "not a valid IPv6 address".into()),
        (format!("{reg}/x/y:1"), Some(("IDPBUILDER_REGISTRY_INSECURE", "maybe")), "IDPBUILDER_REGISTRY_INSECURE=\"maybe\" is not a yes or no".into()),
    ];
    for (dest, var, want) in cases {
        let (mut cmd, tmp) = idpush(&dir);
        if let Some((k, v)) = var {
            cmd = cmd.env(k, v);
        }
        let out = cmd.args(["push", &image, &dest]).run();
        let line = refused(&out, &tmp);
        assert!(line.contains(&want), "{dest}: {line}");
        assert!(!line.contains("port \"\""), "{line}");
    }
}

/// Defect 6 (issue 7, helper part): a credential helper that hangs (`pass` waiting on a
/// pinentry) hung idpush. It is killed at the timeout (30 s; IDPUSH_HELPER_TIMEOUT_MS shortens
/// it for tests) and named in the one error line; nothing is pushed anonymously instead.
#[test]
fn a_credential_helper_that_hangs_is_killed_and_named() {
    let dir = TestDir::new("settings-helper");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-settings-helper"));
    import_image(&dir.path, &image, 4 * 1024);
    images.add(&image);
    let bin = dir.sub("bin");
    let helper = bin.join("docker-credential-hangs");
    // Like `pass` waiting on a pinentry: it never answers. The shell stays the parent of sleep.
    std::fs::write(&helper, "#!/bin/sh\ncat >/dev/null\nsleep 20\necho '{}'\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.sub("docker-config");
    let reg = env().registry.clone();
    std::fs::write(config.join("config.json"), format!(r#"{{"credHelpers": {{"{reg}": "hangs"}}}}"#)).unwrap();
    let repo = format!("e2e/{}", unique("helper"));
    let (cmd, tmp) = idpush(&dir);
    let started = Instant::now();
    let out = cmd
        .args(["push", &image, &format!("{reg}/{repo}:v1")])
        .env("DOCKER_CONFIG", config.to_str().unwrap())
        .env("PATH", &format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .env("IDPUSH_HELPER_TIMEOUT_MS", "700")
        .run();
    let took = started.elapsed();
    let line = refused(&out, &tmp);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        line.contains("docker-credential-hangs get did not answer within 0.7 s; killed it")
            && line.contains("(credHelpers: hangs)")
            && line.contains("config.json"),
        "{line}"
    );
    let (status, _) = registry_manifest_digest(&reg, &repo, "v1");
    assert_eq!(status, 404, "nothing may be pushed");
}
