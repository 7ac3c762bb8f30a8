//! Retrying transient failures with exponential backoff.
//!
//! Only errors whose class is [`Class::Transient`] are retried. The n-th retry waits
//! `min(base · 2^(n-1), max_delay)` minus up to 10 % jitter (so never more than `max_delay`),
//! or longer if the registry sent `Retry-After` (seconds or an HTTP date, honoured up to
//! [`RETRY_AFTER_CAP`]). The base is 1 s; the test knob `IDPUSH_RETRY_BASE_MS` changes it so
//! fault-injection tests run in seconds. Sleeps are taken in short slices that check for
//! Ctrl-C, so an interrupted backoff ends at once.

use crate::error::{class_of, fail, Cause, Class, Failure};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest `Retry-After` we honour; a larger value is cut to this.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);

/// Test knob: the base delay in milliseconds (default 1000).
pub const BASE_DELAY_ENV: &str = "IDPUSH_RETRY_BASE_MS";

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (attempts = retries + 1).
    pub retries: u32,
    /// The wait before the first retry.
    pub base_delay: Duration,
    /// The longest wait between attempts (before `Retry-After`).
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// `retries` retries, waiting 1 s, 2 s, 4 s … up to `max_delay`.
    pub fn new(retries: u32, max_delay: Duration) -> RetryPolicy {
        RetryPolicy { retries, base_delay: Duration::from_secs(1), max_delay }
    }

    /// Like [`RetryPolicy::new`], with the base delay from `IDPUSH_RETRY_BASE_MS` if set (a
    /// test knob, not a user setting).
    pub fn from_env(retries: u32, max_delay: Duration) -> RetryPolicy {
        let mut p = RetryPolicy::new(retries, max_delay);
        if let Some(ms) = std::env::var(BASE_DELAY_ENV).ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            p.base_delay = Duration::from_millis(ms);
        }
        p
    }

    /// The number of attempts in all.
    pub fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }

    /// The backoff before retry number `retry` (1-based), without jitter.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_delay.checked_mul(factor).unwrap_or(Duration::MAX).min(self.max_delay)
    }

    /// The wait before retry number `retry`: the backoff less `jitter_per_mille`‰ of it
    /// (taken modulo 100, so at most 10 %), but at least the registry's `Retry-After`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, jitter_per_mille: u32) -> Duration {
        let backoff = self.backoff(retry);
        let jitter = backoff.mul_f64(f64::from(jitter_per_mille % 100) / 1000.0);
        let wait = backoff.saturating_sub(jitter);
        match retry_after {
            Some(after) => wait.max(after.min(RETRY_AFTER_CAP)),
            None => wait,
        }
    }
}

