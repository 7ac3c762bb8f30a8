//! `idpush push`'s flags.

use crate::secret::Secret;
use argh::FromArgs;

/// Push an image (from the Docker daemon, an archive, an OCI layout or stdin) to a registry.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "push",
    example = "\
Push to idpbuilder's Gitea (the destination becomes gitea.cnoe.localtest.me:8443/giteaadmin/myapp:latest):
  {command_name} myapp:latest -u giteaAdmin -p \"$PASSWORD\"

Push to a full destination reference; a loopback registry is spoken to over plain HTTP:
  {command_name} myapp:latest 127.0.0.1:5000/team/myapp:v1

Push a docker save archive, an OCI layout, or an archive streamed on stdin:
  {command_name} docker-archive:myapp.tar.gz 127.0.0.1:5000/team/myapp:v1
  {command_name} oci:./layout:v1 127.0.0.1:5000/team/myapp:v1
  docker save myapp | {command_name} - 127.0.0.1:5000/team/myapp:v1

Several tags at once (the blobs go up once):
  {command_name} myapp:latest 127.0.0.1:5000/team/myapp:v1 --tag latest --tag stable

Only the result on stdout, for scripts:
  ref=$({command_name} -q myapp:latest registry.example.com/team/myapp:v1)

A CI job: push a tarball, keep the digest, read the result with jq:
  {command_name} --progress plain --digest-file digest.txt docker-archive:app.tar 127.0.0.1:5000/team/app:$CI_COMMIT
  {command_name} -q --json docker-archive:app.tar 127.0.0.1:5000/team/app:v1 | jq -r '.blobs[] | .outcome'",
    note = "\
DEST is host[:port]/path/name[:tag|@digest]. Without it, the destination is the registry's host \
plus the image's repository path and tag. A one-part repository (myapp) is put under the \
username, lowercased, as Gitea requires owner/name: myapp as giteaAdmin becomes giteaadmin/myapp.

With --token and a username, the token is used as the password (a Gitea access token); \
with --token alone it is sent as a bearer token.

Credentials, first found wins: flags (--password-stdin reads one line from stdin), IDPBUILDER_REGISTRY_USERNAME/PASSWORD/TOKEN, the docker config (DOCKER_AUTH_CONFIG, then $DOCKER_CONFIG/config.json or ~/.docker/config.json: credHelpers, credsStore, auths), podman's auth file (REGISTRY_AUTH_FILE or $XDG_RUNTIME_DIR/containers/auth.json), anonymous. --log-level debug names the source used.

