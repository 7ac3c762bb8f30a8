//! Docker credential helpers: `docker-credential-<name> get`, with the registry host on stdin
//! and `{"Username": …, "Secret": …}` on stdout, as docker-credential-helpers define it.
//!
//! A helper gets [`TIMEOUT`] (30 s) to answer. One that hangs (`pass` waiting on a pinentry
//! nobody sees, a locked keychain) is killed, and that is an error naming the helper: going on
//! without its credentials would push anonymously and fail later with a misleading 401. A
//! helper that answers "not found" (non-zero exit), cannot be started, or prints something
//! that is not its JSON answer is not an error: the lookup goes on (docker config `auths`,
//! podman's file, anonymous), and the reason is kept as a note for the debug log.
//!
//! What the helper prints is never put into a message: its stdout holds the secret, and its
//! stderr is discarded.

use crate::error::{fail, Cause};
use crate::registry::Credentials;
use crate::secret::Secret;
use anyhow::{anyhow, Context};
use serde::Deserialize;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a helper may take to answer.
pub const TIMEOUT: Duration = Duration::from_secs(30);
/// Test knob: the helper timeout in milliseconds (tests use a short one with a helper that
/// sleeps); at most [`TIMEOUT`]. Not meant for users.
pub const TIMEOUT_ENV: &str = "IDPUSH_HELPER_TIMEOUT_MS";
/// The most a helper's answer may be (a JSON object with a user and a secret).
const MAX_ANSWER: u64 = 1 << 20;

/// What a helper answered.
#[derive(Debug)]
pub enum Answer {
    /// Credentials, and the username when there is one (for the lowercase-owner rule).
    Found(Credentials, Option<String>),
    /// It has nothing for this host (or answered with an empty secret).
    NotFound,
    /// It could not be used; why (for the debug log, never a value).
    Unusable(String),
}

/// The timeout: [`TIMEOUT`], or [`TIMEOUT_ENV`] when set to a number of milliseconds.
pub fn timeout(env: &dyn Fn(&str) -> Option<String>) -> Duration {
    env(TIMEOUT_ENV)
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(TIMEOUT, |ms| Duration::from_millis(ms).min(TIMEOUT))
}

/// Runs `docker-credential-<name> get` for `host`. `Err` only when the helper did not answer
/// within `timeout` (it is killed).
pub fn get(name: &str, host: &str, timeout: Duration) -> anyhow::Result<Answer> {
    if name.is_empty() || name.contains(['/', '\\']) || name.chars().any(char::is_control) {
        return Ok(Answer::Unusable(format!("invalid credential helper name {}", crate::redact::quote(name))));
    }
    let program = format!("docker-credential-{name}");
    let out = match run(Command::new(&program).arg("get"), host.as_bytes(), timeout) {
        Ok(Some(out)) => out,
        Ok(None) => {
            return Err(fail(
                Cause::CredentialSource,
                format!(
                    "{program} get did not answer within {}; killed it (is it waiting for a passphrase, \
                     a pinentry or a locked keychain? unlock it, or give -u/-p)",
                    seconds(timeout)
                ),
            ))
        }
        Err(e) => return Ok(Answer::Unusable(format!("cannot run {program}: {e:#}"))),
    };
    if !out.success {
        // Its message (e.g. "credentials not found in native keychain") is not logged: a
        // helper's stdout is where secrets go.
        log::trace!("{program} get exited unsuccessfully: no credentials");
        return Ok(Answer::NotFound);
    }
    parse_answer(&out.stdout).or_else(|e| Ok(Answer::Unusable(format!("{program} get: {e}"))))
}

