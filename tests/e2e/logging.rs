//! The log starts before anything that logs: the plan, the credential lookup, the daemon
//! connection (issue 7, defect 12: the logger started after the plan, so lines logged while the
//! plan was made, such as a credential helper's refusal, were lost).

use crate::support::*;
use std::os::unix::fs::PermissionsExt;

// Regression (issue 7, defect 12): the credential helper's answer, logged while the plan looks
// up credentials, never reached stderr.
#[test]
fn a_credential_helper_consulted_by_the_plan_is_logged() {
    let dir = TestDir::new("earlylog");
    let mut images = ImageGuard::new();
    let image = format!("{}:v1", unique("e2e-earlylog"));
    import_image(&dir.path, &image, 4096);
    images.add(&image);
    let env = env();

    // A helper that knows nothing: the push goes on anonymously to the open registry.
    let helper = "idpushearlylog";
    let bin = dir.sub("bin");
    let script = bin.join(format!("docker-credential-{helper}"));
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\necho 'credentials not found in native keychain'\nexit 1\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.sub("docker-config");
    let json = serde_json::json!({ "credHelpers": { env.registry.as_str(): helper } });
    std::fs::write(config.join("config.json"), json.to_string()).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let out = Idpush::new(&dir.sub("run"), &env.docker_host)
        .env("DOCKER_CONFIG", config.to_str().unwrap())
        .env("PATH", &path)
        .args(["push", "--log-level", "trace", &image, &format!("{}/e2e/{}:v1", env.registry, unique("earlylog"))])
        .run();
    parse_pushed(&out);
    let logged = out
        .stderr_lines()
        .into_iter()
        .any(|l| (l.starts_with("idpush: trace: ") || l.starts_with("idpush: debug: ")) && l.contains(&format!("docker-credential-{helper}")));
    assert!(logged, "no log line names the credential helper the plan ran:\n{}", out.describe());
}
