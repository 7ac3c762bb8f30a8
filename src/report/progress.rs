//! Progress on stderr. The stages (the source readers, the uploader, the retry loop) emit
//! [`Event`]s through a [`Progress`] handle; the one reporter chosen for the run decides how they
//! look (`--progress auto|tty|plain|none`, `-q`):
//!
//! - plain (not a terminal: CI logs, pipes): one line per milestone — the start, each blob's
//!   outcome with its size, each retry (a log line), the result — never a `\r` nor an escape code;
//! - tty: the same milestone lines, plus a live block under them (one line per layer in flight,
//!   an overall line) redrawn in place at most 10 times a second (`tty.rs`);
//! - none (`-q`, `--progress none`): nothing.
//!
//! Byte counts are atomics the hot paths add to ([`Meter`], [`spooled`]): no lock, no event per
//! chunk. Also the one best-effort writer to stderr ([`eprint_line`]) that progress, log records
//! and the interrupt message go through: a closed or full stderr (`2>&1 | head -n1`,
//! `2>/dev/full`) loses the line and never fails (or panics) the push; while a live block is on
//! the terminal, a line is written above it.

use super::tty;
use crate::digest::Digest;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How progress looks, as `--progress` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Tty when stderr is a terminal, else plain ([`Mode::resolve`]).
    Auto,
    Tty,
    Plain,
    None,
}

impl Mode {
    /// `--progress VALUE` (absent: auto).
    pub fn parse(flag: Option<&str>) -> anyhow::Result<Mode> {
        Ok(match flag.unwrap_or("auto") {
            "auto" => Mode::Auto,
            "tty" => Mode::Tty,
            "plain" => Mode::Plain,
            "none" => Mode::None,
            other => anyhow::bail!("--progress {other:?}: use auto, tty, plain or none"),
        })
    }

    /// The mode of the run: `-q` wins (only the result); auto is tty when stderr is a terminal
    /// (and TERM is not `dumb`), plain otherwise.
    pub fn resolve(self, quiet: bool, stderr_is_tty: bool, term: Option<&str>) -> Mode {
        match self {
            _ if quiet => Mode::None,
            Mode::Auto if stderr_is_tty && term != Some("dumb") => Mode::Tty,
            Mode::Auto => Mode::Plain,
            other => other,
        }
    }
}

/// What a blob came to, or where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pushed,
    Skipped,
    Mounted,
}

impl Outcome {
    /// The word of `--json` and the schema: `pushed`, `skipped`, `mounted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pushed => "pushed",
            Outcome::Skipped => "skipped",
            Outcome::Mounted => "mounted",
        }
    }
}

/// Bytes of one upload sent so far: the upload path adds to it as it reads the spool file.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<AtomicU64>);

impl Meter {
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// A new attempt (or a resumed chunk) starts at `at` bytes of the file.
    pub fn set(&self, at: u64) {
        self.0.store(at, Ordering::Relaxed);
    }
    /// A handle that does not keep the meter alive: the live block drops a row whose meter
    /// its stage has dropped (an upload given up on, a streamed session cancelled).
    pub(super) fn watch(&self) -> std::sync::Weak<AtomicU64> {
        Arc::downgrade(&self.0)
    }
}

std::thread_local! {
    /// The meter of the upload this thread runs, for the upload path ([`current_meter`]).
    static METER: std::cell::RefCell<Option<Meter>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (an upload) with `meter` as this thread's [`current_meter`].
pub fn metering<T>(meter: &Meter, f: impl FnOnce() -> T) -> T {
    let before = METER.with(|m| m.replace(Some(meter.clone())));
    let result = f();
    METER.with(|m| *m.borrow_mut() = before);
    result
}

/// The meter of the upload this thread is running, if any: the upload path counts the bytes it
/// reads from the spool file on it.
pub fn current_meter() -> Option<Meter> {
    METER.with(|m| m.borrow().clone())
}

/// Bytes the source readers have taken in (all layers), for the live block.
static SPOOLED: AtomicU64 = AtomicU64::new(0);

/// Adds `n` bytes read from the source into the spool.
pub fn spooled(n: u64) {
    SPOOLED.fetch_add(n, Ordering::Relaxed);
}

pub(super) fn spooled_bytes() -> u64 {
    SPOOLED.load(Ordering::Relaxed)
}

/// What a stage says happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// A milestone in words ("pushing X to Y").
    Note(String),
    /// The source is being opened or read: `what` names it, `total` its size if known, `daemon`
    /// when it comes from the Docker daemon (waiting for it until the first byte), `compressing`
    /// when its layers are compressed as they are read. Bytes are counted by [`spooled`].
    Reading { what: String, total: Option<u64>, daemon: bool, compressing: bool },
    /// The whole of the source is read: `total` bytes of blobs to push.
    Read { total: u64 },
    /// A blob upload starts (or, for a layer streamed while it is spooled, goes on with its
    /// digest and size now known); its bytes are counted by `meter`. While a layer is
    /// streamed, neither is known yet.
    Uploading { kind: String, digest: Option<Digest>, size: Option<u64>, meter: Meter },
    /// A blob is in the repository.
    Blob { kind: String, digest: Digest, size: u64, outcome: Outcome, detail: String },
    /// A transient failure of `what`: retry `retry` of `of`, after `wait`.
    Retry { what: String, retry: u32, of: u32, wait: Duration },
}

