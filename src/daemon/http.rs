//! A minimal, blocking HTTP/1.1 client transport for the Docker Engine API: the socket
//! ([`Stream`], unix or TCP), writing one request per connection, parsing the response head,
//! and a streaming [`Body`] that honours `Content-Length`, chunked transfer coding and
//! close-delimited bodies. The parser is generic over [`BufRead`] and bounds everything it
//! buffers: header sections, chunk-size lines and trailers have size limits, and chunk sizes
//! are only counters, never allocations.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The largest response header section (status line, headers, final CRLF) we accept.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields we accept in one response.
const MAX_HEADERS: usize = 100;
/// The most interim (1xx) responses we skip before the real one.
const MAX_INTERIM: usize = 10;
/// The longest chunk-size line (size plus extensions) we accept.
const MAX_CHUNK_LINE: usize = 4096;
/// The largest trailer section we accept (it is read and thrown away).
const MAX_TRAILERS: usize = 16 * 1024;

/// A connected socket to the daemon. Timeouts surface as `io::ErrorKind::TimedOut`.
#[derive(Debug)]
pub enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    /// TLS over TCP (a remote daemon with `DOCKER_TLS_VERIFY`).
    Tls(Box<super::tls::TlsStream>),
    /// `ssh … docker system dial-stdio`'s stdin and stdout.
    Ssh(super::ssh::SshStream),
}

impl Stream {
    /// Sets the read and write timeout (`None`: wait forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(timeout).and(s.set_write_timeout(timeout)),
            Stream::Tcp(s) => s.set_read_timeout(timeout).and(s.set_write_timeout(timeout)),
            Stream::Tls(s) => s.sock.set_read_timeout(timeout).and(s.sock.set_write_timeout(timeout)),
            Stream::Ssh(s) => {
                s.set_timeout(timeout);
                Ok(())
            }
        }
    }
}

/// A socket timeout shows up as `WouldBlock` on unix; report it as what it is.
fn timeout_kind(e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for the docker daemon")
        }
        _ => e,
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Ssh(s) => s.read(buf),
        }
        .map_err(timeout_kind)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Ssh(s) => s.write(buf),
        }
        .map_err(timeout_kind)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Ssh(s) => s.flush(),
        }
    }
}

/// Sends one bodiless request on `stream` and reads the response head.
pub fn roundtrip<S: Read + Write>(
    mut stream: S,
    method: &str,
    target: &str,
    host: &str,
) -> io::Result<Response<BufReader<S>>> {
    write_request(&mut stream, method, target, host)?;
    read_response(BufReader::with_capacity(64 * 1024, stream), method)
}

/// Writes a bodiless HTTP/1.1 request with `Connection: close`.
pub fn write_request<W: Write>(
    w: &mut W,
    method: &str,
    target: &str,
    host: &str,
) -> io::Result<()> {
    let clean = |s: &str| !s.is_empty() && !s.bytes().any(|b| b.is_ascii_control() || b == b' ');
    if !clean(method) || !clean(target) || !clean(host) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid characters in http request",
        ));
    }
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: idpush/{}\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    w.write_all(req.as_bytes())?;
    w.flush()
}

/// Response header fields in arrival order; names are compared case-insensitively.
#[derive(Debug, Default, Clone)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// The first value of header `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// All values of header `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A response: status, headers and the streaming body.
#[derive(Debug)]
pub struct Response<R> {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    pub body: Body<R>,
}

/// Reads a response head from `r` (skipping interim 1xx responses) and frames the body.
/// `method` is the request's method: responses to HEAD have no body.
pub fn read_response<R: BufRead>(mut r: R, method: &str) -> io::Result<Response<R>> {
    for interim in 0..=MAX_INTERIM {
        let (status, reason, headers) = read_head(&mut r, interim == 0)?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let state = framing(method, status, &headers)?;
        return Ok(Response { status, reason, headers, body: Body { inner: r, state } });
    }
    Err(invalid(format!("more than {MAX_INTERIM} interim 1xx responses")))
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn eof(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, msg.into())
}

fn cut_short() -> io::Error {
    eof("connection closed in the middle of the response body")
}

/// A short, printable excerpt of a bad line for error messages.
fn excerpt(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(&line[..line.len().min(40)]);
    format!("{:?}", s)
}

