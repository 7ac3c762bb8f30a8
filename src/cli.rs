//! Command-line flags, shaped as the user types them. No I/O here: `plan.rs` turns these plus
//! the environment into what to do.

use argh::FromArgs;

/// Push container images to an OCI registry (by default idpbuilder's Gitea).
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,

    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Push(PushArgs),
}

/// Push an image from the local Docker daemon to a registry.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "push",
    example = "\
Push to idpbuilder's Gitea (the destination becomes gitea.cnoe.localtest.me:8443/giteaadmin/myapp:latest):
  {command_name} myapp:latest -u giteaAdmin -p \"$PASSWORD\"

Push to a full destination reference; a loopback registry is spoken to over plain HTTP:
  {command_name} myapp:latest 127.0.0.1:5000/team/myapp:v1

Only the result on stdout, for scripts:
  ref=$({command_name} -q myapp:latest registry.example.com/team/myapp:v1)",
    note = "\
DEST is host[:port]/path/name[:tag|@digest]. Without it, the destination is the registry's host \
plus the image's repository path and tag. A one-part repository (myapp) is put under the \
username, lowercased, as Gitea requires owner/name: myapp as giteaAdmin becomes giteaadmin/myapp.

With --token and a username, the token is used as the password (a Gitea access token); \
with --token alone it is sent as a bearer token.

Environment: IDPBUILDER_REGISTRY_URL, IDPBUILDER_REGISTRY_USERNAME, IDPBUILDER_REGISTRY_PASSWORD, \
IDPBUILDER_REGISTRY_TOKEN, IDPBUILDER_REGISTRY_INSECURE stand in for the flags of the same name; \
a flag always wins. DOCKER_HOST names the daemon (default unix:///var/run/docker.sock). \
TMPDIR is where layers are spooled.

On success, stdout has one line: the pushed reference with its manifest digest \
(host/repo:tag@sha256:...). Progress goes to stderr.",
    error_code(0, "pushed"),
    error_code(1, "error (registry, network, credentials, bad input)"),
    error_code(2, "image not found, or the Docker daemon cannot be reached"),
    error_code(130, "interrupted (Ctrl-C); 143 for SIGTERM")
)]
pub struct PushArgs {
    /// the local image to push (name[:tag], or an image ID with DEST)
    #[argh(positional)]
    pub image: String,

    /// where to push it: host[:port]/path/name[:tag|@digest]
    #[argh(positional)]
    pub dest: Option<String>,

    /// registry URL (default https://gitea.cnoe.localtest.me:8443)
    #[argh(option, short = 'r')]
    pub registry: Option<String>,

    /// username for the registry
    #[argh(option, short = 'u')]
    pub username: Option<String>,

    /// password for the registry
    #[argh(option, short = 'p')]
    pub password: Option<String>,

    /// access token (a bearer token, or with --username a Gitea access token)
    #[argh(option, short = 't')]
    pub token: Option<String>,

    /// skip TLS certificate verification and allow plain HTTP
    #[argh(switch)]
    pub insecure: bool,

    /// error, warn, info, debug or trace (default info)
    #[argh(option)]
    pub log_level: Option<String>,

    /// print nothing but the result
    #[argh(switch, short = 'q')]
    pub quiet: bool,

    /// directory for the temporary image files (default $TMPDIR or /tmp)
    #[argh(option)]
    pub tmpdir: Option<String>,
}
