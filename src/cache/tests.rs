//! Tests of the cache against a real temp dir: round trips, damaged entries, caps, an unusable
//! dir, and two processes (this test binary, run again) writing at once.

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// A fresh dir under the system temp dir, removed with everything in it on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "idpush-cache-test-{}-{}-{nanos:x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn digest(seed: &str) -> Digest {
    Digest::of(seed.as_bytes())
}

fn gz(seed: &str, size: u64) -> CachedLayer {
    CachedLayer { digest: digest(&format!("gz-{seed}")), size, media_type: crate::oci::DOCKER_LAYER_GZIP.to_string() }
}

fn shelves(cache: &Cache) -> &Shelves {
    cache.shelves.as_ref().expect("the cache is on")
}

/// The file names in a kind's dir, temp files included.
fn names(shelf: &Shelf) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(shelf.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

const CODEC: &str = "pgzip1-b1m-l1";
const REGISTRY: &str = "localhost:5000";

#[test]
fn clones_share_the_dir_across_threads() {
    // The push reads layers on one thread and uploads on another; both record what they learn.
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    cache.put_layer(&digest(&format!("{t}-{i}")), CODEC, &gz("x", i));
                    cache.add_repository(REGISTRY, &digest("blob"), &format!("t{t}/r{i}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..2 {
        for i in 0..20 {
            assert_eq!(cache.layer(&digest(&format!("{t}-{i}")), CODEC), Some(gz("x", i)));
        }
    }
    let repos = cache.repositories(REGISTRY, &digest("blob"));
    assert!(repos.contains(&"t0/r19".to_string()) || repos.contains(&"t1/r19".to_string()), "{repos:?}");
}

#[test]
fn layer_round_trip_per_codec() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let diff_id = digest("layer");
    assert_eq!(cache.layer(&diff_id, CODEC), None);
    cache.put_layer(&diff_id, CODEC, &gz("a", 1234));
    assert_eq!(cache.layer(&diff_id, CODEC), Some(gz("a", 1234)));
    assert_eq!(cache.layer(&diff_id, "pgzip1-b1m-l6"), None, "another level is another key");
    assert_eq!(cache.layer(&digest("other"), CODEC), None);

    cache.put_layer(&diff_id, CODEC, &gz("b", 99));
    assert_eq!(cache.layer(&diff_id, CODEC), Some(gz("b", 99)), "a put replaces");
    assert_eq!(Cache::open(tmp.path()).layer(&diff_id, CODEC), Some(gz("b", 99)), "a second open (process) reads it");

    cache.forget_layer(&diff_id, CODEC);
    assert_eq!(cache.layer(&diff_id, CODEC), None);
}

#[test]
fn an_identical_put_does_not_rewrite_the_entry() {
    use std::os::unix::fs::MetadataExt;
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let diff_id = digest("layer");
    let path = shelves(&cache).layers.path(&layer_name(&diff_id, CODEC).unwrap());
    let inode = || fs::metadata(&path).unwrap().ino();
    cache.put_layer(&diff_id, CODEC, &gz("a", 1));
    let first = inode();
    cache.put_layer(&diff_id, CODEC, &gz("a", 1));
    assert_eq!(inode(), first, "the same record is not written again");
    cache.put_layer(&diff_id, CODEC, &gz("a", 2));
    assert_ne!(inode(), first, "a different record replaces the file");
}

#[test]
fn config_round_trip() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let bytes = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let id = Digest::of(bytes);
    assert_eq!(cache.config(&id), None);
    cache.put_config(&id, bytes);
    assert_eq!(cache.config(&id).as_deref(), Some(&bytes[..]));
    assert_eq!(fs::read(shelves(&cache).configs.path(id.hex())).unwrap(), bytes, "stored as the exact bytes");
}

#[test]
fn repositories_round_trip_most_recent_first() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let blob = digest("blob");
    assert!(cache.repositories(REGISTRY, &blob).is_empty(), "never seen");
    cache.add_repository(REGISTRY, &blob, "team/a");
    cache.add_repository(REGISTRY, &blob, "team/b");
    assert_eq!(cache.repositories(REGISTRY, &blob), ["team/b", "team/a"]);
    cache.add_repository(REGISTRY, &blob, "team/a");
    assert_eq!(cache.repositories(REGISTRY, &blob), ["team/a", "team/b"]);
    assert_eq!(cache.repositories("LocalHost:5000", &blob), ["team/a", "team/b"], "hosts are case-insensitive");
    assert!(cache.repositories("localhost:5001", &blob).is_empty(), "another port is another registry");
    assert!(cache.repositories(REGISTRY, &digest("other")).is_empty());

    cache.forget_repository(REGISTRY, &blob, "team/b");
    assert_eq!(cache.repositories(REGISTRY, &blob), ["team/a"]);
    cache.forget_repository(REGISTRY, &blob, "team/never");
    assert_eq!(cache.repositories(REGISTRY, &blob), ["team/a"]);
    cache.forget_repository(REGISTRY, &blob, "team/a");
    assert!(cache.repositories(REGISTRY, &blob).is_empty());
    assert!(names(&shelves(&cache).blobs).is_empty(), "the last repository forgotten removes the entry");
}

