//! Chunked uploads against a fake registry that keeps Gitea's rules: every PATCH has a
//! Content-Range whose start is the bytes received so far, bodies over a limit get 413.

use super::super::test_http::read_request;
use super::super::{Options, Registry};
use crate::digest::Digest;
use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct State {
    received: Vec<u8>,
    /// (method, target, content-range, content-length)
    seen: Vec<(String, String, Option<String>, usize)>,
    stored: Option<Vec<u8>>,
    /// Requests to refuse without storing anything: (method, nth request of that method
    /// counting from 1, status line).
    faults: Vec<(&'static str, usize, &'static str)>,
    /// Sum of PATCH body bytes received, refused ones included.
    patched: usize,
}

fn fake(limit: usize) -> (String, Arc<Mutex<State>>) {
    fake_with(limit, Vec::new())
}

fn fake_with(limit: usize, faults: Vec<(&'static str, usize, &'static str)>) -> (String, Arc<Mutex<State>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = Arc::new(Mutex::new(State { faults, ..State::default() }));
    let st = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let req = read_request(&stream);
            let range = req.header("content-range").map(str::to_string);
            let (method, target, body) = (req.method, req.target, req.body);
            let length = body.len();
            let mut s = st.lock().unwrap();
            s.seen.push((method.clone(), target.clone(), range.clone(), length));
            if method == "PATCH" {
                s.patched += length;
            }
            let nth = s.seen.iter().filter(|r| r.0 == method).count();
            let fault = s.faults.iter().find(|f| f.0 == method && f.1 == nth).map(|f| f.2);
            let n = s.received.len();
            let head = match method.as_str() {
                _ if fault.is_some() => fault.unwrap().to_string(),
                _ if length > limit => "413 Request Entity Too Large\r\nContent-Type: text/html".to_string(),
                "POST" => {
                    s.received.clear();
                    "202 Accepted\r\nLocation: /up/1?n=0".to_string()
                }
                "PATCH" => match range.as_deref().and_then(|r| r.split_once('-')) {
                    Some((start, _)) if start.parse::<usize>() == Ok(n) => {
                        s.received.extend_from_slice(&body);
                        let n = s.received.len();
                        format!("202 Accepted\r\nLocation: /up/1?n={n}\r\nRange: 0-{}", n - 1)
                    }
                    _ => "416 Range Not Satisfiable".to_string(),
                },
                "DELETE" => "204 No Content".to_string(),
                "GET" => format!("204 No Content\r\nLocation: /up/1?n={n}\r\nRange: 0-{}", n.saturating_sub(1)),
                "PUT" => {
                    s.received.extend_from_slice(&body);
                    let want = target.rsplit_once("digest=").map(|(_, d)| d.replace("%3A", ":")).unwrap_or_default();
                    if Digest::of(&s.received).to_string() == want {
                        s.stored = Some(std::mem::take(&mut s.received));
                        "201 Created".to_string()
                    } else {
                        "400 Bad Request".to_string()
                    }
                }
                _ => "404 Not Found".to_string(),
            };
            drop(s);
            let _ = write!(stream, "HTTP/1.1 {head}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (base, state)
}

fn push(limit: usize, chunk: u64, size: usize) -> Arc<Mutex<State>> {
    let (base, state) = fake(limit);
    let mut opts = Options::new(base);
    opts.chunk_size = chunk;
    opts.retry_max_delay = Duration::ZERO;
    let mut reg = Registry::new(opts).unwrap();
    let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    let dir = crate::test_support::TempDir::new("chunk");
    let path = dir.join("blob");
    std::fs::write(&path, &data).unwrap();
    let digest = Digest::of(&data);
    let result = reg.upload_blob("team/app", &digest, size as u64, &path);
    let _ = std::fs::remove_file(&path);
    result.unwrap();
    assert_eq!(state.lock().unwrap().stored.as_deref(), Some(&data[..]));
    state
}

const MIB: usize = 1 << 20;

fn patches(state: &Arc<Mutex<State>>) -> Vec<(String, usize)> {
    let s = state.lock().unwrap();
    s.seen.iter().filter(|r| r.0 == "PATCH").map(|r| (r.2.clone().expect("PATCH without Content-Range"), r.3)).collect()
}

#[test]
fn large_blobs_go_in_chunks_following_locations() {
    let state = push(usize::MAX, MIB as u64, 2 * MIB + 5);
    let m = MIB;
    assert_eq!(
        patches(&state),
        [(format!("0-{}", m - 1), m), (format!("{m}-{}", 2 * m - 1), m), (format!("{}-{}", 2 * m, 2 * m + 4), 5)]
    );
    let s = state.lock().unwrap();
    let put = s.seen.last().unwrap();
    assert!(put.0 == "PUT" && put.1.starts_with(&format!("/up/1?n={}&digest=sha256%3A", 2 * m + 5)) && put.3 == 0, "{:?}", put.1);
}

#[test]
fn a_413_on_a_chunk_halves_it() {
    let state = push(3 * MIB / 2, 4 * MIB as u64, 5 * MIB);
    let p = patches(&state);
    // 4 MiB and 2 MiB refused, then 1 MiB chunks from where the registry is.
    assert_eq!(p[0].1, 4 * MIB);
    assert_eq!(p[1].1, 2 * MIB);
    assert!(p[2..].iter().all(|(_, len)| *len == MIB), "{p:?}");
    assert_eq!(p.len(), 2 + 5);
}

#[test]
fn an_upload_redirected_with_307_is_sent_again_to_the_new_location() {
    let (storage, stored) = fake(usize::MAX);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let req = read_request(&stream);
            let target = req.target;
            let head = if req.method == "POST" {
                "202 Accepted\r\nLocation: /up/1".to_string()
            } else {
                let query = target.split_once('?').map_or("", |(_, q)| q);
                format!("307 Temporary Redirect\r\nLocation: {storage}/store/1?{query}")
            };
            let _ = write!(stream, "HTTP/1.1 {head}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let mut opts = Options::new(base);
    opts.retry_max_delay = Duration::ZERO;
    let mut reg = Registry::new(opts).unwrap();
    let data = b"redirected blob".to_vec();
    let dir = crate::test_support::TempDir::new("redirect");
    let path = dir.join("blob");
    std::fs::write(&path, &data).unwrap();
    let result = reg.upload_blob("team/app", &Digest::of(&data), data.len() as u64, &path);
    let _ = std::fs::remove_file(&path);
    result.unwrap();
    assert_eq!(stored.lock().unwrap().stored.as_deref(), Some(&data[..]));
}

#[test]
fn a_413_on_a_monolithic_upload_falls_back_to_chunks() {
    let size = 2 * MIB + 3;
    let state = push(MIB + MIB / 2, 512 * MIB as u64, size);
    let s = state.lock().unwrap();
    let methods: Vec<&str> = s.seen.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(&methods[..2], ["POST", "PUT"]);
    assert!(s.seen[1].3 == size, "the monolithic PUT carried the blob");
    drop(s);
    let p = patches(&state);
    assert_eq!(p.iter().map(|x| x.1).sum::<usize>(), size, "{p:?}");
}

/// A 503 on the third chunk and on the final PUT (transient, nothing stored): the upload goes
/// on in the same session from what `GET <location>` confirms, resending one chunk, not the
/// blob; nothing is cancelled.
#[test]
fn transient_failures_of_a_chunk_and_of_the_final_put_resume_the_session() {
    let size = 4 * MIB + 7;
    let (base, state) = fake_with(usize::MAX, vec![("PATCH", 3, "503 Service Unavailable"), ("PUT", 1, "503 Service Unavailable")]);
    let mut opts = Options::new(base);
    opts.chunk_size = MIB as u64;
    opts.retry_max_delay = Duration::ZERO;
    let mut reg = Registry::new(opts).unwrap();
    let data: Vec<u8> = (0..size).map(|i| (i * 13 % 251) as u8).collect();
    let dir = crate::test_support::TempDir::new("chunk-resume");
    let path = dir.join("blob");
    std::fs::write(&path, &data).unwrap();
    let result = reg.upload_blob("team/app", &Digest::of(&data), size as u64, &path);
    let _ = std::fs::remove_file(&path);
    result.unwrap();
    let s = state.lock().unwrap();
    assert_eq!(s.stored.as_deref(), Some(&data[..]));
    let count = |m: &str| s.seen.iter().filter(|r| r.0 == m).count();
    assert_eq!(count("POST"), 1, "one session: {:?}", s.seen);
    assert_eq!(count("GET"), 2, "a status check after each failure: {:?}", s.seen);
    assert_eq!(count("DELETE"), 0);
    assert_eq!(count("PUT"), 2);
    assert_eq!(s.patched, size + MIB, "the refused chunk is sent again, nothing more");
}

/// A permanent failure mid-way cancels the session (DELETE) and fails the upload.
#[test]
fn a_session_given_up_on_is_cancelled() {
    let (base, state) = fake_with(usize::MAX, vec![("PATCH", 2, "400 Bad Request")]);
    let mut opts = Options::new(base);
    opts.chunk_size = MIB as u64;
    opts.retry_max_delay = Duration::ZERO;
    let mut reg = Registry::new(opts).unwrap();
    let data = vec![7u8; 3 * MIB];
    let dir = crate::test_support::TempDir::new("chunk-cancel");
    let path = dir.join("blob");
    std::fs::write(&path, &data).unwrap();
    let result = reg.upload_blob("team/app", &Digest::of(&data), data.len() as u64, &path);
    let _ = std::fs::remove_file(&path);
    assert!(result.is_err());
    let s = state.lock().unwrap();
    let last = s.seen.last().unwrap();
    assert_eq!(last.0, "DELETE", "{:?}", s.seen);
    assert!(last.1.starts_with("/up/1?n="), "{:?}", last.1);
}