/// Reads one CRLF-terminated line of at most `limit` bytes (CRLF included), without the CRLF.
fn read_line<R: BufRead>(r: &mut R, limit: usize, what: &str) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.by_ref().take(limit as u64).read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(if line.len() >= limit {
            invalid(format!("{what} is too long (more than {limit} bytes)"))
        } else {
            eof(format!("connection closed in the middle of the {what}"))
        });
    }
    if !line.ends_with(b"\r\n") {
        return Err(invalid(format!("{what} does not end with CRLF: {}", excerpt(&line))));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

/// Reads the status line and header fields, within [`MAX_HEAD`] bytes in all.
fn read_head<R: BufRead>(r: &mut R, first: bool) -> io::Result<(u16, String, Headers)> {
    if first && r.fill_buf()?.is_empty() {
        return Err(eof("connection closed before any response"));
    }
    let mut budget = MAX_HEAD;
    let (status, reason) = parse_status_line(&head_line(r, &mut budget)?)?;
    let mut headers = Vec::new();
    loop {
        let line = head_line(r, &mut budget)?;
        if line.is_empty() {
            return Ok((status, reason, Headers(headers)));
        }
        if headers.len() == MAX_HEADERS {
            return Err(invalid(format!("response has more than {MAX_HEADERS} header fields")));
        }
        headers.push(parse_header_line(&line)?);
    }
}

/// Reads one line of the header section, charging it to what is left of [`MAX_HEAD`].
fn head_line<R: BufRead>(r: &mut R, budget: &mut usize) -> io::Result<Vec<u8>> {
    let line = read_line(r, *budget, "response header section")?;
    *budget -= line.len() + 2;
    Ok(line)
}

/// Parses `HTTP/1.x SSS reason`.
fn parse_status_line(line: &[u8]) -> io::Result<(u16, String)> {
    let bad = || invalid(format!("malformed http status line {}", excerpt(line)));
    let rest = line.strip_prefix(b"HTTP/1.").ok_or_else(bad)?;
    let (&minor, rest) = rest.split_first().ok_or_else(bad)?;
    let rest = rest.strip_prefix(b" ").ok_or_else(bad)?;
    if !minor.is_ascii_digit() || rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let status = rest[..3].iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let reason = match &rest[3..] {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return Err(bad()),
    };
    if !(100..=599).contains(&status) {
        return Err(bad());
    }
    Ok((status, String::from_utf8_lossy(reason).into_owned()))
}

/// Parses `Name: value`; the name must be a token, with no space before the colon.
fn parse_header_line(line: &[u8]) -> io::Result<(String, String)> {
    let bad = || invalid(format!("malformed http header line {}", excerpt(line)));
    let colon = line.iter().position(|&b| b == b':').ok_or_else(bad)?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    let tchar = |b: &u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b);
    if name.is_empty() || !name.iter().all(tchar) {
        return Err(bad());
    }
    if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(bad());
    }
    let value = String::from_utf8_lossy(value);
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    Ok((String::from_utf8_lossy(name).into_owned(), value.to_string()))
}

/// How the body of a response is delimited (RFC 9112 section 6.3).
fn framing(method: &str, status: u16, headers: &Headers) -> io::Result<State> {
    if method.eq_ignore_ascii_case("HEAD") || status < 200 || status == 204 || status == 304 {
        return Ok(State::Done);
    }
    let codings: Vec<String> = headers
        .get_all("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    if !codings.is_empty() {
        // A message with both is how request smuggling starts: RFC 9112 section 6.3 says it
        // "ought to be handled as an error"; the daemon never sends both.
        if headers.get("content-length").is_some() {
            return Err(invalid(format!(
                "the response has both transfer-encoding {:?} and content-length (refused, RFC 9112 section 6.3)",
                codings.join(", ")
            )));
        }
        return match codings.as_slice() {
            [c] if c == "chunked" => Ok(State::ChunkSize),
            _ => Err(invalid(format!("unsupported transfer-encoding {:?}", codings.join(", ")))),
        };
    }
    let mut length = None;
    for v in headers.get_all("content-length").flat_map(|v| v.split(',')) {
        let v = v.trim();
        let n = match v.bytes().all(|b| b.is_ascii_digit()) {
            true => v.parse::<u64>().ok(),
            false => None,
        };
        let n = n.ok_or_else(|| invalid(format!("invalid content-length {v:?}")))?;
        if length.is_some_and(|l| l != n) {
            return Err(invalid("conflicting content-length headers"));
        }
        length = Some(n);
    }
    Ok(length.map_or(State::Close, State::Length))
}

