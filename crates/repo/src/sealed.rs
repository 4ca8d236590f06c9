//! Small encrypted JSON documents beside the snapshots (`alerts/`, `stats/`, …): written once,
//! sealed with the repository's metadata key, the object key bound as associated data so a
//! document cannot be moved to another key unnoticed. Layers above the repository (detection,
//! alerts) keep their records here without seeing any key material.

use crate::crypto::{open, seal};
use crate::error::{Error, Result};
use crate::repository::Repository;
use crate::storage::{PutOutcome, StorageError};
use chrono::{DateTime, Utc};

/// What [`Repository::delete_sealed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedDelete {
    /// The document is gone (or was already absent).
    Deleted,
    /// Object Lock (retention or a legal-hold flag) still protects it: nothing was deleted.
    /// A later call after `until` succeeds.
    Locked {
        /// The retain-until date, when the backend says.
        until: Option<DateTime<Utc>>,
    },
}

/// Prefixes the engine itself uses: sealed documents may not live there.
const RESERVED: &[&str] = &[
    "config",
    "keys/",
    "owners/",
    "data/",
    "index/",
    "snapshots/",
    "sessions/",
    "gc/",
    "locks/",
    "audit/",
    "erasures/",
];

fn check_key(key: &str) -> Result<()> {
    let ok = key.contains('/')
        && !key.ends_with('/')
        && !RESERVED.iter().any(|r| key.starts_with(r))
        && key
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.starts_with(".tmp-"))
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "sealed document key {key:?}: expected prefix/name of [A-Za-z0-9-_.:] outside the engine's prefixes"
        )))
    }
}

fn ad(key: &str) -> Vec<u8> {
    format!("tenantvault v1 sealed {key}").into_bytes()
}

impl Repository {
    /// Stores `doc` under `key` (e.g. `alerts/20261129T…-ab12`) unless an object with that key
    /// exists: documents are write-once; a change is a new document.
    pub async fn put_sealed(&self, key: &str, doc: &serde_json::Value) -> Result<PutOutcome> {
        check_key(key)?;
        let plain = serde_json::to_vec(doc).map_err(|e| Error::Invalid(e.to_string()))?;
        let sealed = seal(&self.keys().meta_key, &ad(key), &plain);
        Ok(self
            .storage()
            .put_if_absent(key, bytes::Bytes::from(sealed))
            .await?)
    }

    /// Reads a sealed document; `None` when absent. A tampered or moved document is
    /// [`Error::Corrupt`].
    pub async fn get_sealed(&self, key: &str) -> Result<Option<serde_json::Value>> {
        check_key(key)?;
        let bytes = match self.storage().get(key).await {
            Ok(b) => b,
            Err(StorageError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let plain = open(&self.keys().meta_key, &ad(key), &bytes, key)?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| Error::corrupt(key, e))
    }

    /// Deletes a sealed document (erasure of an owner's detection records). A real storage
    /// delete that respects immutability: a document still retained by Object Lock, or under a
    /// legal-hold flag, is left in place and reported as [`SealedDelete::Locked`]; nothing is
    /// bypassed. Deleting an absent document is [`SealedDelete::Deleted`].
    pub async fn delete_sealed(&self, key: &str) -> Result<SealedDelete> {
        check_key(key)?;
        let storage = self.storage();
        if storage.lock_capabilities().object_lock {
            match storage.lock_until(key).await {
                // a legal-hold flag has no end date (backends answer the greatest date)
                Ok(Some(until)) => {
                    return Ok(SealedDelete::Locked {
                        until: (until != DateTime::<Utc>::MAX_UTC).then_some(until),
                    });
                }
                Ok(None) => {}
                Err(StorageError::NotFound { .. }) => return Ok(SealedDelete::Deleted),
                Err(e) => return Err(e.into()),
            }
        }
        match storage.delete(key).await {
            Ok(()) => Ok(SealedDelete::Deleted),
            Err(StorageError::Locked { until, .. }) => Ok(SealedDelete::Locked { until }),
            Err(e) => Err(e.into()),
        }
    }

    /// Keys of the sealed documents below `prefix` (which must end with `/`), sorted.
    pub async fn list_sealed(&self, prefix: &str) -> Result<Vec<String>> {
        if !prefix.ends_with('/') {
            return Err(Error::Invalid(format!(
                "sealed document prefix {prefix:?} must end with '/'"
            )));
        }
        check_key(&format!("{prefix}x"))?;
        Ok(self
            .storage()
            .list(prefix)
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect())
    }
}

/// Seals records a layer above the repository keeps in its local cache directory (the
/// Exchange find index): under a key derived from the repository's key material, so that the
/// cache directory without the passphrase reveals none of them. Made by
/// [`Repository::cache_sealer`]; `purpose` (bound as associated data) keeps one cache's records
/// from being taken for another's.
pub struct CacheSealer {
    key: crate::crypto::Key,
    purpose: String,
}

impl std::fmt::Debug for CacheSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheSealer")
            .field("purpose", &self.purpose)
            .finish_non_exhaustive()
    }
}

