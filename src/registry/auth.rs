//! Authentication: parsing `WWW-Authenticate` challenges, Basic credentials, the Docker token
//! exchange with its per-scope cache, and the "refused" error.
//!
//! The flow (driven by `Registry::exchange`): requests carry whatever [`Auth::header`] says for
//! the challenge known so far (nothing before the first 401, except a static token). A 401
//! hands its challenge to [`Auth::learn`], which says whether one more attempt can help; a
//! second 401 is an auth error. Secrets travel only as [`Secret`] values and are exposed only
//! where they become a header.

use super::client::{display_url, origin, with_query, Client, Payload, Reply};
use super::Credentials;
use crate::error::{fail, Cause};
use crate::secret::Secret;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use ureq::http::Method;

/// Tokens live at least this long (the token spec's default `expires_in`).
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// A token this close to expiry is refreshed before use.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// base64

/// Standard base64 (RFC 4648, with padding).
pub(super) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// WWW-Authenticate

/// One challenge of a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Challenge {
    /// The scheme, lowercased (`bearer`, `basic`, …).
    pub scheme: String,
    /// Parameters with lowercased names, in order; values unquoted.
    pub params: Vec<(String, String)>,
    /// A token68 value (`Negotiate abc==`), if the challenge has one instead of parameters.
    pub token68: Option<String>,
}

impl Challenge {
    /// A parameter's value; names are case-insensitive, the first occurrence wins.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_token68_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/".contains(c)
}

/// Parses a `WWW-Authenticate` value (RFC 9110 §11.6.1): one or more comma-separated
/// challenges, each a case-insensitive scheme followed by a token68 or by `name=value`
/// parameters whose values are tokens or quoted strings (with `\` escapes, commas allowed).
/// Returns an error, never panics, on anything malformed.
pub(super) fn parse_challenges(header: &str) -> anyhow::Result<Vec<Challenge>> {
    let malformed = |why: &str| {
        let shown: String = header.chars().take(200).map(|c| if c.is_control() { ' ' } else { c }).collect();
        fail(Cause::BadAnswer, format!("malformed WWW-Authenticate header ({why}): {shown:?}"))
    };
    let chars: Vec<char> = header.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i] == ' ' || chars[*i] == '\t') {
            *i += 1;
        }
    };
    let read_token = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && is_tchar(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };

    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        // Between challenges: whitespace and empty list elements.
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | ',') {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        let scheme = read_token(&mut i);
        if scheme.is_empty() {
            return Err(malformed("expected an auth scheme"));
        }
        let mut challenge = Challenge { scheme: scheme.to_ascii_lowercase(), params: Vec::new(), token68: None };
        let had_space = i < chars.len() && (chars[i] == ' ' || chars[i] == '\t');
        skip_ws(&mut i);
        if i < chars.len() && chars[i] != ',' && !had_space {
            return Err(malformed("expected a space after the auth scheme"));
        }

        // token68: the first item, made of token68 characters plus trailing '=', then end or ','.
        let start = i;
        let mut j = i;
        while j < chars.len() && is_token68_char(chars[j]) {
            j += 1;
        }
        if j > start {
            let mut k = j;
            while k < chars.len() && chars[k] == '=' {
                k += 1;
            }
            let mut end = k;
            skip_ws(&mut end);
            // `name=value` continues after the '='; a token68 ends the item.
            if end >= chars.len() || chars[end] == ',' {
                challenge.token68 = Some(chars[start..k].iter().collect());
                i = end;
                challenges.push(challenge);
                continue;
            }
        }

        // auth-params
        loop {
            skip_ws(&mut i);
            if i >= chars.len() {
                break;
            }
            if chars[i] == ',' {
                // A comma ends this item; the next token is a parameter if '=' follows it,
                // else the scheme of the next challenge.
                let mut look = i;
                while look < chars.len() && matches!(chars[look], ' ' | '\t' | ',') {
                    look += 1;
                }
                let mut after = look;
                let name = read_token(&mut after);
                skip_ws(&mut after);
                if name.is_empty() || after >= chars.len() || chars[after] != '=' {
                    break; // next challenge (or trailing commas)
                }
                i = look;
                continue;
            }
            let name = read_token(&mut i);
            if name.is_empty() {
                return Err(malformed("expected a parameter name"));
            }
            skip_ws(&mut i);
            if i >= chars.len() || chars[i] != '=' {
                return Err(malformed("expected '=' after a parameter name"));
            }
            i += 1;
            skip_ws(&mut i);
            let value = if i < chars.len() && chars[i] == '"' {
                i += 1;
                let mut value = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err(malformed("unterminated quoted string")),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') => match chars.get(i + 1) {
                            Some(c) => {
                                value.push(*c);
                                i += 2;
                            }
                            None => return Err(malformed("unterminated quoted string")),
                        },
                        Some(c) => {
                            value.push(*c);
                            i += 1;
                        }
                    }
                }
                value
            } else {
                let v = read_token(&mut i);
                if v.is_empty() {
                    return Err(malformed("expected a parameter value"));
                }
                v
            };
            skip_ws(&mut i);
            if i < chars.len() && chars[i] != ',' {
                return Err(malformed("expected ',' after a parameter"));
            }
            challenge.params.push((name.to_ascii_lowercase(), value));
        }
        challenges.push(challenge);
    }
    if challenges.is_empty() {
        return Err(malformed("no challenge"));
    }
    Ok(challenges)
}

