//! Progress on stderr: one plain line per step, nothing with `--quiet`.
//!
//! Also the one best-effort writer to stderr ([`eprint_line`]) that progress, log records and
//! the interrupt message go through: a closed or full stderr (`2>&1 | head -n1`, `2>/dev/full`)
//! loses the line and never fails (or panics) the push.

use crate::digest::Digest;
use std::io::Write;

#[derive(Clone)]
pub struct Progress {
    quiet: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress { quiet }
    }

    pub fn line(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprint_line(msg.as_ref());
        }
    }

    /// `layer sha256:0123456789ab 1.2 MiB pushed`
    pub fn blob(&self, kind: &str, digest: &Digest, size: u64, outcome: &str) {
        self.line(format!("{kind} {} {} {outcome}", short(digest), human(size)));
    }
}

/// Writes `line` and a newline to stderr in one write, ignoring any error: a message nobody can
/// read must not stop the work it reports on.
pub fn eprint_line(line: &str) {
    write_line(&mut std::io::stderr().lock(), line);
}

/// Writes `line` and a newline to `out` in one `write_all`, ignoring any error.
fn write_line(out: &mut impl Write, line: &str) {
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ = out.write_all(&bytes).and_then(|_| out.flush());
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
            super::write_line(&mut Broken(kind), "layer sha256:0123456789ab 1.0 MiB pushed");
        }
        let mut out = Vec::new();
        super::write_line(&mut out, "a line");
        assert_eq!(out, b"a line\n");
    }

    #[test]
    fn human_sizes() {
        assert_eq!(super::human(0), "0 B");
        assert_eq!(super::human(1023), "1023 B");
        assert_eq!(super::human(1536), "1.5 KiB");
        assert_eq!(super::human(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
