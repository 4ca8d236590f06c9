//! Error type of the repository engine.

use crate::storage::StorageError;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the repository engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No key slot accepted the passphrase. Nothing was written.
    #[error("wrong passphrase: no key slot could be unlocked")]
    WrongPassphrase,
    /// The repository uses a format version this build does not understand.
    #[error("unsupported repository format version {found} (this build reads version 1)")]
    UnsupportedVersion { found: u64 },
    /// An object failed authentication, decoding or a consistency check. Never retried.
    #[error("corrupt object {object}: {detail}")]
    Corrupt { object: String, detail: String },
    /// A named thing (snapshot, item, key, blob) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// An owner's key is missing (erased): its snapshots cannot be read.
    #[error("owner key {oid} is missing (owner erased?): snapshot content is unreadable")]
    OwnerKeyMissing { oid: String },
    /// The owner was erased (GDPR): its key is destroyed and its data unreadable.
    #[error(
        "owner {owner} was erased on {} (reason: {reason}, by {by}): its data is unreadable",
        at.format("%Y-%m-%d %H:%M UTC")
    )]
    Erased {
        owner: String,
        at: chrono::DateTime<chrono::Utc>,
        reason: String,
        by: String,
    },
    /// An active legal hold covers data the operation would destroy; nothing was changed.
    #[error("refused: legal hold {case} (hold {hold}) covers {what}; release the hold first")]
    Held {
        hold: String,
        case: String,
        what: String,
    },
    /// The caller asked for something invalid (bad prefix, removing the last key, ...).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// An error from the storage backend.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Local I/O (cache directory, source files, restore target).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The local index cache (redb) failed.
    #[error("index cache: {0}")]
    Cache(String),
}

impl Error {
    pub(crate) fn corrupt(object: impl Into<String>, detail: impl std::fmt::Display) -> Self {
        Error::Corrupt {
            object: object.into(),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True if the error means "storage is full" (disk full, quota).
    pub fn is_no_space(&self) -> bool {
        matches!(self, Error::Storage(StorageError::NoSpace { .. }))
            || matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(libc::ENOSPC))
    }
}

macro_rules! cache_err {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self { Error::Cache(e.to_string()) }
        }
    )*};
}
cache_err!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
