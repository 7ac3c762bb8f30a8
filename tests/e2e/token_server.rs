//! A token server that behaves like Gitea's `/v2/token`, for the registry that
//! `scripts/env-auth.sh` runs with distribution's `auth: token`:
//! - `GET /v2/token?service=…&scope=…` only (any other method → 404, as Gitea does on purpose);
//! - Basic auth: any username with the test password (`IDPUSH_TEST_AUTH_PASSWORD`) is accepted,
//!   and a username starting with `any-` is accepted with any password (for random secrets);
//!   wrong or missing credentials → 401;
//! - answers `{"token":…,"expires_in":…}`, a JWT signed ES256 with the key whose self-signed
//!   certificate is the registry's `rootcertbundle`, the certificate in the `x5c` header, claims
//!   iss/sub/aud/exp/nbf/iat/jti/access;
//! - a username starting with `expire-` gets every other token (first, third, …) already expired
//!   (the registry refuses it with 401), to force a token refresh during a push;
//! - `GET /stats?account=USER` answers how many token requests USER made (any outcome).
//!
//! Started once per test process ([`ensure`]) on the port from the env file. Several test
//! processes may run at once (developers share the environment): the one that binds the port
//! serves; the others keep trying to bind, so one of them takes over when it exits. Counts are
//! read over HTTP, so they work whichever process serves. Use a unique username per test.

use crate::support::{env_file_path, parse_env_lines};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the env file says about the authenticated registries.
#[derive(Debug, Clone)]
pub struct AuthEnv {
    pub user: String,
    pub password: String,
    /// htpasswd registry, `127.0.0.1:PORT`.
    pub basic_registry: String,
    /// token-auth registry, `127.0.0.1:PORT`.
    pub token_registry: String,
    /// where the token server listens, `127.0.0.1:PORT`.
    pub token_server: String,
    service: String,
    issuer: String,
    key: String,
    cert: String,
}

pub fn auth_env() -> &'static AuthEnv {
    static ENV: OnceLock<Result<AuthEnv, String>> = OnceLock::new();
    let r = ENV.get_or_init(|| {
        let path = env_file_path();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!("cannot read {}: {e}: run scripts/test-env.sh start", path.display())
        })?;
        let vars = parse_env_lines(&text);
        let get = |k: &str| {
            vars.get(k).filter(|v| !v.is_empty()).cloned().ok_or_else(|| {
                format!("{} has no {k}= line: run scripts/test-env.sh start (it runs scripts/env-auth.sh)", path.display())
            })
        };
        Ok(AuthEnv {
            user: get("IDPUSH_TEST_AUTH_USER")?,
            password: get("IDPUSH_TEST_AUTH_PASSWORD")?,
            basic_registry: get("IDPUSH_TEST_REGISTRY_BASIC")?,
            token_registry: get("IDPUSH_TEST_REGISTRY_TOKEN")?,
            token_server: get("IDPUSH_TEST_TOKEN_SERVER")?,
            service: get("IDPUSH_TEST_TOKEN_SERVICE")?,
            issuer: get("IDPUSH_TEST_TOKEN_ISSUER")?,
            key: get("IDPUSH_TEST_TOKEN_KEY")?,
            cert: get("IDPUSH_TEST_TOKEN_CERT")?,
        })
    });
    match r {
        Ok(e) => e,
        Err(msg) => panic!("{msg}"),
    }
}

struct Server {
    env: AuthEnv,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    cert_b64: String,
    counts: Mutex<HashMap<String, usize>>,
    issued: Mutex<HashMap<String, usize>>,
}

/// Makes sure a token server answers on the env file's port (this process's, or another test
/// process's). Returns once `/stats` answers.
pub fn ensure() -> &'static AuthEnv {
    static STARTED: OnceLock<()> = OnceLock::new();
    let env = auth_env();
    STARTED.get_or_init(|| {
        let key_der = std::fs::read(&env.key).unwrap_or_else(|e| panic!("{}: {e}", env.key));
        let cert_der = std::fs::read(&env.cert).unwrap_or_else(|e| panic!("{}: {e}", env.cert));
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_der, &rng)
            .unwrap_or_else(|e| panic!("token key {}: {e}", env.key));
        let server: &'static Server = Box::leak(Box::new(Server {
            env: env.clone(),
            key,
            rng,
            cert_b64: b64(&cert_der, STD, true),
            counts: Mutex::new(HashMap::new()),
            issued: Mutex::new(HashMap::new()),
        }));
        let addr = env.token_server.clone();
        std::thread::spawn(move || loop {
            match TcpListener::bind(&addr) {
                Ok(listener) => {
                    for stream in listener.incoming().flatten() {
                        std::thread::spawn(move || {
                            let _ = server.handle(stream);
                        });
                    }
                }
                // Another test process serves it; take over when it goes away.
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        });
    });
    for _ in 0..100 {
        if stats_get(&env.token_server, "_ping").is_some() {
            return env;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the test token server on {} does not answer", env.token_server);
}

/// How many token requests `user` made (as the serving token server counted them).
pub fn token_requests(user: &str) -> usize {
    let env = ensure();
    stats_get(&env.token_server, user).expect("token server /stats")
}

fn stats_get(addr: &str, user: &str) -> Option<usize> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(s, "GET /stats?account={} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n", pct(user)).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split("\r\n\r\n").nth(1)?.trim().parse().ok()
}

