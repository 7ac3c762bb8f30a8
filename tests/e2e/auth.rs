//! Credentials and auth flows against real registries (scripts/env-auth.sh): a distribution
//! registry with htpasswd Basic auth and one with `auth: token` whose token server
//! (tests/e2e/token_server.rs) behaves like Gitea's.

use crate::support::*;
use crate::token_server::{base64_std, ensure, token_requests};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A small fresh image in the test daemon.
fn small_image(dir: &TestDir, images: &mut ImageGuard, what: &str) -> String {
    let name = format!("{}:v1", unique(&format!("e2e-auth-{what}")));
    import_image(&dir.path, &name, 4 * 1024);
    images.add(&name);
    name
}

fn idpush(dir: &TestDir) -> Idpush {
    Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
}

/// `{"auths":{host:{"auth":base64(user:password)}}}`
fn auths_json(host: &str, user: &str, password: &str) -> String {
    serde_json::json!({"auths": {host: {"auth": base64_std(format!("{user}:{password}").as_bytes())}}}).to_string()
}

/// Writes `config.json` into a fresh directory; returns the directory (for DOCKER_CONFIG).
fn docker_config_dir(dir: &TestDir, json: &str) -> PathBuf {
    let d = dir.sub(&unique("docker-config"));
    std::fs::write(d.join("config.json"), json).unwrap();
    d
}

