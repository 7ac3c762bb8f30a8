//! Talking to an OCI registry (distribution spec v2): ping, blob existence, blob upload and
//! manifest push, with Basic or Docker-token authentication and retries.
//!
//! Blocking I/O over one `ureq` agent, whose pool keeps the connection alive between requests
//! (every response body is read to its end, so the connection goes back to the pool; ureq
//! drops one idle for 15 s or closed by the server). Files:
//! - `client.rs`: HTTP exchange, response deadlines, the
//!   TLS probe that settles https or http for a loopback registry named without a scheme;
//! - `url.rs`: the base URL, origins, URLs shown without secrets, `Location` resolution;
//! - `auth.rs`: challenges, Basic, token exchange and cache, the refusal message;
//! - `upload.rs`: `blob_exists`, `upload_blob` (with chunked resume); `manifests.rs`: `put_manifest`; only
//!   answers that confirm the blob or manifest count as success;
//! - `single.rs`: the single-request upload (`POST …/blobs/uploads/?digest=` with the body),
//!   and what this registry was found to do with it;
//! - `list.rs`: `catalog` and `tags`, every page (`Link`, `n` + `last`);
//! - `manifests.rs`: `get_manifest` (any manifest type) and `get_small_blob` (a config);
//! - `blobs.rs`: `get_blob`, a blob of any size streamed to the caller (a base's layers);
//! - `mount.rs`: `mount_or_upload`, the cross-repository mount with its fallbacks;
//! - `classify.rs`: statuses and transport errors → classified errors;
//! - `retry.rs`: backoff for transient failures.
//!
//! Credentials never appear in messages or logs: they are held as [`Secret`]s, exposed only
//! when building an `Authorization` header, and scrubbed from any registry text we quote.

mod auth;
mod blobs;
mod classify;
mod client;
mod list;
mod manifests;
mod retry;
#[cfg(test)]
pub(crate) mod test_http;
mod mount;
mod single;
mod tls;
mod trace;
mod upload;
mod url;

pub use mount::BlobOutcome;
pub use retry::{with_retry, RetryPolicy};
pub use upload::{parse_size, DEFAULT_CHUNK_SIZE};

use crate::secret::Secret;
use client::{Client, Endpoint, Payload, Reply};
use std::time::Duration;
use ureq::http::Method;

/// The registry of an idpbuilder cluster (Gitea's container registry).
pub const DEFAULT_BASE_URL: &str = "https://gitea.cnoe.localtest.me:8443";
/// Retries after a transient failure, by default (10 attempts in all).
pub const DEFAULT_RETRIES: u32 = 9;
/// The longest wait between retries, by default.
pub const DEFAULT_RETRY_MAX_DELAY: Duration = Duration::from_secs(30);
/// How long to wait for a TCP connection (and TLS handshake), by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a read or write may wait for the network without progress, by default.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Who we are to the registry. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// No credentials (a Bearer challenge still gets an anonymous token).
    Anonymous,
    /// A user and password (or personal access token used as a password): sent as Basic auth,
    /// or exchanged for a token when the registry asks for Bearer.
    Basic { username: String, password: Secret },
    /// A bearer token sent as it is.
    Token(Secret),
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged for a registry token with
    /// `POST <realm>` (`grant_type=refresh_token`), or with GET when the realm answers 404.
    IdentityToken { username: Option<String>, token: Secret },
}

/// How to reach the registry.
#[derive(Debug, Clone)]
pub struct Options {
    /// Scheme and host[:port], no path: "https://gitea.cnoe.localtest.me:8443",
    /// "http://127.0.0.1:5000".
    pub base_url: String,
    /// `base_url` is https for a loopback registry named without a scheme: if it answers the
    /// TLS handshake in plain HTTP, use `http://` instead (decided at the first ping, logged at
    /// debug). A registry that fails TLS any other way (an untrusted certificate, say) gets no
    /// fallback; verification stays on unless `insecure`.
    pub http_fallback: bool,
    /// Skip TLS certificate verification (and allow credentials over plain http).
    pub insecure: bool,
    /// A PEM bundle of CAs to trust besides the system's, the bundled ones and certs.d.
    pub ca_cert: Option<std::path::PathBuf>,
    /// Blobs larger than this go up in chunks of this size (see `upload.rs`).
    pub chunk_size: u64,
    pub credentials: Credentials,
    /// Retries after a transient failure (attempts = retries + 1).
    pub retries: u32,
    /// The longest wait between retries.
    pub retry_max_delay: Duration,
    /// Connection (TCP + TLS) timeout.
    pub connect_timeout: Duration,
    /// Idle timeout of each read and write of an upload stream; and the deadline, as a whole,
    /// for a response's headers and then for its body read into memory (ping, errors, tokens),
    /// so a server trickling a byte at a time cannot hang a push.
    pub read_timeout: Duration,
}

