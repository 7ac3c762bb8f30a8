//! Progress on stderr and results on stdout, end to end (issue 10).
//!
//! - Under a real pseudo-terminal (`script`), a push of a 64 MiB layer through a throttled
//!   proxy redraws a line per layer with its bytes, and the screen it leaves (replayed by a small
//!   terminal model) holds whole lines only: the outcomes and the result, no half-drawn block.
//!   Ctrl-C typed into that terminal mid-upload leaves the same clean screen and exits 130.
//! - In a pipe (CI) the lines carry no `\r` and no escape code.
//! - `--json` matches src/report/schema/push.json, is parsed by `jq` in a shell, and its digest,
//!   like `--digest-file`'s, is the one the registry serves.

use crate::fault_proxy::{self, Fault, FaultProxy};
use crate::listing::validate;
use crate::support::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const PUSH_SCHEMA: &str = include_str!("../../src/report/schema/push.json");

/// A fresh imported image with one `payload`-byte layer.
fn image(dir: &TestDir, images: &mut ImageGuard, what: &str, payload: usize) -> String {
    let name = format!("{}:1", unique(&format!("e2e-progress-{what}")));
    import_image(&dir.path, &name, payload);
    images.add(&name);
    name
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `cmd` run by `script` under a pseudo-terminal: the command's environment and directory
/// carried over, TERM set; what the terminal showed is the script's stdout.
pub(crate) fn in_terminal(cmd: Command, term_env: &[(&str, Option<&str>)]) -> Command {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux, Debian's bsdutils) is needed to run idpush under a pseudo-terminal");
    }
    let mut line = format!("exec {}", quote(&cmd.get_program().to_string_lossy()));
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(&a.to_string_lossy()));
    }
    let mut s = Command::new("script");
    s.args(["-qefc", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    if let Some(d) = cmd.get_current_dir() {
        s.current_dir(d);
    }
    s.env("SHELL", "/bin/sh").env("TERM", "xterm").env("COLUMNS", "100");
    for (k, v) in term_env {
        match v {
            Some(v) => s.env(k, v),
            None => s.env_remove(k),
        };
    }
    s
}

/// What a terminal shows after `raw`: a model of the few controls idpush writes (`\r`, `\n`,
/// cursor up `ESC[nA`, erase below `ESC[J`, colours `ESC[…m`). Panics on any other escape, so
/// the model never silently ignores what idpush draws.
pub(crate) fn screen(raw: &str) -> Vec<String> {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
                if lines.len() <= row {
                    lines.push(Vec::new());
                }
            }
            '\x1b' => {
                assert_eq!(chars.next(), Some('['), "an escape that is not CSI in {raw:?}");
                let mut arg = String::new();
                let end = loop {
                    match chars.next() {
                        Some(c) if c.is_ascii_digit() || c == ';' => arg.push(c),
                        Some(c) => break c,
                        None => panic!("a cut escape sequence at the end of {raw:?}"),
                    }
                };
                match end {
                    'A' => row = row.saturating_sub(arg.parse().unwrap_or(1)),
                    'J' => {
                        lines[row].truncate(col);
                        lines.truncate(row + 1);
                    }
                    'm' => {}
                    other => panic!("escape ESC[{arg}{other} is not in the model"),
                }
            }
            '^' if chars.peek() == Some(&'C') => {
                // The terminal's echo of Ctrl-C.
                chars.next();
                for c in ['^', 'C'] {
                    put(&mut lines[row], &mut col, c);
                }
            }
            c => put(&mut lines[row], &mut col, c),
        }
    }
    let mut out: Vec<String> = lines.into_iter().map(|l| l.into_iter().collect()).collect();
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

fn put(line: &mut Vec<char>, col: &mut usize, c: char) {
    if *col < line.len() {
        line[*col] = c;
    } else {
        line.resize(*col, ' ');
        line.push(c);
    }
    *col += 1;
}

