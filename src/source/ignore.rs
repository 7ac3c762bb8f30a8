//! `.dockerignore`: which paths of a build context stay out of the image, by Docker's rules.
//!
//! The file is read as Docker's `ignorefile.ReadAll` reads it: a UTF-8 BOM is dropped, a line
//! starting with `#` is a comment, surrounding spaces are trimmed, blank lines are skipped, a
//! leading `!` makes an exception (re-includes what an earlier line excluded), and each pattern
//! is cleaned like a path (`./a//b/` is `a/b`, `a/../b` is `b`) with one leading `/` dropped.
//! Patterns are matched as moby's `patternmatcher` does: `*` is any run of characters but `/`,
//! `?` one character but `/`, `[...]` a class (`[^...]` negated, ranges `a-z`), `\` escapes the
//! next character, `**` any number of directories (`**/x`, `a/**/b`, `a/**`). A path is excluded
//! when it or one of its parent dirs matches; the last pattern that matches decides. Nothing
//! here touches the file system: the caller gives context-relative, slash-separated paths.

use std::fmt;

/// The patterns of one `.dockerignore`, in order.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

/// A pattern the matcher refuses, with the line it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern {
    pub line: usize,
    pub pattern: String,
    pub why: &'static str,
}

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {:?} {}", self.line, self.pattern, self.why)
    }
}

#[derive(Debug, Clone)]
struct Pattern {
    /// `!pattern`: a match re-includes the path.
    exclusion: bool,
    /// The cleaned pattern, without its `!`.
    text: String,
    kind: Kind,
}

/// How a pattern matches, as patternmatcher decides it from its shape.
#[derive(Debug, Clone)]
enum Kind {
    /// No wildcard: the path is the pattern.
    Exact,
    /// `dir/**` with no other wildcard: the path starts with `dir/`.
    Prefix(String),
    /// `**suffix` with no other wildcard: the path ends with `suffix` (or is it, less its `/`).
    Suffix(String),
    /// Anything else: the whole path matches the tokens.
    Glob(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Lit(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any run of characters but `/`.
    Star,
    /// `**` at the end of a pattern that has other wildcards: anything.
    Rest,
    /// `**` (or `**/`) inside a pattern: nothing, or anything that ends with a `/`.
    Dirs,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class { negated: bool, ranges: Vec<(char, char)> },
}

impl Matcher {
    /// The patterns of a `.dockerignore` file's text.
    pub fn parse(text: &str) -> Result<Matcher, BadPattern> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
            }
            let bad = |why| BadPattern { line: n + 1, pattern: line.trim().to_string(), why };
            if p.is_empty() {
                return Err(bad("is an exception of nothing: write a pattern after the `!`"));
            }
            let mut cleaned = clean(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let kind = compile(&cleaned).map_err(bad)?;
            patterns.push(Pattern { exclusion, text: cleaned, kind });
        }
        Ok(Matcher { patterns })
    }

    /// Whether any pattern is an exception (`!...`): then an excluded dir may still hold paths
    /// that are included, and must be walked.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether the context-relative path `path` (slash-separated) is excluded: it or one of its
    /// parent dirs matches, and the last pattern to match is not an exception.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        if path == "." {
            return false;
        }
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for p in &self.patterns {
            // An exclusion can only change an excluded path, an inclusion only an included one.
            if p.exclusion != excluded {
                continue;
            }
            let hit = p.matches(&path)
                || (1..=parents.len()).any(|i| p.matches(&parents[..i].join("/")));
            if hit {
                excluded = !p.exclusion;
            }
        }
        excluded
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str()) || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(tokens) => glob(tokens, &path.chars().collect::<Vec<_>>()),
        }
    }
}

