//! tenantvault-repo: the repository engine of tenantvault.
//!
//! It stores snapshots of *owners'* items (a mailbox, a drive, a local folder) in any
//! [`Storage`] backend: content is chunked with FastCDC, deduplicated by keyed BLAKE3 ids
//! across all owners, compressed with zstd, encrypted with XChaCha20-Poly1305 under
//! convergent per-blob keys that only the owner's (encrypted) snapshots hold, and packed.
//! Objects are written once; write order pack → index → snapshot keeps the repository valid
//! after any crash. The on-storage format is specified in `docs/FORMAT.md`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tenantvault_repo::{LocalStorage, Repository, InitOptions, OwnerRef, BackupOptions, ItemMeta};
//! use futures::TryStreamExt;
//! # async fn demo() -> Result<(), tenantvault_repo::Error> {
//! let storage = Arc::new(LocalStorage::new("/tmp/repo")?);
//! let repo = Repository::init(storage, "correct horse", InitOptions::default()).await?;
//! let mut session = repo.begin_backup(OwnerRef::new("dir", "alice"), BackupOptions::default()).await?;
//! let meta = ItemMeta { id: "notes.txt".into(), kind: "file".into(), name: "notes.txt".into(), ..Default::default() };
//! session.put_item(meta, &b"hello"[..]).await?;
//! let summary = session.commit(serde_json::json!({})).await?;
//! let snap = repo.snapshot(&summary.id.0).await?;
//! let items: Vec<_> = snap.items().try_collect().await?;
//! let mut reader = repo.content_reader(&snap, &items[0]);
//! let mut out = Vec::new();
//! tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut out).await.unwrap();
//! assert_eq!(out, b"hello");
//! # Ok(()) }
//! ```

mod audit;
mod audit_verify;
mod blob;
mod check;
mod chunker;
mod crypto;
mod departed;
mod dir;
mod erase;
mod erase_items;
mod error;
mod gc;
mod hold;
mod idset;
mod index;
mod keys;
mod locks;
mod marker;
mod model;
mod pack;
mod packer;
mod pending;
mod repository;
pub mod retention;
mod rewrite;
mod sealed;
mod session;
mod snapshot;
pub mod storage;

pub use audit::{AuditEntry, AuditFilter, AuditHead, AuditRecord, CHECKPOINT_EVERY};
pub use audit_verify::{AuditProblem, AuditProblemKind, AuditVerifyReport};
pub use check::{AffectedItem, CheckOptions, CheckReport, Damage};
pub use chunker::{ChunkSizes, ChunkerParams};
pub use crypto::{BlobId, BlobKey, KdfParams, PackId};
pub use departed::{DEPARTED_PREFIX, Departure};
pub use dir::{
    DIR_WORKLOAD, DirBackupOptions, NoProgress, Progress, RestoreOptions, RestoreReport,
    backup_dir, restore_items, safe_target_path,
};
pub use erase::{ERASURE_PREFIX, EraseRequest, Erasure, HoldCheck};
pub use erase_items::{ITEM_ERASURE_PREFIX, ItemErasure, ItemSelection, RewrittenSnapshot};
pub use error::{Error, Result};
pub use gc::{GcOptions, GcReport};
pub use hold::{HOLD_PREFIX, Hold, HoldRelease, HoldScope, ItemQuery, NewHold, item_date};
pub use keys::{KeyId, KeyInfo};
pub use locks::{LegalHoldReport, LockReport};
pub use model::{
    BackupMode, ContentRef, Failure, ItemMeta, ItemRecord, MetadataRef, OwnerRef, SnapshotFilter,
    SnapshotId, SnapshotStats, SnapshotSummary,
};
pub use repository::{FORMAT_VERSION, InitOptions, OpenOptions, RepoInfo, Repository};
pub use rewrite::{REWRITE_PREFIX, RewriteRecord};
pub use sealed::{CacheSealer, SealedDelete};
pub use session::{
    BackupOptions, BackupSession, PREPARE_MAX, ParentSelect, PreparedItem, Preparer,
};
pub use snapshot::{ListRef, RANDOM_LOOKUP_CACHE_BYTES, Snapshot};
pub use storage::{
    Fault, FaultKind, FaultOp, FaultStorage, LocalStorage, MetricsSnapshot, MetricsStorage,
    PutOutcome, RetryStorage, Storage, StorageError,
};
