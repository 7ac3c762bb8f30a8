//! Engine 25+ exports, served by a fake daemon on a Unix socket: the export is an OCI layout plus a
//! docker-compatible manifest.json whose Config/Layers are `blobs/sha256/<hex>` paths, like
//! `docker save` of Engine 25+. The fixture is made from a real image of the private dockerd, and
//! the push is checked by pulling it back with the real daemon.
//!
//! Why not `skopeo copy docker-daemon: oci:`: skopeo 1.9 rewrites the image config when it writes
//! an OCI layout (so the config digest is no longer the image ID) and gzips the layers (with
//! `--dest-oci-accept-uncompressed-layers` it keeps them uncompressed but labels them `+gzip`).
//! Engine 25+ keeps the config bytes and uncompressed layers; so the fixture is rebuilt from the
//! real daemon's `docker save` output, whose config and layer tars are the daemon's own bytes.

use crate::fake_daemon::{Export, FakeDaemon, FakeImage};
use crate::support::*;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct Engine25Export {
    pub tar: Vec<u8>,
    pub id: String,
    pub diff_ids: Vec<String>,
    pub size: u64,
    /// A byte offset in `tar` in the middle of the largest layer blob's data.
    pub mid_layer: usize,
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").expect("sha256 digest")
}

/// Build an Engine 25+-style export of `image` (a `repo:tag` known to the private dockerd).
pub fn engine25_export(dir: &std::path::Path, image: &str) -> Engine25Export {
    let saved = dir.join("save.tar");
    docker(&["save", "-o", saved.to_str().unwrap(), image]);
    let files = read_tar(&std::fs::read(&saved).unwrap());
    let _ = std::fs::remove_file(&saved);

    let legacy: serde_json::Value =
        serde_json::from_slice(&files["manifest.json"]).expect("docker save manifest.json");
    let entry = &legacy[0];
    let config = files[entry["Config"].as_str().unwrap()].clone();
    let id = sha256_digest(&config);
    assert_eq!(
        id,
        image_id(image),
        "docker save config bytes do not hash to the image ID"
    );
    let layer_paths: Vec<&str> = entry["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();

    // blobs by hex, deduplicated (a repeated layer is stored once, listed twice).
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    blobs.insert(hex_of(&id).to_string(), config.clone());
    let mut layer_descs = Vec::new();
    let mut diff_ids = Vec::new();
    for p in &layer_paths {
        let data = &files[*p];
        let d = sha256_digest(data);
        diff_ids.push(d.clone());
        layer_descs
            .push(serde_json::json!({ "mediaType": OCI_LAYER, "digest": d, "size": data.len() }));
        blobs.insert(hex_of(&d).to_string(), data.clone());
    }
    assert_eq!(
        diff_ids,
        image_diff_ids(image),
        "docker save layer tars vs RootFS.Layers"
    );

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": OCI_CONFIG, "digest": id, "size": config.len() },
        "layers": layer_descs,
    });
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = sha256_digest(&manifest_bytes);
    blobs.insert(hex_of(&manifest_digest).to_string(), manifest_bytes.clone());

    let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {
                "io.containerd.image.name": format!("docker.io/library/{repo}:{tag}"),
                "org.opencontainers.image.ref.name": tag,
            },
        }],
    });
    let mut layer_sources = serde_json::Map::new();
    for d in &layer_descs {
        layer_sources.insert(d["digest"].as_str().unwrap().to_string(), d.clone());
    }
    let docker_manifest = serde_json::json!([{
        "Config": format!("blobs/sha256/{}", hex_of(&id)),
        "RepoTags": [image],
        "Layers": diff_ids.iter().map(|d| format!("blobs/sha256/{}", hex_of(d))).collect::<Vec<_>>(),
        "LayerSources": layer_sources,
    }]);
    let repositories = serde_json::json!({ repo: { tag: hex_of(&manifest_digest) } });

    // The tar, in the order Engine 25 writes it (a sorted walk of the layout directory).
    let mut b = tar::Builder::new(Vec::new());
    let dir_entry = |b: &mut tar::Builder<Vec<u8>>, path: &str| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_size(0);
        b.append_data(&mut h, path, std::io::empty()).unwrap();
    };
    let file_entry = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| -> usize {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        let header_at = b.get_ref().len();
        b.append_data(&mut h, path, data).unwrap();
        header_at + 512
    };
    dir_entry(&mut b, "blobs/");
    dir_entry(&mut b, "blobs/sha256/");
    let mut largest_layer: Option<(usize, usize, String)> = None; // (data offset, size, hex)
    for (hex, data) in &blobs {
        let at = file_entry(&mut b, &format!("blobs/sha256/{hex}"), data);
        let is_layer = diff_ids.iter().any(|d| hex_of(d) == hex);
        if is_layer
            && largest_layer
                .as_ref()
                .map(|(_, s, _)| data.len() > *s)
                .unwrap_or(true)
        {
            largest_layer = Some((at, data.len(), hex.clone()));
        }
    }
    file_entry(&mut b, "index.json", &serde_json::to_vec(&index).unwrap());
    file_entry(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&docker_manifest).unwrap(),
    );
    file_entry(&mut b, "oci-layout", br#"{"imageLayoutVersion": "1.0.0"}"#);
    file_entry(
        &mut b,
        "repositories",
        &serde_json::to_vec(&repositories).unwrap(),
    );
    let tar = b.into_inner().unwrap();
    let (at, size, hex) = largest_layer.expect("a layer");
    assert!(
        size >= 4096,
        "largest layer too small to cut in the middle ({size} bytes)"
    );
    // Sanity: the offset really is that blob's data.
    assert_eq!(&tar[at..at + 512], &blobs[&hex][..512]);
    let size_total: u64 = layer_paths.iter().map(|p| files[*p].len() as u64).sum();
    Engine25Export {
        tar,
        id,
        diff_ids,
        size: size_total,
        mid_layer: at + size / 2,
    }
}

