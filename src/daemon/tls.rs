//! TLS to a remote daemon (`tcp://` with `DOCKER_TLS_VERIFY` / `DOCKER_TLS`, or a docker
//! context with TLS material): the daemon's CA (`ca.pem`, else the bundled Mozilla roots), a
//! client certificate (`cert.pem` + `key.pem`) through rustls, and verification that can be
//! turned off only the way docker does (`DOCKER_TLS` without `DOCKER_TLS_VERIFY`, or a context's
//! `SkipTLSVerify`). PEM is parsed by rustls' own pki-types; no other crate.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};

use crate::error::{fail, Cause};

/// The TLS settings for one daemon, as docker reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Verify the daemon's certificate.
    pub verify: bool,
    /// `ca.pem`: the CA that signed the daemon's certificate (else the bundled roots).
    pub ca: Option<PathBuf>,
    /// `cert.pem` and `key.pem`: our client certificate.
    pub client: Option<(PathBuf, PathBuf)>,
}

impl TlsFiles {
    /// The files in `dir` (`ca.pem`, `cert.pem`, `key.pem`) that exist; `from` names where the
    /// directory came from, for the error when only one of cert.pem and key.pem is there.
    pub fn in_dir(dir: &Path, verify: bool, exists: &dyn Fn(&Path) -> bool, from: &str) -> anyhow::Result<TlsFiles> {
        let file = |n: &str| Some(dir.join(n)).filter(|p| exists(p));
        let client = match (file("cert.pem"), file("key.pem")) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (c, _) => {
                let (has, lacks) = if c.is_some() { ("cert.pem", "key.pem") } else { ("key.pem", "cert.pem") };
                return Err(fail(
                    Cause::BadInput,
                    format!("{} has {has} but no {lacks} ({from}): a client certificate needs both", dir.display()),
                ));
            }
        };
        Ok(TlsFiles { verify, ca: file("ca.pem"), client })
    }
}

/// A TLS connection to the daemon.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The rustls client configuration for `files`. Bad files are one-line `BadInput` errors.
pub fn config(files: &TlsFiles) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(Cause::BadInput, format!("tls setup: {e}")))?;
    let builder = if files.verify {
        let mut roots = RootCertStore::empty();
        match &files.ca {
            Some(ca) => {
                let certs = certs(ca)?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(bad_file(ca, "no usable CA certificate in it"));
                }
            }
            None => {
                roots.add_parsable_certificates(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
            }
        }
        builder.with_root_certificates(roots)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    };
    let config = match &files.client {
        Some((cert, key)) => {
            let chain = certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad_file(key, &e.to_string()))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| bad_file(cert, &e.to_string()))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Starts TLS on `sock` to `host` (the address without its port) and completes the handshake.
pub fn connect(sock: TcpStream, host: &str, config: Arc<ClientConfig>) -> std::io::Result<TlsStream> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("invalid TLS server name {host:?}: {e}")))?;
    let conn = ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

fn certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| bad_file(path, &e.to_string()))?;
    let certs = iter.collect::<Result<Vec<_>, _>>().map_err(|e| bad_file(path, &e.to_string()))?;
    if certs.is_empty() {
        return Err(bad_file(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn bad_file(path: &Path, why: &str) -> anyhow::Error {
    fail(
        Cause::BadInput,
        format!("cannot use the docker TLS file {}: {why} (check DOCKER_CERT_PATH or the context's TLS files)", path.display()),
    )
}

/// Accepts any server certificate (docker's `DOCKER_TLS` without `DOCKER_TLS_VERIFY`), still
/// checking the handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
