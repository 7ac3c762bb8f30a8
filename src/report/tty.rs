//! The live block of `--progress tty`: under the milestone lines, one line per layer in flight
//! (short digest, bytes done / total, rate, state) and an overall line (bytes, elapsed,
//! estimate), redrawn in place by one drawing thread at most 10 times a second.
//!
//! The screen is process-wide (stderr is): every stderr line of the run goes through
//! [`above`], which erases the block, writes the line, and leaves the block for the next draw.
//! [`close`] erases it for good (the result, an error, the interrupt message come after), so the
//! terminal is left with whole lines only. Byte counts are read from atomics at draw time: the
//! upload and spool paths never take this lock. The width is the terminal's (`TIOCGWINSZ` on
//! stderr), else `COLUMNS`, else 80; a line never wraps. `NO_COLOR` turns colour off, not the
//! redrawing.

use super::progress::{human, milestone, short, spooled_bytes, write_all, Event};
use std::sync::atomic::AtomicU64;
use std::sync::Weak;
use crate::digest::Digest;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Between two draws.
const TICK: Duration = Duration::from_millis(100);

static SCREEN: Mutex<Option<Screen>> = Mutex::new(None);

/// Lines of the block on the terminal now, for [`erase_from_signal_handler`] (which may not
/// take the lock).
static DRAWN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

struct Screen {
    color: bool,
    closed: bool,
    /// Lines of the block on the terminal now (the cursor is at the start of the line below).
    drawn: usize,
    start: Instant,
    reading: Option<Reading>,
    rows: Vec<Row>,
    /// Bytes of all blobs, once the source is read.
    total: Option<u64>,
    /// Bytes of blobs in the repository (pushed, skipped, mounted), and of those uploaded.
    done: u64,
    sent: u64,
    /// When the first upload started: the rate is what went up since.
    first_upload: Option<Instant>,
    /// The last retry not tied to a layer.
    retry: Option<Retry>,
}

struct Reading {
    what: String,
    total: Option<u64>,
    daemon: bool,
    compressing: bool,
    /// The spool counter and the time when reading started.
    from: u64,
    since: Instant,
}

struct Row {
    kind: String,
    /// Not known while the layer is streamed as it is spooled.
    digest: Option<Digest>,
    size: Option<u64>,
    /// The stage's meter; once the stage drops it, the row goes.
    meter: Weak<AtomicU64>,
    start: Instant,
    retry: Option<Retry>,
}

struct Retry {
    retry: u32,
    of: u32,
    until: Instant,
}

/// Takes the screen and starts the drawing thread.
pub(super) fn start(color: bool) {
    let mut screen = lock();
    if screen.is_some() {
        return;
    }
    *screen = Some(Screen::new(color));
    drop(screen);
    std::thread::spawn(|| loop {
        std::thread::sleep(TICK);
        let mut guard = lock();
        let Some(screen) = guard.as_mut() else { return };
        if screen.closed {
            return;
        }
        let mut out = screen.erase();
        // Rows whose stage dropped its meter (a cancelled stream, a failed upload) go.
        screen.rows.retain(|r| r.meter.strong_count() > 0);
        let block = screen.block(width());
        for line in &block {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        screen.drawn = block.len();
        DRAWN.store(block.len(), std::sync::atomic::Ordering::SeqCst);
        write_all(&mut std::io::stderr().lock(), &out);
    });
}

fn lock() -> std::sync::MutexGuard<'static, Option<Screen>> {
    // A panic while drawing leaves the state usable: it is only what is drawn.
    SCREEN.lock().unwrap_or_else(|p| p.into_inner())
}

/// Applies `event`; a milestone line goes above the block.
pub(super) fn event(event: Event) {
    let line = milestone(&event);
    let mut guard = lock();
    let Some(screen) = guard.as_mut().filter(|s| !s.closed) else {
        drop(guard);
        if let Some(line) = line {
            write_all(&mut std::io::stderr().lock(), format!("{line}\n").as_bytes());
        }
        return;
    };
    screen.apply(event);
    if let Some(line) = line {
        let mut out = screen.erase();
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        write_all(&mut std::io::stderr().lock(), &out);
    }
}

