//! Memory: a push of an image with one large layer streams it (daemon → temp file → registry)
//! and never holds it in memory. The child's peak RSS (VmHWM from /proc, polled until it exits)
//! must stay under a generous bound; the tight target lives in the benchmark.
//!
//! The layer is `IDPUSH_TEST_MEMORY_MIB` MiB (default 1024, about 30 s here: dependencies are
//! optimized in dev builds, see Cargo.toml; each run adds that much to the test registry's
//! storage). Its content is a 1 MiB pseudo-random block repeated: cheap to make, and
//! incompressible to gzip's 32 KiB window. The image comes from the fake daemon (held in the
//! test's memory) and goes to the real registry.

use crate::corpus::{tar_of, Classic, Item};
use crate::fake_daemon::{Export, FakeDaemon};
use crate::support::*;
use std::time::Duration;

const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn sha256_file(path: &std::path::Path) -> String {
    let out = std::process::Command::new("sha256sum").arg(path).output().expect("sha256sum");
    assert!(out.status.success());
    format!("sha256:{}", String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap())
}

#[test]
fn large_layer_push_has_bounded_memory() {
    let mib: usize = std::env::var("IDPUSH_TEST_MEMORY_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let dir = TestDir::new("memory");
    let block = pseudo_random(&unique("memory"), 1 << 20);
    let mut data = Vec::with_capacity(mib << 20);
    for _ in 0..mib {
        data.extend_from_slice(&block);
    }
    let layer = tar_of(&[Item::File("big.bin".into(), data)]);
    let layer_path = dir.path.join("layer.tar");
    std::fs::write(&layer_path, &layer).unwrap();
    let diff_id = sha256_file(&layer_path);
    let _ = std::fs::remove_file(&layer_path);
    let c = Classic::with_diff_id(layer, diff_id);
    let export = c.tar("memory:v1");
    let image = c.fake_image("memory:v1", Export::Full(export));
    drop(c);
    let daemon = FakeDaemon::start(&dir.path, Some(image));

    let env = env();
    let repo = format!("e2e/{}", unique("memory"));
    let run = dir.sub("run");
    let mut child = Idpush::new(&run, &daemon.docker_host())
        .args(["push", "-q", "memory:v1", &format!("{}/{repo}:v1", env.registry)])
        .spawn();
    let pid = child.id();
    let mut peak = 0;
    let start = std::time::Instant::now();
    while !child.has_exited() {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let out = child.wait(Duration::from_secs(5));
    eprintln!("memory: {mib} MiB layer pushed in {:?}, peak RSS {} KiB", start.elapsed(), peak);
    let pushed = parse_pushed(&out);
    assert_eq!(pushed.repo, repo);
    assert!(peak > 0, "could not read VmHWM of the child");
    assert!(peak < PEAK_RSS_LIMIT_KIB, "peak RSS {peak} KiB for a {mib} MiB layer (limit {PEAK_RSS_LIMIT_KIB} KiB)");
    assert!(dir_entries(&run.join("tmp")).is_empty(), "TMPDIR not empty");
}

/// A 1 MiB tmpfs, unmounted on drop.
struct SmallTmpfs {
    path: std::path::PathBuf,
}

impl SmallTmpfs {
    /// `None` where mounting is not allowed (not root, no CAP_SYS_ADMIN).
    fn mount(path: std::path::PathBuf) -> Option<SmallTmpfs> {
        std::fs::create_dir_all(&path).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallTmpfs { path })
    }
}

impl Drop for SmallTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.path).status();
    }
}

#[test]
fn tmpdir_out_of_space_is_a_clear_error() {
    let dir = TestDir::new("nospace");
    let Some(small) = SmallTmpfs::mount(dir.path.join("small")) else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    // A 4 MiB incompressible layer does not fit in 1 MiB.
    let layer = tar_of(&[Item::File("big.bin".into(), pseudo_random("nospace", 4 << 20))]);
    let c = Classic::new(layer);
    let daemon = FakeDaemon::start(&dir.path, Some(c.fake_image("nospace:v1", Export::Full(c.tar("nospace:v1")))));
    let repo = format!("e2e/{}", unique("nospace"));
    let out = Idpush::new(&dir.sub("run"), &daemon.docker_host())
        .args(["push", "-q", "--tmpdir", small.path.to_str().unwrap(), "nospace:v1"])
        .args([format!("{}/{repo}:v1", env().registry)])
        .run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let lines = out.error_lines();
    assert_eq!(lines.len(), 1, "{}", out.describe());
    assert!(lines[0].contains("no space left on device") && lines[0].contains("--tmpdir"), "{}", lines[0]);
    assert!(dir_entries(&small.path).is_empty(), "left files in --tmpdir: {:?}", dir_entries(&small.path));
    let (status, _) = registry_manifest_digest(&env().registry, &repo, "v1");
    assert_eq!(status, 404);
}
