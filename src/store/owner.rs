//! Who owns a spool dir, and sweeping the dirs whose owner is gone.
//!
//! A run killed with SIGKILL (or by the OOM killer) cannot remove its spool dir, which can hold
//! gigabytes. So each dir records its owner in a file, [`MARKER`]: the pid, the process's start
//! time (field 22 of `/proc/PID/stat`, clock ticks since boot), the boot id and the pid
//! namespace. Before it makes its own dir, a run removes the `idpush-*` dirs in the same parent
//! whose owner is gone ([`sweep`]):
//!
//! - marker names this boot, this pid namespace, and a process with that pid and start time
//!   that has not exited: **kept** (a live run's dir is never touched);
//! - no such process, a zombie, or one with another start time (the pid was reused), or another
//!   boot: **removed**;
//! - marker from another pid namespace (a container sharing the temp dir): **kept**, its pids
//!   mean nothing here;
//! - no marker, or one that does not parse: **kept** while younger than [`UNMARKED_GRACE`] (a
//!   live run writes its marker right after `mkdir`, and an idpush from before markers may still
//!   be working); after that, removed only if it is named like ours (`idpush-PID-N-HEX`) and no
//!   process with that PID runs.
//!
//! Only real directories owned by our user are considered; symlinks and other users' dirs are
//! left alone. Liveness comes from `/proc`; without it nothing is swept.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The owner file inside each spool dir.
pub const MARKER: &str = "owner";
/// First line of [`MARKER`]: says the dir is an idpush spool dir.
const MAGIC: &str = "idpush spool dir";
/// How long a dir without a readable marker is left alone, whatever its name says.
pub const UNMARKED_GRACE: Duration = Duration::from_secs(10 * 60);

/// A process as the owner of a spool dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start: u64,
    /// `/proc/sys/kernel/random/boot_id`, empty if unknown.
    pub boot: String,
    /// The target of `/proc/self/ns/pid` (`pid:[4026531836]`), empty if unknown.
    pub pidns: String,
}

impl Owner {
    /// This process, or `None` without a readable `/proc`.
    pub fn me() -> Option<&'static Owner> {
        static ME: OnceLock<Option<Owner>> = OnceLock::new();
        ME.get_or_init(|| {
            let pid = std::process::id();
            let stat = proc_stat(pid)?;
            let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
            let pidns = fs::read_link("/proc/self/ns/pid").map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            Some(Owner { pid, start: stat.start, boot: boot.trim().to_string(), pidns })
        })
        .as_ref()
    }

    fn to_text(&self) -> String {
        format!("{MAGIC}\npid {}\nstart {}\nboot {}\npidns {}\n", self.pid, self.start, self.boot, self.pidns)
    }

    fn parse(text: &str) -> Option<Owner> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut field = |key: &str| lines.next()?.strip_prefix(key)?.strip_prefix(' ').map(str::to_string);
        let pid = field("pid")?.parse().ok()?;
        let start = field("start")?.parse().ok()?;
        let boot = field("boot")?;
        let pidns = field("pidns")?;
        Some(Owner { pid, start, boot, pidns })
    }
}

/// Writes the marker of `owner` into the fresh dir `dir`.
pub fn write_marker(dir: &Path, owner: &Owner) -> io::Result<()> {
    // One write of ~100 bytes: a reader sees all of it or, at worst, a short file that does
    // not parse (and is then kept, see the module docs).
    fs::File::create_new(dir.join(MARKER))?.write_all(owner.to_text().as_bytes())
}

/// What `/proc/PID/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie: exited, not yet reaped), `X` (dead), …
    pub state: char,
    pub start: u64,
}

/// `/proc/PID/stat` of a running (or zombie) process; `None` if there is none.
fn proc_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Parses `PID (COMM) STATE PPID … STARTTIME …`. COMM may hold spaces and parentheses, so
/// the fields are counted from the last `)`: STATE is field 3, STARTTIME field 22.
fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(22 - 3)?.parse().ok()?;
    Some(ProcStat { state, start })
}

/// Whether a dir's recorded owner still runs.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Live,
    /// Cannot be told from here (another pid namespace): kept.
    Unknown,
    /// Gone, and why.
    Gone(&'static str),
}

