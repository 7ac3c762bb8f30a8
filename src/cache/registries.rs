//! Per registry: whether it stores a blob sent in one request (`POST …/uploads/?digest=` with
//! the body). `true`: it answered `201`; `false`: it answered `202` (distribution opens a
//! session and ignores the body) or refused the form. A hint like everything here: the upload
//! is confirmed as always, and a registry that changed its mind is simply learnt again.

use super::{blob_key_registry, logged, parse, quiet, Cache, Shelves, MAX_RECORD};
use serde::{Deserialize, Serialize};

/// At most this many registries are remembered.
pub(super) const MAX_REGISTRIES: usize = 1_000;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistryRecord {
    registry: String,
    single_request_upload: bool,
}

impl Cache {
    /// What `registry` (`host[:port]`) did with a single-request upload, if an earlier push
    /// learnt it.
    pub fn single_request_upload(&self, registry: &str) -> Option<bool> {
        let shelves = self.shelves.as_ref()?;
        quiet(shelves.load_registry(registry))
    }

    /// Records what `registry` did with a single-request upload.
    pub fn put_single_request_upload(&self, registry: &str, stores: bool) {
        let Some(shelves) = &self.shelves else { return };
        let Some((registry, name)) = blob_key_registry(registry) else { return };
        if shelves.load_registry(&registry).ok().flatten() == Some(stores) {
            return;
        }
        let record = RegistryRecord { registry, single_request_upload: stores };
        let bytes = serde_json::to_vec(&record).unwrap_or_default();
        debug_assert!((bytes.len() as u64) < MAX_RECORD);
        logged(shelves.registries.write(&name, &bytes));
    }
}

impl Shelves {
    fn load_registry(&self, registry: &str) -> Result<Option<bool>, String> {
        let Some((registry, name)) = blob_key_registry(registry) else { return Ok(None) };
        let Some(bytes) = self.registries.read(&name)? else { return Ok(None) };
        let path = self.registries.path(&name);
        let r: RegistryRecord = parse(&bytes, &path)?;
        if r.registry != registry {
            return Err(format!("ignoring cache entry {}: it records registry {:?}", path.display(), r.registry));
        }
        Ok(Some(r.single_request_upload))
    }
}

#[cfg(test)]
mod tests {
    use crate::cache::Cache;
    use crate::test_support::TempDir;

    #[test]
    fn remembers_per_registry_and_ignores_a_record_under_another_name() {
        let dir = TempDir::new("cache-registries");
        let cache = Cache::open(dir.path());
        assert_eq!(cache.single_request_upload("localhost:5000"), None);
        cache.put_single_request_upload("LocalHost:5000", false);
        assert_eq!(cache.single_request_upload("localhost:5000"), Some(false));
        assert_eq!(cache.single_request_upload("localhost:5001"), None);
        cache.put_single_request_upload("localhost:5000", true);
        assert_eq!(Cache::open(dir.path()).single_request_upload("localhost:5000"), Some(true));
        // A record copied under another registry's name is not believed.
        let v1 = dir.path().join("v1/registries");
        std::fs::copy(v1.join("localhost%3a5000"), v1.join("localhost%3a5001")).unwrap();
        assert_eq!(cache.single_request_upload("localhost:5001"), None);
        assert_eq!(Cache::disabled().single_request_upload("localhost:5000"), None);
    }
}
