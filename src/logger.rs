//! The log: `idpush: LEVEL: message` lines on stderr, started before anything else runs.
//!
//! `main` starts it right after the flags are parsed, from the raw `--log-level` / `-q` values
//! ([`level_from_flags`]), so the debug lines of the plan, the credential lookup and the daemon
//! connection are not lost. The plan still validates `--log-level` and reports a bad value; until
//! then a bad value logs at the default level. Records go through the best-effort stderr writer
//! ([`crate::report::progress::eprint_line`]'s rule): a closed or full stderr never fails the push.

use std::io::{self, Write};

/// The level the flags ask for, read the same way the plan reads them: `--log-level` wins,
/// else `-q` means errors only, else info. A value the plan will reject gives info.
pub fn level_from_flags(log_level: Option<&str>, quiet: bool) -> log::LevelFilter {
    match log_level {
        Some("error") => log::LevelFilter::Error,
        Some("warn") => log::LevelFilter::Warn,
        Some("info") => log::LevelFilter::Info,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        None if quiet => log::LevelFilter::Error,
        _ => log::LevelFilter::Info,
    }
}

/// Starts the logger at `level`.
pub fn init(level: log::LevelFilter) {
    env_logger::Builder::new()
        .filter_level(level)
        // ureq's protocol crate hex-dumps raw requests, Authorization included, at trace.
        .filter_module("ureq_proto", level.min(log::LevelFilter::Debug))
        // rustls dumps every handshake message at trace: noise, not registry traffic.
        .filter_module("rustls", level.min(log::LevelFilter::Debug))
        .format(|buf, record| writeln!(buf, "idpush: {}: {}", record.level().as_str().to_lowercase(), record.args()))
        .target(env_logger::Target::Pipe(Box::new(BestEffortStderr)))
        .init();
}

/// stderr, where a failed write counts as written: a log line nobody can read is dropped.
struct BestEffortStderr;

impl Write for BestEffortStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // One record is one formatted buffer: written whole, so lines of two threads never mix.
        // Above the live progress block, if one is drawn.
        crate::report::progress::eprint_bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().lock().flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::level_from_flags;
    use log::LevelFilter;

    #[test]
    fn early_level_reads_the_flags_like_the_plan() {
        assert_eq!(level_from_flags(None, false), LevelFilter::Info);
        assert_eq!(level_from_flags(None, true), LevelFilter::Error);
        assert_eq!(level_from_flags(Some("debug"), true), LevelFilter::Debug, "--log-level wins over -q");
        assert_eq!(level_from_flags(Some("trace"), false), LevelFilter::Trace);
        assert_eq!(level_from_flags(Some("warn"), false), LevelFilter::Warn);
        assert_eq!(level_from_flags(Some("error"), false), LevelFilter::Error);
        // The plan rejects it with its own message; meanwhile the default applies.
        assert_eq!(level_from_flags(Some("loud"), false), LevelFilter::Info);
    }
}
