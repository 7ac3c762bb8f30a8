//! `idpush build --json` and `--progress` (issue 10, as for push):
//! - `--json` is one object matching src/report/schema/build.json (its `pushed` items are
//!   push.json's, by `$ref`), and what it says of the image is what the registry serves: the
//!   manifest digest, the config, each layer (the base's marked `fromBase`), each output's tags;
//! - a shell script reads it with `jq`;
//! - in a pipe the progress lines carry no `\r` and no escape code; `--progress none` and `-q`
//!   print nothing on stderr; under a terminal the screen is left clean with the result last.

use crate::listing::validate;
use crate::progress::{assert_clean, in_terminal, screen};
use crate::support::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const BUILD_SCHEMA: &str = include_str!("../../src/report/schema/build.json");

/// A small context: two files.
fn context(dir: &TestDir) -> std::path::PathBuf {
    let ctx = dir.sub("ctx");
    std::fs::write(ctx.join("hello.txt"), "hello from build --json\n").unwrap();
    std::fs::write(ctx.join("data.bin"), "x".repeat(50_000)).unwrap();
    ctx
}

fn idpush(dir: &TestDir) -> Idpush {
    Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
}

/// Parses stdout as exactly one JSON line matching build.json.
fn json_doc(out: &Output) -> Value {
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert_eq!(out.stdout.lines().count(), 1, "one JSON object on one line:\n{}", out.describe());
    let schema: Value = serde_json::from_str(BUILD_SCHEMA).expect("build.json is JSON");
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", out.describe()));
    validate(&schema, &doc, "$").unwrap_or_else(|e| panic!("does not match build.json: {e}\n{}", out.describe()));
    doc
}

/// The check follows build.json's `$ref` into push.json: a pushed item push.json refuses is
/// refused here too (so the e2e check can fail).
#[test]
fn the_build_schema_check_follows_the_ref_and_can_fail() {
    let schema: Value = serde_json::from_str(BUILD_SCHEMA).unwrap();
    let d = format!("sha256:{}", "a".repeat(64));
    let blob = serde_json::json!({"digest": d, "mediaType": "m", "size": 1});
    let pushed = serde_json::json!({
        "reference": "h/r:1", "digest": d, "mediaType": "m", "platforms": ["linux/amd64"], "size": 1,
        "blobs": [{"digest": d, "size": 1, "outcome": "pushed"}], "seconds": 0.5
    });
    let good = serde_json::json!({
        "image": {"digest": d, "mediaType": "m", "platform": "linux/amd64", "size": 2, "config": blob,
            "layers": [{"digest": d, "mediaType": "m", "size": 1, "fromBase": false}]},
        "outputs": [{"kind": "oci", "path": "l", "tags": ["v1"], "reference": format!("oci:l@{d}")}],
        "pushed": [pushed.clone()],
        "seconds": 1.0
    });
    validate(&schema, &good, "$").unwrap();
    let mut null_platform = good.clone();
    null_platform["image"]["platform"] = Value::Null;
    validate(&schema, &null_platform, "$").unwrap();
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut bad = good.clone();
    bad["pushed"][0]["blobs"][0]["outcome"] = "lost".into();
    cases.push(("a pushed blob outcome push.json does not know", bad));
    let mut bad = good.clone();
    bad["pushed"][0].as_object_mut().unwrap().remove("seconds");
    cases.push(("a pushed item without seconds", bad));
    let mut bad = good.clone();
    bad["outputs"][0]["kind"] = "tar".into();
    cases.push(("an unknown output kind", bad));
    let mut bad = good.clone();
    bad["image"]["layers"][0].as_object_mut().unwrap().remove("fromBase");
    cases.push(("a layer without fromBase", bad));
    let mut bad = good.clone();
    bad["image"]["config"]["digest"] = "sha256:x".into();
    cases.push(("a bad config digest", bad));
    for (what, doc) in cases {
        assert!(validate(&schema, &doc, "$").is_err(), "{what}: accepted {doc}");
    }
}

