//! `DOCKER_HOST=ssh://root@127.0.0.1:PORT` (issue 11): idpush runs `ssh … docker system
//! dial-stdio` and speaks HTTP/1.1 over its pipes. The sshd is scripts/env-sshd.sh's, with
//! throwaway keys; its `ssh` wrapper (first on PATH) carries them, and the far side's docker CLI
//! talks to the test dockerd.

use crate::support::*;
use std::process::Command;

/// `(ssh://root@127.0.0.1:PORT, the dir of the ssh wrapper)` from the env file.
fn ssh_env() -> (String, String) {
    env();
    let path = env_file_path();
    let vars = parse_env_lines(&std::fs::read_to_string(&path).unwrap_or_default());
    let get = |k: &str| {
        vars.get(k).filter(|v| !v.is_empty()).cloned().unwrap_or_else(|| {
            panic!("{} has no {k}= line: start sshd with `scripts/test-env.sh start` (or `scripts/env-sshd.sh start DIR`)", path.display())
        })
    };
    (get("IDPUSH_TEST_SSH_HOST"), get("IDPUSH_TEST_SSH_PATH"))
}

fn idpush_over_ssh(dir: &TestDir, host: &str, args: &[&str]) -> Output {
    let (_, bin) = ssh_env();
    let path = format!("{bin}:{}", std::env::var("PATH").unwrap_or_default());
    let mut cmd: Command = Idpush::new(&dir.sub(&unique("run")), host).into_command();
    cmd.env("PATH", path).args(args);
    run(cmd, "idpush", IDPUSH_TIMEOUT)
}

#[test]
fn a_push_over_ssh_round_trips() {
    let (host, _) = ssh_env();
    let dir = TestDir::new("ssh-push");
    let mut images = ImageGuard::new();
    let name = format!("{}:v1", unique("e2e-ssh"));
    let id = import_image(&dir.path, &name, 300_000);
    images.add(&name);
    let dest = format!("{}/{}:v1", env().registry, unique("ssh/push"));
    let out = idpush_over_ssh(&dir, &host, &["push", &name, &dest, "--log-level", "info"]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stderr.contains(&format!("from the daemon at {host}")), "{}", out.describe());
    assert_eq!(pull_and_id(&parse_pushed(&out).by_digest()), id, "image ID after the round trip");
    // Image not found over ssh is still exit 2 with the daemon's answer.
    let out = idpush_over_ssh(&dir, &host, &["push", "no-such-image-over-ssh:v1", &dest]);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert!(out.stderr.contains("image not found: no-such-image-over-ssh:v1"), "{}", out.describe());
}

#[test]
fn ssh_failures_say_what_ssh_said() {
    let (host, _) = ssh_env();
    let dir = TestDir::new("ssh-fail");
    let dest = format!("{}/{}:v1", env().registry, unique("ssh/fail"));
    let port = host.rsplit(':').next().unwrap();
    for (target, said) in [
        (format!("ssh://nobody@127.0.0.1:{port}"), "Permission denied"),
        ("ssh://root@127.0.0.1:1".to_string(), "Connection refused"),
    ] {
        let out = idpush_over_ssh(&dir, &target, &["push", "x:v1", &dest]);
        assert_eq!(out.code, Some(2), "{}", out.describe());
        let line = out.stderr_lines().into_iter().find(|l| l.starts_with("idpush: error")).unwrap_or_default().to_string();
        assert!(line.contains(&format!("cannot reach the docker daemon at {target}: ssh said: ")) && line.contains(said), "{}", out.describe());
    }
}
