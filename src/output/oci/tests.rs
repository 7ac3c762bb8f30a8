use super::*;
use crate::digest::Digest;
use crate::source::build::{self, Platform, Settings};
use crate::test_support::TempDir;
use std::collections::BTreeMap;
use std::io::Read;

fn image(dir: &TempDir, content: &str) -> Image {
    let ctx = dir.join(format!("ctx-{}", Digest::of(content.as_bytes()).hex()));
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("f"), content).unwrap();
    let spool = dir.join("spool");
    fs::create_dir_all(&spool).unwrap();
    let entries = build::walk(&ctx, &[]).unwrap();
    build::build(&ctx, &entries, &Settings::new(Platform::parse("linux/amd64").unwrap(), 0), Store::create(&spool).unwrap()).unwrap()
}

fn index_of(bytes: &[u8]) -> Vec<(String, Option<String>)> {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["digest"].as_str().unwrap().to_string(), m["annotations"][REF_NAME].as_str().map(String::from)))
        .collect()
}

/// Every blob of the layout dir matches its name.
fn check_blobs(dir: &Path) {
    for e in fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let bytes = fs::read(e.path()).unwrap();
        assert_eq!(Digest::of(&bytes).hex(), e.file_name().to_str().unwrap());
    }
}

/// What is in `dir` besides `keep` (no temp dirs left).
fn others(dir: &Path, keep: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.retain(|n| !keep.contains(&n.as_str()) && !n.starts_with("ctx-") && n != "spool");
    names
}

#[test]
fn archive_holds_the_layout_and_is_reproducible() {
    let dir = TempDir::new("out-archive");
    let img = image(&dir, "one");
    let path = dir.join("img.tar");
    write(&img, &Output::OciArchive(path.clone()), &["v1".into()]).unwrap();
    let bytes = fs::read(&path).unwrap();
    let mut files = BTreeMap::new();
    for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut content = Vec::new();
        e.read_to_end(&mut content).unwrap();
        files.insert(name, content);
    }
    assert_eq!(files["oci-layout"], LAYOUT_FILE);
    assert_eq!(index_of(&files["index.json"]), [(img.manifest_digest.to_string(), Some("v1".to_string()))]);
    assert_eq!(files[&format!("blobs/sha256/{}", img.manifest_digest.hex())], img.manifest);
    for d in img.blobs() {
        assert_eq!(Digest::of(&files[&format!("blobs/sha256/{}", d.digest.hex())]), d.digest);
    }
    // Written again: the same bytes, replacing the file.
    write(&img, &Output::OciArchive(path.clone()), &["v1".into()]).unwrap();
    assert_eq!(fs::read(&path).unwrap(), bytes);
    assert_eq!(others(dir.path(), &["img.tar"]), Vec::<String>::new());
}

#[test]
fn layout_dir_is_made_then_added_to() {
    let dir = TempDir::new("out-dir");
    let (one, two) = (image(&dir, "one"), image(&dir, "two"));
    let layout = dir.join("layout");
    write(&one, &Output::OciDir(layout.clone()), &[]).unwrap();
    assert_eq!(index_of(&fs::read(layout.join("index.json")).unwrap()), [(one.manifest_digest.to_string(), None)]);
    check_blobs(&layout);
    // Untagged again: not listed twice.
    write(&one, &Output::OciDir(layout.clone()), &[]).unwrap();
    assert_eq!(index_of(&fs::read(layout.join("index.json")).unwrap()).len(), 1);

    write(&two, &Output::OciDir(layout.clone()), &["a".into(), "b".into()]).unwrap();
    write(&one, &Output::OciDir(layout.clone()), &["b".into()]).unwrap();
    let (d1, d2) = (one.manifest_digest.to_string(), two.manifest_digest.to_string());
    assert_eq!(
        index_of(&fs::read(layout.join("index.json")).unwrap()),
        [(d1.clone(), None), (d2, Some("a".into())), (d1, Some("b".into()))],
        "b now names the first image"
    );
    check_blobs(&layout);
    assert_eq!(others(dir.path(), &["layout"]), Vec::<String>::new());

    // An empty dir becomes a layout; a non-empty dir that is not one is refused, untouched.
    let empty = dir.join("empty");
    fs::create_dir(&empty).unwrap();
    write(&one, &Output::OciDir(empty.clone()), &[]).unwrap();
    assert!(empty.join("oci-layout").is_file());
    let full = dir.join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("x"), "").unwrap();
    let e = format!("{:#}", write(&one, &Output::OciDir(full.clone()), &[]).unwrap_err());
    assert!(e.contains("is not empty and not an OCI layout"), "{e}");
    assert_eq!(fs::read_dir(&full).unwrap().count(), 1);
}

#[test]
fn bad_targets_are_refused() {
    let dir = TempDir::new("out-bad");
    let img = image(&dir, "x");
    let e = format!("{:#}", write(&img, &Output::OciArchive(dir.join("no/such/img.tar")), &[]).unwrap_err());
    assert!(e.contains("does not exist (create it first)"), "{e}");
    let e = format!("{:#}", write(&img, &Output::OciArchive(dir.path().to_path_buf()), &[]).unwrap_err());
    assert!(e.contains("is a directory"), "{e}");
    fs::write(dir.join("file"), "").unwrap();
    let e = format!("{:#}", write(&img, &Output::OciDir(dir.join("file")), &[]).unwrap_err());
    assert!(e.contains("exists and is not a directory"), "{e}");
    let layout = dir.join("broken");
    fs::create_dir(&layout).unwrap();
    fs::write(layout.join("oci-layout"), LAYOUT_FILE).unwrap();
    fs::write(layout.join("index.json"), "[]").unwrap();
    let e = format!("{:#}", write(&img, &Output::OciDir(layout), &[]).unwrap_err());
    assert!(e.contains("has no manifests list"), "{e}");
    assert_eq!(others(dir.path(), &["file", "broken"]), Vec::<String>::new());
}