fn judge(marker: &Owner, me: &Owner, probe: &dyn Fn(u32) -> Option<ProcStat>) -> Verdict {
    if !marker.boot.is_empty() && !me.boot.is_empty() && marker.boot != me.boot {
        return Verdict::Gone("made before the last reboot");
    }
    if marker.pidns != me.pidns {
        return Verdict::Unknown;
    }
    match probe(marker.pid) {
        None => Verdict::Gone("its process is gone"),
        Some(p) if p.state == 'Z' || p.state == 'X' => Verdict::Gone("its process has exited"),
        Some(p) if p.start != marker.start => Verdict::Gone("its pid now belongs to another process"),
        Some(_) => Verdict::Live,
    }
}

/// The pid in a name like ours, `idpush-PID-N-HEX`.
fn pid_in_name(name: &str) -> Option<u32> {
    let mut parts = name.strip_prefix("idpush-")?.split('-');
    let (pid, n, hex) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let ok = parts.next().is_none() && digits(pid) && digits(n) && !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        pid.parse().ok()
    } else {
        None
    }
}

/// Why the dir `path` (named `name`) is stale, or `None` to keep it.
fn stale_reason(path: &Path, name: &str, me: &Owner, probe: &dyn Fn(u32) -> Option<ProcStat>, now: SystemTime) -> Option<&'static str> {
    let marker = fs::read_to_string(path.join(MARKER)).ok().and_then(|t| Owner::parse(&t));
    match marker {
        Some(owner) => match judge(&owner, me, probe) {
            Verdict::Gone(why) => Some(why),
            Verdict::Live | Verdict::Unknown => None,
        },
        None => {
            let modified = fs::symlink_metadata(path).and_then(|m| m.modified()).ok()?;
            let old = now.duration_since(modified).is_ok_and(|age| age >= UNMARKED_GRACE);
            let pid = pid_in_name(name)?;
            let dead = probe(pid).is_none_or(|p| p.state == 'Z' || p.state == 'X');
            (old && dead).then_some("it has no owner file and its process is gone")
        }
    }
}

extern "C" {
    fn geteuid() -> u32;
}

/// Removes the stale `idpush-*` dirs in `parent` (see the module docs); returns those removed.
/// Best effort: a dir that cannot be read or removed is left, and logged at debug.
pub fn sweep(parent: &Path) -> Vec<PathBuf> {
    match Owner::me() {
        Some(me) => sweep_with(parent, me, &proc_stat, SystemTime::now()),
        None => {
            log::debug!("not sweeping {}: /proc/self/stat is not readable", parent.display());
            Vec::new()
        }
    }
}