#[test]
fn the_terminal_model_replays_redraws() {
    let raw = "a\r\nrow 1\r\nrow 2\r\n\x1b[2A\r\x1b[Jdone\r\n\x1b[36mrow\x1b[0m 3\r\n\x1b[1A\r\x1b[Jend\r\n";
    assert_eq!(screen(raw), vec!["a", "done", "end"]);
    assert_eq!(screen("x\r\nhalf"), vec!["x", "half"]);
}

/// Lines of `raw` whose text (colour removed) has `needle`.
fn frames_with(raw: &str, needle: &str) -> usize {
    let plain = strip_colour(raw);
    plain.split(['\n', '\r']).filter(|l| l.contains(needle)).count()
}

fn strip_colour(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The finished screen: whole lines, no live block (no layer row, no `total` line), no escape
/// code left.
pub(crate) fn assert_clean(screen: &[String], raw: &str) {
    let states = ["uploading", "reading", "reading, compressing", "waiting for the daemon"];
    for line in screen {
        let row = line.contains("  ") && (states.iter().any(|s| line.ends_with(s)) || line.contains("  retry ") || line.contains("(retry "));
        let live = row || line.starts_with("total  ") || line.contains('\x1b');
        assert!(!live, "a live line is left on the screen: {line:?}\nscreen:\n{}\nraw: {raw:?}", screen.join("\n"));
    }
}

#[test]
fn a_terminal_shows_each_layer_redrawn_and_is_left_clean() {
    let env = env();
    let dir = TestDir::new("progress-tty");
    let mut images = ImageGuard::new();
    let img = image(&dir, &mut images, "tty", 64 << 20);
    let proxy = FaultProxy::start(&env.registry);
    proxy.throttle(24 << 20);
    let repo = unique("e2e/progress-tty");
    let dest = format!("{}/{repo}:1", proxy.addr());
    let cmd = Idpush::new(&dir.sub("run"), &env.docker_host).args(["push", &img, &dest]).into_command();
    // Colour on: NO_COLOR unset.
    let out = run(in_terminal(cmd, &[("NO_COLOR", None)]), "script idpush push", Duration::from_secs(300));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let raw = &out.stdout;
    assert!(raw.contains("\x1b[36m"), "colour when NO_COLOR is not set: {raw:?}");
    // Redrawn in place: several frames of the layer's row with its bytes, then its outcome.
    let rows = frames_with(raw, "/ 64.0 MiB");
    assert!(rows >= 2, "the layer's row was drawn {rows} times (want a redraw):\n{raw:?}");
    assert!(frames_with(raw, "uploading") >= 2 && frames_with(raw, "total ") >= 2, "{raw:?}");
    assert!(raw.contains("\x1b[2A") || raw.contains("\x1b[1A"), "no redraw in place: {raw:?}");
    let shown = screen(raw);
    assert_clean(&shown, raw);
    let pushed_layer = shown.iter().any(|l| l.starts_with("layer sha256:") && l.ends_with("64.0 MiB pushed"));
    assert!(pushed_layer, "the layer's outcome line:\n{}", shown.join("\n"));
    let last = shown.last().unwrap();
    assert!(last.starts_with(&format!("{}/{repo}:1@sha256:", proxy.addr())), "the result is the last line:\n{}", shown.join("\n"));
    // Every frame fits the 100 columns asked for.
    for line in strip_colour(raw).split(['\n', '\r']) {
        assert!(line.chars().count() < 100 || !line.contains(" / "), "a row wider than the terminal: {line:?}");
    }
}

#[test]
fn ctrl_c_in_a_terminal_leaves_whole_lines_and_exits_130() {
    let shown = interrupted_in_terminal(b"\x03");
    let last = shown.last().unwrap();
    assert!(last.ends_with("idpush: interrupted (Ctrl-C); temporary files removed"), "last line: {last:?}\n{}", shown.join("\n"));
}

// A second Ctrl-C exits from the signal handler at once: the block is erased there too.
#[test]
fn a_second_ctrl_c_also_leaves_whole_lines() {
    interrupted_in_terminal(b"\x03\x03");
}

/// A push of a large layer under a pseudo-terminal, interrupted by typing `keys` once its upload
/// row is drawn: exit 130 and a clean screen, which is returned.
fn interrupted_in_terminal(keys: &[u8]) -> Vec<String> {
    let env = env();
    let dir = TestDir::new("progress-ctrl-c");
    let mut images = ImageGuard::new();
    let img = image(&dir, &mut images, "ctrlc", 64 << 20);
    let proxy = FaultProxy::start(&env.registry);
    proxy.throttle(4 << 20);
    let dest = format!("{}/{}:1", proxy.addr(), unique("e2e/progress-ctrl-c"));
    let cmd = Idpush::new(&dir.sub("run"), &env.docker_host).args(["push", &img, &dest]).into_command();
    let mut script = in_terminal(cmd, &[]);
    script.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = script.spawn().expect("run script");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut raw = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !String::from_utf8_lossy(&raw).contains("uploading") {
        assert!(Instant::now() < deadline, "no upload row in 120 s: {:?}", String::from_utf8_lossy(&raw));
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
            raw.extend(chunk);
        }
    }
    // Ctrl-C typed at the terminal: the line discipline sends SIGINT to the foreground job.
    let mut stdin = child.stdin.take().unwrap();
    // One key at a time (two ^C at once would be one pending SIGINT), a few ms apart: the
    // second lands while the first is being handled.
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        stdin.write_all(&[*key]).unwrap();
        stdin.flush().unwrap();
    }
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "idpush did not stop after Ctrl-C: {:?}", String::from_utf8_lossy(&raw));
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(stdin);
    while let Ok(chunk) = rx.recv_timeout(Duration::from_secs(2)) {
        raw.extend(chunk);
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    assert_eq!(status.code(), Some(130), "exit code after Ctrl-C: {raw:?}");
    let shown = screen(&raw);
    assert_clean(&shown, &raw);
    shown
}

