//! Object Lock maintenance: keep every object the repository still needs locked.
//!
//! Objects are written with a retain-until date `days` ahead (the lock policy, S3 backend).
//! [`Repository::maintain_locks`] extends the lock of every object that is still referenced —
//! `config`, key slots, snapshots, and the packs (and their index files) holding a blob some
//! snapshot references — once its remaining retention is below `renew_below`. Objects no
//! longer referenced are not extended: their lock runs out and GC can delete them.
//! `owners/`, `sessions/` and `gc/` are never locked (see `LockPolicy::applies_to`).
//!
//! Legal holds (FORMAT.md §12, "S3 legal-hold flag"): [`Repository::sync_legal_holds`] (run by
//! `maintain_locks`) turns the S3 legal-hold flag on for every object holding data an active
//! hold covers — the hold record, the held snapshots' roots, and the packs (with their index
//! files) holding their item lists and the held items' blobs — and off on objects that only
//! released holds covered. [`Repository::flag_hold`] flags one new hold's objects at once, and a
//! backup session flags the held objects of each snapshot it writes of an owner already under
//! an active hold (`Repository::flag_new_snapshot`, run by `BackupSession::commit` and
//! `checkpoint`), so they do not wait for the next `maintain locks`.

use crate::crypto::{BlobId, PackId};
use crate::error::{Error, Result};
use crate::hold::{HOLD_PREFIX, Hold};
use crate::idset::{SortedIds, SortedIdsBuilder};
use crate::model::{MetadataRef, SnapshotFilter, SnapshotSummary};
use crate::repository::Repository;
use crate::retention::{PlanTarget, PolicySet};
use crate::storage::{LockPolicy, StorageError};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};

/// What [`Repository::maintain_locks`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockReport {
    /// Referenced objects whose lock was looked at.
    pub checked: u64,
    /// Locks extended to `now + days`.
    pub extended: u64,
    /// Referenced objects that were already locked long enough.
    pub still_locked: u64,
    /// Packs (with their index files) left to expire: no snapshot references them, or (with
    /// [`Repository::maintain_locks_for`]) only snapshots the retention policies remove.
    pub unreferenced: u64,
    /// Objects that could not be extended (each also logged), e.g. missing meanwhile.
    pub failed: Vec<String>,
    /// Snapshots the retention policies remove (with [`Repository::maintain_locks_for`]):
    /// their roots, and packs only they reference, are not extended, so their locks run out
    /// and `retention apply` (then gc) can delete them.
    #[serde(default)]
    pub expiring: Vec<String>,
    /// The legal-hold flags brought in line with the active holds.
    #[serde(default)]
    pub legal_hold: LegalHoldReport,
}

/// What [`Repository::sync_legal_holds`] or [`Repository::flag_hold`] did about the S3
/// legal-hold flag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalHoldReport {
    /// False when the storage has no legal-hold flag (a local directory): nothing was done.
    pub supported: bool,
    /// Objects holding data that an active hold covers (they must carry the flag).
    pub held: u64,
    /// Objects whose flag was turned on (with `dry_run`: would be).
    pub set: Vec<String>,
    /// Objects whose flag was turned off: no active hold covers them any more.
    pub cleared: Vec<String>,
    /// Objects looked at whose flag was already right.
    pub unchanged: u64,
    /// Blobs of held data whose pack the index does not know (logged; nothing to flag).
    pub unlocated: u64,
    /// Objects whose flag could not be read or changed (each also logged).
    pub failed: Vec<String>,
    /// Changes not attempted because the storage had refused one for lack of permission
    /// (e.g. a backup worker's credential without `s3:PutObjectLegalHold`).
    #[serde(default)]
    pub skipped: u64,
}

/// How many flag reads or changes run at once.
const FLAG_CONCURRENCY: usize = 8;

/// Sets the flag of `key` unless an earlier change was refused for lack of permission
/// (`denied`), which this records. `Ok(false)`: skipped.
async fn set_flag(
    repo: &Repository,
    key: &str,
    on: bool,
    denied: &AtomicBool,
) -> std::result::Result<bool, StorageError> {
    if denied.load(Ordering::Relaxed) {
        return Ok(false);
    }
    match repo.storage().set_legal_hold(key, on).await {
        Ok(()) => Ok(true),
        Err(e) => {
            if matches!(e, StorageError::PermissionDenied { .. }) {
                denied.store(true, Ordering::Relaxed);
            }
            Err(e)
        }
    }
}

