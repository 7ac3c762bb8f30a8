//! Command-line flags, shaped as the user types them. No I/O here: `plan.rs` turns these plus
//! the environment into what to do. `--password` and `--token` are held as [`Secret`]s, so
//! `Debug` of the flags never shows them.

use crate::secret::Secret;
use argh::FromArgs;

/// What a lone `-` argument (stdin as SOURCE) becomes for argh, which takes `-` for a flag:
/// no real argument holds a NUL.
pub const STDIN: &str = "\0-";

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
    Build(BuildArgs),
    Catalog(CatalogArgs),
    Tags(TagsArgs),
    Inspect(InspectArgs),
    Completions(CompletionsArgs),
}

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

/// Build an image from a directory: one layer holding the context (like `COPY . /` onto
/// scratch or a base image), written as an OCI layout or archive, or pushed.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "build",
    example = "\
Build the folder ./site into an OCI archive, with a label and a command:
  {command_name} ./site --output oci-archive:site.tar --tag v1 --label org.opencontainers.image.source=https://example.com/site --cmd '[\"/bin/server\"]'

Write an OCI layout dir (created, or added to), tagged v1, and check it with skopeo:
  {command_name} ./site --output oci:layout:v1 && skopeo inspect oci:layout:v1

Build and push to a registry (same credentials, TLS and retries as `idpush push`):
  {command_name} ./site --push 127.0.0.1:5000/team/site:v1

Build on an image of the local Docker daemon (its layers are kept; the folder is one more):
  {command_name} ./site --base nginx:1.27 --output oci-archive:site.tar

Build on an image in a registry and push next to it (the base's layers are mounted, not sent):
  {command_name} ./site --base docker://127.0.0.1:5000/team/base:v1 --push 127.0.0.1:5000/team/site:v1

In CI, build and push, then read the pushed digest with jq:
  {command_name} ./site -q --json --push 127.0.0.1:5000/team/site:$CI_COMMIT | jq -r '.pushed[0].digest'",
    note = "\
The layer holds every file, dir and symlink of CONTEXT except what CONTEXT/.dockerignore excludes \
(Docker's rules: comments, *, **, ?, [...], ! exceptions, the last matching line wins; the \
.dockerignore itself may be excluded). Entries are sorted by name, owned by uid/gid 0, keep their \
permission bits, and their mtimes are clamped to SOURCE_DATE_EPOCH (seconds since 1970; 0 when \
unset): the same folder always gives the same digests. Symlinks are stored as symlinks, never \
followed; a relative symlink that points outside CONTEXT, a FIFO, a socket, a device or an \
unreadable file is an error. The config's created time is that epoch too.

With --base SOURCE (a daemon image, an archive or a layout, as `idpush push` reads them) the \
base's layers come first, as they are, and its config is kept: labels and env are merged (the \
flags win), --entrypoint resets the base's cmd as a Dockerfile's ENTRYPOINT does, and the \
platform is the base's (a different --platform is an error; of a multi-platform base, \
--platform picks one).

A base in a registry is docker://HOST/REPO[:TAG|@DIGEST], or HOST/REPO[:TAG|@DIGEST] when HOST has a '.' or ':' or is localhost and no file or dir of that name exists (docker-daemon:NAME, oci:, oci-archive: and docker-archive: always mean the local source). Of an index, the image for --platform, else for linux on this machine's architecture. Its layers are streamed to disk and checked (digest, size, diff_id), and keep their bytes. Its credentials are looked up for its host (docker config, helpers, podman's auth file), or are --push's when it is the --push registry; --insecure, --ca-cert and the retry and timeout flags apply to it too. When --push goes to the same registry, its layers are mounted from its repository; without --output they are then not downloaded at all.

--entrypoint and --cmd take a JSON array (exec form, '[\"/app\", \"--serve\"]') or a plain string, \
run as /bin/sh -c STRING (shell form), as in a Dockerfile. Env starts with Docker's default PATH. \
--output may be given more than once; an oci:DIR that is already a layout gets the image added \
(a --tag already there now names this image). Every output is written in a temp dir beside it and \
renamed into place: nothing partial is left on error or Ctrl-C.

With --push DEST the image is also pushed, after the outputs are written: the registry, \
credential, TLS and retry flags and environment are those of `idpush push` (see its --help). \
--tag names the image in the local outputs only; DEST carries the pushed tag.

On success, stdout has one line per output: the output with the image's manifest digest \
(oci-archive:site.tar@sha256:...), and with --push the pushed reference with its digest \
(host/repo:tag@sha256:...). With --json, one JSON object instead: the image (digest, media \
type, platform, config, layers with their size and whether they came from the base), each \
output (kind, path, tags) and each pushed reference as `idpush push --json` prints it (a stable \
shape: src/report/schema/build.json). Progress goes to stderr: on a terminal a live block while \
layers are read or pushed, elsewhere a line per milestone; -q or --progress none: none.",
    error_code(0, "built, written and pushed"),
    error_code(1, "error (bad flag, bad context, cannot write the output, registry, network, credentials)"),
    error_code(130, "interrupted (Ctrl-C); 143 for SIGTERM")
)]
pub struct BuildArgs {
    /// the directory whose files become the image's one layer
    #[argh(positional)]
    pub context: String,

