//! The one redaction path for user input quoted in a message.
//!
//! Everything a user typed or configured (a registry URL, DEST, IMAGE, `DOCKER_HOST`, an
//! environment value, a config key) goes through [`redact`] (or [`quote`], which adds the
//! quotes) before it is put into an error or a log line:
//! - userinfo (`scheme://user:password@host`, and `user:password@host/…` without a scheme) → `***@`;
//! - query values (`?token=…&x=…`) → `***`, except a few registry parameters that are never
//!   secret (`service`, `scope`, `digest`, `mount`, `from`, `n`, `last`);
//! - control characters (and the invisible bidi/format characters that reorder a terminal line)
//!   → escaped (`\n`, `\u{1b}`), so a message stays one honest line.
//!
//! It does not know which plain words are secrets: a password typed as a tag is a tag. The
//! parsers refuse userinfo and queries before anything else, so no later fragment quotes them.

/// `s` made safe to quote in a message: userinfo and query values replaced by `***`, control
/// characters escaped. `s` is one value (a URL, a reference), not a sentence.
pub fn redact(s: &str) -> String {
    escape_controls(&hide(s))
}

/// Userinfo, then query values, hidden. When a `?` or `#` comes before the userinfo's `@`, it is
/// unclear which of them is part of a password (`u:p?s@h`, `h/x?token=a@b`): all after the
/// scheme is hidden.
fn hide(s: &str) -> String {
    match userinfo_end(s) {
        Some((start, at)) if s[start..at].contains(['?', '#']) => format!("{}***", &s[..start]),
        Some((start, at)) => redact_query(&format!("{}***{}", &s[..start], &s[at..])),
        None => redact_query(s),
    }
}

/// [`redact`] in double quotes: `"http://***@host"`.
pub fn quote(s: &str) -> String {
    format!("\"{}\"", redact(s))
}

/// Whether `s` carries userinfo: `scheme://…@host`, or `…@host/…` where what follows the `@`
/// is not a digest (`name@sha256:…` is a reference, not a login).
pub fn has_userinfo(s: &str) -> bool {
    userinfo_end(s).is_some()
}

/// Query parameters whose values are never secret (the ones registries and idpush use).
const PUBLIC_QUERY_KEYS: &[&str] = &["service", "scope", "digest", "mount", "from", "n", "last"];

/// Where the userinfo is: from after `://` (or the start) to the last `@` that does not start a
/// digest. The last one, and across `/`, `?` and `#`: a password typed with a raw `@`, `/` or
/// `?` in it is still hidden whole (at worst a path with an `@` is hidden too).
fn userinfo_end(s: &str) -> Option<(usize, usize)> {
    // After `scheme://` when what precedes it is a scheme (RFC 3986: a letter, then letters,
    // digits, `+`, `-`, `.`), else from the start (`u:p@tcp://h` hides `u:p`).
    let start = match s.find("://") {
        Some(i) if is_scheme(&s[..i]) => i + 3,
        _ => 0,
    };
    let at = s[start..]
        .char_indices()
        .rev()
        .find(|&(i, c)| c == '@' && !is_digest_start(&s[start + i + 1..]))
        .map(|(i, _)| start + i)?;
    Some((start, at))
}

fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Whether the text after an `@` starts a digest (`name@sha256:…`).
fn is_digest_start(after: &str) -> bool {
    ["sha256:", "sha384:", "sha512:", "blake3:"].iter().any(|p| after.starts_with(p))
}

/// Query values → `***` (a bare key too: it may be the token itself); a fragment → `#***`.
fn redact_query(s: &str) -> String {
    let (s, fragment) = match s.split_once('#') {
        Some((s, f)) if !f.is_empty() => (s, "#***"),
        Some((s, _)) => (s, "#"),
        None => (s, ""),
    };
    let Some((head, query)) = s.split_once('?') else { return format!("{s}{fragment}") };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if PUBLIC_QUERY_KEYS.contains(&k.to_ascii_lowercase().as_str()) => pair.to_string(),
            Some((k, _)) => format!("{k}=***"),
            None if pair.is_empty() => String::new(),
            None => "***".to_string(),
        })
        .collect();
    format!("{head}?{}{fragment}", pairs.join("&"))
}

