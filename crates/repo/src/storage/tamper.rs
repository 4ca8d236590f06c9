//! Tamper recovery: reads of an overwritten object return the version first written.
//!
//! Every repository object is written once. In a versioned bucket (S3 with Object Lock) an
//! attacker with write access can still *overwrite* a key; S3 keeps the original, locked
//! version underneath. [`TamperGuard`] wraps the repository's storage (done by
//! `Repository::open`/`init` when the backend is versioned): on first use it asks the backend
//! for every key that has more than one version ([`Storage::overwritten`]), and from then on
//! every `get`/`get_range` of such a key reads the original version instead and records the
//! key ([`TamperGuard::tampered`]). Authentication still decides what is valid: the original
//! must decrypt and verify like any object. `check` reports [`Storage::overwritten`] keys.

use super::{LockCapabilities, ObjectVersion, PutOutcome, Storage, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Serves the original version of overwritten objects; see the module documentation.
#[derive(Debug)]
pub struct TamperGuard {
    inner: Arc<dyn Storage>,
    overwritten: OnceCell<HashSet<String>>,
    served: parking_lot::Mutex<BTreeSet<String>>,
}

impl TamperGuard {
    /// Wrap `inner` if it keeps versions; otherwise return it unchanged.
    pub fn wrap(inner: Arc<dyn Storage>) -> Arc<dyn Storage> {
        if inner.lock_capabilities().versioned {
            Arc::new(TamperGuard {
                inner,
                overwritten: OnceCell::new(),
                served: Default::default(),
            })
        } else {
            inner
        }
    }

    /// Keys whose original version this guard has served instead of an overwrite.
    pub fn tampered(&self) -> Vec<String> {
        self.served.lock().iter().cloned().collect()
    }

    async fn is_overwritten(&self, key: &str) -> Result<bool, StorageError> {
        let set = self
            .overwritten
            .get_or_try_init(|| async {
                let keys = self.inner.overwritten("").await?;
                if !keys.is_empty() {
                    tracing::warn!(
                        count = keys.len(),
                        "objects were overwritten after they were written; reading their original versions"
                    );
                }
                Ok::<_, StorageError>(keys.into_iter().collect::<HashSet<_>>())
            })
            .await?;
        Ok(set.contains(key))
    }

    async fn read(&self, key: &str, range: Option<(u64, u64)>) -> Result<Bytes, StorageError> {
        if self.is_overwritten(key).await?
            && let Some(b) = self.inner.get_original(key, range).await?
        {
            if self.served.lock().insert(key.to_string()) {
                tracing::warn!(key, "object was overwritten; serving its original version");
            }
            return Ok(b);
        }
        match range {
            None => self.inner.get(key).await,
            Some((o, l)) => self.inner.get_range(key, o, l).await,
        }
    }
}

#[async_trait]
impl Storage for TamperGuard {
    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        self.read(key, None).await
    }
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StorageError> {
        self.read(key, Some((offset, len))).await
    }
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, StorageError> {
        self.inner.put_if_absent(key, data).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    fn lock_capabilities(&self) -> LockCapabilities {
        self.inner.lock_capabilities()
    }
    async fn lock_until(&self, key: &str) -> Result<Option<DateTime<Utc>>, StorageError> {
        self.inner.lock_until(key).await
    }
    async fn extend_lock(&self, key: &str, until: DateTime<Utc>) -> Result<(), StorageError> {
        self.inner.extend_lock(key, until).await
    }
    async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), StorageError> {
        self.inner.set_legal_hold(key, on).await
    }
    async fn legal_hold(&self, key: &str) -> Result<bool, StorageError> {
        self.inner.legal_hold(key).await
    }
    async fn versions(&self, key: &str) -> Result<Vec<ObjectVersion>, StorageError> {
        self.inner.versions(key).await
    }
    async fn get_original(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Bytes>, StorageError> {
        self.inner.get_original(key, range).await
    }
    async fn overwritten(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.inner.overwritten(prefix).await
    }
    async fn clean_incomplete(&self, older_than: DateTime<Utc>) -> Result<u64, StorageError> {
        self.inner.clean_incomplete(older_than).await
    }
}