    /// where to write the image: oci-archive:PATH[:TAG] (a tar of an OCI layout) or
    /// oci:DIR[:TAG] (an OCI layout); repeatable
    #[argh(option)]
    pub output: Vec<String>,

    /// name the image in every output's index.json (org.opencontainers.image.ref.name), e.g.
    /// v1, besides an output's own :TAG; repeatable
    #[argh(option)]
    pub tag: Vec<String>,

    /// a label KEY=VALUE for the image config; repeatable
    #[argh(option)]
    pub label: Vec<String>,

    /// an environment variable KEY=VALUE for the image config; repeatable
    #[argh(option)]
    pub env: Vec<String>,

    /// the entrypoint: a JSON array (exec form) or a string run by /bin/sh -c
    #[argh(option)]
    pub entrypoint: Option<String>,

    /// the default command: a JSON array (exec form) or a string run by /bin/sh -c
    #[argh(option)]
    pub cmd: Option<String>,

    /// the working directory of the container (an absolute path)
    #[argh(option)]
    pub workdir: Option<String>,

    /// the user the container runs as (name, uid, or user:group)
    #[argh(option)]
    pub user: Option<String>,

    /// os/arch[/variant] of the image, e.g. linux/arm64 (default: the base's, else linux on
    /// this machine's architecture)
    #[argh(option)]
    pub platform: Option<String>,

    /// the image to build on, named as push names a SOURCE (a daemon image, docker-archive:PATH,
    /// oci:DIR[:TAG], oci-archive:PATH[:TAG], a plain path; not stdin), a registry image
    /// (docker://HOST/REPO[:TAG|@DIGEST], or HOST/REPO... when HOST has a '.' or ':' or is
    /// localhost and no such path exists; docker-daemon:NAME for a daemon image of that name),
    /// or scratch (the default)
    #[argh(option)]
    pub base: Option<String>,

    /// the docker daemon of a daemon --base, as for push: unix:///path/to/docker.sock,
    /// tcp://host:port or ssh://[user@]host[:port] (default: DOCKER_HOST, DOCKER_CONTEXT, the
    /// docker config's currentContext, the default socket, then rootless Docker's and Podman's)
    #[argh(option, short = 'H')]
    pub host: Option<String>,

    /// error, warn, info, debug or trace (default info)
    #[argh(option)]
    pub log_level: Option<String>,

    /// print nothing but the result
    #[argh(switch, short = 'q')]
    pub quiet: bool,

    /// progress on stderr: auto (tty on a terminal, else plain), tty (a live block redrawn in
    /// place), plain (a line per milestone, no escape codes) or none
    #[argh(option)]
    pub progress: Option<String>,

    /// print the result as one JSON object: the image, its outputs and pushed references (a
    /// stable shape: src/report/schema/build.json)
    #[argh(switch)]
    pub json: bool,

