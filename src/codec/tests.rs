//! Tests of the layer codec: round trips, independence from the thread count, validity for
//! the system gzip, stored blocks for incompressible data, digests, and which side failed.

use super::*;
use flate2::bufread::GzDecoder;

/// Deterministic pseudo-random bytes (xorshift64*): incompressible.
fn random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Text-like bytes: words from a small vocabulary, picked pseudo-randomly (compressible).
fn text(n: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&str; 12] =
        ["layer", "image ", "registry\n", "the ", "push ", "blob", " digest", "sha256:", "manifest", "{\"a\": 1}", "usr/lib/", "\t"];
    let picks = random(n, seed);
    let mut v = Vec::with_capacity(n + 16);
    for b in picks {
        if v.len() >= n {
            break;
        }
        v.extend_from_slice(WORDS[b as usize % WORDS.len()].as_bytes());
    }
    v.truncate(n);
    v
}

/// Text, random and zero runs of uneven sizes, so block boundaries fall inside each kind.
fn mixed(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    let mut i = 0u64;
    while v.len() < n {
        let len = 70_000 + (i as usize * 37_813) % 400_000;
        match i % 3 {
            0 => v.extend(text(len, i + 1)),
            1 => v.extend(random(len, i + 1)),
            _ => v.extend(std::iter::repeat_n(0u8, len)),
        }
        i += 1;
    }
    v.truncate(n);
    v
}

fn encode(enc: &Encoder, input: &[u8]) -> (Vec<u8>, Encoded) {
    let mut out = Vec::new();
    let e = enc.encode(input, &mut out).unwrap();
    (out, e)
}

/// Decompresses exactly one gzip member and checks nothing follows it.
fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut d = GzDecoder::new(gz);
    let mut plain = Vec::new();
    d.read_to_end(&mut plain).unwrap();
    assert!(d.into_inner().is_empty(), "bytes after the gzip member");
    plain
}

fn check_round_trip(enc: &Encoder, input: &[u8], what: &str) -> Vec<u8> {
    let (out, e) = encode(enc, input);
    assert!(gunzip(&out) == input, "{what}: does not decompress to the input");
    assert_eq!(e.diff_id, Digest::of(input), "{what}: diff_id");
    assert_eq!(e.input_size, input.len() as u64, "{what}: input size");
    assert_eq!(e.digest, Digest::of(&out), "{what}: digest");
    assert_eq!(e.size, out.len() as u64, "{what}: size");
    out
}

#[test]
fn round_trips_every_shape_of_input() {
    let enc = Encoder::new(Codec::DEFAULT).threads(2);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one byte", vec![b'x']),
        ("one probe set", random(PROBES * PROBE, 1)),
        ("one probe set minus one", random(PROBES * PROBE - 1, 1)),
        ("exactly one block", text(BLOCK, 2)),
        ("one block plus one byte", text(BLOCK + 1, 3)),
        ("two blocks exactly", mixed(2 * BLOCK)),
        ("random, several blocks", random(3 * BLOCK + 12_345, 4)),
        ("text, several blocks", text(5 * BLOCK - 7, 5)),
        ("mixed", mixed(2_000_000)),
        ("zeros", vec![0u8; 3 * BLOCK + 99]),
    ];
    for (what, input) in &cases {
        check_round_trip(&enc, input, what);
    }
}

#[test]
fn round_trips_at_every_level() {
    let input = mixed(700_000);
    for level in [0, 1, 2, 6, 9] {
        let enc = Encoder::new(Codec::Gzip { level }).threads(2);
        let out = check_round_trip(&enc, &input, &format!("level {level}"));
        if level == 0 {
            assert!(out.len() > input.len(), "level 0 stores everything");
        }
    }
}

#[test]
fn output_is_byte_identical_for_1_2_and_4_threads() {
    for (block, input) in [(BLOCK, mixed(3_000_000)), (5_000, mixed(400_000)), (BLOCK, text(BLOCK, 9))] {
        let name = format!("block {block}, {} bytes", input.len());
        let one = check_round_trip(&Encoder::new(Codec::DEFAULT).block_size(block).threads(1), &input, &name);
        for threads in [2, 4] {
            let enc = Encoder::new(Codec::DEFAULT).block_size(block).threads(threads);
            let (out, _) = encode(&enc, &input);
            assert!(out == one, "{name}: {threads} threads give other bytes than 1");
        }
    }
}

#[test]
fn each_block_is_encoded_as_if_alone() {
    // Blocks carry no state across: block k of a stream encodes to the same bytes as the
    // same data encoded alone (minus header and trailer), whatever compressor ran before.
    let input = mixed(3 * BLOCK);
    let enc = Encoder::new(Codec::DEFAULT).threads(1);
    let (whole, _) = encode(&enc, &input);
    let mut joined = GZIP_HEADER.to_vec();
    for block in input.chunks(BLOCK) {
        let (alone, _) = encode(&enc, block);
        joined.extend_from_slice(&alone[GZIP_HEADER.len()..alone.len() - FINAL_BLOCK.len() - 8]);
    }
    assert!(whole[..whole.len() - FINAL_BLOCK.len() - 8] == joined[..]);
}