/// [`event`] if a live block is drawn (else nothing).
pub(super) fn event_if_live(e: Event) {
    if lock().as_ref().is_some_and(|s| !s.closed) {
        event(e);
    }
}

/// Writes whole lines above the live block: true if there is one (and the lines went out).
pub(super) fn above(bytes: &[u8]) -> bool {
    let mut guard = lock();
    let Some(screen) = guard.as_mut().filter(|s| !s.closed) else { return false };
    let mut out = screen.erase();
    out.extend_from_slice(bytes);
    write_all(&mut std::io::stderr().lock(), &out);
    true
}

/// Erases the block and stops drawing.
pub(super) fn close() {
    let mut guard = lock();
    if let Some(screen) = guard.as_mut().filter(|s| !s.closed) {
        let out = screen.erase();
        screen.closed = true;
        write_all(&mut std::io::stderr().lock(), &out);
    }
}

extern "C" {
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
}

/// Erases the block from a signal handler (a second Ctrl-C exits at once): only an atomic load,
/// digits formatted on the stack and one write(2), all async-signal-safe.
pub(super) fn erase_from_signal_handler() {
    let n = DRAWN.load(std::sync::atomic::Ordering::SeqCst);
    if n == 0 {
        return;
    }
    let mut buf = [0u8; 32];
    let len = erase_sequence(n, &mut buf);
    // SAFETY: write(2) on fd 2 from a valid buffer of `len` bytes; async-signal-safe.
    unsafe { write(2, buf.as_ptr(), len) };
}

/// `ESC[nA\rESC[J` into `buf` without allocating: its length.
fn erase_sequence(n: usize, buf: &mut [u8; 32]) -> usize {
    buf[..2].copy_from_slice(b"\x1b[");
    let mut len = 2;
    let mut digits = [0u8; 20];
    let (mut k, mut v) = (0, n);
    while v > 0 || k == 0 {
        digits[k] = b'0' + (v % 10) as u8;
        v /= 10;
        k += 1;
    }
    while k > 0 {
        k -= 1;
        buf[len] = digits[k];
        len += 1;
    }
    buf[len..len + 5].copy_from_slice(b"A\r\x1b[J");
    len + 5
}

