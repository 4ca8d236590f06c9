//! GDPR erasure (article 17) by crypto-shredding (FORMAT.md §15).
//!
//! Erasing an owner writes a tombstone `erasures/<oid>` (when, why, by whom, what) and then
//! deletes the owner's wrapped key `owners/<oid>`. The convergent keys of the owner's blobs
//! exist only inside its snapshot bodies, which only that key opens: the owner's data is
//! unreadable at once, even where the bytes must stay on locked storage. GC then removes the
//! packs nobody else references. A blob that another owner also references (a shared
//! attachment) stays readable through that owner's snapshots.
//!
//! Afterwards every read of the owner's snapshots answers [`Error::Erased`] with the date,
//! reason and person, and no new key is ever created for it (backups of the owner are refused).
//! An active legal hold covering any of the owner's data refuses the erasure ([`Error::Held`])
//! before anything is written.

use crate::crypto::{BlobId, PackId, open, seal};
use crate::error::{Error, Result};
use crate::hold::Hold;
use crate::model::{MetadataRef, OwnerRef, SnapshotFilter, SnapshotId, SnapshotSummary};
use crate::repository::Repository;
use crate::storage::{PutOutcome, StorageError};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Storage prefix of erasure tombstones.
pub const ERASURE_PREFIX: &str = "erasures/";

/// Who asks for an erasure, why, and when.
#[derive(Debug, Clone)]
pub struct EraseRequest {
    pub reason: String,
    /// The person or ticket answerable for the request.
    pub by: String,
    pub now: DateTime<Utc>,
    /// Compute the report, change nothing.
    pub dry_run: bool,
}

/// A hold looked at before erasing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldCheck {
    pub id: String,
    pub case: String,
    pub active: bool,
    /// Whether it covers any of the owner's data (an active one that does refuses the erasure).
    pub covers: bool,
}

/// What an erasure did (the tombstone's content, and the report for a data-protection officer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erasure {
    pub owner: OwnerRef,
    pub erased_at: DateTime<Utc>,
    pub reason: String,
    pub by: String,
    /// What was erased, in words.
    pub scope: String,
    /// The owner's snapshots (their heads stay, their content is unreadable).
    pub snapshots: Vec<SnapshotId>,
    /// Distinct items across those snapshots.
    pub items: u64,
    /// Blobs only this owner referenced: unreadable now, removed by GC.
    pub blobs_unique: u64,
    /// Their stored size.
    pub bytes_unique: u64,
    /// Blobs other owners also reference: they stay readable for those owners only.
    pub blobs_shared: u64,
    /// Packs that hold nothing anyone else references: GC deletes them (after its grace period).
    pub packs_reclaimable: u64,
    pub bytes_reclaimable: u64,
    pub holds_checked: Vec<HoldCheck>,
}

impl Erasure {
    /// The error every later read of this owner's data gets.
    pub fn to_error(&self) -> Error {
        Error::Erased {
            owner: self.owner.to_string(),
            at: self.erased_at,
            reason: self.reason.clone(),
            by: self.by.clone(),
        }
    }
}

fn tombstone_key(oid: &str) -> String {
    format!("{ERASURE_PREFIX}{oid}")
}

fn tombstone_ad(oid: &str) -> Vec<u8> {
    format!("tv1 erasure {oid}").into_bytes()
}

/// `Err(Error::Erased)` if a tombstone exists for owner key id `oid`.
pub(crate) async fn refuse_if_erased(repo: &Repository, oid: &str) -> Result<()> {
    match repo.read_tombstone(oid).await? {
        Some(e) => Err(e.to_error()),
        None => Ok(()),
    }
}

