//! Error classes: what kind of failure happened, decided in one table.
//!
//! The code that sees a failure knows its *cause* (a bad flag, a corrupt archive, a reset
//! connection, the registry's 503); it builds the error with [`fail`]`(Cause::…, message)` and
//! attaches context freely. [`Cause::class`] is the one table from causes to classes; the class
//! decides whether a retry may help (`registry/retry.rs`) and the exit code (`exit.rs`). An error
//! without a [`Failure`] in its chain is a local failure (an I/O error on a file of ours, a bug):
//! permanent, never retried.

use std::fmt;

/// The kind of a failure: whether a retry may help and which exit code it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The registry refused our credentials (401 after authenticating, 403, DENIED).
    Auth,
    /// The image, repository or daemon is not there.
    NotFound,
    /// Worth retrying: connection refused/reset, timeouts, 408/429/5xx, a body cut mid-stream.
    Transient,
    /// Retrying will not help: bad input, other 4xx, digest or size mismatch, local I/O.
    Permanent,
    /// The user pressed Ctrl-C (or sent SIGTERM / SIGHUP).
    Interrupted,
}

/// What went wrong, as the code that saw it knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A flag, environment variable, reference, path or config file the user gave is invalid.
    BadInput,
    /// A credential source (a docker-credential helper) failed or hung.
    CredentialSource,
    /// The image the user named is not in the daemon.
    ImageNotFound,
    /// The Docker daemon cannot be reached: no socket, connection refused, permission denied.
    DaemonUnreachable,
    /// The daemon failed a request in a way that may pass: a 5xx, a hang, a dropped connection.
    DaemonFailed,
    /// The daemon answered something a retry will not change: a 4xx, not the Engine API.
    DaemonRefused,
    /// The image content is broken or contradicts itself: a bad tar, a digest, size or diff_id
    /// that does not match, a config that is not the inspected image.
    BadImage,
    /// A file or dir of ours could not be read or written: the temp dir, a full disk, a spool
    /// file that went missing.
    LocalIo,
    /// The network to the registry failed in a way that may pass: refused, reset, timed out,
    /// cut short, a temporary DNS failure.
    Network,
    /// The registry cannot be reached in a way that will not pass by itself: an unknown host,
    /// an untrusted certificate, a server that does not speak the protocol asked for.
    Unreachable,
    /// The registry answered `status`, with the (uppercased) error codes of its body.
    Status { status: u16, codes: Vec<String> },
    /// The registry's answer breaks the protocol or contradicts what was sent: a missing
    /// Location, a wrong digest, a blob of the wrong size, a success it did not confirm.
    BadAnswer,
    /// The registry refused the credentials.
    Refused,
    /// The repository, tag or manifest asked for is not in the registry.
    NotInRegistry,
    /// The registry does not offer what was asked for (a catalog of its repositories).
    Unsupported,
    /// A signal arrived.
    Interrupted,
}

impl Cause {
    /// A registry status without error codes.
    pub fn status(status: u16) -> Cause {
        Cause::Status { status, codes: Vec::new() }
    }

    /// THE table: every cause's class.
    pub fn class(&self) -> Class {
        match self {
            Cause::BadInput
            | Cause::CredentialSource
            | Cause::DaemonRefused
            | Cause::BadImage
            | Cause::LocalIo
            | Cause::Unreachable
            | Cause::BadAnswer
            | Cause::Unsupported => Class::Permanent,
            Cause::ImageNotFound | Cause::DaemonUnreachable | Cause::NotInRegistry => Class::NotFound,
            Cause::DaemonFailed | Cause::Network => Class::Transient,
            Cause::Refused => Class::Auth,
            Cause::Interrupted => Class::Interrupted,
            Cause::Status { status, codes } => {
                let has = |code: &str| codes.iter().any(|c| c == code);
                if has("DENIED") || has("UNAUTHORIZED") {
                    Class::Auth
                } else if has("TOOMANYREQUESTS") {
                    Class::Transient
                } else {
                    match status {
                        408 | 429 | 500 | 502 | 503 | 504 => Class::Transient,
                        401 | 403 => Class::Auth,
                        // The repository does not exist and the registry does not create it.
                        404 if has("NAME_UNKNOWN") => Class::NotFound,
                        // The upload session was lost (a restart, another replica): a fresh
                        // one helps.
                        404 if has("BLOB_UPLOAD_UNKNOWN") => Class::Transient,
                        _ => Class::Permanent,
                    }
                }
            }
        }
    }
}

/// A classified failure. Put one at the root of an error chain with [`fail`].
#[derive(Debug)]
pub struct Failure {
    pub cause: Cause,
    message: String,
    /// What the user can do about it, printed on its own `hint:` line (`report/hint.rs` fills
    /// it in where the code that failed did not).
    pub hint: Option<String>,
}

