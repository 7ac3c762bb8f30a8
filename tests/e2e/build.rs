//! `idpush build CONTEXT`: a folder becomes an OCI image, checked with independent tools.
//! - the archive and the layout are read by skopeo (digest, labels, created) and umoci (files,
//!   modes, symlinks of the unpacked rootfs);
//! - the image, copied into the real daemon by skopeo, holds exactly the non-ignored files
//!   with their modes and symlinks (`docker create` + `docker export`: the image has no shell);
//! - the same context gives the same digest, also after its mtimes changed;
//! - bad inputs: one clear line, exit 1, no output and nothing in TMPDIR.

use crate::support::*;
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// A context with files, a subdir, an executable, symlinks and a `.dockerignore` that excludes
/// logs (but one), a secret and an ignored dir.
fn context(dir: &TestDir) -> PathBuf {
    let ctx = dir.sub("ctx");
    let write = |p: &str, content: &str, mode: u32| {
        let path = ctx.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    };
    write("hello.txt", "hello from idpush build\n", 0o644);
    write("bin/tool", "#!/bin/sh\necho tool\n", 0o755);
    write("app/config/settings.json", "{\"a\": 1}\n", 0o600);
    write("app/data.bin", &"x".repeat(100_000), 0o644);
    write("logs/1.log", "noise", 0o644);
    write("logs/keep.log", "kept", 0o644);
    write("debug.log", "noise", 0o644);
    write("secret.key", "do not ship", 0o600);
    write("node_modules/pkg/index.js", "x", 0o644);
    symlink("hello.txt", ctx.join("link-to-hello")).unwrap();
    symlink("../hello.txt", ctx.join("app/up")).unwrap();
    symlink("/usr/bin/env", ctx.join("bin/env")).unwrap();
    fs::write(ctx.join(".dockerignore"), "# not shipped\n*.log\n**/*.log\n!logs/keep.log\nsecret.key\n/node_modules\n").unwrap();
    ctx
}

/// Content as compared: itself when short, else its size and digest (keeps failures readable).
fn summary(content: String) -> String {
    if content.len() <= 200 {
        content
    } else {
        format!("{} bytes, {}", content.len(), sha256_digest(content.as_bytes()))
    }
}

/// What the image must hold: path → (type, mode, content or link target).
fn expected() -> BTreeMap<String, (char, u32, String)> {
    let f = |mode, c: &str| ('f', mode, summary(c.to_string()));
    let d = || ('d', 0o755, String::new());
    let l = |t: &str| ('l', 0o777, t.to_string());
    [
        (".dockerignore", f(0o644, "# not shipped\n*.log\n**/*.log\n!logs/keep.log\nsecret.key\n/node_modules\n")),
        ("app", d()),
        ("app/config", d()),
        ("app/config/settings.json", f(0o600, "{\"a\": 1}\n")),
        ("app/data.bin", f(0o644, &"x".repeat(100_000))),
        ("app/up", l("../hello.txt")),
        ("bin", d()),
        ("bin/env", l("/usr/bin/env")),
        ("bin/tool", f(0o755, "#!/bin/sh\necho tool\n")),
        ("hello.txt", f(0o644, "hello from idpush build\n")),
        ("link-to-hello", l("hello.txt")),
        ("logs", d()),
        ("logs/keep.log", f(0o644, "kept")),
    ]
    .into_iter()
    .map(|(p, e)| (p.to_string(), e))
    .collect()
}

/// The entries of a tar, as [`expected`] describes them.
fn tar_entries(bytes: &[u8]) -> BTreeMap<String, (char, u32, String)> {
    let mut out = BTreeMap::new();
    for e in tar::Archive::new(bytes).entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().to_string_lossy().trim_end_matches('/').to_string();
        let h = e.header().clone();
        let (kind, content) = match h.entry_type() {
            tar::EntryType::Directory => ('d', String::new()),
            tar::EntryType::Symlink => ('l', e.link_name().unwrap().unwrap().to_string_lossy().into_owned()),
            _ => {
                let mut s = String::new();
                e.read_to_string(&mut s).unwrap();
                ('f', summary(s))
            }
        };
        let mode = if kind == 'l' { 0o777 } else { h.mode().unwrap() & 0o7777 };
        out.insert(path, (kind, mode, content));
    }
    out
}