fn escape_controls(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() || is_invisible_format(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Line and paragraph separators, bidi overrides and zero-width characters: they break,
/// reorder or hide text on a terminal.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_userinfo_queries_and_controls() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let cases: &[(&str, &str)] = &[
            ("http://user:PASSWORD@host:5000", "http://***@host:5000"),
            ("https://TOKEN@host/v2/", "https://***@host/v2/"),
            ("http://u:p%40ss@host", "http://***@host"),
            ("http://u:p@ss@host/x", "http://***@host/x"),
            ("http://u:p/s?s#s@host/x", "http://***"),
            ("host/x:1?token=a@b/c", "***"),
            ("https://h/x?sig=a@b", "https://***"),
            ("tcp://user:pw@127.0.0.1:2375", "tcp://***@127.0.0.1:2375"),
            ("user:pass@host:5000/x/y:1", "***@host:5000/x/y:1"),
            ("user@host/x", "***@host/x"),
            ("u:p@host/x@SHA256", "***@host/x@SHA256"),
            ("myapp@SHA256", "myapp@SHA256"),
            ("127.0.0.1:5000/x@SHA256", "127.0.0.1:5000/x@SHA256"),
            ("host/x:1?token=abc&service=reg", "host/x:1?token=***&service=reg"),
            ("https://h/v2/?access_token=abc&X-Amz-Signature=def#frag", "https://h/v2/?access_token=***&X-Amz-Signature=***#***"),
            ("http://h?SECRETTOKEN", "http://h?***"),
            ("http://h/x?", "http://h/x?"),
            ("a\nb\r\x1b[31m\u{202e}c\td", "a\\nb\\r\\u{1b}[31m\\u{202e}c\\td"),
            ("plain words, no secrets", "plain words, no secrets"),
            ("", ""),
        ];
        for (input, want) in cases {
            let input = input.replace("SHA256", d);
            let want = want.replace("SHA256", d);
            assert_eq!(redact(&input), want, "{input:?}");
        }
        assert_eq!(quote("http://u:p@h"), "\"http://***@h\"");
        assert!(has_userinfo("u:p@h/x") && has_userinfo("http://u@h") && !has_userinfo(&format!("a@{d}")));
    }

    /// Defect 3 (issue 7): `DOCKER_HOST=tcp://user:pw@…` was echoed whole.
    #[test]
    fn docker_host_errors_are_redacted() {
        for s in [
            "tcp://user:Hunter2@127.0.0.1:2375",
            "tcp://u:Hunter2@h/x",
            "TCP://u:Hun/ter2@h",
            "unix://u:Hunter2@/var/run/docker.sock",
            "ssh://u:Hunter2@box",
            "weird://u:Hunter2@x",
            "u:Hunter2@tcp://h",
            "tcp://h?token=Hunter2",
            "tcp://h:2375\n\u{1b}[2K",
        ] {
            let e = format!("{:#}", crate::daemon::host::DockerHost::parse(s).unwrap_err());
            assert!(e.starts_with("invalid DOCKER_HOST \""), "{s:?}: {e}");
            assert!(!e.contains("Hunter2") && !e.contains("Hun/ter2") && !e.contains(['\n', '\u{1b}']), "{s:?}: {e}");
        }
    }

    #[test]
    fn redacted_text_is_one_line() {
        for s in ["a\nb", "\r\n", "x\u{0}y", "\u{85}next line", "\u{2028}"] {
            let r = redact(s);
            assert!(!r.contains(['\n', '\r', '\u{85}', '\u{0}', '\u{2028}']), "{s:?} → {r:?}");
        }
    }
}