impl Failure {
    pub fn class(&self) -> Class {
        self.cause.class()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A new classified error with a one-line message.
pub fn fail(cause: Cause, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure { cause, message: message.into(), hint: None })
}

/// A classified error whose maker knows what to do about it: `hint` is printed on a line of its
/// own after the error line.
pub fn fail_with_hint(cause: Cause, message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure { cause, message: message.into(), hint: Some(hint.into()) })
}

/// The first [`Failure`] in the chain, also one wrapped in an `io::Error` by [`io_failure`].
pub fn failure_of(err: &anyhow::Error) -> Option<&Failure> {
    err.chain().find_map(|c| {
        c.downcast_ref::<Failure>().or_else(|| {
            c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).and_then(|inner| inner.downcast_ref::<Failure>())
        })
    })
}

/// A classified failure as an `io::Error`, for a `Read` or `Write` that must return one (the
/// daemon's export stream): [`class_of`] finds it inside.
pub fn io_failure(kind: std::io::ErrorKind, cause: Cause, message: impl Into<String>) -> std::io::Error {
    std::io::Error::new(kind, Failure { cause, message: message.into(), hint: None })
}

/// The class of an error: that of the first [`Failure`] in its chain (also one wrapped in an
/// `io::Error` by [`io_failure`]), else permanent (an unclassified I/O error is a local one: a
/// file of ours, never the network).
pub fn class_of(err: &anyhow::Error) -> Class {
    failure_of(err).map_or(Class::Permanent, Failure::class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn every_cause_has_its_class() {
        use Class::*;
        let codes = |status: u16, codes: &[&str]| Cause::Status { status, codes: codes.iter().map(|c| c.to_string()).collect() };
        let table: Vec<(Cause, Class)> = vec![
            (Cause::BadInput, Permanent),
            (Cause::CredentialSource, Permanent),
            (Cause::ImageNotFound, NotFound),
            (Cause::DaemonUnreachable, NotFound),
            (Cause::DaemonFailed, Transient),
            (Cause::DaemonRefused, Permanent),
            (Cause::BadImage, Permanent),
            (Cause::LocalIo, Permanent),
            (Cause::Network, Transient),
            (Cause::Unreachable, Permanent),
            (Cause::BadAnswer, Permanent),
            (Cause::Refused, Auth),
            (Cause::Interrupted, Interrupted),
            // the registry's status / code rows
            (codes(400, &["DENIED"]), Auth),
            (codes(400, &["UNAUTHORIZED"]), Auth),
            (codes(429, &["DENIED", "TOOMANYREQUESTS"]), Auth),
            (codes(400, &["TOOMANYREQUESTS"]), Transient),
            (Cause::status(408), Transient),
            (Cause::status(429), Transient),
            (Cause::status(500), Transient),
            (Cause::status(502), Transient),
            (Cause::status(503), Transient),
            (Cause::status(504), Transient),
            (Cause::status(401), Auth),
            (Cause::status(403), Auth),
            (codes(404, &["NAME_UNKNOWN"]), NotFound),
            (codes(404, &["BLOB_UPLOAD_UNKNOWN"]), Transient),
            (codes(404, &["MANIFEST_UNKNOWN"]), Permanent),
            (Cause::status(404), Permanent),
            (codes(400, &["NAME_UNKNOWN"]), Permanent),
            (codes(400, &["MANIFEST_INVALID"]), Permanent),
            (Cause::status(405), Permanent),
            (Cause::status(413), Permanent),
            (Cause::status(501), Permanent),
            (Cause::status(505), Permanent),
            (Cause::status(507), Permanent),
            (Cause::status(302), Permanent),
            (Cause::status(200), Permanent),
        ];
        for (cause, class) in table {
            assert_eq!(cause.class(), class, "{cause:?}");
            assert_eq!(class_of(&fail(cause.clone(), "x")), class, "{cause:?}");
        }
    }

    #[test]
    fn class_survives_context() {
        let e: anyhow::Result<()> = Err(fail(Cause::Refused, "denied"));
        let e = e.context("pushing x").unwrap_err();
        assert_eq!(class_of(&e), Class::Auth);
        assert_eq!(format!("{e:#}"), "pushing x: denied");
    }

    #[test]
    fn unclassified_errors_are_permanent_whatever_their_io_kind() {
        for kind in [std::io::ErrorKind::ConnectionReset, std::io::ErrorKind::NotFound, std::io::ErrorKind::PermissionDenied] {
            let e = anyhow::Error::new(std::io::Error::from(kind)).context("reading a spool file");
            assert_eq!(class_of(&e), Class::Permanent, "{kind:?}");
        }
        assert_eq!(class_of(&anyhow::anyhow!("plain")), Class::Permanent);
    }

    #[test]
    fn finds_a_failure_inside_an_io_error() {
        let io = io_failure(std::io::ErrorKind::ConnectionReset, Cause::DaemonFailed, "the daemon closed the export");
        let e = anyhow::Error::new(io).context("reading the archive");
        assert_eq!(class_of(&e), Class::Transient);
        assert_eq!(format!("{e:#}"), "reading the archive: the daemon closed the export");
    }
}
