//! `idpush catalog`, `idpush tags` and `idpush inspect` against the real registries: every
//! repository and tag across pages forced small with `--page-size`, inspect of a Docker image
//! and of an OCI index written into the registry, the token-auth registry, a registry without
//! a catalog, missing repositories and manifests. Every `--json` output is checked against its
//! schema in src/report/schema/.

use crate::support::*;
use crate::token_server::ensure;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

const CATALOG_SCHEMA: &str = include_str!("../../src/report/schema/catalog.json");
const TAGS_SCHEMA: &str = include_str!("../../src/report/schema/tags.json");
const INSPECT_SCHEMA: &str = include_str!("../../src/report/schema/inspect.json");

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn idpush(dir: &TestDir) -> Idpush {
    Idpush::new(&dir.sub(&unique("run")), &env().docker_host)
}

// ---------------------------------------------------------------------------------------------
// A JSON Schema check: the subset our schemas use (type, enum, required, properties,
// additionalProperties, items, minimum, the one sha256 pattern, and $ref to a sibling schema file
// of src/report/schema/, e.g. "push.json"). Anything else in a schema fails the test, so the
// check never silently weakens.

pub(crate) fn validate(schema: &Value, doc: &Value, at: &str) -> Result<(), String> {
    let obj = schema.as_object().ok_or_else(|| format!("{at}: schema is not an object"))?;
    for key in obj.keys() {
        let known = ["$schema", "$id", "title", "description", "type", "enum", "required", "properties",
            "additionalProperties", "items", "minimum", "pattern", "$ref"];
        if !known.contains(&key.as_str()) {
            panic!("{at}: the schema check does not know keyword {key:?}: teach it");
        }
    }
    if let Some(name) = obj.get("$ref") {
        let name = name.as_str().unwrap_or_else(|| panic!("{at}: $ref is not a string"));
        assert!(name.ends_with(".json") && !name.contains('/'), "{at}: the schema check knows only $ref to a sibling file, not {name:?}");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report/schema").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{at}: $ref {}: {e}", path.display()));
        let referred: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{at}: $ref {name} is not JSON: {e}"));
        validate(&referred, doc, &format!("{at}<{name}>"))?;
    }
    if let Some(types) = obj.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
            _ => panic!("{at}: bad type keyword"),
        };
        let ok = types.iter().any(|t| match *t {
            "object" => doc.is_object(),
            "array" => doc.is_array(),
            "string" => doc.is_string(),
            "integer" => doc.is_u64() || doc.is_i64(),
            "number" => doc.is_number(),
            "boolean" => doc.is_boolean(),
            "null" => doc.is_null(),
            other => panic!("{at}: unknown type {other}"),
        });
        if !ok {
            return Err(format!("{at}: {doc} is not of type {types:?}"));
        }
    }
    if let Some(Value::Array(choices)) = obj.get("enum") {
        if !choices.contains(doc) {
            return Err(format!("{at}: {doc} is not one of {choices:?}"));
        }
    }
    if let (Some(min), Some(n)) = (obj.get("minimum").and_then(Value::as_i64), doc.as_f64()) {
        if n < min as f64 {
            return Err(format!("{at}: {n} < {min}"));
        }
    }
    if let (Some(pattern), Some(s)) = (obj.get("pattern").and_then(Value::as_str), doc.as_str()) {
        assert_eq!(pattern, "^sha256:[0-9a-f]{64}$", "{at}: the schema check knows only the sha256 pattern");
        if !is_sha256_digest(s) {
            return Err(format!("{at}: {s:?} is not a sha256 digest"));
        }
    }
    if let Some(map) = doc.as_object() {
        for req in obj.get("required").and_then(Value::as_array).into_iter().flatten() {
            let req = req.as_str().unwrap();
            if !map.contains_key(req) {
                return Err(format!("{at}: required key {req:?} is missing"));
            }
        }
        let props = obj.get("properties").and_then(Value::as_object);
        for (k, v) in map {
            match (props.and_then(|p| p.get(k)), obj.get("additionalProperties")) {
                (Some(sub), _) => validate(sub, v, &format!("{at}.{k}"))?,
                (None, Some(Value::Bool(false))) => return Err(format!("{at}: key {k:?} is not in the schema")),
                (None, Some(sub @ Value::Object(_))) => validate(sub, v, &format!("{at}.{k}"))?,
                (None, _) => {}
            }
        }
    }
    if let (Some(items), Some(list)) = (obj.get("items"), doc.as_array()) {
        for (i, v) in list.iter().enumerate() {
            validate(items, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Parses stdout as one JSON document and checks it against `schema`.
fn json_output(out: &Output, schema: &str) -> Value {
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", out.describe()));
    let schema: Value = serde_json::from_str(schema).expect("the schema is JSON");
    validate(&schema, &doc, "$").unwrap_or_else(|e| panic!("output does not match its schema: {e}\n{}", out.describe()));
    doc
}

#[test]
fn the_schema_check_can_fail() {
    let schema: Value = serde_json::from_str(INSPECT_SCHEMA).unwrap();
    let good = serde_json::json!({
        "reference": "h/r:t", "digest": format!("sha256:{}", "a".repeat(64)), "media_type": DOCKER_MANIFEST,
        "kind": "image", "size": 1, "manifests": [], "config": null, "layers": [], "layers_size": 0
    });
    validate(&schema, &good, "$").unwrap();
    let mut cases = Vec::new();
    for (key, bad) in [("kind", Value::from("blob")), ("size", Value::from(-1)), ("digest", Value::from("sha256:x")),
        ("layers", Value::from("none")), ("config", serde_json::json!({"digest": 1}))] {
        let mut doc = good.clone();
        doc[key] = bad;
        cases.push((key.to_string(), doc));
    }
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("media_type");
    cases.push(("no media_type".into(), missing));
    let mut extra = good.clone();
    extra["surprise"] = Value::from(1);
    cases.push(("extra key".into(), extra));
    for (what, doc) in cases {
        assert!(validate(&schema, &doc, "$").is_err(), "{what}: accepted {doc}");
    }
}

// ---------------------------------------------------------------------------------------------
// Direct registry access for setting up (plain HTTP, the open test registry).


/// The manifest bytes of `repo:reference` on the open registry.
fn manifest_bytes(host: &str, repo: &str, reference: &str) -> Vec<u8> {
    let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";
    let r = crate::http::request("GET", host, &format!("/v2/{repo}/manifests/{reference}"), &[("Accept", accept)]).unwrap();
    assert_eq!(r.status, 200, "GET manifest {repo}:{reference}");
    r.body
}

/// A small image pushed to `dest` with idpush; returns what idpush printed.
fn pushed(dir: &TestDir, images: &mut ImageGuard, dest: &str, payload: usize, extra: &[&str]) -> Pushed {
    let name = format!("{}:v1", unique("e2e-list"));
    import_image(&dir.path, &name, payload);
    images.add(&name);
    let out = idpush(dir).args(["push", &name, dest]).args(extra).run();
    parse_pushed(&out)
}

fn lines(out: &Output) -> Vec<String> {
    assert_eq!(out.code, Some(0), "{}", out.describe());
    out.stdout.lines().map(str::to_string).collect()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn catalog_and_tags_list_every_page() {
    let reg = env().registry.clone();
    let dir = TestDir::new("list-pages");
    let mut images = ImageGuard::new();
    let prefix = format!("list/{}", unique("pages"));
    let repos: Vec<String> = (0..3).map(|i| format!("{prefix}-{i}")).collect();
    let first = pushed(&dir, &mut images, &format!("{reg}/{}:v1", repos[0]), 2048, &[]);
    for r in &repos[1..] {
        // The same daemon image again: its blobs are mounted.
        parse_pushed(&idpush(&dir).args(["push", &images.names[0], &format!("{reg}/{r}:v1")]).run());
    }
    // Twelve more tags on the first repository: the manifest PUT under each.
    let manifest = manifest_bytes(&reg, &first.repo, "v1");
    let mut want_tags: Vec<String> = vec!["v1".into()];
    for i in 0..12 {
        let tag = format!("t{i:02}");
        assert_eq!(registry_put(&reg, &format!("/v2/{}/manifests/{tag}", first.repo), DOCKER_MANIFEST, &manifest), 201);
        want_tags.push(tag);
    }

    // The catalog in pages of 2 (the registry holds many more repositories than that).
    let paged = json_output(&idpush(&dir).args(["catalog", &reg, "--page-size", "2", "--json"]).run(), CATALOG_SCHEMA);
    assert_eq!(paged["registry"], reg.as_str());
    let paged: Vec<String> = paged["repositories"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    for r in &repos {
        assert!(paged.contains(r), "{r} missing from the catalog in pages of 2: {paged:?}");
    }
    let mut unique_names = paged.clone();
    unique_names.sort();
    unique_names.dedup();
    assert_eq!(unique_names.len(), paged.len(), "a repository listed twice: {paged:?}");
    // One big page gives at least the same (other tests may push meanwhile).
    let whole = lines(&idpush(&dir).args(["catalog", &reg, "--page-size", "1000"]).run());
    for r in &paged {
        assert!(whole.contains(r), "{r} listed in pages but not in one page");
    }
    assert!(paged.len() > 2 * 3, "the catalog had only {} repositories: paging not exercised", paged.len());

    // Tags in pages of 5: 13 tags, 3 pages.
    let repo = format!("{reg}/{}", first.repo);
    let mut got = lines(&idpush(&dir).args(["tags", &repo, "--page-size", "5"]).run());
    got.sort();
    want_tags.sort();
    assert_eq!(got, want_tags);
    let doc = json_output(&idpush(&dir).args(["tags", &repo, "--page-size", "1", "--json"]).run(), TAGS_SCHEMA);
    assert_eq!(doc["repository"], repo.as_str());
    assert_eq!(doc["tags"].as_array().unwrap().len(), 13);
    // A path on the default registry (-r) works the same.
    let got = lines(&idpush(&dir).args(["tags", &first.repo, "-r", &format!("http://{reg}")]).run());
    assert_eq!(got.len(), 13);
}

#[test]
fn inspect_shows_a_docker_image_with_config_and_layers() {
    let reg = env().registry.clone();
    let dir = TestDir::new("list-inspect");
    let mut images = ImageGuard::new();
    let base = format!("{}:v1", unique("e2e-list-base"));
    import_image(&dir.path, &base, 3000);
    images.add(&base);
    let name = format!("{}:v1", unique("e2e-list-built"));
    let dockerfile = format!(
        "FROM {base}\nCOPY a.txt /a.txt\nLABEL org.example.team=platform org.example.tier=\"back end\"\n\
         ENTRYPOINT [\"/bin/app\", \"--flag\"]\nCMD [\"serve\"]\nWORKDIR /srv\n"
    );
    build_image(&dir.path, &name, &dockerfile, &[("a.txt", b"hello inspect\n")]);
    images.add(&name);
    let dest = format!("{reg}/list/{}:1.0", unique("inspect"));
    let p = parse_pushed(&idpush(&dir).args(["push", &name, &dest]).run());

    let doc = json_output(&idpush(&dir).args(["inspect", &dest, "--json"]).run(), INSPECT_SCHEMA);
    assert_eq!(doc["reference"], dest.as_str());
    assert_eq!(doc["digest"], p.digest.as_str());
    assert_eq!(doc["kind"], "image");
    assert_eq!(doc["media_type"], DOCKER_MANIFEST);
    let manifest: Value = serde_json::from_slice(&manifest_bytes(&reg, &p.repo, "1.0")).unwrap();
    assert_eq!(doc["size"].as_u64().unwrap() as usize, manifest_bytes(&reg, &p.repo, "1.0").len());
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers.len(), manifest["layers"].as_array().unwrap().len());
    assert!(layers.len() >= 2, "base layer + COPY (+ WORKDIR)");
    for (got, want) in layers.iter().zip(manifest["layers"].as_array().unwrap()) {
        assert_eq!(got["digest"], want["digest"]);
        assert_eq!(got["size"], want["size"]);
        assert_eq!(got["media_type"], want["mediaType"]);
    }
    let sum: u64 = layers.iter().map(|l| l["size"].as_u64().unwrap()).sum();
    assert_eq!(doc["layers_size"].as_u64().unwrap(), sum);
    let config = &doc["config"];
    assert_eq!(config["digest"], manifest["config"]["digest"]);
    assert_eq!(config["digest"].as_str().unwrap(), image_id(&name), "the config is the image");
    assert_eq!(config["entrypoint"], serde_json::json!(["/bin/app", "--flag"]));
    assert_eq!(config["cmd"], serde_json::json!(["serve"]));
    assert_eq!(config["working_dir"], "/srv");
    assert_eq!(config["labels"], serde_json::json!({"org.example.team": "platform", "org.example.tier": "back end"}));
    let docker_platform = docker(&["image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", &name]);
    assert_eq!(config["platform"].as_str().unwrap(), docker_platform.trim());
    let created = docker(&["image", "inspect", "-f", "{{.Created}}", &name]);
    assert_eq!(config["created"].as_str().unwrap(), created.trim());
    assert_eq!(doc["manifests"], serde_json::json!([]));

    // Text for people: the same facts, by digest too.
    let out = idpush(&dir).args(["inspect", &p.by_digest()]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for want in [
        p.digest.as_str(),
        DOCKER_MANIFEST,
        "org.example.team=platform",
        "\n             org.example.tier=back end\n",
        "[\"/bin/app\",\"--flag\"]",
        &format!("layers:      {},", layers.len()),
        layers[0]["digest"].as_str().unwrap(),
    ] {
        assert!(out.stdout.contains(want), "{want:?} not in:\n{}", out.stdout);
    }
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr);
}

#[test]
fn inspect_shows_the_platforms_of_an_oci_index() {
    let reg = env().registry.clone();
    let dir = TestDir::new("list-index");
    let mut images = ImageGuard::new();
    let repo = format!("list/{}", unique("index"));
    let amd = pushed(&dir, &mut images, &format!("{reg}/{repo}:amd64"), 1000, &[]);
    let arm = pushed(&dir, &mut images, &format!("{reg}/{repo}:arm64"), 1500, &[]);
    let size = |tag: &str| manifest_bytes(&reg, &repo, tag).len();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST, "digest": amd.digest, "size": size("amd64"),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": DOCKER_MANIFEST, "digest": arm.digest, "size": size("arm64"),
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
            {"mediaType": DOCKER_MANIFEST, "digest": arm.digest, "size": size("arm64"),
             "platform": {"os": "unknown", "architecture": "unknown"},
             "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd.digest}}
        ]
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    assert_eq!(registry_put(&reg, &format!("/v2/{repo}/manifests/multi"), OCI_INDEX, &bytes), 201, "PUT the index");

    let reference = format!("{reg}/{repo}:multi");
    let doc = json_output(&idpush(&dir).args(["inspect", &reference, "--json"]).run(), INSPECT_SCHEMA);
    assert_eq!(doc["kind"], "index");
    assert_eq!(doc["media_type"], OCI_INDEX);
    assert_eq!(doc["digest"].as_str().unwrap(), sha256_digest(&bytes));
    assert_eq!(doc["config"], Value::Null);
    assert_eq!(doc["layers"], serde_json::json!([]));
    let children = doc["manifests"].as_array().unwrap();
    let platforms: Vec<&str> = children.iter().map(|c| c["platform"].as_str().unwrap()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8", "unknown/unknown"]);
    let attestation: Vec<bool> = children.iter().map(|c| c["attestation"].as_bool().unwrap()).collect();
    assert_eq!(attestation, [false, false, true]);
    assert_eq!(children[0]["digest"], amd.digest.as_str());
    assert_eq!(children[1]["size"].as_u64().unwrap() as usize, size("arm64"));

    let out = idpush(&dir).args(["inspect", &reference]).run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    for want in ["kind:        index", "manifests:   3", "linux/amd64", "linux/arm64/v8", "attestation", &amd.digest, &arm.digest] {
        assert!(out.stdout.contains(want), "{want:?} not in:\n{}", out.stdout);
    }
    // A child by its digest is an image.
    let child = json_output(&idpush(&dir).args(["inspect", &format!("{reg}/{repo}@{}", arm.digest), "--json"]).run(), INSPECT_SCHEMA);
    assert_eq!(child["kind"], "image");
}

#[test]
fn the_token_registry_lists_and_inspects_with_credentials() {
    let a = ensure();
    let dir = TestDir::new("list-token");
    let mut images = ImageGuard::new();
    let host = a.token_registry.clone();
    let creds = ["-u", a.user.as_str(), "-p", a.password.as_str()];
    let repo = format!("list/{}", unique("token"));
    let p = pushed(&dir, &mut images, &format!("{host}/{repo}:v1"), 1200, &creds);

    let tags = lines(&idpush(&dir).args(["tags", &format!("{host}/{repo}"), "--page-size", "1"]).args(creds).run());
    assert_eq!(tags, ["v1"]);
    let out = idpush(&dir)
        .args(["tags", &format!("{host}/{repo}"), "-u", &a.user, "--password-stdin"])
        .run_with_stdin(format!("{}\n", a.password).as_bytes());
    assert_eq!(lines(&out), ["v1"], "--password-stdin");
    let doc = json_output(&idpush(&dir).args(["inspect", &format!("{host}/{repo}:v1"), "--json"]).args(creds).run(), INSPECT_SCHEMA);
    assert_eq!(doc["digest"], p.digest.as_str());
    let catalog = lines(&idpush(&dir).args(["catalog", &host, "--page-size", "2"]).args(creds).run());
    assert!(catalog.contains(&repo), "{repo} not in the token registry's catalog: {catalog:?}");

    // Without credentials: refused, one line, exit 1, no password anywhere.
    let out = idpush(&dir).args(["tags", &format!("{host}/{repo}"), "--retries", "0"]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert_eq!(out.error_lines().len(), 1, "{}", out.describe());
    assert!(out.stderr.contains("refused anonymous access for pull from"), "{}", out.describe());
    assert!(out.hint().is_some_and(|h| h.contains("--password-stdin")), "{}", out.describe());
    let out = idpush(&dir).args(["tags", &format!("{host}/{repo}"), "-u", &a.user, "-p", "wrong-password-42"]).run();
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(!out.stderr.contains("wrong-password-42") && !out.stdout.contains("wrong-password-42"), "{}", out.describe());
}

/// A registry whose /v2/ answers 200 and everything else 404 (no catalog), on a free port.
fn no_catalog_registry(status_line: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 8192];
            let n = conn.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = if target == "/v2/" { ("200 OK", "{}") } else { (status_line, body) };
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    addr
}

#[test]
fn a_registry_without_a_catalog_gets_one_line() {
    let dir = TestDir::new("list-nocatalog");
    for (status, body) in [
        ("404 Not Found", "404 page not found"),
        ("400 Bad Request", r#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#),
    ] {
        let host = no_catalog_registry(status, body);
        let out = idpush(&dir).args(["catalog", &host]).run();
        assert_eq!(out.code, Some(1), "{status}: {}", out.describe());
        assert_eq!(out.error_lines().len(), 1, "{status}: {}", out.describe());
        assert!(
            out.stderr.starts_with(&format!("idpush: error: registry {host} does not list its repositories")),
            "{status}: {}",
            out.describe()
        );
        assert!(out.hint().is_some_and(|h| h.contains(&format!("idpush tags {host}/REPO"))), "{}", out.describe());
        assert!(!out.stderr.contains("page not found") && !out.stderr.contains("retry"), "{}", out.describe());
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn missing_repositories_and_manifests_exit_2_with_one_line() {
    let reg = env().registry.clone();
    let dir = TestDir::new("list-missing");
    let mut images = ImageGuard::new();
    let missing = format!("{reg}/list/{}", unique("nothing-here"));
    let out = idpush(&dir).args(["tags", &missing]).run();
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(out.error_lines(), [format!("idpush: error: repository {} not found on registry {reg}", &missing[reg.len() + 1..])]);
    assert!(out.hint().is_some_and(|h| h.contains(&format!("idpush catalog {reg}"))), "{}", out.describe());

    let out = idpush(&dir).args(["inspect", &format!("{missing}:v1")]).run();
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(out.error_lines().len(), 1, "{}", out.describe());

    let p = pushed(&dir, &mut images, &format!("{reg}/list/{}:v1", unique("present")), 500, &[]);
    let out = idpush(&dir).args(["inspect", &format!("{}/{}:no-such-tag", p.host, p.repo)]).run();
    assert_eq!(out.code, Some(2), "{}", out.describe());
    assert_eq!(out.error_lines(), [format!("idpush: error: manifest {}/{}:no-such-tag not found", p.host, p.repo)]);
    assert_eq!(out.hint(), Some(format!("`idpush tags {}/{}` lists the tags there", p.host, p.repo).as_str()));
    let out = idpush(&dir).args(["inspect", &format!("{}/{}@sha256:{}", p.host, p.repo, "0".repeat(64))]).run();
    assert_eq!(out.code, Some(2), "{}", out.describe());

    // Bad input: one line, exit 1, before any request.
    for args in [
        vec!["tags", "UPPER/case"],
        vec!["tags", "127.0.0.1:1/team/app:v1"],
        vec!["inspect", "a b"],
        vec!["catalog", "10.255.255.1:5000", "--page-size", "0"],
        vec!["tags", "10.255.255.1:5000/team/app", "--page-size", "1001"],
        vec!["catalog", "127.0.0.1:1", "-r", "http://127.0.0.1:2"],
    ] {
        let out = idpush(&dir).args(&args).run();
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.describe());
        assert_eq!(out.error_lines().len(), 1, "{args:?}: {}", out.describe());
    }
}

#[test]
fn help_of_each_listing_command_has_examples() {
    let dir = TestDir::new("list-help");
    for (cmd, want) in [("catalog", "--page-size"), ("tags", "REPO"), ("inspect", "REF")] {
        let out = idpush(&dir).args([cmd, "--help"]).run();
        assert_eq!(out.code, Some(0), "{}", out.describe());
        for w in ["Examples:", want, "--json", "Error codes:"] {
            assert!(out.stdout.contains(w), "{cmd} --help lacks {w:?}:\n{}", out.stdout);
        }
    }
}
