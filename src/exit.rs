//! Error class → exit code: the one table the whole program answers to.

use crate::error::{class_of, Class};
use std::process::ExitCode;

pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
pub const NOT_FOUND: u8 = 2;
pub const INTERRUPTED: u8 = 130;

pub fn code_for(class: Class) -> u8 {
    match class {
        Class::NotFound => NOT_FOUND,
        Class::Interrupted => INTERRUPTED,
        Class::Auth | Class::Transient | Class::Permanent => ERROR,
    }
}

/// Prints the error as one line (the whole context chain) and picks the exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    let class = class_of(err);
    let mut line = format!("{err:#}");
    line.retain(|c| c != '\n' && c != '\r');
    eprintln!("idpush: error: {line}");
    ExitCode::from(code_for(class))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::fail;

    #[test]
    fn classes_map_to_documented_codes() {
        let cases = [
            (Class::Auth, 1),
            (Class::Transient, 1),
            (Class::Permanent, 1),
            (Class::NotFound, 2),
            (Class::Interrupted, 130),
        ];
        for (class, code) in cases {
            assert_eq!(code_for(class), code, "{class:?}");
            assert_eq!(code_for(class_of(&fail(class, "x"))), code);
        }
    }
}
