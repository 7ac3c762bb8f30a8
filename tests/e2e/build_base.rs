//! `idpush build --base REGISTRY-REF` (issue 9): a base read from a registry, its layers
//! reused as they are under the built one; a token registry's base with its own credentials;
//! a missing base tag; a multi-platform base with `--platform`.

use crate::support::*;
use crate::token_server::{base64_std, ensure};
use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

fn idpush(dir: &TestDir) -> Idpush {
    Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
}

/// A context of one file `name` holding `content`.
fn context(dir: &TestDir, name: &str, content: &str) -> PathBuf {
    let ctx = dir.sub(&unique("ctx"));
    fs::write(ctx.join(name), content).unwrap();
    ctx
}

/// The manifest `repo:reference` of registry `host` (no auth), parsed.
fn manifest(host: &str, repo: &str, reference: &str) -> serde_json::Value {
    let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
    let r = crate::http::request("GET", host, &format!("/v2/{repo}/manifests/{reference}"), &[("Accept", accept)]).unwrap();
    assert_eq!(r.status, 200, "GET manifest {repo}:{reference}");
    serde_json::from_slice(&r.body).unwrap()
}

fn layer_digests(m: &serde_json::Value) -> Vec<String> {
    m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string()).collect()
}


/// The regular files of a container's `docker export`, by path.
fn exported_files(image: &str) -> BTreeMap<String, String> {
    let cid = docker(&["create", image]).trim().to_string();
    let export = docker_cmd(&["export", &cid]).output().unwrap();
    let _ = docker_output(&["rm", "-f", &cid]);
    assert!(export.status.success(), "docker export failed");
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(&export.stdout[..]);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type() == tar::EntryType::Regular {
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap_or_default();
            files.insert(path, text);
        }
    }
    files
}

