//! Making images deterministically: generated rootfs tars, `docker import` and `docker build`.

use super::*;

/// Deterministic pseudo-random bytes (xorshift), so layers are incompressible and unique.
pub fn pseudo_random(seed: &str, len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in seed.bytes() {
        x = (x ^ b as u64).wrapping_mul(0x100_0000_01B3);
    }
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

const MTIME: u64 = 1_700_000_000;

fn tar_dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(0);
    b.append_data(&mut h, path, std::io::empty()).unwrap();
}

fn tar_file(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, path, data).unwrap();
}

fn tar_symlink(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(0);
    b.append_link(&mut h, path, target).unwrap();
}

/// A small rootfs tar: a few directories, text files naming `seed`, a symlink, and
/// `payload_len` bytes of incompressible data in /bin/payload.
pub fn rootfs_tar(seed: &str, payload_len: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    tar_dir(&mut b, "bin/");
    tar_dir(&mut b, "etc/");
    tar_dir(&mut b, "tmp/");
    tar_file(
        &mut b,
        "etc/os-release",
        0o644,
        b"NAME=\"idpush e2e\"\nID=idpush-e2e\n",
    );
    tar_file(
        &mut b,
        "etc/idpush-seed",
        0o644,
        format!("{seed}\n").as_bytes(),
    );
    tar_symlink(&mut b, "etc/seed-link", "idpush-seed");
    tar_file(
        &mut b,
        "bin/payload",
        0o755,
        &pseudo_random(seed, payload_len),
    );
    b.into_inner().unwrap()
}

/// `docker import` of a generated rootfs tar as `name` (a `repo:tag`). Returns the image ID.
pub fn import_image(dir: &Path, name: &str, payload_len: usize) -> String {
    let tar = dir.join(format!("rootfs-{}.tar", name.replace(['/', ':'], "_")));
    std::fs::write(&tar, rootfs_tar(name, payload_len)).unwrap();
    docker(&["import", tar.to_str().unwrap(), name]);
    let _ = std::fs::remove_file(&tar);
    image_id(name)
}

/// `docker build` (legacy builder) of `dockerfile` with the given context files, as `name`.
/// File mtimes are fixed so identical files give identical layer diffs.
pub fn build_image(dir: &Path, name: &str, dockerfile: &str, files: &[(&str, &[u8])]) -> String {
    let ctx = dir.join(format!("ctx-{}", name.replace(['/', ':'], "_")));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let mtime = std::time::UNIX_EPOCH + Duration::from_secs(MTIME);
    for (path, data) in files {
        let p = ctx.join(path);
        std::fs::write(&p, data).unwrap();
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(mtime).unwrap();
    }
    docker(&["build", "-q", "-t", name, ctx.to_str().unwrap()]);
    image_id(name)
}

/// Read every regular file of a tar into memory.
pub fn read_tar(bytes: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut files = HashMap::new();
    let mut ar = tar::Archive::new(bytes);
    for entry in ar.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        if entry.header().entry_type().is_file() {
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            files.insert(path, data);
        }
    }
    files
}
