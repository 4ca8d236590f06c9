//! Public data types: owners, items, snapshots.

use crate::crypto::{BlobId, BlobKey};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whose data a snapshot holds: a workload ("exchange", "drive", "dir", …) and an owner in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwnerRef {
    pub workload: String,
    pub owner: String,
}

impl OwnerRef {
    pub fn new(workload: impl Into<String>, owner: impl Into<String>) -> Self {
        OwnerRef {
            workload: workload.into(),
            owner: owner.into(),
        }
    }
}

impl std::fmt::Display for OwnerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.workload, self.owner)
    }
}

/// One stored blob of an item: its id, its key (convergent), its plaintext length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentRef {
    pub id: BlobId,
    pub key: BlobKey,
    pub len: u64,
}

/// Where an item's metadata document is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataRef {
    /// Small documents (≤ 1 KiB) inline, base64 in the item list.
    Inline(#[serde(with = "b64bytes")] Vec<u8>),
    /// Larger documents in their own blob.
    Blob(ContentRef),
}

/// An item as recorded in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// Unique within the snapshot; items are sorted by it.
    pub id: String,
    /// "file", "dir", "symlink", "message", "event", "contact", …
    pub kind: String,
    /// Logical folder path (`/`-separated).
    pub path: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<DateTime<Utc>>,
    /// Content size in bytes.
    pub size: u64,
    /// Change detector: etag / changeKey, or size+mtime for files.
    pub version: String,
    pub content: Vec<ContentRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<MetadataRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// What the caller supplies for a new item (content comes as a stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemMeta {
    pub id: String,
    pub kind: String,
    pub path: String,
    pub name: String,
    pub created: Option<DateTime<Utc>>,
    pub modified: Option<DateTime<Utc>>,
    pub received: Option<DateTime<Utc>>,
    /// Expected content size if known (chooses the chunking profile; 0 = unknown/small).
    pub size_hint: u64,
    pub version: String,
    /// Metadata document (e.g. Graph JSON), stored encrypted beside the content.
    pub metadata: Option<Vec<u8>>,
    pub attrs: BTreeMap<String, String>,
}

/// Snapshot id: 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SnapshotId(pub String);

impl std::fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl SnapshotId {
    /// The first 8 characters, for display.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(8)]
    }
}

/// Full (items not put/kept are absent) or Incremental (parent's items carried over).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupMode {
    #[default]
    Full,
    Incremental,
}

/// Figures of one snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotStats {
    /// Items in the snapshot.
    pub items: u64,
    /// Sum of item sizes.
    pub bytes: u64,
    /// Items whose content was read in this run.
    pub items_new: u64,
    /// Plaintext bytes read in this run.
    pub bytes_read: u64,
    /// Blobs uploaded by this run.
    pub blobs_new: u64,
    /// Stored (compressed+encrypted) bytes uploaded by this run.
    pub bytes_stored: u64,
    /// Failed items.
    pub failures: u64,
}

/// The readable head of a snapshot (encrypted with the metadata key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    pub id: SnapshotId,
    pub owner: OwnerRef,
    pub time: DateTime<Utc>,
    pub parent: Option<SnapshotId>,
    /// False for checkpoints (partial snapshots written for resume).
    pub complete: bool,
    pub mode: BackupMode,
    pub stats: SnapshotStats,
}

/// An item that could not be backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub item_id: String,
    pub reason: String,
}

/// Filter for [`crate::Repository::list_snapshots`]; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    pub workload: Option<String>,
    pub owner: Option<String>,
    /// Include partial snapshots (checkpoints).
    pub include_partial: bool,
}

impl SnapshotFilter {
    pub fn matches(&self, s: &SnapshotSummary) -> bool {
        self.workload
            .as_ref()
            .is_none_or(|w| *w == s.owner.workload)
            && self.owner.as_ref().is_none_or(|o| *o == s.owner.owner)
            && (self.include_partial || s.complete)
    }
}

mod b64bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::crypto::b64(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        crate::crypto::unb64(&s, "inline metadata").map_err(serde::de::Error::custom)
    }
}
