//! The `hint:` line under an error: what to do about it, decided in one place from the error's
//! cause and what the command knew when it failed ([`Facts`]: the registry URL tried, where the
//! credentials came from). A failure whose maker knew better (`tls.rs` knows the certs.d path)
//! carries its own hint, which wins.

use crate::error::{failure_of, Cause, Failure};

/// What the command knew when it failed, for hints that name it.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The registry base URL tried, e.g. `https://gitea.cnoe.localtest.me:8443`.
    pub registry: Option<String>,
    /// `host[:port]` of the registry, as `docker login` takes it.
    pub host: Option<String>,
    /// Where the credentials came from (`flags`, `docker config … (auths)` …); None when the
    /// push went anonymously.
    pub credential_source: Option<String>,
    /// The username sent, if any (never the secret).
    pub username: Option<String>,
    /// The image comes from the Docker daemon (not a file, a layout or stdin).
    pub daemon_source: bool,
}

impl Facts {
    /// The facts of a command talking to the registry at `base_url` (`host[:port]`) with
    /// `credentials` from `credential_source`.
    pub fn registry(base_url: &str, host: &str, credentials: &crate::registry::Credentials, credential_source: &str) -> Facts {
        use crate::registry::Credentials;
        Facts {
            registry: Some(base_url.to_string()),
            host: Some(host.to_string()),
            credential_source: (!matches!(credentials, Credentials::Anonymous)).then(|| credential_source.to_string()),
            username: match credentials {
                Credentials::Basic { username, .. } => Some(username.clone()),
                Credentials::IdentityToken { username, .. } => username.clone(),
                _ => None,
            },
            daemon_source: false,
        }
    }
}

/// Fills in the hint of the error's [`Failure`] from `facts`, unless it has one.
pub fn add(mut err: anyhow::Error, facts: &Facts) -> anyhow::Error {
    let hint = match failure_of(&err) {
        Some(f) if f.hint.is_none() => for_cause(&f.cause, facts),
        _ => None,
    };
    if let (Some(hint), Some(f)) = (hint, err.downcast_mut::<Failure>()) {
        f.hint = Some(hint);
    }
    err
}

/// The hint line to print for `err` (without the `hint: ` prefix), if any.
pub fn of(err: &anyhow::Error) -> Option<String> {
    let f = failure_of(err)?;
    f.hint.clone().or_else(|| for_cause(&f.cause, &Facts::default()))
}

/// THE table of hints.
fn for_cause(cause: &Cause, facts: &Facts) -> Option<String> {
    let host = facts.host.as_deref().unwrap_or("HOST");
    let has = |codes: &[String], code: &str| codes.iter().any(|c| c == code);
    Some(match cause {
        Cause::DaemonUnreachable => "start the Docker daemon (or Podman's `podman system service`), or point DOCKER_HOST \
            at its socket, e.g. DOCKER_HOST=unix://$XDG_RUNTIME_DIR/docker.sock"
            .to_string(),
        Cause::ImageNotFound if facts.daemon_source => {
            "`docker images` lists what the daemon has; give the name and tag as it shows them".to_string()
        }
        Cause::ImageNotFound => "check the path, tag or name; the sources are NAME (the daemon), docker-archive:PATH[:NAME], \
            oci:DIR[:TAG|@DIGEST], oci-archive:PATH[:TAG] and - (stdin)"
            .to_string(),
        Cause::Refused => auth_hint(facts, host),
        Cause::Status { status, codes } if has(codes, "DENIED") || has(codes, "UNAUTHORIZED") || matches!(status, 401 | 403) => {
            auth_hint(facts, host)
        }
        Cause::Status { status: 413, .. } => "a proxy in front of the registry limits request bodies: upload in smaller \
            pieces with --chunk-size (e.g. --chunk-size 8M), or raise its limit (nginx: client_max_body_size)"
            .to_string(),
        Cause::Status { codes, .. } if has(codes, "NAME_INVALID") || has(codes, "NAME_UNKNOWN") => "repository names are \
            lowercase, owner/name on Gitea, and the owner (a user or an organization) must exist there: e.g. giteaadmin/myapp"
            .to_string(),
        Cause::Network => match &facts.registry {
            Some(url) => format!("is the registry up and reachable? idpush tried {url} (-r or IDPBUILDER_REGISTRY_URL sets it)"),
            None => "is the registry up and reachable? check the address (-r or IDPBUILDER_REGISTRY_URL)".to_string(),
        },
        _ => return None,
    })
}

fn auth_hint(facts: &Facts, host: &str) -> String {
    let user = facts.username.as_deref().map(|u| format!(" as {u}")).unwrap_or_default();
    match facts.credential_source.as_deref() {
        None => format!(
            "the registry wants credentials: give -u USER with --password-stdin (or -t TOKEN), or log in with `docker login {host}`"
        ),
        Some(source) => format!(
            "the credentials{user} came from {source}: check them, or log in again with `docker login {host}` \
             (flags win: -u USER --password-stdin)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{fail, fail_with_hint};

    fn facts() -> Facts {
        Facts {
            registry: Some("https://gitea.example:8443".into()),
            host: Some("gitea.example:8443".into()),
            credential_source: Some("docker config /h/.docker/config.json (auths)".into()),
            username: Some("giteaAdmin".into()),
            daemon_source: true,
        }
    }

    #[test]
    fn each_class_of_failure_gets_its_hint() {
        let cases: Vec<(Cause, &str)> = vec![
            (Cause::DaemonUnreachable, "DOCKER_HOST"),
            (Cause::ImageNotFound, "docker images"),
            (Cause::Refused, "docker config /h/.docker/config.json (auths)"),
            (Cause::status(401), "docker login gitea.example:8443"),
            (Cause::Status { status: 400, codes: vec!["DENIED".into()] }, "as giteaAdmin"),
            (Cause::status(413), "--chunk-size"),
            (Cause::Status { status: 400, codes: vec!["NAME_INVALID".into()] }, "lowercase"),
            (Cause::Status { status: 404, codes: vec!["NAME_UNKNOWN".into()] }, "owner"),
            (Cause::Network, "tried https://gitea.example:8443"),
        ];
        for (cause, want) in cases {
            let e = add(fail(cause.clone(), "x").context("pushing a to b"), &facts());
            let hint = of(&e).unwrap_or_else(|| panic!("no hint for {cause:?}"));
            assert!(hint.contains(want), "{cause:?}: {hint}");
        }
    }

    #[test]
    fn no_hint_where_none_helps() {
        let file = Facts { daemon_source: false, ..facts() };
        assert!(of(&add(fail(Cause::ImageNotFound, "x"), &file)).unwrap().contains("docker-archive:PATH"));
        for cause in [Cause::BadImage, Cause::LocalIo, Cause::status(500), Cause::BadAnswer] {
            assert_eq!(of(&add(fail(cause.clone(), "x"), &facts())), None, "{cause:?}");
        }
        assert_eq!(of(&anyhow::anyhow!("plain")), None);
    }

    #[test]
    fn the_makers_hint_wins_and_never_a_secret() {
        let e = add(fail_with_hint(Cause::Unreachable, "not trusted", "give --ca-cert"), &facts());
        assert_eq!(of(&e).as_deref(), Some("give --ca-cert"));
        // An anonymous push is told how to give credentials; no fact holds a secret to show.
        let anon = Facts { credential_source: None, username: None, ..facts() };
        assert!(of(&add(fail(Cause::status(401), "x"), &anon)).unwrap().contains("--password-stdin"));
    }
}
