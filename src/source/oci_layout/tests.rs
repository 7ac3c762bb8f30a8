use super::*;
use crate::test_support::TempDir;
use serde_json::json;

fn layer_tar(content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "etc/x", content).unwrap();
    b.into_inner().unwrap()
}

fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Writes a layout of one image: `layers` as (stored bytes, media type, diff_id); returns
/// the manifest digest.
fn layout(dir: &Path, layers: &[(Vec<u8>, &str, Digest)], ref_name: Option<&str>) -> Digest {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let put = |bytes: &[u8]| {
        let d = Digest::of(bytes);
        std::fs::write(dir.join("blobs/sha256").join(d.hex()), bytes).unwrap();
        d
    };
    let diff_ids: Vec<String> = layers.iter().map(|l| l.2.to_string()).collect();
    let config = serde_json::to_vec(&json!({"os": "linux", "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": diff_ids}})).unwrap();
    let descs: Vec<_> = layers.iter().map(|(b, mt, _)| json!({"mediaType": mt, "digest": put(b), "size": b.len()})).collect();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": oci::OCI_MANIFEST,
        "config": {"mediaType": oci::OCI_CONFIG, "digest": put(&config), "size": config.len()},
        "layers": descs, "annotations": {"kept": "yes"}
    }))
    .unwrap();
    let md = put(&manifest);
    let mut desc = json!({"mediaType": oci::OCI_MANIFEST, "digest": md, "size": manifest.len()});
    if let Some(n) = ref_name {
        desc["annotations"] = json!({REF_NAME: n});
    }
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [desc]})).unwrap()).unwrap();
    md
}

fn read(dir: &Path, pick: Option<&Select>) -> anyhow::Result<Read> {
    let store = Store::create(&std::env::temp_dir()).unwrap();
    read_dir(dir, store, pick, None, &mut |_, _, _| Ok(()))
}

fn single(r: &Read) -> &Image {
    match &r.image {
        Pushable::Single(i) => i,
        Pushable::Index(_) => panic!("an index, not one image"),
    }
}

#[test]
fn compressed_layers_keep_the_manifest_bytes() {
    let t = TempDir::new("layout-keep");
    let tar = layer_tar(b"one");
    let zstd = [&[0x28u8, 0xb5, 0x2f, 0xfd][..], b"opaque"].concat();
    let md = layout(
        t.path(),
        &[(gz(&tar), oci::OCI_LAYER_GZIP, Digest::of(&tar)), (zstd.clone(), "application/vnd.oci.image.layer.v1.tar+zstd", Digest::of(b"?"))],
        Some("registry.example.com/team/app:v3"),
    );
    let read = read(t.path(), Some(&Select::Tag("registry.example.com/team/app:v3".into()))).unwrap();
    assert_eq!(single(&read).manifest_digest, md);
    assert_eq!(Digest::of(&single(&read).manifest), md);
    assert_eq!(single(&read).manifest_media_type, oci::OCI_MANIFEST);
    assert_eq!(read.name.as_deref(), Some("registry.example.com/team/app:v3"));
    assert_eq!(std::fs::read(single(&read).blob_path(&Digest::of(&zstd))).unwrap(), zstd, "zstd byte for byte");
    assert!(self::read(t.path(), Some(&Select::Digest(md))).is_ok());
}

#[test]
fn an_uncompressed_layer_is_compressed_and_only_its_descriptor_changes() {
    let t = TempDir::new("layout-plain");
    let tar = layer_tar(b"plain");
    let md = layout(t.path(), &[(tar.clone(), oci::OCI_LAYER, Digest::of(&tar))], Some("v1"));
    let read = read(t.path(), None).unwrap();
    assert_ne!(single(&read).manifest_digest, md);
    assert_eq!(read.name, None, "a bare tag names no repository");
    let v: serde_json::Value = serde_json::from_slice(&single(&read).manifest).unwrap();
    assert_eq!(v["layers"][0]["mediaType"], oci::OCI_LAYER_GZIP);
    assert_eq!(v["annotations"]["kept"], "yes");
    let layer = &single(&read).layers[0];
    assert_eq!(v["layers"][0]["digest"], layer.digest.to_string());
    let gz = std::fs::read(single(&read).blob_path(&layer.digest)).unwrap();
    assert_eq!(Digest::of(&gz), layer.digest);
}

