//! Erasure of selected items of one owner (GDPR article 17 applied to some messages or files):
//! every snapshot of the owner that holds a matching item is rewritten without it (the old
//! root is deleted), and a record `erasures/items/<oid>-<unix-ms>` says what was erased, when,
//! why and by whom. Items are named by id only: the record keeps no subject or file name.
//!
//! The removed items' blob keys lived only in the old snapshot bodies, so once the old roots are
//! gone the items cannot be decrypted through this owner; GC removes their blobs unless another
//! snapshot (another owner's copy of a shared attachment) still references them. On storage that
//! keeps old versions or locks roots, the old roots outlive the deletion until their lock ends:
//! erase the whole owner when that matters.

use crate::crypto::{open, seal};
use crate::erase::HoldCheck;
use crate::error::{Error, Result};
use crate::hold::{ItemQuery, item_date};
use crate::model::{OwnerRef, SnapshotFilter, SnapshotId};
use crate::repository::Repository;
use crate::storage::StorageError;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Prefix of item-erasure records.
pub const ITEM_ERASURE_PREFIX: &str = "erasures/items/";

/// Which items of an owner to erase: all given parts must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSelection {
    #[serde(default)]
    pub query: ItemQuery,
    /// Items dated (received, else modified, else created) at or after this time.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Items dated at or before this time.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
}

impl ItemSelection {
    /// True when nothing narrows the selection (it would match every item).
    pub fn is_empty(&self) -> bool {
        self.query.is_empty() && self.from.is_none() && self.to.is_none()
    }

    pub fn matches(&self, item: &crate::model::ItemRecord) -> bool {
        if self.from.is_some() || self.to.is_some() {
            let Some(d) = item_date(item) else {
                return false;
            };
            if self.from.is_some_and(|f| d < f) || self.to.is_some_and(|t| d > t) {
                return false;
            }
        }
        self.query.matches(item)
    }
}

/// One rewritten snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewrittenSnapshot {
    pub old: SnapshotId,
    pub new: Option<SnapshotId>,
    pub removed: u64,
}

/// What an item erasure did (stored in its record, shown to the data-protection officer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemErasure {
    pub owner: OwnerRef,
    pub erased_at: DateTime<Utc>,
    pub reason: String,
    pub by: String,
    pub selection: ItemSelection,
    /// Ids of the erased items (distinct).
    pub items: Vec<String>,
    pub snapshots: Vec<RewrittenSnapshot>,
    pub holds_checked: Vec<HoldCheck>,
}

fn record_ad(key: &str) -> Vec<u8> {
    format!("tv1 item-erasure {key}").into_bytes()
}

impl Repository {
    /// Erase the items of `owner` that `sel` selects from every one of its snapshots.
    /// Refused with [`Error::Held`] if an active hold covers any selected item, with
    /// [`Error::NotFound`] if nothing matches, [`Error::Invalid`] for an empty selection or a
    /// missing reason/name — in all those cases before anything is written. With
    /// `req.dry_run` only the report is computed.
    pub async fn erase_items(
        &self,
        owner: &OwnerRef,
        sel: &ItemSelection,
        req: &crate::erase::EraseRequest,
    ) -> Result<ItemErasure> {
        if sel.is_empty() {
            return Err(Error::Invalid(
                "an item erasure needs a query or a date range (erase the owner to erase everything)"
                    .into(),
            ));
        }
        if req.reason.trim().is_empty() || req.by.trim().is_empty() {
            return Err(Error::Invalid(
                "an erasure needs a reason and the name of who requests it".into(),
            ));
        }
        if let (Some(f), Some(t)) = (sel.from, sel.to)
            && f > t
        {
            return Err(Error::Invalid(
                "the date range ends before it starts".into(),
            ));
        }
        if let Some(e) = self.erasure_of(owner).await? {
            return Err(e.to_error());
        }
        let snaps = self
            .list_snapshots(SnapshotFilter {
                workload: Some(owner.workload.clone()),
                owner: Some(owner.owner.clone()),
                include_partial: true,
            })
            .await?;
        let holds = self.holds().await?;
        let mut checked: Vec<HoldCheck> = holds
            .iter()
            .map(|h| HoldCheck {
                id: h.id.clone(),
                case: h.case.clone(),
                active: h.is_active(),
                covers: false,
            })
            .collect();
        let mut plan: Vec<(SnapshotId, BTreeSet<String>)> = Vec::new();
        let mut all_items = BTreeSet::new();
        for s in &snaps {
            let snap = self.snapshot(&s.id.0).await?;
            let mut ids = BTreeSet::new();
            let mut items = std::pin::pin!(snap.items());
            while let Some(item) = items.try_next().await? {
                if !sel.matches(&item) {
                    continue;
                }
                for (h, c) in holds.iter().zip(checked.iter_mut()) {
                    if h.covers_item_in(s, &item) {
                        if h.is_active() {
                            return Err(Error::Held {
                                hold: h.id.clone(),
                                case: h.case.clone(),
                                what: format!(
                                    "item {:?} in snapshot {} of {}",
                                    item.name,
                                    s.id.short(),
                                    s.owner
                                ),
                            });
                        }
                        c.covers = true;
                    }
                }
                all_items.insert(item.id.clone());
                ids.insert(item.id);
            }
            if !ids.is_empty() {
                plan.push((s.id.clone(), ids));
            }
        }
        if plan.is_empty() {
            return Err(Error::NotFound(format!(
                "no item of {owner} matches the selection"
            )));
        }
        let mut report = ItemErasure {
            owner: owner.clone(),
            erased_at: req.now,
            reason: req.reason.trim().to_string(),
            by: req.by.trim().to_string(),
            selection: sel.clone(),
            items: all_items.into_iter().collect(),
            snapshots: plan
                .iter()
                .map(|(id, ids)| RewrittenSnapshot {
                    old: id.clone(),
                    new: None,
                    removed: ids.len() as u64,
                })
                .collect(),
            holds_checked: checked,
        };
        if req.dry_run {
            return Ok(report);
        }
        let why = format!("erasure: {} (by {})", report.reason, report.by);
        for ((id, ids), out) in plan.iter().zip(report.snapshots.iter_mut()) {
            out.new = self
                .rewrite_snapshot(id, ids, &why, req.now)
                .await?
                .map(|s| s.id);
        }
        let oid = self.owner_id(&owner.workload, &owner.owner);
        let key = format!(
            "{ITEM_ERASURE_PREFIX}{oid}-{:013}-{}",
            req.now.timestamp_millis().max(0),
            crate::crypto::random_hex(4)
        );
        let sealed = seal(
            &self.keys().meta_key,
            &record_ad(&key),
            &serde_json::to_vec(&report).expect("serializable"),
        );
        self.storage().put_if_absent(&key, sealed.into()).await?;
        tracing::info!(owner = %owner, items = report.items.len(), "items erased");
        Ok(report)
    }

    /// All item erasures, oldest first.
    pub async fn item_erasures(&self) -> Result<Vec<ItemErasure>> {
        let mut out = Vec::new();
        for (k, _) in self.storage().list(ITEM_ERASURE_PREFIX).await? {
            let bytes = match self.storage().get(&k).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let plain = open(&self.keys().meta_key, &record_ad(&k), &bytes, &k)?;
            out.push(
                serde_json::from_slice::<ItemErasure>(&plain).map_err(|e| Error::corrupt(&k, e))?,
            );
        }
        out.sort_by_key(|a| a.erased_at);
        Ok(out)
    }
}
