//! Error class → exit code: the one table the whole program answers to.

use crate::error::{class_of, Class};
use std::process::ExitCode;

pub const ERROR: u8 = 1;
pub const NOT_FOUND: u8 = 2;
/// SIGINT (Ctrl-C): 128 + 2.
pub const INTERRUPTED: u8 = 130;
/// SIGHUP: 128 + 1.
pub const HUNG_UP: u8 = 129;
/// SIGTERM: 128 + 15.
pub const TERMINATED: u8 = 143;

pub fn code_for(class: Class) -> u8 {
    match class {
        Class::NotFound => NOT_FOUND,
        Class::Interrupted => INTERRUPTED,
        Class::Auth | Class::Transient | Class::Permanent => ERROR,
    }
}

/// Prints the error as one line (the whole context chain), then a `hint:` line where one helps
/// (`report/hint.rs`), and picks the exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    // The live progress block (if any) is erased first: the message gets whole lines.
    crate::report::progress::close();
    let class = if crate::interrupt::received() { Class::Interrupted } else { class_of(err) };
    if class == Class::Interrupted {
        // The watcher thread may not have run yet: remove the temp dirs here too.
        crate::store::remove_all();
        // A closed or full stderr must not panic (exit 101): eprint_line ignores write errors.
        crate::report::progress::eprint_line(&format!("idpush: interrupted ({}); temporary files removed", crate::interrupt::name()));
        return ExitCode::from(crate::interrupt::exit_code());
    }
    let line = one_line(&format!("{err:#}"));
    crate::report::progress::eprint_line(&format!("idpush: error: {line}"));
    if let Some(hint) = crate::report::hint::of(err) {
        crate::report::progress::eprint_line(&format!("hint: {}", one_line(&hint)));
    }
    ExitCode::from(code_for(class))
}

/// A message made safe for one terminal line: newlines dropped, other control characters
/// (escape sequences, bytes quoted from a corrupt file) shown as `?`.
pub fn one_line(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '\n' && *c != '\r')
        .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{fail, Cause};

    #[test]
    fn classes_map_to_documented_codes() {
        let cases = [
            (Class::Auth, Cause::Refused, 1),
            (Class::Transient, Cause::Network, 1),
            (Class::Permanent, Cause::LocalIo, 1),
            (Class::NotFound, Cause::ImageNotFound, 2),
            (Class::Interrupted, Cause::Interrupted, 130),
        ];
        for (class, cause, code) in cases {
            assert_eq!(code_for(class), code, "{class:?}");
            assert_eq!(code_for(class_of(&fail(cause, "x"))), code);
        }
    }

    #[test]
    fn report_line_has_no_control_characters() {
        assert_eq!(one_line("a\nb\r\x1b[31mc\u{7f}\td"), "ab?[31mc?\td");
    }
}
