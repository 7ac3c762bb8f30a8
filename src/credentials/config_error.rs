//! A malformed docker config or podman auth file, said without quoting it.
//!
//! serde_json's own message quotes the offending value (`invalid type: string "dXNlcjpw…"`, a
//! base64 `user:password`), so it is never printed. The message is built here from what is
//! safe: the position serde_json reports (line and column), the key path leading there
//! (`auths."127.0.0.1:5000".auth`, found by scanning the text up to that position), and what
//! that key should hold.

/// `<key path> (line L, column C): <what is wrong>`, for an error of `serde_json` reading `text`.
pub fn describe(text: &[u8], err: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let top_is_object = text.iter().find(|b| !b.is_ascii_whitespace()).is_none_or(|&b| b == b'{');
    if !top_is_object && err.classify() == Category::Data {
        return format!("the top level (line {}, column {}): expected an object", err.line(), err.column());
    }
    let path = path_at(text, offset_of(text, err.line(), err.column()));
    let problem = match err.classify() {
        Category::Eof => "the file ends before the JSON does (an unclosed {, [ or string)".to_string(),
        Category::Syntax => "this is not valid JSON".to_string(),
        Category::Data => format!("expected {}", expected(&path)),
        Category::Io => "it cannot be read".to_string(),
    };
    let shown = if path.is_empty() { "the top level".to_string() } else { render(&path) };
    format!("{shown} (line {}, column {}): {problem}", err.line(), err.column())
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The byte offset just before serde_json's 1-based line and column (the character it stopped
/// at is not scanned: a `}` there would close the object the error is in).
fn offset_of(text: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].iter().position(|&b| b == b'\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    (start + column.saturating_sub(1)).min(text.len())
}

/// The key path of the value being read at `offset`.
fn path_at(text: &[u8], offset: usize) -> Vec<Step> {
    /// An open object (its current key, and whether the next string is a key) or array.
    enum Frame {
        Object { key: Option<String>, want_key: bool },
        Array(usize),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    let text = &text[..offset.min(text.len())];
    while i < text.len() {
        match text[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                let s = String::from_utf8_lossy(&text[start..i.min(text.len())]).into_owned();
                if let Some(Frame::Object { key, want_key }) = stack.last_mut() {
                    if *want_key {
                        *key = Some(s);
                        *want_key = false;
                    }
                }
            }
            b'{' => stack.push(Frame::Object { key: None, want_key: true }),
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, want_key }) => {
                    *key = None;
                    *want_key = true;
                }
                Some(Frame::Array(n)) => *n += 1,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    stack
        .into_iter()
        .filter_map(|f| match f {
            Frame::Object { key: Some(k), .. } => Some(Step::Key(k)),
            Frame::Object { key: None, .. } => None,
            Frame::Array(n) => Some(Step::Index(n)),
        })
        .collect()
}

/// `auths."127.0.0.1:5000".auth`: plain keys bare, others quoted; every key redacted.
fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&crate::redact::quote(k));
            }
            Step::Index(n) => out.push_str(&format!("[{n}]")),
        }
    }
    out
}

/// What the config format wants at `path`.
fn expected(path: &[Step]) -> &'static str {
    let key = |i: usize| match path.get(i) {
        Some(Step::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    match (path.len(), key(0)) {
        (0, _) => "an object",
        (1, Some("auths" | "credHelpers")) => "an object keyed by registry host",
        (1, Some("credsStore")) => "a string (a credential helper name)",
        (2, Some("auths")) => "an object with auth, username, password, identitytoken or registrytoken",
        (2, Some("credHelpers")) => "a string (a credential helper name)",
        (3, Some("auths")) => "a string",
        _ => "a value of another type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Entry {
        auth: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Cfg {
        #[serde(default)]
        auths: std::collections::HashMap<String, Entry>,
        #[serde(default, rename = "credsStore")]
        creds_store: Option<String>,
        #[serde(default, rename = "credHelpers")]
        cred_helpers: std::collections::HashMap<String, String>,
    }

    fn message(json: &str) -> String {
        let err = serde_json::from_str::<Cfg>(json).err().unwrap_or_else(|| panic!("{json} parsed"));
        describe(json.as_bytes(), &err)
    }

    #[test]
    fn names_the_key_path_and_position_never_the_value() {
        let secret = "dXNlcjpodW50ZXIy";
        let cases: &[(&str, &str)] = &[
            (r#"{"auths": {"127.0.0.1:5000": {"auth": 12345}}}"#, r#"auths."127.0.0.1:5000".auth (line 1, column 43): expected a string"#),
            (r#"{"auths": {"127.0.0.1:5000": "SECRET"}}"#, r#"auths."127.0.0.1:5000" (line 1, column 47): expected an object with auth"#),
            ("{\n  \"auths\": {\n    \"h\": {\"auth\": [\"SECRET\"]}}}", "auths.h.auth (line 3, column 18): expected a string"),
            (r#"{"auths": "SECRET"}"#, "auths (line 1, column 28): expected an object keyed by registry host"),
            (r#"{"credsStore": ["SECRET"]}"#, "credsStore (line 1, column 15): expected a string"),
            (r#"{"auths": {"x": {"auth": "SECRET"#, "auths.x.auth (line 1, column 42): the file ends"),
            (r#"{"auths": {"x": {"auth": "SECRET" "#, "auths.x.auth (line 1, column 44): the file ends"),
            (r#"{"auths": [1,2"#, "auths (line 1, column 10): expected an object keyed by registry host"),
            (r#"{"auths": {"h": {"auth": "x"}}, "credHelpers": {"h": ["a", {"b": "SECRET"}]}}"#, "credHelpers.h (line 1, column 53): expected a string (a credential helper name)"),
            (r#"["SECRET"]"#, "the top level (line 1, column 19): expected an object"),
            (r#"{"auths": {"a": {}, "b": {"auth": tru}}}"#, "auths.b.auth (line 1, column 38): this is not valid JSON"),
            (r#"{"auths": {"http://u:SECRET@h/v1/": 5}}"#, r#"auths."http://***@h/v1/" (line 1, column 47)"#),
        ];
        let mut wrong = Vec::new();
        for (json, want) in cases {
            let json = json.replace("SECRET", secret);
            let got = message(&json);
            if !got.starts_with(want) {
                wrong.push(format!("{json}\n  got: {got}\n want: {want}"));
            }
            assert!(!got.contains(secret) && !got.contains('\n'), "{json}: {got}");
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
