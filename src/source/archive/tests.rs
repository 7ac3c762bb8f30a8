//! Archive reader tests on tars built in memory: both docker save formats, and the ways an
//! export can lie or break.

use super::*;
use std::path::PathBuf;
use crate::store::Blob;

fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn config_for(layers: &[&[u8]]) -> Vec<u8> {
    let ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ids}
    }))
    .unwrap()
}

enum Item<'a> {
    File(&'a str, Vec<u8>),
    Link(&'a str, &'a str),
}

fn archive(items: &[Item]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for item in items {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        match item {
            Item::File(name, data) => {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, &data[..]).unwrap();
            }
            Item::Link(name, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, name, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// A classic docker save: manifest.json last, the second layer a symlink to the first.
fn classic() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let l1 = layer_tar(&[("etc/hello", b"hello")]);
    let config = config_for(&[&l1, &l1]);
    let cfg_name = format!("{}.json", Digest::of(&config).hex());
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": cfg_name, "RepoTags": ["t:latest"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}
    ]))
    .unwrap();
    let tar = archive(&[
        Item::File("aaa/layer.tar", l1.clone()),
        Item::File("aaa/VERSION", b"1.0".to_vec()),
        Item::Link("bbb/layer.tar", "../aaa/layer.tar"),
        Item::File(&cfg_name, config.clone()),
        Item::File("manifest.json", manifest),
    ]);
    (tar, config, l1)
}

/// Where test stores go: the system temp dir, as for a real run (each store removes its own dir
/// on drop, so no test dir is left behind).
fn scratch() -> PathBuf {
    std::env::temp_dir()
}

fn read_bytes(bytes: &[u8]) -> anyhow::Result<Image> {
    read(bytes, Store::create(&scratch()).unwrap(), "the test archive")
}

fn err_of(bytes: &[u8]) -> String {
    match read_bytes(bytes) {
        Ok(_) => panic!("accepted a bad archive"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn reads_classic_save_with_symlinked_duplicate_layer() {
    let (tar, config, l1) = classic();
    let img = read_bytes(&tar).unwrap();
    assert_eq!(img.config.digest, Digest::of(&config));
    assert_eq!(img.layers.len(), 2);
    assert_eq!(img.layers[0], img.layers[1]);
    assert_eq!(img.blobs().len(), 2, "the duplicate layer is uploaded once");
    let gz = std::fs::read(img.blob_path(&img.layers[0].digest)).unwrap();
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut plain).unwrap();
    assert_eq!(plain, l1);
    assert_eq!(img.manifest_digest, Digest::of(&img.manifest));
}

#[test]
fn reads_engine25_oci_layout_export() {
    let l1 = layer_tar(&[("a", b"1")]);
    let l2 = layer_tar(&[("b", b"2")]);
    let config = config_for(&[&l1, &l2]);
    let cd = Digest::of(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::of(&l1), "size": l1.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": Digest::of(&l2), "size": l2.len()}
        ]
    }))
    .unwrap();
    let md = Digest::of(&manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len()}]
    }))
    .unwrap();
    let p = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let (p1, p2, pc, pm) = (p(&Digest::of(&l1)), p(&Digest::of(&l2)), p(&cd), p(&md));
    let base = vec![
        Item::File("blobs/sha256/", vec![]),
        Item::File(&p1, l1.clone()),
        Item::File(&p2, l2.clone()),
        Item::File(&pc, config.clone()),
        Item::File(&pm, manifest),
        Item::File("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
        Item::File("index.json", index),
    ];
    // Through index.json alone ...
    let img = read_bytes(&archive(&base[1..])).unwrap();
    assert_eq!(img.config.digest, cd);
    assert_eq!(img.layers.len(), 2);
    // ... and with docker's compatible manifest.json beside it.
    let save = serde_json::to_vec(&serde_json::json!([{"Config": pc, "RepoTags": null, "Layers": [p1, p2]}])).unwrap();
    let mut with_save = base;
    with_save.remove(0);
    with_save.push(Item::File("manifest.json", save));
    let img2 = read_bytes(&archive(&with_save)).unwrap();
    assert_eq!(img2.manifest_digest, img.manifest_digest);
}