/// Where the body reader is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes are left of a `Content-Length` body.
    Length(u64),
    /// The body runs until the server closes the connection.
    Close,
    /// Next comes a chunk-size line.
    ChunkSize,
    /// This many bytes are left of the current chunk.
    ChunkData(u64),
    /// Next comes the CRLF after a chunk's data.
    ChunkEnd,
    /// Next comes the trailer section after the last chunk.
    Trailers,
    /// The body is complete.
    Done,
    /// An earlier read failed in the middle of the framing; the stream is unusable.
    Broken,
}

/// A streaming response body. A body cut short (by EOF before `Content-Length` bytes, or
/// before the last chunk and trailers) is an `UnexpectedEof` error, never a clean end.
#[derive(Debug)]
pub struct Body<R> {
    inner: R,
    state: State,
}

impl<R: BufRead> Body<R> {
    /// Reads the whole body, failing if it is longer than `limit` bytes.
    pub fn read_to_end_limited(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.by_ref().take(limit as u64 + 1).read_to_end(&mut out)?;
        if out.len() > limit {
            return Err(invalid(format!("response body is larger than {limit} bytes")));
        }
        Ok(out)
    }

    /// Reads up to `buf.len()` bytes, but at most `left`, failing on EOF.
    fn read_data(&mut self, buf: &mut [u8], left: u64) -> io::Result<usize> {
        let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            self.state = State::Broken;
            return Err(cut_short());
        }
        Ok(n)
    }

    /// Moves past one framing element (chunk-size line, chunk CRLF or trailers).
    fn step(&mut self) -> io::Result<()> {
        self.state = match self.state {
            State::ChunkSize => match read_chunk_size(&mut self.inner)? {
                0 => State::Trailers,
                n => State::ChunkData(n),
            },
            State::ChunkEnd => {
                read_line(&mut self.inner, 2, "chunk terminator").map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidData => invalid("chunk data is not followed by CRLF"),
                    _ => e,
                })?;
                State::ChunkSize
            }
            State::Trailers => {
                skip_trailers(&mut self.inner)?;
                State::Done
            }
            other => other,
        };
        Ok(())
    }
}

impl<R: BufRead> Read for Body<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                State::Done => return Ok(0),
                State::Broken => {
                    return Err(invalid("response body is unusable after an earlier error"))
                }
                State::Length(0) => self.state = State::Done,
                State::Length(left) => {
                    let n = self.read_data(buf, left)?;
                    self.state = State::Length(left - n as u64);
                    return Ok(n);
                }
                State::Close => {
                    let n = self.inner.read(buf)?;
                    if n == 0 {
                        self.state = State::Done;
                    }
                    return Ok(n);
                }
                State::ChunkData(left) => {
                    let n = self.read_data(buf, left)?;
                    let left = left - n as u64;
                    self.state = if left == 0 { State::ChunkEnd } else { State::ChunkData(left) };
                    return Ok(n);
                }
                State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    if let Err(e) = self.step() {
                        self.state = State::Broken;
                        return Err(match e.kind() {
                            io::ErrorKind::UnexpectedEof => cut_short(),
                            _ => e,
                        });
                    }
                }
            }
        }
    }
}

/// Reads a chunk-size line, `1*HEXDIG [BWS ";" extensions]`, ignoring extensions.
fn read_chunk_size<R: BufRead>(r: &mut R) -> io::Result<u64> {
    let line = read_line(r, MAX_CHUNK_LINE, "chunk-size line")?;
    let size = line.split(|&b| b == b';').next().unwrap_or_default();
    let size = trim_end_ws(size);
    if size.is_empty() || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(invalid(format!("invalid chunk size {}", excerpt(&line))));
    }
    let digits = &size[size.iter().position(|&b| b != b'0').unwrap_or(size.len())..];
    if digits.len() > 16 {
        return Err(invalid(format!("chunk size too large {}", excerpt(&line))));
    }
    let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0) as u64;
    Ok(digits.iter().fold(0u64, |n, &b| n << 4 | hex(b)))
}

fn trim_end_ws(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Reads and discards the trailer section up to and including its empty line.
fn skip_trailers<R: BufRead>(r: &mut R) -> io::Result<()> {
    let mut budget = MAX_TRAILERS;
    loop {
        let line = read_line(r, budget, "trailer section")?;
        if line.is_empty() {
            return Ok(());
        }
        budget -= line.len() + 2;
    }
}

#[cfg(test)]
mod tests;
