//! One module per command: each wires stages, no protocol code.

pub mod build;
pub mod catalog;
pub mod completions;
pub mod inspect;
pub mod push;
pub mod tags;

use crate::report::hint::{self, Facts};
use crate::{credentials, daemon, registry, settings};

/// The Docker daemon the docker CLI would use (`-H`, DOCKER_HOST, DOCKER_CONTEXT, the config's
/// currentContext, the default socket, then rootless Docker's and Podman's), connected, its API
/// version negotiated.
fn engine(host_flag: Option<&str>) -> anyhow::Result<daemon::Engine> {
    let daemon = daemon::host::discover(host_flag, &daemon::host::Sys::real())?;
    // The progress line names the daemon; why this one is worth an info line only when the
    // user did not name it (a context, a rootless or Podman socket).
    let level = if daemon.named_by_user() { log::Level::Debug } else { log::Level::Info };
    log::log!(level, "docker daemon: {} (from {})", daemon.host, daemon.how);
    daemon::Engine::connect(daemon.host)
}

/// A read-only connection to a registry for the listing commands: settings from the flags
/// and environment (`settings::read_access`), then a ping, which settles https or http for a
/// loopback registry and learns its auth challenge. Returns it with the registry's host and
/// the facts that hints name (add them to later errors with [`hint::add`]).
fn connect(mut flags: settings::RegistryFlags, host: Option<&str>) -> anyhow::Result<(registry::Registry, String, Facts)> {
    if flags.password_stdin {
        flags.password = Some(push::read_password_stdin(flags.password.is_some())?.into());
    }
    let env = |k: &str| std::env::var(k).ok();
    let access = settings::read_access(flags, host, &env, &|host| credentials::lookup(host, &env))?;
    for note in &access.credential_notes {
        log::debug!("{note}");
    }
    log::debug!("credentials for {} from {}", access.host, access.credential_source);
    let facts = Facts::registry(&access.options.base_url, &access.host, &access.options.credentials, &access.credential_source);
    let connected = registry::Registry::new(access.options).and_then(|r| {
        let mut r = r.read_only();
        r.ping()?;
        Ok(r)
    });
    let registry = connected.map_err(|e| hint::add(e, &facts))?;
    Ok((registry, access.host, facts))
}

/// A REPO or REF as typed: the registry host it names (if any) and the reference.
fn parse_reference(what: &str, s: &str) -> anyhow::Result<crate::reference::Reference> {
    use anyhow::Context;
    crate::reference::Reference::parse(s).with_context(|| format!("in {what}"))
}

/// `--page-size`: 1 to 1000 (distribution refuses more, with PAGINATION_NUMBER_INVALID).
fn page_size(n: u32) -> anyhow::Result<u32> {
    if !(1..=1000).contains(&n) {
        return Err(crate::error::fail(
            crate::error::Cause::BadInput,
            format!("--page-size {n} is out of range: give 1 to 1000 entries per page"),
        ));
    }
    Ok(n)
}