/// The challenge we act on, from every `WWW-Authenticate` header of a response: Bearer
/// (needs a realm) before Basic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Scheme {
    Basic,
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

pub(super) fn choose_scheme(reply: &Reply) -> anyhow::Result<Scheme> {
    let values: Vec<&str> = reply.headers.get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()).collect();
    if values.is_empty() {
        return Err(fail(Cause::Refused, "the registry answered 401 without a WWW-Authenticate challenge"));
    }
    let challenges = parse_challenges(&values.join(", "))?;
    if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
        let realm = bearer
            .param("realm")
            .filter(|r| !r.is_empty())
            .ok_or_else(|| fail(Cause::BadAnswer, "the registry's Bearer challenge has no realm"))?;
        if origin(realm).is_none() {
            return Err(fail(
                Cause::BadAnswer,
                format!("the registry's token realm {:?} is not an http(s) url", display_url(realm)),
            ));
        }
        return Ok(Scheme::Bearer {
            realm: realm.to_string(),
            service: bearer.param("service").map(str::to_string),
            scope: bearer.param("scope").map(str::to_string),
        });
    }
    if challenges.iter().any(|c| c.scheme == "basic") {
        return Ok(Scheme::Basic);
    }
    let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
    Err(fail(Cause::Unreachable, format!("the registry asks for unsupported authentication: {}", schemes.join(", "))))
}

// ---------------------------------------------------------------------------------------------
// credentials and tokens

struct CachedToken {
    header: Secret,
    refresh_at: Instant,
}

/// Credentials, the challenge learnt so far, and tokens per scope.
pub(super) struct Auth {
    credentials: Credentials,
    scheme: Option<Scheme>,
    tokens: HashMap<String, CachedToken>,
    /// Tokens for reading only: `repository:<repo>:pull`, and `registry:catalog:*` for the
    /// registry root (the listing commands); else `pull,push` (a push).
    pub read_only: bool,
}

/// The token scope for pushing to `repo`.
pub(super) fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

/// The token scope for listing the registry's repositories (`GET /v2/_catalog`).
pub(super) const CATALOG_SCOPE: &str = "registry:catalog:*";

/// The token scope for reading from `repo` (the source of a mount).
pub(super) fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

impl Auth {
    pub fn new(credentials: Credentials) -> Auth {
        Auth { credentials, scheme: None, tokens: HashMap::new(), read_only: false }
    }

    /// The `Authorization` value for a request to the registry about `repo` (`None`: the
    /// registry root), fetching or refreshing a token if the challenge asks for one.
    pub fn header(&mut self, client: &Client, repo: Option<&str>) -> anyhow::Result<Option<Secret>> {
        self.header_with_source(client, repo, None)
    }

    /// Like [`Auth::header`], for a request that also reads from repository `from` (a
    /// cross-repository mount): a token's scopes are then `repository:<repo>:pull,push` and
    /// `repository:<from>:pull`, sent as two `scope` parameters, as docker does.
    pub fn header_with_source(
        &mut self,
        client: &Client,
        repo: Option<&str>,
        from: Option<&str>,
    ) -> anyhow::Result<Option<Secret>> {
        if let Credentials::Token(token) = &self.credentials {
            return Ok(Some(Secret::new(format!("Bearer {}", token.expose()))));
        }
        match self.scheme.clone() {
            None => Ok(None),
            Some(Scheme::Basic) => Ok(self.basic()),
            Some(Scheme::Bearer { realm, service, scope }) => {
                let mut scopes: Vec<String> = match repo {
                    Some(repo) if self.read_only => vec![pull_scope(repo)],
                    Some(repo) => vec![push_scope(repo)],
                    None if self.read_only => vec![CATALOG_SCOPE.to_string()],
                    None => scope.into_iter().collect(),
                };
                if let Some(from) = from.filter(|f| Some(*f) != repo) {
                    scopes.push(pull_scope(from));
                }
                let key = scopes.join(" ");
                if let Some(cached) = self.tokens.get(&key) {
                    if Instant::now() < cached.refresh_at {
                        return Ok(Some(cached.header.clone()));
                    }
                }
                let token = self.fetch_token(client, &realm, service.as_deref(), &scopes, repo)?;
                let header = token.header.clone();
                self.tokens.insert(key, token);
                Ok(Some(header))
            }
        }
    }

