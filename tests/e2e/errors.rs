//! Failures and their exit codes: 2 for a missing image or an unreachable daemon, 1 for bad
//! input, with one line on stderr.

use crate::fake_daemon::FakeDaemon;
use crate::support::*;
use std::net::TcpListener;
use std::time::Duration;

/// With `-q`, an error is exactly one line on stderr; return it.
fn one_error_line(out: &Output) -> String {
    let lines = out.error_lines();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line on stderr:\n{}",
        out.describe()
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout on failure:\n{}",
        out.describe()
    );
    lines[0].to_string()
}

#[test]
fn image_not_found_exits_2() {
    let dir = TestDir::new("not-found");
    let env = env();
    let image = format!("{}:latest", unique("e2e-missing"));
    let repo = format!("e2e/{}", unique("missing"));
    let out = Idpush::new(&dir.path, &env.docker_host)
        .args([
            "push",
            "-q",
            &image,
            &format!("{}/{repo}:latest", env.registry),
        ])
        .run();
    assert_eq!(
        out.code,
        Some(2),
        "image not found must exit 2:\n{}",
        out.describe()
    );
    let line = one_error_line(&out);
    let bare = image.trim_end_matches(":latest");
    assert!(
        line.contains(bare),
        "the error should name the image {image}: {line:?}"
    );
    let (status, _) = registry_manifest_digest(&env.registry, &repo, "latest");
    assert_eq!(status, 404, "nothing may be pushed for a missing image");
}

#[test]
fn image_not_found_without_quiet_still_says_so() {
    let dir = TestDir::new("not-found-verbose");
    let env = env();
    let image = format!("{}:v0", unique("e2e-missing-verbose"));
    let out = Idpush::new(&dir.path, &env.docker_host)
        .args([
            "push",
            &image,
            &format!("{}/e2e/{}:v0", env.registry, unique("missing-verbose")),
        ])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let last = *out.error_lines().last().unwrap_or(&"");
    assert!(
        last.contains(image.trim_end_matches(":v0")),
        "last stderr line should name the image: {}",
        out.describe()
    );
}

#[test]
fn daemon_socket_missing_exits_2() {
    let dir = TestDir::new("no-socket");
    let env = env();
    let socket = format!("/nonexistent/{}/docker.sock", unique("idpush-e2e"));
    let out = Idpush::new(&dir.path, &format!("unix://{socket}"))
        .args([
            "push",
            "-q",
            "e2e-any:latest",
            &format!("{}/e2e/{}:latest", env.registry, unique("no-socket")),
        ])
        .run();
    assert_eq!(
        out.code,
        Some(2),
        "unreachable daemon must exit 2:\n{}",
        out.describe()
    );
    let line = one_error_line(&out);
    assert!(
        line.contains(&socket),
        "the error should name the socket path {socket}: {line:?}"
    );
}

/// A TCP listener standing in for a registry: counts connections.
struct CountingListener {
    listener: TcpListener,
}

impl CountingListener {
    fn new() -> CountingListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        CountingListener { listener }
    }
    fn addr(&self) -> String {
        self.listener.local_addr().unwrap().to_string()
    }
    fn connections(&self) -> usize {
        let mut n = 0;
        while self.listener.accept().is_ok() {
            n += 1;
        }
        n
    }
}

#[test]
fn uppercase_dest_repository_rejected_before_any_work() {
    rejected_before_any_work("upper-dest", "UpperCase", |registry| {
        vec!["e2e-upper:latest".into(), format!("{registry}/e2e/UpperCase:latest")]
    });
}

#[test]
fn uppercase_image_repository_rejected_before_any_work() {
    rejected_before_any_work("upper-image", "MixedCase", |registry| {
        vec!["-r".into(), format!("http://{registry}"), "e2e/MixedCase:latest".into()]
    });
}

/// `idpush push -q ARGS…` (ARGS made from the registry's address) exits 1 with one line naming
/// `bad`, having contacted neither the daemon nor the registry.
fn rejected_before_any_work(name: &str, bad: &str, args: impl FnOnce(&str) -> Vec<String>) {
    let dir = TestDir::new(name);
    let daemon = FakeDaemon::start(&dir.path, None);
    let registry = CountingListener::new();
    let out = Idpush::new(&dir.sub("run"), &daemon.docker_host())
        .args(["push", "-q"])
        .args(args(&registry.addr()))
        .run();
    assert_eq!(out.code, Some(1), "uppercase repository must exit 1:\n{}", out.describe());
    let line = one_error_line(&out);
    assert!(line.contains(bad), "the error should name the bad repository: {line:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(daemon.connections(), 0, "the daemon was contacted: {:?}", daemon.requests());
    assert_eq!(registry.connections(), 0, "the registry was contacted");
}

// Regression (issue 7, defect 10): a temp dir that does not exist was an I/O NotFound, which
// the old classification took for "image not found" (exit 2). It is a local failure: exit 1,
// one line naming the dir and how to fix it, nothing pushed.
#[test]
fn a_missing_temp_dir_exits_1_naming_it() {
    let dir = TestDir::new("no-tmpdir");
    let env = env();
    let image = format!("{}:v1", unique("e2e-no-tmpdir"));
    let mut images = ImageGuard::new();
    import_image(&dir.path, &image, 4096);
    images.add(&image);
    let repo = format!("e2e/{}", unique("no-tmpdir"));
    let missing = dir.path.join("no-such-dir");
    let out = Idpush::new(&dir.path, &env.docker_host)
        .env("TMPDIR", missing.to_str().unwrap())
        .args(["push", "-q", &image, &format!("{}/{repo}:v1", env.registry)])
        .run();
    assert_eq!(out.code, Some(1), "a missing temp dir is a local failure, not 'not found':\n{}", out.describe());
    let line = one_error_line(&out);
    assert!(
        line.contains(&format!("cannot create a temp dir in {}", missing.display())) && line.contains("TMPDIR"),
        "the error should name the dir and the fix: {line:?}"
    );
    assert!(!missing.exists(), "the missing dir must not be created");
    let (status, _) = registry_manifest_digest(&env.registry, &repo, "v1");
    assert_eq!(status, 404, "nothing may be pushed without a temp dir");
}

// Regression (issue 7, life report): the error line was printed with eprintln!, which panics
// (exit 101) on a full stderr; the exit code must stay that of the failure.
#[test]
fn an_error_on_a_full_stderr_keeps_its_exit_code() {
    let dir = TestDir::new("devfull-error");
    let env = env();
    let image = format!("{}:latest", unique("e2e-missing-devfull"));
    let repo = format!("e2e/{}", unique("missing-devfull"));
    let mut cmd = Idpush::new(&dir.path, &env.docker_host)
        .args(["push", &image, &format!("{}/{repo}:latest", env.registry)])
        .into_command();
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(full);
    let mut child = cmd.spawn().expect("run idpush");
    let deadline = std::time::Instant::now() + IDPUSH_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("idpush did not finish within {IDPUSH_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(2), "a missing image exits 2 even when stderr is full (101 is a panic)");
    let left = dir_entries(&dir.path.join("tmp"));
    assert!(left.is_empty(), "left {left:?} in TMPDIR");
}
