use super::*;

fn excluded(patterns: &str, path: &str) -> bool {
    Matcher::parse(patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}")).excludes(path)
}

/// One pattern against one path: (pattern, path, excluded).
#[test]
fn single_patterns() {
    let cases: &[(&str, &str, bool)] = &[
        ("*", "main.go", true),
        ("*.go", "main.go", true),
        ("*.go", "main.rs", false),
        ("*.go", "cmd/main.go", false),
        ("abc", "abc", true),
        ("abc", "abcd", false),
        ("abc", "abc/d", true),
        ("docs", "docs/README.md", true),
        ("docs/", "docs/README.md", true),
        ("docs/*", "docs/README.md", true),
        ("docs/*", "docs", false),
        ("a*", "ab/c", true),
        ("a*/b", "abc/b", true),
        ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true),
        ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("a?b", "a/b", false),
        ("a*b", "a/b", false),
        ("a?b", "a☺b", true),
        ("a???b", "a☺b", false),
        ("ab[c]", "abc", true),
        ("ab[b-d]", "abc", true),
        ("ab[e-g]", "abc", false),
        ("ab[^c]", "abc", false),
        ("ab[^e-g]", "abc", true),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "ae", false),
        ("[a-ζ]*", "α", true),
        ("[\\]a]", "]", true),
        ("[\\-]", "-", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "ab", false),
        ("abc.def", "abcZdef", false),
        ("abc.def", "abc.def", true),
        ("a(b)c/def", "a(b)c/def", true),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        // `**`
        ("**", "file", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**/**", "dir/file", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir", false),
        ("**/dir", "dir", true),
        ("**/dir", "a/dir", true),
        ("**/dir", "a/dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/*.go", "a/b/c.go", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/**/b", "a/b", true),
        ("a/**/b", "a/x/y/b", true),
        ("a/**/b", "a/x/y/c", false),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt**", "a/file.txt", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        // Patternmatcher's fast path for `**suffix`: a plain suffix test.
        ("**file", "dir/file", true),
        ("**file", "dir/myfile", true),
        // Cleaning: leading `/` and `./`, doubled and trailing slashes, `..`, trailing spaces.
        ("/foo/bar", "foo/bar", true),
        ("./foo/bar", "foo/bar", true),
        ("foo//bar/", "foo/bar", true),
        ("foo/../bar", "bar", true),
        ("foo/../bar", "foo/bar", false),
        ("foo   ", "foo", true),
        ("  foo", "foo", true),
        // The file itself, and a Dockerfile, may be excluded like any other.
        (".dockerignore", ".dockerignore", true),
        ("Dockerfile", "Dockerfile", true),
    ];
    for (pattern, path, want) in cases {
        assert_eq!(excluded(pattern, path), *want, "pattern {pattern:?} on {path:?}");
    }
}

/// Whole files, from Docker's documentation of `.dockerignore` and moby's tests.
#[test]
fn documented_files() {
    let docs = "# comment\n*/temp*\n*/*/temp*\ntemp?\n";
    let cases: &[(&str, &str, bool)] = &[
        (docs, "somedir/temporary.txt", true),
        (docs, "somedir/temp", true),
        (docs, "temp", false),
        (docs, "temporary.txt", false),
        (docs, "somedir/subdir/temporary.txt", true),
        (docs, "a/b/c/temp", false),
        (docs, "tempa", true),
        (docs, "tempab", false),
        (docs, "# comment", false),
        ("*.md\n!README.md\n", "CHANGES.md", true),
        ("*.md\n!README.md\n", "README.md", false),
        ("*.md\n!README*.md\nREADME-secret.md\n", "README-secret.md", true),
        ("*.md\n!README*.md\nREADME-secret.md\n", "README-public.md", false),
        ("*.md\n!README*.md\nREADME-secret.md\n", "NOTES.md", true),
        ("*.md\nREADME-secret.md\n!README*.md\n", "README-secret.md", false),
        // The last match wins; an exception re-includes a file under an excluded dir.
        ("docs\n!docs/README.md\n", "docs/README.md", false),
        ("docs\n!docs/README.md\n", "docs/other.md", true),
        ("!main.go\n*.go\n", "main.go", true),
        ("*.go\n!main.go\n", "main.go", false),
        ("**\n!util/docker/web\n", "util/docker/web/foo", false),
        ("**\n!util/docker/web\nutil/docker/web/foo\n", "util/docker/web/foo", true),
        ("**\n!dist/*.whl\n", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false),
        // Comments only at the start of a line; a BOM is not part of the first pattern.
        ("  # not a comment\n", "# not a comment", true),
        ("\u{feff}secret\n", "secret", true),
        ("\r\nsecret\r\n\r\n", "secret", true),
        // An exception with spaces after the `!`.
        ("docs\n!  docs/README.md  \n", "docs/README.md", false),
        // The context root itself is never excluded.
        ("*\n", ".", false),
        ("", "anything", false),
    ];
    for (file, path, want) in cases {
        assert_eq!(excluded(file, path), *want, ".dockerignore {file:?} on {path:?}");
    }
}

#[test]
fn exceptions_are_reported() {
    assert!(!Matcher::parse("a\nb\n").unwrap().has_exceptions());
    assert!(Matcher::parse("a\n!a/b\n").unwrap().has_exceptions());
}

#[test]
fn bad_patterns_name_their_line() {
    let cases = [("ok\n!\n", 2), ("ok\n\n[abc\n", 3), ("a[]\n", 1), ("[z-a]\n", 1), ("! \n", 1), ("x[\\", 1)];
    for (file, line) in cases {
        let e = Matcher::parse(file).unwrap_err();
        assert_eq!(e.line, line, "{file:?}: {e}");
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }
}

#[test]
fn clean_is_go_filepath_clean() {
    let cases = [
        ("", "."),
        (".", "."),
        ("./", "."),
        ("a/", "a"),
        ("a//b", "a/b"),
        ("./a/./b/.", "a/b"),
        ("a/../..", ".."),
        ("../a", "../a"),
        ("/../a", "/a"),
        ("/", "/"),
        ("a/b/../../c", "c"),
    ];
    for (path, want) in cases {
        assert_eq!(clean(path), want, "{path:?}");
    }
}

#[test]
fn pathological_patterns_are_fast() {
    let pattern = "**/a*a*a*a*a*a*a*a*a*a*b";
    let path = format!("{}/{}", ["x"; 40].join("/"), "a".repeat(60));
    let start = std::time::Instant::now();
    assert!(!excluded(pattern, &path));
    assert!(start.elapsed() < std::time::Duration::from_secs(2), "{:?}", start.elapsed());
}
