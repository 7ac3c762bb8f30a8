//! The results of `catalog`, `tags` and `inspect`: text (one entry per line, or an aligned
//! summary) and JSON (`schema/catalog.json`, `schema/tags.json`, `schema/inspect.json`).

use crate::inspection::Inspection;
use serde::Serialize;

/// `--json` of `idpush catalog`.
#[derive(Serialize)]
struct Catalog<'a> {
    registry: &'a str,
    repositories: &'a [String],
}

/// `--json` of `idpush tags`.
#[derive(Serialize)]
struct Tags<'a> {
    repository: &'a str,
    tags: &'a [String],
}

fn json(value: &impl Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("the report types serialize");
    s.push('\n');
    s
}

fn lines(items: &[String]) -> String {
    items.iter().map(|i| format!("{i}\n")).collect()
}

/// The repositories of `registry`: one a line, or `{"registry", "repositories"}`.
pub fn catalog(registry: &str, repositories: &[String], as_json: bool) -> String {
    if as_json {
        json(&Catalog { registry, repositories })
    } else {
        lines(repositories)
    }
}

/// The tags of `repository` (`host/path`): one a line, or `{"repository", "tags"}`.
pub fn tags(repository: &str, tags: &[String], as_json: bool) -> String {
    if as_json {
        json(&Tags { repository, tags })
    } else {
        lines(tags)
    }
}

/// `1234 B`, `12.3 KiB`, `4.5 MiB`: a size as people read it.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A JSON array of strings as docker shows `Entrypoint`/`Cmd`; `-` for none.
fn words(w: &Option<Vec<String>>) -> String {
    match w {
        None => "-".to_string(),
        Some(w) => serde_json::to_string(w).expect("strings serialize"),
    }
}

/// The inspected manifest: labelled lines for people, or the JSON of [`Inspection`].
pub fn inspect(i: &Inspection, as_json: bool) -> String {
    if as_json {
        return json(i);
    }
    let mut out = String::new();
    // `key:` padded to one column; an empty key continues the row above (more labels).
    let mut row = |k: &str, v: &str| {
        let key = if k.is_empty() { String::new() } else { format!("{k}:") };
        out.push_str(&format!("{key:<12} {v}\n"))
    };
    row("reference", &i.reference);
    row("digest", &i.digest.to_string());
    row("media type", &i.media_type);
    row("kind", i.kind);
    if i.kind == "index" {
        row("manifests", &i.manifests.len().to_string());
        for c in &i.manifests {
            let what = match (&c.platform, c.attestation) {
                (_, true) => "attestation".to_string(),
                (Some(p), false) => p.clone(),
                (None, false) => "unknown platform".to_string(),
            };
            out.push_str(&format!("  {what:<16} {}  {}  {}\n", c.digest, human_size(c.size), c.media_type));
        }
        return out;
    }
    if let Some(c) = &i.config {
        row("config", &format!("{} ({})", c.digest, human_size(c.size)));
        row("created", c.created.as_deref().unwrap_or("-"));
        row("platform", c.platform.as_deref().unwrap_or("-"));
        row("entrypoint", &words(&c.entrypoint));
        row("cmd", &words(&c.cmd));
        if let Some(w) = &c.working_dir {
            row("workdir", w);
        }
        if let Some(u) = &c.user {
            row("user", u);
        }
        if c.labels.is_empty() {
            row("labels", "-");
        }
        for (n, (k, v)) in c.labels.iter().enumerate() {
            row(if n == 0 { "labels" } else { "" }, &format!("{k}={v}"));
        }
    }
    row(
        "layers",
        &format!("{}, {} in all ({} bytes)", i.layers.len(), human_size(i.layers_size), i.layers_size),
    );
    for l in &i.layers {
        out.push_str(&format!("  {}  {:>10}  {}\n", l.digest, human_size(l.size), l.media_type));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn text_lists_are_one_entry_a_line_and_json_has_its_keys() {
        let items = vec!["a/b".to_string(), "c".to_string()];
        assert_eq!(catalog("r:1", &items, false), "a/b\nc\n");
        assert_eq!(catalog("r:1", &[], false), "");
        let v: serde_json::Value = serde_json::from_str(&tags("r:1/a/b", &items, true)).unwrap();
        assert_eq!(v, serde_json::json!({"repository": "r:1/a/b", "tags": ["a/b", "c"]}));
    }
}