#[test]
fn repositories_are_capped_and_registries_escaped() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let blob = digest("blob");
    for i in 0..MAX_REPOS + 5 {
        cache.add_repository("[::1]:5000", &blob, &format!("r/{i}"));
    }
    let repos = cache.repositories("[::1]:5000", &blob);
    assert_eq!(repos.len(), MAX_REPOS);
    assert_eq!(repos[0], format!("r/{}", MAX_REPOS + 4), "the newest is kept first");
    assert_eq!(names(&shelves(&cache).blobs), [format!("{}@%5b%3a%3a1%5d%3a5000", blob.hex())]);
}

#[test]
fn wrong_size_claim_is_stored_as_given() {
    // The cache cannot know a blob's size; the push's HEAD (Content-Length) catches a wrong
    // one. That end-to-end test belongs to the wiring.
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let diff_id = digest("layer");
    cache.put_layer(&diff_id, CODEC, &gz("a", 1));
    assert_eq!(cache.layer(&diff_id, CODEC).unwrap().size, 1);
}

#[test]
fn truncated_and_garbage_entries_are_ignored_naming_the_file() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let s = shelves(&cache);
    let diff_id = digest("layer");
    let config = br#"{"architecture":"amd64","rootfs":{"diff_ids":[]}}"#;
    let id = Digest::of(config);
    let blob = digest("blob");
    cache.put_layer(&diff_id, CODEC, &gz("a", 10));
    cache.put_config(&id, config);
    cache.add_repository(REGISTRY, &blob, "team/a");
    let files = [
        s.layers.path(&layer_name(&diff_id, CODEC).unwrap()),
        s.configs.path(id.hex()),
        s.blobs.path(&blob_key(REGISTRY, &blob).unwrap().1),
    ];
    let whys = |s: &Shelves| {
        [
            s.load_layer(&diff_id, CODEC).map(|_| ()),
            s.load_config(&id).map(|_| ()),
            s.load_blob(REGISTRY, &blob).map(|_| ()),
        ]
    };
    for damage in ["truncated", "garbage", "empty"] {
        for file in &files {
            let whole = fs::read(file).unwrap();
            let bad: Vec<u8> = match damage {
                "truncated" => whole[..whole.len() / 2].to_vec(),
                "garbage" => (0..200u32).map(|i| (i * 37 % 256) as u8).collect(),
                _ => Vec::new(),
            };
            fs::write(file, bad).unwrap();
        }
        assert_eq!(cache.layer(&diff_id, CODEC), None, "{damage}");
        assert_eq!(cache.config(&id), None, "{damage}");
        assert!(cache.repositories(REGISTRY, &blob).is_empty(), "{damage}");
        for (why, file) in whys(s).into_iter().zip(&files) {
            let why = why.expect_err(damage);
            assert!(why.contains(&file.display().to_string()), "{damage}: {why:?} names {}", file.display());
        }
        // A put over a damaged entry heals it.
        cache.put_layer(&diff_id, CODEC, &gz("a", 10));
        cache.put_config(&id, config);
        cache.add_repository(REGISTRY, &blob, "team/a");
        assert_eq!(cache.layer(&diff_id, CODEC), Some(gz("a", 10)), "{damage}");
        assert_eq!(cache.config(&id).as_deref(), Some(&config[..]), "{damage}");
        assert_eq!(cache.repositories(REGISTRY, &blob), ["team/a"], "{damage}");
    }
}

#[test]
fn config_whose_bytes_do_not_hash_to_the_id_is_ignored() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let id = Digest::of(b"{\"a\":1}");
    let path = shelves(&cache).configs.path(id.hex());
    fs::write(&path, b"{\"a\":2}").unwrap();
    assert_eq!(cache.config(&id), None);
    let why = shelves(&cache).load_config(&id).unwrap_err();
    assert!(why.contains(&path.display().to_string()) && why.contains("hash"), "{why}");

    fs::remove_file(&path).unwrap();
    cache.put_config(&id, b"{\"a\":2}");
    assert!(!path.exists(), "bytes that do not hash to the ID are not kept");
}

