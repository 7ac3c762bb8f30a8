//! Where the cache lives: `$IDPUSH_CACHE_DIR`, else `$XDG_CACHE_HOME/idpush`, else
//! `$HOME/.cache/idpush`; none of them set means no cache (a push without one still works).
//!
//! The environment comes in as a function, so this is tested without touching the process's.

use std::path::PathBuf;

/// The cache dir the environment names, or why there is none (a sentence for a debug line).
pub(super) fn dir_from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(dir) = set("IDPUSH_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    // The XDG base dir spec: a relative XDG_CACHE_HOME is invalid and must be ignored.
    if let Some(xdg) = set("XDG_CACHE_HOME").filter(|v| v.starts_with('/')) {
        return Ok(PathBuf::from(xdg).join("idpush"));
    }
    if let Some(home) = set("HOME") {
        return Ok(PathBuf::from(home).join(".cache").join("idpush"));
    }
    Err("layer cache off: none of IDPUSH_CACHE_DIR, XDG_CACHE_HOME, HOME is set".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<PathBuf, String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        dir_from_env(&move |k: &str| vars.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn explicit_dir_then_xdg_then_home() {
        let all = [("IDPUSH_CACHE_DIR", "/c"), ("XDG_CACHE_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(with(&all).unwrap(), PathBuf::from("/c"));
        assert_eq!(with(&all[1..]).unwrap(), PathBuf::from("/x/idpush"));
        assert_eq!(with(&all[2..]).unwrap(), PathBuf::from("/h/.cache/idpush"));
    }

    #[test]
    fn empty_and_relative_values_are_skipped() {
        let vars = [("IDPUSH_CACHE_DIR", ""), ("XDG_CACHE_HOME", "rel/cache"), ("HOME", "/h")];
        assert_eq!(with(&vars).unwrap(), PathBuf::from("/h/.cache/idpush"));
        let vars = [("XDG_CACHE_HOME", ""), ("HOME", "/h")];
        assert_eq!(with(&vars).unwrap(), PathBuf::from("/h/.cache/idpush"));
    }

    #[test]
    fn missing_home_means_no_cache() {
        let why = with(&[]).unwrap_err();
        assert!(why.contains("HOME"), "{why}");
        assert!(with(&[("HOME", "")]).is_err());
        assert!(with(&[("XDG_CACHE_HOME", "relative")]).is_err());
    }
}
