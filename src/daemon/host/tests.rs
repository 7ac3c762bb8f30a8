//! Tests for `DOCKER_HOST` parsing.

use super::*;
use crate::error::{class_of, Class};
use crate::daemon::tls::TlsFiles;

fn tcp(s: &str) -> DockerHost {
    DockerHost::Tcp(s.to_string())
}

#[test]
fn parses_docker_host() {
    let unix = |p: &str| DockerHost::Unix(PathBuf::from(p));
    for (s, want) in [
        ("unix:///var/run/docker.sock", unix("/var/run/docker.sock")),
        ("unix://relative.sock", unix("relative.sock")),
        ("tcp://1.2.3.4", tcp("1.2.3.4:2375")),
        ("tcp://docker.example:2376", tcp("docker.example:2376")),
        ("TCP://h:1/", tcp("h:1")),
        ("tcp://[::1]:2375", tcp("[::1]:2375")),
        ("tcp://[::1]", tcp("[::1]:2375")),
    ] {
        assert_eq!(DockerHost::parse(s).unwrap(), want, "{s}");
    }
    for s in [
        "/var/run/docker.sock",
        "unix://",
        "tcp://",
        "tcp://:2375",
        "tcp://h:0",
        "tcp://h:99999",
        "tcp://h:x",
        "tcp://h:+80",
        "tcp://h:",
        "tcp://h/path",
        "tcp://::1",
        "tcp://[::1",
        "tcp://u@h",
        "http://h:2375",
        "npipe:////./pipe/docker_engine",
    ] {
        let err = DockerHost::parse(s).unwrap_err();
        assert!(format!("{err}").starts_with(&format!("invalid DOCKER_HOST {}: ", crate::redact::quote(s))), "{err}");
        assert_eq!(class_of(&err), Class::Permanent);
    }
    let ssh = DockerHost::parse("ssh://me@box:2222").unwrap();
    assert_eq!(ssh, DockerHost::Ssh(SshTarget { user: Some("me".into()), host: "box".into(), port: Some(2222) }));
    assert_eq!(ssh.to_string(), "ssh://me@box:2222");
    let err = DockerHost::parse("ssh://me:pw@box").unwrap_err().to_string();
    assert!(err.contains("takes no password") && !err.contains("pw@"), "{err}");
}

#[test]
fn docker_host_from_values_and_display() {
    let unix = |p: &str| DockerHost::Unix(PathBuf::from(p));
    let files = TlsFiles { verify: true, ca: None, client: None };
    let default = DockerHost::from_values(None, None).unwrap();
    assert_eq!(default.to_string(), "unix:///var/run/docker.sock");
    assert_eq!(DockerHost::from_values(Some(""), Some(files.clone())).unwrap(), default);
    assert_eq!(
        DockerHost::from_values(Some("tcp://h"), None).unwrap().to_string(),
        "tcp://h:2375"
    );
    // TLS: docker's default port is 2376.
    assert_eq!(DockerHost::from_values(Some("tcp://h"), Some(files.clone())).unwrap(), DockerHost::TcpTls("h:2376".into(), files.clone()));
    assert_eq!(DockerHost::from_values(Some("tcp://h:1"), Some(files.clone())).unwrap().to_string(), "tcp://h:1");
    assert_eq!(DockerHost::from_values(Some("unix:///s"), Some(files)).unwrap(), unix("/s"));
}