    /// directory for the temporary image files (default $TMPDIR or /tmp)
    #[argh(option)]
    pub tmpdir: Option<String>,

    /// also push the image to DEST (host[:port]/path/name[:tag]), as `idpush push` does, with
    /// the registry flags below
    #[argh(option)]
    pub push: Option<String>,

    /// with --push: registry URL (default https://gitea.cnoe.localtest.me:8443)
    #[argh(option, short = 'r')]
    pub registry: Option<String>,

    /// with --push: username for the registry
    #[argh(option, short = 'u')]
    pub username: Option<String>,

    /// with --push: password for the registry
    #[argh(option, short = 'p')]
    pub password: Option<Secret>,

    /// with --push: read the password from stdin (one line)
    #[argh(switch)]
    pub password_stdin: bool,

    /// with --push: access token (a bearer token, or with --username a Gitea access token)
    #[argh(option, short = 't')]
    pub token: Option<Secret>,

    /// with --push: skip TLS certificate verification, and allow sending credentials over
    /// plain HTTP to a registry that is not on this machine
    #[argh(switch)]
    pub insecure: bool,

    /// with --push: a PEM file of CA certificates to trust for the registry
    #[argh(option)]
    pub ca_cert: Option<String>,

    /// with --push: upload blobs larger than this in chunks of this size (default 512M)
    #[argh(option)]
    pub chunk_size: Option<String>,

    /// with --push: retries after a transient failure (default 9)
    #[argh(option)]
    pub retries: Option<u32>,

    /// with --push: longest wait between retries in seconds (default 30)
    #[argh(option)]
    pub retry_max_delay: Option<u64>,

    /// with --push: seconds to wait for a connection to the registry (default 30)
    #[argh(option)]
    pub connect_timeout: Option<u64>,

    /// with --push: seconds a read or write may stall before it is retried (default 300)
    #[argh(option)]
    pub read_timeout: Option<u64>,
}

impl BuildArgs {
    /// The `idpush push` flags of `--push DEST`, for the push plan (`plan.rs`); None without
    /// `--push`. The image is the one built: SOURCE is DEST itself, only so that the plan has a
    /// valid name (DEST decides everything); no extra tags, no platform choice.
    pub fn push_args(&mut self) -> Option<PushArgs> {
        let dest = self.push.take()?;
        Some(PushArgs {
            image: dest.clone(),
            dest: Some(dest),
            host: None,
            tag: Vec::new(),
            platform: None,
            registry: self.registry.take(),
            username: self.username.take(),
            password: self.password.take(),
            password_stdin: self.password_stdin,
            token: self.token.take(),
            insecure: self.insecure,
            ca_cert: self.ca_cert.take(),
            chunk_size: self.chunk_size.take(),
            log_level: self.log_level.clone(),
            quiet: self.quiet,
            tmpdir: self.tmpdir.clone(),
            retries: self.retries,
            retry_max_delay: self.retry_max_delay,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            // The layer is spooled once, by the build: nothing to cache or compress again.
            no_cache: true,
            compression: None,
            compression_level: None,
            // The build prints its own result lines.
            progress: None,
            json: false,
            digest_file: None,
        })
    }
}

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

/// Print a shell completion script (bash, zsh or fish) for idpush's commands and flags.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "completions",
    example = "\
bash, for this shell or for every user:
  source <({command_name} bash)
  {command_name} bash > /etc/bash_completion.d/idpush

zsh (a directory of $fpath) and fish:
  {command_name} zsh > \"${{fpath[1]}}/_idpush\"
  {command_name} fish > ~/.config/fish/completions/idpush.fish",
    note = "The script is made from idpush's own command list and each command's flags (as `--help` shows them), \
so it matches this version; regenerate it after an upgrade. Output goes to stdout.",
    error_code(0, "printed"),
    error_code(1, "a shell other than bash, zsh or fish")
)]
pub struct CompletionsArgs {
    /// the shell: bash, zsh or fish
    #[argh(positional)]
    pub shell: String,
}

