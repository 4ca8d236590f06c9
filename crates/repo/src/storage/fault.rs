//! Fault-injecting wrapper for tests: deterministic errors and torn writes.

use super::{PutOutcome, Storage, StorageError};
use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use std::sync::Arc;

/// One injected fault. `prefix` selects keys; `skip` matching calls pass first;
/// then the fault fires `times` times (`None` = forever).
#[derive(Debug, Clone)]
pub struct Fault {
    pub op: FaultOp,
    pub prefix: String,
    pub skip: u64,
    pub times: Option<u64>,
    pub kind: FaultKind,
}

/// Which operation a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOp {
    Get,
    Put,
    List,
    Delete,
}

/// What a [`Fault`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Fail with [`StorageError::NoSpace`] (disk full); nothing is written.
    NoSpace,
    /// Fail with a retriable [`StorageError::Transient`].
    Transient,
    /// Fail with a non-retriable I/O error.
    Io,
    /// Put only the first `n` bytes (a torn write) and report success.
    TruncatePut(usize),
}

impl Fault {
    /// Disk full on every put under `prefix` after `skip` successful ones.
    pub fn no_space(prefix: &str, skip: u64) -> Self {
        Fault {
            op: FaultOp::Put,
            prefix: prefix.into(),
            skip,
            times: None,
            kind: FaultKind::NoSpace,
        }
    }

    /// `times` transient failures of `op` under `prefix`.
    pub fn transient(op: FaultOp, prefix: &str, times: u64) -> Self {
        Fault {
            op,
            prefix: prefix.into(),
            skip: 0,
            times: Some(times),
            kind: FaultKind::Transient,
        }
    }
}

#[derive(Debug)]
struct Rule {
    fault: Fault,
    seen: u64,
    fired: u64,
}

/// Injects the configured [`Fault`]s, otherwise forwards to the inner storage.
#[derive(Debug)]
pub struct FaultStorage {
    inner: Arc<dyn Storage>,
    rules: Mutex<Vec<Rule>>,
}

impl FaultStorage {
    pub fn new(inner: Arc<dyn Storage>) -> Self {
        FaultStorage {
            inner,
            rules: Mutex::new(Vec::new()),
        }
    }

    /// Add a fault rule.
    pub fn inject(&self, fault: Fault) {
        self.rules.lock().push(Rule {
            fault,
            seen: 0,
            fired: 0,
        });
    }

    /// Remove all fault rules.
    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// How many times faults have fired in total.
    pub fn fired(&self) -> u64 {
        self.rules.lock().iter().map(|r| r.fired).sum()
    }

    fn check(&self, op: FaultOp, key: &str) -> Option<FaultKind> {
        let mut rules = self.rules.lock();
        for r in rules.iter_mut() {
            if r.fault.op != op || !key.starts_with(&r.fault.prefix) {
                continue;
            }
            r.seen += 1;
            if r.seen <= r.fault.skip {
                continue;
            }
            if r.fault.times.is_some_and(|t| r.fired >= t) {
                continue;
            }
            r.fired += 1;
            return Some(r.fault.kind.clone());
        }
        None
    }
}

fn error(kind: &FaultKind, key: &str) -> StorageError {
    let key = key.to_string();
    match kind {
        FaultKind::NoSpace => StorageError::NoSpace { key },
        FaultKind::Transient => StorageError::Transient {
            key,
            detail: "injected transient fault".into(),
        },
        _ => StorageError::Io {
            key,
            source: std::io::Error::other("injected I/O fault"),
        },
    }
}

#[async_trait]
impl Storage for FaultStorage {
    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        match self.check(FaultOp::Get, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.get(key).await,
        }
    }
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StorageError> {
        match self.check(FaultOp::Get, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.get_range(key, offset, len).await,
        }
    }
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, StorageError> {
        match self.check(FaultOp::Put, key) {
            Some(FaultKind::TruncatePut(n)) => {
                let n = n.min(data.len());
                self.inner.put_if_absent(key, data.slice(..n)).await
            }
            Some(k) => Err(error(&k, key)),
            None => self.inner.put_if_absent(key, data).await,
        }
    }
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        match self.check(FaultOp::List, prefix) {
            Some(k) => Err(error(&k, prefix)),
            None => self.inner.list(prefix).await,
        }
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.check(FaultOp::Delete, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.delete(key).await,
        }
    }

    fn lock_capabilities(&self) -> super::LockCapabilities {
        self.inner.lock_capabilities()
    }
    async fn lock_until(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StorageError> {
        match self.check(FaultOp::Get, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.lock_until(key).await,
        }
    }
    async fn extend_lock(
        &self,
        key: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError> {
        match self.check(FaultOp::Put, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.extend_lock(key, until).await,
        }
    }
    async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), StorageError> {
        match self.check(FaultOp::Put, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.set_legal_hold(key, on).await,
        }
    }
    async fn legal_hold(&self, key: &str) -> Result<bool, StorageError> {
        match self.check(FaultOp::Get, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.legal_hold(key).await,
        }
    }
    async fn versions(&self, key: &str) -> Result<Vec<super::ObjectVersion>, StorageError> {
        match self.check(FaultOp::List, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.versions(key).await,
        }
    }
    async fn get_original(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Bytes>, StorageError> {
        match self.check(FaultOp::Get, key) {
            Some(k) => Err(error(&k, key)),
            None => self.inner.get_original(key, range).await,
        }
    }
    async fn overwritten(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        match self.check(FaultOp::List, prefix) {
            Some(k) => Err(error(&k, prefix)),
            None => self.inner.overwritten(prefix).await,
        }
    }
    async fn clean_incomplete(
        &self,
        older_than: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StorageError> {
        match self.check(FaultOp::Delete, "") {
            Some(k) => Err(error(&k, "")),
            None => self.inner.clean_incomplete(older_than).await,
        }
    }
}
