//! Flags + environment → a validated plan: what to push, where, and how to log in.
//!
//! Every check that needs no network happens here, so a bad name or a missing password is
//! reported before any work is done. The environment is passed in as a function, which keeps
//! this testable.

use crate::cli::PushArgs;
use crate::redact::{quote, redact};
use crate::reference::Reference;
use crate::registry::{self, Credentials};
use crate::secret::Secret;
use crate::source::{PathKind, Source};
use anyhow::{anyhow, bail, Context};
use std::path::PathBuf;

pub use crate::settings::is_loopback;
use crate::settings::{self, parse_bool, parse_log_level, parse_registry_url};

pub const DEFAULT_REGISTRY: &str = registry::DEFAULT_BASE_URL;

#[derive(Debug)]
pub struct Plan {
    /// SOURCE as given.
    pub source: String,
    /// What SOURCE names.
    pub from: Source,
    /// DEST is not known yet: the source names its image when read ([`Plan::resolve_dest`]);
    /// `dest` has the registry host only.
    pub dest_pending: bool,
    /// The registry host and the username that a destination is made with.
    dest_rule: (String, Option<String>),
    /// `--tag`: tags pushed besides `dest`'s, in order, each once.
    pub tags: Vec<String>,
    /// `--platform`: of a multi-platform image, the one image to push.
    pub platform: Option<crate::oci::Platform>,
    /// Where it goes: always with a registry host, and a tag or a digest.
    pub dest: Reference,
    /// `http://host[:port]` or `https://host[:port]`, the registry that `dest` names.
    pub base_url: String,
    /// `base_url` is https for a loopback host given without a scheme: plain http is used if
    /// the registry answers the TLS handshake in plain http.
    pub http_fallback: bool,
    pub insecure: bool,
    /// `--ca-cert` / IDPBUILDER_REGISTRY_CA_CERT.
    pub ca_cert: Option<PathBuf>,
    /// `--chunk-size` / IDPUSH_CHUNK_SIZE, in bytes.
    pub chunk_size: u64,
    pub credentials: Credentials,
    /// Where the credentials came from (for the debug log; never a value).
    pub credential_source: String,
    /// Notes from the stored-credential lookup (a helper that could not run, …).
    pub credential_notes: Vec<String>,
    pub quiet: bool,
    pub log_level: log::LevelFilter,
    pub tmpdir: PathBuf,
    /// Retries after a transient failure (attempts = retries + 1).
    pub retries: u32,
    pub retry_max_delay: std::time::Duration,
    pub connect_timeout: std::time::Duration,
    pub read_timeout: std::time::Duration,
    /// `--no-cache` / IDPUSH_NO_CACHE: the layer cache is neither read nor written.
    pub no_cache: bool,
    /// `--compression` and `--compression-level` (or IDPUSH_COMPRESSION[_LEVEL]).
    pub compression: crate::codec::Codec,
    /// `--progress` (auto until the command sees whether stderr is a terminal).
    pub progress: crate::report::progress::Mode,
    /// `--json`: the result as JSON lines.
    pub json: bool,
    /// `--digest-file`: where the manifest digest is written.
    pub digest_file: Option<PathBuf>,
}