impl Server {
    fn handle(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let (mut authorization, mut length) = (None, 0usize);
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                break;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                match n.trim().to_ascii_lowercase().as_str() {
                    "authorization" => authorization = Some(v.trim().to_string()),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length.min(1 << 20)];
        reader.read_exact(&mut body)?;
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (unpct(k), unpct(v))
            })
            .collect();
        let (status, body) = match (method.as_str(), path) {
            ("GET", "/stats") => {
                let user = params.iter().find(|(k, _)| k == "account").map(|(_, v)| v.clone()).unwrap_or_default();
                let n = self.counts.lock().unwrap().get(&user).copied().unwrap_or(0);
                ("200 OK", n.to_string())
            }
            ("GET", "/v2/token") => self.token(authorization.as_deref(), &params),
            // Gitea answers POST /v2/token with 404 on purpose.
            _ => ("404 Not Found", r#"{"errors":[{"code":"NOT_FOUND","message":"not found"}]}"#.to_string()),
        };
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        stream.flush()
    }

    fn token(&self, authorization: Option<&str>, params: &[(String, String)]) -> (&'static str, String) {
        let creds = authorization
            .and_then(|a| a.strip_prefix("Basic "))
            .and_then(|b| unb64(b.trim()))
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));
        let user = creds.as_ref().map(|(u, _)| u.clone()).unwrap_or_default();
        *self.counts.lock().unwrap().entry(user.clone()).or_default() += 1;
        let ok = match &creds {
            Some((u, p)) => !u.is_empty() && (*p == self.env.password || (u.starts_with("any-") && !p.is_empty())),
            None => false,
        };
        if !ok {
            return (
                "401 Unauthorized",
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.to_string(),
            );
        }
        let n = {
            let mut issued = self.issued.lock().unwrap();
            let n = issued.entry(user.clone()).or_default();
            *n += 1;
            *n
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        // `expire-` users: every other token (the first, third, …) is issued already expired
        // (beyond any clock-skew leeway), so the registry refuses it.
        let expired = user.starts_with("expire-") && n % 2 == 1;
        let (iat, exp) = if expired { (now - 900, now - 600) } else { (now, now + 300) };
        let access: Vec<serde_json::Value> = params
            .iter()
            .filter(|(k, _)| k == "scope")
            .filter_map(|(_, scope)| {
                let mut it = scope.splitn(3, ':');
                let (kind, name, actions) = (it.next()?, it.next()?, it.next()?);
                // `registry:catalog:*` too: the catalog (Gitea's token server grants it as well).
                (kind == "repository" || kind == "registry")
                    .then(|| serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
            })
            .collect();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [self.cert_b64]});
        let claims = serde_json::json!({
            "iss": self.env.issuer,
            "sub": user,
            "aud": self.env.service,
            "exp": exp,
            "nbf": iat - 5,
            "iat": iat,
            "jti": format!("{}-{user}-{n}", std::process::id()),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes(), URL, false),
            b64(claims.to_string().as_bytes(), URL, false)
        );
        let sig = self.key.sign(&self.rng, signing_input.as_bytes()).expect("sign");
        let jwt = format!("{signing_input}.{}", b64(sig.as_ref(), URL, false));
        ("200 OK", serde_json::json!({"token": jwt, "expires_in": 300, "issued_at": iat}).to_string())
    }
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64 with the given alphabet, with or without padding.
pub fn b64(input: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 (padded).
pub fn base64_std(input: &[u8]) -> String {
    b64(input, STD, true)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim_end_matches('=').bytes() {
        let v = STD.iter().position(|&x| x == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn unpct(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
