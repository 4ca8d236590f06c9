//! Metrics wrapper: counts operations and bytes.

use super::{PutOutcome, Storage, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a [`MetricsStorage`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub gets: u64,
    pub bytes_read: u64,
    pub puts: u64,
    /// Puts that created an object.
    pub puts_created: u64,
    pub bytes_written: u64,
    pub lists: u64,
    pub deletes: u64,
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    bytes_read: AtomicU64,
    puts: AtomicU64,
    puts_created: AtomicU64,
    bytes_written: AtomicU64,
    lists: AtomicU64,
    deletes: AtomicU64,
    errors: AtomicU64,
}

/// Counts calls and bytes on the wrapped storage.
#[derive(Debug)]
pub struct MetricsStorage {
    inner: Arc<dyn Storage>,
    c: Counters,
}

impl MetricsStorage {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        MetricsStorage {
            inner,
            c: Counters::default(),
        }
    }

    /// Current counter values.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MetricsSnapshot {
            gets: l(&self.c.gets),
            bytes_read: l(&self.c.bytes_read),
            puts: l(&self.c.puts),
            puts_created: l(&self.c.puts_created),
            bytes_written: l(&self.c.bytes_written),
            lists: l(&self.c.lists),
            deletes: l(&self.c.deletes),
            errors: l(&self.c.errors),
        }
    }

    fn note<T>(&self, r: Result<T, StorageError>) -> Result<T, StorageError> {
        if r.is_err() {
            self.c.errors.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

#[async_trait]
impl Storage for MetricsStorage {
    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        self.c.gets.fetch_add(1, Ordering::Relaxed);
        let r = self.inner.get(key).await;
        if let Ok(b) = &r {
            self.c
                .bytes_read
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        self.note(r)
    }
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StorageError> {
        self.c.gets.fetch_add(1, Ordering::Relaxed);
        let r = self.inner.get_range(key, offset, len).await;
        if let Ok(b) = &r {
            self.c
                .bytes_read
                .fetch_add(b.len() as u64, Ordering::Relaxed);
        }
        self.note(r)
    }
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, StorageError> {
        self.c.puts.fetch_add(1, Ordering::Relaxed);
        let n = data.len() as u64;
        let r = self.inner.put_if_absent(key, data).await;
        if let Ok(PutOutcome::Created) = r {
            self.c.puts_created.fetch_add(1, Ordering::Relaxed);
            self.c.bytes_written.fetch_add(n, Ordering::Relaxed);
        }
        self.note(r)
    }
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        self.c.lists.fetch_add(1, Ordering::Relaxed);
        let r = self.inner.list(prefix).await;
        self.note(r)
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.c.deletes.fetch_add(1, Ordering::Relaxed);
        let r = self.inner.delete(key).await;
        self.note(r)
    }

    fn lock_capabilities(&self) -> super::LockCapabilities {
        self.inner.lock_capabilities()
    }
    async fn lock_until(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StorageError> {
        let r = self.inner.lock_until(key).await;
        self.note(r)
    }
    async fn extend_lock(
        &self,
        key: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError> {
        let r = self.inner.extend_lock(key, until).await;
        self.note(r)
    }
    async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), StorageError> {
        let r = self.inner.set_legal_hold(key, on).await;
        self.note(r)
    }
    async fn legal_hold(&self, key: &str) -> Result<bool, StorageError> {
        let r = self.inner.legal_hold(key).await;
        self.note(r)
    }
    async fn versions(&self, key: &str) -> Result<Vec<super::ObjectVersion>, StorageError> {
        let r = self.inner.versions(key).await;
        self.note(r)
    }
    async fn get_original(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Bytes>, StorageError> {
        let r = self.inner.get_original(key, range).await;
        self.note(r)
    }
    async fn overwritten(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let r = self.inner.overwritten(prefix).await;
        self.note(r)
    }
    async fn clean_incomplete(
        &self,
        older_than: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StorageError> {
        let r = self.inner.clean_incomplete(older_than).await;
        self.note(r)
    }
}
