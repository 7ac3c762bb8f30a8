//! The image config of a build: platform, created time, the runtime settings given as flags
//! (labels, env, entrypoint, cmd, workdir, user) and the layer's diff_id, as the exact bytes
//! whose digest is the image ID. Also the parsers for those flags' values (no I/O here).
//!
//! Decisions where Docker has two answers: `--entrypoint` and `--cmd` take a JSON array of
//! strings (exec form) or else a plain string, which becomes `["/bin/sh", "-c", STRING]` (shell
//! form), as in a Dockerfile. Env gets Docker's default `PATH` unless `--env PATH=...` is given,
//! as BuildKit does for `FROM scratch`. A later `--env`/`--label` with the same key wins.

use crate::digest::Digest;
use crate::error::{fail, Cause};
use serde::Serialize;
use std::collections::BTreeMap;

/// The `PATH` an image gets unless `--env PATH=...` says otherwise (Docker's default).
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the config says besides the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub platform: Platform,
    /// Seconds since the Unix epoch: the config's `created` and the layer's latest mtime.
    pub epoch: u64,
    pub labels: BTreeMap<String, String>,
    /// `KEY=VALUE`, in the order given, one per key.
    pub env: Vec<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

impl Settings {
    /// No labels, env, entrypoint...: a scratch image for `platform` made at `epoch`.
    pub fn new(platform: Platform, epoch: u64) -> Settings {
        Settings {
            platform,
            epoch,
            labels: BTreeMap::new(),
            env: Vec::new(),
            entrypoint: None,
            cmd: None,
            workdir: None,
            user: None,
        }
    }

    /// Adds `KEY=VALUE` to the env, replacing an earlier value of KEY.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let line = format!("{key}={value}");
        match self.env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(old) => *old = line,
            None => self.env.push(line),
        }
    }
}

/// `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Linux on this machine's architecture (the platform a local `docker run` expects).
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "powerpc64" => ("ppc64", None),
            "loongarch64" => ("loong64", None),
            other => (other, None),
        };
        Platform { os: "linux".into(), architecture: architecture.into(), variant: variant.map(String::from) }
    }

    /// Parses `--platform`'s value.
    pub fn parse(text: &str) -> anyhow::Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-');
        match parts[..] {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform { os: os.into(), architecture: arch.into(), variant: None }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => {
                Ok(Platform { os: os.into(), architecture: arch.into(), variant: Some(variant.into()) })
            }
            _ => Err(fail(Cause::BadInput, format!("--platform {text:?}: give os/arch[/variant], e.g. linux/amd64 or linux/arm/v7"))),
        }
    }
}

/// Parses a `KEY=VALUE` flag value (`--label`, `--env`): the key is what comes before the first
/// `=` and must not be empty; the value may be.
pub fn parse_pair(flag: &str, text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && k.trim() == k => Ok((k.to_string(), v.to_string())),
        _ => Err(fail(Cause::BadInput, format!("{flag} {text:?}: give KEY=VALUE (a non-empty key without spaces around it)"))),
    }
}

/// Parses `--entrypoint`/`--cmd`: a JSON array of strings (exec form), else a command line run
/// by `/bin/sh -c` (shell form). A value starting with `[` that is not such an array is an error
/// rather than a shell command, since it was almost surely meant as JSON.
pub fn parse_command(flag: &str, text: &str) -> anyhow::Result<Vec<String>> {
    if text.trim_start().starts_with('[') {
        return serde_json::from_str::<Vec<String>>(text).map_err(|e| {
            fail(Cause::BadInput, format!("{flag} {text:?}: not a JSON array of strings ({e}); give e.g. '[\"/app\", \"--serve\"]' or a shell command"))
        });
    }
    if text.trim().is_empty() {
        return Err(fail(Cause::BadInput, format!("{flag} is empty: give a JSON array ('[\"/app\"]') or a shell command")));
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), text.into()])
}

#[derive(Serialize)]
struct File<'a> {
    created: String,
    architecture: &'a str,
    os: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    variant: Option<&'a str>,
    config: Runtime<'a>,
    rootfs: RootFs<'a>,
    history: [History<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Runtime<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    env: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    entrypoint: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cmd: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    working_dir: Option<&'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
struct RootFs<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    diff_ids: [&'a Digest; 1],
}

#[derive(Serialize)]
struct History<'a> {
    created: &'a str,
    created_by: &'static str,
}

