//! Rewriting a snapshot without some items (item-level retention; FORMAT.md, "Rewritten
//! snapshots").
//!
//! Snapshots are write-once, so a rewrite writes a *new* snapshot root with the same owner,
//! time, parent, state and failures, minus the removed items; then a record
//! `rewrites/<new-id>.<old-id>` (sealed: who, when, why, which items); then deletes the old
//! root. A crash
//! between those steps leaves both roots; [`Repository::finish_rewrites`] completes the
//! deletion. GC later reclaims blobs that no snapshot references any more.

use crate::crypto::{open, seal};
use crate::error::{Error, Result};
use crate::model::{BackupMode, OwnerRef, SnapshotId, SnapshotSummary};
use crate::repository::Repository;
use crate::session::{BackupOptions, ParentSelect};
use crate::snapshot::snapshot_key;
use crate::storage::StorageError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Storage prefix of rewrite records.
pub const REWRITE_PREFIX: &str = "rewrites/";

/// The record of one rewrite (`rewrites/<snapshot>.<replaces>`, sealed with the metadata key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewriteRecord {
    /// The new snapshot.
    pub snapshot: SnapshotId,
    /// The snapshot it replaces (deleted after the record is written).
    pub replaces: SnapshotId,
    pub owner: OwnerRef,
    pub at: DateTime<Utc>,
    /// Why (e.g. the retention rule).
    pub reason: String,
    /// Ids of the removed items.
    pub removed: Vec<String>,
}

fn ad(key: &str) -> Vec<u8> {
    format!("tv1 rewrite {key}").into_bytes()
}

fn record_key(new: &SnapshotId, old: &SnapshotId) -> String {
    format!("{REWRITE_PREFIX}{new}.{old}")
}

/// `(new, old)` from a record key.
fn parse_key(key: &str) -> Option<(SnapshotId, SnapshotId)> {
    let (n, o) = key.strip_prefix(REWRITE_PREFIX)?.split_once('.')?;
    Some((SnapshotId(n.to_string()), SnapshotId(o.to_string())))
}

impl Repository {
    /// Write a copy of snapshot `id` without the items in `remove`, record the rewrite and
    /// delete the old root. Returns `None` (and writes nothing) if no listed item is in the
    /// snapshot.
    pub async fn rewrite_snapshot(
        &self,
        id: &SnapshotId,
        remove: &BTreeSet<String>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SnapshotSummary>> {
        let old = self.snapshot(&id.0).await?;
        let mut present = Vec::new();
        for item_id in remove {
            if old.item(item_id).await?.is_some() {
                present.push(item_id.clone());
            }
        }
        if present.is_empty() {
            return Ok(None);
        }
        let mut session = self
            .begin_backup(
                old.summary().owner.clone(),
                BackupOptions {
                    parent: ParentSelect::Id(id.0.clone()),
                    mode: BackupMode::Incremental,
                    ..BackupOptions::default()
                },
            )
            .await?;
        session.rewriting(&old);
        for item_id in &present {
            session.delete_item(item_id).await?;
        }
        let new = session.commit(old.state().clone()).await?;
        let rec = RewriteRecord {
            snapshot: new.id.clone(),
            replaces: id.clone(),
            owner: new.owner.clone(),
            at: now,
            reason: reason.to_string(),
            removed: present,
        };
        let key = record_key(&new.id, id);
        let sealed = seal(
            &self.keys().meta_key,
            &ad(&key),
            &serde_json::to_vec(&rec).expect("serializable"),
        );
        self.storage().put_if_absent(&key, sealed.into()).await?;
        self.storage().delete(&snapshot_key(id)).await?;
        tracing::info!(old = %id, new = %new.id, removed = rec.removed.len(), "snapshot rewritten");
        Ok(Some(new))
    }

    /// All rewrite records, oldest first.
    pub async fn rewrites(&self) -> Result<Vec<RewriteRecord>> {
        let mut out = Vec::new();
        for (k, _) in self.storage().list(REWRITE_PREFIX).await? {
            let Some((id, old)) = parse_key(&k) else {
                return Err(Error::corrupt(&k, "not a rewrite record name"));
            };
            let bytes = match self.storage().get(&k).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let plain = open(&self.keys().meta_key, &ad(&k), &bytes, &k)?;
            let rec: RewriteRecord =
                serde_json::from_slice(&plain).map_err(|e| Error::corrupt(&k, e))?;
            if rec.snapshot != id || rec.replaces != old {
                return Err(Error::corrupt(&k, "record names another snapshot"));
            }
            out.push(rec);
        }
        out.sort_by(|a, b| a.at.cmp(&b.at).then(a.snapshot.cmp(&b.snapshot)));
        Ok(out)
    }

    /// Finish interrupted rewrites: delete replaced roots whose replacement exists.
    /// Returns how many were deleted.
    pub async fn finish_rewrites(&self) -> Result<u64> {
        let records = self.storage().list(REWRITE_PREFIX).await?;
        if records.is_empty() {
            return Ok(0);
        }
        let roots: std::collections::HashSet<String> = self
            .storage()
            .list("snapshots/")
            .await?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let mut n = 0;
        for (k, _) in records {
            let Some((new, old)) = parse_key(&k) else {
                continue;
            };
            if roots.contains(&snapshot_key(&new)) && roots.contains(&snapshot_key(&old)) {
                match self.storage().delete(&snapshot_key(&old)).await {
                    Ok(()) => {}
                    // still Object-Locked or flagged: finished by a later run
                    Err(StorageError::Locked { until, .. }) => {
                        tracing::warn!(%old, ?until, "replaced root still locked: kept for now");
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
                tracing::info!(%old, "finished an interrupted rewrite");
                n += 1;
            }
        }
        Ok(n)
    }
}