/// The handle the stages emit through; cheap to clone into a thread.
#[derive(Clone)]
pub struct Progress {
    mode: Mode,
}

impl Progress {
    /// The reporter of a command run with `--progress mode` (and `-q`): [`Mode::resolve`]
    /// against this process's stderr and `TERM`, colour unless `NO_COLOR` is set. `push` and
    /// `build` both start theirs here.
    pub fn for_run(mode: Mode, quiet: bool, env: &dyn Fn(&str) -> Option<String>) -> Progress {
        use std::io::IsTerminal as _;
        let mode = mode.resolve(quiet, std::io::stderr().is_terminal(), env("TERM").as_deref());
        Progress::new(mode, env("NO_COLOR").is_none_or(|v| v.is_empty()))
    }

    /// The reporter of this run; a tty one starts its drawing thread (and owns the screen
    /// until [`close`]).
    pub fn new(mode: Mode, color: bool) -> Progress {
        if mode == Mode::Tty {
            tty::start(color);
        }
        Progress { mode }
    }

    pub fn emit(&self, event: Event) {
        match self.mode {
            Mode::None | Mode::Auto => {}
            Mode::Plain => {
                if let Some(line) = milestone(&event) {
                    eprint_line(&line);
                }
            }
            Mode::Tty => tty::event(event),
        }
    }

    /// A milestone in words.
    pub fn line(&self, msg: impl AsRef<str>) {
        self.emit(Event::Note(msg.as_ref().to_string()));
    }

    /// `layer sha256:0123456789ab 1.2 MiB pushed`: a blob is in the repository.
    pub fn blob(&self, kind: &str, digest: &Digest, size: u64, outcome: Outcome, detail: &str) {
        self.emit(Event::Blob { kind: kind.to_string(), digest: digest.clone(), size, outcome, detail: detail.to_string() });
    }

    /// A blob upload starts: the meter the upload path counts its bytes on.
    pub fn uploading(&self, kind: &str, digest: &Digest, size: u64) -> Meter {
        let meter = Meter::default();
        self.uploading_on(&meter, kind, digest, size);
        meter
    }

    /// A layer starts going up while it is still being spooled (its digest not known yet): the
    /// meter for its chunks, kept with the session; its row goes when the meter is dropped.
    pub fn streaming(&self, kind: &str) -> Meter {
        let meter = Meter::default();
        if self.mode == Mode::Tty {
            self.emit(Event::Uploading { kind: kind.to_string(), digest: None, size: None, meter: meter.clone() });
        }
        meter
    }

    /// The upload counted on `meter` (a streamed layer's) is of `digest`, `size` bytes.
    pub fn uploading_on(&self, meter: &Meter, kind: &str, digest: &Digest, size: u64) {
        if self.mode == Mode::Tty {
            self.emit(Event::Uploading { kind: kind.to_string(), digest: Some(digest.clone()), size: Some(size), meter: meter.clone() });
        }
    }
}

/// The line a plain reporter (and the tty one, above its block) prints for `event`, if any:
/// milestones only.
pub(super) fn milestone(event: &Event) -> Option<String> {
    match event {
        Event::Note(line) => Some(line.clone()),
        Event::Blob { kind, digest, size, outcome, detail } => {
            let word = match outcome {
                Outcome::Skipped => "skipped (exists)".to_string(),
                Outcome::Pushed => "pushed".to_string(),
                Outcome::Mounted => format!("mounted from {detail}"),
            };
            Some(format!("{kind} {} {} {word}", short(digest), human(*size)))
        }
        // A retry is a log line already (registry/retry.rs), at info.
        Event::Retry { .. } | Event::Reading { .. } | Event::Read { .. } | Event::Uploading { .. } => None,
    }
}