impl Options {
    /// Anonymous, verified TLS, default retries.
    #[cfg(test)]
    pub fn new(base_url: impl Into<String>) -> Options {
        Options {
            base_url: base_url.into(),
            http_fallback: false,
            insecure: false,
            ca_cert: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            credentials: Credentials::Anonymous,
            retries: DEFAULT_RETRIES,
            retry_max_delay: DEFAULT_RETRY_MAX_DELAY,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
        }
    }
}

/// A connection to one registry. Operations take `&mut self` because they learn the auth
/// challenge and cache tokens.
pub struct Registry {
    client: Client,
    auth: auth::Auth,
    policy: RetryPolicy,
    /// The chunk size for large blobs; halved (down to 1 MiB) when a chunk gets 413.
    chunk_size: u64,
    /// Whether the first ping may still switch an https base to http (`Options::http_fallback`).
    http_fallback: bool,
    /// What the registry did with a single-request upload (`POST …/blobs/uploads/?digest=`
    /// with the body), learnt in this run: `None` not tried yet, `Some(true)` it stored the
    /// blob (201), `Some(false)` it did not (see `single.rs`).
    single_post: Option<bool>,
    /// What this run learnt of that from a clear answer (201, 202, a refusal of the form), to
    /// be remembered per registry; not a transport failure or a 413.
    single_post_learnt: Option<bool>,
}

impl Registry {
    pub fn new(opts: Options) -> anyhow::Result<Registry> {
        let base = Endpoint::parse(&opts.base_url)?;
        if !matches!(opts.credentials, Credentials::Anonymous) {
            guard_wire_logging();
        }
        if opts.insecure && base.scheme == "https" {
            log::debug!("tls certificate verification is off for {}", base.host());
        }
        let http_fallback = opts.http_fallback && base.scheme == "https";
        Ok(Registry {
            client: Client::new(
                base,
                &tls::TlsOptions { insecure: opts.insecure, ca_cert: opts.ca_cert.clone() },
                opts.connect_timeout,
                opts.read_timeout,
            )?,
            chunk_size: opts.chunk_size.max(upload::MIN_CHUNK_SIZE),
            http_fallback,
            single_post: None,
            single_post_learnt: None,
            auth: auth::Auth::new(opts.credentials),
            policy: RetryPolicy::from_env(opts.retries, opts.retry_max_delay),
        })
    }


    /// GET /v2/ — checks the registry answers; remembers the auth challenge. The first ping
    /// also settles https or http for a loopback registry named without a scheme.
    pub fn ping(&mut self) -> anyhow::Result<()> {
        let policy = self.policy.clone();
        let what = format!("reaching registry {}", self.client.base.host());
        with_retry(&what, &policy, || {
            if self.http_fallback && self.settle_scheme() {
                self.http_fallback = false;
            }
            let url = self.client.base.url("/v2/");
            let authorization = self.auth.header(&self.client, None)?;
            let reply = self.client.send(&Method::GET, &url, authorization.as_ref(), &[], Payload::None)?;
            if let Some(err) = self.redirect_refused("GET", &url, &reply) {
                return Err(err);
            }
            match reply.status {
                200..=299 => Ok(()),
                401 => {
                    let retry_helps = self.auth.learn(&reply, authorization.is_some())?;
                    if authorization.is_some() && !retry_helps {
                        return Err(self.refused(None, &reply));
                    }
                    Ok(())
                }
                _ => Err(self.unexpected("GET", &url, None, &reply)),
            }
        })
    }

    /// `GET https://<host>/v2/` without credentials: if the server answers the TLS handshake
    /// in plain HTTP, use http from now on; if it speaks TLS (even with a certificate we do not
    /// trust), stay with https, whose errors the ping then reports. Returns whether that is
    /// decided: not when the server could not be reached (the next attempt probes again).
    fn settle_scheme(&mut self) -> bool {
        let host = self.client.base.host().to_string();
        match self.client.probe_tls(&self.client.base.url("/v2/")) {
            client::Probe::Tls => {
                log::debug!("registry {host} speaks https");
                true
            }
            client::Probe::PlainHttp => {
                log::debug!("registry {host} answered the tls handshake in plain http: using http://{host}");
                self.client.base = Endpoint { scheme: "http".into(), authority: self.client.base.authority.clone() };
                true
            }
            client::Probe::Unreachable(why) => {
                log::debug!("registry {host} could not be reached over https ({why}): https or http is not decided yet");
                false
            }
        }
    }