#[test]
fn rejects_truncated_stream() {
    let (tar, _, _) = classic();
    for cut in [100, 700, 1500, tar.len() / 2] {
        let e = err_of(&tar[..cut]);
        assert!(e.contains("the test archive"), "cut at {cut}: {e}");
    }
}

#[test]
fn rejects_trailing_daemon_error() {
    let (mut tar, _, _) = classic();
    tar.extend_from_slice(br#"{"errorDetail":{"message":"boom"},"error":"boom"}"#);
    assert!(err_of(&tar).contains("boom"));
}

#[test]
fn rejects_lying_manifests() {
    let l1 = layer_tar(&[("etc/hello", b"hello")]);
    let other = layer_tar(&[("etc/other", b"other")]);
    let config = config_for(&[&other]);
    let man = |layers: &[&str]| {
        serde_json::to_vec(&serde_json::json!([{"Config": "c.json", "Layers": layers}])).unwrap()
    };
    let cases: Vec<(Vec<Item>, &str)> = vec![
        (vec![Item::File("x/layer.tar", l1.clone()), Item::File("c.json", config.clone()), Item::File("manifest.json", man(&["x/layer.tar"]))], "expects diff_id"),
        (vec![Item::File("c.json", config.clone()), Item::File("manifest.json", man(&["x/layer.tar"]))], "missing"),
        (vec![Item::File("x/layer.tar", l1.clone()), Item::File("c.json", config.clone()), Item::File("manifest.json", man(&[]))], "diff_ids"),
        (vec![Item::Link("x/layer.tar", "../y/layer.tar"), Item::Link("y/layer.tar", "../x/layer.tar"), Item::File("c.json", config.clone()), Item::File("manifest.json", man(&["x/layer.tar"]))], "loop"),
        (vec![Item::Link("x/layer.tar", "../../../etc/passwd"), Item::File("manifest.json", man(&["x/layer.tar"]))], "escapes"),
        (vec![Item::File("x/layer.tar", l1.clone()), Item::File("c.json", b"{\"rootfs\":3}".to_vec()), Item::File("manifest.json", man(&["x/layer.tar"]))], "not an image config"),
        (vec![Item::File("manifest.json", b"{not json".to_vec())], "malformed"),
        (vec![Item::File("manifest.json", b"[]".to_vec())], "no image"),
        (vec![Item::File("hello.txt", b"hi".to_vec())], "neither manifest.json nor index.json"),
    ];
    for (i, (items, want)) in cases.into_iter().enumerate() {
        let e = err_of(&archive(&items));
        assert!(e.contains(want), "case {i}: want {want:?} in {e}");
    }
}

#[test]
fn rejects_config_whose_name_lies() {
    let l1 = layer_tar(&[("a", b"1")]);
    let config = config_for(&[&l1]);
    let wrong = format!("{}.json", Digest::of(b"other").hex());
    let man = serde_json::to_vec(&serde_json::json!([{"Config": wrong, "Layers": ["l.tar"]}])).unwrap();
    let e = err_of(&archive(&[Item::File("l.tar", l1), Item::File(&wrong, config), Item::File("manifest.json", man)]));
    assert!(e.contains("does not match its digest"), "{e}");
}

#[test]
fn non_tar_input_is_an_error_not_a_panic() {
    for junk in [&b""[..], b"hello world", &[0xffu8; 2048][..]] {
        let _ = err_of(junk);
    }
}

#[test]
fn failed_read_leaves_no_temp_dir() {
    let parent = crate::test_support::TempDir::new("archive-leak-check");
    let parent = parent.path();
    let (tar, _, _) = classic();
    assert!(read(&tar[..1500], Store::create(parent).unwrap(), "x").is_err());
    assert_eq!(std::fs::read_dir(parent).unwrap().count(), 0);
}

mod prop {
    //! Property tests: arbitrary bytes, and a valid export with bytes changed or cut, never
    //! panic the reader, and a failed read leaves no temp dir behind.
    use super::*;
    use proptest::prelude::*;

    fn check(bytes: &[u8], name: &str) {
        let guard = crate::test_support::TempDir::new(&format!("archive-{name}"));
        let parent = guard.path().to_path_buf();
        let result = read(bytes, Store::create(&parent).unwrap(), "the test archive");
        match result {
            Ok(image) => drop(image),
            Err(e) => {
                let line = crate::exit::one_line(&format!("{e:#}"));
                assert!(line.starts_with("reading the test archive") && !line.chars().any(|c| c.is_control() && c != '\t'), "{line}");
            }
        }
        assert_eq!(std::fs::read_dir(&parent).unwrap().count(), 0, "temp dir left behind");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
            check(&raw, "prop-any");
        }

        #[test]
        fn mutated_exports_never_panic(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            keep in any::<usize>(),
        ) {
            let (mut tar, _, _) = classic();
            for (at, b) in edits {
                let i = at % tar.len();
                tar[i] = b;
            }
            let keep = keep % (tar.len() + 1);
            check(&tar[..keep.max(tar.len() / 2)], "prop-mutated");
        }
    }
}