/// Turns a cleaned pattern into how it matches, deciding the kind as patternmatcher does.
fn compile(pattern: &str) -> Result<Kind, &'static str> {
    #[derive(PartialEq)]
    enum Shape {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut shape = Shape::Exact;
    let mut i = 0;
    while i < chars.len() {
        let first = i == 0;
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i == chars.len() {
                    if shape == Shape::Exact {
                        shape = Shape::Prefix;
                    } else {
                        tokens.push(Token::Rest);
                        shape = Shape::Glob;
                    }
                } else {
                    tokens.push(Token::Dirs);
                    shape = Shape::Glob;
                }
                if first {
                    shape = Shape::Suffix;
                }
            }
            '*' => {
                tokens.push(Token::Star);
                shape = Shape::Glob;
            }
            '?' => {
                tokens.push(Token::One);
                shape = Shape::Glob;
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    tokens.push(Token::Lit(next));
                    shape = Shape::Glob;
                }
                None => tokens.push(Token::Lit('\\')),
            },
            '[' => {
                let (class, next) = class(&chars, i)?;
                tokens.push(class);
                i = next;
                shape = Shape::Glob;
            }
            ']' => {
                tokens.push(Token::Lit(']'));
                shape = Shape::Glob;
            }
            c => tokens.push(Token::Lit(c)),
        }
    }
    Ok(match shape {
        Shape::Exact => Kind::Exact,
        Shape::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Shape::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Shape::Glob => Kind::Glob(tokens),
    })
}

/// Reads a `[...]` class whose `[` ends just before `start`: the token and the index after `]`.
fn class(chars: &[char], start: usize) -> Result<(Token, usize), &'static str> {
    const UNCLOSED: &str = "has a `[` without its `]`";
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let one = |i: &mut usize| -> Result<char, &'static str> {
        let c = *chars.get(*i).ok_or(UNCLOSED)?;
        *i += 1;
        if c == '\\' {
            let e = *chars.get(*i).ok_or(UNCLOSED)?;
            *i += 1;
            return Ok(e);
        }
        Ok(c)
    };
    loop {
        match chars.get(i) {
            None => return Err(UNCLOSED),
            Some(']') if !ranges.is_empty() => return Ok((Token::Class { negated, ranges }, i + 1)),
            Some(']') => return Err("has an empty `[]` class"),
            Some(_) => {
                let lo = one(&mut i)?;
                let hi = if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
                    i += 1;
                    one(&mut i)?
                } else {
                    lo
                };
                if hi < lo {
                    return Err("has a `[...]` range whose end comes before its start");
                }
                ranges.push((lo, hi));
            }
        }
    }
}

/// Whether `tokens` match the whole of `path`, by dynamic programming over (token, char)
/// positions (linear in their product, whatever mix of `*` and `**`).
fn glob(tokens: &[Token], path: &[char]) -> bool {
    let width = path.len() + 1;
    let mut memo: Vec<Option<bool>> = vec![None; (tokens.len() + 1) * width];
    fn go(t: usize, p: usize, tokens: &[Token], path: &[char], memo: &mut Vec<Option<bool>>, width: usize) -> bool {
        if let Some(known) = memo[t * width + p] {
            return known;
        }
        let here = path.get(p).copied();
        let result = match tokens.get(t) {
            None => p == path.len(),
            Some(Token::Lit(c)) => here == Some(*c) && go(t + 1, p + 1, tokens, path, memo, width),
            Some(Token::One) => here.is_some_and(|c| c != '/') && go(t + 1, p + 1, tokens, path, memo, width),
            Some(Token::Class { negated, ranges }) => {
                here.is_some_and(|c| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated)
                    && go(t + 1, p + 1, tokens, path, memo, width)
            }
            Some(Token::Star) => {
                go(t + 1, p, tokens, path, memo, width)
                    || (here.is_some_and(|c| c != '/') && go(t, p + 1, tokens, path, memo, width))
            }
            Some(Token::Rest) => go(t + 1, p, tokens, path, memo, width) || (here.is_some() && go(t, p + 1, tokens, path, memo, width)),
            Some(Token::Dirs) => {
                go(t + 1, p, tokens, path, memo, width)
                    || (p..path.len()).any(|k| path[k] == '/' && go(t + 1, k + 1, tokens, path, memo, width))
            }
        };
        memo[t * width + p] = Some(result);
        result
    }
    go(0, 0, tokens, path, &mut memo, width)
}

/// A path cleaned as Go's `filepath.Clean` does: repeated `/` become one, `.` elements go, `..`
/// removes the element before it (and at the root, itself), no trailing `/`; empty is `.`.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests;
