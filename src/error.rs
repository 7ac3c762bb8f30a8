//! Error classes: what kind of failure happened, decided where it happened.
//!
//! Code returns `anyhow::Result` and attaches context freely; a [`Failure`] somewhere in the
//! chain carries the class that decides the exit code (see `exit.rs`) and whether a retry may
//! help. An error without a `Failure` in its chain is treated as permanent.

use std::fmt;

/// The kind of a failure, from the place it happened to the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The registry refused our credentials (401 after authenticating, 403, DENIED).
    Auth,
    /// The image, file or daemon is not there.
    NotFound,
    /// Worth retrying: connection refused/reset, timeouts, 408/429/5xx, a body cut mid-stream.
    Transient,
    /// Retrying will not help: bad input, other 4xx, digest or size mismatch.
    Permanent,
    /// The user pressed Ctrl-C (or sent SIGTERM).
    Interrupted,
}

/// A classified failure. Put one at the root of an error chain with [`fail`].
#[derive(Debug)]
pub struct Failure {
    pub class: Class,
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A new classified error with a one-line message.
pub fn fail(class: Class, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure { class, message: message.into() })
}

/// The class of an error: the first [`Failure`] in its chain, else an I/O error's natural
/// class, else permanent.
pub fn class_of(err: &anyhow::Error) -> Class {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.class;
        }
    }
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io_class(io);
        }
    }
    Class::Permanent
}

/// The class of an I/O error: connection trouble is transient, a missing file is not found.
pub fn io_class(err: &std::io::Error) -> Class {
    use std::io::ErrorKind::*;
    match err.kind() {
        ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe | TimedOut
        | UnexpectedEof | Interrupted | WouldBlock => Class::Transient,
        NotFound => Class::NotFound,
        _ => Class::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn class_survives_context() {
        let e: anyhow::Result<()> = Err(fail(Class::Auth, "denied"));
        let e = e.context("pushing x").unwrap_err();
        assert_eq!(class_of(&e), Class::Auth);
        assert_eq!(format!("{e:#}"), "pushing x: denied");
    }

    #[test]
    fn io_errors_have_natural_classes() {
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(class_of(&e), Class::Transient);
        let e = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(class_of(&e), Class::Permanent);
        assert_eq!(class_of(&anyhow::anyhow!("plain")), Class::Permanent);
    }
}
