//! Every image source (issue 9): archives made by `docker save` (plain, gzipped, on stdin,
//! several images in one), OCI layouts and archives made by skopeo and umoci, `--tag`, and bad
//! inputs. Each pushed image is pulled back by the real daemon and its image ID compared with
//! the source's config digest.

use crate::support::*;
use std::path::Path;

fn dest(repo: &str, tag: &str) -> String {
    format!("{}/{repo}:{tag}", env().registry)
}

fn idpush(dir: &TestDir) -> Idpush {
    Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
}

/// Pulls `pushed` back with the daemon and checks its image ID; the pulled name is removed after.
fn pull_matches(pushed: &Pushed, id: &str, images: &mut ImageGuard) {
    let by_digest = pushed.by_digest();
    assert_eq!(pull_and_id(&by_digest), id, "pulled {by_digest}");
    images.add(&by_digest);
}

/// `docker save NAMES > path`.
fn docker_save(names: &[&str], path: &Path) {
    let mut args = vec!["save", "-o", path.to_str().unwrap()];
    args.extend_from_slice(names);
    docker(&args);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// `skopeo copy docker-daemon:NAME <to>` from the test daemon.
fn skopeo_from_daemon(name: &str, to: &str, extra: &[&str]) {
    let mut args = vec!["copy", "-q", "--src-daemon-host", &env().docker_host];
    args.extend_from_slice(extra);
    let from = format!("docker-daemon:{name}");
    args.push(&from);
    args.push(to);
    let out = skopeo(&args);
    assert_eq!(out.code, Some(0), "skopeo {args:?}:\n{}", out.describe());
}

/// The manifest and config digests of the only (or `tag`'s) manifest of a layout dir.
fn layout_digests(dir: &Path) -> (String, String) {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let m = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(blob(dir, &m)).unwrap()).unwrap();
    (m, manifest["config"]["digest"].as_str().unwrap().to_string())
}

fn blob(dir: &Path, digest: &str) -> std::path::PathBuf {
    dir.join("blobs/sha256").join(digest.strip_prefix("sha256:").unwrap())
}

