use super::*;
use crate::test_support::TempDir;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::time::{Duration, SystemTime};

/// A context with files, a subdir, an executable, symlinks and a `.dockerignore`.
fn context(dir: &TempDir) -> PathBuf {
    let root = dir.join("ctx");
    fs::create_dir_all(root.join("sub/deep")).unwrap();
    fs::create_dir_all(root.join("logs")).unwrap();
    fs::write(root.join("hello.txt"), "hello\n").unwrap();
    fs::write(root.join("sub/a.txt"), "a\n").unwrap();
    fs::write(root.join("sub/deep/b.txt"), "b\n").unwrap();
    fs::write(root.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(root.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(root.join("secret.key"), "k").unwrap();
    fs::write(root.join("logs/1.log"), "x").unwrap();
    fs::write(root.join("logs/keep.log"), "kept").unwrap();
    symlink("hello.txt", root.join("link")).unwrap();
    symlink("/etc/os-release", root.join("abs-link")).unwrap();
    symlink("../hello.txt", root.join("sub/up")).unwrap();
    fs::write(root.join(IGNORE_FILE), "# test\n*.key\nlogs\n!logs/keep.log\n").unwrap();
    root
}

fn paths(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

#[test]
fn walk_sorts_excludes_and_keeps_exceptions() {
    let dir = TempDir::new("build-walk");
    let root = context(&dir);
    let entries = walk(&root, &[]).unwrap();
    assert_eq!(
        paths(&entries),
        [".dockerignore", "abs-link", "hello.txt", "link", "logs", "logs/keep.log", "run.sh", "sub", "sub/a.txt", "sub/deep", "sub/deep/b.txt", "sub/up"]
    );
    let by = |p: &str| entries.iter().find(|e| e.path == p).unwrap().clone();
    assert_eq!(by("link").kind, Kind::Symlink("hello.txt".into()));
    assert_eq!(by("run.sh").mode, 0o755);
    assert_eq!(by("hello.txt").kind, Kind::File { size: 6 });
    assert_eq!(by("sub").kind, Kind::Dir);

    // The ignore file may exclude itself; an excluded dir with no exception is not entered.
    fs::write(root.join(IGNORE_FILE), ".dockerignore\nsub\n").unwrap();
    let entries = walk(&root, &[]).unwrap();
    assert_eq!(paths(&entries), ["abs-link", "hello.txt", "link", "logs", "logs/1.log", "logs/keep.log", "run.sh", "secret.key"]);

    // The build's outputs inside the context are left out (given as canonical paths).
    let canonical = fs::canonicalize(&root).unwrap();
    let entries = walk(&root, &[canonical.join("logs"), canonical.join("run.sh"), dir.join("elsewhere")]).unwrap();
    assert_eq!(paths(&entries), ["abs-link", "hello.txt", "link", "secret.key"]);
}

#[test]
fn long_names_and_targets_round_trip() {
    let dir = TempDir::new("build-long");
    let root = dir.join("ctx");
    let deep = format!("{}/{}", "d".repeat(120), "e".repeat(120));
    fs::create_dir_all(root.join(&deep)).unwrap();
    let file = format!("{deep}/{}.txt", "f".repeat(150));
    fs::write(root.join(&file), "deep").unwrap();
    let target = "t".repeat(200);
    symlink(&target, root.join("long-link")).unwrap();
    let mut bytes = Vec::new();
    write_tar(&root, &walk(&root, &[]).unwrap(), 0, &mut bytes).unwrap();
    let mut names = Vec::new();
    for e in tar::Archive::new(&bytes[..]).entries().unwrap() {
        let e = e.unwrap();
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        names.push((e.path().unwrap().to_string_lossy().into_owned(), link));
    }
    assert!(names.contains(&(file.clone(), None)), "{names:?}");
    assert!(names.contains(&("long-link".to_string(), Some(target))), "{names:?}");
}

#[test]
fn bad_contexts_are_one_clear_error() {
    let dir = TempDir::new("build-bad");
    let missing = dir.join("nope");
    let e = walk(&missing, &[]).unwrap_err();
    assert_eq!(format!("{e:#}"), format!("the build context {} does not exist", missing.display()));
    assert!(crate::report::hint::of(&e).unwrap().contains("idpush build ."));

    fs::write(dir.join("file"), "").unwrap();
    assert!(format!("{:#}", walk(&dir.join("file"), &[]).unwrap_err()).contains("is not a directory"));

    let root = dir.join("escape");
    fs::create_dir_all(root.join("a")).unwrap();
    symlink("../../etc/passwd", root.join("a/evil")).unwrap();
    let e = format!("{:#}", walk(&root, &[]).unwrap_err());
    assert!(e.contains("a/evil is a symlink to ../../etc/passwd, outside the build context"), "{e}");
    fs::write(root.join(IGNORE_FILE), "a/evil\n").unwrap();
    assert_eq!(paths(&walk(&root, &[]).unwrap()), [".dockerignore", "a"], "an excluded bad symlink is no error");

    let root = dir.join("fifo");
    fs::create_dir_all(&root).unwrap();
    let status = std::process::Command::new("mkfifo").arg(root.join("pipe")).status().unwrap();
    assert!(status.success(), "mkfifo");
    let e = format!("{:#}", walk(&root, &[]).unwrap_err());
    assert!(e.contains("pipe is a named pipe (FIFO): a build context may hold only files"), "{e}");
    assert!(crate::report::hint::of(&walk(&root, &[]).unwrap_err()).unwrap().contains(".dockerignore"));

    let root = dir.join("badignore");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join(IGNORE_FILE), "ok\n[oops\n").unwrap();
    let e = format!("{:#}", walk(&root, &[]).unwrap_err());
    assert!(e.contains(".dockerignore: line 2: \"[oops\" has a `[` without its `]`"), "{e}");
    for e in [&missing, &root] {
        let err = walk(e, &[]).unwrap_err();
        assert_eq!(crate::error::class_of(&err), crate::error::Class::Permanent);
    }
}

#[test]
fn tar_headers_are_deterministic() {
    let dir = TempDir::new("build-tar");
    let root = context(&dir);
    let entries = walk(&root, &[]).unwrap();
    let mut bytes = Vec::new();
    write_tar(&root, &entries, 0, &mut bytes).unwrap();
    let mut archive = tar::Archive::new(&bytes[..]);
    let mut seen = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        assert_eq!((h.uid().unwrap(), h.gid().unwrap(), h.mtime().unwrap()), (0, 0, 0));
        assert_eq!(h.username().unwrap(), Some(""));
        let path = e.path().unwrap().to_string_lossy().into_owned();
        let mut content = String::new();
        e.read_to_string(&mut content).unwrap();
        let link = e.link_name().unwrap().map(|l| l.to_string_lossy().into_owned());
        seen.push((path, h.entry_type(), h.mode().unwrap(), content, link));
    }
    let find = |p: &str| seen.iter().find(|s| s.0 == p).unwrap_or_else(|| panic!("{p} not in {seen:?}"));
    assert_eq!(find("run.sh").2, 0o755);
    assert_eq!(find("hello.txt").3, "hello\n");
    assert_eq!(find("link").1, tar::EntryType::Symlink);
    assert_eq!(find("link").4.as_deref(), Some("hello.txt"));
    assert_eq!(find("abs-link").4.as_deref(), Some("/etc/os-release"));
    assert_eq!(find("sub/").1, tar::EntryType::Directory);

    // With an epoch, newer mtimes come down to it and older ones stay.
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
    File::options().write(true).open(root.join("hello.txt")).unwrap().set_modified(old).unwrap();
    let entries = walk(&root, &[]).unwrap();
    let mut bytes = Vec::new();
    write_tar(&root, &entries, 5000, &mut bytes).unwrap();
    let mut archive = tar::Archive::new(&bytes[..]);
    for e in archive.entries().unwrap() {
        let e = e.unwrap();
        let want = if e.path().unwrap().to_str() == Some("hello.txt") { 1000 } else { 5000 };
        assert_eq!(e.header().mtime().unwrap(), want, "{:?}", e.path());
    }
}

#[test]
fn same_folder_same_digests() {
    let dir = TempDir::new("build-same");
    let root = context(&dir);
    let settings = Settings::new(Platform::parse("linux/amd64").unwrap(), 0);
    let build = |root: &Path, settings: &Settings, store: Store| super::build(root, &walk(root, &[]).unwrap(), settings, store);
    let first = build(&root, &settings, Store::create(dir.path()).unwrap()).unwrap();
    // Touch everything: mtimes are clamped, so nothing changes.
    for e in walk(&root, &[]).unwrap() {
        if matches!(e.kind, Kind::File { .. }) {
            File::options().write(true).open(root.join(&e.path)).unwrap().set_modified(SystemTime::now()).unwrap();
        }
    }
    let second = build(&root, &settings, Store::create(dir.path()).unwrap()).unwrap();
    assert_eq!(first.manifest_digest, second.manifest_digest);
    assert_eq!(first.layers, second.layers);
    assert_eq!(first.layers.len(), 1);
    assert_eq!(first.layers[0].media_type, crate::oci::OCI_LAYER_GZIP);

    // A changed byte, mode or epoch changes the digest.
    fs::write(root.join("hello.txt"), "hellO\n").unwrap();
    let third = build(&root, &settings, Store::create(dir.path()).unwrap()).unwrap();
    assert_ne!(third.layers, first.layers);
    let later = Settings { epoch: 1_700_000_000, ..settings };
    let fourth = build(&root, &later, Store::create(dir.path()).unwrap()).unwrap();
    assert_ne!(fourth.manifest_digest, third.manifest_digest);
}

#[test]
fn a_file_that_shrinks_is_an_error() {
    let dir = TempDir::new("build-shrink");
    let root = dir.join("ctx");
    fs::create_dir_all(&root).unwrap();
    fs::write(root.join("f"), "long content").unwrap();
    let entries = walk(&root, &[]).unwrap();
    fs::write(root.join("f"), "short").unwrap();
    let e = format!("{:#}", write_tar(&root, &entries, 0, io::sink()).unwrap_err());
    assert!(e.contains("f shrank while it was read"), "{e}");
    let store = Store::create(dir.path()).unwrap();
    let e = format!("{:#}", spool(&root, &entries, 0, &store).unwrap_err());
    assert!(e.contains("f shrank while it was read"), "{e}");
}

#[test]
fn pipe_carries_every_byte_and_reports_a_closed_reader() {
    let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 253) as u8).collect();
    let (mut reader, mut writer) = pipe();
    let sent = data.clone();
    let t = std::thread::spawn(move || {
        for piece in sent.chunks(7919) {
            writer.write_all(piece).unwrap();
        }
        writer.flush().unwrap();
    });
    let mut got = Vec::new();
    reader.read_to_end(&mut got).unwrap();
    t.join().unwrap();
    assert_eq!(got, data);

    let (reader, mut writer) = pipe();
    drop(reader);
    let e = writer.write_all(&vec![0u8; 2 * CHUNK]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
}