/// Two images (amd64, arm64) in one layout, index.json → an outer index → the index.
fn two_platforms(dir: &Path) -> (Vec<Digest>, Digest) {
    let mut children = Vec::new();
    for (arch, content) in [("amd64", &b"amd"[..]), ("arm64", b"arm")] {
        let tar = layer_tar(content);
        let md = layout(dir, &[(gz(&tar), oci::OCI_LAYER_GZIP, Digest::of(&tar))], None);
        let size = std::fs::metadata(dir.join("blobs/sha256").join(md.hex())).unwrap().len();
        children.push((md, size, arch));
    }
    let put = |bytes: &[u8]| {
        let d = Digest::of(bytes);
        std::fs::write(dir.join("blobs/sha256").join(d.hex()), bytes).unwrap();
        d
    };
    let entries: Vec<_> = children
        .iter()
        .map(|(d, size, arch)| json!({"mediaType": oci::OCI_MANIFEST, "digest": d, "size": size, "platform": {"os": "linux", "architecture": arch}}))
        .collect();
    let inner = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": oci::OCI_INDEX, "manifests": entries})).unwrap();
    let inner_d = put(&inner);
    let outer = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": oci::OCI_INDEX,
        "manifests": [{"mediaType": oci::OCI_INDEX, "digest": inner_d, "size": inner.len()}]})).unwrap();
    let outer_d = put(&outer);
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": oci::OCI_INDEX, "digest": outer_d, "size": outer.len()}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    (children.into_iter().map(|c| c.0).collect(), inner_d)
}

#[test]
fn an_index_is_flattened_or_one_platform_picked() {
    let t = TempDir::new("layout-index");
    let (children, inner) = two_platforms(t.path());
    let store = Store::create(&std::env::temp_dir()).unwrap();
    let whole = read_dir(t.path(), store, None, None, &mut |_, _, _| Ok(())).unwrap();
    let Pushable::Index(index) = &whole.image else { panic!("an index") };
    let got: Vec<_> = index.children.iter().map(|c| c.manifest_digest.clone()).collect();
    assert_eq!(got, children);
    let v: serde_json::Value = serde_json::from_slice(&index.manifest).unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2, "flattened: {v}");
    assert_eq!(index.digest, inner, "the outer index with its entry replaced by the inner one's entries: the inner index");
    assert_eq!(index.media_type, oci::OCI_INDEX);

    let arm = Platform::parse("linux/arm64").unwrap();
    let store = Store::create(&std::env::temp_dir()).unwrap();
    let one = read_dir(t.path(), store, None, Some(&arm), &mut |_, _, _| Ok(())).unwrap();
    assert_eq!(single(&one).manifest_digest, children[1]);

    // The amd64 child's layer goes missing: only --platform linux/arm64 still works.
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(t.path().join("blobs/sha256").join(children[0].hex())).unwrap()).unwrap();
    let layer: Digest = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    std::fs::remove_file(t.path().join("blobs/sha256").join(layer.hex())).unwrap();
    let store = Store::create(&std::env::temp_dir()).unwrap();
    let e = format!("{:#}", read_dir(t.path(), store, None, None, &mut |_, _, _| Ok(())).err().unwrap());
    assert!(e.contains("the linux/amd64 image") && e.contains(&children[0].to_string()) && e.contains("is missing"), "{e}");
    let store = Store::create(&std::env::temp_dir()).unwrap();
    assert!(read_dir(t.path(), store, None, Some(&arm), &mut |_, _, _| Ok(())).is_ok());
    let s390x = Platform::parse("linux/s390x").unwrap();
    let store = Store::create(&std::env::temp_dir()).unwrap();
    let e = format!("{:#}", read_dir(t.path(), store, None, Some(&s390x), &mut |_, _, _| Ok(())).err().unwrap());
    assert!(e.contains("has no linux/s390x image; it has linux/amd64, linux/arm64"), "{e}");
}

