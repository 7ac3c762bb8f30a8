//! Finding the daemon the way the docker CLI does (issue 11): docker contexts selected by
//! `DOCKER_CONTEXT` and by the config's `currentContext`, with `DOCKER_HOST` unset, and `-H`.

use crate::support::*;
use std::path::Path;
use std::process::Command;

/// A docker config dir at `dir` with a context `name` whose endpoint is `host`, and
/// `currentContext` set to `current` if given.
fn docker_config_with_context(dir: &Path, name: &str, host: &str, current: Option<&str>) {
    let id = sha256_digest(name.as_bytes());
    let meta = dir.join("contexts/meta").join(id.trim_start_matches("sha256:"));
    std::fs::create_dir_all(&meta).unwrap();
    let json = serde_json::json!({
        "Name": name,
        "Metadata": {"Description": "idpush e2e"},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
    let mut config = serde_json::json!({"auths": {}});
    if let Some(c) = current {
        config["currentContext"] = c.into();
    }
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

/// idpush with `DOCKER_HOST` unset and `DOCKER_CONFIG` at `config`, plus `env`.
fn idpush_without_docker_host(dir: &TestDir, config: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd: Command = Idpush::new(&dir.sub(&unique("run")), "unused").into_command();
    cmd.env_remove("DOCKER_HOST").env("DOCKER_CONFIG", config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args);
    run(cmd, "idpush", IDPUSH_TIMEOUT)
}

fn push_via_context(what: &str, use_env: bool) {
    let env = env();
    let dir = TestDir::new(&format!("engines-{what}"));
    let mut images = ImageGuard::new();
    let name = format!("{}:v1", unique(&format!("e2e-{what}")));
    let id = import_image(&dir.path, &name, 4096);
    images.add(&name);
    let config = dir.sub("docker-config");
    let ctx = unique("ctx");
    docker_config_with_context(&config, &ctx, &env.docker_host, (!use_env).then_some(ctx.as_str()));
    let repo = unique(&format!("ctx/{what}"));
    let dest = format!("{}/{repo}:v1", env.registry);
    let extra: Vec<(&str, &str)> = if use_env { vec![("DOCKER_CONTEXT", ctx.as_str())] } else { vec![] };
    let out = idpush_without_docker_host(&dir, &config, &extra, &["push", &name, &dest, "--log-level", "info"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let how = if use_env { "(DOCKER_CONTEXT)".to_string() } else { format!("(currentContext in {})", config.join("config.json").display()) };
    let want = format!("docker daemon: {} (from docker context {ctx:?} {how})", env.docker_host);
    assert!(out.stderr.contains(&want), "stderr lacks {want:?}:\n{}", out.describe());
    let pushed = parse_pushed(&out);
    assert_eq!(pull_and_id(&pushed.by_digest()), id, "image ID after the round trip");
}

#[test]
fn docker_context_env_selects_the_daemon() {
    push_via_context("ctxenv", true);
}

#[test]
fn current_context_in_the_docker_config_selects_the_daemon() {
    push_via_context("ctxcur", false);
}

#[test]
fn host_flag_wins_over_docker_host_and_context() {
    let env = env();
    let dir = TestDir::new("engines-flag");
    let mut images = ImageGuard::new();
    let name = format!("{}:v1", unique("e2e-hflag"));
    images.add(&name);
    import_image(&dir.path, &name, 1024);
    let config = dir.sub("docker-config");
    docker_config_with_context(&config, "nowhere", "unix:///nonexistent/ctx.sock", Some("nowhere"));
    let dest = format!("{}/{}:v1", env.registry, unique("ctx/hflag"));
    let missing = [("DOCKER_HOST", "unix:///nonexistent/env.sock")];
    let out = idpush_without_docker_host(&dir, &config, &missing, &["push", &name, &dest, "-H", &env.docker_host]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    // Without the flag DOCKER_HOST is used, and it is wrong: exit 2 naming it.
    let out = idpush_without_docker_host(&dir, &config, &missing, &["push", &name, &dest]);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("/nonexistent/env.sock does not exist"), "{}", out.describe());
    // Without either, the context: also wrong, and named.
    let out = idpush_without_docker_host(&dir, &config, &[], &["push", &name, &dest]);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("/nonexistent/ctx.sock does not exist"), "{}", out.describe());
    let out = idpush_without_docker_host(&dir, &config, &[("DOCKER_CONTEXT", "missing-ctx")], &["push", &name, &dest]);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.contains("docker context \"missing-ctx\" (from DOCKER_CONTEXT) does not exist"), "{}", out.describe());
}

/// A daemon that keeps the export's first byte for a while (Podman writes the whole image to a
/// temporary file first): progress says idpush is waiting for it, and the push succeeds.
#[test]
fn a_slow_export_start_says_it_is_waiting_for_the_daemon() {
    use crate::fake_daemon::{Export, FakeDaemon, FakeImage};
    let env = env();
    let dir = TestDir::new("engines-slow");
    let mut images = ImageGuard::new();
    let name = format!("{}:v1", unique("e2e-slowstart"));
    let id = import_image(&dir.path, &name, 10_000);
    images.add(&name);
    let save = run(docker_cmd(&["save", &name]), "docker save", TOOL_TIMEOUT);
    assert_eq!(save.code, Some(0), "{}", save.describe());
    let tar = docker_cmd(&["save", &name]).output().expect("docker save").stdout;
    let image = |export| FakeImage { name: name.clone(), id: id.clone(), diff_ids: image_diff_ids(&name), size: tar.len() as u64, export };
    let fake = image(Export::SlowStart(std::time::Duration::from_secs(3), tar.clone()));
    let daemon = FakeDaemon::start(&dir.path, Some(fake));
    let dest = format!("{}/{}:v1", env.registry, unique("ctx/slow"));
    let out = Idpush::new(&dir.sub("run"), &daemon.docker_host()).args(["push", &name, &dest]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let want = format!("waiting for the daemon at {} to start the export of {name}", daemon.docker_host());
    assert!(out.stderr.contains(&want), "stderr lacks {want:?}:\n{}", out.describe());
    // A prompt daemon: no such line (a fresh HOME, so no layer cache skips the export).
    let quick = image(Export::Full(tar.clone()));
    let dir2 = TestDir::new("engines-quick");
    let daemon = FakeDaemon::start(&dir2.path, Some(quick));
    let out = Idpush::new(&dir2.sub("run"), &daemon.docker_host()).args(["push", &name, &dest]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(!out.stderr.contains("waiting for the daemon"), "{}", out.describe());
    assert!(daemon.export_started(), "the second push did not export");
}

/// With no DOCKER_HOST, context or default socket, idpush finds rootless Docker's socket
/// (`$XDG_RUNTIME_DIR/docker.sock`), else rootless Podman's (`$XDG_RUNTIME_DIR/podman/podman.sock`):
/// here symlinks to the test dockerd's socket, and says which it used.
#[test]
fn without_any_setting_the_rootless_sockets_are_found() {
    for fixed in ["/var/run/docker.sock", "/run/podman/podman.sock"] {
        assert!(!std::path::Path::new(fixed).exists(), "{fixed} exists on this machine: this test needs it absent to see the rootless fallbacks");
    }
    let env = env();
    let dir = TestDir::new("engines-rootless");
    let mut images = ImageGuard::new();
    let name = format!("{}:v1", unique("e2e-rootless"));
    import_image(&dir.path, &name, 1024);
    images.add(&name);
    let dest = format!("{}/{}:v1", env.registry, unique("ctx/rootless"));
    let config = dir.sub("empty-docker-config");
    for (link, how) in [("docker.sock", "rootless Docker's socket"), ("podman/podman.sock", "rootless Podman's socket")] {
        let xdg = dir.sub(&unique("xdg"));
        let path = xdg.join(link);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(env.docker_socket(), &path).unwrap();
        let out = idpush_without_docker_host(&dir, &config, &[("XDG_RUNTIME_DIR", xdg.to_str().unwrap())], &["push", &name, &dest, "--log-level", "info"]);
        assert_eq!(out.code, Some(0), "{}", out.describe());
        let want = format!("docker daemon: unix://{} (from {how}", path.display());
        assert!(out.stderr.contains(&want), "stderr lacks {want:?}:\n{}", out.describe());
    }
    // Nothing anywhere: the default socket's error, exit 2.
    let out = idpush_without_docker_host(&dir, &config, &[("XDG_RUNTIME_DIR", dir.sub("no-sockets").to_str().unwrap())], &["push", &name, &dest]);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("/var/run/docker.sock does not exist"), "{}", out.describe());
}