/// An OCI image manifest naming `config` and `blobs` (each of media type `layer_type`).
fn oci_manifest(config: &[u8], layer_type: &str, blobs: &[&[u8]]) -> Vec<u8> {
    let descs: Vec<serde_json::Value> =
        blobs.iter().map(|b| serde_json::json!({"mediaType": layer_type, "digest": Digest::of(b), "size": b.len()})).collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(config), "size": config.len()},
        "layers": descs,
    }))
    .unwrap()
}

/// An OCI layout export of one image whose layers are stored as given (uncompressed).
fn oci_export(layers: &[&[u8]]) -> (Vec<u8>, Vec<u8>) {
    let config = config_for(layers);
    let cd = Digest::of(&config);
    let manifest = oci_manifest(&config, "application/vnd.oci.image.layer.v1.tar", layers);
    let md = Digest::of(&manifest);
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len()}]
    }))
    .unwrap();
    let p = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let mut blobs: Vec<(String, Vec<u8>)> = layers.iter().map(|l| (p(&Digest::of(l)), l.to_vec())).collect();
    blobs.push((p(&cd), config.clone()));
    blobs.push((p(&md), manifest));
    let mut items: Vec<Item> = blobs.iter().map(|(path, b)| Item::File(path, b.clone())).collect();
    // Blobs before index.json, as docker writes it.
    items.push(Item::File("index.json", index));
    (archive(&items), config)
}

/// Regression (defect 12): an entry was taken for JSON when its first byte was `{`, so a layer
/// whose first member is named `{x}` was read into memory as JSON and then refused.
#[test]
fn layer_whose_first_member_is_named_like_json_is_a_layer() {
    let l1 = layer_tar(&[("{x}", b"{\"not\": \"json\"}"), ("etc/a", b"a")]);
    assert_eq!(l1.first(), Some(&b'{'));
    // Classic: by its path, `*/layer.tar`.
    let config = config_for(&[&l1]);
    let cfg_name = format!("{}.json", Digest::of(&config).hex());
    let manifest = serde_json::to_vec(&serde_json::json!([{"Config": cfg_name, "Layers": ["aaa/layer.tar"]}])).unwrap();
    let tar = archive(&[Item::File("aaa/layer.tar", l1.clone()), Item::File(&cfg_name, config), Item::File("manifest.json", manifest)]);
    let img = read_bytes(&tar).unwrap();
    assert_eq!(img.layers.len(), 1);
    // OCI: a blob that starts with `{` but does not parse as JSON, before index.json.
    let (tar, config) = oci_export(&[&l1]);
    let img = read_bytes(&tar).unwrap();
    assert_eq!((img.layers.len(), img.config.digest.clone()), (1, Digest::of(&config)));
}