    /// Sends a request about `repo`, authenticated for the challenge known so far; on a 401
    /// learns the challenge and tries once more with fresh credentials. A 401 after that is an
    /// auth error. `payload` is called for each attempt. Authorization goes only to the
    /// registry's own scheme, host and port. Other statuses are returned for the caller.
    fn exchange<'a>(
        &mut self,
        method: &Method,
        url: &str,
        repo: Option<&str>,
        headers: &[(&str, &str)],
        payload: impl FnMut() -> anyhow::Result<Payload<'a>>,
    ) -> anyhow::Result<Reply> {
        self.exchange_from(method, url, repo, None, headers, payload)
    }

    /// [`Registry::exchange`] for a request that also reads from repository `from` (a mount):
    /// a token then also carries `repository:<from>:pull`.
    fn exchange_from<'a>(
        &mut self,
        method: &Method,
        url: &str,
        repo: Option<&str>,
        from: Option<&str>,
        headers: &[(&str, &str)],
        payload: impl FnMut() -> anyhow::Result<Payload<'a>>,
    ) -> anyhow::Result<Reply> {
        self.exchange_to(method, url, repo, from, headers, payload, None)
    }

    /// [`Registry::exchange_from`] whose 200 answer's body streams into `sink` (see
    /// `Client::send_to`) rather than into the reply.
    #[allow(clippy::too_many_arguments)]
    fn exchange_to<'a>(
        &mut self,
        method: &Method,
        url: &str,
        repo: Option<&str>,
        from: Option<&str>,
        headers: &[(&str, &str)],
        mut payload: impl FnMut() -> anyhow::Result<Payload<'a>>,
        mut sink: Option<&mut client::Sink<'_>>,
    ) -> anyhow::Result<Reply> {
        let ours = self.client.base.same_origin(url);
        let mut reauthenticated = false;
        loop {
            let authorization = if ours { self.auth.header_with_source(&self.client, repo, from)? } else { None };
            let sink = sink.as_mut().map(|s| &mut **s as &mut client::Sink<'_>);
            let reply = self.client.send_to(method, url, authorization.as_ref(), headers, payload()?, sink)?;
            if let Some(err) = self.redirect_refused(method.as_str(), url, &reply) {
                return Err(err);
            }
            if reply.status != 401 || !ours {
                return Ok(reply);
            }
            if !reauthenticated && self.auth.learn(&reply, authorization.is_some())? {
                reauthenticated = true;
                continue;
            }
            return Err(self.refused(repo, &reply));
        }
    }

    /// A 401/403 from another host that a GET/HEAD was redirected to (blob storage): no
    /// credentials go there, so the refusal is not about ours; say so instead of "check the
    /// password".
    fn redirect_refused(&self, method: &str, url: &str, reply: &Reply) -> Option<anyhow::Error> {
        if !matches!(reply.status, 401 | 403) || reply.final_url.is_empty() || client::origin(&reply.final_url) == client::origin(url) {
            return None;
        }
        let target = client::authority_of(&reply.final_url);
        Some(crate::error::fail(
            crate::error::Cause::BadAnswer,
            format!(
                "registry {} redirected {method} {} to {target}, which refused it without credentials ({}): \
                 idpush sends no credentials to another host, so the redirect must carry its own authorization (a signed url)",
                self.client.base.host(),
                client::display_url(url),
                reply.status
            ),
        ))
    }

    /// The auth error for a refused request.
    fn refused(&self, repo: Option<&str>, reply: &Reply) -> anyhow::Error {
        let detail = self.scrubbed_detail(reply);
        self.auth.refused(self.client.base.host(), repo, &reply.status.to_string(), detail)
    }

    /// The classified error for a response the caller did not expect; auth refusals name the
    /// user and the repository.
    fn unexpected(&self, method: &str, url: &str, repo: Option<&str>, reply: &Reply) -> anyhow::Error {
        let body = self.auth.scrub(&String::from_utf8_lossy(&reply.body));
        let err = classify::response_error(method, url, reply.status, &reply.headers, body.as_bytes());
        if crate::error::class_of(&err) == crate::error::Class::Auth {
            return self.refused(repo, reply);
        }
        err
    }

    /// The error for a success status that does not confirm what the request was for (a blob
    /// there, a blob or manifest stored): names the request, the answer and what is missing.
    fn unconfirmed(&self, method: &str, url: &str, reply: &Reply, why: &str) -> anyhow::Error {
        let reason = ureq::http::StatusCode::from_u16(reply.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .map(|r| format!(" {}", r.to_ascii_lowercase()))
            .unwrap_or_default();
        let mut message = format!(
            "registry answered {}{reason} to {method} {} without confirming it: {why}",
            reply.status,
            client::display_url(url)
        );
        if let Some(detail) = self.scrubbed_detail(reply) {
            message.push_str(&format!(" (it sent: {detail})"));
        }
        crate::error::fail(crate::error::Cause::BadAnswer, message)
    }

    fn scrubbed_detail(&self, reply: &Reply) -> Option<String> {
        classify::describe_body(self.auth.scrub(&String::from_utf8_lossy(&reply.body)).as_bytes())
    }
}

/// At trace level `ureq_proto` hex-dumps every request as sent, `Authorization` header
/// included. If that logging is on, cap the global log level at debug (the logger setup should
/// filter `ureq_proto` to debug, so that this never fires).
fn guard_wire_logging() {
    if log::log_enabled!(target: "ureq_proto::util", log::Level::Trace) {
        log::warn!("trace logging of ureq_proto would print credentials: logging capped at debug");
        log::set_max_level(log::LevelFilter::Debug);
    }
}

#[cfg(test)]
mod tests {
    //! A fake registry on a loopback socket, for the token flow.

    use super::*;
    use crate::digest::Digest;
    use crate::error::{class_of, Class};
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        target: String,
        authorization: Option<String>,
        content_type: Option<String>,
        body: Vec<u8>,
    }

    /// Serves one request per connection, forever (the thread dies with the test process).
    /// `respond` gets the base URL and the request and returns the status line plus headers
    /// (each ending in CRLF) and the body.
    fn fake_registry(respond: fn(&str, &Seen) -> (String, String)) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (base2, seen2) = (base.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let r = super::test_http::read_request(&stream);
                let (authorization, content_type) =
                    (r.header("authorization").map(str::to_string), r.header("content-type").map(str::to_string));
                let req = Seen { method: r.method, target: r.target, authorization, content_type, body: r.body };
                let (head, body) = respond(&base2, &req);
                seen2.lock().unwrap().push(req);
                let _ = write!(stream, "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            }
        });
        (base, seen)
    }

    const BLOB: &str = "/v2/team/app/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const TOKEN: &str = "/token?service=fake&scope=repository%3Ateam%2Fapp%3Apull%2Cpush";

    /// A token registry: alice/s3cret gets token tok-1 for pushing to team/app.
    fn token_registry(base: &str, req: &Seen) -> (String, String) {
        let basic = format!("Basic {}", auth::base64(b"alice:s3cret"));
        let digest = Digest::of(b"{\"schemaVersion\":2}");
        let reply = |head: String, body: &str| (head, body.to_string());
        match (req.method.as_str(), req.target.as_str()) {
            ("GET", TOKEN) if req.authorization.as_deref() == Some(basic.as_str()) => reply(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".into(),
                r#"{"token":"tok-1","expires_in":300}"#,
            ),
            ("GET", TOKEN) => reply("HTTP/1.1 401 Unauthorized\r\n".into(), ""),
            _ if req.authorization.as_deref() != Some("Bearer tok-1") => reply(
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{base}/token\",service=\"fake\",scope=\"*\"\r\n"
                ),
                "",
            ),
            ("HEAD", BLOB) => reply("HTTP/1.1 200 OK\r\n".into(), ""),
            ("PUT", "/v2/team/app/manifests/v1") => {
                reply(format!("HTTP/1.1 201 Created\r\nDocker-Content-Digest: {digest}\r\n"), "")
            }
            _ => reply("HTTP/1.1 404 Not Found\r\n".into(), ""),
        }
    }

    /// Like Gitea: the token realm answers POST with 404.
    fn gitea_like(base: &str, req: &Seen) -> (String, String) {
        if req.method == "POST" && req.target.starts_with("/token") {
            return ("HTTP/1.1 404 Not Found\r\n".into(), String::new());
        }
        token_registry(base, req)
    }

    #[test]
    fn identity_token_posts_then_gets_and_expired_tokens_are_refreshed() {
        let (base, seen) = fake_registry(gitea_like);
        let empty: Digest = BLOB.rsplit('/').next().unwrap().parse().unwrap();
        let mut opts = Options::new(&base);
        opts.credentials = Credentials::IdentityToken { username: Some("alice".into()), token: Secret::new("s3cret") };
        opts.retry_max_delay = Duration::ZERO;
        let mut reg = Registry::new(opts).unwrap();
        assert!(reg.blob_exists("team/app", &empty, 0).unwrap());
        {
            let seen = seen.lock().unwrap();
            let post = seen.iter().find(|s| s.method == "POST").expect("a POST to the realm");
            let form = String::from_utf8_lossy(&post.body).into_owned();
            for part in ["grant_type=refresh_token", "refresh_token=s3cret", "client_id=idpush", "service=fake", "scope=repository%3Ateam%2Fapp%3Apull%2Cpush"] {
                assert!(form.contains(part), "{form}");
            }
            assert_eq!(post.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
            assert!(seen.iter().any(|s| s.method == "GET" && s.target == TOKEN), "no GET fallback");
        }
        // A token past its lifetime is fetched anew before use, without a 401 first.
        let tokens = |seen: &Arc<Mutex<Vec<Seen>>>| seen.lock().unwrap().iter().filter(|s| s.target.starts_with("/token")).count();
        let before = tokens(&seen);
        assert!(reg.blob_exists("team/app", &empty, 0).unwrap());
        assert_eq!(tokens(&seen), before, "a valid token is reused");
        reg.auth.expire_tokens();
        seen.lock().unwrap().clear();
        assert!(reg.blob_exists("team/app", &empty, 0).unwrap());
        let calls: Vec<(String, u16)> = seen.lock().unwrap().iter().map(|s| (s.method.clone(), 0)).collect();
        assert_eq!(calls.len(), 3, "POST + GET token, then HEAD: {calls:?}");
        assert_eq!(tokens(&seen), 2);
    }

    fn registry(base: &str, password: &str) -> Registry {
        let mut opts = Options::new(base);
        opts.credentials = Credentials::Basic { username: "alice".into(), password: Secret::new(password) };
        opts.retry_max_delay = Duration::ZERO;
        Registry::new(opts).unwrap()
    }

    #[test]
    fn token_flow_against_a_fake_registry() {
        let (base, seen) = fake_registry(token_registry);
        let empty: Digest = BLOB.rsplit('/').next().unwrap().parse().unwrap();

        // 401 challenge → token GET with Basic → retry with Bearer.
        let mut reg = registry(&base, "s3cret");
        assert!(reg.blob_exists("team/app", &empty, 0).unwrap());
        // The token is cached for the next request.
        let manifest = b"{\"schemaVersion\":2}";
        let mt = "application/vnd.oci.image.manifest.v1+json";
        assert_eq!(reg.put_manifest("team/app", "v1", mt, manifest).unwrap(), Digest::of(manifest));
        {
            let seen = seen.lock().unwrap();
            let calls: Vec<(&str, &str, Option<&str>)> =
                seen.iter().map(|s| (s.method.as_str(), s.target.as_str(), s.authorization.as_deref())).collect();
            let basic = format!("Basic {}", auth::base64(b"alice:s3cret"));
            assert_eq!(
                calls,
                [
                    ("HEAD", BLOB, None),
                    ("GET", TOKEN, Some(basic.as_str())),
                    ("HEAD", BLOB, Some("Bearer tok-1")),
                    ("PUT", "/v2/team/app/manifests/v1", Some("Bearer tok-1")),
                ]
            );
            assert_eq!(seen[3].content_type.as_deref(), Some(mt));
            assert_eq!(seen[3].body, manifest);
        }

        // A wrong password: the token endpoint answers 401 → auth error after exactly one
        // token request, naming the user, never the password.
        seen.lock().unwrap().clear();
        let mut reg = registry(&base, "wrong-pw");
        let err = reg.blob_exists("team/app", &empty, 0).unwrap_err();
        assert_eq!(class_of(&err), Class::Auth);
        let msg = format!("{err:#}");
        assert!(msg.contains("refused user alice for push to team/app"), "{msg}");
        assert!(!msg.contains("wrong-pw"), "{msg}");
        let tokens = seen.lock().unwrap().iter().filter(|s| s.target.starts_with("/token")).count();
        assert_eq!(tokens, 1);
    }
}
