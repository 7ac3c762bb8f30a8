//! A daemon reached by `ssh://[user@]host[:port]`, as the docker CLI does it: run
//! `ssh -T [-l USER] [-p PORT] -- HOST docker system dial-stdio` and speak HTTP/1.1 over the
//! child's stdin and stdout. No new dependency: it is a child process and two pipes. What ssh
//! says on stderr is kept (bounded) for the error message when the connection fails.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

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

/// The running `ssh … docker system dial-stdio`: reads are its stdout, writes its stdin. Its
/// stdout is read on a thread of its own, so that a read can time out like a socket's.
#[derive(Debug)]
pub struct SshStream {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Chunks of stdout; an empty chunk or a closed channel is its end.
    chunks: Receiver<io::Result<Vec<u8>>>,
    /// What is left of the last chunk.
    pending: Vec<u8>,
    taken: usize,
    timeout: Cell<Option<Duration>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl SshStream {
    /// Starts ssh; fails only if it cannot be run at all.
    pub fn spawn(target: &SshTarget) -> io::Result<SshStream> {
        let mut cmd = Command::new("ssh");
        cmd.args(target.args());
        SshStream::spawn_command(cmd)
    }

    /// Runs `cmd` with its stdin, stdout and stderr as the stream's pipes.
    fn spawn_command(mut cmd: Command) -> io::Result<SshStream> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let (Some(mut stdout), Some(mut err_pipe)) = (child.stdout.take(), child.stderr.take()) else {
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
        // A few chunks in flight at most: the reader waits for the HTTP parser.
        let (tx, chunks) = mpsc::sync_channel(4);
        std::thread::spawn(move || loop {
            let mut buf = vec![0u8; 64 * 1024];
            match stdout.read(&mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    if tx.send(Ok(buf)).is_err() || n == 0 {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        });
        Ok(SshStream { child, stdin, chunks, pending: Vec::new(), taken: 0, timeout: Cell::new(None), stderr, stderr_thread: Some(stderr_thread) })
    }

    /// How long a read may wait for ssh's output (`None`: forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        self.timeout.set(timeout);
    }

    /// Where ssh's stderr collects (complete once the stream is dropped).
    pub fn stderr(&self) -> Arc<Mutex<Vec<u8>>> {
        self.stderr.clone()
    }
}

impl Read for SshStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.taken == self.pending.len() {
            let chunk = match self.timeout.get() {
                Some(t) => match self.chunks.recv_timeout(t) {
                    Ok(c) => c,
                    Err(RecvTimeoutError::Timeout) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
                    Err(RecvTimeoutError::Disconnected) => Ok(Vec::new()),
                },
                None => self.chunks.recv().unwrap_or_else(|_| Ok(Vec::new())),
            }?;
            if chunk.is_empty() {
                return Ok(0);
            }
            (self.pending, self.taken) = (chunk, 0);
        }
        let n = buf.len().min(self.pending.len() - self.taken);
        buf[..n].copy_from_slice(&self.pending[self.taken..self.taken + n]);
        self.taken += n;
        Ok(n)
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
        // Its stderr is complete once the pipe closes; a grandchild (a ProxyCommand) may hold
        // it open, so wait only briefly.
        if let Some(t) = self.stderr_thread.take() {
            let until = std::time::Instant::now() + Duration::from_secs(1);
            while !t.is_finished() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
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

    fn sh(script: &str) -> SshStream {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        SshStream::spawn_command(cmd).unwrap()
    }

    #[test]
    fn the_child_is_a_stream_with_timeouts() {
        // Echo one line back, then exit: what was written comes back, then the end.
        let mut s = sh("read line; printf '%s\\n' \"$line\"; echo oops >&2");
        s.write_all(b"GET /_ping\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert_eq!(out, "GET /_ping\n");
        let stderr = s.stderr();
        drop(s);
        assert_eq!(last_line(&stderr).as_deref(), Some("oops"));
        // A child that says nothing: the read times out.
        let mut s = sh("exec sleep 30");
        s.set_timeout(Some(Duration::from_millis(100)));
        let start = std::time::Instant::now();
        let e = s.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(5));
        // Dropping it ends the child (no 30 s wait).
        drop(s);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_last_line_of_stderr() {
        let m = Mutex::new(b"Warning: x\nPermission denied (publickey).\n\n".to_vec());
        assert_eq!(last_line(&m).as_deref(), Some("Permission denied (publickey)."));
        assert_eq!(last_line(&Mutex::new(Vec::new())), None);
    }
}