impl CacheSealer {
    fn ad(&self, ad: &[u8]) -> Vec<u8> {
        let mut v = format!("tenantvault v1 cache {}\0", self.purpose).into_bytes();
        v.extend_from_slice(ad);
        v
    }

    /// `plain` encrypted and authenticated together with `ad` (which is not stored: the
    /// caller gives it again to [`CacheSealer::open`]). 40 bytes longer than `plain`.
    pub fn seal(&self, ad: &[u8], plain: &[u8]) -> Vec<u8> {
        seal(&self.key, &self.ad(ad), plain)
    }

    /// The plaintext of what [`CacheSealer::seal`] made with the same `ad`; [`Error::Corrupt`]
    /// naming `what` when it was changed, moved, or sealed under another repository's key.
    pub fn open(&self, ad: &[u8], sealed: &[u8], what: &str) -> Result<Vec<u8>> {
        open(&self.key, &self.ad(ad), sealed, what)
    }
}

impl Repository {
    /// A sealer for the local cache records named `purpose` (e.g. `exchange-find`).
    pub fn cache_sealer(&self, purpose: &str) -> CacheSealer {
        CacheSealer {
            key: crate::crypto::Key(blake3::derive_key(
                "tenantvault v1 local cache records",
                &self.keys().material,
            )),
            purpose: purpose.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Storage as _;

    #[test]
    fn keys_outside_engine_prefixes_only() {
        assert!(check_key("alerts/a-1").is_ok());
        assert!(check_key("stats/x/2026:1").is_ok());
        assert!(check_key("snapshots/x").is_err());
        assert!(check_key("config").is_err());
        assert!(check_key("alerts/../keys/x").is_err());
        assert!(check_key("alerts/").is_err());
        assert!(check_key("noprefix").is_err());
        assert!(check_key("alerts/a b").is_err());
    }

    /// A local store where keys containing `locked` are retained: with `capable` the backend
    /// says so up front (`lock_until`), otherwise only its delete refuses.
    #[derive(Debug)]
    struct Retaining {
        inner: crate::LocalStorage,
        capable: bool,
    }

    #[async_trait::async_trait]
    impl crate::Storage for Retaining {
        async fn get(&self, key: &str) -> std::result::Result<bytes::Bytes, StorageError> {
            self.inner.get(key).await
        }
        async fn get_range(
            &self,
            key: &str,
            offset: u64,
            len: u64,
        ) -> std::result::Result<bytes::Bytes, StorageError> {
            self.inner.get_range(key, offset, len).await
        }
        async fn put_if_absent(
            &self,
            key: &str,
            data: bytes::Bytes,
        ) -> std::result::Result<PutOutcome, StorageError> {
            self.inner.put_if_absent(key, data).await
        }
        async fn list(
            &self,
            prefix: &str,
        ) -> std::result::Result<Vec<(String, u64)>, StorageError> {
            self.inner.list(prefix).await
        }
        async fn delete(&self, key: &str) -> std::result::Result<(), StorageError> {
            if key.contains("locked") {
                return Err(StorageError::Locked {
                    key: key.into(),
                    until: None,
                });
            }
            self.inner.delete(key).await
        }
        fn lock_capabilities(&self) -> crate::storage::LockCapabilities {
            crate::storage::LockCapabilities {
                object_lock: self.capable,
                ..Default::default()
            }
        }
        async fn lock_until(
            &self,
            key: &str,
        ) -> std::result::Result<Option<DateTime<Utc>>, StorageError> {
            self.inner.get(key).await?;
            Ok(key
                .contains("locked")
                .then(|| "2031-01-01T00:00:00Z".parse().unwrap()))
        }
    }

    #[tokio::test]
    async fn delete_removes_documents_and_respects_object_lock() {
        use crate::{InitOptions, KdfParams, LocalStorage};
        use std::sync::Arc;
        for capable in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let storage = Arc::new(Retaining {
                inner: LocalStorage::new(dir.path().join("r")).unwrap(),
                capable,
            });
            let opts = InitOptions {
                kdf: KdfParams::insecure_fast(),
                cache_dir: Some(dir.path().join("c")),
                ..InitOptions::default()
            };
            let repo = Repository::init(storage.clone(), "pw", opts).await.unwrap();
            for k in ["stats/o/1", "stats/o/2", "stats/o/locked-3", "stats/p/1"] {
                repo.put_sealed(k, &serde_json::json!({"k": k}))
                    .await
                    .unwrap();
            }
            assert_eq!(
                repo.delete_sealed("stats/o/1").await.unwrap(),
                SealedDelete::Deleted
            );
            assert_eq!(repo.get_sealed("stats/o/1").await.unwrap(), None);
            // absent: nothing to do, not an error
            assert_eq!(
                repo.delete_sealed("stats/o/1").await.unwrap(),
                SealedDelete::Deleted
            );
            let locked = repo.delete_sealed("stats/o/locked-3").await.unwrap();
            let want = if capable {
                Some("2031-01-01T00:00:00Z".parse().unwrap())
            } else {
                None
            };
            assert_eq!(locked, SealedDelete::Locked { until: want });
            assert!(repo.get_sealed("stats/o/locked-3").await.unwrap().is_some());
            assert_eq!(
                repo.list_sealed("stats/").await.unwrap(),
                vec!["stats/o/2", "stats/o/locked-3", "stats/p/1"]
            );
            // the engine's own objects are out of reach
            assert!(repo.delete_sealed("config").await.is_err());
            assert!(repo.delete_sealed("snapshots/x").await.is_err());
            assert!(repo.delete_sealed("stats/../keys/x").await.is_err());
            assert!(!storage.inner.list("keys/").await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn round_trip_write_once_and_tamper_detected() {
        use crate::{InitOptions, KdfParams, LocalStorage, Storage};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let storage = Arc::new(LocalStorage::new(dir.path().join("r")).unwrap());
        let opts = InitOptions {
            kdf: KdfParams::insecure_fast(),
            cache_dir: Some(dir.path().join("c")),
            ..InitOptions::default()
        };
        let repo = Repository::init(storage.clone(), "pw", opts).await.unwrap();
        let doc = serde_json::json!({"a": 1});
        assert_eq!(
            repo.put_sealed("alerts/one", &doc).await.unwrap(),
            PutOutcome::Created
        );
        assert_ne!(
            repo.put_sealed("alerts/one", &serde_json::json!({"a": 2}))
                .await
                .unwrap(),
            PutOutcome::Created
        );
        assert_eq!(repo.get_sealed("alerts/one").await.unwrap(), Some(doc));
        assert_eq!(repo.get_sealed("alerts/two").await.unwrap(), None);
        assert_eq!(
            repo.list_sealed("alerts/").await.unwrap(),
            vec!["alerts/one".to_string()]
        );
        // The same bytes under another key do not authenticate.
        let raw = storage.get("alerts/one").await.unwrap();
        storage.put_if_absent("alerts/moved", raw).await.unwrap();
        assert!(matches!(
            repo.get_sealed("alerts/moved").await,
            Err(Error::Corrupt { .. })
        ));
        assert!(
            repo.put_sealed("snapshots/x", &serde_json::json!(1))
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn cache_records_open_only_with_their_repository_purpose_and_ad() {
        use crate::{InitOptions, KdfParams, LocalStorage};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let init = |name: &str| {
            let storage = Arc::new(LocalStorage::new(dir.path().join(name)).unwrap());
            let opts = InitOptions {
                kdf: KdfParams::insecure_fast(),
                cache_dir: Some(dir.path().join("c")),
                ..InitOptions::default()
            };
            Repository::init(storage, "pw", opts)
        };
        let (repo, other) = (init("r1").await.unwrap(), init("r2").await.unwrap());
        let s = repo.cache_sealer("find");
        let sealed = s.seal(b"row 7", b"Subject: merger");
        assert_eq!(sealed.len(), b"Subject: merger".len() + 40);
        assert!(!sealed.windows(6).any(|w| w == b"merger"));
        assert_eq!(s.open(b"row 7", &sealed, "x").unwrap(), b"Subject: merger");
        // the same key again from the same repository (a later process)
        assert!(
            repo.cache_sealer("find")
                .open(b"row 7", &sealed, "x")
                .is_ok()
        );
        assert!(
            s.open(b"row 8", &sealed, "x").is_err(),
            "moved to another row"
        );
        assert!(
            repo.cache_sealer("other")
                .open(b"row 7", &sealed, "x")
                .is_err()
        );
        let e = other.cache_sealer("find").open(b"row 7", &sealed, "x");
        assert!(matches!(e, Err(Error::Corrupt { .. })), "{e:?}");
    }
}
