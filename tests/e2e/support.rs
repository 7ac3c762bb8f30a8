//! Shared helpers for the e2e tests: the test environment (a private dockerd and a plain-HTTP
//! registry started by `scripts/test-env.sh start`), the docker CLI and skopeo as independent
//! checkers, deterministic images, and running the `idpush` binary with a clean environment.

use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::http;

mod checkers;
mod images;
mod registry;
pub use checkers::*;
pub use images::*;
pub use registry::*;

/// How long one `idpush` run may take before the test kills it and fails.
pub const IDPUSH_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one docker CLI / skopeo command may take.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// The environment

/// What `scripts/test-env.sh start` wrote to `$DIR/env`.
#[derive(Debug, Clone)]
pub struct TestEnv {
    /// `unix:///…/docker.sock` of the private dockerd.
    pub docker_host: String,
    /// `127.0.0.1:PORT` of the plain-HTTP registry.
    pub registry: String,
    /// Where the env file was read from (for messages).
    #[allow(dead_code)]
    pub env_file: PathBuf,
}

impl TestEnv {
    pub fn docker_socket(&self) -> &str {
        self.docker_host
            .strip_prefix("unix://")
            .unwrap_or(&self.docker_host)
    }
}

/// Where the env file is: `$IDPUSH_TEST_ENV_FILE`, else `$IDPUSH_TEST_ENV_DIR/env`, else
/// `<repo>/.tmp/test-env/env` (the default of scripts/test-env.sh).
pub fn env_file_path() -> PathBuf {
    if let Some(f) = std::env::var_os("IDPUSH_TEST_ENV_FILE").filter(|v| !v.is_empty()) {
        return PathBuf::from(f);
    }
    if let Some(d) = std::env::var_os("IDPUSH_TEST_ENV_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(d).join("env");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".tmp/test-env/env")
}

/// Parse `KEY=VALUE` lines (comments, blanks and `export ` prefixes allowed; values may be
/// single- or double-quoted).
pub fn parse_env_lines(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            vars.insert(k.trim().to_string(), v.to_string());
        }
    }
    vars
}

/// The test environment. Panics (fails the test) with what to run when it is missing or down.
pub fn env() -> &'static TestEnv {
    static ENV: OnceLock<Result<TestEnv, String>> = OnceLock::new();
    match ENV.get_or_init(load_env) {
        Ok(env) => env,
        Err(msg) => panic!("{msg}"),
    }
}

fn load_env() -> Result<TestEnv, String> {
    let path = env_file_path();
    let hint = "run `scripts/test-env.sh start` first (or run all tests with `scripts/test.sh`)";
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "e2e test environment file {} cannot be read ({e}): {hint}; \
             or point IDPUSH_TEST_ENV_FILE at the env file it wrote",
            path.display()
        )
    })?;
    let vars = parse_env_lines(&text);
    let get = |k: &str| {
        vars.get(k)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| format!("{} has no {k}= line: {hint}", path.display()))
    };
    let env = TestEnv {
        docker_host: get("DOCKER_HOST")?,
        registry: get("IDPUSH_TEST_REGISTRY")?,
        env_file: path.clone(),
    };
    if !env.docker_host.starts_with("unix://") {
        return Err(format!(
            "{}: DOCKER_HOST must be unix://…, got {}",
            path.display(),
            env.docker_host
        ));
    }
    // Both must answer, or every test would fail in a confusing way.
    ping_docker(env.docker_socket()).map_err(|e| {
        format!(
            "the test dockerd at {} does not answer ({e}): {hint}",
            env.docker_host
        )
    })?;
    let r = http::request("GET", &env.registry, "/v2/", &[]).map_err(|e| {
        format!(
            "the test registry at {} does not answer ({e}): {hint}",
            env.registry
        )
    })?;
    if r.status != 200 {
        return Err(format!(
            "the test registry at {} answered GET /v2/ with {}: {hint}",
            env.registry, r.status
        ));
    }
    Ok(env)
}

