//! Round trips through the real daemon and the real registry: make an image locally, push it with
//! idpush, check the registry with skopeo and plain HTTP, pull it back with docker and compare
//! image IDs.

use crate::support::*;
use std::collections::HashSet;

/// A fresh imported base image (one layer) named `e2e-<what>-…:base`.
fn base_image(
    dir: &TestDir,
    images: &mut ImageGuard,
    what: &str,
    payload: usize,
) -> (String, String) {
    let name = format!("{}:base", unique(&format!("e2e-{what}")));
    let id = import_image(&dir.path, &name, payload);
    images.add(&name);
    (name, id)
}

/// Push `image` to `registry/repo:tag` (explicit DEST), check stdout and the registry content;
/// returns what was printed.
fn push_and_verify(
    dir: &TestDir,
    image: &str,
    repo: &str,
    tag: &str,
    extra: &[&str],
) -> (Pushed, Output) {
    let env = env();
    let id = image_id(image);
    let diff_ids = image_diff_ids(image);
    let dest = format!("{}/{repo}:{tag}", env.registry);
    let out = Idpush::new(&dir.sub(&unique("run")), &env.docker_host)
        .args(["push", image, &dest])
        .args(extra)
        .run();
    let pushed = parse_pushed(&out);
    assert_eq!(
        pushed.host,
        env.registry,
        "stdout host:\n{}",
        out.describe()
    );
    assert_eq!(pushed.repo, repo, "stdout repository:\n{}", out.describe());
    assert_eq!(
        pushed.tag.as_deref(),
        Some(tag),
        "stdout tag:\n{}",
        out.describe()
    );
    verify_registry_image(&env.registry, repo, &pushed.digest, &id, &diff_ids);
    let (status, by_tag) = registry_manifest_digest(&env.registry, repo, tag);
    assert_eq!(status, 200, "GET manifest by tag {repo}:{tag}");
    assert_eq!(
        by_tag.as_deref(),
        Some(pushed.digest.as_str()),
        "the tag does not point at the printed digest"
    );
    (pushed, out)
}

/// Remove the local image, pull `reference` back with the real daemon, and compare image IDs.
fn pull_back(images: &mut ImageGuard, original: &str, original_id: &str, reference: &str) {
    docker_rmi(&[original]);
    images.add(reference);
    let pulled = pull_and_id(reference);
    assert_eq!(
        pulled, original_id,
        "image pulled back from {reference} has a different ID"
    );
}

#[test]
fn one_layer_import_round_trip() {
    let dir = TestDir::new("one-layer");
    let mut images = ImageGuard::new();
    let (image, id) = base_image(&dir, &mut images, "one-layer", 96 * 1024);
    assert_eq!(
        image_diff_ids(&image).len(),
        1,
        "docker import should give one layer"
    );
    let repo = format!("e2e/{}", unique("one-layer"));
    let (pushed, _) = push_and_verify(&dir, &image, &repo, "v1", &[]);
    pull_back(
        &mut images,
        &image,
        &id,
        &format!("{}/{repo}:v1", env().registry),
    );
    assert_eq!(pushed.tag.as_deref(), Some("v1"));
}

#[test]
fn multi_layer_build_round_trip() {
    let dir = TestDir::new("multi-layer");
    let mut images = ImageGuard::new();
    let (base, _) = base_image(&dir, &mut images, "multi-base", 32 * 1024);
    let image = format!("{}:v2", unique("e2e-multi"));
    let dockerfile = format!(
        "FROM {base}\nCOPY app.txt /app/app.txt\nCOPY data.bin /app/data.bin\nLABEL org.example.test=\"{image}\"\n"
    );
    let data = pseudo_random(&image, 48 * 1024);
    let id = build_image(
        &dir.path,
        &image,
        &dockerfile,
        &[("app.txt", image.as_bytes()), ("data.bin", &data)],
    );
    images.add(&image);
    let diff_ids = image_diff_ids(&image);
    assert_eq!(
        diff_ids.len(),
        3,
        "base + 2 COPY layers expected, got {diff_ids:?}"
    );
    let repo = format!("e2e/{}", unique("multi"));
    push_and_verify(&dir, &image, &repo, "v2", &[]);
    pull_back(
        &mut images,
        &image,
        &id,
        &format!("{}/{repo}:v2", env().registry),
    );
    let label = docker(&[
        "image",
        "inspect",
        "-f",
        "{{index .Config.Labels \"org.example.test\"}}",
        &format!("{}/{repo}:v2", env().registry),
    ]);
    assert_eq!(label.trim(), image);
}

