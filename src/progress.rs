//! Progress on stderr: one plain line per step, nothing with `--quiet`.

use crate::digest::Digest;

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
            eprintln!("{}", msg.as_ref());
        }
    }

    /// `layer sha256:0123456789ab 1.2 MiB pushed`
    pub fn blob(&self, kind: &str, digest: &Digest, size: u64, outcome: &str) {
        self.line(format!("{kind} {} {} {outcome}", short(digest), human(size)));
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
    #[test]
    fn human_sizes() {
        assert_eq!(super::human(0), "0 B");
        assert_eq!(super::human(1023), "1023 B");
        assert_eq!(super::human(1536), "1.5 KiB");
        assert_eq!(super::human(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}