/// The rootfs tree under `root`, as [`expected`] describes it.
fn tree(root: &Path) -> BTreeMap<String, (char, u32, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (char, u32, String)>) {
        for e in fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.file_type().is_symlink() {
                out.insert(rel, ('l', 0o777, fs::read_link(&path).unwrap().to_string_lossy().into_owned()));
            } else if meta.is_dir() {
                out.insert(rel, ('d', meta.permissions().mode() & 0o7777, String::new()));
                walk(root, &path, out);
            } else {
                out.insert(rel, ('f', meta.permissions().mode() & 0o7777, summary(fs::read_to_string(&path).unwrap())));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The files of a container made from `image` (`docker create IMAGE CMD…`, never run, then
/// `docker export`), without what the daemon adds to every container.
fn container_files(image: &str, cmd: &[&str]) -> BTreeMap<String, (char, u32, String)> {
    let mut create = vec!["create", image];
    create.extend_from_slice(cmd);
    let cid = docker(&create).trim().to_string();
    let export = docker_cmd(&["export", &cid]).output().unwrap();
    let _ = docker_output(&["rm", "-f", &cid]);
    assert!(export.status.success(), "docker export failed");
    let mut files = tar_entries(&export.stdout);
    for added in [".dockerenv", "dev", "dev/console", "dev/pts", "dev/shm", "etc", "etc/hostname", "etc/hosts", "etc/mtab", "etc/resolv.conf", "proc", "sys"] {
        files.remove(added);
    }
    files
}

fn idpush(dir: &TestDir) -> Idpush {
    Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
}

/// The manifest digest of each stdout line `OUTPUT@sha256:...`, checked against `outputs`.
fn digests(out: &Output, outputs: &[String]) -> Vec<String> {
    assert_eq!(out.code, Some(0), "idpush build failed:\n{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), outputs.len(), "one stdout line per output:\n{}", out.describe());
    lines
        .iter()
        .zip(outputs)
        .map(|(line, o)| {
            let (name, digest) = line.rsplit_once('@').unwrap_or_else(|| panic!("no @digest in {line:?}"));
            assert_eq!(name, o);
            assert!(is_sha256_digest(digest), "{line:?}");
            digest.to_string()
        })
        .collect()
}

#[test]
fn build_context_into_archive_and_layout_then_run_in_daemon() {
    let dir = TestDir::new("build-full");
    let ctx = context(&dir);
    let (archive, layout) = (dir.path.join("img.tar"), dir.path.join("layout"));
    // The layout tagged in its --output (as skopeo writes it), the archive with --tag.
    let outputs = [format!("oci-archive:{}", archive.display()), format!("oci:{}:v1", layout.display())];
    let out = idpush(&dir)
        .args(["build", ctx.to_str().unwrap(), "--output", &outputs[0], "--output", &outputs[1], "--tag", "v1"])
        .args(["--label", "org.opencontainers.image.title=e2e", "--label", "team=build", "--env", "GREETING=hi"])
        .args(["--entrypoint", "[\"/bin/tool\"]", "--cmd", "--serve", "--workdir", "/app", "--user", "1000:1000"])
        .args(["--platform", "linux/amd64"])
        .run();
    let got = digests(&out, &outputs);
    assert_eq!(got[0], got[1], "both outputs hold the same image");
    let digest = &got[0];

    // skopeo reads both; the config says what the flags said.
    for reference in [format!("oci-archive:{}:v1", archive.display()), format!("oci:{}:v1", layout.display())] {
        let out = skopeo(&["inspect", &reference]);
        assert_eq!(out.code, Some(0), "skopeo inspect {reference}:\n{}", out.describe());
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(v["Digest"], digest.as_str(), "{reference}");
        assert_eq!(v["Labels"], serde_json::json!({"org.opencontainers.image.title": "e2e", "team": "build"}));
        assert_eq!((v["Os"].as_str(), v["Architecture"].as_str()), (Some("linux"), Some("amd64")));
        assert_eq!(v["Created"], "1970-01-01T00:00:00Z");
        assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    }
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index["manifests"].as_array().unwrap().iter().map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap()).collect();
    assert_eq!(names, ["v1"], "the output's :v1 and --tag v1 name it once");
    let raw = skopeo(&["inspect", "--config", "--raw", &format!("oci:{}:v1", layout.display())]);
    let config: serde_json::Value = serde_json::from_str(&raw.stdout).unwrap_or_else(|e| panic!("{e}: {}", raw.describe()));
    assert_eq!(config["config"]["Entrypoint"], serde_json::json!(["/bin/tool"]));
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["/bin/sh", "-c", "--serve"]));
    assert_eq!((config["config"]["WorkingDir"].as_str(), config["config"]["User"].as_str()), (Some("/app"), Some("1000:1000")));
    assert!(config["config"]["Env"].as_array().unwrap().contains(&serde_json::json!("GREETING=hi")));

    // umoci unpacks the layout: exactly the non-ignored files, modes and symlinks.
    let bundle = dir.path.join("bundle");
    let out = run(
        {
            let mut c = std::process::Command::new("umoci");
            c.args(["unpack", "--image", &format!("{}:v1", layout.display()), bundle.to_str().unwrap()]);
            c
        },
        "umoci unpack",
        TOOL_TIMEOUT,
    );
    assert_eq!(out.code, Some(0), "umoci unpack (Debian package umoci) failed:\n{}", out.describe());
    assert_eq!(tree(&bundle.join("rootfs")), expected());

    // Into the real daemon (skopeo), then `docker create` + `docker export`.
    let name = format!("{}:v1", unique("e2e-build"));
    let mut images = ImageGuard::new();
    let out = skopeo(&[
        "copy",
        "--dest-daemon-host",
        &env().docker_host,
        &format!("oci-archive:{}", archive.display()),
        &format!("docker-daemon:{name}"),
    ]);
    assert_eq!(out.code, Some(0), "skopeo copy into the daemon:\n{}", out.describe());
    images.add(&name);
    let labels = docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", &name]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(labels.trim()).unwrap()["team"], "build");
    assert_eq!(container_files(&name, &[]), expected());
}

#[test]
fn same_context_same_digest_whatever_the_mtimes() {
    let dir = TestDir::new("build-same");
    let ctx = context(&dir);
    let build = |name: &str, epoch: Option<&str>| {
        let out = format!("oci-archive:{}", dir.path.join(name).display());
        let mut run = idpush(&dir).args(["build", "-q", ctx.to_str().unwrap(), "--output", &out]);
        if let Some(e) = epoch {
            run = run.env("SOURCE_DATE_EPOCH", e);
        }
        let result = run.run();
        assert!(result.stderr.is_empty(), "-q prints nothing but the result:\n{}", result.describe());
        digests(&result, &[out])[0].clone()
    };
    let first = build("a.tar", None);
    // Touch every file and dir (now): mtimes are clamped, nothing changes.
    let status = std::process::Command::new("find").arg(&ctx).args(["-exec", "touch", "-h", "{}", "+"]).status().unwrap();
    assert!(status.success());
    assert_eq!(build("b.tar", None), first);
    assert_eq!(fs::read(dir.path.join("a.tar")).unwrap(), fs::read(dir.path.join("b.tar")).unwrap(), "even the archive bytes");

    // An output inside the context is not packed: a rebuild gives the same digest.
    let inside = format!("oci-archive:{}", ctx.join("self.tar").display());
    for _ in 0..2 {
        let out = idpush(&dir).args(["build", "-q", ctx.to_str().unwrap(), "--output", &inside]).run();
        assert_eq!(digests(&out, std::slice::from_ref(&inside))[0], first);
    }
    fs::remove_file(ctx.join("self.tar")).unwrap();

    // SOURCE_DATE_EPOCH: another digest, its created time, and again stable.
    let dated = build("c.tar", Some("1700000000"));
    assert_ne!(dated, first);
    assert_eq!(build("d.tar", Some("1700000000")), dated);
    let out = skopeo(&["inspect", &format!("oci-archive:{}", dir.path.join("c.tar").display())]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.describe()));
    assert_eq!(v["Created"], "2023-11-14T22:13:20Z");

    // A changed byte changes it.
    fs::write(ctx.join("hello.txt"), "hello from idpush build!\n").unwrap();
    assert_ne!(build("e.tar", None), first);
}