#[test]
fn repeated_layer_round_trip() {
    // docker 20.10 drops a COPY whose diff is empty, so two identical COPYs in a row give one
    // layer. COPY a, COPY b, COPY a over the same path gives layers 1 and 3 with identical diffs
    // (same content, same mtime from the context): a duplicate layer. The file sits at / so no
    // parent directory entry (whose mtime would differ) lands in the diffs.
    let dir = TestDir::new("repeated");
    let mut images = ImageGuard::new();
    let (base, _) = base_image(&dir, &mut images, "repeated-base", 16 * 1024);
    let image = format!("{}:dup", unique("e2e-repeated"));
    let dockerfile = format!(
        "FROM {base}\nCOPY a.txt /f.txt\nCOPY b.txt /f.txt\nCOPY a.txt /f.txt\nLABEL dup=yes\n"
    );
    let a = format!("first {image}\n");
    let b = format!("second, longer content for {image}\n");
    let id = build_image(
        &dir.path,
        &image,
        &dockerfile,
        &[("a.txt", a.as_bytes()), ("b.txt", b.as_bytes())],
    );
    images.add(&image);
    let diff_ids = image_diff_ids(&image);
    assert_eq!(
        diff_ids.len(),
        4,
        "base + 3 COPY layers expected, got {diff_ids:?}"
    );
    let unique_ids: HashSet<&String> = diff_ids.iter().collect();
    assert_eq!(
        unique_ids.len(),
        3,
        "fixture should contain a repeated layer: {diff_ids:?}"
    );
    assert_eq!(
        diff_ids[1], diff_ids[3],
        "layers 1 and 3 should be identical: {diff_ids:?}"
    );

    let repo = format!("e2e/{}", unique("repeated"));
    push_and_verify(&dir, &image, &repo, "dup", &[]);
    pull_back(
        &mut images,
        &image,
        &id,
        &format!("{}/{repo}:dup", env().registry),
    );
}

#[test]
fn second_push_skips_existing_blobs() {
    let dir = TestDir::new("second-push");
    let mut images = ImageGuard::new();
    let (base, _) = base_image(&dir, &mut images, "second-base", 64 * 1024);
    let image = format!("{}:v1", unique("e2e-second"));
    build_image(
        &dir.path,
        &image,
        &format!("FROM {base}\nCOPY x.txt /x.txt\n"),
        &[("x.txt", image.as_bytes())],
    );
    images.add(&image);
    let unique_layers: HashSet<String> = image_diff_ids(&image).into_iter().collect();
    let repo = format!("e2e/{}", unique("second"));

    let (first, _) = push_and_verify(&dir, &image, &repo, "v1", &[]);
    let (second, out) = push_and_verify(&dir, &image, &repo, "v1", &[]);
    assert_eq!(
        first.digest, second.digest,
        "a second push must give the same manifest digest"
    );
    assert_eq!(
        out.stdout.trim(),
        format!("{}/{repo}:v1@{}", env().registry, first.digest)
    );

    // Progress format agreed with the implementation:
    //   layer sha256:abcd… skipped (exists)
    //   layer sha256:abcd… pushed
    let lines = out.stderr_lines();
    let skipped = lines.iter().filter(|l| l.contains("skipped")).count();
    assert!(
        skipped >= unique_layers.len(),
        "second push: expected a 'skipped' progress line for each of the {} layers:\n{}",
        unique_layers.len(),
        out.describe()
    );
    let uploaded: Vec<&&str> = lines
        .iter()
        .filter(|l| {
            (l.contains("layer ") || l.contains("blob ") || l.contains("config "))
                && l.contains(" pushed")
                && !l.contains("skipped")
        })
        .collect();
    assert!(
        uploaded.is_empty(),
        "second push uploaded blobs again: {uploaded:?}\n{}",
        out.describe()
    );
}