/// A header whose size field says 0, with a PAX `size` record giving the real size.
fn pax_sized(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let record = |k: &str, v: &str| {
        let body = format!(" {k}={v}\n");
        let mut n = body.len() + 1;
        while format!("{n}{body}").len() != n {
            n += 1;
        }
        format!("{n}{body}")
    };
    let pax = record("size", &data.len().to_string());
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_path("PaxHeaders/x").unwrap();
    h.set_size(pax.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, pax.as_bytes()).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_path(name).unwrap();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_cksum();
    // `append` copies all of `data` and pads it; the size field stays 0.
    b.append(&h, data).unwrap();
    b.into_inner().unwrap()
}

/// Regression (defect 12): entries were sized by the header's size field, ignoring a PAX
/// `size` record, so a JSON file of any size passed the cap as "0 bytes".
#[test]
fn json_entries_are_sized_by_pax_and_capped() {
    let mut huge = b"{\"a\":\"".to_vec();
    huge.resize(MAX_JSON as usize + 1, b'x');
    let e = err_of(&pax_sized("manifest.json", &huge));
    assert!(e.contains("manifest.json is 16777217 bytes, too large for a JSON file"), "{e}");
    // The same record with a size that fits is read whole.
    let small = serde_json::to_vec(&serde_json::json!([])).unwrap();
    let e = err_of(&pax_sized("manifest.json", &small));
    assert!(e.contains("manifest.json lists no image"), "{e}");
}

#[test]
fn read_capped_reads_at_most_one_byte_past_the_cap() {
    let endless = std::io::repeat(b'x');
    let e = read_capped(endless, 10, 10, "c.json").unwrap_err();
    assert!(format!("{e:#}").contains("c.json is 11 bytes, too large"), "{e:#}");
    assert_eq!(read_capped(&b"12345"[..], 5, 10, "c.json").unwrap(), b"12345");
}

#[test]
fn entry_kinds_follow_the_path() {
    for (path, kind) in [
        ("manifest.json", Kind::Json),
        ("index.json", Kind::Json),
        ("0123abcd.json", Kind::Json),
        ("aaa/layer.tar", Kind::Layer),
        ("blobs/sha256/0123", Kind::Blob),
        ("oci-layout", Kind::Skip),
        ("repositories", Kind::Skip),
        ("aaa/VERSION", Kind::Skip),
        ("aaa/json", Kind::Skip),
    ] {
        assert_eq!(kind_of(path), kind, "{path}");
    }
}

fn expected_for(config: &[u8], layers: &[&[u8]]) -> Expected {
    Expected { id: Digest::of(config), layers: layers.iter().map(|l| Digest::of(l)).collect() }
}

fn read_expecting(tar: &[u8], expected: &Expected) -> anyhow::Result<Image> {
    read_with(tar, Store::create(&scratch()).unwrap(), "the test archive", Some(expected), &mut |_, _, _| Ok(()))
}

