//! The flags of `idpush catalog`, `tags` and `inspect`, which share the registry flags.

use crate::secret::Secret;
use argh::FromArgs;

/// The exit codes, credentials and environment the listing commands share (argh has no
/// flatten, so [`listing_args!`] adds the same registry flags to each of them).
macro_rules! listing_args {
    (
        $(#[$meta:meta])*
        pub struct $name:ident { $($body:tt)* }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $($body)*

            /// print the result as JSON (a stable shape: src/report/schema/)
            #[argh(switch)]
            pub json: bool,

            /// registry URL, for a name without a host (default https://gitea.cnoe.localtest.me:8443)
            #[argh(option, short = 'r')]
            pub registry: Option<String>,

            /// username for the registry
            #[argh(option, short = 'u')]
            pub username: Option<String>,

            /// password for the registry
            #[argh(option, short = 'p')]
            pub password: Option<Secret>,

            /// read the password from stdin (one line; keeps it out of the shell history)
            #[argh(switch)]
            pub password_stdin: bool,

            /// access token (a bearer token, or with --username a Gitea access token)
            #[argh(option, short = 't')]
            pub token: Option<Secret>,

            /// skip TLS certificate verification (and allow credentials over plain HTTP)
            #[argh(switch)]
            pub insecure: bool,

            /// a PEM file of CA certificates to trust for the registry
            #[argh(option)]
            pub ca_cert: Option<String>,

            /// error, warn, info, debug or trace (default info)
            #[argh(option)]
            pub log_level: Option<String>,

            /// retries after a transient failure (default 9; 0 disables)
            #[argh(option)]
            pub retries: Option<u32>,

            /// longest wait between retries in seconds (default 30, at most 3600)
            #[argh(option)]
            pub retry_max_delay: Option<u64>,

            /// seconds to wait for a connection to the registry (default 30)
            #[argh(option)]
            pub connect_timeout: Option<u64>,

            /// seconds a read may stall before it is retried (default 300)
            #[argh(option)]
            pub read_timeout: Option<u64>,
        }

        impl $name {
            /// The registry flags, for `settings::read_access`.
            pub fn registry_flags(&mut self) -> crate::settings::RegistryFlags {
                crate::settings::RegistryFlags {
                    registry: self.registry.take(),
                    username: self.username.take(),
                    password: self.password.take(),
                    password_stdin: self.password_stdin,
                    token: self.token.take(),
                    insecure: self.insecure,
                    ca_cert: self.ca_cert.take(),
                    retries: self.retries,
                    retry_max_delay: self.retry_max_delay,
                    connect_timeout: self.connect_timeout,
                    read_timeout: self.read_timeout,
                }
            }
        }
    };
}

listing_args! {
    /// List the repositories of a registry, every page of its catalog.
    #[derive(FromArgs, Debug)]
    #[argh(
        subcommand,
        name = "catalog",
        example = "\
Every repository of idpbuilder's Gitea:
  {command_name} -u giteaAdmin -p \"$PASSWORD\"

A local registry, as JSON for scripts:
  {command_name} 127.0.0.1:5000 --json | jq -r '.repositories[]'",
        note = "\
REGISTRY is [https://|http://]host[:port]; without it, -r, IDPBUILDER_REGISTRY_URL or idpbuilder's \
Gitea. A loopback registry without a scheme is tried over https, then plain http. Registries that keep \
no public catalog (Docker Hub, GHCR) are said to have none: list a repository's tags instead.

Credentials, first found wins: flags, IDPBUILDER_REGISTRY_USERNAME/PASSWORD/TOKEN, the docker config, \
podman's auth file, anonymous (as for push; see `idpush push --help`). The token asked for has scope \
registry:catalog:*.

Output: one repository per line; with --json one object {{\"registry\", \"repositories\"}} \
(src/report/schema/catalog.json).

Environment: IDPBUILDER_REGISTRY_URL, IDPBUILDER_REGISTRY_USERNAME, IDPBUILDER_REGISTRY_PASSWORD, \
IDPBUILDER_REGISTRY_TOKEN, IDPBUILDER_REGISTRY_INSECURE, IDPBUILDER_REGISTRY_CA_CERT, IDPBUILDER_RETRIES, \
IDPBUILDER_RETRY_MAX_DELAY, IDPBUILDER_CONNECT_TIMEOUT, IDPBUILDER_READ_TIMEOUT stand in for their flags; \
DOCKER_CONFIG, DOCKER_AUTH_CONFIG and REGISTRY_AUTH_FILE name stored credentials; HTTPS_PROXY, HTTP_PROXY, \
ALL_PROXY and NO_PROXY are honoured.",
        error_code(0, "listed"),
        error_code(1, "error (no catalog on this registry, registry, network, credentials, bad input)"),
        error_code(130, "interrupted")
    )]
    pub struct CatalogArgs {
        /// the registry: [scheme://]host[:port] (default: -r, IDPBUILDER_REGISTRY_URL, idpbuilder's Gitea)
        #[argh(positional, arg_name = "registry")]
        pub registry_arg: Option<String>,

        /// entries asked for per page, 1 to 1000 (default 100)
        #[argh(option)]
        pub page_size: Option<u32>,
    }
}

