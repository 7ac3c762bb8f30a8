//! The layer codec: turns an uncompressed layer stream into the blob that is pushed, in one
//! pass, computing the diff_id (sha256 of the input), the blob's digest and its size.
//!
//! `Codec::Gzip` compresses pigz-style: the input is cut into fixed-size blocks, each block is
//! compressed as raw deflate on a small std-thread pool, with a fresh compressor (no
//! dictionary carried across blocks) and ended with a sync flush so it is byte-aligned, and the
//! blocks are joined in order into ONE gzip member (header, the blocks, an empty final stored
//! block, CRC32 of the whole input, ISIZE). Every block's bytes depend only on its own content,
//! so the output is byte-identical whatever the number of threads — the layer cache keys on
//! [`Encoder::name`], which names everything that changes the output (format version, block
//! size, level) and nothing that does not (threads).
//!
//! Incompressible data (already-compressed files, random bytes) is detected per block from
//! samples: when [`PROBES`] small probes spread across the block all have a byte entropy near
//! 8 bits, the block is emitted as stored deflate (a memcpy) instead of deflated — deflate
//! would spend its full effort there to gain nothing. A byte histogram costs next to nothing,
//! where deflating a sample of random data runs at ~50 MB/s. Integer arithmetic only, so the
//! decision, and the digest, is the same on every run and machine.
//!
//! `Codec::None` writes the input as it is (the blob is the tar; digest = diff_id).
//!
//! Threads: the caller's thread reads the input and hashes it (the input, a tar entry, need not
//! be `Send`), the pool compresses, one writer thread joins the blocks in order, hashes and
//! writes them. At most `threads + 2` blocks are in flight, their buffers recycled, so memory is
//! bounded by about `2 × (threads + 2) × block` whatever the layer's size.
//!
//! Errors say which side failed ([`Error::Read`] is the source's, [`Error::Write`] the disk's),
//! so the caller keeps its own messages for each.


use crate::digest::{Digest, Hasher};
use flate2::{Compress, Compression, Crc, FlushCompress};
use std::fmt;
use std::io::{self, BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

/// Default block size: small enough that `2 × (threads + 2)` of them stay a few MiB, large
/// enough that starting each block without a dictionary costs well under 1 % of the output.
pub const BLOCK: usize = 256 * 1024;

/// A block is stored when each of `PROBES` samples of `PROBE` bytes, evenly spaced across it,
/// looks random (see [`looks_random`]). Several small probes rather than one at the start: a
/// block that only begins in a compressed file still gets deflated (measured on a tar of
/// /usr/lib: 8 × 4 KiB probes lose 0.2 % against one gzip stream, one 16 KiB probe 1.4 %).
pub const PROBES: usize = 8;
pub const PROBE: usize = 4096;

/// `looks_random` threshold: collision entropy of at least log2(223) ≈ 7.8 bits per byte.
/// A 4 KiB probe of random bytes clears it with a margin of 2.6 standard deviations.
const RANDOM_RATIO: u64 = 223;

/// At most this many compressing threads, whatever the machine has (memory grows with them).
pub const MAX_THREADS: usize = 4;

/// Version of the block format below; bump it when the bytes produced for an input change.
const FORMAT: u32 = 1;

/// Largest stored deflate block.
const STORED_MAX: usize = 65_535;

/// gzip member header: magic, CM=deflate, no flags, no mtime, no XFL, OS unknown.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// An empty, final, stored deflate block: ends the deflate stream on a byte boundary.
const FINAL_BLOCK: [u8; 5] = [0x01, 0x00, 0x00, 0xff, 0xff];

/// How a layer is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// The blob is the uncompressed tar (`application/vnd.oci.image.layer.v1.tar`).
    None,
    /// One gzip member; level 0 stores every block, 1 (the default) is fastest, 9 smallest.
    Gzip { level: u32 },
}

impl Codec {
    /// The default: gzip at level 1, since the upload waits on it.
    pub const DEFAULT: Codec = Codec::Gzip { level: 1 };
}

/// What encoding a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// sha256 of the input (the uncompressed tar).
    pub diff_id: Digest,
    /// Bytes read from the input.
    pub input_size: u64,
    /// sha256 of the output (the blob).
    pub digest: Digest,
    /// Bytes written to the output.
    pub size: u64,
}