#[test]
fn record_under_another_name_and_oversized_entries_are_ignored() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let s = shelves(&cache);
    let (a, b) = (digest("a"), digest("b"));
    cache.put_layer(&a, CODEC, &gz("a", 10));
    // A record copied under another layer's name answers for the layer it names, not b.
    fs::copy(s.layers.path(&layer_name(&a, CODEC).unwrap()), s.layers.path(&layer_name(&b, CODEC).unwrap())).unwrap();
    assert_eq!(cache.layer(&b, CODEC), None);
    assert!(s.load_layer(&b, CODEC).unwrap_err().contains("records layer"));

    cache.add_repository(REGISTRY, &a, "team/a");
    fs::copy(s.blobs.path(&blob_key(REGISTRY, &a).unwrap().1), s.blobs.path(&blob_key("other:1", &a).unwrap().1)).unwrap();
    assert!(cache.repositories("other:1", &a).is_empty());

    let big = s.layers.path(&layer_name(&b, "big").unwrap());
    fs::write(&big, vec![b' '; MAX_RECORD as usize + 1]).unwrap();
    assert!(s.load_layer(&b, "big").unwrap_err().contains("more than"));
    let dir = s.layers.path(&layer_name(&b, "dir").unwrap());
    fs::create_dir(&dir).unwrap();
    assert_eq!(cache.layer(&b, "dir"), None, "a dir in the way is not an entry");
}

#[test]
fn bad_keys_are_not_stored() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let d = digest("a");
    for codec in ["", "../x", "a/b", ".hidden", "sp ace", &"x".repeat(65)] {
        cache.put_layer(&d, codec, &gz("a", 1));
        assert_eq!(cache.layer(&d, codec), None, "{codec:?}");
    }
    cache.put_layer(&d, CODEC, &CachedLayer { media_type: String::new(), ..gz("a", 1) });
    for registry in ["", "host/path", "sp ace", &"h".repeat(200)] {
        cache.add_repository(registry, &d, "team/a");
        assert!(cache.repositories(registry, &d).is_empty(), "{registry:?}");
    }
    for repo in ["", "team a", "team\n/a"] {
        cache.add_repository(REGISTRY, &d, repo);
    }
    let s = shelves(&cache);
    assert!(names(&s.layers).is_empty() && names(&s.blobs).is_empty(), "{:?} {:?}", names(&s.layers), names(&s.blobs));
}

#[test]
fn cap_removes_the_least_recently_used() {
    let tmp = TempDir::new();
    let cache = Cache::open_with(tmp.path(), Limits { layers: 10, prune_every: 1, ..Limits::default() });
    let s = shelves(&cache);
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 86400);
    for i in 0..10u64 {
        let d = digest(&i.to_string());
        cache.put_layer(&d, CODEC, &gz("x", i));
        shelf::set_mtime(&s.layers.path(&layer_name(&d, CODEC).unwrap()), ten_days_ago + Duration::from_secs(i));
    }
    assert_eq!(names(&s.layers).len(), 10, "at the cap nothing goes");
    // A hit refreshes the oldest entry: it is used, so it stays.
    assert!(cache.layer(&digest("0"), CODEC).is_some());
    // A stale temp file from a killed writer goes too; a fresh one (a live writer's) stays.
    let stale = s.layers.dir().join(".tmp-1-2-3");
    let fresh = s.layers.dir().join(".tmp-4-5-6");
    fs::write(&stale, b"half").unwrap();
    fs::write(&fresh, b"half").unwrap();
    shelf::set_mtime(&stale, ten_days_ago);

    cache.put_layer(&digest("10"), CODEC, &gz("x", 10));
    let present = |i: u64| cache.layer(&digest(&i.to_string()), CODEC).is_some();
    assert!(!present(1) && !present(2), "the two least recently used are removed, down to 9");
    assert!(present(0), "the refreshed one stays");
    for i in 3..=10 {
        assert!(present(i), "entry {i} stays");
    }
    assert!(!stale.exists());
    assert!(fresh.exists());
}