#[test]
fn bad_inputs_are_one_line_and_leave_nothing() {
    let dir = TestDir::new("build-bad");
    let good = dir.sub("good");
    fs::write(good.join("f"), "x").unwrap();
    let escape = dir.sub("escape");
    symlink("../../etc/passwd", escape.join("evil")).unwrap();
    let fifo = dir.sub("fifo");
    assert!(std::process::Command::new("mkfifo").arg(fifo.join("pipe")).status().unwrap().success());
    let badignore = dir.sub("badignore");
    fs::write(badignore.join(".dockerignore"), "[oops\n").unwrap();
    let missing = dir.path.join("missing");

    let p = |p: &Path| p.to_str().unwrap().to_string();
    let cases: Vec<(Vec<String>, String, Option<&str>)> = vec![
        (vec![p(&missing)], format!("the build context {} does not exist", p(&missing)), Some("idpush build .")),
        (
            vec![p(&escape)],
            format!("{}/evil is a symlink to ../../etc/passwd, outside the build context", p(&escape)),
            Some("exclude it in .dockerignore"),
        ),
        (vec![p(&fifo)], format!("{}/pipe is a named pipe (FIFO)", p(&fifo)), Some(".dockerignore")),
        (vec![p(&badignore)], "line 1: \"[oops\" has a `[` without its `]`".into(), None),
        (vec![p(&good), "--label".into(), "novalue".into()], "--label \"novalue\": give KEY=VALUE".into(), None),
        (vec![p(&good), "--platform".into(), "amd64".into()], "--platform \"amd64\"".into(), None),
    ];
    let output = dir.path.join("out.tar");
    for (args, message, hint) in cases {
        let run_dir = dir.sub(&unique("run"));
        let out = Idpush::new(&run_dir, &env().docker_host)
            .args(["build".to_string(), "--output".into(), format!("oci-archive:{}", output.display())])
            .args(&args)
            .run();
        assert_eq!(out.code, Some(1), "{args:?}:\n{}", out.describe());
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout:\n{}", out.describe());
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("idpush: error: ")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: one error line:\n{}", out.describe());
        assert!(errors[0].contains(&message), "{args:?}: want {message:?}:\n{}", out.describe());
        if let Some(hint) = hint {
            let line = out.stderr.lines().find(|l| l.starts_with("hint: ")).unwrap_or_default();
            assert!(line.contains(hint), "{args:?}: want a hint with {hint:?}:\n{}", out.describe());
        }
        assert!(!output.exists(), "{args:?}: no output written");
        assert_eq!(dir_entries(&run_dir.join("tmp")), Vec::<String>::new(), "{args:?}: TMPDIR left empty");
    }
    // An output in a dir that does not exist: refused, nothing left beside it.
    let run_dir = dir.sub(&unique("run"));
    let out = Idpush::new(&run_dir, &env().docker_host)
        .args(["build", &p(&good), "--output", &format!("oci:{}/no/such/layout", dir.path.display())])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.contains("does not exist (create it first)"), "{}", out.describe());
    assert_eq!(dir_entries(&run_dir.join("tmp")), Vec::<String>::new());
    let mut left = dir_entries(&dir.path);
    left.retain(|n| n.starts_with("idpush-"));
    assert_eq!(left, Vec::<String>::new(), "no temp dir beside the outputs");
}

