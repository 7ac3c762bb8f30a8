//! A server that answers `200 OK` with an HTML page to every request (a captive portal, a web
//! server on the wrong port) as DEST: the push must fail (exit 1), print nothing on stdout and
//! never claim a blob "already there". Regression test for issue 7, defect 1 (a false
//! success: exit 0, "5 already there" and a digest, with nothing stored).

use crate::support::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PAGE: &str = "<html><head><title>Welcome</title></head><body>It works!</body></html>";

/// The lying server on a free loopback port; counts the connections it answered.
fn lying_server() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = answered.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let count = count.clone();
            std::thread::spawn(move || {
                // Whatever arrives (a request head, a TLS handshake) gets the page.
                let _ = conn.set_read_timeout(Some(Duration::from_millis(300)));
                let mut buf = [0u8; 64 * 1024];
                let _ = conn.read(&mut buf);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
                    PAGE.len()
                );
                let _ = conn.write_all(reply.as_bytes());
                count.fetch_add(1, Ordering::SeqCst);
                // Drain the rest of the request (an upload body), so the close is not a reset.
                let _ = std::io::copy(&mut conn.take(1 << 30), &mut std::io::sink());
            });
        }
    });
    (addr, answered)
}

#[test]
fn a_server_answering_200_html_to_everything_is_no_registry() {
    let dir = TestDir::new("lying");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-lying"));
    import_image(&dir.path, &image, 4096);
    images.add(&image);
    let (addr, answered) = lying_server();
    let run = dir.sub("run");

    for quiet in [true, false] {
        let mut args = vec!["push", &image];
        let dest = format!("{addr}/e2e/lying:v1");
        args.push(&dest);
        if quiet {
            args.push("-q");
        }
        let out = Idpush::new(&run, &env().docker_host).args(&args).run();
        assert_eq!(out.code, Some(1), "{}", out.describe());
        assert!(out.stdout.is_empty(), "nothing on stdout without a confirmed push:\n{}", out.describe());
        assert!(!out.stderr.contains("already there") && !out.stderr.contains("skipped"), "{}", out.describe());
        assert!(!out.stderr.contains("pushed "), "{}", out.describe());
        let last = out.error_lines().last().copied().unwrap_or("").to_string();
        assert!(last.contains("registry answered 200 ok to HEAD") && last.contains("Content-Length"), "{}", out.describe());
        if quiet {
            assert_eq!(out.error_lines().len(), 1, "one error line with -q:\n{}", out.describe());
        }
        assert!(dir_entries(&run.join("tmp")).is_empty(), "idpush left files in TMPDIR");
    }
    assert!(answered.load(Ordering::SeqCst) > 0, "idpush never reached the lying server");
}