impl Repository {
    /// Extend the Object Lock of every referenced object whose lock ends before
    /// `now + renew_below`, to `now + policy days`. Errors with `Invalid` when the storage has
    /// no lock policy. With `dry_run` nothing is changed (counts show what would be).
    pub async fn maintain_locks(
        &self,
        now: DateTime<Utc>,
        renew_below: chrono::Duration,
        dry_run: bool,
    ) -> Result<LockReport> {
        self.maintain_locks_inner(now, renew_below, dry_run, None)
            .await
    }

    /// [`Repository::maintain_locks`] that leaves out what the retention policies remove at
    /// `now` (unblocked whole-snapshot removals of [`Repository::plan_retention`]): their
    /// roots and the packs no other snapshot references keep their current lock, which runs
    /// out, so retention can delete them. Without this, maintenance would renew the lock of
    /// every snapshot for ever and retention could never remove one. Held snapshots and
    /// those under the minimum retention are blocked in the plan, so they are extended.
    pub async fn maintain_locks_for(
        &self,
        now: DateTime<Utc>,
        renew_below: chrono::Duration,
        dry_run: bool,
        retention: &PolicySet,
    ) -> Result<LockReport> {
        self.maintain_locks_inner(now, renew_below, dry_run, Some(retention))
            .await
    }

