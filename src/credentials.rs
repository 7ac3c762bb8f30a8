//! Stored credentials for a registry host, from where docker and podman keep them.
//!
//! Looked up (by `plan.rs`, through the [`lookup`] function that `main` passes in) only when
//! neither flags nor `IDPBUILDER_REGISTRY_*` give any. Order:
//! 1. `DOCKER_AUTH_CONFIG` (JSON in the environment, the config.json format);
//! 2. the docker config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`:
//!    `credHelpers[host]`, else `credsStore` (the `docker-credential-<name> get` protocol),
//!    else `auths[host]`;
//! 3. podman's auth file: `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`.
//!
//! An `auths` entry has `auth` (base64 of `user:password`, split at the first `:`), or
//! `username`/`password`, `identitytoken` (an OAuth2 refresh token), or `registrytoken` (sent
//! as a bearer token). Keys are `host[:port]` or legacy URLs (`https://host/v1/`).
//! Values are never logged or put into messages; [`Found::source`] says where they came from.
//! A malformed file is reported by key path and position ([`config_error`]), never by value;
//! a helper that hangs is killed after 30 s and named ([`helper`]).

mod config_error;
mod helper;

use crate::redact::quote;
use crate::registry::Credentials;
use crate::secret::Secret;
use anyhow::anyhow;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Credentials found for a host, and where.
#[derive(Debug)]
pub struct Found {
    pub credentials: Credentials,
    /// The username, when the source has one (for the lowercase-owner rule).
    pub username: Option<String>,
    /// E.g. `docker config /x/config.json (credHelpers: pass)`. Never a value.
    pub source: String,
}

/// What a lookup found, plus notes for the log (a helper that could not run, …).
#[derive(Debug, Default)]
pub struct Lookup {
    pub found: Option<Found>,
    pub notes: Vec<String>,
}

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// Looks up stored credentials for `host` (`host[:port]`). `env` reads the environment.
/// Errors (one line, naming the file) only for malformed configuration, and for a credential
/// helper that does not answer in time.
pub fn lookup(host: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Lookup> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let mut out = Lookup::default();
    let host = host.to_ascii_lowercase();
    let timeout = helper::timeout(env);

    if let Some(json) = var("DOCKER_AUTH_CONFIG") {
        let cfg = parse_config(json.as_bytes()).map_err(|e| anyhow!("DOCKER_AUTH_CONFIG is not valid docker config JSON: {e}"))?;
        if let Some(found) = from_config(&cfg, &host, "DOCKER_AUTH_CONFIG", timeout, &mut out.notes)? {
            out.found = Some(found);
            return Ok(out);
        }
    }

    let docker_config = match var("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir).join("config.json")),
        None => var("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    };
    if let Some(path) = docker_config {
        if let Some(cfg) = read_config(&path)? {
            let what = format!("docker config {}", path.display());
            if let Some(found) = from_config(&cfg, &host, &what, timeout, &mut out.notes)? {
                out.found = Some(found);
                return Ok(out);
            }
        }
    }

    let podman = match var("REGISTRY_AUTH_FILE") {
        Some(f) => Some(PathBuf::from(f)),
        None => var("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("containers/auth.json")),
    };
    if let Some(path) = podman {
        if let Some(cfg) = read_config(&path)? {
            let what = format!("podman auth file {}", path.display());
            if let Some(found) = from_config(&cfg, &host, &what, timeout, &mut out.notes)? {
                out.found = Some(found);
                return Ok(out);
            }
        }
    }
    Ok(out)
}

/// The config; a malformed one is described by key path and position ([`config_error`]):
/// serde_json's own message quotes the offending value, which may be a password.
fn parse_config(bytes: &[u8]) -> Result<ConfigFile, String> {
    serde_json::from_slice(bytes).map_err(|e| config_error::describe(bytes, &e))
}

/// The config at `path`; `None` when the file does not exist.
fn read_config(path: &Path) -> anyhow::Result<Option<ConfigFile>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow!("cannot read {}: {e}", path.display())),
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_config(&bytes)
        .map(Some)
        .map_err(|e| anyhow!("{} is not a valid credentials file: {e}", path.display()))
}

/// `host[:port]` of an `auths` key: scheme and path dropped, lowercased; Docker Hub's names
/// become `index.docker.io`.
fn normalize_key(key: &str) -> String {
    let k = key.trim();
    let k = k.split_once("://").map_or(k, |(_, rest)| rest);
    let k = k.split('/').next().unwrap_or(k).to_ascii_lowercase();
    match k.as_str() {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => "index.docker.io".to_string(),
        _ => k,
    }
}

fn from_config(
    cfg: &ConfigFile,
    host: &str,
    what: &str,
    timeout: Duration,
    notes: &mut Vec<String>,
) -> anyhow::Result<Option<Found>> {
    let wanted = normalize_key(host);
    let helper = cfg
        .cred_helpers
        .iter()
        .find(|(k, _)| normalize_key(k) == wanted)
        .map(|(_, v)| ("credHelpers", v.as_str()))
        .or(cfg.creds_store.as_deref().filter(|s| !s.is_empty()).map(|s| ("credsStore", s)));
    if let Some((kind, name)) = helper {
        let name_shown = crate::redact::redact(name);
        let answer = helper::get(name, host, timeout).map_err(|e| e.context(format!("{what} ({kind}: {name_shown})")))?;
        match answer {
            helper::Answer::Found(credentials, username) => {
                return Ok(Some(Found { credentials, username, source: format!("{what} ({kind}: {name_shown})") }))
            }
            helper::Answer::NotFound => notes.push(format!("{what} ({kind}: {name_shown}): no credentials for {host}")),
            helper::Answer::Unusable(why) => notes.push(format!("{what} ({kind}: {name_shown}): {why}")),
        }
    }
    let Some((key, entry)) = cfg.auths.iter().find(|(k, _)| normalize_key(k) == wanted) else {
        return Ok(None);
    };
    let at = format!("auths.{}", quote(key));
    let source = format!("{what} (auths)");
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.is_empty());
    let (mut username, mut password) = (nonempty(&entry.username), nonempty(&entry.password));
    if let Some(auth) = nonempty(&entry.auth) {
        let decoded = base64_decode(auth.trim())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| anyhow!("{what}: {at}.auth is not base64 of user:password"))?;
        let (u, p) = decoded
            .split_once(':')
            .ok_or_else(|| anyhow!("{what}: {at}.auth has no ':' between user and password"))?;
        if !u.is_empty() {
            username = Some(u.to_string());
        }
        if !p.is_empty() {
            password = Some(p.to_string());
        }
    }
    if let Some(token) = nonempty(&entry.identitytoken) {
        let credentials = Credentials::IdentityToken { username: username.clone(), token: Secret::new(token) };
        return Ok(Some(Found { credentials, username, source: format!("{source}, identity token") }));
    }
    if let Some(token) = nonempty(&entry.registrytoken) {
        return Ok(Some(Found { credentials: Credentials::Token(Secret::new(token)), username: None, source: format!("{source}, registry token") }));
    }
    match (username, password) {
        (Some(u), Some(p)) => Ok(Some(Found {
            credentials: Credentials::Basic { username: u.clone(), password: Secret::new(p) },
            username: Some(u),
            source,
        })),
        (None, None) => Ok(None),
        _ => Err(anyhow!("{what}: {at} has a username or a password but not both")),
    }
}