#[test]
fn system_gzip_accepts_the_output() {
    let dir = std::env::temp_dir().join(format!("idpush-codec-test-{}", std::process::id()));
    fs_mkdir(&dir);
    let result = std::panic::catch_unwind(|| {
        for (what, input) in [("empty", vec![]), ("mixed", mixed(1_500_000)), ("random", random(BLOCK + 3, 7))] {
            let path = dir.join(format!("{}.gz", what));
            let file = std::fs::File::create(&path).unwrap();
            Encoder::new(Codec::DEFAULT).threads(2).encode(&input[..], file).unwrap();
            let test = std::process::Command::new("gzip").arg("-t").arg(&path).output().expect("running gzip -t");
            assert!(test.status.success(), "{what}: gzip -t: {}", String::from_utf8_lossy(&test.stderr));
            let plain = std::process::Command::new("gzip").arg("-dc").arg(&path).output().unwrap();
            assert!(plain.stdout == input, "{what}: gzip -dc gives other bytes");
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn fs_mkdir(dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
}

#[test]
fn incompressible_blocks_are_stored_and_compressible_ones_shrink() {
    let enc = Encoder::new(Codec::DEFAULT).threads(2);
    let input = random(4 * BLOCK + 1000, 11);
    let (out, _) = encode(&enc, &input);
    // Stored: 5 bytes per stored chunk (at most 64 KiB) of each block, plus header, final
    // block and trailer.
    let chunks: usize = input.chunks(BLOCK).map(|b| b.len().div_ceil(STORED_MAX)).sum();
    // The short last block is deflated (too small to probe): its sync flush adds 5 more.
    let overhead = 5 * chunks + GZIP_HEADER.len() + FINAL_BLOCK.len() + 8 + 16;
    assert!(out.len() <= input.len() + overhead, "{} > {} + {overhead}", out.len(), input.len());
    // Stored blocks hold the input verbatim right after the header.
    assert_eq!(&out[GZIP_HEADER.len()..GZIP_HEADER.len() + 5], &[0, 0xff, 0xff, 0, 0]);
    assert!(out[GZIP_HEADER.len() + 5..GZIP_HEADER.len() + 5 + 1000] == input[..1000]);

    let input = text(4 * BLOCK, 12);
    let (out, _) = encode(&enc, &input);
    assert!(out.len() * 3 < input.len(), "text: {} of {}", out.len(), input.len());

    // Mixed: random blocks stored, the rest compressed, so smaller than the input overall.
    let input = mixed(3_000_000);
    let (out, _) = encode(&enc, &input);
    assert!(out.len() < input.len() * 3 / 4, "mixed: {} of {}", out.len(), input.len());
}

#[test]
fn compresses_about_as_well_as_one_gzip_stream() {
    // Fresh compressor per block: the loss against flate2's single stream stays small.
    let input = text(6 * BLOCK, 13);
    let (ours, _) = encode(&Encoder::new(Codec::DEFAULT), &input);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), Compression::new(1));
    gz.write_all(&input).unwrap();
    let theirs = gz.finish().unwrap();
    assert!(ours.len() * 100 <= theirs.len() * 102, "ours {} vs one stream {}", ours.len(), theirs.len());
}

#[test]
fn none_writes_the_input_as_it_is() {
    let input = mixed(600_000);
    let mut out = Vec::new();
    let e = Encoder::new(Codec::None).encode(&input[..], &mut out).unwrap();
    assert!(out == input);
    assert_eq!(e.digest, Digest::of(&input));
    assert_eq!(e.diff_id, e.digest);
    assert_eq!((e.size, e.input_size), (input.len() as u64, input.len() as u64));
}

#[test]
fn names_say_what_changes_the_output() {
    assert_eq!(Encoder::new(Codec::None).name(), "none");
    assert_eq!(Encoder::new(Codec::DEFAULT).name(), "pgzip1-b256k-l1");
    assert_eq!(Encoder::new(Codec::Gzip { level: 6 }).threads(3).name(), "pgzip1-b256k-l6");
    assert_eq!(Encoder::new(Codec::Gzip { level: 42 }).name(), "pgzip1-b256k-l9");
    assert_eq!(Encoder::new(Codec::DEFAULT).block_size(1 << 20).name(), "pgzip1-b1m-l1");
    assert_eq!(Encoder::new(Codec::DEFAULT).block_size(1000).name(), "pgzip1-b1000-l1");
    let a = Encoder::new(Codec::DEFAULT).threads(1).name();
    assert_eq!(a, Encoder::new(Codec::DEFAULT).threads(4).name(), "threads do not change the output");
}

/// A reader that yields `ok` bytes of `data`, then fails.
struct FailingReader {
    data: Vec<u8>,
    pos: usize,
    ok: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.ok {
            return Err(io::Error::new(io::ErrorKind::ConnectionReset, "export cut"));
        }
        let n = buf.len().min(self.ok - self.pos).min(10_000);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A writer that accepts `room` bytes, then fails like a full disk.
struct FullDisk {
    room: usize,
}

impl Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left on device"));
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_read_error_is_the_sources_and_a_write_error_the_disks() {
    let data = mixed(2_000_000);
    for codec in [Codec::DEFAULT, Codec::None] {
        for threads in [1, 3] {
            // Failing in the first block (the inline path) and later (the pool).
            for ok in [100, BLOCK / 2, 5 * BLOCK + 17] {
                let reader = FailingReader { data: data.clone(), pos: 0, ok };
                let e = Encoder::new(codec).threads(threads).encode(reader, Vec::new()).unwrap_err();
                assert!(matches!(&e, Error::Read(io) if io.kind() == io::ErrorKind::ConnectionReset), "{codec:?} {ok}: {e}");
                assert!(e.to_string().starts_with("reading a layer: "), "{e}");
            }
            for room in [0, 5, 200_000, 700_000] {
                let e = Encoder::new(codec).threads(threads).encode(&data[..], FullDisk { room }).unwrap_err();
                assert!(matches!(&e, Error::Write(io) if io.kind() == io::ErrorKind::StorageFull), "{codec:?} {room}: {e}");
                assert!(e.to_string().starts_with("writing a layer blob: "), "{e}");
            }
        }
    }
}

#[test]
fn random_detection_needs_every_probe_to_look_random() {
    assert!(looks_random(&random(PROBE, 21)));
    assert!(!looks_random(&text(PROBE, 22)));
    assert!(!looks_random(&vec![7u8; PROBE]));
    // Base64-like data (6 bits per byte) is compressible and not taken for random.
    let b64: Vec<u8> = random(PROBE, 23).iter().map(|b| b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(*b & 63) as usize]).collect();
    assert!(!looks_random(&b64));
    // Random 4 KiB probes pass (almost) always: 200 of them, at most a handful fail.
    let misses = (0..200).filter(|i| !looks_random(&random(PROBE, 100 + i))).count();
    assert!(misses <= 6, "{misses} of 200 random probes missed");

    // A block random except for its last eighth is deflated, so that text shrinks.
    let mut block = random(BLOCK - BLOCK / 8, 24);
    block.extend(text(BLOCK / 8, 25));
    assert!(!probes_look_random(&block));
    let (out, _) = encode(&Encoder::new(Codec::DEFAULT).threads(1), &block);
    assert!(out.len() < BLOCK - BLOCK / 16, "{} bytes for {}", out.len(), BLOCK);
}

/// Counts bytes read, so the writer below can see how far ahead the reader is.
struct CountingReader {
    data: Vec<u8>,
    pos: usize,
    read: Arc<std::sync::atomic::AtomicUsize>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos).min(50_000);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        self.read.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }
}

