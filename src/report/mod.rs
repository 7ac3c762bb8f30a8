//! What the user reads: the results on stdout and, for a failure, the `hint:` that says what to
//! do. Each command's result is formatted here, as text for people or (`--json`) as JSON of a
//! documented shape (the JSON Schemas in `schema/`, checked by the tests), and written in one
//! place. Progress on stderr is here too: the stages emit events (`progress.rs`), the reporter
//! chosen for the run draws them (plain lines, or the live block of `tty.rs`).

pub mod built;
pub mod hint;
pub mod listing;
pub mod progress;
pub mod pushed;
mod tty;

use anyhow::Context;
use std::io::Write;

/// Writes a result to stdout in one write. A closed stdout (`idpush tags x | head -1`) is
/// not an error.
pub fn stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the result"),
        _ => Ok(()),
    }
}
