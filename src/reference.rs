//! Image references: `[host[:port]/]path/name[:tag][@digest]`.
//!
//! Parsing checks the grammar the OCI distribution spec gives for repository names and tags,
//! so a [`Reference`] that exists is one a registry will accept; the reason a name is refused is
//! said before any work is done. The registry part follows docker's rule: the first component
//! is a host when it contains a `.` or a `:`, is `localhost`, or is a bracketed IPv6 address
//! (`[::1]`, `[::1]:5000`).
//!
//! A reference never carries a scheme, a user or password, or a query; those are refused
//! first, and every message quotes the input through [`crate::redact`], so a password typed
//! into a reference is never echoed.

use crate::digest::Digest;
use crate::redact::quote;
use anyhow::{bail, Context};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, when the reference names one.
    pub registry: Option<String>,
    /// The repository path: lowercase components separated by `/`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a full reference. Every problem is an error that names the reference.
    pub fn parse(s: &str) -> anyhow::Result<Reference> {
        parse(s).with_context(|| format!("invalid image reference {}", quote(s)))
    }

    /// What to put after `/manifests/`: the tag, else the digest, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => d.to_string(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The reference without tag or digest: `host/repo`.
    pub fn name(&self) -> String {
        match &self.registry {
            Some(r) => format!("{r}/{}", self.repository),
            None => self.repository.clone(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn parse(s: &str) -> anyhow::Result<Reference> {
    if s.is_empty() {
        bail!("the reference is empty");
    }
    if let Some((scheme, _)) = s.split_once("://") {
        bail!("a reference takes no scheme ({}://): give host[:port]/path/name[:tag]", crate::redact::redact(scheme));
    }
    if crate::redact::has_userinfo(s) && s.split_once('@').is_some_and(|(_, after)| after.contains('/')) {
        bail!("a reference carries no user or password (user@host): give credentials with -u/-p or --password-stdin");
    }
    if s.contains(['?', '#']) {
        bail!("a reference has no query or fragment ('?', '#')");
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("a reference has no spaces or control characters");
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, d)) => (rest, Some(d.parse::<Digest>()?)),
        None => (s, None),
    };
    // A tag is the part after the last ':' when no '/' follows it (else it is a port).
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(t) = tag {
        check_tag(t)?;
    }
    let (registry, repository) = split_registry(name);
    if let Some(r) = registry {
        check_host(r)?;
    }
    check_repository(repository)?;
    Ok(Reference {
        registry: registry.map(str::to_string),
        repository: repository.to_string(),
        tag: tag.map(str::to_string),
        digest,
    })
}

/// Docker's rule: the first component is a registry host when it has a `.` or `:`, is
/// `localhost`, or is a bracketed IPv6 address.
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':', '[']) || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `host[:port]`: a DNS name or IPv4 address, or `[IPv6]`; the port a number up to 65535.
pub fn check_host(host: &str) -> anyhow::Result<()> {
    let (h, port) = if let Some(v6) = host.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            bail!("registry host {} has an unclosed '[': write an IPv6 address as [::1] or [::1]:5000", quote(host));
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            bail!("registry host {} is not a valid IPv6 address in brackets", quote(&format!("[{addr}]")));
        }
        match after {
            "" => (&host[..addr.len() + 2], None),
            p => match p.strip_prefix(':') {
                Some(p) => (&host[..addr.len() + 2], Some(p)),
                None => bail!("registry host {}: only :port may follow the ']'", quote(host)),
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
            bail!("registry port {} is not a number from 0 to 65535", quote(p));
        }
    }
    if h.starts_with('[') {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if h.contains(['[', ']']) || h.contains(':') {
        bail!("registry host {} is not a valid host name (write an IPv6 address in brackets: [::1]:5000)", quote(h));
    }
    if h.is_empty() || !h.split('.').all(label_ok) {
        bail!("registry host {} is not a valid host name", quote(h));
    }
    Ok(())
}

/// OCI: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
fn check_repository(repo: &str) -> anyhow::Result<()> {
    if repo.is_empty() {
        bail!("the repository name is empty");
    }
    if repo.len() > 255 {
        bail!("the repository name is longer than 255 characters");
    }
    if repo.bytes().any(|b| b.is_ascii_uppercase()) {
        bail!("repository names must be lowercase (registries refuse {}); try {}", quote(repo), quote(&repo.to_lowercase()));
    }
    for component in repo.split('/') {
        check_component(component)
            .with_context(|| format!("repository path component {}", quote(component)))?;
    }
    Ok(())
}

fn check_component(c: &str) -> anyhow::Result<()> {
    if c.is_empty() {
        bail!("is empty (no leading, trailing or double '/' allowed)");
    }
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        bail!("must start and end with a lowercase letter or digit");
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            bail!("has the separator {}; only '.', '_', '__' or dashes may stand between letters and digits", quote(sep));
        }
    }
    Ok(())
}

