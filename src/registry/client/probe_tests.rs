//! The https-first probe of a loopback registry named without a scheme, against a plain-HTTP
//! fake that answers a TLS ClientHello the way Go's net/http does (`400 Bad Request` in plain
//! text): the registry is then spoken to over http. Without the fallback flag, https stays.

use super::super::test_http::{read_request, response};
use super::super::{Options, Registry};
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A plain-HTTP registry: `/v2/` answers 200; a TLS handshake gets a plain 400. Records what
/// it saw ("tls" or the request line).
fn plain_registry() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut first = [0u8; 1];
            if stream.peek(&mut first).is_ok_and(|n| n == 1) && first[0] == 0x16 {
                log.lock().unwrap().push("tls".to_string());
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n400 Bad Request");
                continue;
            }
            let req = read_request(&stream);
            log.lock().unwrap().push(format!("{} {}", req.method, req.target));
            let _ = stream.write_all(&response("200 OK", &[], "{}"));
        }
    });
    (port, seen)
}

#[test]
fn a_plain_http_answer_to_the_tls_handshake_switches_to_http() {
    let (port, seen) = plain_registry();
    let mut opts = Options::new(format!("https://127.0.0.1:{port}"));
    opts.http_fallback = true;
    opts.retries = 0;
    let mut reg = Registry::new(opts).unwrap();
    reg.ping().unwrap();
    assert_eq!(reg.client.base.url("/v2/"), format!("http://127.0.0.1:{port}/v2/"));
    assert_eq!(*seen.lock().unwrap(), ["tls", "GET /v2/"]);

    // An explicit https:// (no fallback) stays TLS only: the same answer is an error.
    let mut opts = Options::new(format!("https://127.0.0.1:{port}"));
    opts.retries = 0;
    let msg = format!("{:#}", Registry::new(opts).unwrap().ping().unwrap_err());
    assert!(msg.contains("tls handshake") && msg.contains("does the registry speak http"), "{msg}");
}
