//! Response deadlines: a server that trickles its answer a byte at a time (each read gets a
//! byte, so a per-read timeout never fires) is cut off once the headers, or the body read
//! into memory, took longer than the read timeout in all.

use super::super::test_http::read_request;
use super::super::{Credentials, Options, Registry};
use crate::error::{class_of, Class};
use crate::secret::Secret;
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Serves each connection: `fast(request target, base)` is written at once, then `slow(..)`
/// one byte every 100 ms (about 8 s for the 80 bytes the tests use), until the client goes.
fn trickling(fast: fn(&str, &str) -> String, slow: fn(&str) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let b = base.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let base = b.clone();
            std::thread::spawn(move || {
                let req = read_request(&stream);
                if stream.write_all(fast(&req.target, &base).as_bytes()).is_err() {
                    return;
                }
                for byte in slow(&req.target).bytes() {
                    std::thread::sleep(Duration::from_millis(100));
                    if stream.write_all(&[byte]).and_then(|_| stream.flush()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    base
}

/// Pings with a 1 s read timeout; the error must come within about that and say why.
fn ping_times_out(base: &str, credentials: Credentials) {
    let mut opts = Options::new(base);
    opts.read_timeout = Duration::from_secs(1);
    opts.retries = 0;
    opts.credentials = credentials;
    let mut reg = Registry::new(opts).unwrap();
    let start = Instant::now();
    let err = reg.ping().expect_err("a trickled answer must time out");
    let took = start.elapsed();
    let msg = format!("{err:#}");
    assert!(took < Duration::from_millis(3500), "took {took:?}: {msg}");
    assert!(msg.contains("timed out") && msg.contains("--read-timeout"), "{msg}");
    assert_eq!(class_of(&err), Class::Transient, "{msg}");
}

const PAD: &str = "X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";

#[test]
fn trickled_headers_of_the_ping_time_out() {
    let base = trickling(|_, _| String::new(), |_| format!("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n{PAD}"));
    ping_times_out(&base, Credentials::Anonymous);
}

#[test]
fn a_trickled_401_body_times_out() {
    let base = trickling(
        |_, _| "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 80\r\n\r\n".into(),
        |_| PAD.chars().cycle().take(80).collect(),
    );
    ping_times_out(&base, Credentials::Anonymous);
}

#[test]
fn a_trickled_token_body_times_out() {
    let base = trickling(
        |target, base| {
            if target.starts_with("/token") {
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n".into()
            } else {
                // Connection: close, as the server drops the connection after one answer:
                // without it the client may reuse the connection before it sees the close.
                format!("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{base}/token\",service=\"s\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            }
        },
        |target| if target.starts_with("/token") { format!("{{\"token\":\"{}\"}}", "t".repeat(68)) } else { String::new() },
    );
    let basic = Credentials::Basic { username: "alice".into(), password: Secret::new("pw") };
    // The ping learns the challenge; the token is fetched for the first repository request.
    let mut opts = Options::new(&base);
    opts.read_timeout = Duration::from_secs(1);
    opts.retries = 0;
    opts.credentials = basic;
    let mut reg = Registry::new(opts).unwrap();
    reg.ping().unwrap();
    let start = Instant::now();
    let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().unwrap();
    let err = reg.blob_exists("team/app", &empty, 0).expect_err("a trickled token must time out");
    let msg = format!("{err:#}");
    assert!(start.elapsed() < Duration::from_millis(3500), "took {:?}: {msg}", start.elapsed());
    assert!(msg.contains("timed out") && msg.contains("--read-timeout") && msg.contains("/token"), "{msg}");
}