extern "C" {
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Whether process `pid` catches signal `sig` yet (its `SigCgt` mask).
fn catches(pid: u32, sig: i32) -> bool {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

/// A signal at some moment of a build (walking, spooling the layer, writing each output) ends
/// it with 128 + the signal and leaves no temp dir in TMPDIR or beside the outputs, and no
/// partial output (one renamed into place just before is whole); a build that finished first
/// wrote both outputs.
#[test]
fn signals_during_a_build_leave_nothing_partial() {
    let dir = TestDir::new("build-signal");
    let ctx = dir.sub("ctx");
    // Sparse zeros: no disk used, but about a second or two of compression here.
    fs::File::create(ctx.join("zeros")).unwrap().set_len(256 << 20).unwrap();
    fs::write(ctx.join("small"), "x").unwrap();
    let out_dir = dir.sub("out");
    let mut interrupted = 0;
    for (i, (sig, delay_ms)) in [(2, 0u64), (15, 300), (2, 700), (1, 1200), (2, 1800), (15, 2500)].into_iter().enumerate() {
        let run_dir = dir.sub(&format!("run{i}"));
        let (archive, layout) = (out_dir.join(format!("img{i}.tar")), out_dir.join(format!("layout{i}")));
        let mut child = Idpush::new(&run_dir, &env().docker_host)
            .args(["build", ctx.to_str().unwrap()])
            .args(["--output", &format!("oci-archive:{}", archive.display()), "--output", &format!("oci:{}", layout.display())])
            .spawn();
        let start = std::time::Instant::now();
        while !catches(child.id(), sig) {
            assert!(!child.has_exited() && start.elapsed().as_secs() < 30, "idpush never caught signal {sig}");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SAFETY: kill(2) on our own child, not yet waited for.
        unsafe { kill(child.id() as i32, sig) };
        let out = child.wait(IDPUSH_TIMEOUT);
        match out.code {
            Some(0) => {
                assert!(archive.is_file() && layout.join("index.json").is_file(), "{}", out.describe());
            }
            Some(code) if code == 128 + sig => {
                interrupted += 1;
                assert!(out.stderr.contains("idpush: interrupted ("), "{}", out.describe());
                // An output renamed into place just before the signal is whole; none is partial.
                for (exists, reference) in [
                    (archive.exists(), format!("oci-archive:{}", archive.display())),
                    (layout.exists(), format!("oci:{}", layout.display())),
                ] {
                    if exists {
                        let check = skopeo(&["inspect", &reference]);
                        assert_eq!(check.code, Some(0), "partial {reference} after signal {sig}:\n{}", check.describe());
                    }
                }
            }
            _ => panic!("signal {sig} after {delay_ms} ms: want exit 0 or {}:\n{}", 128 + sig, out.describe()),
        }
        assert_eq!(dir_entries(&run_dir.join("tmp")), Vec::<String>::new(), "TMPDIR left non-empty");
        let left: Vec<String> = dir_entries(&out_dir).into_iter().filter(|n| n.starts_with("idpush-")).collect();
        assert_eq!(left, Vec::<String>::new(), "a temp dir left beside the outputs");
    }
    assert!(interrupted >= 2, "only {interrupted} of 6 builds were interrupted: the build is too fast to test this");
}

/// `--push DEST`: the same image goes to the registry (one more stdout line, the pushed
/// reference with the same digest); the daemon pulls it and holds exactly the context's files.
#[test]
fn build_and_push_then_pull_with_the_daemon() {
    let dir = TestDir::new("build-push");
    let ctx = context(&dir);
    let archive = format!("oci-archive:{}", dir.path.join("img.tar").display());
    let repo = format!("e2e/{}", unique("build-push"));
    let dest = format!("{}/{repo}:v1", env().registry);
    let out = idpush(&dir)
        .args(["build", ctx.to_str().unwrap(), "--output", &archive, "--push", &dest, "--label", "pushed=yes"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line for the output, one for the push:\n{}", out.describe());
    let (written, digest) = lines[0].rsplit_once('@').unwrap();
    assert_eq!(written, archive);
    assert_eq!(lines[1], format!("{dest}@{digest}"), "the pushed image is the one written");
    let raw = skopeo_raw_manifest(&format!("{}/{repo}@{digest}", env().registry));
    assert_eq!(sha256_digest(&raw), digest);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json", "an OCI image stays OCI");

    let mut images = ImageGuard::new();
    docker(&["pull", &dest]);
    images.add(&dest);
    let labels = docker(&["image", "inspect", "-f", "{{json .Config.Labels}}", &dest]);
    assert_eq!(serde_json::from_str::<serde_json::Value>(labels.trim()).unwrap()["pushed"], "yes");
    // No Cmd in the image: docker create wants one (never run).
    assert_eq!(container_files(&dest, &["/none"]), expected());
}

/// Refused credentials fail before anything is built: one error line and the hint, exit 1,
/// no output, nothing in TMPDIR.
#[test]
fn push_with_refused_credentials_builds_nothing() {
    let auth = crate::token_server::ensure();
    let dir = TestDir::new("build-push-refused");
    let ctx = context(&dir);
    let run_dir = dir.sub("run");
    let output = dir.path.join("img.tar");
    let out = Idpush::new(&run_dir, &env().docker_host)
        .args(["build", ctx.to_str().unwrap(), "--output", &format!("oci-archive:{}", output.display())])
        .args(["--push", &format!("{}/e2e/{}:v1", auth.basic_registry, unique("refused"))])
        .args(["-u", &auth.user, "-p", "wrong-password-for-the-test"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(!out.stderr.contains("wrong-password-for-the-test"), "the password is never shown:\n{}", out.describe());
    assert!(!out.stderr.contains("building "), "nothing is built before the registry accepts us:\n{}", out.describe());
    assert!(out.stderr.lines().any(|l| l.starts_with("hint: the credentials")), "{}", out.describe());
    assert!(!output.exists());
    assert_eq!(dir_entries(&run_dir.join("tmp")), Vec::<String>::new());
}

/// `--base NAME`: a daemon image's layers stay as they are, the context is one more layer on
/// top, and the config is the base's plus the flags (issue 9: "--base with a daemon image keeps
/// the base's layers").
#[test]
fn build_on_a_daemon_image_keeps_its_layers() {
    let dir = TestDir::new("build-base");
    let ctx = context(&dir);
    let mut images = ImageGuard::new();
    let base = format!("{}:v1", unique("e2e-build-base"));
    build_image(
        &dir.path,
        &base,
        "FROM scratch\nCOPY f /etc/base-file\nCMD [\"/base\"]\nLABEL base=yes\nENV FROM_BASE=1\n",
        &[("f", b"from the base\n")],
    );
    images.add(&base);
    let base_layers = image_diff_ids(&base);
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("build-base"));
    let out = idpush(&dir)
        .args(["build", ctx.to_str().unwrap(), "--base", &format!("docker-daemon:{base}"), "--push", &dest])
        .args(["--label", "mine=1", "--env", "FROM_BUILD=1"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    docker(&["pull", &dest]);
    images.add(&dest);
    let layers = image_diff_ids(&dest);
    assert_eq!(layers.len(), base_layers.len() + 1, "{layers:?}");
    assert_eq!(layers[..base_layers.len()], base_layers[..], "the base's layers, as they are");
    let config = docker(&["image", "inspect", "-f", "{{json .Config}}", &dest]);
    let config: serde_json::Value = serde_json::from_str(config.trim()).unwrap();
    assert_eq!(config["Labels"], serde_json::json!({"base": "yes", "mine": "1"}));
    assert_eq!(config["Cmd"], serde_json::json!(["/base"]), "the base's cmd is kept");
    let vars: Vec<&str> = config["Env"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(vars.contains(&"FROM_BASE=1") && vars.contains(&"FROM_BUILD=1"), "{vars:?}");

    let mut files = container_files(&dest, &[]);
    assert_eq!(files.remove("etc/base-file").map(|f| f.2), Some("from the base\n".to_string()));
    assert_eq!(files, expected());

    // Another platform than the base's is refused; so is a base the daemon does not have.
    let run_dir = dir.sub("bad");
    let out = Idpush::new(&run_dir, &env().docker_host)
        .args(["build", ctx.to_str().unwrap(), "--base", &base, "--platform", "linux/s390x", "--output", "oci:x"])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.contains("--platform linux/s390x does not match the base image"), "{}", out.describe());
    let out = Idpush::new(&run_dir, &env().docker_host)
        .args(["build", ctx.to_str().unwrap(), "--base", &format!("{}-missing:v1", unique("e2e-build-base")), "--output", "oci:x"])
        .run();
    assert_eq!(out.code, Some(2), "a missing base is not found:\n{}", out.describe());
    assert!(out.stderr.contains("hint: `docker images` lists what the daemon has"), "{}", out.describe());
    assert_eq!(dir_entries(&run_dir.join("tmp")), Vec::<String>::new());
    assert!(!run_dir.join("x").exists());

    // -H names the daemon of the base, as for push: DOCKER_HOST pointing nowhere does not matter.
    let nowhere = format!("unix://{}", dir.sub("no-daemon").join("docker.sock").display());
    let out = Idpush::new(&dir.sub("with-h"), &nowhere)
        .args(["build", "-q", ctx.to_str().unwrap(), "--base", &format!("docker-daemon:{base}"), "-H", &env().docker_host])
        .args(["--output", &format!("oci-archive:{}", dir.sub("with-h-out").join("img.tar").display())])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let out = Idpush::new(&dir.sub("without-h"), &nowhere)
        .args(["build", "-q", ctx.to_str().unwrap(), "--base", &format!("docker-daemon:{base}"), "--output", "oci:x"])
        .run();
    assert_eq!(out.code, Some(2), "DOCKER_HOST names no daemon: {}", out.describe());
}

/// What `build` writes, `push` reads: the layout (by its tag), the archive, and the archive on
/// stdin all push the very manifest the build printed.
#[test]
fn build_outputs_push_as_they_are() {
    let dir = TestDir::new("build-roundtrip");
    let ctx = context(&dir);
    let (layout, archive) = (dir.path.join("layout"), dir.path.join("img.tar"));
    let outputs = [format!("oci:{}:v1", layout.display()), format!("oci-archive:{}:v1", archive.display())];
    let out = idpush(&dir).args(["build", "-q", ctx.to_str().unwrap(), "--output", &outputs[0], "--output", &outputs[1]]).run();
    let digest = digests(&out, &outputs)[0].clone();
    for (i, source) in [outputs[0].as_str(), outputs[1].as_str(), "-"].into_iter().enumerate() {
        let dest = format!("{}/e2e/{}:v1", env().registry, unique("build-roundtrip"));
        let run = idpush(&dir).args(["push", "-q", source, &dest]);
        let out = if source == "-" { run.run_with_stdin(&fs::read(&archive).unwrap()) } else { run.run() };
        let pushed = parse_pushed(&out);
        assert_eq!(pushed.digest, digest, "push {source} (case {i}):\n{}", out.describe());
    }
}

/// `--base` takes the sources push takes: a layout written by an earlier build (by its tag) and
/// a `docker save` archive (a plain path, told apart by content); their layers stay as they are.
#[test]
fn build_on_a_layout_and_on_a_docker_archive() {
    let dir = TestDir::new("build-base-files");
    let ctx = context(&dir);
    let top = dir.sub("top");
    fs::write(top.join("top.txt"), "on top\n").unwrap();
    let layout = dir.path.join("layout");
    let first = format!("oci:{}:base", layout.display());
    let out = idpush(&dir).args(["build", "-q", ctx.to_str().unwrap(), "--output", &first]).run();
    digests(&out, std::slice::from_ref(&first));
    let layers = |reference: &str| -> Vec<String> {
        let out = skopeo(&["inspect", reference]);
        assert_eq!(out.code, Some(0), "skopeo inspect {reference}:\n{}", out.describe());
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v["Layers"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
    };
    let base_layers = layers(&first);
    let second = format!("oci:{}:top", layout.display());
    let out = idpush(&dir).args(["build", "-q", top.to_str().unwrap(), "--base", &first, "--output", &second]).run();
    digests(&out, std::slice::from_ref(&second));
    let got = layers(&second);
    assert_eq!((got.len(), &got[..1]), (2, &base_layers[..]), "the layout's layer, then the new one");

    let mut images = ImageGuard::new();
    let base = format!("{}:v1", unique("e2e-build-base-save"));
    build_image(&dir.path, &base, "FROM scratch\nCOPY f /etc/base-file\n", &[("f", b"saved\n")]);
    images.add(&base);
    let saved = dir.path.join("base.tar");
    let save = docker_cmd(&["save", "-o", saved.to_str().unwrap(), &base]).output().unwrap();
    assert!(save.status.success(), "docker save failed");
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("build-base-save"));
    let out = idpush(&dir).args(["build", "-q", top.to_str().unwrap(), "--base", saved.to_str().unwrap(), "--push", &dest]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    docker(&["pull", &dest]);
    images.add(&dest);
    let want = image_diff_ids(&base);
    let pulled = image_diff_ids(&dest);
    assert_eq!((pulled.len(), &pulled[..want.len()]), (want.len() + 1, &want[..]), "the archive's layers, then the new one");
}
