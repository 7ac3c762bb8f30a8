//! Which certificates we trust, and what to say when a registry's certificate is not trusted.
//!
//! Roots, all together (verification is on unless `--insecure`):
//! - the system store: `SSL_CERT_FILE` and `SSL_CERT_DIR` (`:`-separated) when set, else the
//!   first bundle found of the usual Debian/Ubuntu, RHEL/Fedora, SUSE and Alpine paths;
//! - the Mozilla roots bundled in the binary (`webpki-root-certs`), for minimal containers;
//! - docker's per-registry CAs: every `*.crt` in `<dir>/<host[:port]>/` for `dir` in
//!   `/etc/docker/certs.d` and `~/.docker/certs.d` (`IDPUSH_CERTS_D`, `:`-separated, replaces
//!   that list; it exists for tests and unusual setups);
//! - `--ca-cert FILE` (a PEM bundle).

use crate::error::{fail, fail_with_hint, Cause};
use std::path::{Path, PathBuf};
use ureq::tls::{Certificate, PemItem, RootCerts};

/// Bundles of the common distributions, tried in order when `SSL_CERT_FILE`/`SSL_CERT_DIR` are unset.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Alpine (ca-certificates)
    "/etc/pki/tls/certs/ca-bundle.crt",                  // RHEL, Fedora, CentOS
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL 7+
    "/etc/ssl/ca-bundle.pem",                            // openSUSE
    "/etc/ssl/cert.pem",                                 // Alpine, macOS
];

/// The trust settings for one registry.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Skip certificate verification.
    pub insecure: bool,
    /// `--ca-cert`: a PEM bundle trusted in addition to the rest.
    pub ca_cert: Option<PathBuf>,
}

/// The roots for `host` (`host[:port]`), and a description of where the extra ones came from
/// (for the debug log).
pub(super) fn root_certs(host: &str, opts: &TlsOptions, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<RootCerts> {
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    let system = system_certs(env);
    log::debug!("tls: {} certificates from the system store", system.len());
    certs.extend(system);
    certs.extend(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|c| Certificate::from_der(c.as_ref()).to_owned()));
    for dir in certs_d_dirs(host, env) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        files.sort();
        for f in files {
            let found = pem_file(&f).map_err(|e| {
                fail(Cause::BadInput, format!("cannot use CA file {} for {host}: {e}", f.display()))
            })?;
            log::debug!("tls: {} certificates for {host} from {}", found.len(), f.display());
            certs.extend(found);
        }
    }
    if let Some(f) = &opts.ca_cert {
        let found = pem_file(f)
            .map_err(|e| fail(Cause::BadInput, format!("cannot use --ca-cert {}: {e}", f.display())))?;
        log::debug!("tls: {} certificates from --ca-cert {}", found.len(), f.display());
        certs.extend(found);
    }
    Ok(RootCerts::from(certs))
}

/// `<dir>/<host[:port]>` for each certs.d root.
pub(super) fn certs_d_dirs(host: &str, env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    let roots: Vec<PathBuf> = match env("IDPUSH_CERTS_D").filter(|v| !v.is_empty()) {
        Some(list) => list.split(':').filter(|s| !s.is_empty()).map(PathBuf::from).collect(),
        None => {
            let mut v = vec![PathBuf::from("/etc/docker/certs.d")];
            if let Some(home) = env("HOME").filter(|h| !h.is_empty()) {
                v.push(Path::new(&home).join(".docker/certs.d"));
            }
            v
        }
    };
    // A host name never contains a path separator; refuse anything that would escape the root.
    if host.is_empty() || host.contains(['/', '\\']) || host.starts_with('.') {
        return Vec::new();
    }
    roots.into_iter().map(|r| r.join(host)).collect()
}

/// Certificates from the system store; unreadable or odd files are skipped.
fn system_certs(env: &dyn Fn(&str) -> Option<String>) -> Vec<Certificate<'static>> {
    let file = env("SSL_CERT_FILE").filter(|v| !v.is_empty());
    let dirs = env("SSL_CERT_DIR").filter(|v| !v.is_empty());
    let mut certs = Vec::new();
    if file.is_none() && dirs.is_none() {
        for bundle in SYSTEM_BUNDLES {
            if let Ok(found) = pem_file(Path::new(bundle)) {
                if !found.is_empty() {
                    return found;
                }
            }
        }
        return certs;
    }
    if let Some(f) = file {
        match pem_file(Path::new(&f)) {
            Ok(found) => certs.extend(found),
            Err(e) => log::warn!("SSL_CERT_FILE {f}: {e}"),
        }
    }
    for dir in dirs.iter().flat_map(|d| d.split(':')).filter(|d| !d.is_empty()) {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                if let Ok(found) = pem_file(&path) {
                    certs.extend(found);
                }
            }
        }
    }
    certs
}