/// The plan with no stored credentials (flags and environment only).
#[allow(dead_code)]
pub fn plan(args: PushArgs, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Plan> {
    plan_with(args, env, &|_| Ok(crate::credentials::Lookup::default()))
}

/// The plan; `stored(host)` looks up stored credentials (docker config, credential helpers,
/// podman auth file: `credentials::lookup`), asked only when neither flags nor
/// `IDPBUILDER_REGISTRY_*` give any. Passed in so that this stays free of I/O.
pub fn plan_with(
    args: PushArgs,
    env: &dyn Fn(&str) -> Option<String>,
    stored: &dyn Fn(&str) -> anyhow::Result<crate::credentials::Lookup>,
) -> anyhow::Result<Plan> {
    let from = Source::parse(&args.image, &|_| PathKind::Missing)?;
    plan_from(args, from, env, stored)
}

/// [`plan_with`] for SOURCE already parsed (`Source::parse` with the disk probe).
pub fn plan_from(
    args: PushArgs,
    from: Source,
    env: &dyn Fn(&str) -> Option<String>,
    stored: &dyn Fn(&str) -> anyhow::Result<crate::credentials::Lookup>,
) -> anyhow::Result<Plan> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let log_level = parse_log_level(args.log_level.as_deref(), args.quiet)?;
    let progress = crate::report::progress::Mode::parse(args.progress.as_deref())?;
    let digest_file = match args.digest_file.as_deref() {
        Some("") => anyhow::bail!("--digest-file needs a path"),
        other => other.map(PathBuf::from),
    };
    let insecure = settings::insecure(args.insecure, &var)?;
    // Numbers first: a bad one is refused before any credential lookup.
    let network = settings::network(args.retries, args.retry_max_delay, args.connect_timeout, args.read_timeout, &var)?;
    let settings::Network { retries, retry_max_delay, connect_timeout, read_timeout } = network;
    let any_flag = args.username.is_some() || args.password.is_some() || args.token.is_some() || args.password_stdin;
    let env_filled = (args.username.is_none() && var("IDPBUILDER_REGISTRY_USERNAME").is_some())
        || (args.password.is_none() && var("IDPBUILDER_REGISTRY_PASSWORD").is_some())
        || (args.token.is_none() && var("IDPBUILDER_REGISTRY_TOKEN").is_some());
    let username = args.username.or_else(|| var("IDPBUILDER_REGISTRY_USERNAME"));
    let password = args.password.or_else(|| var("IDPBUILDER_REGISTRY_PASSWORD").map(Secret::new));
    let token = args.token.or_else(|| var("IDPBUILDER_REGISTRY_TOKEN").map(Secret::new));
    let registry_flag = args.registry.or_else(|| var("IDPBUILDER_REGISTRY_URL"));
    let registry = parse_registry_url(registry_flag.as_deref().unwrap_or(DEFAULT_REGISTRY))?;

    let from_flags = args.password_stdin || username.is_some() || password.is_some() || token.is_some();
    let mut credential_source = match (from_flags, any_flag, env_filled) {
        (false, _, _) => "nowhere: anonymous".to_string(),
        (true, false, _) => "IDPBUILDER_REGISTRY_* environment".to_string(),
        (true, true, false) => "flags".to_string(),
        (true, true, true) => "flags and IDPBUILDER_REGISTRY_* environment".to_string(),
    };
    let mut credential_notes = Vec::new();
    let mut found = None;
    let mut tags: Vec<String> = Vec::new();
    for t in &args.tag {
        crate::reference::check_tag(t).with_context(|| format!("--tag {}", quote(t)))?;
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let platform = args.platform.as_deref().map(crate::oci::Platform::parse).transpose()?;
    // Without DEST, the destination's name comes from SOURCE (a daemon image's name), else
    // from the source when it is read; until then only its host counts.
    let dest_pending = args.dest.is_none() && from.name().is_none();
    let image = from.name().unwrap_or(PENDING_NAME).to_string();
    let mut dest_user = username.clone();
    let mut dest = destination(&image, args.dest.as_deref(), &registry.host, username.as_deref())?;
    if !from_flags {
        let host = dest.registry.clone().expect("destination always has a registry");
        let lookup = stored(&host)?;
        credential_notes = lookup.notes;
        if let Some(f) = lookup.found {
            credential_source = f.source.clone();
            if f.username.is_some() {
                dest = destination(&image, args.dest.as_deref(), &registry.host, f.username.as_deref())?;
                dest_user = f.username.clone();
            }
            found = Some(f.credentials);
        }
    }
    let dest_host = dest.registry.clone().expect("destination always has a registry");
    let scheme = if dest_host == registry.host { registry.scheme } else { None };
    // A loopback registry named without a scheme: HTTPS first, plain HTTP only if it answers
    // the TLS handshake in plain HTTP (as docker and crane do; see `registry::Options`).
    let http_fallback = scheme.is_none() && is_loopback(&dest_host);
    let scheme = scheme.unwrap_or("https");

    let credentials = match found {
        Some(found) => found,
        None => settings::credentials(username, password, token)?,
    };
    settings::refuse_plain_http(scheme, insecure, &dest_host, &credentials)?;
    let ca_cert = args.ca_cert.or_else(|| var("IDPBUILDER_REGISTRY_CA_CERT")).map(PathBuf::from);
    let chunk_size = match args.chunk_size.or_else(|| var("IDPUSH_CHUNK_SIZE")) {
        Some(s) => crate::registry::parse_size(&s).with_context(|| format!("--chunk-size {}", quote(&s)))?,
        None => crate::registry::DEFAULT_CHUNK_SIZE,
    };
    let compression = compression(args.compression.as_deref(), args.compression_level, &var)?;
    let no_cache = args.no_cache
        || match var("IDPUSH_NO_CACHE") {
            Some(v) => parse_bool(&v).ok_or_else(|| {
                anyhow!("IDPUSH_NO_CACHE={} is not a yes or no: use 1/0, true/false, yes/no or on/off", quote(&v))
            })?,
            None => false,
        };
    let tmpdir = args
        .tmpdir
        .or_else(|| var("TMPDIR"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));

    tags.retain(|t| dest.tag.as_ref() != Some(t));
    Ok(Plan {
        source: args.image,
        from,
        dest_pending,
        dest_rule: (registry.host.clone(), dest_user),
        tags,
        platform,
        base_url: format!("{scheme}://{dest_host}"),
        http_fallback,
        dest,
        insecure,
        ca_cert,
        chunk_size,
        credentials,
        credential_source,
        credential_notes,
        quiet: args.quiet,
        log_level,
        tmpdir,
        retries,
        retry_max_delay,
        connect_timeout,
        read_timeout,
        no_cache,
        compression,
        progress,
        json: args.json,
        digest_file,
    })
}

/// The name a pending destination is made with, for its host alone.
const PENDING_NAME: &str = "idpush-pending";

impl Plan {
    /// The registry client's settings: the destination registry, TLS, credentials, retries.
    pub fn registry_options(&self) -> registry::Options {
        registry::Options {
            base_url: self.base_url.clone(),
            http_fallback: self.http_fallback,
            insecure: self.insecure,
            ca_cert: self.ca_cert.clone(),
            chunk_size: self.chunk_size,
            credentials: self.credentials.clone(),
            retries: self.retries,
            retry_max_delay: self.retry_max_delay,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
        }
    }

    /// The layer cache this push reads and writes (none with `--no-cache`).
    pub fn cache(&self, env: &dyn Fn(&str) -> Option<String>) -> crate::cache::Cache {
        if self.no_cache {
            crate::cache::Cache::disabled()
        } else {
            crate::cache::Cache::from_env(env)
        }
    }

    /// The destination of a source that names its image when read (`name`: docker save's
    /// RepoTags, an OCI ref.name), when DEST was not given; nothing when it was.
    pub fn resolve_dest(&mut self, name: Option<&str>) -> anyhow::Result<()> {
        if !self.dest_pending {
            return Ok(());
        }
        let Some(name) = name else {
            return Err(crate::error::fail(
                crate::error::Cause::BadInput,
                format!(
                    "{} does not name its image (no RepoTags, no ref.name with a repository): give a DEST, e.g. `idpush push {} myapp:v1`",
                    self.from,
                    redact(&self.source)
                ),
            ));
        };
        let (host, user) = &self.dest_rule;
        self.dest = destination(name, None, host, user.as_deref())
            .with_context(|| format!("the image name {} that {} gives (or give a DEST)", quote(name), self.from))?;
        self.tags.retain(|t| self.dest.tag.as_ref() != Some(t));
        self.dest_pending = false;
        Ok(())
    }
}

/// The layer codec from `--compression` / IDPUSH_COMPRESSION and `--compression-level` /
/// IDPUSH_COMPRESSION_LEVEL (a flag wins over its variable).
fn compression(
    flag: Option<&str>,
    level_flag: Option<u32>,
    var: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<crate::codec::Codec> {
    use crate::codec::Codec;
    let (name, given) = match flag {
        Some(f) => (f.to_string(), format!("--compression {}", quote(f))),
        None => match var("IDPUSH_COMPRESSION") {
            Some(v) => (v.clone(), format!("IDPUSH_COMPRESSION={} (it stands in for --compression)", quote(&v))),
            None => ("gzip".to_string(), String::new()),
        },
    };
    let level = match level_flag {
        Some(n) => Some((n.to_string(), format!("--compression-level {n}"))),
        None => var("IDPUSH_COMPRESSION_LEVEL")
            .map(|v| (v.clone(), format!("IDPUSH_COMPRESSION_LEVEL={} (it stands in for --compression-level)", quote(&v)))),
    };
    let level = match level {
        None => None,
        Some((v, given)) => match v.trim().parse::<u32>() {
            Ok(n) if n <= 9 => Some((n, given)),
            _ => bail!("{given} is not a gzip level: give a whole number from 0 (stored) to 9 (smallest)"),
        },
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "gzip" => Ok(Codec::Gzip { level: level.map(|(n, _)| n).unwrap_or(1) }),
        "none" => match level {
            Some((_, lg)) => bail!("{lg} has no meaning with --compression none: drop one of them"),
            None => Ok(Codec::None),
        },
        _ => bail!("{given} is not a compression: use gzip or none"),
    }
}

/// The full destination reference: DEST as given (with the registry's host when it names
/// none), else the registry's host plus the image's repository and tag. A one-part repository
/// goes under the lowercased username, as Gitea wants `owner/name`.
fn destination(image: &str, dest: Option<&str>, host: &str, user: Option<&str>) -> anyhow::Result<Reference> {
    let mut r = match dest {
        Some(d) => {
            if let Some((scheme, rest)) = d.split_once("://") {
                // The hint shows DEST without the login (redact hides it as `***@`).
                let rest = redact(rest);
                let (rest, login) = match rest.strip_prefix("***@") {
                    Some(r) => (r.to_string(), ", and the user and password with -u/-p"),
                    None => (rest, ""),
                };
                let host = rest.split('/').next().unwrap_or(&rest);
                bail!(
                    "DEST {} takes no scheme: give it as host[:port]/path/name[:tag] and the scheme with -r{login}, \
                     e.g. `-r {}://{host} {rest}`",
                    quote(d),
                    redact(scheme),
                );
            }
            Reference::parse(d).context("in DEST")?
        }
        None => {
            if image.starts_with("sha256:") || is_short_id(image) {
                bail!(
                    "{} looks like an image ID: give a destination, e.g. `idpush push {} myapp:latest`",
                    quote(image),
                    redact(image)
                );
            }
            let mut r = Reference::parse(image).context("in IMAGE (or give a DEST)")?;
            r.registry = None;
            if r.tag.is_none() && r.digest.is_some() {
                // The pushed manifest has its own digest; name it by tag.
                r.digest = None;
            }
            r
        }
    };
    if r.registry.is_none() {
        r.registry = Some(host.to_string());
        if !r.repository.contains('/') {
            if let Some(u) = user {
                r.repository = format!("{}/{}", u.to_lowercase(), r.repository);
                r = Reference::parse(&r.to_string()).context("the destination under the username")?;
            }
        }
    }
    if r.tag.is_none() && r.digest.is_none() {
        r.tag = Some("latest".to_string());
    }
    Ok(r)
}

fn is_short_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests;
