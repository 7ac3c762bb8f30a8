//! A daemon reached by `ssh://[user@]host[:port]`, as the docker CLI does it: run
//! `ssh -T [-l USER] [-p PORT] -- HOST docker system dial-stdio` and speak HTTP/1.1 over the
//! child's stdin and stdout. No new dependency: it is a child process and two pipes. What ssh
//! says on stderr is kept (bounded) for the error message when the connection fails.

use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The most of ssh's stderr we keep.
const MAX_STDERR: usize = 16 << 10;

/// `ssh://[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// Parses what follows `ssh://`: `[user@]host[:port]`, no path, no password.
    pub fn parse(rest: &str) -> Result<SshTarget, &'static str> {
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) || rest.contains(char::is_whitespace) || rest.contains(char::is_control) {
            return Err("expected ssh://[user@]host[:port] with no path or query");
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, _)) if u.is_empty() || u.contains(':') || u.contains('@') => {
                return Err(if u.contains(':') { "ssh:// takes no password (use an ssh key or agent)" } else { "malformed user" });
            }
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']').ok_or("unclosed '[' in the address")?;
                (h, (!after.is_empty()).then(|| after.strip_prefix(':').unwrap_or("x")))
            }
            None => match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            },
        };
        if host.is_empty() || host.starts_with('-') || (host.contains(':') && !hostport.starts_with('[')) {
            return Err("missing or malformed host");
        }
        let port = match port {
            None => None,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty() => {
                Some(p.parse::<u16>().ok().filter(|&n| n > 0).ok_or("invalid port")?)
            }
            Some(_) => return Err("invalid port"),
        };
        if user.as_deref().is_some_and(|u| u.starts_with('-')) {
            return Err("malformed user");
        }
        Ok(SshTarget { user, host: host.to_string(), port })
    }

    /// The ssh arguments (after `ssh`) that run `docker system dial-stdio` on the host.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec!["-T".to_string(), "-o".into(), "ConnectTimeout=30".into()];
        if let Some(u) = &self.user {
            args.extend(["-l".into(), u.clone()]);
        }
        if let Some(p) = self.port {
            args.extend(["-p".into(), p.to_string()]);
        }
        args.extend(["--".into(), self.host.clone(), "docker".into(), "system".into(), "dial-stdio".into()]);
        args
    }
}

impl SshTarget {
    /// A command for the user to try by hand: `ssh [-p PORT] [USER@]HOST docker version`.
    pub fn try_command(&self) -> String {
        let port = self.port.map(|p| format!("-p {p} ")).unwrap_or_default();
        let user = self.user.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
        format!("ssh {port}{user}{} docker version", self.host)
    }
}

impl std::fmt::Display for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ssh://")?;
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        match self.host.contains(':') {
            true => write!(f, "[{}]", self.host)?,
            false => write!(f, "{}", self.host)?,
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// The running `ssh … docker system dial-stdio`: reads are its stdout, writes its stdin.
#[derive(Debug)]
pub struct SshStream {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl SshStream {
    /// Starts ssh; fails only if it cannot be run at all.
    pub fn spawn(target: &SshTarget) -> io::Result<SshStream> {
        let mut child = Command::new("ssh")
            .args(target.args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let (Some(stdout), Some(mut err_pipe)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("ssh started without pipes"));
        };
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        let stderr_thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut kept = sink.lock().unwrap_or_else(|e| e.into_inner());
                let room = MAX_STDERR.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        });
        Ok(SshStream { child, stdin, stdout, stderr, stderr_thread: Some(stderr_thread) })
    }

    /// Where ssh's stderr collects (complete once the stream is dropped).
    pub fn stderr(&self) -> Arc<Mutex<Vec<u8>>> {
        self.stderr.clone()
    }
}

impl Read for SshStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl Write for SshStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stdin {
            Some(s) => s.write(buf),
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stdin {
            Some(s) => s.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for SshStream {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.stderr_thread.take() {
            let _ = t.join();
        }
    }
}

/// The last non-empty line of what ssh said, if any.
pub fn last_line(stderr: &Mutex<Vec<u8>>) -> Option<String> {
    let bytes = stderr.lock().unwrap_or_else(|e| e.into_inner());
    let text = String::from_utf8_lossy(&bytes);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    Some(line.chars().filter(|c| !c.is_control()).take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ssh_targets() {
        let t = |u: Option<&str>, h: &str, p: Option<u16>| SshTarget { user: u.map(Into::into), host: h.into(), port: p };
        for (s, want) in [
            ("root@127.0.0.1:2222", t(Some("root"), "127.0.0.1", Some(2222))),
            ("box", t(None, "box", None)),
            ("me@box.example/", t(Some("me"), "box.example", None)),
            ("[::1]:22", t(None, "::1", Some(22))),
            ("u@[fe80::1]", t(Some("u"), "fe80::1", None)),
        ] {
            let got = SshTarget::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(got, want, "{s}");
            assert_eq!(SshTarget::parse(got.to_string().strip_prefix("ssh://").unwrap()).unwrap(), want);
        }
        for s in ["", "@box", "u:pw@box", "box:", "box:0", "box:x", "box/path", "-oProxyCommand=x", "-u@box", "::1", "[::1", "b ox"] {
            assert!(SshTarget::parse(s).is_err(), "{s:?}");
        }
        assert_eq!(
            t(Some("root"), "h", Some(2)).args(),
            ["-T", "-o", "ConnectTimeout=30", "-l", "root", "-p", "2", "--", "h", "docker", "system", "dial-stdio"]
        );
    }

    #[test]
    fn the_last_line_of_stderr() {
        let m = Mutex::new(b"Warning: x\nPermission denied (publickey).\n\n".to_vec());
        assert_eq!(last_line(&m).as_deref(), Some("Permission denied (publickey)."));
        assert_eq!(last_line(&Mutex::new(Vec::new())), None);
    }
}
