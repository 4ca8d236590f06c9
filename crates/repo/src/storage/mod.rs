//! The storage trait (objects by key, written once) and its wrappers.
//!
//! A backend only needs five operations. Wrappers add one behaviour each around any
//! `Arc<dyn Storage>`: [`RetryStorage`], [`FaultStorage`], [`MetricsStorage`].

mod fault;
mod local;
mod metrics;
mod retry;

pub use fault::{Fault, FaultKind, FaultOp, FaultStorage};
pub use local::LocalStorage;
pub use metrics::{MetricsSnapshot, MetricsStorage};
pub use retry::RetryStorage;

use async_trait::async_trait;
use bytes::Bytes;

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
    /// Delete an object. Deleting a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
}

/// Reject keys that could escape a backend's namespace.
pub(crate) fn validate_key(key: &str) -> Result<(), StorageError> {
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