#[test]
fn cap_is_checked_only_on_some_new_entries() {
    // With a check due once in u64::MAX new entries, nothing lists the dir: writes stay cheap,
    // and the kind may exceed its cap until a check is due.
    let tmp = TempDir::new();
    let cache = Cache::open_with(tmp.path(), Limits { configs: 2, prune_every: u64::MAX, ..Limits::default() });
    for i in 0..5 {
        let bytes = format!("{{\"n\":{i}}}");
        cache.put_config(&Digest::of(bytes.as_bytes()), bytes.as_bytes());
    }
    assert_eq!(names(&shelves(&cache).configs).len(), 5);
    shelves(&cache).configs.prune();
    assert_eq!(names(&shelves(&cache).configs).len(), 2, "a check removes down to nine tenths of the cap (at least 1 kept)");
}

#[test]
fn unusable_dir_turns_the_cache_off() {
    let tmp = TempDir::new();
    let file = tmp.path().join("a-file");
    fs::write(&file, b"").unwrap();
    // A file where the cache dir (or its v1/) should be: create_dir fails, also for root.
    let in_file = file.join("cache");
    let v1_is_file = tmp.path().join("cache2");
    fs::create_dir(&v1_is_file).unwrap();
    fs::write(v1_is_file.join("v1"), b"").unwrap();
    for dir in [&in_file, &v1_is_file] {
        let cache = Cache::open(dir);
        assert!(!cache.is_enabled(), "{}", dir.display());
        assert_eq!(cache.dir(), None);
        let d = digest("a");
        cache.put_layer(&d, CODEC, &gz("a", 1));
        cache.put_config(&Digest::of(b"{}"), b"{}");
        cache.add_repository(REGISTRY, &d, "team/a");
        assert_eq!(cache.layer(&d, CODEC), None);
        assert!(cache.repositories(REGISTRY, &d).is_empty());
    }
    assert!(Shelves::create(&in_file, Limits::default()).unwrap_err().contains(&in_file.display().to_string()));
}

#[test]
fn dir_removed_under_a_running_push_only_misses() {
    let tmp = TempDir::new();
    let cache = Cache::open(&tmp.path().join("c"));
    assert!(cache.is_enabled());
    fs::remove_dir_all(tmp.path().join("c")).unwrap();
    let d = digest("a");
    cache.put_layer(&d, CODEC, &gz("a", 1));
    cache.add_repository(REGISTRY, &d, "team/a");
    cache.forget_repository(REGISTRY, &d, "team/a");
    assert_eq!(cache.layer(&d, CODEC), None);
    assert!(shelves(&cache).layers.write("x", b"y").unwrap_err().contains("cannot write cache entry"));
}

#[test]
fn disabled_and_environment() {
    let off = Cache::disabled();
    assert!(!off.is_enabled());
    off.put_layer(&digest("a"), CODEC, &gz("a", 1));
    assert_eq!(off.layer(&digest("a"), CODEC), None);

    assert!(!Cache::from_env(&|_: &str| None).is_enabled(), "no HOME: no cache");
    let tmp = TempDir::new();
    let dir = tmp.path().join("from-env");
    let env = |k: &str| (k == "IDPUSH_CACHE_DIR").then(|| dir.display().to_string());
    let cache = Cache::from_env(&env);
    assert_eq!(cache.dir(), Some(dir.as_path()));
    assert!(dir.join("v1/layers").is_dir() && dir.join("v1/configs").is_dir() && dir.join("v1/blobs").is_dir());
}

#[test]
fn private_modes_and_cachedir_tag() {
    let tmp = TempDir::new();
    let root = tmp.path().join("c");
    let cache = Cache::open(&root);
    cache.put_config(&Digest::of(b"{}"), b"{}");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("v1/configs")), 0o700);
    assert_eq!(mode(&root.join("v1/configs").join(Digest::of(b"{}").hex())), 0o600);
    assert!(fs::read_to_string(root.join("CACHEDIR.TAG")).unwrap().starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
    assert!(names(&shelves(&cache).layers).is_empty(), "the writability probe leaves nothing behind");
}

// Two processes writing at once: the parent runs this test binary twice more, each running only
// `writer_process` as writer 0 or 1 on the same dir, and reads every entry while they write.

const WRITER_ENV: &str = "IDPUSH_CACHE_TEST_WRITER";
const ROUNDS: usize = 120;
const SHARED_CONFIG: &[u8] = br#"{"shared":true}"#;