#[test]
fn docker_archives_plain_gzipped_and_on_stdin() {
    let dir = TestDir::new("src-archive");
    let mut images = ImageGuard::new();
    let name = format!("e2e-src/{}:v1", unique("archive"));
    let id = import_image(&dir.path, &name, 64 * 1024);
    images.add(&name);
    let diff_ids = image_diff_ids(&name);
    let tar = dir.path.join("image.tar");
    docker_save(&[&name], &tar);
    let bytes = std::fs::read(&tar).unwrap();
    let gz = dir.path.join("image.tar.gz");
    std::fs::write(&gz, gzip(&bytes)).unwrap();
    let repo = format!("e2e/{}", unique("src-archive"));

    let cases: Vec<(&str, String, Option<Vec<u8>>)> = vec![
        ("plain", format!("docker-archive:{}", tar.display()), None),
        ("gzip", format!("docker-archive:{}", gz.display()), None),
        ("path", gz.display().to_string(), None),
        ("stdin", "-".to_string(), Some(bytes.clone())),
        ("stdin-gzip", "-".to_string(), Some(gzip(&bytes))),
    ];
    for (tag, source, stdin) in cases {
        let run = idpush(&dir).args(["push", &source, &dest(&repo, tag)]);
        let out = match stdin {
            Some(input) => run.run_with_stdin(&input),
            None => run.run(),
        };
        let pushed = parse_pushed(&out);
        assert_eq!(pushed.tag.as_deref(), Some(tag), "{}", out.describe());
        verify_registry_image(&env().registry, &repo, &pushed.digest, &id, &diff_ids);
        pull_matches(&pushed, &id, &mut images);
    }
    // The daemon source, explicitly named, with more tags: the manifest docker-archive gave.
    let first = registry_manifest_digest(&env().registry, &repo, "plain").1.unwrap();
    let out = idpush(&dir).args(["push", &format!("docker-daemon:{name}"), &dest(&repo, "daemon"), "--tag", "daemon2"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let want: Vec<String> = ["daemon", "daemon2"].iter().map(|t| format!("{}@{first}", dest(&repo, t))).collect();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want, "{}", out.describe());
}

/// Without DEST, RepoTags name the destination; `:NAME` picks one image of several, and an
/// archive of several without it is refused.
#[test]
fn multi_image_archive_and_repo_tags() {
    let dir = TestDir::new("src-multi");
    let mut images = ImageGuard::new();
    let base = format!("e2e-src/{}", unique("multi"));
    let (one, two) = (format!("{base}-one:v1"), format!("{base}-two:v2"));
    let one_id = import_image(&dir.path, &one, 8 * 1024);
    images.add(&one);
    let two_id = import_image(&dir.path, &two, 9 * 1024);
    images.add(&two);
    let tar = dir.path.join("two.tar");
    docker_save(&[&one, &two], &tar);
    let registry = format!("http://{}", env().registry);

    let out = idpush(&dir).args(["push", "-q", &format!("docker-archive:{}:{two}", tar.display()), "-r", &registry]).run();
    let pushed = parse_pushed(&out);
    assert_eq!((pushed.repo.as_str(), pushed.tag.as_deref()), (format!("{base}-two").as_str(), Some("v2")), "{}", out.describe());
    pull_matches(&pushed, &two_id, &mut images);

    // A single-image archive names its destination by its RepoTags.
    let single = dir.path.join("one.tar");
    docker_save(&[&one], &single);
    let out = idpush(&dir).args(["push", "-q", single.to_str().unwrap(), "-r", &registry]).run();
    let pushed = parse_pushed(&out);
    assert_eq!((pushed.repo.as_str(), pushed.tag.as_deref()), (format!("{base}-one").as_str(), Some("v1")));
    pull_matches(&pushed, &one_id, &mut images);

    let repo = format!("e2e/{}", unique("src-multi"));
    let line = expect_failure(&dir, &[&format!("docker-archive:{}", tar.display()), &dest(&repo, "v1")], None, 1, "pick one with docker-archive:PATH:NAME");
    assert!(line.contains(&one) && line.contains(&two), "{line}");
    expect_failure(&dir, &[&format!("docker-archive:{}:{base}-three:v1", tar.display()), &dest(&repo, "v1")], None, 2, "is not in the archive");
    assert_eq!(registry_manifest_digest(&env().registry, &repo, "v1").0, 404);
}

/// OCI layouts from skopeo (gzip, zstd, and one rewritten with an uncompressed layer) and
/// umoci, an oci-archive naming its image, `@DIGEST` and `--tag`.
#[test]
fn oci_layouts_and_archives() {
    let dir = TestDir::new("src-oci");
    let mut images = ImageGuard::new();
    let name = format!("e2e-src/{}:v1", unique("oci"));
    import_image(&dir.path, &name, 32 * 1024);
    images.add(&name);
    let repo = format!("e2e/{}", unique("src-oci"));

    // skopeo's layout: pushed byte for byte (same manifest digest), pulled back as its config.
    let layout = dir.path.join("layout");
    skopeo_from_daemon(&name, &format!("oci:{}:v1", layout.display()), &[]);
    let (manifest, config) = layout_digests(&layout);
    let out = idpush(&dir).args(["push", &format!("oci:{}:v1", layout.display()), &dest(&repo, "skopeo")]).run();
    let pushed = parse_pushed(&out);
    assert_eq!(pushed.digest, manifest, "the layout's manifest is pushed as it is");
    pull_matches(&pushed, &config, &mut images);

    // By digest, a plain path, several tags: one line per reference, the same manifest.
    let out = idpush(&dir)
        .args(["push", &format!("oci:{}@{manifest}", layout.display()), &dest(&repo, "a"), "--tag", "b", "--tag", "c", "--tag", "a"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    let want: Vec<String> = ["a", "b", "c"].iter().map(|t| format!("{}@{manifest}", dest(&repo, t))).collect();
    assert_eq!(lines, want, "{}", out.describe());
    for t in ["a", "b", "c"] {
        assert_eq!(registry_manifest_digest(&env().registry, &repo, t), (200, Some(manifest.clone())));
    }
    let out = idpush(&dir).args(["push", "-q", layout.to_str().unwrap(), &dest(&repo, "path")]).run();
    assert_eq!(parse_pushed(&out).digest, manifest);

    // zstd layers are pushed as they are (the daemon here cannot pull zstd: skopeo checks).
    let zstd = dir.path.join("zstd");
    skopeo_from_daemon(&name, &format!("oci:{}:v1", zstd.display()), &["--dest-compress-format", "zstd"]);
    let (zstd_manifest, _) = layout_digests(&zstd);
    let raw = std::fs::read(blob(&zstd, &zstd_manifest)).unwrap();
    assert!(String::from_utf8_lossy(&raw).contains("zstd"), "skopeo wrote no zstd layer");
    let out = idpush(&dir).args(["push", "-q", &format!("oci:{}", zstd.display()), &dest(&repo, "zstd")]).run();
    let pushed = parse_pushed(&out);
    assert_eq!(pushed.digest, zstd_manifest);
    assert_eq!(skopeo_raw_manifest(&pushed.by_digest()), raw);

    // A layout with an uncompressed layer (written here): compressed, the manifest rewritten.
    let plain = dir.path.join("plain");
    copy_dir(&layout, &plain);
    let (plain_manifest, plain_config) = decompress_layers(&plain);
    let out = idpush(&dir).args(["push", "-q", &format!("oci:{}", plain.display()), &dest(&repo, "plain")]).run();
    let pushed = parse_pushed(&out);
    assert_ne!(pushed.digest, plain_manifest, "a compressed layer changes the manifest");
    let m: serde_json::Value = serde_json::from_slice(&skopeo_raw_manifest(&pushed.by_digest())).unwrap();
    assert_eq!(m["mediaType"], "application/vnd.oci.image.manifest.v1+json");
    assert_eq!(m["layers"][0]["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip");
    pull_matches(&pushed, &plain_config, &mut images);

    // umoci's own layout.
    let umoci = dir.path.join("umoci");
    let file = dir.path.join("hello");
    std::fs::write(&file, b"hello from umoci\n").unwrap();
    let umoci_arg = format!("{}:t", umoci.display());
    for args in [
        vec!["init", "--layout", umoci.to_str().unwrap()],
        vec!["new", "--image", &umoci_arg],
        vec!["insert", "--rootless", "--image", &umoci_arg, file.to_str().unwrap(), "/hello"],
    ] {
        let mut cmd = std::process::Command::new("umoci");
        cmd.args(&args);
        let out = run(cmd, "umoci", std::time::Duration::from_secs(60));
        assert_eq!(out.code, Some(0), "umoci {args:?} (is umoci installed? scripts/test-env.sh installs it):\n{}", out.describe());
    }
    let (umoci_manifest, umoci_config) = layout_digests(&umoci);
    let out = idpush(&dir).args(["push", "-q", &format!("oci:{umoci_arg}"), &dest(&repo, "umoci")]).run();
    let pushed = parse_pushed(&out);
    assert_eq!(pushed.digest, umoci_manifest);
    pull_matches(&pushed, &umoci_config, &mut images);

    // An oci-archive whose ref.name is a full reference names the destination, on stdin too.
    let archive = dir.path.join("image.oci.tar");
    let named = format!("{}:v9", repo);
    skopeo_from_daemon(&name, &format!("oci-archive:{}:{named}", archive.display()), &[]);
    let registry = format!("http://{}", env().registry);
    let out = idpush(&dir).args(["push", "-q", &format!("oci-archive:{}", archive.display()), "-r", &registry]).run();
    let pushed = parse_pushed(&out);
    assert_eq!((pushed.repo.as_str(), pushed.tag.as_deref()), (repo.as_str(), Some("v9")));
    pull_matches(&pushed, &config, &mut images);
    let out = idpush(&dir).args(["push", "-q", "-", &dest(&repo, "oci-stdin")]).run_with_stdin(&gzip(&std::fs::read(&archive).unwrap()));
    let pushed = parse_pushed(&out);
    pull_matches(&pushed, &config, &mut images);
}

/// Bad inputs: one error line, the right exit code, nothing pushed, nothing left in TMPDIR.
#[test]
fn bad_sources_fail_cleanly() {
    let dir = TestDir::new("src-bad");
    let mut images = ImageGuard::new();
    let name = format!("e2e-src/{}:v1", unique("bad"));
    import_image(&dir.path, &name, 256 * 1024);
    images.add(&name);
    let tar = dir.path.join("image.tar");
    docker_save(&[&name], &tar);
    let bytes = std::fs::read(&tar).unwrap();
    let repo = format!("e2e/{}", unique("src-bad"));
    let to = dest(&repo, "v1");
    let at = |p: &Path| p.display().to_string();

    let missing = dir.path.join("missing.tar");
    expect_failure(&dir, &[&format!("docker-archive:{}", at(&missing)), &to], None, 2, "no such file");
    expect_failure(&dir, &[&at(&missing), &to], None, 2, "does not exist");
    expect_failure(&dir, &[&format!("oci:{}", at(&missing)), &to], None, 2, "no such file");

    let cut = dir.path.join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    expect_failure(&dir, &[&format!("docker-archive:{}", at(&cut)), &to], None, 1, "cut short");
    expect_failure(&dir, &["-", &to], Some(gzip(&bytes[..bytes.len() / 2])), 1, "");

    let not_image = dir.path.join("files.tar");
    {
        let mut b = tar::Builder::new(std::fs::File::create(&not_image).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_cksum();
        b.append_data(&mut h, "hello.txt", &b"hi\n"[..]).unwrap();
        b.finish().unwrap();
    }
    expect_failure(&dir, &[&format!("docker-archive:{}", at(&not_image)), &to], None, 1, "not an image archive");
    expect_failure(&dir, &["-", &to], Some(b"not a tar at all".repeat(100)), 1, "stdin");

    let layout = dir.path.join("layout");
    skopeo_from_daemon(&name, &format!("oci:{}:v1", layout.display()), &[]);
    expect_failure(&dir, &[&format!("oci:{}:nope", at(&layout)), &to], None, 2, "has no image tagged nope");
    expect_failure(&dir, &["--platform", "linux/arm64", &format!("oci:{}", at(&layout)), &to], None, 2, "is one image, for linux/amd64");
    expect_failure(&dir, &["--platform", "linux", &format!("oci:{}", at(&layout)), &to], None, 1, "expected os/arch");
    expect_failure(&dir, &["--platform", "linux/amd64", &name, &to], None, 1, "drop --platform");
    // A layer blob whose content no longer matches its descriptor.
    let (manifest, _) = layout_digests(&layout);
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(blob(&layout, &manifest)).unwrap()).unwrap();
    let layer = blob(&layout, m["layers"][0]["digest"].as_str().unwrap());
    let mut data = std::fs::read(&layer).unwrap();
    let n = data.len();
    data[n - 20] ^= 0xff;
    std::fs::write(&layer, &data).unwrap();
    expect_failure(&dir, &[&format!("oci:{}", at(&layout)), &to], None, 1, "");
    std::fs::remove_file(&layer).unwrap();
    expect_failure(&dir, &[&format!("oci:{}", at(&layout)), &to], None, 1, "is missing");
    assert_eq!(registry_manifest_digest(&env().registry, &repo, "v1").0, 404, "nothing was tagged");
}

/// Runs `idpush push -q ARGS` (with `stdin`); checks the exit code, the one error line
/// (containing `want`), an empty stdout and an empty TMPDIR. Returns the line.
fn expect_failure(dir: &TestDir, args: &[&str], stdin: Option<Vec<u8>>, code: i32, want: &str) -> String {
    let run = dir.sub(&unique("run"));
    let cmd = Idpush::new(&run, &env().docker_host).args(["push", "-q", "--retries", "0"]).args(args);
    let out = match stdin {
        Some(input) => cmd.run_with_stdin(&input),
        None => cmd.run(),
    };
    out.failed_cleanly(code, want, &run.join("tmp"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Rewrites the layout's only manifest with its layers stored uncompressed (an index we
/// write). Returns the new manifest digest and the (unchanged) config digest.
fn decompress_layers(dir: &Path) -> (String, String) {
    use std::io::Read;
    let (manifest, config) = layout_digests(dir);
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(blob(dir, &manifest)).unwrap()).unwrap();
    for l in m["layers"].as_array_mut().unwrap() {
        let gz = std::fs::read(blob(dir, l["digest"].as_str().unwrap())).unwrap();
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut tar).unwrap();
        let d = sha256_digest(&tar);
        std::fs::write(blob(dir, &d), &tar).unwrap();
        l["mediaType"] = "application/vnd.oci.image.layer.v1.tar".into();
        l["digest"] = d.into();
        l["size"] = tar.len().into();
    }
    let bytes = serde_json::to_vec(&m).unwrap();
    let d = sha256_digest(&bytes);
    std::fs::write(blob(dir, &d), &bytes).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": bytes.len()}
    ]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    (d, config)
}

/// Writes `bytes` as a blob of layout `dir`; returns its digest.
fn put_blob(dir: &Path, bytes: &[u8]) -> String {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let d = sha256_digest(bytes);
    std::fs::write(blob(dir, &d), bytes).unwrap();
    d
}

fn write_index_json(dir: &Path, media_type: &str, digest: &str, size: usize, ref_name: &str) {
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [
        {"mediaType": media_type, "digest": digest, "size": size, "annotations": {"org.opencontainers.image.ref.name": ref_name}}
    ]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// A two-platform index from two real layouts (skopeo) plus an attestation manifest, written
/// here: pushed whole (children by digest, then the index), with --platform (that child only,
/// no attestation), nested (flattened), with a child's blob missing, and as an oci-archive.
#[test]
fn multi_platform_index() {
    let dir = TestDir::new("src-index");
    let mut images = ImageGuard::new();
    let base = format!("e2e-src/{}", unique("index"));
    let (amd, arm) = (format!("{base}-amd:v1"), format!("{base}-arm:v1"));
    import_image(&dir.path, &amd, 16 * 1024);
    images.add(&amd);
    import_image(&dir.path, &arm, 17 * 1024);
    images.add(&arm);
    let layout = dir.path.join("multi");
    let mut children = Vec::new();
    for (name, arch) in [(&amd, "amd64"), (&arm, "arm64")] {
        let one = dir.path.join(arch);
        skopeo_from_daemon(name, &format!("oci:{}:v1", one.display()), &[]);
        copy_dir(&one.join("blobs"), &layout.join("blobs"));
        let (m, config) = layout_digests(&one);
        let size = std::fs::metadata(blob(&one, &m)).unwrap().len();
        children.push((m, config, size, arch));
    }
    // An attestation manifest, as buildx writes one beside the images.
    let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[]}"#;
    let att_layer = put_blob(&layout, statement);
    let att_config_bytes = br#"{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let att_config = put_blob(&layout, att_config_bytes);
    let att = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": att_config, "size": att_config_bytes.len()},
        "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": att_layer, "size": statement.len(),
                    "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]
    }))
    .unwrap();
    let att_digest = put_blob(&layout, &att);
    let mut entries: Vec<serde_json::Value> = children
        .iter()
        .map(|(m, _, size, arch)| serde_json::json!({"mediaType": OCI_MANIFEST, "digest": m, "size": size, "platform": {"os": "linux", "architecture": arch}}))
        .collect();
    entries.push(serde_json::json!({"mediaType": OCI_MANIFEST, "digest": att_digest, "size": att.len(),
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": children[0].0}}));
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})).unwrap();
    let index_digest = put_blob(&layout, &index);
    write_index_json(&layout, OCI_INDEX, &index_digest, index.len(), "multi");
    let repo = format!("e2e/{}", unique("src-index"));

    // Whole: the index as written, each child by digest, the daemon pulls its platform's.
    let out = idpush(&dir).args(["push", "-q", &format!("oci:{}:multi", layout.display()), &dest(&repo, "multi")]).run();
    let pushed = parse_pushed(&out);
    assert_eq!(pushed.digest, index_digest);
    assert_eq!(skopeo_raw_manifest(&format!("{}/{repo}:multi", env().registry)), index);
    for (m, _, _, _) in &children {
        assert_eq!(sha256_digest(&skopeo_raw_manifest(&format!("{}/{repo}@{m}", env().registry))), *m);
    }
    assert_eq!(skopeo_raw_manifest(&format!("{}/{repo}@{att_digest}", env().registry)), att);
    let pulled = format!("{}/{repo}:multi", env().registry);
    assert_eq!(pull_and_id(&pulled), children[0].1, "the daemon (amd64) pulls the amd64 child");
    images.add(&pulled);

    // --platform: that child under the tag; the attestation stays behind.
    let repo2 = format!("e2e/{}", unique("src-platform"));
    let out = idpush(&dir).args(["push", "-q", "--platform", "linux/arm64", &format!("oci:{}", layout.display()), &dest(&repo2, "arm")]).run();
    assert_eq!(parse_pushed(&out).digest, children[1].0, "{}", out.describe());
    assert_eq!(registry_manifest_digest(&env().registry, &repo2, &att_digest).0, 404, "no attestation with --platform");
    assert_eq!(registry_manifest_digest(&env().registry, &repo2, &children[0].0).0, 404, "no other platform");
    expect_failure(&dir, &["--platform", "linux/s390x", &format!("oci:{}", layout.display()), &dest(&repo2, "s390x")], None, 2, "has no linux/s390x image");

    // Nested: index.json → an index holding the index: flattened to its children.
    let nested = dir.path.join("nested");
    copy_dir(&layout.join("blobs"), &nested.join("blobs"));
    let outer = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_INDEX, "digest": index_digest, "size": index.len()}
    ]}))
    .unwrap();
    let outer_digest = put_blob(&nested, &outer);
    write_index_json(&nested, OCI_INDEX, &outer_digest, outer.len(), "nested");
    let out = idpush(&dir).args(["push", "-q", &format!("oci:{}", nested.display()), &dest(&repo, "nested")]).run();
    let pushed = parse_pushed(&out);
    let got: serde_json::Value = serde_json::from_slice(&skopeo_raw_manifest(&pushed.by_digest())).unwrap();
    let want: serde_json::Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(got["manifests"], want["manifests"], "the nested index is flattened");

    // As an oci-archive on stdin: the same index.
    let mut tar = tar::Builder::new(Vec::new());
    tar.append_dir_all(".", &layout).unwrap();
    let out = idpush(&dir).args(["push", "-q", "-", &dest(&repo, "stdin")]).run_with_stdin(&tar.into_inner().unwrap());
    assert_eq!(parse_pushed(&out).digest, index_digest);

    // A child whose layer is missing: an error naming it, unless --platform leaves it out.
    let arm_manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(blob(&layout, &children[1].0)).unwrap()).unwrap();
    std::fs::remove_file(blob(&layout, arm_manifest["layers"][0]["digest"].as_str().unwrap())).unwrap();
    let repo3 = format!("e2e/{}", unique("src-missing"));
    let line = expect_failure(&dir, &[&format!("oci:{}", layout.display()), &dest(&repo3, "v1")], None, 1, "is missing");
    assert!(line.contains(&children[1].0) && line.contains("linux/arm64"), "{line}");
    assert_eq!(registry_manifest_digest(&env().registry, &repo3, "v1").0, 404);
    for (m, config, _, _) in &children {
        let m: serde_json::Value = serde_json::from_slice(&std::fs::read(blob(&layout, m)).unwrap()).unwrap();
        for d in std::iter::once(config.as_str()).chain(m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap())) {
            let status = crate::http::request("HEAD", &env().registry, &format!("/v2/{repo3}/blobs/{d}"), &[]).unwrap().status;
            assert_eq!(status, 404, "blob {d} went up although a child is incomplete");
        }
    }
    let out = idpush(&dir).args(["push", "-q", "--platform", "linux/amd64", &format!("oci:{}", layout.display()), &dest(&repo3, "amd")]).run();
    assert_eq!(parse_pushed(&out).digest, children[0].0);
}

