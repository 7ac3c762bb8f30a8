//! `idpush build`'s flags, and the `idpush push` flags of its `--push`.

use crate::secret::Secret;
use argh::FromArgs;

use super::PushArgs;

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
