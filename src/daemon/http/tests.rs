//! Tests for the HTTP/1.1 transport: every input is parsed whole, one byte at a time and
//! split at every byte boundary, and all ways must agree.

use super::*;
use std::io::ErrorKind::{InvalidData, UnexpectedEof};

/// A reader that hands out `data` in pieces: at most `max` bytes per read, and never across
/// the `cut` offset.
struct Pieces {
    data: Vec<u8>,
    pos: usize,
    max: usize,
    cut: usize,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let end = if self.pos < self.cut { self.cut } else { self.data.len() };
        let n = buf.len().min(self.max).min(end - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

type Outcome = Result<(u16, Vec<u8>), io::ErrorKind>;

/// Parses a response to `method` from `r` and reads the body `step` bytes at a time.
fn run(r: Pieces, method: &str, step: usize) -> Outcome {
    let mut resp = read_response(BufReader::with_capacity(16, r), method).map_err(|e| e.kind())?;
    let mut body = Vec::new();
    let mut buf = vec![0; step];
    loop {
        match resp.body.read(&mut buf).map_err(|e| e.kind())? {
            0 => return Ok((resp.status, body)),
            n => body.extend_from_slice(&buf[..n]),
        }
    }
}

/// Parses `raw` whole, byte by byte and split at every offset; all must agree.
fn fetch_as(raw: &[u8], method: &str) -> Outcome {
    let pieces = |max, cut| Pieces { data: raw.to_vec(), pos: 0, max, cut };
    let whole = run(pieces(usize::MAX, 0), method, 8192);
    assert_eq!(run(pieces(1, 0), method, 1), whole, "one byte at a time");
    for cut in 1..raw.len() {
        assert_eq!(run(pieces(usize::MAX, cut), method, 3), whole, "split at {cut}");
    }
    whole
}

/// Parses a long `raw` once (splitting it every way would be quadratic).
fn fetch_once(raw: &str) -> Outcome {
    run(Pieces { data: raw.as_bytes().to_vec(), pos: 0, max: usize::MAX, cut: 0 }, "GET", 8192)
}

fn fetch(raw: &str) -> Outcome {
    fetch_as(raw.as_bytes(), "GET")
}

fn body(raw: &str) -> String {
    String::from_utf8(fetch(raw).expect("valid response").1).unwrap()
}

fn chunked(chunks: &str) -> String {
    format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}")
}

#[test]
fn content_length_body_stops_at_its_length() {
    assert_eq!(body("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA"), "hello");
    assert_eq!(body("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), "");
    assert_eq!(body("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello"), "hello");
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let raw = chunked("5;name=value\r\nhello\r\n6 ; x=\"y\"\r\n world\r\nA\r\n0123456789\r\n0;last\r\nX-Trailer: 1\r\nY: 2\r\n\r\nNEXT");
    assert_eq!(body(&raw), "hello world0123456789");
    assert_eq!(body(&chunked("0005\r\nhello\r\n000\r\n\r\n")), "hello");
    assert_eq!(body(&chunked("0000000000000000000005\r\nhello\r\n0\r\n\r\n")), "hello");
}

#[test]
fn close_delimited_body_runs_to_eof() {
    assert_eq!(
        body("HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n\r\nall of it"),
        "all of it"
    );
    assert_eq!(body("HTTP/1.1 200 OK\r\n\r\n"), "");
}

#[test]
fn head_204_304_and_interim_responses() {
    let raw = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(fetch_as(raw.as_bytes(), "HEAD"), Ok((200, vec![])));
    assert_eq!(fetch("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n"), Ok((204, vec![])));
    assert_eq!(fetch("HTTP/1.1 304 Not Modified\r\n\r\n"), Ok((304, vec![])));
    let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(fetch(raw), Ok((200, b"ok".to_vec())));
    let endless =
        "HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 1) + "HTTP/1.1 200 OK\r\n\r\n";
    assert_eq!(fetch_once(&endless), Err(InvalidData));
}

#[test]
fn header_names_are_case_insensitive() {
    let raw = "HTTP/1.1 404 Not Found\r\ncontent-LENGTH: 2\r\nAPI-Version:1.45 \r\nX-A: 1\r\nx-a:\t2\r\n\r\nno";
    let resp = read_response(raw.as_bytes(), "GET").unwrap();
    assert_eq!((resp.status, resp.reason.as_str()), (404, "Not Found"));
    assert_eq!(resp.headers.get("Api-Version"), Some("1.45"));
    assert_eq!(resp.headers.get("content-length"), Some("2"));
    assert_eq!(resp.headers.get_all("X-a").collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(resp.headers.get("missing"), None);
    assert_eq!(fetch("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), Ok((200, vec![])));
}

#[test]
fn malformed_status_lines_are_errors() {
    for line in [
        "HTTP/2 200 OK",
        "HTTP/1.1 20 OK",
        "HTTP/1.1 200OK",
        "HTTP/1.1  200 OK",
        "HTTP/1.1 2x0 OK",
        "HTTP/1.1 999 Huh",
        "http/1.1 200 OK",
        "SSH-2.0-OpenSSH_9.2p1",
        "\u{16}\u{3}\u{1}",
    ] {
        assert_eq!(fetch(&format!("{line}\r\n\r\n")), Err(InvalidData), "{line:?}");
    }
    assert_eq!(fetch("HTTP/1.1 200 OK\n\n"), Err(InvalidData), "bare LF");
    assert_eq!(fetch(""), Err(UnexpectedEof));
    assert_eq!(fetch("HTTP/1.1 200 OK\r\nContent-Le"), Err(UnexpectedEof));
    assert_eq!(fetch("HTTP/1.1 200 OK\r\n"), Err(UnexpectedEof));
}

#[test]
fn malformed_header_lines_are_errors() {
    for line in
        ["NoColon", "Bad Name: x", "Name : x", " folded: x", "\tx", ": empty", "A: b\rc", "(x): y"]
    {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n{line}\r\n\r\n");
        assert_eq!(fetch(&raw), Err(InvalidData), "{line:?}");
    }
}

#[test]
fn huge_header_sections_are_errors() {
    let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
    assert_eq!(read_response(long.as_bytes(), "GET").unwrap_err().kind(), InvalidData);
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("HTTP/1.1 200 OK\r\n{many}\r\n");
    assert_eq!(read_response(many.as_bytes(), "GET").unwrap_err().kind(), InvalidData);
    // Just under the limits is fine.
    let ok: String = (0..MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    let ok = format!("HTTP/1.1 200 OK\r\n{ok}\r\n");
    assert_eq!(read_response(ok.as_bytes(), "GET").unwrap().status, 200);
    // An endless line without a newline stops at the limit instead of reading it all.
    let mut endless = io::repeat(b'x');
    let err = read_response(BufReader::new(&mut endless), "GET").unwrap_err();
    assert_eq!(err.kind(), InvalidData);
}

#[test]
fn bad_chunk_sizes_are_errors() {
    for size in ["xyz", "", "-1", "+1", "0x5", " 5", "5 x", "5\t\t;", "g", "10000000000000000"] {
        let raw = chunked(&format!("{size}\r\nhello\r\n0\r\n\r\n"));
        let expected =
            if size == "5\t\t;" { Ok((200, b"hello".to_vec())) } else { Err(InvalidData) };
        assert_eq!(fetch(&raw), expected, "{size:?}");
    }
    let long_ext = chunked(&format!("5;{}\r\nhello\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_LINE)));
    assert_eq!(fetch_once(&long_ext), Err(InvalidData));
}

#[test]
fn missing_crlf_after_chunk_data_is_an_error() {
    assert_eq!(fetch(&chunked("5\r\nhelloX\r\n0\r\n\r\n")), Err(InvalidData));
    assert_eq!(fetch(&chunked("5\r\nhello0\r\n\r\n")), Err(InvalidData));
    assert_eq!(fetch(&chunked("5\r\nhello\n0\r\n\r\n")), Err(InvalidData));
    assert_eq!(fetch(&chunked("5\nhello\r\n0\r\n\r\n")), Err(InvalidData));
    assert_eq!(fetch(&chunked("5\r\nhello\r")), Err(UnexpectedEof));
}

#[test]
fn truncated_chunked_bodies_are_unexpected_eof() {
    for rest in [
        "5\r\nhel",
        "5\r\nhello",
        "5\r\nhello\r\n",
        "5\r\nhello\r\n0",
        "5\r\nhello\r\n0\r\n",
        "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n",
        "5\r\nhello\r\n0\r\nX-Trai",
    ] {
        assert_eq!(fetch(&chunked(rest)), Err(UnexpectedEof), "{rest:?}");
    }
}

#[test]
fn data_before_a_truncation_is_delivered_then_the_error_sticks() {
    let raw = chunked("5\r\nhello\r\n3\r\nab");
    let mut resp = read_response(raw.as_bytes(), "GET").unwrap();
    let mut buf = [0; 64];
    assert_eq!(resp.body.read(&mut buf).unwrap(), 5);
    assert_eq!(resp.body.read(&mut buf).unwrap(), 2);
    assert_eq!(resp.body.read(&mut buf).unwrap_err().kind(), UnexpectedEof);
    assert!(resp.body.read(&mut buf).is_err(), "errors are sticky");
}

#[test]
fn huge_chunk_sizes_are_counted_not_allocated() {
    let raw = chunked("ffffffffffffffff\r\nabc");
    let mut resp = read_response(raw.as_bytes(), "GET").unwrap();
    let mut got = Vec::new();
    assert_eq!(resp.body.read_to_end(&mut got).unwrap_err().kind(), UnexpectedEof);
    assert_eq!(got, b"abc");
    let raw = "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc";
    assert_eq!(fetch(raw), Err(UnexpectedEof));
}

#[test]
fn content_length_problems() {
    assert_eq!(fetch("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), Err(UnexpectedEof));
    for cl in ["5, 6", "-1", "+5", "abc", "", "99999999999999999999999", "5 5"] {
        let raw = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\nhello");
        assert_eq!(fetch(&raw), Err(InvalidData), "{cl:?}");
    }
    let two = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 4\r\n\r\nhello";
    assert_eq!(fetch(two), Err(InvalidData));
}

#[test]
fn transfer_encoding_rules() {
    let only_te = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
    assert_eq!(fetch(only_te), Ok((200, b"ok".to_vec())));
    for te in ["gzip, chunked", "chunked, gzip", "identity", "chunked, chunked"] {
        let raw = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
        assert_eq!(fetch(&raw), Err(InvalidData), "{te:?}");
    }
}

/// Regression (issue 7, defect 12): a response with both framings was read as chunked; a
/// message that can be framed two ways is refused (RFC 9112 section 6.3), whatever the order or
/// case of the two headers.
#[test]
fn transfer_encoding_with_content_length_is_refused() {
    for (first, second) in [
        ("Content-Length: 1", "Transfer-Encoding: Chunked"),
        ("Transfer-Encoding: chunked", "Content-Length: 2"),
        ("transfer-encoding: chunked", "content-length: 0"),
    ] {
        let raw = format!("HTTP/1.1 200 OK\r\n{first}\r\n{second}\r\n\r\n2\r\nok\r\n0\r\n\r\n");
        assert_eq!(fetch(&raw), Err(InvalidData), "{first} + {second}");
        let err = read_response(raw.as_bytes(), "GET").unwrap_err().to_string();
        assert!(err.contains("both transfer-encoding") && err.contains("content-length"), "{err}");
    }
}

#[test]
fn trailer_section_is_bounded() {
    let raw = chunked(&format!("0\r\nX: {}\r\n\r\n", "t".repeat(MAX_TRAILERS)));
    assert_eq!(fetch_once(&raw), Err(InvalidData));
}

#[test]
fn read_to_end_limited_enforces_the_limit() {
    let raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    let mut resp = read_response(raw.as_bytes(), "GET").unwrap();
    assert_eq!(resp.body.read_to_end_limited(5).unwrap(), b"hello");
    let mut resp = read_response(raw.as_bytes(), "GET").unwrap();
    assert_eq!(resp.body.read_to_end_limited(4).unwrap_err().kind(), InvalidData);
}

#[test]
fn requests_are_written_exactly() {
    let mut out = Vec::new();
    write_request(&mut out, "HEAD", "/_ping", "api.moby.localhost").unwrap();
    let want = format!(
        "HEAD /_ping HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: idpush/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(String::from_utf8(out).unwrap(), want);
    for (target, host) in [("/a\r\nX: y", "h"), ("/a b", "h"), ("", "h"), ("/a", "h\n")] {
        let err = write_request(&mut Vec::new(), "GET", target, host).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}

#[test]
fn roundtrip_over_a_socket_and_timeouts() {
    let (client, mut server) = UnixStream::pair().unwrap();
    let t = std::thread::spawn(move || {
        let mut req = Vec::new();
        let mut byte = [0];
        while !req.ends_with(b"\r\n\r\n") {
            server.read_exact(&mut byte).unwrap();
            req.push(byte[0]);
        }
        server
            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n")
            .unwrap();
        String::from_utf8(req).unwrap()
    });
    let mut resp =
        roundtrip(Stream::Unix(client), "GET", "/v1.47/x", "api.moby.localhost").unwrap();
    assert_eq!(resp.body.read_to_end_limited(10).unwrap(), b"hi");
    assert!(t.join().unwrap().starts_with("GET /v1.47/x HTTP/1.1\r\nHost: api.moby.localhost\r\n"));

    let (client, _server) = UnixStream::pair().unwrap();
    let client = Stream::Unix(client);
    client.set_timeout(Some(Duration::from_millis(20))).unwrap();
    let err = read_response(BufReader::new(client), "GET").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}

mod prop {
    //! Property tests: arbitrary bytes, and valid responses with bytes changed, never panic
    //! the reader, whole or in pieces.
    use super::*;
    use proptest::prelude::*;

    fn parse_any(raw: &[u8], max: usize, cut: usize) {
        let r = Pieces { data: raw.to_vec(), pos: 0, max: max.max(1), cut: cut.min(raw.len()) };
        let _ = run(r, "GET", 7);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..512), max in 1usize..64, cut in 0usize..512) {
            parse_any(&raw, max, cut);
        }

        #[test]
        fn mutated_responses_never_panic(
            which in 0usize..3,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            keep in any::<usize>(),
        ) {
            let bases = [
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_string(),
                chunked("3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"),
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\n{}".to_string(),
            ];
            let mut raw = bases[which].as_bytes().to_vec();
            for (at, b) in edits {
                let i = at % raw.len();
                raw[i] = b;
            }
            raw.truncate(keep % (raw.len() + 1));
            parse_any(&raw, usize::MAX, 0);
            parse_any(&raw, 1, 0);
        }
    }
}