#[test]
fn index_json_entries_for_several_platforms_are_picked_by_platform() {
    let t = TempDir::new("layout-flat");
    let (children, _) = two_platforms(t.path());
    let entries: Vec<_> = children
        .iter()
        .zip(["amd64", "arm64"])
        .map(|(d, arch)| {
            let size = std::fs::metadata(t.path().join("blobs/sha256").join(d.hex())).unwrap().len();
            json!({"mediaType": oci::OCI_MANIFEST, "digest": d, "size": size, "platform": {"os": "linux", "architecture": arch},
                   "annotations": {REF_NAME: "v1"}})
        })
        .collect();
    std::fs::write(t.path().join("index.json"), serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": entries})).unwrap()).unwrap();
    let e = format!("{:#}", read(t.path(), None).err().unwrap());
    assert!(e.contains("holds 2 images") && e.contains("--platform"), "{e}");
    let arm = Platform::parse("linux/arm64").unwrap();
    for pick in [None, Some(Select::Tag("v1".into()))] {
        let store = Store::create(&std::env::temp_dir()).unwrap();
        let one = read_dir(t.path(), store, pick.as_ref(), Some(&arm), &mut |_, _, _| Ok(())).unwrap();
        assert_eq!(single(&one).manifest_digest, children[1]);
        assert!(one.by_platform);
    }
}

#[test]
fn lies_and_misses_are_refused() {
    let t = TempDir::new("layout-bad");
    let tar = layer_tar(b"x");
    layout(t.path(), &[(gz(&tar), oci::OCI_LAYER_GZIP, Digest::of(b"not the diff id"))], Some("v1"));
    let e = format!("{:#}", read(t.path(), None).err().unwrap());
    assert!(e.contains("the config expects diff_id"), "{e}");
    let e = format!("{:#}", read(t.path(), Some(&Select::Tag("v2".into()))).err().unwrap());
    assert!(e.contains("has no image tagged v2; it has the tags v1"), "{e}");
    let e = format!("{:#}", read(t.path(), Some(&Select::Digest(Digest::of(b"m")))).err().unwrap());
    assert!(e.contains("has no manifest"), "{e}");

    let t = TempDir::new("layout-size");
    let zstd = [&[0x28u8, 0xb5, 0x2f, 0xfd][..], b"z"].concat();
    let md = layout(t.path(), &[(zstd.clone(), "application/vnd.oci.image.layer.v1.tar+zstd", Digest::of(b"?"))], None);
    // The manifest now claims another size for the blob.
    let path = t.path().join("blobs/sha256").join(md.hex());
    let text = std::fs::read_to_string(&path).unwrap().replace(&format!("\"size\":{}", zstd.len()), "\"size\":99");
    std::fs::write(&path, &text).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": oci::OCI_MANIFEST, "digest": Digest::of(text.as_bytes()), "size": text.len()}]});
    std::fs::write(t.path().join("blobs/sha256").join(Digest::of(text.as_bytes()).hex()), &text).unwrap();
    std::fs::write(t.path().join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let e = format!("{:#}", read(t.path(), None).err().unwrap());
    assert!(e.contains("does not match its descriptor"), "{e}");
    // A manifest blob that does not hash to its descriptor.
    std::fs::write(t.path().join("blobs/sha256").join(Digest::of(text.as_bytes()).hex()), b"{}").unwrap();
    let e = format!("{:#}", read(t.path(), None).err().unwrap());
    assert!(e.contains("does not match its descriptor"), "{e}");
}