fn err_text(r: anyhow::Result<Image>) -> String {
    match r {
        Ok(_) => panic!("accepted"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn checks_the_config_against_the_inspected_image() {
    let (tar, config, l1) = classic();
    assert!(read_expecting(&tar, &expected_for(&config, &[&l1, &l1])).is_ok());
    let e = err_text(read_expecting(&tar, &expected_for(b"another config", &[&l1, &l1])));
    assert!(e.contains(&format!("is image {}, not the image {}", Digest::of(&config), Digest::of(b"another config"))), "{e}");
    let mut lying = expected_for(&config, &[&l1, &l1]);
    lying.layers.pop();
    let e = err_text(read_expecting(&tar, &lying));
    assert!(e.contains("not the") && e.contains("that the daemon reported"), "{e}");
}

#[test]
fn on_layer_hears_each_layer_with_its_path_and_can_stop_the_read() {
    let (tar, _, l1) = classic();
    let mut heard = Vec::new();
    read_with(&tar[..], Store::create(&scratch()).unwrap(), "t", None, &mut |path, layer, file| {
        assert!(file.exists());
        heard.push((path.to_string(), layer.diff_id.clone()));
        Ok(())
    })
    .unwrap();
    assert_eq!(heard, [("aaa/layer.tar".to_string(), Digest::of(&l1))], "the symlinked duplicate is not spooled again");
    let e = read_with(&tar[..], Store::create(&scratch()).unwrap(), "t", None, &mut |_, _, _| anyhow::bail!("stop here"));
    assert!(err_text(e).contains("stop here"));
}

/// A classic save of two different layers.
fn classic_two(l1: &[u8], l2: &[u8]) -> Vec<u8> {
    let config = config_for(&[l1, l2]);
    let cfg_name = format!("{}.json", Digest::of(&config).hex());
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": cfg_name, "RepoTags": ["t:latest"], "Layers": ["aaa/layer.tar", "bbb/layer.tar"]}
    ]))
    .unwrap();
    archive(&[
        Item::File("aaa/layer.tar", l1.to_vec()),
        Item::File("bbb/layer.tar", l2.to_vec()),
        Item::File(&cfg_name, config),
        Item::File("manifest.json", manifest),
    ])
}