/// The certificates of a PEM file; an error if it cannot be read or holds none.
fn pem_file(path: &Path) -> Result<Vec<Certificate<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("not a PEM file ({e})")),
        }
    }
    if certs.is_empty() {
        return Err("no PEM certificate in it".into());
    }
    Ok(certs)
}

/// Whether a transport error is a certificate that failed verification.
pub(super) fn is_certificate_error(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::Rustls(rustls::Error::InvalidCertificate(_)) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_))),
        _ => false,
    }
}

/// Whether a TLS handshake failed because the server answered in plain text: its first bytes
/// (`HTTP/1.1 400 …`, a plain HTTP server's answer to a ClientHello) are no TLS record type.
pub(super) fn is_plain_http_answer(err: &ureq::Error) -> bool {
    let plain = |e: &rustls::Error| matches!(e, rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType));
    match err {
        ureq::Error::Rustls(e) => plain(e),
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()).is_some_and(plain),
        _ => false,
    }
}

/// Whether a transport error came from TLS itself (the peer spoke TLS, or something that is not
/// TLS), rather than from the connection.
pub(super) fn is_tls_error(err: &ureq::Error) -> bool {
    match err {
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => true,
        ureq::Error::Io(io) => io.get_ref().is_some_and(|e| e.is::<rustls::Error>()),
        _ => false,
    }
}

/// The one-line error for an untrusted certificate, with the three ways to fix it.
pub(super) fn certificate_error(host: &str, err: &ureq::Error, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Error {
    let detail = match err {
        ureq::Error::Rustls(e) => e.to_string(),
        ureq::Error::Io(io) => io.get_ref().map(|e| e.to_string()).unwrap_or_else(|| io.to_string()),
        other => other.to_string(),
    };
    let certs_d = certs_d_dirs(host, env)
        .last()
        .map(|d| d.join("ca.crt").display().to_string())
        .unwrap_or_else(|| format!("~/.docker/certs.d/{host}/ca.crt"));
    fail_with_hint(
        Cause::Unreachable,
        format!("tls certificate of {host} is not trusted ({detail})"),
        format!("give its CA with --ca-cert FILE, or put it in {certs_d}, or use --insecure to skip verification"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_d_dirs_per_host() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/u".to_string()),
            _ => None,
        };
        assert_eq!(
            certs_d_dirs("reg.example:8443", &env),
            [PathBuf::from("/etc/docker/certs.d/reg.example:8443"), PathBuf::from("/home/u/.docker/certs.d/reg.example:8443")]
        );
        let env = |k: &str| (k == "IDPUSH_CERTS_D").then(|| "/a:/b".to_string());
        assert_eq!(certs_d_dirs("h", &env), [PathBuf::from("/a/h"), PathBuf::from("/b/h")]);
        assert!(certs_d_dirs("../x", &env).is_empty());
        assert!(certs_d_dirs("a/b", &env).is_empty());
    }

    #[test]
    fn bad_ca_cert_files_are_errors() {
        let guard = crate::test_support::TempDir::new("tls-unit");
        let dir = guard.path().to_path_buf();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let opts = TlsOptions { insecure: false, ca_cert: Some(f.clone()) };
        let e = format!("{:#}", root_certs("h", &opts, &|_| None).unwrap_err());
        assert!(e.contains("--ca-cert") && e.contains("no PEM certificate"), "{e}");
        let opts = TlsOptions { insecure: false, ca_cert: Some(dir.join("missing.pem")) };
        assert!(root_certs("h", &opts, &|_| None).is_err());
        // Without extras: system + bundled roots.
        let RootCerts::Specific(c) = root_certs("h", &TlsOptions::default(), &|_| None).unwrap() else { panic!() };
        assert!(c.len() >= webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
    }

    #[test]
    fn certificate_errors_name_the_fixes() {
        let err = ureq::Error::Rustls(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer));
        assert!(is_certificate_error(&err));
        let env = |k: &str| (k == "IDPUSH_CERTS_D").then(|| "/certs".to_string());
        let e = certificate_error("127.0.0.1:8443", &err, &env);
        let (msg, hint) = (e.to_string(), crate::report::hint::of(&e).unwrap_or_default());
        assert!(msg.contains("127.0.0.1:8443") && msg.contains("not trusted"), "{msg}");
        assert!(hint.contains("--ca-cert") && hint.contains("/certs/127.0.0.1:8443/ca.crt") && hint.contains("--insecure"), "{hint}");
        assert!(!msg.contains('\n') && !hint.contains('\n'));
        assert!(!is_certificate_error(&ureq::Error::ConnectionFailed));
    }
}