    /// Takes in the challenge of a 401 answer to a request that carried `sent` (whether it had
    /// an Authorization header). Returns whether another attempt with fresh credentials may
    /// succeed; errors if the challenge cannot be used.
    pub fn learn(&mut self, reply: &Reply, sent: bool) -> anyhow::Result<bool> {
        let scheme = choose_scheme(reply)?;
        let changed = self.scheme.as_ref() != Some(&scheme);
        self.scheme = Some(scheme.clone());
        // Whatever token we had did not do; the next request fetches a new one.
        self.tokens.clear();
        Ok(match (&self.credentials, scheme) {
            (Credentials::Token(_), _) => false,
            (Credentials::Anonymous, Scheme::Basic) => false,
            (Credentials::Basic { .. }, Scheme::Basic) => !sent || changed,
            (Credentials::IdentityToken { username, .. }, Scheme::Basic) => username.is_some() && (!sent || changed),
            (_, Scheme::Bearer { .. }) => true,
        })
    }

    /// Makes every cached token due for refresh (tests of the expiry handling).
    #[cfg(test)]
    pub fn expire_tokens(&mut self) {
        for t in self.tokens.values_mut() {
            t.refresh_at = Instant::now();
        }
    }

    fn basic(&self) -> Option<Secret> {
        match &self.credentials {
            Credentials::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                Some(Secret::new(format!("Basic {}", base64(pair.as_bytes()))))
            }
            // An identity token stands in for the password where a username is known (a
            // Gitea access token, say), for Basic auth and the GET token fallback.
            Credentials::IdentityToken { username: Some(username), token } => {
                let pair = format!("{username}:{}", token.expose());
                Some(Secret::new(format!("Basic {}", base64(pair.as_bytes()))))
            }
            _ => None,
        }
    }

    /// `GET <realm>?service=…&scope=…[&scope=…]`, with Basic credentials if we have them.
    fn fetch_token(
        &self,
        client: &Client,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        repo: Option<&str>,
    ) -> anyhow::Result<CachedToken> {
        let mut url = realm.to_string();
        if let Some(service) = service {
            url = with_query(&url, "service", service);
        }
        for scope in scopes {
            url = with_query(&url, "scope", scope);
        }
        let basic = self.basic();
        let identity = matches!(self.credentials, Credentials::IdentityToken { .. });
        let secret_sent = basic.is_some() || identity;
        let what = if identity { "the identity token" } else { "the password" };
        if secret_sent && client.base.scheme == "https" && origin(realm).is_some_and(|(s, _, _)| s != "https") {
            return Err(fail(
                Cause::BadInput,
                format!(
                    "the registry's token realm {} is plain http: refusing to send {what} there",
                    display_url(realm)
                ),
            ));
        }
        if secret_sent && !client.insecure() {
            if let Some((scheme, host, _)) = origin(realm) {
                if scheme == "http" && !crate::plan::is_loopback(&host) {
                    return Err(fail(
                        Cause::BadInput,
                        format!(
                            "refusing to send {what} to the plain-http token realm {}: the registry should use an https realm (or give --insecure to allow it)",
                            display_url(realm)
                        ),
                    ));
                }
            }
        }
        // (method, URL) of the request whose answer is used, for messages.
        let mut asked = ("GET", url.clone());
        let mut fell_back = None;
        let mut reply = None;
        if let Credentials::IdentityToken { token, .. } = &self.credentials {
            // OAuth2 refresh-token grant. A realm without it answers 404 (Gitea, on purpose),
            // 405, 501 or 401: ask with GET instead, as docker does for 404.
            let mut form = format!(
                "grant_type=refresh_token&client_id=idpush&refresh_token={}",
                super::client::percent_encode(token.expose())
            );
            if let Some(service) = service {
                form.push_str(&format!("&service={}", super::client::percent_encode(service)));
            }
            for scope in scopes {
                form.push_str(&format!("&scope={}", super::client::percent_encode(scope)));
            }
            let headers = [("accept", "application/json"), ("content-type", "application/x-www-form-urlencoded")];
            let r = client.send(&Method::POST, realm, None, &headers, Payload::Bytes(form.as_bytes()))?;
            if matches!(r.status, 401 | 404 | 405 | 501) {
                log::debug!("the token realm answered POST with {}: asking with GET", r.status);
                fell_back = Some(r.status);
            } else {
                asked = ("POST", realm.to_string());
                reply = Some(r);
            }
        }
        let reply = match reply {
            Some(r) => r,
            None => client.send(&Method::GET, &url, basic.as_ref(), &[("accept", "application/json")], Payload::None)?,
        };
        let (method, asked_url) = (asked.0, asked.1.as_str());
        let after = fell_back.map(|s| format!(", after POST {} answered {s}", display_url(realm))).unwrap_or_default();
        if reply.status == 401 || reply.status == 403 {
            let detail = super::classify::describe_body(&reply.body).map(|d| self.scrub(&d));
            let status = format!("token request {method} {} answered {}{after}", display_url(asked_url), reply.status);
            return Err(self.refused(client.base.host(), repo, &status, detail));
        }
        if !reply.is_success() {
            let body = self.scrub(&String::from_utf8_lossy(&reply.body));
            let err = super::classify::response_error(method, asked_url, reply.status, &reply.headers, body.as_bytes());
            return Err(if after.is_empty() { err } else { err.context(format!("asking the token realm{after}")) });
        }
        if reply.truncated {
            return Err(fail(
                Cause::BadAnswer,
                format!(
                    "the token endpoint {} sent a response too large for a token (over {} KiB) to {method}",
                    display_url(realm),
                    super::client::BODY_LIMIT >> 10
                ),
            ));
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let parsed: TokenReply = serde_json::from_slice(&reply.body).map_err(|e| {
            fail(Cause::BadAnswer, format!("the token endpoint {} sent invalid json to {method}: {e}", display_url(realm)))
        })?;
        let token = parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token.filter(|t| !t.is_empty()))
            .ok_or_else(|| fail(Cause::BadAnswer, format!("the token endpoint {} sent no token", display_url(realm))))?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(60)).max(MIN_TOKEN_LIFETIME);
        log::debug!("got a registry token for scope {:?}, valid {}s", scopes.join(" "), lifetime.as_secs());
        Ok(CachedToken {
            header: Secret::new(format!("Bearer {token}")),
            refresh_at: Instant::now() + lifetime - EXPIRY_MARGIN,
        })
    }

    /// The error for refused credentials: names the registry, the user and the repository,
    /// never a secret. `status` is e.g. "401" or "403"; `detail` the registry's own words.
    pub fn refused(&self, host: &str, repo: Option<&str>, status: &str, detail: Option<String>) -> anyhow::Error {
        let target = match repo {
            Some(repo) if self.read_only => format!("for pull from {repo}"),
            Some(repo) => format!("for push to {repo}"),
            None if self.read_only => "for its catalog".to_string(),
            None => "for access".to_string(),
        };
        let status = match detail {
            Some(d) if !d.is_empty() => format!("{status}: {d}"),
            _ => status.to_string(),
        };
        let message = match &self.credentials {
            Credentials::Basic { username, .. } => format!(
                "registry {host} refused user {username} {target} ({status}): check the username and password/token"
            ),
            Credentials::Token(_) => format!("registry {host} refused the token {target} ({status}): check the token"),
            Credentials::IdentityToken { username, .. } => format!(
                "registry {host} refused the identity token{} {target} ({status}): log in again (docker login) or give a username and password/token",
                username.as_deref().map(|u| format!(" of user {u}")).unwrap_or_default()
            ),
            Credentials::Anonymous => format!(
                "registry {host} refused anonymous access {target} ({status}): give a username and password/token"
            ),
        };
        fail(Cause::Refused, message)
    }

    /// `text` with every secret we hold replaced by `<redacted>` (for server-provided text that
    /// goes into messages).
    pub fn scrub(&self, text: &str) -> String {
        let mut secrets: Vec<String> = Vec::new();
        match &self.credentials {
            Credentials::Anonymous => {}
            Credentials::Basic { password, .. } => secrets.push(password.expose().to_string()),
            Credentials::Token(token) => secrets.push(token.expose().to_string()),
            Credentials::IdentityToken { token, .. } => secrets.push(token.expose().to_string()),
        }
        if let Some(basic) = self.basic() {
            secrets.push(basic.expose().trim_start_matches("Basic ").to_string());
        }
        for token in self.tokens.values() {
            secrets.push(token.header.expose().trim_start_matches("Bearer ").to_string());
        }
        let mut out = text.to_string();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s.as_str(), "<redacted>");
        }
        out
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod exchange_tests;