#[test]
fn a_pipe_gets_plain_milestone_lines_without_escape_codes() {
    let env = env();
    let dir = TestDir::new("progress-plain");
    let mut images = ImageGuard::new();
    let img = image(&dir, &mut images, "plain", 4 << 20);
    let dest = format!("{}/{}:1", env.registry, unique("e2e/progress-plain"));
    // Colour allowed, progress auto: stderr is a pipe, so plain.
    let out = Idpush::new(&dir.sub("run"), &env.docker_host).args(["push", &img, &dest]).env("TERM", "xterm").run();
    let pushed = parse_pushed(&out);
    assert!(!out.stderr.contains('\r') && !out.stderr.contains('\x1b'), "a control code in a pipe:\n{:?}", out.stderr);
    let lines = out.stderr_lines();
    assert!(lines.iter().any(|l| l.starts_with("layer sha256:") && l.ends_with("4.0 MiB pushed")), "{}", out.describe());
    assert!(lines.iter().any(|l| l.starts_with(&format!("pushed {}", dest)) && l.contains(&pushed.digest)), "{}", out.describe());
    // --progress none and -q: nothing on stderr, the result on stdout.
    for flags in [&["--progress", "none"][..], &["-q"][..]] {
        let out = Idpush::new(&dir.sub(&unique("run")), &env.docker_host).args(["push", &img, &dest]).args(flags).run();
        assert_eq!(parse_pushed(&out).digest, pushed.digest);
        assert_eq!(out.stderr, "", "{flags:?}:\n{}", out.describe());
    }
    // --progress tty in a pipe is what was asked for, and still ends clean.
    let out = Idpush::new(&dir.sub(&unique("run")), &env.docker_host).args(["push", &img, &dest, "--progress", "tty"]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_clean(&screen(&out.stderr), &out.stderr);
    let out = Idpush::new(&dir.sub(&unique("run")), &env.docker_host).args(["push", &img, &dest, "--progress", "fancy"]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.starts_with("idpush: error: --progress \"fancy\": use auto, tty, plain or none"), "{}", out.describe());
}

/// Parses each stdout line as a JSON object matching push.json.
fn json_lines(out: &Output) -> Vec<Value> {
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let schema: Value = serde_json::from_str(PUSH_SCHEMA).expect("push.json is JSON");
    out.stdout
        .lines()
        .map(|l| {
            let doc: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {e}: {l:?}\n{}", out.describe()));
            validate(&schema, &doc, "$").unwrap_or_else(|e| panic!("does not match push.json: {e}\n{l}"));
            doc
        })
        .collect()
}

#[test]
fn json_results_match_the_schema_and_the_registry() {
    let env = env();
    let dir = TestDir::new("progress-json");
    let mut images = ImageGuard::new();
    let img = image(&dir, &mut images, "json", 1 << 20);
    let repo = unique("e2e/progress-json");
    let dest = format!("{}/{repo}:1", env.registry);
    let digest_file = dir.path.join("digest");
    let run = |extra: &[&str]| {
        Idpush::new(&dir.sub(&unique("run")), &env.docker_host)
            .args(["push", &img, &dest, "--json", "--digest-file", digest_file.to_str().unwrap()])
            .args(extra)
            .run()
    };
    let docs = json_lines(&run(&["--tag", "also"]));
    assert_eq!(docs.len(), 2, "one object per reference: {docs:?}");
    let (status, served) = registry_manifest_digest(&env.registry, &repo, "1");
    assert_eq!(status, 200);
    let served = served.expect("Docker-Content-Digest");
    assert_eq!(std::fs::read_to_string(&digest_file).unwrap(), format!("{served}\n"), "--digest-file");
    for (doc, tag) in docs.iter().zip(["1", "also"]) {
        assert_eq!(doc["digest"], served.as_str());
        assert_eq!(doc["reference"], format!("{}/{repo}:{tag}@{served}", env.registry));
        assert_eq!(doc["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");
        assert_eq!(doc["platforms"].as_array().map(Vec::len), Some(1), "the daemon's image has one platform: {doc}");
        let blobs = doc["blobs"].as_array().unwrap();
        assert_eq!(blobs.len(), 2, "a layer and the config: {doc}");
        assert!(blobs.iter().all(|b| b["outcome"] == "pushed"), "a first push uploads every blob: {doc}");
        assert_eq!(doc["size"].as_u64(), Some(blobs.iter().map(|b| b["size"].as_u64().unwrap()).sum()));
    }
    // Again: every blob is there already.
    let docs = json_lines(&run(&[]));
    assert_eq!(docs.len(), 1);
    assert!(docs[0]["blobs"].as_array().unwrap().iter().all(|b| b["outcome"] == "skipped"), "{}", docs[0]);
    // No temp file beside the digest file.
    assert_eq!(dir_entries(&dir.path).iter().filter(|e| e.starts_with('.')).count(), 0, "{:?}", dir_entries(&dir.path));
}

#[test]
fn a_shell_script_reads_the_json_with_jq() {
    let env = env();
    if Command::new("jq").arg("--version").output().is_err() {
        panic!("jq is needed for this test: scripts/test-env.sh install (Debian package jq)");
    }
    let dir = TestDir::new("progress-jq");
    let mut images = ImageGuard::new();
    let img = image(&dir, &mut images, "jq", 1 << 20);
    let repo = unique("e2e/progress-jq");
    let dest = format!("{}/{repo}:1", env.registry);
    let idpush = Idpush::new(&dir.sub("run"), &env.docker_host).into_command();
    let mut sh = Command::new("sh");
    for (k, v) in idpush.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.env("IDPUSH", idpush.get_program()).env("IMG", &img).env("DEST", &dest);
    // What a CI job does: push, keep the digest, list what went up.
    sh.args([
        "-ec",
        r#"out=$("$IDPUSH" push -q --json "$IMG" "$DEST")
digest=$(printf '%s\n' "$out" | jq -er .digest)
printf 'digest=%s\n' "$digest"
printf '%s\n' "$out" | jq -er '.blobs[] | "\(.outcome) \(.digest) \(.size)"'"#,
    ]);
    let out = run(sh, "sh | jq", Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let (_, served) = registry_manifest_digest(&env.registry, &repo, "1");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], format!("digest={}", served.unwrap()), "{}", out.describe());
    assert_eq!(lines.len(), 3, "{}", out.describe());
    assert!(lines[1..].iter().all(|l| l.starts_with("pushed sha256:")), "{}", out.describe());
}

#[test]
fn a_retry_shows_in_the_block_and_as_a_plain_line() {
    let env = env();
    let dir = TestDir::new("progress-retry");
    let mut images = ImageGuard::new();
    let img = image(&dir, &mut images, "retry", 4 << 20);
    for tty in [true, false] {
        let proxy = FaultProxy::start(&env.registry);
        let busy = Fault::Status { code: 503, headers: vec![("Retry-After".into(), "2".into())], body: String::new() };
        proxy.inject(fault_proxy::upload_start, busy.clone(), 1);
        proxy.inject(fault_proxy::blob_put, busy, 1);
        let dest = format!("{}/{}:1", proxy.addr(), unique("e2e/progress-retry"));
        let cmd = Idpush::new(&dir.sub(&unique("run")), &env.docker_host).args(["push", &img, &dest]).into_command();
        if tty {
            let out = run(in_terminal(cmd, &[]), "script idpush push", Duration::from_secs(300));
            assert_eq!(out.code, Some(0), "{}", out.describe());
            assert!(frames_with(&out.stdout, "retry 1 of 9 in ") >= 1, "no retry state in the block:\n{:?}", out.stdout);
            assert_clean(&screen(&out.stdout), &out.stdout);
        } else {
            let mut cmd = cmd;
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            let out = run(cmd, "idpush push", Duration::from_secs(300));
            assert_eq!(out.code, Some(0), "{}", out.describe());
            let retry = out.stderr_lines().into_iter().filter(|l| l.contains("(attempt 1 of 10)") && l.contains("retrying in")).count();
            assert_eq!(retry, 1, "one plain retry line:\n{}", out.describe());
            assert!(!out.stderr.contains('\x1b') && !out.stderr.contains('\r'), "{}", out.describe());
        }
        assert!(proxy.faulted() >= 1, "the proxy refused nothing:\n{}", proxy.describe());
    }
}

#[test]
fn plain_on_a_terminal_when_asked_or_when_term_is_dumb() {
    let env = env();
    let dir = TestDir::new("progress-plain-tty");
    let mut images = ImageGuard::new();
    let img = image(&dir, &mut images, "plaintty", 1 << 20);
    let dest = format!("{}/{}:1", env.registry, unique("e2e/progress-plain-tty"));
    for (flags, term) in [(&["--progress", "plain"][..], "xterm"), (&[][..], "dumb")] {
        let cmd = Idpush::new(&dir.sub(&unique("run")), &env.docker_host).args(["push", &img, &dest]).args(flags).into_command();
        let out = run(in_terminal(cmd, &[("NO_COLOR", None), ("TERM", Some(term))]), "script idpush push", Duration::from_secs(120));
        assert_eq!(out.code, Some(0), "{}", out.describe());
        // The terminal turns each \n into \r\n; idpush itself writes no \r and no escape.
        assert!(!out.stdout.contains('\x1b') && !out.stdout.replace("\r\n", "\n").contains('\r'), "{flags:?} TERM={term}: {:?}", out.stdout);
        assert!(out.stdout.contains("pushed"), "{}", out.describe());
    }
}
