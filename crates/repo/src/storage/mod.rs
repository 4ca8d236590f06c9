//! The storage trait (objects by key, written once) and its wrappers.
//!
//! A backend only needs five operations. Wrappers add one behaviour each around any
//! `Arc<dyn Storage>`: [`RetryStorage`], [`FaultStorage`], [`MetricsStorage`].
//!
//! Backends with Object Lock and versioning (S3) also implement the optional methods
//! ([`Storage::lock_capabilities`], [`Storage::extend_lock`], [`Storage::set_legal_hold`],
//! [`Storage::versions`], [`Storage::get_original`], [`Storage::clean_incomplete`]); their
//! defaults describe a plain store without locks or history.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod fault;
mod local;
mod lock;
mod metrics;
mod retry;
mod tamper;

pub use fault::{Fault, FaultKind, FaultOp, FaultStorage};
pub use local::LocalStorage;
pub use lock::{LockCapabilities, LockMode, LockPolicy, ObjectVersion};
pub use metrics::{MetricsSnapshot, MetricsStorage};
pub use retry::RetryStorage;
pub use tamper::TamperGuard;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

/// Outcome of [`Storage::put_if_absent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The object did not exist and now holds the given bytes.
    Created,
    /// An object with this key already existed; it was left untouched.
    AlreadyExists,
}

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object {key} not found")]
    NotFound { key: String },
    #[error("object {key} already exists")]
    AlreadyExists { key: String },
    #[error("no space left on storage while writing {key}")]
    NoSpace { key: String },
    #[error("permission denied on {key}")]
    PermissionDenied { key: String },
    #[error("invalid object key {key:?}")]
    InvalidKey { key: String },
    #[error("I/O error on {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
    #[error("transient storage error on {key}: {detail}")]
    Transient { key: String, detail: String },
    /// The object is under Object Lock retention (or legal hold) and cannot be deleted yet.
    #[error("object {key} is locked{}", until.map(|u| format!(" until {u}")).unwrap_or_default())]
    Locked {
        key: String,
        until: Option<DateTime<Utc>>,
    },
    /// The backend cannot do this (e.g. Object Lock on a local directory).
    #[error("{operation} is not supported by this storage backend")]
    Unsupported { operation: &'static str },
    /// Any other backend error (e.g. an S3 error code and message).
    #[error("storage error on {key}: {detail}")]
    Backend { key: String, detail: String },
}

impl StorageError {
    /// The one place that decides whether an operation may be retried.
    pub fn is_retriable(&self) -> bool {
        match self {
            StorageError::Transient { .. } => true,
            StorageError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            ),
            _ => false,
        }
    }

    pub(crate) fn from_io(key: &str, e: std::io::Error) -> Self {
        let key = key.to_string();
        if e.raw_os_error() == Some(libc::ENOSPC) || e.raw_os_error() == Some(libc::EDQUOT) {
            return StorageError::NoSpace { key };
        }
        match e.kind() {
            std::io::ErrorKind::NotFound => StorageError::NotFound { key },
            std::io::ErrorKind::AlreadyExists => StorageError::AlreadyExists { key },
            std::io::ErrorKind::PermissionDenied => StorageError::PermissionDenied { key },
            _ => StorageError::Io { key, source: e },
        }
    }
}

/// An object store: keys are `/`-separated relative paths, objects are immutable.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug {
    /// Read a whole object.
    async fn get(&self, key: &str) -> Result<Bytes, StorageError>;
    /// Read `len` bytes at `offset`. Reading past the end is an error.
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StorageError>;
    /// Create the object if no object has this key; never overwrite.
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, StorageError>;
    /// List `(key, size)` of all objects whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError>;
    /// Delete an object. Deleting a missing object is not an error. A backend with Object
    /// Lock refuses with [`StorageError::Locked`] while the object is retained.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// What this backend can do about immutability. Default: nothing (a plain store).
    fn lock_capabilities(&self) -> LockCapabilities {
        LockCapabilities::default()
    }

    /// Until when `key` is retained (Object Lock), `None` if it is not locked.
    async fn lock_until(&self, key: &str) -> Result<Option<DateTime<Utc>>, StorageError> {
        let _ = key;
        Ok(None)
    }

    /// Extend the retention of `key` to `until`. Never shortens: a date earlier than the
    /// current one leaves the object as it is.
    async fn extend_lock(&self, key: &str, until: DateTime<Utc>) -> Result<(), StorageError> {
        let _ = (key, until);
        Err(StorageError::Unsupported {
            operation: "extend_lock",
        })
    }

    /// Set or clear the legal-hold flag of `key` (the version first written).
    async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), StorageError> {
        let _ = (key, on);
        Err(StorageError::Unsupported {
            operation: "set_legal_hold",
        })
    }

    /// Whether the legal-hold flag of `key` (the version first written) is on. Default:
    /// `false` (a backend without legal holds never has it on).
    async fn legal_hold(&self, key: &str) -> Result<bool, StorageError> {
        let _ = key;
        Ok(false)
    }

    /// Every stored version of `key`, oldest first. Empty when the backend keeps no history
    /// (then the only version is the current object).
    async fn versions(&self, key: &str) -> Result<Vec<ObjectVersion>, StorageError> {
        let _ = key;
        Ok(Vec::new())
    }

    /// The bytes (or `range = (offset, len)`) of the version of `key` that was written first,
    /// if the backend keeps history and `key` has been overwritten since; `None` otherwise.
    /// Tamper recovery reads this when the current version fails authentication.
    async fn get_original(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Bytes>, StorageError> {
        let _ = (key, range);
        Ok(None)
    }

    /// Keys under `prefix` that have more than one stored version (overwritten after their
    /// first write, which the repository never does). Empty for a backend without history.
    async fn overwritten(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let _ = prefix;
        Ok(Vec::new())
    }

    /// Remove leftovers of writes that were interrupted before `older_than` (a killed
    /// process): temporary files, unfinished multipart uploads. Returns how many were removed.
    async fn clean_incomplete(&self, older_than: DateTime<Utc>) -> Result<u64, StorageError> {
        let _ = older_than;
        Ok(0)
    }

    /// A local directory on the same filesystem as the objects, where a writer may stream a
    /// large object (a pack) into a temporary file named `.tmp-*` and hand it over with
    /// [`put_file_if_absent`](Self::put_file_if_absent) instead of holding it in memory.
    /// Default: `None` (objects are not local files; write them with `put_if_absent`).
    fn staging_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Create object `key` from a complete, synced file in [`staging_dir`](Self::staging_dir)
    /// if no object has this key (never overwrite). The caller removes `file` afterwards.
    /// Default: read it and [`put_if_absent`](Self::put_if_absent) its bytes.
    async fn put_file_if_absent(
        &self,
        key: &str,
        file: &std::path::Path,
    ) -> Result<PutOutcome, StorageError> {
        let data = tokio::fs::read(file)
            .await
            .map_err(|e| StorageError::from_io(key, e))?;
        self.put_if_absent(key, data.into()).await
    }
}

/// Reject keys that could escape a backend's namespace (every backend calls this first).
pub fn validate_key(key: &str) -> Result<(), StorageError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.contains('\\')
        || key.contains('\0')
        || key
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == ".." || c.starts_with(".tmp-"));
    if bad {
        return Err(StorageError::InvalidKey {
            key: key.to_string(),
        });
    }
    Ok(())
}