/// Which side of the pipe failed.
#[derive(Debug)]
pub enum Error {
    /// Reading the input (the layer's source) failed.
    Read(io::Error),
    /// Writing the output (the blob's file) failed.
    Write(io::Error),
    /// The deflate engine refused its input (a bug, never expected).
    Deflate(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read(e) => write!(f, "reading a layer: {e}"),
            Error::Write(e) => write!(f, "writing a layer blob: {e}"),
            Error::Deflate(e) => write!(f, "compressing a layer: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read(e) | Error::Write(e) => Some(e),
            Error::Deflate(_) => None,
        }
    }
}

/// A codec with its block size and thread count.
#[derive(Debug, Clone)]
pub struct Encoder {
    codec: Codec,
    block: usize,
    threads: usize,
}

impl Encoder {
    /// An encoder with the default block size, one thread per core (at most [`MAX_THREADS`]).
    /// A gzip level above 9 is taken as 9.
    pub fn new(codec: Codec) -> Encoder {
        let codec = match codec {
            Codec::Gzip { level } => Codec::Gzip { level: level.min(9) },
            c => c,
        };
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(MAX_THREADS);
        Encoder { codec, block: BLOCK, threads }
    }

    /// Compresses on `n` threads (at least 1); the output does not change with it.
    #[allow(dead_code)] // only tests set the thread count
    pub fn threads(mut self, n: usize) -> Encoder {
        self.threads = n.max(1);
        self
    }

    /// Another block size (changes the output, hence the name). For tests.
    #[cfg(test)]
    pub fn block_size(mut self, n: usize) -> Encoder {
        self.block = n.max(1);
        self
    }

    /// A short, stable name for what this encoder produces, for the layer cache's key: equal
    /// names mean byte-identical output for the same input. `none`, or `pgzip1-b256k-l1`.
    pub fn name(&self) -> String {
        match self.codec {
            Codec::None => "none".to_string(),
            Codec::Gzip { level } => {
                let b = self.block;
                let size = if b % (1024 * 1024) == 0 {
                    format!("{}m", b / (1024 * 1024))
                } else if b % 1024 == 0 {
                    format!("{}k", b / 1024)
                } else {
                    b.to_string()
                };
                format!("pgzip{FORMAT}-b{size}-l{level}")
            }
        }
    }

    /// Encodes all of `input` into `output` (a file: it is buffered here), and flushes it.
    pub fn encode<R: Read, W: Write + Send>(&self, input: R, output: W) -> Result<Encoded, Error> {
        match self.codec {
            Codec::None => copy_plain(input, output),
            Codec::Gzip { level } => self.gzip(level, input, output),
        }
    }

    fn gzip<R: Read, W: Write + Send>(&self, level: u32, mut input: R, output: W) -> Result<Encoded, Error> {
        let mut out = Output::new(output);
        out.write(&GZIP_HEADER)?;
        let mut tar = Hasher::new();
        let mut first = Job::default();
        fill(&mut input, &mut first.input, self.block)?;
        tar.update(&first.input);
        let crc = if first.input.len() < self.block {
            // The whole layer is one block (most layers are small): no threads.
            let mut deflater = Deflater::new(level);
            deflater.run(&mut first)?;
            out.job(&first)?;
            first.crc
        } else {
            self.pool(level, first, &mut input, &mut tar, &mut out)?
        };
        out.write(&FINAL_BLOCK)?;
        out.write(&crc.sum().to_le_bytes())?;
        out.write(&crc.amount().to_le_bytes())?;
        let (digest, size) = out.finish()?;
        let input_size = tar.len();
        Ok(Encoded { diff_id: tar.finish(), input_size, digest, size })
    }

    /// Reads and hashes the input on this thread, compresses on the pool, writes in order on
    /// a writer thread; returns the CRC of the whole input.
    fn pool<R: Read, W: Write + Send>(
        &self,
        level: u32,
        first: Job,
        input: &mut R,
        tar: &mut Hasher,
        out: &mut Output<W>,
    ) -> Result<Crc, Error> {
        let in_flight = self.threads + 2;
        let abort = AtomicBool::new(false);
        let (work_tx, work_rx) = mpsc::channel::<Job>();
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = mpsc::channel::<Result<Job, Error>>();
        let (free_tx, free_rx) = mpsc::channel::<Job>();
        std::thread::scope(|s| {
            for _ in 0..self.threads {
                let work_rx = Arc::clone(&work_rx);
                let done_tx = done_tx.clone();
                let abort = &abort;
                s.spawn(move || compress_jobs(level, &work_rx, &done_tx, abort));
            }
            drop(done_tx);
            let writer = s.spawn(|| write_in_order(done_rx, free_tx, out, &abort));
            let read = feed(first, input, tar, self.block, in_flight, work_tx, &free_rx);
            if read.is_err() {
                abort.store(true, Ordering::Relaxed);
            }
            // The pool drains (work_tx is gone), then the writer sees every result.
            let written = writer.join().unwrap_or_else(|_| Err(Error::Deflate("the writer thread panicked".into())));
            match (read, written) {
                (Err(e), _) => Err(e),
                (Ok(()), Err(e)) => Err(e),
                (Ok(()), Ok(crc)) => Ok(crc),
            }
        })
    }
}

