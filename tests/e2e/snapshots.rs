//! Snapshot tests of what a person reads (issue 10): the `--help` of every command, and one
//! error of each class with its `hint:` line, compared exactly with the files under
//! tests/e2e/snapshots/. What varies per run (names, ports, paths) is replaced by a
//! `{placeholder}` first. `IDPUSH_UPDATE_SNAPSHOTS=1` rewrites the files instead of comparing
//! (then review the diff). hints.rs checks the hints' content piece by piece; this pins the
//! whole text, so a change of wording is a visible diff.

use crate::fault_proxy::{self, Fault, FaultProxy};
use crate::support::*;
use crate::token_server::ensure;
use std::path::PathBuf;

fn snapshot_path(kind: &str, name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/snapshots").join(kind).join(format!("{name}.txt"))
}

/// Compares `actual` with the snapshot `kind/name.txt`, or writes it with
/// IDPUSH_UPDATE_SNAPSHOTS=1.
fn check(kind: &str, name: &str, actual: &str) {
    let path = snapshot_path(kind, name);
    if std::env::var("IDPUSH_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("no snapshot {} ({e}): run with IDPUSH_UPDATE_SNAPSHOTS=1 to write it, then review it", path.display())
    });
    if want != actual {
        let diff: Vec<String> = want
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (w, a))| w != a)
            .take(5)
            .map(|(i, (w, a))| format!("line {}:\n  want: {w}\n  got:  {a}", i + 1))
            .collect();
        panic!(
            "{} differs ({} vs {} lines):\n{}\n--- got ---\n{actual}\n(IDPUSH_UPDATE_SNAPSHOTS=1 rewrites it if the change is meant)",
            path.display(),
            want.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn help_of_every_command_matches_its_snapshot() {
    let dir = TestDir::new("snap-help");
    let mut commands = vec![("idpush", vec!["--help"])];
    for c in ["push", "build", "catalog", "tags", "inspect", "completions"] {
        commands.push((c, vec![c, "--help"]));
    }
    for (name, args) in commands {
        let out = Idpush::new(&dir.path, &env().docker_host).args(&args).run();
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.describe());
        assert!(out.stderr.is_empty(), "{args:?}: {}", out.describe());
        check("help", name, &out.stdout);
    }
}

#[test]
fn the_snapshot_check_can_fail() {
    let path = snapshot_path("help", "idpush");
    let want = std::fs::read_to_string(&path).expect("the idpush help snapshot");
    let r = std::panic::catch_unwind(|| {
        if std::env::var("IDPUSH_UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
            panic!("updating");
        }
        check("help", "idpush", &format!("{want}x"))
    });
    assert!(r.is_err(), "a changed text must not match its snapshot");
}

/// `text` with each `(value, placeholder)` replaced, longest value first.
fn normalize(text: &str, subs: &[(&str, &str)]) -> String {
    let mut subs: Vec<&(&str, &str)> = subs.iter().filter(|(v, _)| !v.is_empty()).collect();
    subs.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
    let mut t = text.to_string();
    for (v, p) in subs {
        t = t.replace(v, p);
    }
    t
}

/// An error's stderr (an error line and a hint line; the error alone where it says what to do,
/// `bad-` cases) checked against `errors/name.txt`, and its exit code.
fn check_error(name: &str, out: &Output, code: i32, subs: &[(&str, &str)]) {
    assert_eq!(out.code, Some(code), "{name}: {}", out.describe());
    assert!(out.stdout.is_empty(), "{name}: {}", out.describe());
    let lines = out.stderr_lines();
    let want = if name.starts_with("bad-") { 1 } else { 2 };
    assert_eq!(lines.len(), want, "{name}: an error line and {} hint line:\n{}", want - 1, out.describe());
    assert!(lines[0].starts_with("idpush: error: ") && lines[1..].iter().all(|l| l.starts_with("hint: ")), "{name}: {}", out.describe());
    check("errors", name, &normalize(&out.stderr, subs));
}

