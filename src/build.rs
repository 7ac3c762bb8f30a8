//! Build script (Cargo.toml `build = "src/build.rs"`): records the commit the binary is built
//! from, for `idpush --version`. `IDPUSH_COMMIT` in the environment wins (a release pipeline, a
//! tarball without .git); else `git rev-parse --short=12 HEAD`; else "unknown". Never fails the
//! build. (No `-dirty` mark: watching the index would rebuild the binary at every `git add`.)

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=IDPUSH_COMMIT");
    let commit = std::env::var("IDPUSH_COMMIT").ok().filter(|c| !c.trim().is_empty()).or_else(git_commit);
    // Rebuild when HEAD moves (a commit, a checkout). In a worktree HEAD is in its own git dir,
    // the branch refs in the common one. Only files that exist: cargo reruns the script every
    // time for a missing one.
    let dirs = (git(&["rev-parse", "--git-dir"]), git(&["rev-parse", "--git-common-dir"]));
    if let (Some(git_dir), Some(common)) = dirs {
        let mut watch = vec![format!("{git_dir}/HEAD"), format!("{common}/packed-refs")];
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            watch.push(format!("{common}/{r}"));
        }
        for f in watch.into_iter().filter(|f| std::path::Path::new(f).exists()) {
            println!("cargo:rerun-if-changed={f}");
        }
    }
    println!("cargo:rustc-env=IDPUSH_COMMIT={}", commit.unwrap_or_else(|| "unknown".to_string()));
}

fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}