/// A two-layer image (imported base with a 128 KiB payload + a COPY) on the real daemon.
fn make_image(dir: &TestDir, images: &mut ImageGuard, what: &str) -> String {
    let base = format!("{}:base", unique(&format!("e2e-{what}-base")));
    import_image(&dir.path, &base, 128 * 1024);
    images.add(&base);
    let image = format!("{}:v1", unique(&format!("e2e-{what}")));
    build_image(
        &dir.path,
        &image,
        &format!("FROM {base}\nCOPY note.txt /etc/note.txt\nLABEL engine=25\n"),
        &[("note.txt", image.as_bytes())],
    );
    images.add(&image);
    image
}

fn fake_image(image: &str, export: &Engine25Export, body: Export) -> FakeImage {
    FakeImage {
        name: image.to_string(),
        id: export.id.clone(),
        diff_ids: export.diff_ids.clone(),
        size: export.size,
        export: body,
    }
}

#[test]
fn engine25_export_round_trip() {
    let dir = TestDir::new("eng25");
    let mut images = ImageGuard::new();
    let env = env();
    let image = make_image(&dir, &mut images, "eng25");
    let export = engine25_export(&dir.path, &image);
    let daemon = FakeDaemon::start(
        &dir.path,
        Some(fake_image(
            &image,
            &export,
            Export::Full(export.tar.clone()),
        )),
    );

    let repo = format!("e2e/{}", unique("eng25"));
    let out = Idpush::new(&dir.sub("run"), &daemon.docker_host())
        .args(["push", &image, &format!("{}/{repo}:v1", env.registry)])
        .run();
    let pushed = parse_pushed(&out);
    assert_eq!(pushed.repo, repo);
    assert!(
        daemon.requests().iter().any(|r| r.contains("/images/")),
        "idpush did not ask the fake daemon for the image: {:?}",
        daemon.requests()
    );
    verify_registry_image(
        &env.registry,
        &repo,
        &pushed.digest,
        &export.id,
        &export.diff_ids,
    );

    // Pull back with the real daemon, the original removed first.
    docker_rmi(&[&image]);
    let reference = format!("{}/{repo}:v1", env.registry);
    images.add(&reference);
    assert_eq!(
        pull_and_id(&reference),
        export.id,
        "image pulled back has a different ID"
    );
}