listing_args! {
    /// List the tags of a repository, every page.
    #[derive(FromArgs, Debug)]
    #[argh(
        subcommand,
        name = "tags",
        example = "\
The tags of an image pushed to idpbuilder's Gitea:
  {command_name} gitea.cnoe.localtest.me:8443/giteaadmin/myapp -u giteaAdmin -p \"$PASSWORD\"

The newest-looking tag, in a script:
  {command_name} 127.0.0.1:5000/team/myapp | sort -V | tail -1",
        note = "\
REPO is host[:port]/path, or a path on the registry of -r, IDPBUILDER_REGISTRY_URL or idpbuilder's Gitea \
(the path is taken as given: on Gitea it is owner/name). Credentials as for push (`idpush push --help`), \
with a pull token.

Output: one tag per line, in the registry's order; with --json one object {{\"repository\", \"tags\"}} \
(src/report/schema/tags.json).

Environment: IDPBUILDER_REGISTRY_URL, IDPBUILDER_REGISTRY_USERNAME, IDPBUILDER_REGISTRY_PASSWORD, \
IDPBUILDER_REGISTRY_TOKEN, IDPBUILDER_REGISTRY_INSECURE, IDPBUILDER_REGISTRY_CA_CERT, IDPBUILDER_RETRIES, \
IDPBUILDER_RETRY_MAX_DELAY, IDPBUILDER_CONNECT_TIMEOUT, IDPBUILDER_READ_TIMEOUT stand in for their flags; \
DOCKER_CONFIG, DOCKER_AUTH_CONFIG and REGISTRY_AUTH_FILE name stored credentials; HTTPS_PROXY, HTTP_PROXY, \
ALL_PROXY and NO_PROXY are honoured.",
        error_code(0, "listed"),
        error_code(1, "error (registry, network, credentials, bad input)"),
        error_code(2, "the repository is not in the registry"),
        error_code(130, "interrupted")
    )]
    pub struct TagsArgs {
        /// the repository: host[:port]/path, or a path on the default registry
        #[argh(positional)]
        pub repo: String,

        /// entries asked for per page, 1 to 1000 (default 100)
        #[argh(option)]
        pub page_size: Option<u32>,
    }
}

listing_args! {
    /// Show what a registry holds under a reference: manifest, platforms, layers and config.
    #[derive(FromArgs, Debug)]
    #[argh(
        subcommand,
        name = "inspect",
        example = "\
An image on idpbuilder's Gitea:
  {command_name} gitea.cnoe.localtest.me:8443/giteaadmin/myapp:1.0 -u giteaAdmin -p \"$PASSWORD\"

The platforms of a multi-platform image, for scripts:
  {command_name} 127.0.0.1:5000/team/myapp:1.0 --json | jq -r '.manifests[].platform'

By digest (what `idpush push` printed):
  {command_name} 127.0.0.1:5000/team/myapp@sha256:...",
        note = "\
REF is host[:port]/path[:tag|@digest] (tag latest when neither is given), or a path on the registry \
of -r, IDPBUILDER_REGISTRY_URL or idpbuilder's Gitea. Credentials as for push (`idpush push --help`), \
with a pull token.

Shows the manifest's digest and media type; for an OCI index or Docker manifest list, each child \
with its platform (attestations marked); for an image, its config (created, platform, entrypoint, \
cmd, labels) and its layers with sizes. The manifest is checked against its digest, the config \
against its descriptor. --json prints one object of the shape src/report/schema/inspect.json.

Environment: IDPBUILDER_REGISTRY_URL, IDPBUILDER_REGISTRY_USERNAME, IDPBUILDER_REGISTRY_PASSWORD, \
IDPBUILDER_REGISTRY_TOKEN, IDPBUILDER_REGISTRY_INSECURE, IDPBUILDER_REGISTRY_CA_CERT, IDPBUILDER_RETRIES, \
IDPBUILDER_RETRY_MAX_DELAY, IDPBUILDER_CONNECT_TIMEOUT, IDPBUILDER_READ_TIMEOUT stand in for their flags; \
DOCKER_CONFIG, DOCKER_AUTH_CONFIG and REGISTRY_AUTH_FILE name stored credentials; HTTPS_PROXY, HTTP_PROXY, \
ALL_PROXY and NO_PROXY are honoured.",
        error_code(0, "shown"),
        error_code(1, "error (registry, network, credentials, bad input)"),
        error_code(2, "the manifest or repository is not in the registry"),
        error_code(130, "interrupted")
    )]
    pub struct InspectArgs {
        /// the image: host[:port]/path[:tag|@digest], or a path on the default registry
        #[argh(positional)]
        pub reference: String,
    }
}