/// On a daemon base, into an archive (tagged), a layout and the registry: the JSON says what
/// the registry serves.
#[test]
fn build_json_matches_the_schema_and_the_registry() {
    let dir = TestDir::new("build-json");
    let ctx = context(&dir);
    let mut images = ImageGuard::new();
    let base = format!("{}:v1", unique("e2e-build-json-base"));
    build_image(&dir.path, &base, "FROM scratch\nCOPY f /etc/base-file\n", &[("f", b"from the base\n")]);
    images.add(&base);
    let base_layers = image_diff_ids(&base).len();
    let repo = format!("e2e/{}", unique("build-json"));
    let dest = format!("{}/{repo}:v1", env().registry);
    let (archive, layout) = (dir.path.join("img.tar"), dir.path.join("layout"));
    let outputs = [format!("oci-archive:{}:v2", archive.display()), format!("oci:{}", layout.display())];
    let out = idpush(&dir)
        .args(["build", ctx.to_str().unwrap(), "--base", &base, "--json", "--tag", "v1"])
        .args(["--output", &outputs[0], "--output", &outputs[1], "--push", &dest])
        .run();
    let doc = json_doc(&out);
    // Progress stays on stderr.
    assert!(out.stderr.contains("wrote oci-archive:"), "{}", out.describe());

    let (status, served) = registry_manifest_digest(&env().registry, &repo, "v1");
    assert_eq!(status, 200);
    let served = served.expect("Docker-Content-Digest");
    let image = &doc["image"];
    assert_eq!(image["digest"], served.as_str());
    let manifest: Value = serde_json::from_slice(&skopeo_raw_manifest(&format!("{}/{repo}@{served}", env().registry))).unwrap();
    assert_eq!(image["mediaType"], manifest["mediaType"]);
    for key in ["digest", "mediaType", "size"] {
        assert_eq!(image["config"][key], manifest["config"][key], "config {key}");
    }
    let layers = image["layers"].as_array().unwrap();
    let served_layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), served_layers.len());
    assert_eq!(layers.len(), base_layers + 1, "the base's layers and the context's: {image}");
    for (i, (l, s)) in layers.iter().zip(served_layers).enumerate() {
        for key in ["digest", "mediaType", "size"] {
            assert_eq!(l[key], s[key], "layer {i} {key}");
        }
        assert_eq!(l["fromBase"], i < base_layers, "layer {i}: {l}");
    }
    let blob_sizes: u64 = layers.iter().chain([&image["config"]]).map(|b| b["size"].as_u64().unwrap()).sum();
    assert_eq!(image["size"].as_u64(), Some(blob_sizes));
    assert!(image["platform"].as_str().is_some_and(|p| p.starts_with("linux/")), "{image}");

    let written = doc["outputs"].as_array().unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!((written[0]["kind"].as_str(), written[1]["kind"].as_str()), (Some("oci-archive"), Some("oci")));
    assert_eq!(written[0]["path"], archive.to_str().unwrap());
    assert_eq!(written[1]["path"], layout.to_str().unwrap());
    assert_eq!(written[0]["tags"], serde_json::json!(["v2", "v1"]), "the output's own tag, then --tag");
    assert_eq!(written[1]["tags"], serde_json::json!(["v1"]));
    assert_eq!(written[0]["reference"], format!("{}@{served}", outputs[0]));
    // The layout's index names the image by its tag, with the same digest.
    let index: Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], served.as_str());
    assert!(archive.is_file());

    let pushed = doc["pushed"].as_array().unwrap();
    assert_eq!(pushed.len(), 1, "{doc}");
    assert_eq!(pushed[0]["reference"], format!("{dest}@{served}"));
    assert_eq!(pushed[0]["digest"], served.as_str());
    assert!(pushed[0]["blobs"].as_array().unwrap().iter().all(|b| b["outcome"] == "pushed" || b["outcome"] == "skipped"), "{doc}");

    // Without --push: `pushed` is empty.
    let out = idpush(&dir).args(["build", "-q", ctx.to_str().unwrap(), "--json", "--output", &format!("oci:{}", dir.path.join("l2").display())]).run();
    let doc = json_doc(&out);
    assert_eq!(doc["pushed"], serde_json::json!([]));
    assert_eq!(doc["image"]["layers"].as_array().map(|l| l.iter().all(|l| l["fromBase"] == false)), Some(true), "scratch: {doc}");
    assert_eq!(out.stderr, "", "-q: nothing on stderr:\n{}", out.describe());
}