/// The image of an OCI layout `dir` (its only manifest): manifest and config.
fn layout_image(dir: &Path) -> (serde_json::Value, serde_json::Value) {
    let json = |p: PathBuf| -> serde_json::Value { serde_json::from_slice(&fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap() };
    let blob = |d: &str| dir.join("blobs/sha256").join(d.strip_prefix("sha256:").unwrap());
    let index = json(dir.join("index.json"));
    let manifest = json(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    let config = json(blob(manifest["config"]["digest"].as_str().unwrap()));
    (manifest, config)
}

/// The manifest digest an OCI layout's index names first.
fn layout_digest(dir: &Path) -> String {
    let index: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"].as_str().unwrap().to_string()
}

/// A base pushed with idpush to the test registry, built on by its reference: the pushed image
/// has the base's layer digests first and one more; the oci-archive output is the same image;
/// the base's layers are mounted from its repository, not sent; docker runs it with a file of
/// each. A missing base tag is "not found" (exit 2), one line and a hint.
#[test]
fn build_on_a_registry_base_keeps_its_layers() {
    let reg = env().registry.clone();
    let dir = TestDir::new("build-reg-base");
    let mut images = ImageGuard::new();
    let local = format!("{}:v1", unique("e2e-reg-base"));
    build_image(&dir.path, &local, "FROM scratch\nCOPY f /etc/base-file\nCMD [\"/base\"]\n", &[("f", b"from the registry base\n")]);
    images.add(&local);
    let base_repo = format!("e2e/{}", unique("reg-base"));
    let out = idpush(&dir).args(["push", "-q", &local, &format!("{reg}/{base_repo}:v1")]).run();
    parse_pushed(&out);
    let base_layers = layer_digests(&manifest(&reg, &base_repo, "v1"));

    let ctx = context(&dir, "app.txt", "from the context\n");
    let archive = dir.path.join("built.tar");
    let out_archive = format!("oci-archive:{}", archive.display());
    let top_repo = format!("e2e/{}", unique("reg-top"));
    let dest = format!("{reg}/{top_repo}:v1");
    let out = idpush(&dir)
        .args(["build", ctx.to_str().unwrap(), "--base", &format!("{reg}/{base_repo}:v1"), "--output", &out_archive, "--push", &dest])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one line per output and push:\n{}", out.describe());
    let (digest, pushed_digest) = (lines[0].rsplit_once('@').unwrap().1, lines[1].rsplit_once('@').unwrap().1);
    assert_eq!(digest, pushed_digest, "the archive holds the pushed image");
    assert!(out.stderr.contains(&format!("mounted from {base_repo}")), "the base's layers are mounted:\n{}", out.describe());

    let pushed = layer_digests(&manifest(&reg, &top_repo, "v1"));
    assert_eq!(pushed.len(), base_layers.len() + 1, "{pushed:?}");
    assert_eq!(pushed[..base_layers.len()], base_layers[..], "the base's layers first, as they are");

    docker(&["pull", &dest]);
    images.add(&dest);
    let files = exported_files(&dest);
    assert_eq!(files.get("etc/base-file").map(String::as_str), Some("from the registry base\n"), "{files:?}");
    assert_eq!(files.get("app.txt").map(String::as_str), Some("from the context\n"), "{files:?}");
    let cmd = docker(&["image", "inspect", "-f", "{{json .Config.Cmd}}", &dest]);
    assert_eq!(cmd.trim(), "[\"/base\"]", "the base's config is kept");

    // With --push alone, the base's layers are mounted without being read: no GET of them.
    let again = format!("{reg}/e2e/{}:v1", unique("reg-top-push-only"));
    let out = idpush(&dir)
        .args(["build", ctx.to_str().unwrap(), "--base", &format!("docker://{reg}/{base_repo}:v1"), "--push", &again, "--log-level", "debug"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout.trim().rsplit_once('@').map(|(_, d)| d), Some(digest), "the same image:
{}", out.describe());
    for layer in &base_layers {
        assert!(out.stderr.contains(&format!("/blobs/uploads/?mount={layer}")), "{layer} is mounted:
{}", out.describe());
        assert!(!out.stderr.contains(&format!("GET http://{reg}/v2/{base_repo}/blobs/{layer}")), "{layer} is not read:
{}", out.describe());
    }
    assert!(out.stderr.contains(&format!("GET http://{reg}/v2/{base_repo}/manifests/v1")), "the trace shows GETs:
{}", out.describe());

    // docker:// says the same; a missing tag is not found.
    let run_dir = dir.sub("missing");
    let out = Idpush::new(&run_dir, &env().docker_host)
        .args(["build", "-q", ctx.to_str().unwrap(), "--base", &format!("docker://{reg}/{base_repo}:nope"), "--output", "oci:x"])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(out.error_lines().len(), 1, "one error line:\n{}", out.describe());
    assert!(out.stderr.contains(&format!("{reg}/{base_repo}:nope")), "{}", out.describe());
    assert!(out.hint().is_some_and(|h| h.contains("idpush tags")), "{}", out.describe());
    assert!(!run_dir.join("x").exists());
    assert_eq!(dir_entries(&run_dir.join("tmp")), Vec::<String>::new());
}

/// A base in the token registry: its credentials come from the docker config for its host
/// (not from --push's flags); without them the registry refuses, exit 1, nothing written.
#[test]
fn build_on_a_token_registry_base_with_its_credentials() {
    let a = ensure();
    let dir = TestDir::new("build-token-base");
    let mut images = ImageGuard::new();
    let local = format!("{}:v1", unique("e2e-token-base"));
    import_image(&dir.path, &local, 3000);
    images.add(&local);
    let base = format!("{}/e2e/{}:v1", a.token_registry, unique("token-base"));
    let out = idpush(&dir).args(["push", "-q", &local, &base, "-u", &a.user, "-p", &a.password]).run();
    parse_pushed(&out);

    let config = dir.sub("docker-config");
    let auths = serde_json::json!({"auths": {a.token_registry.as_str(): {"auth": base64_std(format!("{}:{}", a.user, a.password).as_bytes())}}});
    fs::write(config.join("config.json"), auths.to_string()).unwrap();
    let ctx = context(&dir, "top.txt", "top\n");
    let layout = dir.path.join("layout");
    let output = format!("oci:{}", layout.display());
    let out = idpush(&dir)
        .args(["build", "-q", ctx.to_str().unwrap(), "--base", &base, "--output", &output])
        .env("DOCKER_CONFIG", config.to_str().unwrap())
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let (manifest, _) = layout_image(&layout);
    assert_eq!(layer_digests(&manifest).len(), 2, "the base's layer and the context's");

    // Pushed to another registry: each registry its own credentials.
    let dest = format!("{}/e2e/{}:v1", env().registry, unique("from-token-base"));
    let out = idpush(&dir)
        .args(["build", "-q", ctx.to_str().unwrap(), "--base", &base, "--push", &dest])
        .env("DOCKER_CONFIG", config.to_str().unwrap())
        .run();
    assert_eq!(parse_pushed(&out).digest, layout_digest(&layout), "the same image:
{}", out.describe());
    // Pushed to the same registry: --push's credentials read the base, whose layer is mounted.
    let dest = format!("{}/e2e/{}:v1", a.token_registry, unique("on-token-base"));
    let out = idpush(&dir)
        .args(["build", ctx.to_str().unwrap(), "--base", &base, "--push", &dest, "-u", &a.user, "-p", &a.password])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stderr.contains("mounted from e2e/token-base"), "{}", out.describe());

    let run_dir = dir.sub("refused");
    let out = Idpush::new(&run_dir, &env().docker_host)
        .args(["build", "-q", ctx.to_str().unwrap(), "--base", &base, "--output", "oci:x"])
        .run();
    assert_eq!(out.code, Some(1), "no credentials for the base's registry:\n{}", out.describe());
    assert!(out.stderr.contains(&a.token_registry), "{}", out.describe());
    assert!(!out.stderr.contains(&a.password), "{}", out.describe());
    assert!(!run_dir.join("x").exists());
}

/// An index base: `--platform` picks its child (attestations never), whose layer comes first;
/// a platform the index does not have is one error naming what it has.
#[test]
fn build_on_an_index_base_picks_the_platform() {
    let reg = env().registry.clone();
    let dir = TestDir::new("build-index-base");
    let repo = format!("e2e/{}", unique("index-base"));
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let ctx = context(&dir, "arch.txt", arch);
        let out = idpush(&dir)
            .args(["build", "-q", ctx.to_str().unwrap(), "--platform", &format!("linux/{arch}"), "--push", &format!("{reg}/{repo}:{arch}")])
            .run();
        let pushed = parse_pushed(&out);
        let bytes = crate::http::request("GET", &reg, &format!("/v2/{repo}/manifests/{arch}"), &[("Accept", "application/vnd.oci.image.manifest.v1+json")]).unwrap().body;
        children.push((arch, pushed.digest, bytes.len(), layer_digests(&serde_json::from_slice(&bytes).unwrap())));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": children.iter().map(|(arch, digest, size, _)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
            "platform": {"os": "linux", "architecture": arch}
        })).collect::<Vec<_>>()
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    assert_eq!(registry_put(&reg, &format!("/v2/{repo}/manifests/multi"), "application/vnd.oci.image.index.v1+json", &bytes), 201);

    let ctx = context(&dir, "top.txt", "top\n");
    let layout = dir.path.join("arm");
    let out = idpush(&dir)
        .args(["build", "-q", ctx.to_str().unwrap(), "--base", &format!("{reg}/{repo}:multi"), "--platform", "linux/arm64"])
        .args(["--output", &format!("oci:{}", layout.display())])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let (manifest, config) = layout_image(&layout);
    let layers = layer_digests(&manifest);
    assert_eq!((layers.len(), &layers[0]), (2, &children[1].3[0]), "the arm64 child's layer first");
    assert_eq!(config["architecture"], "arm64");

    let out = idpush(&dir)
        .args(["build", "-q", ctx.to_str().unwrap(), "--base", &format!("{reg}/{repo}:multi"), "--platform", "linux/s390x", "--output", "oci:y"])
        .run();
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(out.error_lines().len(), 1, "{}", out.describe());
    assert!(out.stderr.contains("has no image for linux/s390x (it has linux/amd64, linux/arm64)"), "{}", out.describe());
}