/// The config's exact bytes for one layer with `diff_id`.
pub fn bytes(settings: &Settings, diff_id: &Digest) -> Vec<u8> {
    let created = rfc3339(settings.epoch);
    let mut env = settings.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    let file = File {
        created: created.clone(),
        architecture: &settings.platform.architecture,
        os: &settings.platform.os,
        variant: settings.platform.variant.as_deref(),
        config: Runtime {
            user: settings.user.as_deref(),
            env: &env,
            entrypoint: settings.entrypoint.as_deref(),
            cmd: settings.cmd.as_deref(),
            working_dir: settings.workdir.as_deref(),
            labels: &settings.labels,
        },
        rootfs: RootFs { kind: "layers", diff_ids: [diff_id] },
        history: [History { created: &created, created_by: "idpush build" }],
    };
    serde_json::to_vec(&file).expect("a config always serializes")
}

/// The config's exact bytes for `base`'s config (its JSON bytes) with one more layer,
/// `diff_id`, on top: created is the build's epoch, the platform stays the base's, labels are
/// merged (ours win), env merged by key (ours win; Docker's default `PATH` only if neither has
/// one), `--entrypoint` replaces the base's and, as a Dockerfile's ENTRYPOINT does, resets its
/// cmd unless `--cmd` is given; `--cmd`, `--workdir`, `--user` replace the base's. Other fields
/// are kept; keys come out sorted (deterministic).
pub fn bytes_on(base: &[u8], settings: &Settings, diff_id: &Digest) -> anyhow::Result<Vec<u8>> {
    use serde_json::{json, Value};
    let bad = |why: &str| fail(Cause::BadImage, format!("the base image's config {why}"));
    let mut v: Value = serde_json::from_slice(base).map_err(|e| bad(&format!("is not JSON: {e}")))?;
    let top = v.as_object_mut().ok_or_else(|| bad("is not a JSON object"))?;
    let created = rfc3339(settings.epoch);
    top.insert("created".into(), json!(created));
    let config = top.entry("config").or_insert_with(|| json!({}));
    if config.is_null() {
        *config = json!({});
    }
    let config = config.as_object_mut().ok_or_else(|| bad("has a config that is not an object"))?;
    let mut labels = match config.get("Labels") {
        Some(Value::Object(m)) => m.clone(),
        _ => serde_json::Map::new(),
    };
    for (k, val) in &settings.labels {
        labels.insert(k.clone(), json!(val));
    }
    if !labels.is_empty() {
        config.insert("Labels".into(), Value::Object(labels));
    }
    let mut env: Vec<String> = match config.get("Env") {
        Some(Value::Array(a)) => a.iter().filter_map(|e| e.as_str().map(String::from)).collect(),
        _ => Vec::new(),
    };
    for line in &settings.env {
        let key = line.split('=').next().unwrap_or_default();
        match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(old) => *old = line.clone(),
            None => env.push(line.clone()),
        }
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    config.insert("Env".into(), json!(env));
    if let Some(e) = &settings.entrypoint {
        config.insert("Entrypoint".into(), json!(e));
        if settings.cmd.is_none() {
            config.insert("Cmd".into(), Value::Null);
        }
    }
    if let Some(c) = &settings.cmd {
        config.insert("Cmd".into(), json!(c));
    }
    if let Some(w) = &settings.workdir {
        config.insert("WorkingDir".into(), json!(w));
    }
    if let Some(u) = &settings.user {
        config.insert("User".into(), json!(u));
    }
    let rootfs = top.entry("rootfs").or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    let ids = rootfs
        .get_mut("diff_ids")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("has no rootfs.diff_ids"))?;
    ids.push(json!(diff_id.to_string()));
    let history = top.entry("history").or_insert_with(|| json!([]));
    if let Some(h) = history.as_array_mut() {
        h.push(json!({"created": created, "created_by": "idpush build"}));
    }
    Ok(serde_json::to_vec(&v).expect("a config always serializes"))
}

/// The platform a config names (`os`, `architecture`, `variant`), if it names one.
pub fn platform_of(config: &[u8]) -> Option<Platform> {
    let v: serde_json::Value = serde_json::from_slice(config).ok()?;
    Some(Platform {
        os: v.get("os")?.as_str()?.to_string(),
        architecture: v.get("architecture")?.as_str()?.to_string(),
        variant: v.get("variant").and_then(|x| x.as_str()).map(String::from),
    })
}

