//! Podman for real (issue 11): Debian's podman serving its Docker-compatible API
//! (`scripts/env-podman.sh`, started by `scripts/test-env.sh start`). Images are made with the
//! podman CLI on the service's storage, pushed by idpush with DOCKER_HOST at the service's
//! socket, pulled back with the test Docker daemon: the image IDs (config digests) must match.
//! Covers Podman's export layout (layers at the root as `<diffid>.tar`, legacy `<id>/layer.tar`
//! symlinks) and its names (`localhost/…` for local builds, short names resolved by the daemon).

use crate::support::*;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// What scripts/env-podman.sh wrote to the env file.
struct Podman {
    host: String,
    root: String,
    runroot: String,
}

fn podman_env() -> &'static Podman {
    static P: OnceLock<Podman> = OnceLock::new();
    P.get_or_init(|| {
        env();
        let path = env_file_path();
        let vars = parse_env_lines(&std::fs::read_to_string(&path).unwrap_or_default());
        let get = |k: &str| {
            vars.get(k).filter(|v| !v.is_empty()).cloned().unwrap_or_else(|| {
                panic!("{} has no {k}= line: start podman with `scripts/test-env.sh start` (or `scripts/env-podman.sh start DIR`)", path.display())
            })
        };
        Podman { host: get("IDPUSH_TEST_PODMAN_HOST"), root: get("IDPUSH_TEST_PODMAN_ROOT"), runroot: get("IDPUSH_TEST_PODMAN_RUNROOT") }
    })
}

/// The podman CLI on the service's storage; panics unless it exits 0. Returns stdout.
fn podman(args: &[&str]) -> String {
    let p = podman_env();
    let mut cmd = Command::new("podman");
    cmd.args(["--root", &p.root, "--runroot", &p.runroot, "--storage-driver", "vfs"])
        .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("CONTAINER_HOST");
    let out = run(cmd, &format!("podman {}", args.join(" ")), TOOL_TIMEOUT);
    assert_eq!(out.code, Some(0), "podman {} failed:\n{}", args.join(" "), out.describe());
    out.stdout
}

/// Podman's image ID as Docker writes it (`sha256:…`; podman prints the bare hex).
fn podman_id(image: &str) -> String {
    let id = podman(&["image", "inspect", "--format", "{{.Id}}", image]).trim().to_string();
    if id.starts_with("sha256:") { id } else { format!("sha256:{id}") }
}

/// Removes podman images when dropped (best effort).
struct PodmanImages(Vec<String>);

impl Drop for PodmanImages {
    fn drop(&mut self) {
        let p = podman_env();
        for name in &self.0 {
            let _ = Command::new("podman")
                .args(["--root", &p.root, "--runroot", &p.runroot, "--storage-driver", "vfs", "--events-backend", "file"])
                .args(["rmi", "-f", name])
                .output();
        }
    }
}

/// `podman import` of a generated rootfs as `name`; returns podman's image ID.
fn podman_import(dir: &Path, name: &str, payload: usize) -> String {
    let tar = dir.join("rootfs.tar");
    std::fs::write(&tar, rootfs_tar(name, payload)).unwrap();
    podman(&["import", tar.to_str().unwrap(), name]);
    podman_id(name)
}

/// Push `image` from podman to `dest` (or to the test registry's root without one); returns
/// the pushed reference and idpush's output.
fn push_from_podman(dir: &TestDir, image: &str, dest: Option<&str>) -> (Pushed, Output) {
    let env = env();
    let mut args = vec!["push", image, "--log-level", "info"];
    let registry = format!("http://{}", env.registry);
    match dest {
        Some(d) => args.push(d),
        None => args.extend(["-r", registry.as_str()]),
    }
    let out = Idpush::new(&dir.sub(&unique("run")), &podman_env().host).args(&args).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    (parse_pushed(&out), out)
}

#[test]
fn an_imported_podman_image_round_trips_to_docker() {
    let dir = TestDir::new("podman-import");
    let name = format!("{}:v1", unique("e2e-podman"));
    let images = PodmanImages(vec![name.clone()]);
    let id = podman_import(&dir.path, &name, 200_000);
    let repo = unique("podman/import");
    let dest = format!("{}/{repo}:v1", env().registry);
    let (pushed, out) = push_from_podman(&dir, &name, Some(&dest));
    assert_eq!(pushed.repo, repo);
    let docker_images = ImageGuard { names: vec![pushed.by_digest()] };
    assert_eq!(pull_and_id(&pushed.by_digest()), id, "image ID after podman -> idpush -> docker:\n{}", out.describe());
    assert!(out.stderr.contains(&format!("from the daemon at {}", podman_env().host)), "{}", out.describe());
    drop(docker_images);
    drop(images);
}

#[test]
fn a_two_layer_podman_build_round_trips_and_localhost_is_dropped() {
    let dir = TestDir::new("podman-build");
    let base = format!("{}:base", unique("e2e-podman-base"));
    let app = unique("e2e-podman-app");
    let _images = PodmanImages(vec![format!("{app}:latest"), base.clone()]);
    podman_import(&dir.path, &base, 50_000);
    let ctx = dir.sub("ctx");
    std::fs::write(ctx.join("Containerfile"), format!("FROM localhost/{base}\nCOPY f /f\nLABEL idpush=e2e\n")).unwrap();
    std::fs::write(ctx.join("f"), pseudo_random(&app, 300_000)).unwrap();
    podman(&["build", "--isolation", "chroot", "-q", "-t", &app, ctx.to_str().unwrap()]);
    let id = podman_id(&app);
    let layers = podman(&["image", "inspect", "--format", "{{len .RootFS.Layers}}", &app]);
    assert_eq!(layers.trim(), "2", "the build should have two layers");

    // `idpush push APP` finds localhost/APP:latest; the destination has no `localhost/`.
    let (pushed, out) = push_from_podman(&dir, &app, None);
    assert_eq!((pushed.host.as_str(), pushed.repo.as_str(), pushed.tag.as_deref()), (env().registry.as_str(), app.as_str(), Some("latest")), "{}", out.describe());
    let _docker = ImageGuard { names: vec![pushed.by_digest()] };
    assert_eq!(pull_and_id(&pushed.by_digest()), id, "image ID after the round trip:\n{}", out.describe());

    // Named in full, `localhost/` is dropped from the destination too.
    let (again, out) = push_from_podman(&dir, &format!("localhost/{app}:latest"), None);
    assert_eq!((again.repo.as_str(), again.digest.as_str()), (app.as_str(), pushed.digest.as_str()), "{}", out.describe());

    // A name podman keeps normalised (`docker.io/library/NAME`) is found by its short name.
    let short = unique("e2e-podman-short");
    podman(&["tag", &format!("localhost/{app}:latest"), &format!("docker.io/library/{short}:v2")]);
    let _tagged = PodmanImages(vec![format!("docker.io/library/{short}:v2")]);
    let (third, out) = push_from_podman(&dir, &format!("{short}:v2"), None);
    assert_eq!((third.repo.as_str(), third.tag.as_deref(), third.digest.as_str()), (short.as_str(), Some("v2"), pushed.digest.as_str()), "{}", out.describe());
}

#[test]
fn a_missing_podman_image_is_not_found() {
    let dir = TestDir::new("podman-missing");
    let dest = format!("{}/{}:v1", env().registry, unique("podman/missing"));
    let out = Idpush::new(&dir.path, &podman_env().host).args(["push", "no-such-image-anywhere:v1", &dest]).run();
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("image not found: no-such-image-anywhere:v1"), "{}", out.describe());
}