Environment: IDPBUILDER_REGISTRY_URL, IDPBUILDER_REGISTRY_USERNAME, IDPBUILDER_REGISTRY_PASSWORD, \
IDPBUILDER_REGISTRY_TOKEN, IDPBUILDER_REGISTRY_INSECURE, IDPBUILDER_RETRIES, \
IDPBUILDER_RETRY_MAX_DELAY, IDPBUILDER_CONNECT_TIMEOUT, IDPBUILDER_READ_TIMEOUT stand in for the \
flags of the same name; a flag always wins (IDPBUILDER_REGISTRY_INSECURE takes 1/0, true/false, yes/no or on/off). \
A docker-credential-* helper gets 30 seconds to answer. DOCKER_HOST, DOCKER_CONTEXT and the docker config's currentContext name the daemon, as for docker (default unix:///var/run/docker.sock, else $XDG_RUNTIME_DIR/docker.sock, /run/podman/podman.sock, $XDG_RUNTIME_DIR/podman/podman.sock; --log-level info says which was used); \
tcp:// uses TLS with DOCKER_TLS_VERIFY (or DOCKER_TLS, unverified) and DOCKER_CERT_PATH's ca.pem, cert.pem, key.pem; \
ssh:// runs `ssh … docker system dial-stdio`. \
TMPDIR is where layers are spooled. \
IDPUSH_CACHE_DIR names the layer cache dir (what earlier pushes learned, so an unchanged image is \
pushed without exporting it; every claim is checked with the registry), IDPUSH_NO_CACHE=1 stands in for --no-cache, \
IDPUSH_COMPRESSION for --compression, IDPUSH_COMPRESSION_LEVEL for --compression-level. \
NO_COLOR (any value) turns colour off in the progress block; TERM=dumb makes --progress auto plain. \
IDPBUILDER_REGISTRY_CA_CERT stands in for --ca-cert, IDPUSH_CHUNK_SIZE for --chunk-size. TLS is \
verified against the system store (SSL_CERT_FILE, SSL_CERT_DIR), built-in roots and \
/etc/docker/certs.d/HOST[:PORT]/*.crt, ~/.docker/certs.d/HOST[:PORT]/*.crt (IDPUSH_CERTS_D=DIR:... \
replaces those roots). HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY are honoured.

On success, stdout has one line: the pushed reference with its manifest digest \
(host/repo:tag@sha256:...), one line per tag pushed; with --json one JSON object per line instead \
(reference, digest, mediaType, platforms, size, blobs with their outcome pushed/skipped/mounted, \
seconds: src/report/schema/push.json). Progress goes to stderr: on a terminal a line per layer \
redrawn in place (NO_COLOR turns colour off), elsewhere a line per milestone; -q or --progress none \
for none. \
Without DEST, an archive or layout that names its image (docker save's RepoTags, an OCI \
ref.name that is a full reference) supplies the destination's repository and tag.",
    error_code(0, "pushed"),
    error_code(1, "error (registry, network, credentials, bad input)"),
    error_code(2, "image not found (in the daemon, or the archive, layout, tag or platform asked for), or the Docker daemon cannot be reached"),
    error_code(130, "interrupted (Ctrl-C); 143 for SIGTERM, 129 for SIGHUP")
)]
pub struct PushArgs {
    /// the image to push: a daemon image (name[:tag], an image ID with DEST, or
    /// docker-daemon:NAME), docker-archive:PATH[:NAME], oci:DIR[:TAG|@DIGEST],
    /// oci-archive:PATH[:TAG], - (an archive on stdin), or a path to an archive or OCI layout
    #[argh(positional)]
    pub image: String,

    /// where to push it: host[:port]/path/name[:tag|@digest]
    #[argh(positional)]
    pub dest: Option<String>,

    /// the docker daemon to read the image from: unix:///path/to/docker.sock, tcp://host:port
    /// or ssh://[user@]host[:port] (default: DOCKER_HOST, DOCKER_CONTEXT, the docker config's
    /// currentContext, the default socket, then rootless Docker's and Podman's sockets)
    #[argh(option, short = 'H')]
    pub host: Option<String>,

    /// registry URL (default https://gitea.cnoe.localtest.me:8443)
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

    /// skip TLS certificate verification, and allow sending credentials over plain HTTP
    /// to a registry that is not on this machine
    #[argh(switch)]
    pub insecure: bool,

    /// a PEM file of CA certificates to trust for the registry (besides the system's and
    /// /etc/docker/certs.d/HOST/*.crt, ~/.docker/certs.d/HOST/*.crt)
    #[argh(option)]
    pub ca_cert: Option<String>,

    /// upload blobs larger than this in chunks of this size, e.g. 64M (default 512M; K, M, G
    /// suffixes); a chunk refused as too large (413) is halved
    #[argh(option)]
    pub chunk_size: Option<String>,

    /// error, warn, info, debug or trace (default info)
    #[argh(option)]
    pub log_level: Option<String>,

    /// print nothing but the result (no progress, errors only on stderr)
    #[argh(switch, short = 'q')]
    pub quiet: bool,

    /// progress on stderr: auto (tty on a terminal, else plain), tty (a line per layer
    /// redrawn in place), plain (a line per milestone, no escape codes) or none
    #[argh(option)]
    pub progress: Option<String>,

    /// print the result as JSON: one object per pushed reference, one per line (a stable
    /// shape: src/report/schema/push.json)
    #[argh(switch)]
    pub json: bool,

    /// also write the manifest digest (sha256:...) to this file, as skopeo's --digestfile does
    #[argh(option)]
    pub digest_file: Option<String>,

    /// directory for the temporary image files (default $TMPDIR or /tmp)
    #[argh(option)]
    pub tmpdir: Option<String>,

    /// retries after a transient failure (default 9, so 10 attempts; 0 disables)
    #[argh(option)]
    pub retries: Option<u32>,

    /// longest wait between retries in seconds (default 30, at most 3600)
    #[argh(option)]
    pub retry_max_delay: Option<u64>,

    /// seconds to wait for a connection to the registry (default 30, at most 86400)
    #[argh(option)]
    pub connect_timeout: Option<u64>,

    /// seconds a read or write may stall before it is retried (default 300, at most 86400)
    #[argh(option)]
    pub read_timeout: Option<u64>,

    /// do not read or write the local layer cache ($IDPUSH_CACHE_DIR, else
    /// $XDG_CACHE_HOME/idpush or ~/.cache/idpush)
    #[argh(switch)]
    pub no_cache: bool,

    /// layer compression: gzip (default) or none (uncompressed OCI layers: the cheapest push
    /// to a registry on the same machine)
    #[argh(option)]
    pub compression: Option<String>,

    /// also push under this tag (repeatable): the blobs go up once, then one manifest per tag
    #[argh(option)]
    pub tag: Vec<String>,

    /// of a multi-platform image (an OCI index or manifest list in a layout or archive, or a
    /// daemon with the containerd image store: API 1.49+, Docker 28.1+), push only the image
    /// for this platform, os/arch[/variant], under the tag (default: the whole index)
    #[argh(option)]
    pub platform: Option<String>,

    /// gzip level for the layers idpush compresses: 0 (stored) to 9 (smallest); default 1,
    /// the fastest
    #[argh(option)]
    pub compression_level: Option<u32>,
}