/// A `docker-credential-testhelper` script in a fresh directory (to put first on PATH) that
/// knows `user`/`password` for `host` only.
fn helper_dir(dir: &TestDir, host: &str, user: &str, password: &str) -> PathBuf {
    let d = dir.sub(&unique("bin"));
    let script = format!(
        "#!/bin/sh\nhost=$(cat)\nif [ \"$1\" = get ] && [ \"$host\" = '{host}' ]; then\n  \
         printf '%s' '{{\"ServerURL\":\"{host}\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}'\n  exit 0\nfi\n\
         echo 'credentials not found in native keychain'\nexit 1\n"
    );
    let p = d.join("docker-credential-testhelper");
    std::fs::write(&p, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn path_with(bin: &Path) -> String {
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

fn dest(registry: &str, what: &str) -> String {
    format!("{registry}/auth/{}:v1", unique(what))
}

/// Every credential source, each alone, pushing to the htpasswd registry; debug says which.
#[test]
fn each_credential_source_pushes_to_the_basic_auth_registry() {
    let a = ensure();
    let dir = TestDir::new("auth-sources");
    let mut images = ImageGuard::new();
    let image = small_image(&dir, &mut images, "sources");
    let host = a.basic_registry.as_str();
    let (user, pw) = (a.user.as_str(), a.password.as_str());
    let push = |what: &str, f: &dyn Fn(Idpush) -> Idpush, stdin: Option<&[u8]>, source: &str| {
        let cmd = f(idpush(&dir).args(["push", &image, &dest(host, what), "--log-level", "debug"]));
        let out = match stdin {
            Some(input) => cmd.run_with_stdin(input),
            None => cmd.run(),
        };
        assert_eq!(out.code, Some(0), "{what}:\n{}", out.describe());
        parse_pushed(&out);
        assert!(out.stderr.contains(source), "{what}: debug log does not name the source {source:?}:\n{}", out.describe());
        assert!(!out.stderr.contains(pw) && !out.stdout.contains(pw), "{what}: password printed:\n{}", out.describe());
    };
    push("flags", &|c| c.args(["-u", user, "-p", pw]), None, "from flags");
    push(
        "env",
        &|c| c.env("IDPBUILDER_REGISTRY_USERNAME", user).env("IDPBUILDER_REGISTRY_PASSWORD", pw),
        None,
        "from IDPBUILDER_REGISTRY_* environment",
    );
    push("stdin", &|c| c.args(["-u", user, "--password-stdin"]), Some(format!("{pw}\n").as_bytes()), "from flags");

    // ~/.docker/config.json with `auth` (HOME is the run's own directory).
    let json = auths_json(host, user, pw);
    push(
        "home-config",
        &|c| {
            let home = dir.sub(&unique("home"));
            std::fs::create_dir_all(home.join(".docker")).unwrap();
            std::fs::write(home.join(".docker/config.json"), &json).unwrap();
            c.env("HOME", home.to_str().unwrap())
        },
        None,
        ".docker/config.json (auths)",
    );
    // $DOCKER_CONFIG with username/password, under a legacy URL key.
    let cfg = docker_config_dir(
        &dir,
        &serde_json::json!({"auths": {format!("http://{host}/v1/"): {"username": user, "password": pw}}}).to_string(),
    );
    push("docker-config", &|c| c.env("DOCKER_CONFIG", cfg.to_str().unwrap()), None, "config.json (auths)");

    // credHelpers and credsStore through a helper script on PATH.
    let bin = helper_dir(&dir, host, user, pw);
    let helpers = docker_config_dir(&dir, &serde_json::json!({"credHelpers": {host: "testhelper"}}).to_string());
    push(
        "cred-helpers",
        &|c| c.env("DOCKER_CONFIG", helpers.to_str().unwrap()).env("PATH", &path_with(&bin)),
        None,
        "(credHelpers: testhelper)",
    );
    let store = docker_config_dir(&dir, r#"{"credsStore":"testhelper"}"#);
    push(
        "creds-store",
        &|c| c.env("DOCKER_CONFIG", store.to_str().unwrap()).env("PATH", &path_with(&bin)),
        None,
        "(credsStore: testhelper)",
    );

    push("docker-auth-config", &|c| c.env("DOCKER_AUTH_CONFIG", &json), None, "DOCKER_AUTH_CONFIG (auths)");

    // podman's auth file, by REGISTRY_AUTH_FILE and by XDG_RUNTIME_DIR.
    let podman = dir.sub(&unique("podman"));
    std::fs::create_dir_all(podman.join("containers")).unwrap();
    std::fs::write(podman.join("containers/auth.json"), &json).unwrap();
    let file = podman.join("containers/auth.json");
    push("registry-auth-file", &|c| c.env("REGISTRY_AUTH_FILE", file.to_str().unwrap()), None, "podman auth file");
    push("xdg-runtime-dir", &|c| c.env("XDG_RUNTIME_DIR", podman.to_str().unwrap()), None, "podman auth file");

    // Nothing: anonymous, refused, exit 1.
    let out = idpush(&dir).args(["push", &image, &dest(host, "anon")]).run();
    assert_eq!(out.code, Some(1), "anonymous:\n{}", out.describe());
    assert!(out.stderr.contains("anonymous"), "{}", out.describe());
}

/// Flags beat the environment, which beats the docker config, which beats podman's file: the
/// lower source always holds a wrong password.
#[test]
fn credential_precedence() {
    let a = ensure();
    let dir = TestDir::new("auth-precedence");
    let mut images = ImageGuard::new();
    let image = small_image(&dir, &mut images, "precedence");
    let host = a.basic_registry.as_str();
    let (user, pw) = (a.user.as_str(), a.password.as_str());
    let wrong_cfg = docker_config_dir(&dir, &auths_json(host, user, "wrong-config-password"));
    let good_cfg = docker_config_dir(&dir, &auths_json(host, user, pw));
    let wrong_podman = dir.path.join("podman-wrong.json");
    std::fs::write(&wrong_podman, auths_json(host, user, "wrong-podman-password")).unwrap();
    let run = |what: &str, f: &dyn Fn(Idpush) -> Idpush| f(idpush(&dir).args(["push", &image, &dest(host, what)])).run();

    let out = run("flag-over-env", &|c| {
        c.args(["-u", user, "-p", pw])
            .env("IDPBUILDER_REGISTRY_USERNAME", user)
            .env("IDPBUILDER_REGISTRY_PASSWORD", "wrong-env-password")
            .env("DOCKER_CONFIG", wrong_cfg.to_str().unwrap())
    });
    parse_pushed(&out);
    let out = run("env-over-config", &|c| {
        c.env("IDPBUILDER_REGISTRY_USERNAME", user)
            .env("IDPBUILDER_REGISTRY_PASSWORD", pw)
            .env("DOCKER_CONFIG", wrong_cfg.to_str().unwrap())
    });
    parse_pushed(&out);
    let out = run("config-over-podman", &|c| {
        c.env("DOCKER_CONFIG", good_cfg.to_str().unwrap()).env("REGISTRY_AUTH_FILE", wrong_podman.to_str().unwrap())
    });
    parse_pushed(&out);
    // And the other way round: the wrong one on top fails, so the top one was used.
    let out = run("wrong-flag-over-env", &|c| {
        c.args(["-u", user, "-p", "wrong-flag-password"])
            .env("IDPBUILDER_REGISTRY_USERNAME", user)
            .env("IDPBUILDER_REGISTRY_PASSWORD", pw)
    });
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.contains(&format!("refused user {user}")), "{}", out.describe());
    assert!(!out.stderr.contains("wrong-flag-password"), "{}", out.describe());
    let out = run("wrong-env-over-config", &|c| {
        c.env("IDPBUILDER_REGISTRY_USERNAME", user)
            .env("IDPBUILDER_REGISTRY_PASSWORD", "wrong-env-password")
            .env("DOCKER_CONFIG", good_cfg.to_str().unwrap())
    });
    assert_eq!(out.code, Some(1), "{}", out.describe());
}

/// Token registry: a wrong password is refused after exactly one token request, fast, exit 1.
#[test]
fn wrong_password_fails_after_one_token_request() {
    let a = ensure();
    let dir = TestDir::new("auth-wrong");
    let mut images = ImageGuard::new();
    let image = small_image(&dir, &mut images, "wrong");
    let user = unique("u-wrong");
    let started = Instant::now();
    let out = idpush(&dir)
        .args(["push", &image, &dest(&a.token_registry, "wrong"), "-u", &user, "-p", "not-the-password-42"])
        .run();
    let took = started.elapsed();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(took < Duration::from_secs(1), "took {took:?}:\n{}", out.describe());
    assert_eq!(token_requests(&user), 1, "{}", out.describe());
    assert!(out.stderr.contains(&format!("refused user {user}")), "{}", out.describe());
    assert!(out.stderr.contains(&a.token_registry), "{}", out.describe());
    assert!(!out.stderr.contains("not-the-password-42"), "{}", out.describe());
    let errors: Vec<&str> = out.stderr_lines().into_iter().filter(|l| l.starts_with("idpush: error")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{}", out.describe());
}

/// Token registry: a normal push, and one whose token has expired (the token server issues every
/// other token of an `expire-` user already expired): the registry refuses it with 401, idpush
/// fetches a fresh token and the push succeeds.
#[test]
fn token_registry_push_and_token_expiry_mid_push() {
    let a = ensure();
    let dir = TestDir::new("auth-token");
    let mut images = ImageGuard::new();
    let image = small_image(&dir, &mut images, "token");
    let user = unique("u-token");
    let out = idpush(&dir).args(["push", &image, &dest(&a.token_registry, "token"), "-u", &user, "-p", &a.password]).run();
    parse_pushed(&out);
    assert!(token_requests(&user) >= 1);

    let user = unique("expire-token");
    let out = idpush(&dir)
        .args(["push", &image, &dest(&a.token_registry, "expire"), "-u", &user, "-p", &a.password, "--log-level", "debug"])
        .run();
    parse_pushed(&out);
    let n = token_requests(&user);
    assert!(n >= 2, "expected a refreshed token (expired, then fresh), got {n} token requests:\n{}", out.describe());
}

/// An identity token from the docker config: POST to the realm (404, as Gitea) then GET.
#[test]
fn identity_token_falls_back_to_get() {
    let a = ensure();
    let dir = TestDir::new("auth-identity");
    let mut images = ImageGuard::new();
    let image = small_image(&dir, &mut images, "identity");
    let user = unique("u-identity");
    let cfg = docker_config_dir(
        &dir,
        &serde_json::json!({"auths": {a.token_registry.clone(): {
            "auth": base64_std(format!("{user}:").as_bytes()), "identitytoken": a.password}}})
        .to_string(),
    );
    let out = idpush(&dir)
        .args(["push", &image, &dest(&a.token_registry, "identity"), "--log-level", "debug"])
        .env("DOCKER_CONFIG", cfg.to_str().unwrap())
        .run();
    parse_pushed(&out);
    assert!(out.stderr.contains("identity token"), "{}", out.describe());
    assert!(out.stderr.contains("answered POST with 404"), "no POST to the realm first:\n{}", out.describe());
    assert!(token_requests(&user) >= 1);
}

/// Percent-encoding of every byte outside RFC 3986's unreserved set, with upper- or lowercase hex.
fn percent_encoded(s: &str, upper: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ if upper => format!("%{b:02X}"),
            _ => format!("%{b:02x}"),
        })
        .collect()
}

/// Random unique secrets in every place a user can put one: every credential source (flags,
/// `--password-stdin`, environment, a well-formed docker config, a credential helper,
/// DOCKER_AUTH_CONFIG, podman's file), the registry URL (flag and env), DEST, DOCKER_HOST, a
/// malformed docker config; through three successful pushes and every error path the settings
/// can take, at every log level. None
/// of them shows in stdout or stderr: plain, base64 (alone and as `user:secret`, padded or not)
/// or percent-encoded.
///
/// Defect 3 (issue 7): the registry URL, DEST, DOCKER_HOST and a malformed `auths` entry were
/// echoed whole (serde's `invalid type: string "dXNlcjpodW50ZXIy"`).
#[test]
fn no_secret_is_printed_at_any_log_level() {
    let a = ensure();
    let dir = TestDir::new("auth-leak");
    let mut images = ImageGuard::new();
    let image = small_image(&dir, &mut images, "leak");
    let host = a.token_registry.as_str();
    let basic = a.basic_registry.as_str();
    // Characters that URL-encoding changes, so that form differs from the plain one; none that
    // the helper script's shell quoting or JSON would need escaped.
    let random = |what: &str| {
        let b = base64_std(&pseudo_random(&unique(what), 18)).replace(['+', '/', '='], "x");
        format!("S{}@{}:{}/{}%{}?{}", &b[..4], &b[4..8], &b[8..12], &b[12..16], &b[16..20], &b[20..])
    };
    const PLACES: &[&str] = &[
        "flag", "env", "config", "helper", "dac", "podman", "token", "url", "env-url", "dest", "daemon", "malformed",
        "query", "wrong", "stdin", "alone",
    ];
    for level in ["error", "warn", "info", "debug", "trace"] {
        // `any-` users are accepted with any password by the token server.
        let user = unique("any-leak");
        let secrets: Vec<(String, String)> = PLACES.iter().map(|w| (w.to_string(), random(w))).collect();
        let s = |w: &str| secrets.iter().find(|(k, _)| k == w).unwrap().1.clone();
        let cfg = docker_config_dir(
            &dir,
            &serde_json::json!({"auths": {host: {"auth": base64_std(format!("{user}:{}", s("config")).as_bytes())}},
                                "credHelpers": {"other.example": "testhelper", basic: "testhelper"}})
            .to_string(),
        );
        // The helper knows the basic registry's real user with a secret password (refused there).
        let bin = helper_dir(&dir, basic, &a.user, &s("helper"));
        let podman = dir.path.join(format!("{}.json", unique("podman")));
        std::fs::write(&podman, auths_json(host, &user, &s("podman"))).unwrap();
        // Malformed: the auths entry is a string (serde would quote it), and one cut mid-value.
        let malformed = [
            docker_config_dir(&dir, &format!(r#"{{"auths": {{"{host}": "{}"}}}}"#, base64_std(format!("{user}:{}", s("malformed")).as_bytes()))),
            docker_config_dir(&dir, &format!(r#"{{"auths": {{"{host}": {{"auth": "{}"#, base64_std(format!("{user}:{}", s("malformed")).as_bytes()))),
            docker_config_dir(&dir, &format!(r#"{{"auths": {{"{host}": {{"password": "{}"}}}}}}"#, s("malformed"))),
        ];
        // Every source holds a secret; `creds` says which ones the run may use: flags win, then
        // the IDPBUILDER_REGISTRY_* environment, then the stored ones (config, helper, podman).
        #[derive(Clone, Copy, PartialEq)]
        enum Creds {
            Flags,
            Env,
            Stored,
        }
        let run = |creds: Creds, image: &str, args: &[&str]| {
            let mut cmd = idpush(&dir)
                .args(["push", image])
                .args(args)
                .args(["--log-level", level, "--retries", "0"])
                .env("DOCKER_CONFIG", cfg.to_str().unwrap())
                .env("DOCKER_AUTH_CONFIG", &auths_json("elsewhere.example", &user, &s("dac")))
                .env("REGISTRY_AUTH_FILE", podman.to_str().unwrap())
                .env("PATH", &path_with(&bin));
            if creds != Creds::Stored {
                cmd = cmd.env("IDPBUILDER_REGISTRY_PASSWORD", &s("env")).env("IDPBUILDER_REGISTRY_TOKEN", &s("token"));
            }
            if creds == Creds::Flags {
                cmd = cmd.args(["-u", user.as_str(), "-p", &s("flag")]);
            }
            cmd
        };
        let with_flags = |args: &[&str]| run(Creds::Flags, &image, args);
        let to = |reg: &str| dest(reg, "leak");
        let daemon = format!("tcp://{user}:{}@127.0.0.1:1", s("daemon"));
        let unix_daemon = format!("unix://{user}:{}@/nonexistent/docker.sock", s("daemon"));
        let url = format!("http://{user}:{}@{host}", s("url"));
        let query = format!("http://{host}/?token={}", s("query"));
        let mut scenarios: Vec<(&str, Idpush, i32)> = vec![
            // Pushes: flags over everything; the docker config's auths entry (no flags, no env).
            ("push with flags", with_flags(&[&to(host)]), 0),
            ("push with the docker config", run(Creds::Stored, &image, &[&to(host)]), 0),
            // Errors: each place a secret can be typed, beside all the others.
            ("-r with userinfo", with_flags(&["-r", &url]), 1),
            (
                "IDPBUILDER_REGISTRY_URL with userinfo",
                with_flags(&[]).env("IDPBUILDER_REGISTRY_URL", &format!("http://{user}:{}@{host}", s("env-url"))),
                1,
            ),
            ("-r with a query", with_flags(&["-r", &query]), 1),
            ("DEST with userinfo", with_flags(&[&format!("{user}:{}@{host}/x/y:1", s("dest"))]), 1),
            ("DEST with a scheme and userinfo", with_flags(&[&format!("http://{user}:{}@{host}/x/y:1", s("dest"))]), 1),
            ("DEST with a query", with_flags(&[&format!("{host}/x/y:1?token={}", s("query"))]), 1),
            ("DOCKER_HOST tcp with userinfo", with_flags(&[&to(host)]).env("DOCKER_HOST", &daemon), 1),
            ("DOCKER_HOST unix with userinfo", with_flags(&[&to(host)]).env("DOCKER_HOST", &unix_daemon), 1),
            ("missing image", run(Creds::Flags, &unique("no-such-image-leak"), &[&to(host)]), 2),
            ("unreachable registry", with_flags(&["-r", "http://127.0.0.1:1", "x/y:1"]), 1),
            ("bad insecure value", with_flags(&[&to(host)]).env("IDPBUILDER_REGISTRY_INSECURE", "maybe"), 1),
            ("huge timeout", with_flags(&[&to(host), "--read-timeout", "18446744073709551615"]), 1),
            ("wrong password, flags", run(Creds::Env, &image, &[&to(basic), "-u", &a.user, "-p", &s("wrong")]), 1),
            ("wrong password, env", run(Creds::Env, &image, &[&to(basic)]).env("IDPBUILDER_REGISTRY_USERNAME", &a.user), 1),
            ("wrong password, helper", run(Creds::Stored, &image, &[&to(basic)]), 1),
            ("wrong password, stdin", run(Creds::Stored, &image, &[&to(basic), "-u", &a.user, "--password-stdin"]), 1),
            ("push with a password on stdin", run(Creds::Stored, &image, &[&to(host), "-u", &user, "--password-stdin"]), 0),
        ];
        let names = ["malformed config: entry is a string", "malformed config: cut mid-value", "malformed config: half an entry"];
        for (name, m) in names.into_iter().zip(&malformed) {
            let cmd = idpush(&dir)
                .args(["push", &image, &to(host), "--log-level", level])
                .env("DOCKER_CONFIG", m.to_str().unwrap());
            scenarios.push((name, cmd, 1));
        }
        // A password with no username (env only, nothing stored is read).
        scenarios.push((
            "password without a username",
            idpush(&dir).args(["push", &image, &to(host), "--log-level", level]).env("IDPBUILDER_REGISTRY_PASSWORD", &s("alone")),
            1,
        ));
        let stdin_password = format!("{}\n", s("stdin"));
        for (what, cmd, code) in scenarios {
            // The stdin runs read the password from there.
            let out = if what.contains("stdin") { cmd.run_with_stdin(stdin_password.as_bytes()) } else { cmd.run() };
            assert_eq!(out.code, Some(code), "level {level}, {what}:\n{}", out.describe());
            if code == 0 {
                parse_pushed(&out);
            } else {
                let errors = out.stderr_lines().into_iter().filter(|l| l.starts_with("idpush: error: ")).count();
                assert_eq!(errors, 1, "level {level}, {what}: one error line:\n{}", out.describe());
            }
            let both = format!("{}\n{}", out.stdout, out.stderr);
            for (place, secret) in &secrets {
                let pair = format!("{user}:{secret}");
                let real_pair = format!("{}:{secret}", a.user);
                let mut forms = vec![secret.clone(), percent_encoded(secret, true), percent_encoded(secret, false)];
                for p in [secret, &pair, &real_pair] {
                    forms.push(base64_std(p.as_bytes()).trim_end_matches('=').to_string());
                }
                for form in forms {
                    assert!(
                        !both.contains(&form),
                        "level {level}, {what}: the {place} secret ({form}) was printed:\n{}",
                        out.describe()
                    );
                }
            }
        }
    }
}

/// A malformed docker config is one error line naming the file, exit 1 (no panic).
#[test]
fn malformed_docker_config_is_one_line_naming_the_file() {
    let a = ensure();
    let dir = TestDir::new("auth-malformed");
    let mut images = ImageGuard::new();
    let image = small_image(&dir, &mut images, "malformed");
    let cfg = docker_config_dir(&dir, r#"{"auths": {"x": {"auth": "#);
    let out = idpush(&dir)
        .args(["push", &image, &dest(&a.basic_registry, "malformed")])
        .env("DOCKER_CONFIG", cfg.to_str().unwrap())
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let lines = out.error_lines();
    assert_eq!(lines.len(), 1, "{}", out.describe());
    assert!(lines[0].contains(&cfg.join("config.json").display().to_string()), "{}", out.describe());
}