/// What the command line asks for, or why it cannot be parsed.
#[derive(Debug)]
pub enum Parsed {
    Run(Cli),
    /// `--help`: argh's text, for stdout, exit 0.
    Help(String),
    /// A usage mistake: one error line (without the `idpush: error: ` prefix) and a hint.
    Wrong { error: String, hint: String },
}

/// Parses `args` (without the program name). argh's own messages span lines ("Required
/// positional arguments not provided:\n    image\n\nRun idpush --help …"); a mistake becomes one
/// error line and one hint naming the command's `--help`.
pub fn parse(args: &[&str]) -> Parsed {
    let commands: Vec<&str> = <Command as argh::SubCommands>::COMMANDS.iter().map(|c| c.name).collect();
    let named = args.iter().find(|a| !a.starts_with('-')).copied().filter(|a| commands.contains(a));
    let help_of = named.map_or("idpush --help".to_string(), |c| format!("idpush {c} --help"));
    // A lone `-` (stdin as SOURCE) is kept as an argument: argh would take it for a flag.
    let args: Vec<&str> = args.iter().map(|a| if *a == "-" { STDIN } else { a }).collect();
    match Cli::from_args(&["idpush"], &args) {
        Ok(cli) if cli.command.is_none() && !cli.version => Parsed::Wrong {
            error: format!("give a command: {}", commands.join(", ")),
            hint: "e.g. `idpush push myapp:1.0` pushes an image of the local daemon to idpbuilder's Gitea; \
                   `idpush --help` lists the commands"
                .to_string(),
        },
        Ok(cli) => Parsed::Run(cli),
        Err(argh::EarlyExit { output, status: Ok(()) }) => Parsed::Help(output),
        Err(argh::EarlyExit { output, status: Err(()) }) => {
            // The first paragraph, its lines joined: "Required positional arguments not
            // provided: image".
            let first: Vec<&str> = output.trim().split("\n\n").next().unwrap_or("").lines().map(str::trim).collect();
            let mut error = first.join(" ");
            if let Some(c) = error.get(..1) {
                error = c.to_lowercase() + &error[1..];
            }
            Parsed::Wrong { error, hint: format!("`{help_of}` shows the usage, every flag and examples") }
        }
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    fn wrong(args: &[&str]) -> (String, String) {
        match parse(args) {
            Parsed::Wrong { error, hint } => (error, hint),
            other => panic!("{args:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn usage_mistakes_are_one_line_and_a_hint() {
        let (error, hint) = wrong(&["push"]);
        assert_eq!(error, "required positional arguments not provided: image");
        assert_eq!(hint, "`idpush push --help` shows the usage, every flag and examples");
        let (error, hint) = wrong(&["push", "--bogus", "x"]);
        assert_eq!(error, "unrecognized argument: --bogus");
        assert!(hint.contains("idpush push --help"));
        let (error, _) = wrong(&["push", "docker-archive:a.tar", "x", "y"]);
        assert!(error.contains("docker-archive:a.tar") || error.contains("y"), "{error}");
        let (error, hint) = wrong(&["frob"]);
        assert!(error.contains("frob"), "{error}");
        assert!(hint.contains("`idpush --help`"), "{hint}");
        let (error, _) = wrong(&[]);
        assert!(error.starts_with("give a command: push"), "{error}");
        for (_, args) in [("a", vec!["push"]), ("b", vec!["push", "--bogus"]), ("c", vec![])] {
            let (error, hint) = wrong(&args);
            assert!(!error.contains('\n') && !hint.contains('\n'), "{error:?} {hint:?}");
        }
    }

    #[test]
    fn help_and_version_parse() {
        assert!(matches!(parse(&["push", "--help"]), Parsed::Help(h) if h.contains("Usage: idpush push")));
        assert!(matches!(parse(&["--version"]), Parsed::Run(c) if c.version));
        assert!(matches!(parse(&["push", "a:1"]), Parsed::Run(Cli { command: Some(Command::Push(_)), .. })));
    }
}
