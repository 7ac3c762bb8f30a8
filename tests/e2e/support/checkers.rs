//! The docker CLI and skopeo (independent checkers) against the private daemon.

use super::*;

fn docker_cli() -> String {
    std::env::var("IDPUSH_TEST_DOCKER_CLI")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "docker".into())
}

/// This test run's own docker CLI config dir: `$TMPDIR/idpush-e2e-docker-config-<pid>` with an
/// empty `config.json`, removed when the test binary exits; dirs of earlier runs whose process
/// is gone are removed first. (One fixed dir used to be shared by every run: a run rewriting its
/// `config.json` raced the docker commands of another run reading it.)
pub fn docker_config_dir() -> &'static Path {
    DOCKER_CONFIG.get_or_init(|| {
        let tmp = std::env::temp_dir();
        remove_stale_docker_configs(&tmp);
        let d = tmp.join(format!("{DOCKER_CONFIG_PREFIX}{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        std::fs::write(d.join("config.json"), "{}").unwrap();
        extern "C" {
            fn atexit(f: extern "C" fn()) -> i32;
        }
        // SAFETY: registers a plain function; it only removes a directory.
        unsafe { atexit(remove_docker_config) };
        d
    })
}

static DOCKER_CONFIG: OnceLock<PathBuf> = OnceLock::new();
const DOCKER_CONFIG_PREFIX: &str = "idpush-e2e-docker-config-";

extern "C" fn remove_docker_config() {
    if let Some(d) = DOCKER_CONFIG.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// Removes `idpush-e2e-docker-config-<pid>` dirs whose test process no longer runs (killed
/// runs never reach their exit handler).
fn remove_stale_docker_configs(tmp: &Path) {
    for name in dir_entries(tmp) {
        let Some(pid) = name.strip_prefix(DOCKER_CONFIG_PREFIX).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(tmp.join(&name));
        }
    }
}

#[test]
fn docker_config_dir_is_this_runs_own() {
    let d = docker_config_dir();
    assert_eq!(
        d.file_name().unwrap().to_string_lossy(),
        format!("{DOCKER_CONFIG_PREFIX}{}", std::process::id())
    );
    assert_eq!(std::fs::read_to_string(d.join("config.json")).unwrap(), "{}");
    // A dir left by a run that was killed (its pid no longer runs) goes; a live run's stays.
    let tmp = TestDir::new("docker-config-sweep");
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = tmp.sub(&format!("{DOCKER_CONFIG_PREFIX}{dead}"));
    let live = tmp.sub(&format!("{DOCKER_CONFIG_PREFIX}{}", std::process::id()));
    remove_stale_docker_configs(&tmp.path);
    assert!(!stale.exists() && live.exists());
}

pub fn docker_cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(docker_cli());
    scrub(&mut cmd);
    cmd.env("DOCKER_HOST", &env().docker_host)
        .env("DOCKER_CONFIG", docker_config_dir())
        .env("DOCKER_BUILDKIT", "0")
        .env("DOCKER_CLI_HINTS", "false")
        .args(args);
    cmd
}

/// Run the docker CLI against the private daemon; panics unless it exits 0. Returns stdout.
pub fn docker(args: &[&str]) -> String {
    let out = run(
        docker_cmd(args),
        &format!("docker {}", args.join(" ")),
        TOOL_TIMEOUT,
    );
    assert_eq!(
        out.code,
        Some(0),
        "docker {} failed:\n{}",
        args.join(" "),
        out.describe()
    );
    out.stdout
}

/// Run the docker CLI; return the output whatever the exit code.
pub fn docker_output(args: &[&str]) -> Output {
    run(
        docker_cmd(args),
        &format!("docker {}", args.join(" ")),
        TOOL_TIMEOUT,
    )
}

/// `docker image inspect -f '{{.Id}}' IMAGE`
pub fn image_id(image: &str) -> String {
    docker(&["image", "inspect", "-f", "{{.Id}}", image])
        .trim()
        .to_string()
}

/// The image's rootfs diff IDs, in order.
pub fn image_diff_ids(image: &str) -> Vec<String> {
    let json = docker(&["image", "inspect", "-f", "{{json .RootFS.Layers}}", image]);
    serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("bad RootFS.Layers {json:?}: {e}"))
}

/// `docker rmi -f` (best effort).
pub fn docker_rmi(images: &[&str]) {
    if images.is_empty() {
        return;
    }
    let mut args = vec!["rmi", "-f"];
    args.extend_from_slice(images);
    let _ = docker_output(&args);
}

/// Remove the given image names when dropped (best effort), so the daemon's vfs store stays small.
pub struct ImageGuard {
    pub names: Vec<String>,
}

impl ImageGuard {
    pub fn new() -> ImageGuard {
        ImageGuard { names: Vec::new() }
    }
    pub fn add(&mut self, name: &str) {
        self.names.push(name.to_string());
    }
}

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let names: Vec<&str> = self.names.iter().map(|s| s.as_str()).collect();
        docker_rmi(&names);
    }
}

pub fn skopeo(args: &[&str]) -> Output {
    let mut cmd = Command::new("skopeo");
    scrub(&mut cmd);
    cmd.args(args);
    run(cmd, &format!("skopeo {}", args.join(" ")), TOOL_TIMEOUT)
}

/// `skopeo inspect --raw` of a reference in the test registry: the manifest's exact bytes.
pub fn skopeo_raw_manifest(reference: &str) -> Vec<u8> {
    let out = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert_eq!(
        out.code,
        Some(0),
        "skopeo inspect --raw {reference} failed:\n{}",
        out.describe()
    );
    // skopeo prints the raw bytes followed by a newline.
    let mut bytes = out.stdout.into_bytes();
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    bytes
}