/// A retry, for the live block: the retry loop has no handle, so it tells the reporter of the
/// run directly (a plain one prints nothing more than the log line).
pub fn retry(what: &str, retry: u32, of: u32, wait: Duration) {
    tty::event_if_live(Event::Retry { what: what.to_string(), retry, of, wait });
}

/// Ends the live block, if one is drawn: it is erased and nothing is drawn after (the result,
/// an error, the interrupt message follow as plain lines). Safe to call more than once.
pub fn close() {
    tty::close();
}

/// Erases the live block from a signal handler, just before the process exits there (a second
/// Ctrl-C): async-signal-safe.
pub fn erase_from_signal_handler() {
    tty::erase_from_signal_handler();
}

/// Writes `line` and a newline to stderr in one write, ignoring any error: a message nobody can
/// read must not stop the work it reports on. Above the live block, if one is drawn.
pub fn eprint_line(line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    eprint_bytes(&bytes);
}

/// Writes whole lines to stderr (above the live block, if one is drawn), ignoring any error.
pub fn eprint_bytes(bytes: &[u8]) {
    if !tty::above(bytes) {
        write_all(&mut std::io::stderr().lock(), bytes);
    }
}

/// Writes `bytes` to `out` in one `write_all`, ignoring any error.
pub(super) fn write_all(out: &mut impl Write, bytes: &[u8]) {
    let _ = out.write_all(bytes).and_then(|_| out.flush());
}

/// `1 layer`, `3 layers`: a count and its noun, `noun` + "s" unless the count is 1.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `sha256:` and the first 12 hex characters.
pub fn short(d: &Digest) -> String {
    format!("sha256:{}", &d.hex()[..12])
}

/// Sizes as people read them: `512 B`, `1.5 KiB`, `12.3 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Write};

    /// A stderr that is a closed pipe or a full disk: every write fails.
    struct Broken(io::ErrorKind);

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(self.0))
        }
    }

    // Regression (issue 7, defect 4): `eprintln!` panicked when stderr was closed or full.
    #[test]
    fn a_failing_stderr_loses_the_line_without_panicking() {
        for kind in [io::ErrorKind::BrokenPipe, io::ErrorKind::StorageFull, io::ErrorKind::Other] {
            write_all(&mut Broken(kind), b"layer sha256:0123456789ab 1.0 MiB pushed\n");
        }
        let mut out = Vec::new();
        write_all(&mut out, b"a line\n");
        assert_eq!(out, b"a line\n");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }

    #[test]
    fn mode_from_flags() {
        let choose = |flag, quiet, tty, term| Mode::parse(flag).unwrap().resolve(quiet, tty, term);
        assert_eq!(choose(None, false, true, Some("xterm")), Mode::Tty);
        assert_eq!(choose(None, false, true, Some("dumb")), Mode::Plain);
        assert_eq!(choose(None, false, false, None), Mode::Plain);
        assert_eq!(choose(Some("tty"), false, false, None), Mode::Tty);
        assert_eq!(choose(Some("plain"), false, true, None), Mode::Plain);
        assert_eq!(choose(Some("none"), false, true, None), Mode::None);
        assert_eq!(choose(Some("tty"), true, true, None), Mode::None);
        let e = Mode::parse(Some("fancy")).unwrap_err().to_string();
        assert!(e.contains("--progress \"fancy\"") && e.contains("auto, tty, plain or none"), "{e}");
    }

    #[test]
    fn plain_milestones_keep_todays_lines() {
        let d = Digest::of(b"x");
        let blob = |outcome, detail: &str| Event::Blob { kind: "layer".into(), digest: d.clone(), size: 1536, outcome, detail: detail.into() };
        let s = short(&d);
        assert_eq!(milestone(&blob(Outcome::Pushed, "")).unwrap(), format!("layer {s} 1.5 KiB pushed"));
        assert_eq!(milestone(&blob(Outcome::Skipped, "")).unwrap(), format!("layer {s} 1.5 KiB skipped (exists)"));
        assert_eq!(milestone(&blob(Outcome::Mounted, "a/b")).unwrap(), format!("layer {s} 1.5 KiB mounted from a/b"));
        assert!(milestone(&Event::Read { total: 1 }).is_none());
        assert!(milestone(&Event::Retry { what: "x".into(), retry: 1, of: 9, wait: Duration::from_secs(1) }).is_none());
    }
}
