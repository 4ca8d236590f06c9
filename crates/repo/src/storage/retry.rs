//! Retrying wrapper: retries operations whose error [`StorageError::is_retriable`].

use super::{PutOutcome, Storage, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// Retries retriable errors with exponential backoff (`base`, doubling, `attempts` tries in total).
#[derive(Debug)]
pub struct RetryStorage {
    inner: Arc<dyn Storage>,
    attempts: u32,
    base: Duration,
}

impl RetryStorage {
    /// Wrap `inner`, with 5 attempts starting at 100 ms.
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        Self::with_policy(inner, 5, Duration::from_millis(100))
    }

    /// Wrap `inner` with an explicit policy (`attempts` ≥ 1).
    pub fn with_policy(inner: Arc<dyn Storage>, attempts: u32, base: Duration) -> Self {
        RetryStorage {
            inner,
            attempts: attempts.max(1),
            base,
        }
    }

    async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, StorageError>
    where
        F: FnMut() -> Fut + Send,
        Fut: std::future::Future<Output = Result<T, StorageError>> + Send,
    {
        let mut delay = self.base;
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if e.is_retriable() && attempt < self.attempts => {
                    tracing::warn!(attempt, error = %e, "retrying storage operation");
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl Storage for RetryStorage {
    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        self.run(|| self.inner.get(key)).await
    }
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StorageError> {
        self.run(|| self.inner.get_range(key, offset, len)).await
    }
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, StorageError> {
        // A retried put whose first attempt succeeded reports AlreadyExists; callers treat
        // both outcomes as "the object is there" for content-addressed keys.
        self.run(|| self.inner.put_if_absent(key, data.clone()))
            .await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        self.run(|| self.inner.list(prefix)).await
    }
    fn staging_dir(&self) -> Option<std::path::PathBuf> {
        self.inner.staging_dir()
    }
    async fn put_file_if_absent(
        &self,
        key: &str,
        file: &std::path::Path,
    ) -> Result<PutOutcome, StorageError> {
        self.run(|| self.inner.put_file_if_absent(key, file)).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.run(|| self.inner.delete(key)).await
    }

    fn lock_capabilities(&self) -> super::LockCapabilities {
        self.inner.lock_capabilities()
    }
    async fn lock_until(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StorageError> {
        self.run(|| self.inner.lock_until(key)).await
    }
    async fn extend_lock(
        &self,
        key: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError> {
        self.run(|| self.inner.extend_lock(key, until)).await
    }
    async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), StorageError> {
        self.run(|| self.inner.set_legal_hold(key, on)).await
    }
    async fn legal_hold(&self, key: &str) -> Result<bool, StorageError> {
        self.run(|| self.inner.legal_hold(key)).await
    }
    async fn versions(&self, key: &str) -> Result<Vec<super::ObjectVersion>, StorageError> {
        self.run(|| self.inner.versions(key)).await
    }
    async fn get_original(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Bytes>, StorageError> {
        self.run(|| self.inner.get_original(key, range)).await
    }
    async fn overwritten(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.run(|| self.inner.overwritten(prefix)).await
    }
    async fn clean_incomplete(
        &self,
        older_than: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StorageError> {
        self.run(|| self.inner.clean_incomplete(older_than)).await
    }
}