#[test]
fn tag_and_digest_references() {
    let dir = TestDir::new("digest-ref");
    let mut images = ImageGuard::new();
    let (image, id) = base_image(&dir, &mut images, "digest-ref", 24 * 1024);
    let env = env();
    let repo = format!("e2e/{}", unique("digest-ref"));
    let (pushed, _) = push_and_verify(&dir, &image, &repo, "release-1.0", &[]);

    // skopeo resolves the tag to the printed digest.
    let out = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/{repo}:release-1.0", env.registry),
    ]);
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let inspect: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        inspect["Digest"].as_str(),
        Some(pushed.digest.as_str()),
        "skopeo inspect by tag"
    );

    // The printed name@digest pulls as it is, by digest.
    pull_back(&mut images, &image, &id, &pushed.by_digest());
    let repo_digests = docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .RepoDigests}}",
        &pushed.by_digest(),
    ]);
    assert!(
        repo_digests.contains(&pushed.by_digest()),
        "RepoDigests {repo_digests} lacks {}",
        pushed.by_digest()
    );
    // And by tag.
    let by_tag = format!("{}/{repo}:release-1.0", env.registry);
    images.add(&by_tag);
    assert_eq!(pull_and_id(&by_tag), id);
}

#[test]
fn quiet_push_prints_only_the_reference() {
    let dir = TestDir::new("quiet");
    let mut images = ImageGuard::new();
    let (image, _) = base_image(&dir, &mut images, "quiet", 8 * 1024);
    let repo = format!("e2e/{}", unique("quiet"));
    let (_, out) = push_and_verify(&dir, &image, &repo, "q", &["-q"]);
    assert!(
        out.stderr.is_empty(),
        "-q: nothing on stderr on success:\n{}",
        out.describe()
    );
}

#[test]
fn push_without_dest_uses_registry_flag() {
    let url = format!("http://{}", env().registry);
    push_without_dest("no-dest", "v3", |cmd, image| cmd.args(["push", "-r", &url, image]));
}

#[test]
fn push_without_dest_uses_registry_env_var() {
    let url = format!("http://{}", env().registry);
    push_without_dest("env-url", "v4", |cmd, image| cmd.env("IDPBUILDER_REGISTRY_URL", &url).args(["push", image]));
}

/// Pushes `e2e/<unique>:<tag>` with no DEST, the registry named by `configure`, and checks it
/// lands under the same repository path and tag.
fn push_without_dest(name: &str, tag: &str, configure: impl FnOnce(Idpush, &str) -> Idpush) {
    let dir = TestDir::new(name);
    let mut images = ImageGuard::new();
    let env = env();
    let repo = format!("e2e/{}", unique(name));
    let image = format!("{repo}:{tag}");
    let id = import_image(&dir.path, &image, 8 * 1024);
    images.add(&image);
    let diff_ids = image_diff_ids(&image);
    let out = configure(Idpush::new(&dir.sub("run"), &env.docker_host), &image).run();
    let pushed = parse_pushed(&out);
    assert_eq!(
        (pushed.host.as_str(), pushed.repo.as_str(), pushed.tag.as_deref()),
        (env.registry.as_str(), repo.as_str(), Some(tag))
    );
    verify_registry_image(&env.registry, &repo, &pushed.digest, &id, &diff_ids);
}
