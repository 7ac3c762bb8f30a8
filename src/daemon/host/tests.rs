//! Tests for `DOCKER_HOST` parsing.

use super::*;
use crate::error::{class_of, Class};

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
    let err = DockerHost::parse("ssh://me@box").unwrap_err().to_string();
    assert!(
        err.contains("ssh:// is not supported") && err.contains("DOCKER_HOST=unix://"),
        "{err}"
    );
}

#[test]
fn docker_host_from_values_and_display() {
    let default = DockerHost::from_values(None, false).unwrap();
    assert_eq!(default.to_string(), "unix:///var/run/docker.sock");
    assert_eq!(DockerHost::from_values(Some(""), true).unwrap(), default);
    assert_eq!(
        DockerHost::from_values(Some("tcp://h"), false).unwrap().to_string(),
        "tcp://h:2375"
    );
    assert!(DockerHost::from_values(Some("tcp://h"), true)
        .unwrap_err()
        .to_string()
        .contains("TLS"));
    assert!(DockerHost::from_values(Some("unix:///s"), true).is_ok());
}