/// Runs `f` until it succeeds, fails with a non-transient error, or has been tried
/// `policy.attempts()` times; sleeps between attempts and logs each retry at info level.
pub fn with_retry<T>(what: &str, policy: &RetryPolicy, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let attempts = policy.attempts();
    let mut attempt = 1;
    loop {
        crate::interrupt::check()?;
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if attempt < attempts && class_of(&e) == Class::Transient => {
                let wait = policy.delay(attempt, RetryAfter::of(&e), jitter_seed());
                log::info!(
                    "{what} failed (attempt {attempt} of {attempts}): {e:#}; retrying in {:.1}s",
                    wait.as_secs_f64(),
                );
                // Retry k of n (attempt k + 1): for the live progress block.
                crate::report::progress::retry(what, attempt, attempts - 1, wait);
                sleep_interruptibly(wait)?;
                attempt += 1;
            }
            Err(e) if attempts > 1 && attempt == attempts && class_of(&e) == Class::Transient => {
                return Err(e.context(format!("{what} failed after {attempts} attempts")));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps `wait` in slices of at most 50 ms, stopping with an `Interrupted` error as soon as
/// a signal has arrived (the interrupt watcher also exits the process within 50 ms).
fn sleep_interruptibly(wait: Duration) -> anyhow::Result<()> {
    let end = std::time::Instant::now() + wait;
    loop {
        crate::interrupt::check()?;
        let now = std::time::Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// A little randomness without a random number generator: the clock's nanoseconds.
fn jitter_seed() -> u32 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_micros()).unwrap_or(0)
}

/// A transient failure for which the registry said how long to wait.
///
/// Displays as the failure message; its source is a transient [`Failure`] saying how long the
/// registry asked to wait, so `class_of` sees the class and `{:#}` reads
/// "<message>: the registry asked to retry after 7s".
#[derive(Debug)]
pub struct RetryAfter {
    message: String,
    after: Duration,
    cause: Failure,
}

impl RetryAfter {
    /// An error with `message`, classed by `cause` (the registry's 429 or 503), that should not
    /// be retried before `after`.
    pub fn error(cause: Cause, message: impl Into<String>, after: Duration) -> anyhow::Error {
        let cause = fail(cause, format!("the registry asked to retry after {}s", after.as_secs()))
            .downcast::<Failure>()
            .expect("fail() builds a Failure");
        anyhow::Error::new(RetryAfter { message: message.into(), after, cause })
    }

    /// The wait an error asks for, if any error in its chain is a `RetryAfter`.
    pub fn of(err: &anyhow::Error) -> Option<Duration> {
        err.chain().find_map(|c| c.downcast_ref::<RetryAfter>()).map(|r| r.after)
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RetryAfter {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::new(5, secs(10));
        assert_eq!(p.attempts(), 6);
        let waits: Vec<_> = (1..=6).map(|r| p.backoff(r)).collect();
        assert_eq!(waits, [secs(1), secs(2), secs(4), secs(8), secs(10), secs(10)]);
        assert_eq!(p.backoff(200), secs(10));
        assert_eq!(RetryPolicy::new(u32::MAX, secs(1)).attempts(), u32::MAX);
    }

    #[test]
    fn jitter_only_shortens_by_up_to_ten_percent() {
        let p = RetryPolicy::new(5, secs(10));
        assert_eq!(p.delay(3, None, 0), secs(4));
        assert_eq!(p.delay(3, None, 50), Duration::from_millis(3800));
        assert_eq!(p.delay(3, None, 99), Duration::from_millis(3604));
        assert_eq!(p.delay(3, None, 150), Duration::from_millis(3800)); // taken modulo 100
        for seed in 0..1000 {
            let d = p.delay(9, None, seed);
            assert!(d <= secs(10) && d >= secs(9), "{d:?}");
        }
    }

    #[test]
    fn retry_after_lengthens_but_is_capped() {
        let p = RetryPolicy::new(5, secs(10));
        assert_eq!(p.delay(1, Some(secs(7)), 0), secs(7));
        assert_eq!(p.delay(4, Some(secs(2)), 0), secs(8));
        assert_eq!(p.delay(1, Some(secs(100_000)), 0), RETRY_AFTER_CAP);
    }

    #[test]
    fn retries_only_transient_errors() {
        let p = RetryPolicy { retries: 3, base_delay: Duration::ZERO, max_delay: Duration::ZERO };
        let mut calls = 0;
        let r: anyhow::Result<()> = with_retry("x", &p, || {
            calls += 1;
            Err(fail(Cause::Network, "flaky"))
        });
        assert!(r.is_err());
        assert_eq!(calls, 4);

        calls = 0;
        let r: anyhow::Result<()> = with_retry("x", &p, || {
            calls += 1;
            Err(fail(Cause::Refused, "no"))
        });
        assert_eq!(class_of(&r.unwrap_err()), Class::Auth);
        assert_eq!(calls, 1);

        calls = 0;
        let r = with_retry("x", &p, || {
            calls += 1;
            if calls < 3 {
                Err(fail(Cause::Network, "flaky"))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(r.unwrap(), 3);
    }

    #[test]
    fn retry_after_error_is_transient_and_reads_well() {
        let e = RetryAfter::error(Cause::status(429), "registry answered 429", secs(3));
        assert_eq!(class_of(&e), Class::Transient);
        assert_eq!(RetryAfter::of(&e), Some(secs(3)));
        assert_eq!(format!("{e}"), "registry answered 429");
        assert_eq!(format!("{e:#}"), "registry answered 429: the registry asked to retry after 3s");
        let e = Err::<(), _>(e).context("pushing").unwrap_err();
        assert_eq!(RetryAfter::of(&e), Some(secs(3)));
        assert_eq!(class_of(&e), Class::Transient);
    }
}