impl Screen {
    /// A block not drawn yet, started now.
    fn new(color: bool) -> Screen {
        Screen {
            color,
            closed: false,
            drawn: 0,
            start: Instant::now(),
            reading: None,
            rows: Vec::new(),
            total: None,
            done: 0,
            sent: 0,
            first_upload: None,
            retry: None,
        }
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Note(_) => {}
            Event::Reading { what, total, daemon, compressing } => {
                self.reading = Some(Reading { what, total, daemon, compressing, from: spooled_bytes(), since: Instant::now() });
            }
            Event::Read { total } => {
                self.reading = None;
                self.total = Some(total);
            }
            Event::Uploading { kind, digest, size, meter } => {
                self.first_upload.get_or_insert_with(Instant::now);
                let watch = meter.watch();
                if let Some(row) = self.rows.iter_mut().find(|r| r.meter.ptr_eq(&watch)) {
                    (row.digest, row.size) = (digest, size);
                } else {
                    self.rows.retain(|r| digest.is_none() || r.digest != digest);
                    self.rows.push(Row { kind, digest, size, meter: watch, start: Instant::now(), retry: None });
                }
            }
            Event::Blob { digest, size, outcome, .. } => {
                self.rows.retain(|r| r.digest.as_ref() != Some(&digest));
                self.done += size;
                if outcome == super::progress::Outcome::Pushed {
                    self.sent += size;
                }
            }
            Event::Retry { what, retry, of, wait } => {
                let r = Retry { retry, of, until: Instant::now() + wait };
                match self.rows.iter_mut().find(|row| row.digest.as_ref().is_some_and(|d| what.contains(&d.to_string()))) {
                    Some(row) => row.retry = Some(r),
                    None => self.retry = Some(r),
                }
            }
        }
    }

    /// The bytes that move the cursor to the block's first line and clear to the end of the
    /// screen (nothing if no block is drawn).
    fn erase(&mut self) -> Vec<u8> {
        let n = std::mem::take(&mut self.drawn);
        DRAWN.store(0, std::sync::atomic::Ordering::SeqCst);
        if n == 0 {
            Vec::new()
        } else {
            format!("\x1b[{n}A\r\x1b[J").into_bytes()
        }
    }

    /// The lines of the block now, each cut to `width - 1` columns.
    fn block(&self, width: usize) -> Vec<String> {
        let now = Instant::now();
        let mut lines = Vec::new();
        if let Some(r) = &self.reading {
            let read = spooled_bytes().saturating_sub(r.from);
            let state = match (read, r.daemon, r.compressing) {
                (0, true, _) => "waiting for the daemon",
                (_, _, true) => "reading, compressing",
                _ => "reading",
            };
            let of = r.total.map(|t| format!(" of {}", human(t))).unwrap_or_default();
            let rate = rate(read, r.since, now);
            lines.push(format!("{}  {}{of}  {rate}  {}", r.what, human(read), self.paint(state, "36")));
        }
        let mut in_flight = 0;
        for row in &self.rows {
            let Some(meter) = row.meter.upgrade() else { continue };
            let sent = meter.load(std::sync::atomic::Ordering::Relaxed);
            let done = row.size.map_or(sent, |size| sent.min(size));
            in_flight += done;
            let state = match &row.retry {
                Some(r) if r.until > now => self.paint(&format!("retry {} of {} in {}s", r.retry, r.of, secs(r.until - now)), "33"),
                Some(r) => self.paint(&format!("uploading (retry {} of {})", r.retry, r.of), "33"),
                None => self.paint("uploading", "36"),
            };
            let (name, of) = match (&row.digest, row.size) {
                (Some(d), Some(size)) => (short(d), format!("{} / {}", human(done), human(size))),
                _ => ("(streamed as it is read)".to_string(), format!("{} sent", human(done))),
            };
            lines.push(format!("{} {name}  {of}  {}  {state}", row.kind, rate(done, row.start, now)));
        }
        if self.first_upload.is_some() || self.total.is_some() {
            let elapsed = now - self.start;
            let sent = self.sent + in_flight;
            let done = self.done + in_flight;
            let mut line = match self.total {
                Some(t) => format!("total  {} / {}", human(done), human(t)),
                None => format!("total  {} uploaded", human(done)),
            };
            line.push_str(&format!("  {}s elapsed", elapsed.as_secs()));
            if let (Some(total), Some(first)) = (self.total, self.first_upload) {
                let up = (now - first).as_secs_f64();
                if up > 0.5 && sent > 0 && total > done {
                    let eta = (total - done) as f64 / (sent as f64 / up);
                    line.push_str(&format!("  ~{}s left", eta.ceil() as u64));
                }
            }
            if let Some(r) = self.retry.as_ref().filter(|r| r.until > now) {
                line.push_str(&format!("  {}", self.paint(&format!("retry {} of {} in {}s", r.retry, r.of, secs(r.until - now)), "33")));
            }
            lines.push(line);
        }
        lines.into_iter().map(|l| cut(&l, width.saturating_sub(1).max(1))).collect()
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `12.3 MiB/s` over the time since `since`.
fn rate(bytes: u64, since: Instant, now: Instant) -> String {
    let s = (now - since).as_secs_f64();
    if s < 0.2 {
        return "-".to_string();
    }
    format!("{}/s", human((bytes as f64 / s) as u64))
}

/// `line` cut to `width` visible columns; escape sequences (colour) take none and are kept
/// whole, and a cut line ends with a colour reset.
fn cut(line: &str, width: usize) -> String {
    let mut out = String::new();
    let (mut visible, mut in_escape, mut cut) = (0, false, false);
    for c in line.chars() {
        if in_escape {
            out.push(c);
            in_escape = c != 'm';
            continue;
        }
        if c == '\x1b' {
            in_escape = true;
            out.push(c);
            continue;
        }
        if visible == width {
            cut = true;
            continue;
        }
        out.push(c);
        visible += 1;
    }
    if cut && line.contains('\x1b') {
        out.push_str("\x1b[0m");
    }
    out
}

#[repr(C)]
#[derive(Default)]
struct Winsize {
    rows: u16,
    cols: u16,
    xpixel: u16,
    ypixel: u16,
}

extern "C" {
    fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
}

/// Linux's TIOCGWINSZ.
const TIOCGWINSZ: std::ffi::c_ulong = 0x5413;

/// The terminal's columns: stderr's window size, else `COLUMNS`, else 80.
fn width() -> usize {
    let mut ws = Winsize::default();
    // SAFETY: TIOCGWINSZ writes one `struct winsize` to the pointer given; `ws` is one.
    let ok = unsafe { ioctl(2, TIOCGWINSZ, &mut ws as *mut Winsize) } == 0;
    if ok && ws.cols > 0 {
        return usize::from(ws.cols);
    }
    std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok()).filter(|&c: &usize| c > 0).unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(color: bool) -> Screen {
        Screen::new(color)
    }

    #[test]
    fn the_signal_handlers_erase_matches_the_ordinary_one() {
        let mut buf = [0u8; 32];
        for n in [1, 7, 12, 345] {
            let len = erase_sequence(n, &mut buf);
            let mut s = screen(false);
            s.drawn = n;
            assert_eq!(&buf[..len], s.erase().as_slice(), "{n}");
        }
    }

    #[test]
    fn lines_are_cut_to_the_width_keeping_escapes_whole() {
        assert_eq!(cut("abcdef", 4), "abcd");
        assert_eq!(cut("ab", 4), "ab");
        assert_eq!(cut("a\x1b[36mbcdef\x1b[0m", 3), "a\x1b[36mbc\x1b[0m\x1b[0m");
    }

    #[test]
    fn the_block_shows_each_upload_and_the_total() {
        let mut s = screen(false);
        let d = Digest::of(b"layer");
        let meter = super::super::progress::Meter::default();
        s.apply(Event::Uploading { kind: "layer".into(), digest: None, size: None, meter: meter.clone() });
        meter.add(1 << 20);
        assert!(s.block(200)[0].starts_with("layer (streamed as it is read)  1.0 MiB sent"), "{:?}", s.block(200));
        meter.set(0);
        s.apply(Event::Uploading { kind: "layer".into(), digest: Some(d.clone()), size: Some(4 << 20), meter: meter.clone() });
        assert_eq!(s.rows.len(), 1, "the streamed row goes on with its digest");
        meter.add(1 << 20);
        s.apply(Event::Read { total: 8 << 20 });
        let block = s.block(200);
        assert_eq!(block.len(), 2, "{block:?}");
        assert!(block[0].starts_with(&format!("layer {}", short(&d))) && block[0].contains("1.0 MiB / 4.0 MiB") && block[0].ends_with("uploading"), "{block:?}");
        assert!(block[1].starts_with("total  1.0 MiB / 8.0 MiB"), "{block:?}");
        s.apply(Event::Retry { what: format!("uploading blob {d} to a/b"), retry: 2, of: 9, wait: Duration::from_secs(5) });
        assert!(s.block(200)[0].contains("retry 2 of 9 in 5s"), "{:?}", s.block(200));
        s.apply(Event::Blob { kind: "layer".into(), digest: d, size: 4 << 20, outcome: super::super::progress::Outcome::Pushed, detail: String::new() });
        let block = s.block(30);
        assert_eq!(block.len(), 1);
        assert!(block[0].starts_with("total  4.0 MiB / 8.0 MiB") && block[0].chars().count() <= 29, "{block:?}");
        assert!(!block.iter().any(|l| l.contains('\x1b')), "no colour asked for: {block:?}");
        // A row whose meter its stage dropped is not drawn.
        let gone = super::super::progress::Meter::default();
        s.apply(Event::Uploading { kind: "layer".into(), digest: None, size: None, meter: gone.clone() });
        assert_eq!(s.block(200).len(), 2);
        drop(gone);
        assert_eq!(s.block(200).len(), 1);
        s.drawn = 3;
        assert_eq!(s.erase(), b"\x1b[3A\r\x1b[J");
        assert!(s.erase().is_empty());
    }
}