/// Blob ids a snapshot references: item lists, content, metadata blobs.
async fn snapshot_blobs(repo: &Repository, id: &str, into: &mut HashSet<BlobId>) -> Result<bool> {
    let snap = match repo.snapshot(id).await {
        Ok(s) => s,
        // erased or deleted meanwhile: references nothing readable
        Err(Error::Erased { .. } | Error::OwnerKeyMissing { .. } | Error::NotFound(_)) => {
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    into.extend(snap.lists().iter().map(|l| l.id));
    let mut items = std::pin::pin!(snap.items());
    while let Some(item) = items.try_next().await? {
        into.extend(item.content.iter().map(|c| c.id));
        if let Some(MetadataRef::Blob(c)) = &item.metadata {
            into.insert(c.id);
        }
    }
    Ok(true)
}

/// What of the owner's snapshots `hold` covers (ignoring whether it is active), if anything.
async fn hold_coverage(
    repo: &Repository,
    hold: &Hold,
    snaps: &[SnapshotSummary],
) -> Result<Option<String>> {
    for s in snaps.iter().filter(|s| hold.covers_snapshot(s)) {
        if !hold.scope.filters_items() {
            return Ok(Some(format!("snapshot {} of {}", s.id.short(), s.owner)));
        }
        let snap = repo.snapshot(&s.id.0).await?;
        let mut items = std::pin::pin!(snap.items());
        while let Some(item) = items.try_next().await? {
            if hold.covers_item_in(s, &item) {
                return Ok(Some(format!(
                    "item {:?} in snapshot {} of {}",
                    item.name,
                    s.id.short(),
                    s.owner
                )));
            }
        }
    }
    Ok(None)
}

impl Repository {
    async fn read_tombstone(&self, oid: &str) -> Result<Option<Erasure>> {
        let key = tombstone_key(oid);
        let bytes = match self.storage().get(&key).await {
            Ok(b) => b,
            Err(StorageError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let plain = open(&self.keys().meta_key, &tombstone_ad(oid), &bytes, &key)?;
        let e: Erasure = serde_json::from_slice(&plain).map_err(|e| Error::corrupt(&key, e))?;
        if self.owner_id(&e.owner.workload, &e.owner.owner) != oid {
            return Err(Error::corrupt(&key, "tombstone names another owner"));
        }
        Ok(Some(e))
    }

    /// The erasure of `owner`, if it was erased.
    pub async fn erasure_of(&self, owner: &OwnerRef) -> Result<Option<Erasure>> {
        self.read_tombstone(&self.owner_id(&owner.workload, &owner.owner))
            .await
    }

    /// All erasures, oldest first.
    pub async fn erasures(&self) -> Result<Vec<Erasure>> {
        let mut out = Vec::new();
        for (k, _) in self.storage().list(ERASURE_PREFIX).await? {
            let oid = &k[ERASURE_PREFIX.len()..];
            if oid.contains('/') {
                continue; // item erasures (erasures/items/…)
            }
            if let Some(e) = self.read_tombstone(oid).await? {
                out.push(e);
            }
        }
        out.sort_by(|a, b| a.erased_at.cmp(&b.erased_at).then(a.owner.cmp(&b.owner)));
        Ok(out)
    }

    /// Erase all data of `owner` by crypto-shredding (see the module docs). Refused with
    /// [`Error::Held`] if an active hold covers any of it, [`Error::Erased`] if it already was
    /// erased, [`Error::NotFound`] if the repository holds nothing of it, [`Error::Invalid`]
    /// without a reason or a name; in all those cases nothing is written. The caller records
    /// the erasure in the audit log.
    pub async fn erase_owner(&self, owner: &OwnerRef, req: &EraseRequest) -> Result<Erasure> {
        if req.reason.trim().is_empty() {
            return Err(Error::Invalid("an erasure needs a reason".into()));
        }
        if req.by.trim().is_empty() {
            return Err(Error::Invalid(
                "an erasure needs the name of who requests it".into(),
            ));
        }
        let oid = self.owner_id(&owner.workload, &owner.owner);
        let key_object = format!("owners/{oid}");
        if let Some(done) = self.read_tombstone(&oid).await? {
            if !req.dry_run {
                // finish an erasure interrupted between tombstone and key deletion
                self.storage().delete(&key_object).await?;
                self.inner.owner_keys.lock().remove(&oid);
            }
            return Err(done.to_error());
        }
        let has_key = !self.storage().list(&key_object).await?.is_empty();
        let snaps = self
            .list_snapshots(SnapshotFilter {
                workload: Some(owner.workload.clone()),
                owner: Some(owner.owner.clone()),
                include_partial: true,
            })
            .await?;
        if snaps.is_empty() && !has_key {
            return Err(Error::NotFound(format!(
                "owner {owner}: no data of it in this repository"
            )));
        }
        let mut checked = Vec::new();
        for h in self.holds().await? {
            let covers = hold_coverage(self, &h, &snaps).await?;
            if let (true, Some(what)) = (h.is_active(), &covers) {
                return Err(Error::Held {
                    hold: h.id,
                    case: h.case,
                    what: what.clone(),
                });
            }
            checked.push(HoldCheck {
                active: h.is_active(),
                id: h.id,
                case: h.case,
                covers: covers.is_some(),
            });
        }
        let mut report = self.erasure_report(owner, &snaps, req).await?;
        report.holds_checked = checked;
        if req.dry_run {
            return Ok(report);
        }
        let sealed = seal(
            &self.keys().meta_key,
            &tombstone_ad(&oid),
            &serde_json::to_vec(&report).expect("serializable"),
        );
        if self
            .storage()
            .put_if_absent(&tombstone_key(&oid), sealed.into())
            .await?
            == PutOutcome::AlreadyExists
        {
            return Err(match self.read_tombstone(&oid).await? {
                Some(e) => e.to_error(),
                None => Error::Invalid("a concurrent erasure of this owner vanished".into()),
            });
        }
        self.storage().delete(&key_object).await?;
        self.inner.owner_keys.lock().remove(&oid);
        tracing::info!(owner = %owner, snapshots = report.snapshots.len(), "owner erased");
        Ok(report)
    }

    /// Figures of an erasure: items, unique and shared blobs, reclaimable packs.
    async fn erasure_report(
        &self,
        owner: &OwnerRef,
        snaps: &[SnapshotSummary],
        req: &EraseRequest,
    ) -> Result<Erasure> {
        let mine_ids: BTreeSet<&str> = snaps.iter().map(|s| s.id.0.as_str()).collect();
        let mut mine = HashSet::new();
        let mut item_ids = BTreeSet::new();
        for s in snaps {
            snapshot_blobs(self, &s.id.0, &mut mine).await?;
            let snap = self.snapshot(&s.id.0).await?;
            let mut items = std::pin::pin!(snap.items());
            while let Some(item) = items.try_next().await? {
                item_ids.insert(item.id);
            }
        }
        let mut others = HashSet::new();
        for (k, _) in self.storage().list("snapshots/").await? {
            let id = &k["snapshots/".len()..];
            if !mine_ids.contains(id) {
                snapshot_blobs(self, id, &mut others).await?;
            }
        }
        let (mut blobs_unique, mut bytes_unique, mut blobs_shared) = (0u64, 0u64, 0u64);
        let mut touched: HashMap<PackId, ()> = HashMap::new();
        for b in &mine {
            if others.contains(b) {
                blobs_shared += 1;
                continue;
            }
            let loc = self.locate(b).await?;
            blobs_unique += 1;
            bytes_unique += loc.stored_len as u64;
            touched.insert(loc.pack, ());
        }
        let (mut packs_reclaimable, mut bytes_reclaimable) = (0u64, 0u64);
        for pack in touched.keys() {
            let idx = match self.storage().get(&crate::index::index_key(pack)).await {
                Ok(b) => crate::index::decode_index(&self.keys().meta_key, pack, &b)?,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if idx.iter().all(|e| !others.contains(&e.id)) {
                packs_reclaimable += 1;
                let key = crate::pack::pack_key(pack);
                bytes_reclaimable += self
                    .storage()
                    .list(&key)
                    .await?
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(0, |(_, n)| *n);
            }
        }
        Ok(Erasure {
            owner: owner.clone(),
            erased_at: req.now,
            reason: req.reason.trim().to_string(),
            by: req.by.trim().to_string(),
            scope: "all data of the owner (every snapshot, every item)".into(),
            snapshots: snaps.iter().map(|s| s.id.clone()).collect(),
            items: item_ids.len() as u64,
            blobs_unique,
            bytes_unique,
            blobs_shared,
            packs_reclaimable,
            bytes_reclaimable,
            holds_checked: Vec::new(),
        })
    }
}