/// `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> anyhow::Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        bail!("tag {} is invalid: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", quote(tag));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_valid_references() {
        let cases: &[(&str, Option<&str>, &str, Option<&str>, bool)] = &[
            ("myapp", None, "myapp", None, false),
            ("myapp:latest", None, "myapp", Some("latest"), false),
            ("giteaadmin/myapp:v1.2", None, "giteaadmin/myapp", Some("v1.2"), false),
            ("localhost/app", Some("localhost"), "app", None, false),
            ("localhost:5000/a/b:t", Some("localhost:5000"), "a/b", Some("t"), false),
            ("gitea.cnoe.localtest.me:8443/giteaadmin/app:latest", Some("gitea.cnoe.localtest.me:8443"), "giteaadmin/app", Some("latest"), false),
            ("127.0.0.1:5000/x@DIGEST", Some("127.0.0.1:5000"), "x", None, true),
            ("127.0.0.1:5000/x:t@DIGEST", Some("127.0.0.1:5000"), "x", Some("t"), true),
            ("a.b-c/e---f", Some("a.b-c"), "e---f", None, false),
            ("my_app/x__y.z", None, "my_app/x__y.z", None, false),
            ("[::1]/x:1", Some("[::1]"), "x", Some("1"), false),
            ("[::1]:5000/x", Some("[::1]:5000"), "x", None, false),
            ("[2001:db8::1]:443/a/b:t@DIGEST", Some("[2001:db8::1]:443"), "a/b", Some("t"), true),
            ("app@DIGEST", None, "app", None, true),
        ];
        for (input, reg, repo, tag, has_digest) in cases {
            let input = input.replace("DIGEST", D);
            let r = Reference::parse(&input).unwrap_or_else(|e| panic!("{input}: {e:#}"));
            assert_eq!(r.registry.as_deref(), *reg, "{input}");
            assert_eq!(r.repository, *repo, "{input}");
            assert_eq!(r.tag.as_deref(), *tag, "{input}");
            assert_eq!(r.digest.is_some(), *has_digest, "{input}");
            assert_eq!(r.to_string(), input, "{input} round trip");
        }
    }

    #[test]
    fn rejects_invalid_references() {
        let cases = [
            ("", "empty"),
            ("MyApp", "lowercase"),
            ("host.io/Org/app", "lowercase"),
            ("app:", "tag"),
            ("app:-x", "tag"),
            ("app:a+b", "tag"),
            ("a//b", "empty"),
            ("/a", "empty"),
            ("a/", "empty"),
            ("a..b", "separator"),
            ("a_-b", "separator"),
            ("a___b", "separator"),
            ("-a", "start and end"),
            ("a.", "start and end"),
            ("app@sha256:abc", "digest"),
            ("host:99999/a", "port"),
            ("ho$t.io/a", "host"),
            // Defect 11 (issue 7): malformed IPv6 hosts passed parsing.
            ("[::1/x", "unclosed '['"),
            ("[zz::1]:5000/x", "not a valid IPv6 address"),
            ("[::1]x/y", "only :port"),
            ("[::1]:/x", "port"),
            ("::1/x", "in brackets"),
            ("reg-.example/x", "host name"),
            ("reg..example/x", "host name"),
            ("h:/x", "port \"\""),
            // Defect 3 and 11: a scheme, a login or a query are refused first, and not echoed.
            ("http://127.0.0.1:5100/x/y:1", "no scheme"),
            ("user:pw@host/x", "no user or password"),
            ("h/x:1?token=abc", "no query"),
            ("h/x:1#frag", "no query"),
            ("h/x y", "no spaces"),
            ("h/x\n", "control"),
        ];
        for (input, why) in cases {
            let err = match Reference::parse(input) {
                Ok(r) => panic!("{input:?} accepted as {r:?}"),
                Err(e) => format!("{e:#}"),
            };
            assert!(err.contains(why), "{input:?}: {err}");
        }
    }

    #[test]
    fn errors_quote_the_reference_redacted() {
        for (input, hidden) in [
            ("user:Hunter2@host/x", "Hunter2"),
            ("http://user:Hunter2@host/x", "Hunter2"),
            ("host/x?token=Hunter2", "Hunter2"),
            ("host/x\n\u{1b}[31m", "\u{1b}"),
        ] {
            let e = format!("{:#}", Reference::parse(input).unwrap_err());
            assert!(!e.contains(hidden) && !e.contains('\n'), "{input:?}: {e}");
            assert!(e.starts_with("invalid image reference \""), "{e}");
        }
    }

    #[test]
    fn manifest_reference_prefers_tag() {
        assert_eq!(Reference::parse("a:t").unwrap().manifest_reference(), "t");
        assert_eq!(Reference::parse("a").unwrap().manifest_reference(), "latest");
        assert_eq!(Reference::parse(&format!("a@{D}")).unwrap().manifest_reference(), D);
    }

    mod prop {
        //! Property tests: any string never panics the parser, and what parses prints as a
        //! reference that parses to the same thing.
        use super::*;
        use proptest::prelude::*;

        fn text(bytes: &[u8]) -> String {
            const ALPHABET: &[u8] = b"abcZ09.-_:/@[]sha256:0123456789abcdef";
            bytes.iter().map(|b| if b % 7 == 0 { char::from(*b) } else { ALPHABET[usize::from(*b) % ALPHABET.len()] as char }).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

            #[test]
            fn any_reference_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..100), digest in any::<bool>()) {
                let mut s = text(&raw);
                if digest {
                    s.push('@');
                    s.push_str(D);
                }
                if let Ok(r) = Reference::parse(&s) {
                    let again = Reference::parse(&r.to_string());
                    prop_assert!(again.is_ok(), "{s:?} parsed, but its display {:?} does not", r.to_string());
                    prop_assert_eq!(again.unwrap().to_string(), r.to_string());
                    let _ = r.manifest_reference();
                    let _ = r.name();
                }
            }
        }
    }
}