#[test]
fn one_error_of_each_class_matches_its_snapshot() {
    let env = env();
    let dir = TestDir::new("snap-errors");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-snap"));
    import_image(&dir.path, &image, 64 * 1024);
    images.add(&image);
    // `-q`: the error and its hint alone, no progress lines.
    let run = |args: &[&str]| {
        let mut args = args.to_vec();
        if args.first() == Some(&"push") {
            args.insert(1, "-q");
        }
        Idpush::new(&dir.sub(&unique("run")), &env.docker_host).args(args).run()
    };
    let repo = unique("e2e/snap");
    let dest = |registry: &str| format!("{registry}/{repo}:v1");
    let common: Vec<(&str, &str)> = vec![(&image, "{image}"), (&repo, "{repo}"), (&env.docker_host, "{docker_host}")];
    // `(placeholder, value)` pairs, plus the common ones, as `(value, placeholder)`.
    let with = |more: &[(&'static str, &str)]| -> Vec<(String, String)> {
        common.iter().map(|(a, b)| (a.to_string(), b.to_string())).chain(more.iter().map(|(a, b)| (b.to_string(), a.to_string()))).collect()
    };
    let check_with = |name: &str, out: &Output, code: i32, v: Vec<(String, String)>| {
        let refs: Vec<(&str, &str)> = v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        check_error(name, out, code, &refs);
    };

    // Usage: one line and the help pointer.
    check_with("usage-bare-push", &run(&["push"]), 1, with(&[]));
    check_with("usage-no-command", &run(&[]), 1, with(&[]));
    check_with("bad-flag-value", &run(&["push", "--progress", "fancy", &image, &dest(&env.registry)]), 1, with(&[("{registry}", &env.registry)]));

    // The daemon is not there.
    let socket = format!("/nonexistent/{}/docker.sock", unique("snap"));
    let out = Idpush::new(&dir.sub("nodaemon"), &format!("unix://{socket}")).args(["push", "-q", &image, &dest(&env.registry)]).run();
    check_with("daemon-unreachable", &out, 2, with(&[("{socket}", &socket), ("{registry}", &env.registry)]));

    // The image is not there.
    let missing = format!("{}:v1", unique("e2e-snap-missing"));
    let out = run(&["push", &missing, &dest(&env.registry)]);
    check_with("image-not-found", &out, 2, with(&[("{missing}", &missing), ("{registry}", &env.registry)]));

    // Nothing listens at the registry address.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = format!("127.0.0.1:{port}");
    let out = run(&["push", "--retries", "0", &image, &dest(&nowhere)]);
    check_with("connection-refused", &out, 1, with(&[("{registry}", &nowhere)]));

    // A wrong password.
    let a = ensure();
    let out = run(&["push", &image, &dest(&a.basic_registry), "-u", &a.user, "-p", "not-the-password-snap"]);
    assert!(!out.stderr.contains("not-the-password-snap"), "{}", out.describe());
    check_with("wrong-password", &out, 1, with(&[("{registry}", &a.basic_registry), ("{user}", &a.user)]));

    // An uppercase repository name: refused before anything is sent, the error says what to do.
    let name = unique("snap");
    let upper = format!("{}/E2E/{name}:v1", env.registry);
    let out = run(&["push", &image, &upper]);
    check_with("bad-name-uppercase", &out, 1, with(&[("{name}", &name), ("{registry}", &env.registry)]));

    // A certificate nobody here trusts.
    let vars = parse_env_lines(&std::fs::read_to_string(env_file_path()).unwrap_or_default());
    let tls = vars.get("IDPUSH_TEST_TLS_REGISTRY").cloned().unwrap_or_else(|| panic!("no IDPUSH_TEST_TLS_REGISTRY: run scripts/test-env.sh start"));
    let empty = dir.sub("empty-certs-d");
    let out = Idpush::new(&dir.sub("tls"), &env.docker_host)
        .args(["push", "-q", &image, &dest(&tls), "-r", &format!("https://{tls}")])
        .env("IDPUSH_CERTS_D", empty.to_str().unwrap())
        .run();
    check_with("certificate-untrusted", &out, 1, with(&[("{registry}", &tls), ("{certs_d}", empty.to_str().unwrap())]));

    // A proxy that refuses every upload body as too large.
    let proxy = FaultProxy::start(&env.registry);
    for m in [fault_proxy::blob_put as fault_proxy::Matcher, fault_proxy::blob_patch, fault_proxy::upload_start] {
        proxy.inject(m, Fault::status(413), 1000);
    }
    let out = run(&["push", "--retries", "0", &image, &dest(proxy.addr())]);
    check_with("body-too-large", &out, 1, with(&[("{registry}", proxy.addr())]));
}

#[test]
fn bash_completion_completes_commands_flags_and_values() {
    let dir = TestDir::new("snap-completions");
    let out = Idpush::new(&dir.path, &env().docker_host).args(["completions", "bash"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let script = dir.path.join("idpush.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let complete = |words: &str, cword: usize| {
        let cmd = format!("source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; _idpush; printf '%s\\n' \"${{COMPREPLY[@]}}\"", script.display());
        let o = std::process::Command::new("bash").args(["-c", &cmd]).output().expect("bash runs");
        assert!(o.status.success(), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().map(str::to_string).collect::<Vec<_>>()
    };
    assert_eq!(complete("idpush pu", 1), vec!["push"]);
    assert_eq!(complete("idpush push --prog", 2), vec!["--progress"]);
    assert_eq!(complete("idpush push --progress ''", 3), vec!["auto", "tty", "plain", "none"]);
    assert_eq!(complete("idpush tags --js", 2), vec!["--json"]);
    // Each shell's script parses (zsh and fish only where installed: bash -n is always run).
    let o = std::process::Command::new("bash").args(["-n", script.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = Idpush::new(&dir.path, &env().docker_host).args(["completions", "tcsh"]).run();
    check_error("completions-unknown-shell", &out, 1, &[]);
}