fn ping_docker(socket: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let mut s = UnixStream::connect(socket).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    if out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer: {}",
            out.lines().next().unwrap_or("")
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Names and directories

/// A name unique to this test run and call: `<prefix>-<pid>-<n>`, lowercase.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}-{:05x}",
        prefix.to_lowercase(),
        std::process::id(),
        n,
        nanos & 0xfffff
    )
}

/// A fresh directory for one test (under the system temp dir, so socket paths stay short).
/// Removed on drop unless the test panicked (then kept for inspection, and its path printed).
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        let path = std::env::temp_dir().join(format!("idpush-e2e-{}", unique(name)));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TestDir { path }
    }

    /// A subdirectory, created.
    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
        p
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("e2e: keeping {} for inspection", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Entries left in a directory (empty when the directory is empty or missing).
pub fn dir_entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Running programs

#[derive(Debug)]
pub struct Output {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn describe(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// Non-empty stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }

    /// Non-empty stderr lines without the `hint:` line an error may end with (checked: at most
    /// one, the last line, not empty).
    pub fn error_lines(&self) -> Vec<&str> {
        let mut lines = self.stderr_lines();
        if lines.last().is_some_and(|l| l.starts_with("hint: ")) {
            assert!(lines.last().unwrap().len() > "hint: ".len() + 10, "an empty hint:\n{}", self.describe());
            lines.pop();
        }
        assert!(!lines.iter().any(|l| l.starts_with("hint: ")), "a hint: line that is not the last:\n{}", self.describe());
        lines
    }

    /// A clean failure: exit `code`, nothing on stdout, one `idpush: error:` line (a `hint:`
    /// line may follow) holding `want` (case-insensitive), no panic, nothing left in `tmp`.
    /// Returns the error line.
    pub fn failed_cleanly(&self, code: i32, want: &str, tmp: &Path) -> String {
        assert_eq!(self.code, Some(code), "{want}:\n{}", self.describe());
        assert!(self.stdout.is_empty(), "{}", self.describe());
        let lines = self.error_lines();
        assert_eq!(lines.len(), 1, "expected one error line:\n{}", self.describe());
        assert!(!self.stderr.contains("panicked"), "{}", self.describe());
        let line = lines[0].to_string();
        assert!(line.starts_with("idpush: error: "), "{line}");
        assert!(line.to_lowercase().contains(&want.to_lowercase()), "expected {want:?} in {line:?}");
        let left = dir_entries(tmp);
        assert!(left.is_empty(), "TMPDIR not empty after {want:?}: {left:?}");
        line
    }

    /// The `hint:` line that ends stderr, without its prefix.
    pub fn hint(&self) -> Option<&str> {
        self.stderr_lines().last().and_then(|l| l.strip_prefix("hint: "))
    }
}

/// A spawned child whose output is collected by threads; wait with a deadline.
pub struct Running {
    child: std::process::Child,
    out: std::thread::JoinHandle<Vec<u8>>,
    err: std::thread::JoinHandle<Vec<u8>>,
    what: String,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child has exited already.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn wait(mut self, timeout: Duration) -> Output {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let out =
                        String::from_utf8_lossy(&self.out.join().unwrap_or_default()).into_owned();
                    let err =
                        String::from_utf8_lossy(&self.err.join().unwrap_or_default()).into_owned();
                    panic!(
                        "{} did not finish within {:?}; killed.\nstdout:\n{out}\nstderr:\n{err}",
                        self.what, timeout
                    );
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("waiting for {}: {e}", self.what),
            }
        };
        Output {
            code: status.code(),
            stdout: String::from_utf8_lossy(&self.out.join().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&self.err.join().unwrap_or_default()).into_owned(),
        }
    }
}

pub fn spawn(mut cmd: Command, what: &str) -> Running {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    Running {
        child,
        out,
        err,
        what: what.to_string(),
    }
}

pub fn run(cmd: Command, what: &str, timeout: Duration) -> Output {
    spawn(cmd, what).wait(timeout)
}