    async fn maintain_locks_inner(
        &self,
        now: DateTime<Utc>,
        renew_below: chrono::Duration,
        dry_run: bool,
        retention: Option<&PolicySet>,
    ) -> Result<LockReport> {
        let caps = self.storage().lock_capabilities();
        let policy = match caps.policy {
            Some(p) if caps.object_lock => p,
            _ => {
                return Err(Error::Invalid(
                    "this repository's storage has no Object Lock policy (repo init --object-lock)"
                        .into(),
                ));
            }
        };
        self.catch_up_index().await?;
        let mut expiring = BTreeSet::new();
        if let Some(set) = retention {
            let plan = self.plan_retention(set, now).await?;
            expiring.extend(
                plan.removals()
                    .filter(|e| matches!(e.target, PlanTarget::Snapshot))
                    .map(|e| e.snapshot.0.clone()),
            );
        }
        let live_packs = self.live_packs(&expiring).await?;
        let mut keys = vec!["config".to_string()];
        let mut report = LockReport {
            expiring: expiring.iter().cloned().collect(),
            ..Default::default()
        };
        keys.extend(
            self.storage()
                .list("keys/")
                .await?
                .into_iter()
                .map(|(k, _)| k),
        );
        keys.extend(
            self.storage()
                .list("snapshots/")
                .await?
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| !expiring.contains(k.trim_start_matches("snapshots/"))),
        );
        for (k, _) in self.storage().list("data/").await? {
            match crate::pack::pack_id_from_key(&k) {
                Some(p) if live_packs.contains(&p) => {
                    keys.push(crate::index::index_key(&p));
                    keys.push(k);
                }
                _ => report.unreferenced += 1,
            }
        }
        keys.retain(|k| LockPolicy::applies_to(k));
        let until = policy.until(now);
        let threshold = now + renew_below;
        let results: Vec<(String, std::result::Result<bool, StorageError>)> =
            futures::stream::iter(keys)
                .map(|k| async move {
                    let r = async {
                        let cur = self.storage().lock_until(&k).await?;
                        if cur.is_some_and(|c| c >= threshold) {
                            return Ok(false);
                        }
                        if !dry_run {
                            self.storage().extend_lock(&k, until).await?;
                        }
                        Ok(true)
                    }
                    .await;
                    (k, r)
                })
                .buffer_unordered(8)
                .collect()
                .await;
        for (k, r) in results {
            report.checked += 1;
            match r {
                Ok(true) => report.extended += 1,
                Ok(false) => report.still_locked += 1,
                Err(StorageError::NotFound { .. }) => {} // deleted meanwhile (gc, key removal)
                Err(e) => {
                    tracing::warn!(object = %k, error = %e, "could not extend the lock");
                    report.failed.push(format!("{k}: {e}"));
                }
            }
        }
        report.legal_hold = match self.sync_legal_holds(dry_run).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "could not bring the legal-hold flags in line");
                report.failed.push(format!("legal-hold flags: {e}"));
                LegalHoldReport {
                    supported: true,
                    ..Default::default()
                }
            }
        };
        tracing::info!(
            checked = report.checked,
            extended = report.extended,
            flags_set = report.legal_hold.set.len(),
            flags_cleared = report.legal_hold.cleared.len(),
            "lock maintenance done"
        );
        Ok(report)
    }

    /// Packs holding at least one blob some snapshot references (at any of the blob's
    /// locations), as gc computes them: the reachable ids are collected in sorted runs spilled
    /// to temporary files and merge-joined with the index cache, so memory stays bounded by
    /// the number of packs, not of blobs.
    async fn live_packs(&self, skip: &BTreeSet<String>) -> Result<HashSet<PackId>> {
        let reach = crate::gc::reachable_sorted_except(self, skip).await?;
        let repo = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut live = HashSet::new();
            let mut probe = reach.probe()?;
            repo.inner.cache.scan(|id, locs| {
                if locs.iter().any(|l| !live.contains(&l.pack)) && probe.contains(id)? {
                    live.extend(locs.iter().map(|l| l.pack));
                }
                Ok(())
            })?;
            Ok(live)
        })
        .await
        .expect("live pack join task")
    }

    /// Storage keys of the objects holding data `hold` covers (whether it is active or not):
    /// its record `holds/<id>`; for every snapshot holding covered data, the snapshot root and
    /// the packs (and index files) holding its item lists; the packs (and index files) holding
    /// the covered items' content and metadata blobs. A pack that also holds uncovered data is
    /// included: it holds covered data. Also returns how many covered blobs the index does not
    /// locate.
    async fn hold_objects(
        &self,
        hold: &Hold,
        snaps: &[SnapshotSummary],
    ) -> Result<(BTreeSet<String>, u64)> {
        let mut keys = BTreeSet::new();
        keys.insert(format!("{HOLD_PREFIX}{}", hold.id));
        // held blob ids go to a sorted set that spills to temporary files (a hold can cover
        // millions of blobs), then are merge-joined with the index cache
        let mut blobs = SortedIdsBuilder::new();
        for s in snaps.iter().filter(|s| hold.covers_snapshot(s)) {
            let snap = match self.snapshot(&s.id.0).await {
                Ok(x) => x,
                // erased (a hold blocks erasure, so only a released hold's) or removed meanwhile
                Err(Error::Erased { .. } | Error::OwnerKeyMissing { .. } | Error::NotFound(_)) => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            let whole = !hold.scope.filters_items();
            let mut any = whole;
            let mut items = std::pin::pin!(snap.items());
            while let Some(item) = items.try_next().await? {
                if whole || hold.covers_item_in(s, &item) {
                    any = true;
                    for c in &item.content {
                        blobs.insert(&c.id)?;
                    }
                    if let Some(MetadataRef::Blob(c)) = &item.metadata {
                        blobs.insert(&c.id)?;
                    }
                }
            }
            if any {
                keys.insert(crate::snapshot::snapshot_key(&s.id));
                for l in snap.lists() {
                    blobs.insert(&l.id)?;
                }
            }
        }
        let repo = self.clone();
        let hold_id = hold.id.clone();
        let (packs, unlocated) = tokio::task::spawn_blocking(move || {
            let held = blobs.finish()?;
            let mut packs: HashSet<PackId> = HashSet::new();
            let mut located = 0u64;
            if let SortedIds::Memory(ids) = &held {
                // few blobs: look each up (a scan would read the whole index)
                let index = repo.inner.cache.reader()?;
                for id in ids {
                    if let Some(loc) = index.lookup(&BlobId(*id))? {
                        located += 1;
                        packs.insert(loc.pack);
                    }
                }
            } else {
                let mut probe = held.probe()?;
                repo.inner.cache.scan(|id, locs| {
                    if let Some(first) = locs.first()
                        && probe.contains(id)?
                    {
                        located += 1;
                        packs.insert(first.pack);
                    }
                    Ok(())
                })?;
            }
            let unlocated = held.len() - located;
            if unlocated > 0 {
                tracing::warn!(hold = %hold_id, blobs = unlocated, "held blobs not in the index");
            }
            Ok::<_, Error>((packs, unlocated))
        })
        .await
        .expect("hold join task")?;
        for p in &packs {
            keys.insert(crate::pack::pack_key(p));
            keys.insert(crate::index::index_key(p));
        }
        Ok((keys, unlocated))
    }

    fn legal_hold_supported(&self) -> bool {
        let caps = self.storage().lock_capabilities();
        if !caps.legal_hold {
            tracing::info!(
                "this storage has no legal-hold flag; holds are kept by the repository alone"
            );
        }
        caps.legal_hold
    }

    /// Bring the S3 legal-hold flags in line with the holds: on for every object holding data
    /// an active hold covers (see the module docs), off for objects that only released holds
    /// covered. Objects no hold ever covered are not looked at (the repository never flagged
    /// them). With `dry_run` nothing changes. On storage without legal holds this does nothing
    /// and says so (`supported: false`).
    pub async fn sync_legal_holds(&self, dry_run: bool) -> Result<LegalHoldReport> {
        if !self.legal_hold_supported() {
            return Ok(LegalHoldReport::default());
        }
        self.catch_up_index().await?;
        let holds = self.holds().await?;
        let snaps = self.all_snapshots().await?;
        let mut report = LegalHoldReport {
            supported: true,
            ..Default::default()
        };
        let (mut want, mut seen) = (BTreeSet::new(), BTreeSet::new());
        for h in &holds {
            let (keys, unlocated) = self.hold_objects(h, &snaps).await?;
            if h.is_active() {
                report.unlocated += unlocated;
                want.extend(keys.iter().cloned());
            }
            seen.extend(keys);
        }
        report.held = want.len() as u64;
        let (want, denied) = (&want, &AtomicBool::new(false));
        // Ok(None): already right; Ok(Some(false)): skipped after a refusal.
        type Outcome = std::result::Result<Option<bool>, StorageError>;
        let results: Vec<(String, bool, Outcome)> = futures::stream::iter(seen)
            .map(|k| async move {
                let on = want.contains(&k);
                let r = async {
                    if self.storage().legal_hold(&k).await? == on {
                        return Ok(None);
                    }
                    if dry_run {
                        return Ok(Some(true));
                    }
                    set_flag(self, &k, on, denied).await.map(Some)
                }
                .await;
                (k, on, r)
            })
            .buffer_unordered(FLAG_CONCURRENCY)
            .collect()
            .await;
        for (k, on, r) in results {
            match r {
                Ok(Some(true)) if on => report.set.push(k),
                Ok(Some(true)) => report.cleared.push(k),
                Ok(Some(false)) => report.skipped += 1,
                Ok(None) => report.unchanged += 1,
                // gone: a released hold's object deleted since (nothing left to flag)
                Err(StorageError::NotFound { .. }) if !on => {}
                Err(e) => {
                    tracing::warn!(object = %k, error = %e, "could not set the legal-hold flag");
                    report.failed.push(format!("{k}: {e}"));
                }
            }
        }
        report.set.sort();
        report.cleared.sort();
        tracing::info!(
            held = report.held,
            set = report.set.len(),
            cleared = report.cleared.len(),
            "legal-hold flags in line with the holds"
        );
        Ok(report)
    }

    /// Turn the S3 legal-hold flag on for every object holding data `hold` covers, without
    /// reading the current flags (for `hold create`, right after the hold is written; the
    /// next [`Repository::maintain_locks`] catches anything missed). A released hold is
    /// refused. On storage without legal holds this does nothing (`supported: false`).
    pub async fn flag_hold(&self, hold: &Hold) -> Result<LegalHoldReport> {
        if !hold.is_active() {
            return Err(Error::Invalid(format!("hold {} is released", hold.id)));
        }
        if !self.legal_hold_supported() {
            return Ok(LegalHoldReport::default());
        }
        self.catch_up_index().await?;
        let snaps = self.all_snapshots().await?;
        let (keys, unlocated) = self.hold_objects(hold, &snaps).await?;
        let mut report = LegalHoldReport {
            supported: true,
            held: keys.len() as u64,
            unlocated,
            ..Default::default()
        };
        self.flag_keys(keys, &mut report).await;
        Ok(report)
    }

    /// Turn the legal-hold flag on for each of `keys` (no reads first), recording the outcome
    /// in `report`: `set`, `skipped` after a refusal for lack of permission, or `failed`.
    async fn flag_keys(&self, keys: BTreeSet<String>, report: &mut LegalHoldReport) {
        let denied = &AtomicBool::new(false);
        let results: Vec<(String, std::result::Result<bool, StorageError>)> =
            futures::stream::iter(keys)
                .map(|k| async move {
                    let r = set_flag(self, &k, true, denied).await;
                    (k, r)
                })
                .buffer_unordered(FLAG_CONCURRENCY)
                .collect()
                .await;
        for (k, r) in results {
            match r {
                Ok(true) => report.set.push(k),
                Ok(false) => report.skipped += 1,
                Err(e) => {
                    tracing::warn!(object = %k, error = %e, "could not set the legal-hold flag");
                    report.failed.push(format!("{k}: {e}"));
                }
            }
        }
        report.set.sort();
    }

    /// Flag a snapshot a backup session has just written (its commit, or a checkpoint) when
    /// active holds cover it: the objects [`Repository::flag_hold`] would flag for each
    /// covering hold, restricted to this snapshot — the hold record, the snapshot root and the
    /// packs (with index files) holding its item lists, and the packs holding the blobs of the
    /// items the hold covers (with item filters only the matching items'; when no item
    /// matches, not the root). Packs the snapshot shares with earlier snapshots are flagged
    /// too (they hold its held data; the flag is idempotent). Without this, a held owner's new
    /// objects would stay unflagged until the next `maintain locks`.
    ///
    /// Checkpoints are flagged as well: [`Repository::sync_legal_holds`] covers partial
    /// snapshots, so `maintain locks` would flag them anyway, and after an interrupted run a
    /// checkpoint is the only copy of the items backed up since the last complete snapshot.
    /// Such a checkpoint cannot be deleted while the hold lasts, as with `maintain locks`.
    ///
    /// `done` holds the keys this session flagged already (a later checkpoint or the commit
    /// does not set them again) and is extended with the keys set now.
    ///
    /// Never fails: the snapshot is stored already. A refusal (a backup credential without
    /// `s3:PutObjectLegalHold`) or any other error is logged as a warning naming the holds and
    /// counting the objects left unflagged, for `maintain locks` to catch up. A refusal is found out on
    /// the first covering hold's record before the snapshot's item lists are read, so a
    /// credential without the permission costs one refused change, not a walk. On storage without the
    /// legal-hold flag this returns at once, without listing the holds.
    pub(crate) async fn flag_new_snapshot(
        &self,
        snap: &SnapshotSummary,
        new_packs: &HashSet<PackId>,
        done: &mut HashSet<String>,
    ) -> LegalHoldReport {
        if !self.storage().lock_capabilities().legal_hold {
            return LegalHoldReport::default();
        }
        let mut report = LegalHoldReport {
            supported: true,
            ..Default::default()
        };
        let holds = match self.active_holds().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(
                    snapshot = %snap.id, owner = %snap.owner, error = %e,
                    "could not list the holds to flag the new snapshot; \
                     `maintain locks` will set its legal-hold flags"
                );
                report.failed.push(format!("holds: {e}"));
                return report;
            }
        };
        let covering: Vec<&Hold> = holds.iter().filter(|h| h.covers_snapshot(snap)).collect();
        if covering.is_empty() {
            return report;
        }
        let ids = covering
            .iter()
            .map(|h| h.id.as_str())
            .collect::<Vec<_>>()
            .join(",");
        // Probe the permission on an object that must carry the flag anyway (the first covering
        // hold's record) before reading the snapshot's item lists: a backup credential without
        // `s3:PutObjectLegalHold` is refused here, at the cost of one change.
        let probe = format!("{HOLD_PREFIX}{}", covering[0].id);
        if !done.contains(&probe) {
            match set_flag(self, &probe, true, &AtomicBool::new(false)).await {
                Ok(_) => {
                    done.insert(probe.clone());
                    report.set.push(probe);
                }
                Err(e @ StorageError::PermissionDenied { .. }) => {
                    tracing::warn!(
                        snapshot = %snap.id, owner = %snap.owner, holds = %ids, error = %e,
                        "the storage refused the legal-hold flag (no s3:PutObjectLegalHold?): \
                         the new held snapshot's objects are not flagged (the snapshot is \
                         stored); `maintain locks` will set the flags"
                    );
                    report.failed.push(format!("{probe}: {e}"));
                    return report;
                }
                // anything else: the walk goes on, and the change is tried again below
                Err(_) => {}
            }
        }
        // Only what this session wrote is flagged (see below). A hold on the whole owner covers
        // all of it — every pack the session wrote holds this owner's new blobs or item lists —
        // so only holds that filter items need the walk of the snapshot's item lists.
        let written: HashSet<String> = new_packs
            .iter()
            .flat_map(|p| [crate::pack::pack_key(p), crate::index::index_key(p)])
            .collect();
        let root = crate::snapshot::snapshot_key(&snap.id);
        let mut keys = BTreeSet::new();
        for h in &covering {
            if !h.scope.filters_items() {
                keys.insert(format!("{HOLD_PREFIX}{}", h.id));
                keys.insert(root.clone());
                keys.extend(written.iter().cloned());
                continue;
            }
            match self.hold_objects(h, std::slice::from_ref(snap)).await {
                Ok((k, unlocated)) => {
                    report.unlocated += unlocated;
                    keys.extend(k);
                }
                Err(e) => {
                    tracing::warn!(
                        hold = %h.id, snapshot = %snap.id, error = %e,
                        "could not work out the held objects of the new snapshot"
                    );
                    report.failed.push(format!("hold {}: {e}", h.id));
                }
            }
        }
        report.held = keys.len() as u64;
        report.unchanged = keys
            .iter()
            .filter(|k| done.contains(*k) && !report.set.contains(k))
            .count() as u64;
        // Only what this session wrote: the root, the hold records, and the packs (with their
        // index files) it created. Older objects were flagged when the hold was created or by
        // an earlier backup; one this snapshot newly shares (a deduplicated blob first stored
        // for an unheld owner) waits for `maintain locks`. Flagging every held object on every
        // backup would cost one request per pack of the held owner's data each run.
        let held = keys.len();
        keys.retain(|k| {
            !done.contains(k) && (written.contains(k) || k.starts_with(HOLD_PREFIX) || *k == root)
        });
        tracing::debug!(
            snapshot = %snap.id, held, new = keys.len(),
            "held objects of the new snapshot; only those this session wrote are flagged now"
        );
        let probed = std::mem::take(&mut report.set);
        self.flag_keys(keys, &mut report).await;
        done.extend(report.set.iter().cloned());
        report.set.extend(probed);
        report.set.sort();
        let missed = report.failed.len() as u64 + report.skipped;
        if missed == 0 {
            tracing::info!(
                snapshot = %snap.id, owner = %snap.owner, holds = %ids,
                set = report.set.len(), held = report.held,
                "new snapshot of a held owner: legal-hold flags set"
            );
        } else {
            tracing::warn!(
                snapshot = %snap.id, owner = %snap.owner, holds = %ids,
                set = report.set.len(), not_set = missed, held = report.held,
                "could not set the legal-hold flag on every object of the new held snapshot \
                 (the snapshot is stored); `maintain locks` will set the missing flags"
            );
        }
        report
    }

    async fn all_snapshots(&self) -> Result<Vec<SnapshotSummary>> {
        self.list_snapshots(SnapshotFilter {
            include_partial: true,
            ..Default::default()
        })
        .await
    }
}