/// `1970-01-01T00:00:00Z` for seconds since the Unix epoch (UTC, civil calendar).
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn platforms() {
        let p = Platform::parse("linux/arm/v7").unwrap();
        assert_eq!((p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()), ("linux", "arm", Some("v7")));
        assert_eq!(Platform::parse("linux/amd64").unwrap().variant, None);
        for bad in ["", "linux", "linux/", "/amd64", "linux/amd64/v1/x", "linux amd64", "linux//v7"] {
            let e = Platform::parse(bad).unwrap_err();
            assert!(format!("{e:#}").contains("--platform"), "{bad:?}: {e:#}");
        }
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn pairs() {
        assert_eq!(parse_pair("--label", "a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(parse_pair("--env", "EMPTY=").unwrap(), ("EMPTY".into(), String::new()));
        for bad in ["novalue", "=v", " a=b", ""] {
            let e = parse_pair("--label", bad).unwrap_err();
            assert!(format!("{e:#}").starts_with("--label"), "{bad:?}: {e:#}");
        }
    }

    #[test]
    fn commands_exec_and_shell_form() {
        assert_eq!(parse_command("--cmd", r#"["/app", "--serve"]"#).unwrap(), ["/app", "--serve"]);
        assert_eq!(parse_command("--cmd", "[]").unwrap(), Vec::<String>::new());
        assert_eq!(parse_command("--cmd", "echo hi").unwrap(), ["/bin/sh", "-c", "echo hi"]);
        assert!(parse_command("--cmd", "[not json").is_err());
        assert!(parse_command("--cmd", "[1, 2]").is_err());
        assert!(parse_command("--entrypoint", "  ").is_err());
    }

    #[test]
    fn config_on_a_base() {
        let base = br#"{"architecture":"arm64","os":"linux","config":{"Env":["PATH=/x","A=base"],"Cmd":["/base"],"Labels":{"l":"base","k":"keep"}},"rootfs":{"type":"layers","diff_ids":["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]},"history":[{"created_by":"base"}]}"#;
        let mut s = Settings::new(Platform::parse("linux/amd64").unwrap(), 0);
        s.labels.insert("l".into(), "ours".into());
        s.set_env("A", "ours");
        s.entrypoint = Some(vec!["/app".into()]);
        let d = Digest::of(b"layer");
        let v: serde_json::Value = serde_json::from_slice(&bytes_on(base, &s, &d).unwrap()).unwrap();
        assert_eq!(v["architecture"], "arm64", "the platform is the base's");
        assert_eq!(v["created"], "1970-01-01T00:00:00Z");
        assert_eq!(v["config"]["Env"], serde_json::json!(["PATH=/x", "A=ours"]));
        assert_eq!(v["config"]["Labels"], serde_json::json!({"k": "keep", "l": "ours"}));
        assert_eq!(v["config"]["Entrypoint"], serde_json::json!(["/app"]));
        assert!(v["config"]["Cmd"].is_null(), "an entrypoint resets the base's cmd");
        assert_eq!(v["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
        assert_eq!(v["rootfs"]["diff_ids"][1], d.to_string());
        assert_eq!(v["history"].as_array().unwrap().len(), 2);
        assert_eq!(platform_of(base).unwrap().architecture, "arm64");
        assert!(bytes_on(b"[]", &s, &d).is_err());
        assert!(bytes_on(br#"{"config":{}}"#, &s, &d).is_ok(), "no rootfs: made");
    }

    #[test]
    fn config_shape() {
        let mut s = Settings::new(Platform::parse("linux/arm64/v8").unwrap(), 1_700_000_000);
        s.labels.insert("b".into(), "2".into());
        s.labels.insert("a".into(), "1".into());
        s.set_env("A", "1");
        s.set_env("A", "2");
        s.cmd = Some(vec!["/app".into()]);
        s.workdir = Some("/srv".into());
        let d = Digest::of(b"layer");
        let v: serde_json::Value = serde_json::from_slice(&bytes(&s, &d)).unwrap();
        assert_eq!(v["created"], "2023-11-14T22:13:20Z");
        assert_eq!((v["os"].as_str(), v["architecture"].as_str(), v["variant"].as_str()), (Some("linux"), Some("arm64"), Some("v8")));
        assert_eq!(v["config"]["Env"], serde_json::json!([DEFAULT_PATH, "A=2"]));
        assert_eq!(v["config"]["Labels"], serde_json::json!({"a": "1", "b": "2"}));
        assert_eq!(v["config"]["Cmd"], serde_json::json!(["/app"]));
        assert_eq!(v["config"]["WorkingDir"], "/srv");
        assert!(v["config"].get("Entrypoint").is_none() && v["config"].get("User").is_none());
        assert_eq!(v["rootfs"], serde_json::json!({"type": "layers", "diff_ids": [d.to_string()]}));
        // Same settings, same bytes.
        assert_eq!(bytes(&s, &d), bytes(&s.clone(), &d));
        s.set_env("PATH", "/app");
        let v: serde_json::Value = serde_json::from_slice(&bytes(&s, &d)).unwrap();
        assert_eq!(v["config"]["Env"], serde_json::json!(["A=2", "PATH=/app"]));
    }
}