/// A slow disk that records the largest lead the reader ever had over it.
struct LeadCheckingWriter {
    read: Arc<std::sync::atomic::AtomicUsize>,
    written: usize,
    max_lead: usize,
    report: Arc<std::sync::atomic::AtomicUsize>,
}

impl Write for LeadCheckingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        std::thread::sleep(std::time::Duration::from_micros(200));
        self.written += buf.len();
        self.max_lead = self.max_lead.max(self.read.load(Ordering::SeqCst).saturating_sub(self.written));
        self.report.store(self.max_lead, Ordering::SeqCst);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn at_most_threads_plus_two_blocks_are_in_flight() {
    // Random data is stored, so output bytes track input bytes one for one: how far reading
    // runs ahead of a slow disk is the memory held in blocks.
    let block = 16 * 1024;
    let threads = 2;
    let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let report = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let reader = CountingReader { data: random(200 * block, 31), pos: 0, read: Arc::clone(&read) };
    let writer = LeadCheckingWriter { read, written: 0, max_lead: 0, report: Arc::clone(&report) };
    let enc = Encoder::new(Codec::Gzip { level: 0 }).block_size(block).threads(threads);
    enc.encode(reader, writer).unwrap();
    // (threads + 2) blocks, plus the writer's 128 KiB buffer still unwritten.
    let bound = (threads + 2) * block + 128 * 1024 + block;
    let lead = report.load(Ordering::SeqCst);
    assert!(lead <= bound, "reader ran {lead} bytes ahead of the disk (bound {bound})");
    assert!(lead > 0);
}