/// The helper's JSON answer. `<token>` as the username means an identity token; no username,
/// a bearer token.
fn parse_answer(stdout: &[u8]) -> anyhow::Result<Answer> {
    #[derive(Deserialize)]
    struct Reply {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    let reply: Reply =
        serde_json::from_slice(stdout).map_err(|_| anyhow!("printed something that is not its JSON answer"))?;
    Ok(match (reply.username.as_str(), reply.secret) {
        (_, s) if s.is_empty() => Answer::NotFound,
        ("<token>", s) => Answer::Found(Credentials::IdentityToken { username: None, token: Secret::new(s) }, None),
        ("", s) => Answer::Found(Credentials::Token(Secret::new(s)), None),
        (u, s) => Answer::Found(
            Credentials::Basic { username: u.to_string(), password: Secret::new(s) },
            Some(u.to_string()),
        ),
    })
}

/// What a finished helper left.
struct Finished {
    success: bool,
    stdout: Vec<u8>,
}

/// Runs `cmd` with `input` on stdin; `None` when it did not finish within `timeout` (then it
/// has been killed and reaped). A grandchild that keeps stdout open does not hold us past the
/// deadline either.
fn run(cmd: &mut Command, input: &[u8], timeout: Duration) -> anyhow::Result<Option<Finished>> {
    let deadline = Instant::now() + timeout;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting it")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading closes the pipe: not our problem.
        let _ = stdin.write_all(input);
    }
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.take(MAX_ANSWER).read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for it")? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
    match rx.recv_timeout(left) {
        Ok(stdout) => Ok(Some(Finished { success: status.success(), stdout })),
        Err(_) => Ok(None),
    }
}

/// `30 s`, `0.5 s`.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", ms as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_helper_that_hangs_is_killed_at_the_deadline() {
        let started = Instant::now();
        // The shell waits on a sleep that also holds stdout open.
        let out = run(&mut sh("sleep 10"), b"host", Duration::from_millis(300)).unwrap();
        assert!(out.is_none());
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        // A grandchild keeping stdout open after the helper exited does not hold us either.
        let started = Instant::now();
        let out = run(&mut sh("(sleep 10 &) ; exit 0"), b"host", Duration::from_millis(300)).unwrap();
        assert!(out.is_none());
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn a_helper_that_answers_is_read() {
        let out = run(&mut sh("cat >/dev/null; printf '{\"Username\":\"u\",\"Secret\":\"s\"}'"), b"h", TIMEOUT).unwrap().unwrap();
        assert!(out.success);
        assert!(matches!(parse_answer(&out.stdout).unwrap(), Answer::Found(Credentials::Basic { username, .. }, Some(_)) if username == "u"));
        let out = run(&mut sh("echo 'credentials not found'; exit 1"), b"h", TIMEOUT).unwrap().unwrap();
        assert!(!out.success);
        assert!(run(&mut Command::new("/nonexistent/docker-credential-x"), b"h", TIMEOUT).is_err());
    }

    #[test]
    fn answers() {
        let cases: &[(&str, &str)] = &[
            (r#"{"Username":"<token>","Secret":"s"}"#, "identity"),
            (r#"{"Username":"","Secret":"s"}"#, "token"),
            (r#"{"Username":"u","Secret":""}"#, "none"),
            (r#"{"Username":"u","Secret":"s"}"#, "basic"),
        ];
        for (json, want) in cases {
            let got = match parse_answer(json.as_bytes()).unwrap() {
                Answer::Found(Credentials::IdentityToken { .. }, None) => "identity",
                Answer::Found(Credentials::Token(_), None) => "token",
                Answer::Found(Credentials::Basic { .. }, Some(_)) => "basic",
                Answer::NotFound => "none",
                other => panic!("{json}: {other:?}"),
            };
            assert_eq!(got, *want, "{json}");
        }
        let e = parse_answer(b"secret-looking garbage").unwrap_err().to_string();
        assert!(!e.contains("garbage"), "{e}");
    }

    #[test]
    fn timeout_knob() {
        assert_eq!(timeout(&|_| None), TIMEOUT);
        assert_eq!(timeout(&|k| (k == TIMEOUT_ENV).then(|| "250".into())), Duration::from_millis(250));
        assert_eq!(timeout(&|k| (k == TIMEOUT_ENV).then(|| "99999999999999999999".into())), TIMEOUT);
        assert_eq!(seconds(Duration::from_millis(500)), "0.5 s");
        assert_eq!(seconds(TIMEOUT), "30 s");
    }
}