/// One writer's work: the same keys as the other writer (a layer both record differently, one
/// config, one blob both add repositories to) and keys of its own.
fn write_rounds(cache: &Cache, me: usize) {
    let shared = digest("shared-layer");
    let blob = digest("shared-blob");
    for i in 0..ROUNDS {
        cache.put_layer(&shared, CODEC, &gz(&format!("w{me}-{i}"), i as u64));
        cache.put_layer(&digest(&format!("own-{me}-{i}")), CODEC, &gz(&format!("own-{me}-{i}"), i as u64));
        cache.put_config(&Digest::of(SHARED_CONFIG), SHARED_CONFIG);
        cache.add_repository(REGISTRY, &blob, &format!("w{me}/r{}", i % 5));
        if i % 3 == 0 {
            cache.forget_repository(REGISTRY, &blob, &format!("w{me}/r{}", (i + 2) % 5));
        }
        let _ = cache.layer(&shared, CODEC);
    }
}

/// Every entry file (temp files aside) is whole and valid, read the strict way (an error is a
/// torn or foreign entry; `None` one that vanished between listing and reading).
fn check_entries(cache: &Cache) -> usize {
    let s = shelves(cache);
    let mut seen = 0;
    for name in names(&s.layers).iter().filter(|n| !shelf::is_temp(n)) {
        let (hex, codec) = name.split_once('.').unwrap();
        let diff_id: Digest = format!("sha256:{hex}").parse().unwrap();
        seen += usize::from(s.load_layer(&diff_id, codec).unwrap_or_else(|why| panic!("{why}")).is_some());
    }
    for name in names(&s.configs).iter().filter(|n| !shelf::is_temp(n)) {
        let id: Digest = format!("sha256:{name}").parse().unwrap();
        seen += usize::from(s.load_config(&id).unwrap_or_else(|why| panic!("{why}")).is_some());
    }
    if let Some(repos) = s.load_blob(REGISTRY, &digest("shared-blob")).unwrap_or_else(|why| panic!("{why}")) {
        assert!(!repos.is_empty() && repos.len() <= 10, "{repos:?}");
        assert!(repos.iter().all(|r| r.starts_with("w0/r") || r.starts_with("w1/r")), "{repos:?}");
        seen += 1;
    }
    seen
}

#[test]
fn writer_process() {
    // As a child of the test below: write, and let the parent check. Run alone: one writer,
    // then the same final checks.
    if let Ok(spec) = std::env::var(WRITER_ENV) {
        let (me, dir) = spec.split_once(':').unwrap();
        write_rounds(&Cache::open(Path::new(dir)), me.parse().unwrap());
        return;
    }
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    write_rounds(&cache, 0);
    check_final(&cache, 1);
}

fn check_final(cache: &Cache, writers: usize) {
    check_entries(cache);
    let s = shelves(cache);
    for me in 0..writers {
        for i in 0..ROUNDS {
            let own = format!("own-{me}-{i}");
            assert_eq!(cache.layer(&digest(&own), CODEC), Some(gz(&own, i as u64)));
        }
    }
    let last = ROUNDS - 1;
    let shared = cache.layer(&digest("shared-layer"), CODEC).expect("the shared layer");
    assert!((0..writers).any(|me| shared == gz(&format!("w{me}-{last}"), last as u64)), "{shared:?}: one writer's last record");
    assert_eq!(cache.config(&Digest::of(SHARED_CONFIG)).as_deref(), Some(SHARED_CONFIG));
    assert!(!cache.repositories(REGISTRY, &digest("shared-blob")).is_empty());
    for shelf in [&s.layers, &s.configs, &s.blobs] {
        let temps: Vec<String> = names(shelf).into_iter().filter(|n| shelf::is_temp(n)).collect();
        assert!(temps.is_empty(), "temp files left: {temps:?}");
    }
}

/// The writer processes; killed if the parent's checks fail first, so that they do not
/// recreate the temp dir after its guard removed it.
struct Writers(Vec<std::process::Child>);

impl Drop for Writers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn two_processes_writing_at_once_never_corrupt_entries() {
    let tmp = TempDir::new();
    let cache = Cache::open(tmp.path());
    let exe = std::env::current_exe().unwrap();
    let mut writers = Writers((0..2)
        .map(|me| {
            Command::new(&exe)
                .args(["cache::tests::writer_process", "--exact", "--test-threads=1", "--quiet"])
                .env(WRITER_ENV, format!("{me}:{}", tmp.path().display()))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect());
    let started = Instant::now();
    let (mut checks, mut seen) = (0, 0);
    while writers.0.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        assert!(started.elapsed() < Duration::from_secs(60), "the writers did not finish");
        seen += check_entries(&cache);
        checks += 1;
    }
    for child in std::mem::take(&mut writers.0) {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "writer failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"), "the child ran the writer");
    }
    assert!(checks > 1 && seen > 0, "the entries were read while written ({checks} passes, {seen} entries)");
    check_final(&cache, 2);
}