// Issue 8: a layer whose blob the registry confirmed is only hashed, in both export formats:
// the image lists the known blob, and nothing of that layer is written to the store.
#[test]
fn known_layers_are_hashed_not_encoded_in_both_formats() {
    let l1 = layer_tar(&[("etc/base", &[7u8; 300_000][..])]);
    let l2 = layer_tar(&[("etc/new", b"new")]);
    let known = Blob { digest: Digest::of(b"the blob the cache knows"), size: 1234 };
    for (format, tar) in [("classic", classic_two(&l1, &l2)), ("oci", oci_export(&[&l1, &l2]).0)] {
        let store = Store::create(&scratch()).unwrap().with_known([(Digest::of(&l1), known.clone())].into());
        let mut heard = Vec::new();
        let image = read_with(&tar[..], store, "t", None, &mut |_, layer, _| {
            heard.push(layer.blob.clone());
            Ok(())
        })
        .unwrap();
        assert_eq!((&image.layers[0].digest, image.layers[0].size), (&known.digest, known.size), "{format}");
        assert_ne!(image.layers[1].digest, Digest::of(&l2), "{format}: the new layer is compressed");
        assert!(heard.contains(&known), "{format}: the known layer is handed over as its blob");
        let mut files: Vec<String> = std::fs::read_dir(image.store.blob_path(&known.digest).parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let mut want = vec![image.layers[1].digest.hex().to_string(), image.config.digest.hex().to_string()];
        want.sort();
        assert_eq!(files, want, "{format}: only the new layer and the config are on disk");
        assert!(
            std::fs::read_dir(image.store.blob_path(&known.digest).parent().unwrap().parent().unwrap().parent().unwrap())
                .unwrap()
                .all(|e| !e.unwrap().file_name().to_string_lossy().starts_with("tmp-")),
            "{format}: no temp file is left"
        );
    }
}

#[test]
fn a_known_layer_name_with_other_content_is_refused() {
    let l1 = layer_tar(&[("etc/base", b"base")]);
    let l2 = layer_tar(&[("etc/new", b"new")]);
    let (tar, _) = oci_export(&[&l1]);
    // The entry named for l1 carries l2.
    let mut items_tar = tar.clone();
    let at = items_tar.windows(l1.len()).position(|w| w == &l1[..]).unwrap();
    items_tar.splice(at..at + l1.len(), l2.iter().copied());
    let store = Store::create(&scratch())
        .unwrap()
        .with_known([(Digest::of(&l1), Blob { digest: Digest::of(b"x"), size: 1 })].into());
    let e = err_text(read_with(&items_tar[..], store, "t", None, &mut |_, _, _| Ok(())));
    assert!(e.contains(&format!("not the {} its name says", Digest::of(&l1))), "{e}");
}

/// What the containerd image store exports (Docker 29+): gzipped layers as pulled, an image
/// index for two platforms of which only the first present is in the archive (the other's
/// manifest listed first and absent), index.json naming that index, and optionally a
/// docker-compatible manifest.json. Returns the tar, the index digest (the image ID there),
/// the config and the gzipped layers.
fn containerd_export(layers: &[&[u8]], with_manifest_json: bool) -> (Vec<u8>, Digest, Vec<u8>, Vec<Vec<u8>>) {
    use std::io::Write;
    let gz: Vec<Vec<u8>> = layers
        .iter()
        .map(|l| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(l).unwrap();
            e.finish().unwrap()
        })
        .collect();
    let config = config_for(layers);
    let cd = Digest::of(&config);
    let gz_refs: Vec<&[u8]> = gz.iter().map(Vec::as_slice).collect();
    let manifest = oci_manifest(&config, "application/vnd.oci.image.layer.v1.tar+gzip", &gz_refs);
    let md = Digest::of(&manifest);
    let absent = Digest::of(b"the arm64 manifest, not exported");
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": absent, "size": 500, "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len(), "platform": {"os": "linux", "architecture": "amd64"}},
        ]
    }))
    .unwrap();
    let id = Digest::of(&index);
    let top = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": index.len(),
            "annotations": {"io.containerd.image.name": "docker.io/library/t:latest", "org.opencontainers.image.ref.name": "latest"}}]
    }))
    .unwrap();
    let p = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let mut files: Vec<(String, Vec<u8>)> = gz.iter().map(|g| (p(&Digest::of(g)), g.clone())).collect();
    files.push((p(&cd), config.clone()));
    files.push((p(&md), manifest));
    files.push((p(&id), index));
    files.push(("index.json".into(), top));
    files.push(("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
    if with_manifest_json {
        let layers: Vec<String> = gz.iter().map(|g| p(&Digest::of(g))).collect();
        let m = serde_json::json!([{"Config": p(&cd), "RepoTags": ["t:latest"], "Layers": layers}]);
        files.push(("manifest.json".into(), serde_json::to_vec(&m).unwrap()));
    }
    let items: Vec<Item> = files.iter().map(|(path, b)| Item::File(path, b.clone())).collect();
    (archive(&items), id, config, gz)
}

#[test]
fn reads_the_containerd_store_export_with_its_image_id_and_compressed_layers() {
    let l1 = layer_tar(&[("etc/one", b"one")]);
    let l2 = layer_tar(&[("etc/two", &[7u8; 5000][..])]);
    for with_manifest_json in [true, false] {
        let (tar, id, config, gz) = containerd_export(&[&l1, &l2], with_manifest_json);
        let expected = Expected { id: id.clone(), layers: vec![Digest::of(&l1), Digest::of(&l2)] };
        let image = read_expecting(&tar, &expected).unwrap_or_else(|e| panic!("manifest.json {with_manifest_json}: {e:#}"));
        assert_eq!(image.config.digest, Digest::of(&config));
        // The layers go up as the daemon had them: same gzip bytes, same digests.
        let blobs: Vec<Digest> = image.layers.iter().map(|l| l.digest.clone()).collect();
        assert_eq!(blobs, gz.iter().map(|g| Digest::of(g)).collect::<Vec<_>>());
        // An image ID that is neither the config nor a manifest or index leading to it.
        let other = Expected { id: Digest::of(b"some other index"), layers: expected.layers.clone() };
        let e = err_text(read_expecting(&tar, &other));
        assert!(e.contains("not the image sha256:"), "{e}");
    }
}
