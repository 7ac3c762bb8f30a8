//! Ctrl-C, SIGTERM and SIGHUP: remove the temp dirs and exit 130, 143 or 129 (128 + the
//! signal), within a second, wherever the main thread is blocked.
//!
//! SIGHUP is what a closed terminal or a dropped ssh session sends; it is handled like SIGTERM.
//! The signal handler only counts and remembers the signal (all it may safely do); a watcher
//! thread notices within 50 ms, removes every store dir (stopping any thread from creating files
//! in them first, see [`crate::store::remove_all`]) and exits. A second Ctrl-C exits at once
//! from the handler (an impatient user; a dir it leaves is swept by the next run). A repeated
//! SIGHUP or SIGTERM does not cut the cleanup short: a closed terminal sends SIGHUP twice (the
//! kernel to the foreground job, the shell to each of its jobs), and the cleanup takes well
//! under a second. Loops also call [`check`] to stop between steps.

use crate::error::{fail, Cause};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::time::Duration;

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

static COUNT: AtomicU32 = AtomicU32::new(0);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" {
    fn signal(signum: i32, handler: usize) -> usize;
    fn _exit(status: i32) -> !;
}

extern "C" fn on_signal(sig: i32) {
    // The first signal decides the exit code; recorded before it is counted, so whoever sees
    // the count sees the signal.
    let _ = SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    if COUNT.fetch_add(1, Ordering::SeqCst) >= 1 && sig == SIGINT {
        // The progress block goes first, so the terminal keeps whole lines.
        crate::report::progress::erase_from_signal_handler();
        // SAFETY: _exit is async-signal-safe.
        unsafe { _exit(128 + sig) }
    }
}

/// Installs the handlers and starts the watcher thread.
pub fn install() {
    // SAFETY: on_signal only touches atomics and calls write(2) and _exit, all async-signal-safe.
    unsafe {
        for sig in [SIGHUP, SIGINT, SIGTERM] {
            signal(sig, on_signal as extern "C" fn(i32) as usize);
        }
    }
    std::thread::spawn(|| loop {
        std::thread::sleep(Duration::from_millis(50));
        if COUNT.load(Ordering::SeqCst) > 0 {
            crate::store::remove_all();
            // The live progress block is erased (the terminal is left with whole lines).
            crate::report::progress::close();
            // After a SIGHUP stderr is often a terminal that is gone: the line may be lost,
            // the exit must not be.
            crate::report::progress::eprint_line(&format!("idpush: interrupted ({}); temporary files removed", name()));
            std::process::exit(i32::from(exit_code()));
        }
    });
}

/// An `Interrupted` error if a signal has arrived.
pub fn check() -> anyhow::Result<()> {
    if COUNT.load(Ordering::SeqCst) > 0 {
        let what = match SIGNAL.load(Ordering::SeqCst) {
            SIGTERM => "terminated (SIGTERM)",
            SIGHUP => "hung up (SIGHUP)",
            _ => "interrupted (Ctrl-C)",
        };
        return Err(fail(Cause::Interrupted, what));
    }
    Ok(())
}

/// Whether SIGINT, SIGTERM or SIGHUP has arrived. Once it has, any failure is reported as the
/// interruption: a blocked read can fail with EINTR (socket timeouts turn off SA_RESTART)
/// before the watcher thread exits the process.
pub fn received() -> bool {
    COUNT.load(Ordering::SeqCst) > 0
}

/// How the interrupt message names the signal: `Ctrl-C`, `SIGTERM` or `SIGHUP`.
pub fn name() -> &'static str {
    match SIGNAL.load(Ordering::SeqCst) {
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "Ctrl-C",
    }
}

/// The exit code for an interrupted run: 128 + the signal (130 for SIGINT, 143 for SIGTERM,
/// 129 for SIGHUP), 130 if no signal was seen.
pub fn exit_code() -> u8 {
    match SIGNAL.load(Ordering::SeqCst) {
        SIGTERM => crate::exit::TERMINATED,
        SIGHUP => crate::exit::HUNG_UP,
        _ => crate::exit::INTERRUPTED,
    }
}