fn sweep_with(parent: &Path, me: &Owner, probe: &dyn Fn(u32) -> Option<ProcStat>, now: SystemTime) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir(parent) else { return Vec::new() };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { geteuid() };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("idpush-") {
            continue;
        }
        let path = entry.path();
        // symlink_metadata: a symlink named idpush-* is not a dir of ours, whatever it points at.
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && m.uid() == uid => {}
            _ => continue,
        }
        let Some(why) = stale_reason(&path, &name, me, probe, now) else { continue };
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                log::debug!("removed the stale temp dir {} ({why})", path.display());
                removed.push(path);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {} // another run swept it first
            Err(e) => log::debug!("cannot remove the stale temp dir {}: {e}", path.display()),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TempDir;

    fn me() -> Owner {
        Owner::me().expect("/proc/self/stat readable").clone()
    }

    /// A pid that was in use a moment ago and is free now.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    fn spool_dir(parent: &TempDir, name: &str, marker: Option<&Owner>) -> PathBuf {
        let dir = parent.join(name);
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("blobs/sha256/tmp-1"), vec![7u8; 4096]).unwrap();
        if let Some(owner) = marker {
            write_marker(&dir, owner).unwrap();
        }
        dir
    }

    fn age(dir: &Path, by: Duration) {
        let when = SystemTime::now() - by;
        fs::File::open(dir).unwrap().set_modified(when).unwrap();
    }

    #[test]
    fn marker_round_trips() {
        let me = me();
        assert_eq!(Owner::parse(&me.to_text()), Some(me.clone()));
        assert_eq!(Owner::parse("something else\npid 1\n"), None);
        assert_eq!(Owner::parse(&me.to_text()[..20]), None, "a short file does not parse");
    }

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "4242 (a) b (c) d) S 1 4242 4242 0 -1 4194304 10 0 0 0 0 0 0 0 20 0 1 0 987654 3133440 384 1";
        assert_eq!(parse_stat(line), Some(ProcStat { state: 'S', start: 987654 }));
        assert_eq!(parse_stat("4242 (short) S 1 2"), None);
        assert_eq!(parse_stat(""), None);
        let mine = proc_stat(std::process::id()).unwrap();
        assert_eq!(mine.start, me().start);
    }

    // Regression (issue 7, defect 5): a SIGKILLed run's dir stayed forever; only a gone owner's
    // dir may go, never a live one's.
    #[test]
    fn sweep_removes_dirs_whose_owner_is_gone_and_keeps_live_ones() {
        let parent = TempDir::new("sweep");
        let me = me();
        let live = spool_dir(&parent, "idpush-1-0-a", Some(&me));
        let dead = spool_dir(&parent, "idpush-2-0-b", Some(&Owner { pid: dead_pid(), ..me.clone() }));
        let reused = spool_dir(&parent, "idpush-3-0-c", Some(&Owner { start: me.start + 1, ..me.clone() }));
        let rebooted = spool_dir(&parent, "idpush-4-0-d", Some(&Owner { boot: "another-boot".into(), ..me.clone() }));
        let other_ns = spool_dir(&parent, "idpush-5-0-e", Some(&Owner { pid: dead_pid(), pidns: "pid:[1]".into(), ..me.clone() }));
        let not_ours = spool_dir(&parent, "other-6-0-f", Some(&Owner { pid: dead_pid(), ..me.clone() }));

        let removed = sweep(parent.path());
        for (dir, gone) in [(&live, false), (&dead, true), (&reused, true), (&rebooted, true), (&other_ns, false), (&not_ours, false)] {
            assert_eq!(!dir.exists(), gone, "{}", dir.display());
            assert_eq!(removed.contains(dir), gone, "{}", dir.display());
        }
        assert!(live.join("blobs/sha256/tmp-1").exists(), "a live run's files are untouched");
    }

    #[test]
    fn a_dir_without_a_marker_goes_only_when_old_and_its_named_pid_is_gone() {
        let parent = TempDir::new("unmarked");
        let dead = dead_pid();
        let young = spool_dir(&parent, &format!("idpush-{dead}-0-1a"), None);
        let old = spool_dir(&parent, &format!("idpush-{dead}-1-2b"), None);
        let old_live = spool_dir(&parent, &format!("idpush-{}-2-3c", std::process::id()), None);
        let old_odd_name = spool_dir(&parent, &format!("idpush-store-test-{dead}"), None);
        let old_garbage = spool_dir(&parent, &format!("idpush-{dead}-3-4d"), None);
        fs::write(old_garbage.join(MARKER), "idpush spool dir\npid x\n").unwrap();
        for d in [&old, &old_live, &old_odd_name] {
            age(d, UNMARKED_GRACE + Duration::from_secs(60));
        }
        age(&old_garbage, UNMARKED_GRACE + Duration::from_secs(60));

        let removed = sweep(parent.path());
        assert!(young.exists(), "a young dir may be a run that has not written its marker yet");
        assert!(!old.exists(), "an old unmarked dir whose pid is gone is stale");
        assert!(old_live.exists(), "an unmarked dir whose pid runs is kept");
        assert!(old_odd_name.exists(), "a dir not named like ours is kept");
        assert!(!old_garbage.exists(), "an unreadable marker counts as none");
        assert_eq!(removed.len(), 2, "{removed:?}");
    }

    #[test]
    fn sweep_ignores_symlinks_and_files() {
        let parent = TempDir::new("symlink");
        let target = TempDir::new("symlink-target");
        let me = me();
        let victim = spool_dir(&target, "idpush-7-0-a", Some(&Owner { pid: dead_pid(), ..me }));
        std::os::unix::fs::symlink(&victim, parent.join("idpush-8-0-b")).unwrap();
        fs::write(parent.join("idpush-9-0-c"), b"a file").unwrap();
        assert!(sweep(parent.path()).is_empty());
        assert!(victim.exists(), "a symlink is never followed");
        assert!(parent.join("idpush-9-0-c").exists());
    }

    #[test]
    fn zombies_count_as_gone() {
        let me = me();
        let zombie = |_: u32| Some(ProcStat { state: 'Z', start: me.start });
        assert_eq!(judge(&me, &me, &zombie), Verdict::Gone("its process has exited"));
        let running = |_: u32| Some(ProcStat { state: 'S', start: me.start });
        assert_eq!(judge(&me, &me, &running), Verdict::Live);
    }
}