/// An archive on stdin with one large layer is streamed (stdin → temp file → registry): the
/// child's peak RSS stays bounded (`IDPUSH_TEST_STDIN_MEMORY_MIB`, default 256 MiB of layer).
#[test]
fn large_archive_on_stdin_has_bounded_memory() {
    use crate::corpus::{tar_of, Classic, Item};
    const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;
    let mib: usize = std::env::var("IDPUSH_TEST_STDIN_MEMORY_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let dir = TestDir::new("src-memory");
    let block = pseudo_random(&unique("src-memory"), 1 << 20);
    let layer = tar_of(&[Item::File("big.bin".into(), block.repeat(mib))]);
    drop(block);
    let archive = dir.path.join("big.tar");
    std::fs::write(&archive, Classic::new(layer).tar("big:v1")).unwrap();
    let repo = format!("e2e/{}", unique("src-memory"));
    let run = dir.sub("run");
    let mut cmd = Idpush::new(&run, &env().docker_host).args(["push", "-q", "-", &dest(&repo, "v1")]).into_command();
    cmd.stdin(std::fs::File::open(&archive).unwrap()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let mut peak = 0;
    while !waiter.is_finished() {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if let Some(kib) = status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()) {
            peak = peak.max(kib);
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let out = waiter.join().unwrap();
    let out = Output { code: out.status.code(), stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() };
    eprintln!("stdin memory: {mib} MiB layer, peak RSS {peak} KiB");
    assert_eq!(parse_pushed(&out).repo, repo);
    assert!(peak > 0, "could not read VmHWM of the child");
    assert!(peak < PEAK_RSS_LIMIT_KIB, "peak RSS {peak} KiB for a {mib} MiB layer on stdin (limit {PEAK_RSS_LIMIT_KIB} KiB)");
    assert!(dir_entries(&run.join("tmp")).is_empty(), "TMPDIR not empty");
}
