//! Times the layer codec against the single-stream encoder it replaces (flate2's GzEncoder at
//! level 1, as `Store::spool_uncompressed` did), on a file given as input.
//!
//! Run one mode per process, so peak RSS can be read too:
//!
//!     cargo build --release --example codec_bench
//!     /usr/bin/time -f '%e s %U user %S sys %M KiB' \
//!         target/release/examples/codec_bench MODE THREADS INPUT OUTPUT
//!
//! MODE: `old` (GzEncoder level 1), `pgzip` (this codec, level 1), `none` (hash + copy: the
//! floor), `pgzip6` (level 6). THREADS is ignored by `old` and `none`. Prints wall time,
//! input and output sizes.
#![allow(dead_code)]

#[path = "../src/codec.rs"]
mod codec;
#[path = "../src/digest.rs"]
mod digest;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, threads, input, output] = &args[..] else {
        eprintln!("usage: codec_bench old|pgzip|pgzip6|none THREADS INPUT OUTPUT");
        std::process::exit(2);
    };
    let threads: usize = threads.parse().expect("THREADS is a number");
    let inp = File::open(input).expect("opening the input");
    let out = File::create(output).expect("creating the output");
    let start = Instant::now();
    let (insize, outsize) = match mode.as_str() {
        "old" => old(inp, out),
        m => {
            let c = match m {
                "pgzip" => codec::Codec::DEFAULT,
                "pgzip6" => codec::Codec::Gzip { level: 6 },
                "none" => codec::Codec::None,
                _ => panic!("unknown mode {m}"),
            };
            let e = codec::Encoder::new(c).threads(threads).encode(inp, out).expect("encoding");
            (e.input_size, e.size)
        }
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{mode} threads={threads} in={insize} out={outsize} ratio={:.4} wall={secs:.3}s {:.0} MB/s",
        outsize as f64 / insize as f64,
        insize as f64 / secs / 1e6
    );
}

/// What store.rs did before: hash the tar, GzEncoder level 1, hash the gzip, write.
fn old(inp: File, out: File) -> (u64, u64) {
    let mut tar = digest::HashingReader::new(BufReader::with_capacity(256 * 1024, inp));
    let w = digest::HashingWriter::new(BufWriter::with_capacity(256 * 1024, out));
    let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::new(1));
    let mut buf = vec![0u8; 128 * 1024];
    loop {
        let n = tar.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        gz.write_all(&buf[..n]).unwrap();
    }
    let (mut w, _digest, size) = gz.finish().unwrap().finish();
    w.flush().unwrap();
    let (_diff_id, insize) = tar.finish();
    (insize, size)
}