fn truncated_export_fails_cleanly(what: &str, make_body: fn(Vec<u8>) -> Export) {
    let dir = TestDir::new(what);
    let mut images = ImageGuard::new();
    let env = env();
    let image = make_image(&dir, &mut images, what);
    let export = engine25_export(&dir.path, &image);
    let cut = export.tar[..export.mid_layer].to_vec();
    let daemon = FakeDaemon::start(&dir.path, Some(fake_image(&image, &export, make_body(cut))));

    let run_dir = dir.sub("run");
    let repo = format!("e2e/{}", unique(what));
    let out = Idpush::new(&run_dir, &daemon.docker_host())
        .args(["push", "-q", &image, &format!("{}/{repo}:v1", env.registry)])
        .run();
    assert_eq!(
        out.code,
        Some(1),
        "a truncated export must fail with exit 1:\n{}",
        out.describe()
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout on failure:\n{}",
        out.describe()
    );
    let lines = out.error_lines();
    assert_eq!(
        lines.len(),
        1,
        "expected one error line on stderr:\n{}",
        out.describe()
    );
    assert!(
        daemon.export_started(),
        "the export was never requested: {:?}",
        daemon.requests()
    );
    let left = dir_entries(&run_dir.join("tmp"));
    assert!(
        left.is_empty(),
        "idpush left temporary files in TMPDIR: {left:?}"
    );
    let (status, _) = registry_manifest_digest(&env.registry, &repo, "v1");
    assert_eq!(status, 404, "a manifest was pushed for a truncated export");
}

#[test]
fn truncated_export_clean_chunked_end_fails_cleanly() {
    truncated_export_fails_cleanly("trunc-clean", Export::TruncatedCleanEnd);
}

#[test]
fn truncated_export_connection_closed_fails_cleanly() {
    truncated_export_fails_cleanly("trunc-close", Export::TruncatedClose);
}

#[test]
fn interrupted_push_exits_130_and_cleans_up() {
    let dir = TestDir::new("interrupt");
    let mut images = ImageGuard::new();
    let env = env();
    let image = make_image(&dir, &mut images, "interrupt");
    let export = engine25_export(&dir.path, &image);
    let part = export.tar[..export.mid_layer].to_vec();
    let daemon = FakeDaemon::start(
        &dir.path,
        Some(fake_image(&image, &export, Export::Stall(part))),
    );

    let run_dir = dir.sub("run");
    let repo = format!("e2e/{}", unique("interrupt"));
    let mut child = Idpush::new(&run_dir, &daemon.docker_host())
        .args(["push", &image, &format!("{}/{repo}:v1", env.registry)])
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !daemon.export_started() {
        if child.has_exited() {
            let out = child.wait(Duration::from_secs(1));
            panic!(
                "idpush exited before requesting the export ({:?}):\n{}",
                daemon.requests(),
                out.describe()
            );
        }
        assert!(
            Instant::now() < deadline,
            "idpush never requested the export: {:?}",
            daemon.requests()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    let pid = child.id();
    let st = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .unwrap();
    assert!(st.success(), "could not send SIGINT to {pid}");
    let out = child.wait(Duration::from_secs(60));
    assert_eq!(
        out.code,
        Some(130),
        "an interrupted push must exit 130:\n{}",
        out.describe()
    );
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let left = dir_entries(&run_dir.join("tmp"));
    assert!(
        left.is_empty(),
        "idpush left temporary files in TMPDIR after SIGINT: {left:?}"
    );
    let (status, _) = registry_manifest_digest(&env.registry, &repo, "v1");
    assert_eq!(status, 404, "a manifest was pushed for an interrupted push");
    drop(daemon);
}