/// Standard base64 with or without padding (also accepts the URL-safe alphabet).
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        acc = (acc << 6) | val(c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    fn basic(found: &Found) -> (String, String) {
        match &found.credentials {
            Credentials::Basic { username, password } => (username.clone(), password.expose().to_string()),
            other => panic!("not basic: {other:?}"),
        }
    }

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(base64_decode("Zm9vYg==").unwrap(), b"foob");
        assert_eq!(base64_decode("Zm9vYg").unwrap(), b"foob");
        assert!(base64_decode("a b").is_none());
    }

    #[test]
    fn normalizes_keys() {
        assert_eq!(normalize_key("https://Reg.example:5000/v1/"), "reg.example:5000");
        assert_eq!(normalize_key("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(normalize_key("docker.io"), "index.docker.io");
    }

    #[test]
    fn reads_auths_entries_in_order() {
        let guard = crate::test_support::TempDir::new("cred");
        let dir = guard.path().to_path_buf();
        std::fs::create_dir_all(dir.join("docker")).unwrap();
        std::fs::create_dir_all(dir.join("run/containers")).unwrap();
        // user:pa:ss (split at the first ':')
        std::fs::write(
            dir.join("docker/config.json"),
            r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dXNlcjpwYTpzcw=="},
                "tok.example":{"registrytoken":"rt"},"id.example":{"auth":"dTp4","identitytoken":"it"},
                "up.example":{"username":"bob","password":"pw"}}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("run/containers/auth.json"), r#"{"auths":{"pod.example":{"auth":"cDpx"}}}"#).unwrap();
        let d = dir.display().to_string();
        let env = env_of(&[("DOCKER_CONFIG", &format!("{d}/docker")), ("XDG_RUNTIME_DIR", &format!("{d}/run"))]);
        let f = lookup("reg.example:5000", &env).unwrap().found.unwrap();
        assert_eq!(basic(&f), ("user".into(), "pa:ss".into()));
        assert!(f.source.contains("docker config") && f.source.contains("config.json"), "{}", f.source);
        let f = lookup("up.example", &env).unwrap().found.unwrap();
        assert_eq!(basic(&f), ("bob".into(), "pw".into()));
        let f = lookup("tok.example", &env).unwrap().found.unwrap();
        assert!(matches!(&f.credentials, Credentials::Token(t) if t.expose() == "rt"));
        let f = lookup("id.example", &env).unwrap().found.unwrap();
        assert!(matches!(&f.credentials, Credentials::IdentityToken { username: Some(u), token } if u == "u" && token.expose() == "it"));
        let f = lookup("pod.example", &env).unwrap().found.unwrap();
        assert_eq!(basic(&f), ("p".into(), "q".into()));
        assert!(f.source.contains("podman"), "{}", f.source);
        assert!(lookup("other.example", &env).unwrap().found.is_none());

        // DOCKER_AUTH_CONFIG comes first.
        let env2 = env_of(&[
            ("DOCKER_CONFIG", &format!("{d}/docker")),
            ("DOCKER_AUTH_CONFIG", r#"{"auths":{"up.example":{"auth":"ZW52OmVudnB3"}}}"#),
        ]);
        let f = lookup("up.example", &env2).unwrap().found.unwrap();
        assert_eq!(basic(&f), ("env".into(), "envpw".into()));
        assert_eq!(f.source, "DOCKER_AUTH_CONFIG (auths)");

        // Malformed: one line naming the file, no panic.
        std::fs::write(dir.join("docker/config.json"), "{\"auths\": [1,2").unwrap();
        let e = format!("{:#}", lookup("x", &env).unwrap_err());
        assert!(e.contains("config.json") && !e.contains('\n'), "{e}");
        let env3 = env_of(&[("DOCKER_AUTH_CONFIG", "nope")]);
        assert!(format!("{:#}", lookup("x", &env3).unwrap_err()).contains("DOCKER_AUTH_CONFIG"));
    }

    /// Defect 3 (issue 7): a malformed `auths` entry printed serde's message, which quotes the
    /// value (`invalid type: string "dXNlcjpodW50ZXIy"`, a base64 user:password).
    #[test]
    fn malformed_configs_name_the_file_key_path_and_position_never_the_value() {
        let secret = "dXNlcjpodW50ZXIy"; // base64 of user:hunter2
        /// Removed on drop, also when an assertion fails.
        struct TempDir(PathBuf);
        impl Drop for TempDir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let guard = TempDir(std::env::temp_dir().join(format!("idpush-cred-test-malformed-{}", std::process::id())));
        let dir = guard.0.clone();
        std::fs::create_dir_all(&dir).unwrap();
        let cases: &[(&str, &str)] = &[
            (r#"{"auths":{"127.0.0.1:5000":"SECRET"}}"#, r#"auths."127.0.0.1:5000" (line 1, column 45): expected an object"#),
            ("{\"auths\":{\"h\":{\n\"auth\":[\"SECRET\"]}}}", "auths.h.auth (line 2, column 7): expected a string"),
            (r#"{"auths":{"127.0.0.1:5000":{"auth":"SECRET"#, r#"auths."127.0.0.1:5000".auth (line 1, column 52): the file ends"#),
            (r#"{"auths":{"127.0.0.1:5000":{"auth":"!!SECRET!!"}}}"#, r#"auths."127.0.0.1:5000".auth is not base64"#),
            (r#"{"auths":{"127.0.0.1:5000":{"auth":"aHVudGVyMg=="}}}"#, r#"auths."127.0.0.1:5000".auth has no ':'"#),
            (r#"{"auths":{"127.0.0.1:5000":{"password":"SECRET"}}}"#, r#"auths."127.0.0.1:5000" has a username or a password but not both"#),
            (r#"{"credsStore":{"x":"SECRET"}}"#, "credsStore (line 1, column 14): expected a string"),
        ];
        let mut wrong = Vec::new();
        for (json, want) in cases {
            let json = json.replace("SECRET", secret);
            let e = format!("{:#}", lookup("127.0.0.1:5000", &env_of(&[("DOCKER_AUTH_CONFIG", &json)])).unwrap_err());
            if !(e.starts_with("DOCKER_AUTH_CONFIG") && e.contains(want)) {
                wrong.push(format!("{json}\n  got: {e}\n want: {want}"));
                continue;
            }
            assert!(!e.contains(secret) && !e.contains("hunter2") && !e.contains('\n'), "{json}: {e}");
            std::fs::write(dir.join("config.json"), &json).unwrap();
            let e = format!("{:#}", lookup("127.0.0.1:5000", &env_of(&[("DOCKER_CONFIG", &dir.display().to_string())])).unwrap_err());
            assert!(e.contains(&dir.join("config.json").display().to_string()) && e.contains(want), "{json}\n got: {e}");
            assert!(!e.contains(secret) && !e.contains("hunter2") && !e.contains('\n'), "{json}: {e}");
        }
        drop(guard);
        assert!(!dir.exists());
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