#[test]
fn a_shell_script_reads_the_build_json_with_jq() {
    if Command::new("jq").arg("--version").output().is_err() {
        panic!("jq is needed for this test: scripts/test-env.sh install (Debian package jq)");
    }
    let dir = TestDir::new("build-json-jq");
    let ctx = context(&dir);
    let repo = format!("e2e/{}", unique("build-json-jq"));
    let dest = format!("{}/{repo}:v1", env().registry);
    let archive = format!("oci-archive:{}", dir.path.join("img.tar").display());
    let idpush = idpush(&dir).into_command();
    let mut sh = Command::new("sh");
    for (k, v) in idpush.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.env("IDPUSH", idpush.get_program()).env("CTX", &ctx).env("DEST", &dest).env("OUT", &archive);
    // What a CI job does: build and push, keep the digest, list the outputs and the layers.
    sh.args([
        "-ec",
        r#"out=$("$IDPUSH" build -q --json "$CTX" --output "$OUT" --push "$DEST")
printf 'digest=%s\n' "$(printf '%s\n' "$out" | jq -er .image.digest)"
printf 'pushed=%s\n' "$(printf '%s\n' "$out" | jq -er '.pushed[0].digest')"
printf '%s\n' "$out" | jq -er '.outputs[] | "\(.kind) \(.path)"'
printf '%s\n' "$out" | jq -er '.image.layers[] | "layer \(.fromBase) \(.size)"'"#,
    ]);
    let out = run(sh, "sh | jq", Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let (_, served) = registry_manifest_digest(&env().registry, &repo, "v1");
    let served = served.unwrap();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.describe());
    assert_eq!(lines[0], format!("digest={served}"));
    assert_eq!(lines[1], format!("pushed={served}"));
    assert_eq!(lines[2], format!("oci-archive {}", dir.path.join("img.tar").display()));
    assert!(lines[3].starts_with("layer false "), "{}", out.describe());
}

#[test]
fn build_progress_in_a_pipe_and_on_a_terminal() {
    let dir = TestDir::new("build-progress");
    let ctx = context(&dir);
    let repo = format!("e2e/{}", unique("build-progress"));
    let dest = format!("{}/{repo}:v1", env().registry);
    let layout = format!("oci:{}", dir.path.join("layout").display());
    // Auto in a pipe: plain milestone lines, no control code; stdout the result lines.
    let out = idpush(&dir).args(["build", ctx.to_str().unwrap(), "--output", &layout, "--push", &dest]).env("TERM", "xterm").run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(!out.stderr.contains('\r') && !out.stderr.contains('\x1b'), "a control code in a pipe:\n{:?}", out.stderr);
    let lines = out.stderr_lines();
    assert!(lines.iter().any(|l| l.starts_with("building ")), "{}", out.describe());
    assert!(lines.iter().any(|l| l.starts_with("layer sha256:") && l.ends_with("pushed")), "{}", out.describe());
    let results: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(results.len(), 2, "{}", out.describe());
    let digest = results[0].rsplit_once('@').unwrap().1.to_string();
    assert_eq!(results[1], format!("{dest}@{digest}"));
    // --progress none and -q: nothing on stderr, the same result.
    for flags in [&["--progress", "none"][..], &["-q"][..]] {
        let out = idpush(&dir).args(["build", ctx.to_str().unwrap(), "--output", &layout, "--push", &dest]).args(flags).run();
        assert_eq!(out.code, Some(0), "{}", out.describe());
        assert_eq!(out.stderr, "", "{flags:?}:\n{}", out.describe());
        assert_eq!(out.stdout.lines().last(), Some(format!("{dest}@{digest}").as_str()), "{flags:?}");
    }
    // --progress plain under a terminal: still no control code of idpush's own.
    let cmd = idpush(&dir).args(["build", ctx.to_str().unwrap(), "--output", &layout, "--progress", "plain"]).into_command();
    let out = run(in_terminal(cmd, &[("NO_COLOR", None)]), "script idpush build", Duration::from_secs(120));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(!out.stdout.contains('\x1b') && !out.stdout.replace("\r\n", "\n").contains('\r'), "{:?}", out.stdout);
    // Auto under a terminal (tty), an 8 MiB layer of noise through a 4 MiB/s proxy: the
    // layer's row is drawn while it uploads, the screen is left clean, the result lines last.
    let big = dir.sub("big");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let noise: Vec<u8> = (0..8 << 20).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }).collect();
    std::fs::write(big.join("noise.bin"), noise).unwrap();
    let proxy = crate::fault_proxy::FaultProxy::start(&env().registry);
    proxy.throttle(4 << 20);
    let dest = format!("{}/{repo}:tty", proxy.addr());
    let cmd = idpush(&dir).args(["build", big.to_str().unwrap(), "--push", &dest]).into_command();
    let out = run(in_terminal(cmd, &[("NO_COLOR", None)]), "script idpush build", Duration::from_secs(300));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stdout.contains("uploading") && out.stdout.contains("\x1b["), "no live row while the layer uploads:\n{:?}", out.stdout);
    let shown = screen(&out.stdout);
    assert_clean(&shown, &out.stdout);
    let last = shown.last().cloned().unwrap_or_default();
    assert!(last.starts_with(&format!("{dest}@sha256:")), "the result is the last line:\n{}", shown.join("\n"));
    // A bad mode is one error line.
    let out = idpush(&dir).args(["build", ctx.to_str().unwrap(), "--output", &layout, "--progress", "fancy"]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(out.stderr.starts_with("idpush: error: --progress \"fancy\": use auto, tty, plain or none"), "{}", out.describe());
}