/// Environment variables that must not leak from the developer's shell into the programs
/// under test (credentials, registry defaults, proxies, docker client config).
const SCRUBBED_PREFIXES: &[&str] = &[
    "IDPBUILDER_",
    "DOCKER_",
    "RUST_LOG",
    "XDG_",
    "SSL_CERT",
    "REGISTRY_AUTH",
];
const SCRUBBED: &[&str] = &[
    "HOME",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "TMPDIR",
    "IDPUSH_CERTS_D",
    "IDPUSH_CHUNK_SIZE",
    "IDPUSH_CACHE_DIR",
    "IDPUSH_NO_CACHE",
    "IDPUSH_COMPRESSION",
    "IDPUSH_COMPRESSION_LEVEL",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
];

fn scrub(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if SCRUBBED.contains(&k.as_str()) || SCRUBBED_PREFIXES.iter().any(|p| k.starts_with(p)) {
            cmd.env_remove(&k);
        }
    }
}

/// One run of the idpush binary, with a clean environment: no user config, HOME and TMPDIR in
/// fresh per-run directories, DOCKER_HOST pointing at the given daemon.
pub struct Idpush {
    cmd: Command,
}

impl Idpush {
    /// `idpush ARGS…` talking to `docker_host`, with HOME=`dir`/home and TMPDIR=`dir`/tmp.
    pub fn new(dir: &Path, docker_host: &str) -> Idpush {
        let home = dir.join("home");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&tmp).unwrap();
        // IDPUSH_TEST_BIN may name another binary with the same CLI (to check the tests themselves).
        let bin = std::env::var_os("IDPUSH_TEST_BIN")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_idpush").into());
        let mut cmd = Command::new(bin);
        scrub(&mut cmd);
        cmd.env("HOME", &home)
            .env("TMPDIR", &tmp)
            .env("DOCKER_HOST", docker_host)
            .env("NO_COLOR", "1");
        cmd.current_dir(dir);
        Idpush { cmd }
    }

    pub fn args<I, S>(mut self, args: I) -> Idpush
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Idpush {
        self.cmd.env(k, v);
        self
    }

    pub fn run(self) -> Output {
        run(self.cmd, "idpush", IDPUSH_TIMEOUT)
    }

    /// Runs it with `input` on stdin (then closed).
    pub fn run_with_stdin(mut self, input: &[u8]) -> Output {
        use std::io::Write;
        self.cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = self.cmd.spawn().unwrap_or_else(|e| panic!("cannot run idpush: {e}"));
        let _ = child.stdin.take().expect("stdin").write_all(input);
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("waiting for idpush: {e}"));
        Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn spawn(self) -> Running {
        spawn(self.cmd, "idpush")
    }

    /// The command as configured, for a test that wires stdio itself.
    pub fn into_command(self) -> Command {
        self.cmd
    }
}

/// A parsed idpush stdout line: `host:port/repo:tag@sha256:<64hex>`.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub host: String,
    pub repo: String,
    pub tag: Option<String>,
    pub digest: String,
}

impl Pushed {
    /// `host/repo@digest`
    pub fn by_digest(&self) -> String {
        format!("{}/{}@{}", self.host, self.repo, self.digest)
    }
}

/// Check the contract for stdout on success: exactly one line, a reference with a digest.
pub fn parse_pushed(out: &Output) -> Pushed {
    assert_eq!(out.code, Some(0), "idpush failed:\n{}", out.describe());
    let text = out.stdout.strip_suffix('\n').unwrap_or(&out.stdout);
    assert!(
        !text.is_empty() && !text.contains('\n'),
        "stdout must be exactly one line (the pushed reference):\n{}",
        out.describe()
    );
    let (name, digest) = text
        .rsplit_once('@')
        .unwrap_or_else(|| panic!("stdout line has no @digest: {text:?}\n{}", out.describe()));
    assert!(
        is_sha256_digest(digest),
        "bad digest {digest:?} in stdout {text:?}"
    );
    let (host, path) = name
        .split_once('/')
        .unwrap_or_else(|| panic!("stdout line has no host/: {text:?}"));
    let (repo, tag) = match path.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
        _ => (path.to_string(), None),
    };
    Pushed {
        host: host.to_string(),
        repo,
        tag,
        digest: digest.to_string(),
    }
}

pub fn is_sha256_digest(s: &str) -> bool {
    match s.strip_prefix("sha256:") {
        Some(hex) => {
            hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        }
        None => false,
    }
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}