/// One block on its way: its index, input, and (once compressed) its encoding.
#[derive(Default)]
struct Job {
    index: u64,
    input: Vec<u8>,
    /// The deflate bytes for `input` are `deflated[..deflated_len]`; 0 means the block is
    /// stored (the writer then uses `input`). The rest is scratch, kept so it is zeroed once.
    deflated: Vec<u8>,
    deflated_len: usize,
    crc: Crc,
}

/// Reads block after block into free jobs and hands them to the pool; at most `in_flight`
/// jobs exist. Stops early when the writer has gone (it failed). Consumes `work_tx` so the
/// pool ends when this returns.
fn feed<R: Read>(
    first: Job,
    input: &mut R,
    tar: &mut Hasher,
    block: usize,
    in_flight: usize,
    work_tx: Sender<Job>,
    free_rx: &Receiver<Job>,
) -> Result<(), Error> {
    let mut made = 1;
    let mut index = 0;
    let mut last = first.input.len() < block;
    if work_tx.send(first).is_err() {
        return Ok(());
    }
    while !last {
        let mut job = if made < in_flight {
            made += 1;
            Job::default()
        } else {
            match free_rx.recv() {
                Ok(job) => job,
                Err(_) => return Ok(()), // the writer stopped: its error is the one to report
            }
        };
        index += 1;
        job.index = index;
        fill(input, &mut job.input, block)?;
        if job.input.is_empty() {
            return Ok(());
        }
        tar.update(&job.input);
        last = job.input.len() < block;
        if work_tx.send(job).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// A pool thread: compresses jobs until the work channel closes.
fn compress_jobs(level: u32, work: &Mutex<Receiver<Job>>, done: &Sender<Result<Job, Error>>, abort: &AtomicBool) {
    let mut deflater = Deflater::new(level);
    loop {
        let job = match work.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(mut job) = job else { return };
        if abort.load(Ordering::Relaxed) {
            continue;
        }
        let result = deflater.run(&mut job).map(|()| job);
        if done.send(result).is_err() {
            return;
        }
    }
}

/// The writer thread: writes jobs in index order, returns their buffers to the reader,
/// combines the CRCs.
fn write_in_order<W: Write>(
    done: Receiver<Result<Job, Error>>,
    free: Sender<Job>,
    out: &mut Output<W>,
    abort: &AtomicBool,
) -> Result<Crc, Error> {
    let mut crc = Crc::new();
    let mut next = 0u64;
    let mut waiting: Vec<Job> = Vec::new();
    for result in done {
        let job = match result {
            Ok(job) => job,
            Err(e) => {
                abort.store(true, Ordering::Relaxed);
                return Err(e);
            }
        };
        waiting.push(job);
        while let Some(i) = waiting.iter().position(|j| j.index == next) {
            let job = waiting.swap_remove(i);
            if abort.load(Ordering::Relaxed) {
                return Ok(crc); // the reader failed; its error is reported
            }
            if let Err(e) = out.job(&job) {
                abort.store(true, Ordering::Relaxed);
                return Err(e);
            }
            crc.combine(&job.crc);
            next += 1;
            let _ = free.send(job); // the reader may be done
        }
    }
    Ok(crc)
}

/// Per-thread deflate state, reset for every block.
struct Deflater {
    compress: Option<Compress>,
}

impl Deflater {
    fn new(level: u32) -> Deflater {
        let compress = (level > 0).then(|| Compress::new(Compression::new(level), false));
        Deflater { compress }
    }

    /// Sets `job.crc`, and `job.deflated` or `job.deflated_len` 0 (stored).
    fn run(&mut self, job: &mut Job) -> Result<(), Error> {
        job.crc.reset();
        job.crc.update(&job.input);
        job.deflated_len = 0;
        let Some(c) = self.compress.as_mut() else { return Ok(()) };
        if job.input.is_empty() {
            return Ok(()); // nothing to emit: no block at all
        }
        if probes_look_random(&job.input) {
            return Ok(());
        }
        c.reset();
        job.deflated_len = deflate(c, &job.input, &mut job.deflated)?.unwrap_or(0);
        Ok(())
    }
}

/// Whether every probe (PROBE bytes at PROBES evenly spaced offsets) looks random.
fn probes_look_random(block: &[u8]) -> bool {
    if block.len() < PROBES * PROBE {
        return false;
    }
    let step = block.len() / PROBES;
    (0..PROBES).all(|i| looks_random(&block[i * step..i * step + PROBE]))
}

/// Whether bytes look like random (already compressed) data: their collision entropy
/// (`-log2 Σ p²`, computed exactly in integers) is at least ~7.8 bits per byte, where deflate
/// has nothing to gain. Cheap (one pass over the sample), and the same answer everywhere.
fn looks_random(sample: &[u8]) -> bool {
    if sample.len() < 1024 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in sample {
        counts[b as usize] += 1;
    }
    let sum_sq: u64 = counts.iter().map(|&c| u64::from(c) * u64::from(c)).sum();
    let n = sample.len() as u64;
    // Σ p² ≤ 1/223  ⟺  Σ c² · 223 ≤ n².
    sum_sq * RANDOM_RATIO <= n * n
}

/// Deflates all of `input` into `out` in one call and sync-flushes (the output ends
/// byte-aligned, on an empty stored block, not final). Returns how many bytes of `out` it
/// wrote, or None if the output did not fit its bound (never seen: deflate falls back to
/// stored blocks itself).
///
/// One call into a buffer whose size depends only on the input's length: a flush split
/// across calls (when the buffer fills) can emit an extra empty block, so the bytes would
/// depend on the buffer's history (recycled jobs differ between thread counts).
fn deflate(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) -> Result<Option<usize>, Error> {
    let bound = input.len() + input.len() / 8 + 1024;
    // `out` only grows, so it is zeroed once, not for every block (that was 3% of a push's
    // CPU); deflate sees exactly `bound` bytes of it, and every byte kept is written below.
    if out.len() < bound {
        out.resize(bound, 0);
    }
    let status = c
        .compress(input, &mut out[..bound], FlushCompress::Sync)
        .map_err(|e| Error::Deflate(e.to_string().to_lowercase()))?;
    let (consumed, written) = (c.total_in() as usize, c.total_out() as usize);
    if status != flate2::Status::Ok || consumed != input.len() || written >= bound || written == 0 {
        return Ok(None);
    }
    Ok(Some(written))
}

/// The buffered, hashed output.
struct Output<W: Write> {
    inner: BufWriter<W>,
    hasher: Hasher,
}

impl<W: Write> Output<W> {
    fn new(w: W) -> Output<W> {
        Output { inner: BufWriter::with_capacity(128 * 1024, w), hasher: Hasher::new() }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes).map_err(Error::Write)
    }

    /// A block's bytes: its deflate output, or its input in stored blocks.
    fn job(&mut self, job: &Job) -> Result<(), Error> {
        if job.deflated_len > 0 {
            return self.write(&job.deflated[..job.deflated_len]);
        }
        for chunk in job.input.chunks(STORED_MAX) {
            let len = chunk.len() as u16;
            let [l0, l1] = len.to_le_bytes();
            self.write(&[0x00, l0, l1, !l0, !l1])?;
            self.write(chunk)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(Digest, u64), Error> {
        let len = self.hasher.len();
        let digest = self.hasher.finish();
        let mut w = self.inner.into_inner().map_err(|e| Error::Write(e.into_error()))?;
        w.flush().map_err(Error::Write)?;
        Ok((digest, len))
    }
}

/// `Codec::None`: copies and hashes once (the digest is the diff_id).
fn copy_plain<R: Read, W: Write>(mut input: R, output: W) -> Result<Encoded, Error> {
    let mut out = BufWriter::with_capacity(128 * 1024, output);
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Read(e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(Error::Write)?;
    }
    let mut w = out.into_inner().map_err(|e| Error::Write(e.into_error()))?;
    w.flush().map_err(Error::Write)?;
    let size = hasher.len();
    let digest = hasher.finish();
    Ok(Encoded { diff_id: digest.clone(), input_size: size, digest, size })
}

/// Fills `buf` with the next `block` bytes of `input` (fewer only at its end).
fn fill<R: Read>(input: &mut R, buf: &mut Vec<u8>, block: usize) -> Result<(), Error> {
    buf.clear();
    buf.reserve_exact(block);
    // read_to_end retries on Interrupted and reads into the reserved space without zeroing it.
    input.by_ref().take(block as u64).read_to_end(buf).map_err(Error::Read)?;
    Ok(())
}

#[cfg(test)]
mod tests;