/// A fake environment and file system for [`discover`].
struct Fake {
    env: Vec<(&'static str, String)>,
    files: Vec<(PathBuf, String)>,
    dirs: Vec<PathBuf>,
}

impl Fake {
    fn new(env: &[(&'static str, &str)]) -> Fake {
        Fake { env: env.iter().map(|(k, v)| (*k, v.to_string())).collect(), files: vec![], dirs: vec![] }
    }
    fn file(mut self, path: &str, text: &str) -> Fake {
        self.files.push((PathBuf::from(path), text.into()));
        self
    }
    fn discover(&self, flag: Option<&str>) -> anyhow::Result<Discovered> {
        let env = |k: &str| self.env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
        let read = |p: &Path| self.files.iter().find(|(f, _)| f == p).map(|(_, t)| t.clone());
        let exists = |p: &Path| self.files.iter().any(|(f, _)| f == p) || self.dirs.iter().any(|d| d == p);
        discover(flag, &Sys { env: &env, read: &read, exists: &exists })
    }
}

/// `contexts/meta/<sha256 of name>/meta.json` under `dir`.
fn meta_path(dir: &str, name: &str) -> String {
    format!("{dir}/contexts/meta/{}/meta.json", crate::digest::Digest::of(name.as_bytes()).hex())
}

fn meta(host: &str) -> String {
    format!(r#"{{"Name":"x","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#)
}

fn unix(p: &str) -> DockerHost {
    DockerHost::Unix(PathBuf::from(p))
}

#[test]
fn discovery_follows_the_docker_cli_order() {
    let ctx = meta_path("/h/.docker", "remote");
    let full = Fake::new(&[("DOCKER_HOST", "unix:///env.sock"), ("DOCKER_CONTEXT", "remote"), ("HOME", "/h")])
        .file(&ctx, &meta("unix:///ctx.sock"))
        .file("/h/.docker/config.json", r#"{"currentContext":"other"}"#)
        .file("/var/run/docker.sock", "");
    let d = full.discover(Some("unix:///flag.sock")).unwrap();
    assert_eq!((d.host, d.how.as_str()), (unix("/flag.sock"), "--host"));
    let d = full.discover(None).unwrap();
    assert_eq!((d.host, d.how.as_str()), (unix("/env.sock"), "DOCKER_HOST"));
    let no_host = Fake { env: full.env.iter().filter(|(k, _)| *k != "DOCKER_HOST").cloned().collect(), ..full };
    let d = no_host.discover(None).unwrap();
    let no_host_discovered = d.clone();
    assert_eq!(d.host, unix("/ctx.sock"));
    assert_eq!(d.how, r#"docker context "remote" (DOCKER_CONTEXT)"#);
    // currentContext, in $DOCKER_CONFIG rather than ~/.docker.
    let current = Fake::new(&[("DOCKER_CONFIG", "/cfg"), ("HOME", "/h")])
        .file("/cfg/config.json", r#"{"auths":{},"currentContext":"podman"}"#)
        .file(&meta_path("/cfg", "podman"), &meta("tcp://10.0.0.1:2375"));
    let d = current.discover(None).unwrap();
    assert_eq!(d.host, DockerHost::Tcp("10.0.0.1:2375".into()));
    assert_eq!(d.how, r#"docker context "podman" (currentContext in /cfg/config.json)"#);
    // An empty flag or DOCKER_HOST is as good as none; "default" is the default socket.
    let default = Fake::new(&[("DOCKER_HOST", ""), ("DOCKER_CONTEXT", "default"), ("HOME", "/h")]).file("/var/run/docker.sock", "");
    let d = default.discover(Some("")).unwrap();
    assert!(d.named_by_user());
    assert_eq!((d.host, d.how.as_str()), (unix("/var/run/docker.sock"), "the default socket"));
    assert!(!no_host_discovered.named_by_user(), "a context is worth an info line");
}

#[test]
fn the_default_socket_falls_back_to_rootless_docker_then_podman() {
    let run = [("XDG_RUNTIME_DIR", "/run/user/1000")];
    let found = |f: Fake| f.discover(None).unwrap();
    let d = found(Fake::new(&run).file("/run/user/1000/docker.sock", "").file("/run/podman/podman.sock", ""));
    assert_eq!(d.host, unix("/run/user/1000/docker.sock"));
    assert!(d.how.contains("rootless Docker"), "{}", d.how);
    let d = found(Fake::new(&run).file("/run/podman/podman.sock", "").file("/run/user/1000/podman/podman.sock", ""));
    assert_eq!(d.host, unix("/run/podman/podman.sock"));
    assert!(d.how.contains("Podman"), "{}", d.how);
    let d = found(Fake::new(&run).file("/run/user/1000/podman/podman.sock", ""));
    assert_eq!(d.host, unix("/run/user/1000/podman/podman.sock"));
    assert!(d.how.contains("rootless Podman"), "{}", d.how);
    // Without XDG_RUNTIME_DIR only the fixed paths are tried; with nothing there, the default.
    let d = found(Fake::new(&[]).file("/run/user/1000/docker.sock", ""));
    assert_eq!(d.host, unix("/var/run/docker.sock"));
    assert!(d.how.contains("no rootless Docker or Podman socket"), "{}", d.how);
}

#[test]
fn bad_contexts_are_one_line_errors() {
    let err = |f: Fake| format!("{:#}", f.discover(None).unwrap_err());
    let e = err(Fake::new(&[("DOCKER_CONTEXT", "gone"), ("HOME", "/h")]));
    assert!(e.starts_with(r#"docker context "gone" (from DOCKER_CONTEXT) does not exist: no /h/.docker/contexts/meta/"#) && e.contains("docker context ls"), "{e}");
    let e = err(Fake::new(&[("DOCKER_CONTEXT", "x")]));
    assert!(e.contains("neither DOCKER_CONFIG nor HOME"), "{e}");
    let e = err(Fake::new(&[("HOME", "/h")]).file("/h/.docker/config.json", "{not json"));
    assert!(e.starts_with("cannot read the docker config /h/.docker/config.json"), "{e}");
    let e = err(Fake::new(&[("DOCKER_CONTEXT", "c"), ("HOME", "/h")]).file(&meta_path("/h/.docker", "c"), r#"{"Endpoints":{}}"#));
    assert!(e.contains("no Endpoints.docker.Host"), "{e}");
    let e = err(Fake::new(&[("DOCKER_CONTEXT", "c"), ("HOME", "/h")]).file(&meta_path("/h/.docker", "c"), &meta("http://x")));
    assert!(e.starts_with(r#"invalid docker context "c" host "#), "{e}");
    let e = format!("{:#}", Fake::new(&[]).discover(Some("tcp://h:x")).unwrap_err());
    assert!(e.starts_with("invalid --host "), "{e}");
    for e in [e] {
        assert!(!e.contains('\n'), "{e}");
    }
    // No config file at all is fine: the default socket.
    assert_eq!(Fake::new(&[("HOME", "/h")]).discover(None).unwrap().host, unix("/var/run/docker.sock"));
}

#[test]
fn tls_comes_from_docker_tls_verify_and_docker_cert_path() {
    let tls = |verify, ca: Option<&str>, client: Option<(&str, &str)>| TlsFiles {
        verify,
        ca: ca.map(PathBuf::from),
        client: client.map(|(c, k)| (PathBuf::from(c), PathBuf::from(k))),
    };
    let certs = |f: Fake| f.file("/c/ca.pem", "").file("/c/cert.pem", "").file("/c/key.pem", "");
    let f = certs(Fake::new(&[("DOCKER_HOST", "tcp://d.example"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "/c")]));
    let want = tls(true, Some("/c/ca.pem"), Some(("/c/cert.pem", "/c/key.pem")));
    assert_eq!(f.discover(None).unwrap().host, DockerHost::TcpTls("d.example:2376".into(), want.clone()));
    assert_eq!(f.discover(Some("tcp://e:9")).unwrap().host, DockerHost::TcpTls("e:9".into(), want));
    // A unix socket never uses TLS.
    assert_eq!(f.discover(Some("unix:///s")).unwrap().host, DockerHost::Unix("/s".into()));
    // DOCKER_TLS alone: TLS without verification; files from ~/.docker.
    let f = Fake::new(&[("DOCKER_HOST", "tcp://d:1"), ("DOCKER_TLS", "1"), ("HOME", "/h")]).file("/h/.docker/ca.pem", "");
    assert_eq!(f.discover(None).unwrap().host, DockerHost::TcpTls("d:1".into(), tls(false, Some("/h/.docker/ca.pem"), None)));
    // Neither: plain tcp, whatever files there are.
    let f = certs(Fake::new(&[("DOCKER_HOST", "tcp://d"), ("DOCKER_CERT_PATH", "/c")]));
    assert_eq!(f.discover(None).unwrap().host, DockerHost::Tcp("d:2375".into()));
    // Half a client certificate is an error naming the missing file.
    let f = Fake::new(&[("DOCKER_HOST", "tcp://d"), ("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", "/c")]).file("/c/cert.pem", "");
    let e = f.discover(None).unwrap_err().to_string();
    assert!(e.contains("/c has cert.pem but no key.pem (DOCKER_CERT_PATH)"), "{e}");
}

#[test]
fn a_context_with_tls_files_uses_tls() {
    let dir = "/h/.docker";
    let id = crate::digest::Digest::of(b"remote");
    let tls_dir = format!("{dir}/contexts/tls/{}/docker", id.hex());
    let base = Fake::new(&[("DOCKER_CONTEXT", "remote"), ("HOME", "/h")]).file(&meta_path(dir, "remote"), &meta("tcp://10.1.1.1:2376"));
    let with_files = Fake { dirs: vec![PathBuf::from(&tls_dir)], ..base }
        .file(&format!("{tls_dir}/ca.pem"), "")
        .file(&format!("{tls_dir}/cert.pem"), "")
        .file(&format!("{tls_dir}/key.pem"), "");
    let DockerHost::TcpTls(addr, files) = with_files.discover(None).unwrap().host else { panic!("no TLS") };
    assert_eq!(addr, "10.1.1.1:2376");
    assert!(files.verify && files.ca.is_some() && files.client.is_some(), "{files:?}");
    // SkipTLSVerify without files: TLS, unverified.
    let skip = meta("tcp://10.1.1.1:2376").replace(r#""SkipTLSVerify":false"#, r#""SkipTLSVerify":true"#);
    let f = Fake::new(&[("DOCKER_CONTEXT", "remote"), ("HOME", "/h")]).file(&meta_path(dir, "remote"), &skip);
    assert_eq!(f.discover(None).unwrap().host, DockerHost::TcpTls("10.1.1.1:2376".into(), TlsFiles { verify: false, ca: None, client: None }));
}
