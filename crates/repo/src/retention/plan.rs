//! Planning and applying retention: what each policy removes and why, and doing it.

use super::policy::{PolicySet, longer, minimum_retention_blocks};
use crate::error::{Error, Result};
use crate::hold::{Hold, item_date};
use crate::model::{ItemRecord, OwnerRef, SnapshotFilter, SnapshotId, SnapshotSummary};
use crate::repository::Repository;
use crate::snapshot::snapshot_key;
use crate::storage::StorageError;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What an entry removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PlanTarget {
    /// The whole snapshot.
    Snapshot,
    /// One item, from this snapshot.
    Item {
        id: String,
        name: String,
        date: DateTime<Utc>,
    },
}

/// One removal the policies ask for, and whether something protects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanEntry {
    pub owner: OwnerRef,
    pub snapshot: SnapshotId,
    pub snapshot_time: DateTime<Utc>,
    pub policy: String,
    pub target: PlanTarget,
    /// The rule asking for the removal.
    pub rule: String,
    /// Why it is not removed (a hold, the minimum retention); `None` = it will be removed.
    pub blocked: Option<String>,
}

/// What retention would do now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPlan {
    pub now: Option<DateTime<Utc>>,
    pub minimum: Option<String>,
    pub entries: Vec<PlanEntry>,
    /// Snapshots that stay (complete and partial).
    pub snapshots_kept: u64,
    /// Owners (with workload) no policy applies to: nothing of theirs is touched.
    pub owners_without_policy: Vec<OwnerRef>,
}

impl RetentionPlan {
    /// Entries that will be carried out.
    pub fn removals(&self) -> impl Iterator<Item = &PlanEntry> {
        self.entries.iter().filter(|e| e.blocked.is_none())
    }
}

/// What [`Repository::apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    pub plan: RetentionPlan,
    pub snapshots_deleted: u64,
    pub snapshots_rewritten: u64,
    pub items_removed: u64,
    /// Removals refused (held or within the minimum retention).
    pub refused: u64,
    /// Rewrites of an earlier interrupted run that were completed first.
    pub rewrites_finished: u64,
    /// Snapshots whose removal or rewrite was skipped because their root is still protected
    /// by the storage (Object Lock retention or the S3 legal-hold flag): nothing of them was
    /// changed; a later run removes them once the lock has run out or the flag is off.
    #[serde(default)]
    pub locked: Vec<LockedRoot>,
}

/// A snapshot root retention could not touch because the storage protects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedRoot {
    pub owner: OwnerRef,
    pub snapshot: SnapshotId,
    /// `delete` (the whole snapshot) or `rewrite` (some of its items); `rewrite, old root
    /// kept` when the lock appeared between the look and the deletion (the new snapshot is
    /// written; a later run deletes the old root, see `finish_rewrites`).
    pub action: String,
    /// The S3 legal-hold flag is on.
    pub legal_hold: bool,
    /// Object Lock retention end, when still in the future.
    pub locked_until: Option<DateTime<Utc>>,
}

impl LockedRoot {
    /// "legal-hold flag on", "Object Lock until …", or both.
    pub fn reason(&self) -> String {
        let mut r = Vec::new();
        if self.legal_hold {
            r.push("S3 legal-hold flag on".to_string());
        }
        if let Some(u) = self.locked_until {
            r.push(format!(
                "Object Lock until {}",
                u.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        if r.is_empty() {
            r.push("the storage refused the deletion (locked)".into());
        }
        r.join(", ")
    }
}

/// How the storage protects snapshot root `key` right now (wall-clock time, which is what
/// the storage goes by, not the `now` retention plans for). `None`: deletable, or the storage
/// would not say (then the deletion itself finds out: [`StorageError::Locked`]).
async fn root_protection(repo: &Repository, key: &str) -> Option<(bool, Option<DateTime<Utc>>)> {
    let caps = repo.storage().lock_capabilities();
    let unknown = |e: StorageError| {
        tracing::debug!(object = %key, error = %e, "could not read the lock state");
    };
    let legal_hold = caps.legal_hold
        && repo
            .storage()
            .legal_hold(key)
            .await
            .map_err(unknown)
            .unwrap_or(false);
    let until = if caps.object_lock {
        repo.storage()
            .lock_until(key)
            .await
            .map_err(unknown)
            .ok()
            .flatten()
            .and_then(real_date)
            .filter(|u| *u > Utc::now())
    } else {
        None
    };
    (legal_hold || until.is_some()).then_some((legal_hold, until))
}

/// A backend may report "retained indefinitely" (a legal-hold flag) as the largest date.
fn real_date(u: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (u != DateTime::<Utc>::MAX_UTC).then_some(u)
}

fn is_locked(e: &Error) -> bool {
    matches!(e, Error::Storage(StorageError::Locked { .. }))
}

impl RetentionReport {
    fn skip_locked(&mut self, root: LockedRoot) {
        tracing::warn!(
            snapshot = %root.snapshot,
            owner = %root.owner,
            action = %root.action,
            reason = %root.reason(),
            "snapshot root is protected by the storage: skipped"
        );
        self.locked.push(root);
    }
}

fn hold_label(h: &Hold) -> String {
    format!("hold {} (case {})", h.id, h.case)
}

/// The active hold that keeps snapshot `s` whole, if any (reads its items only when a
/// hold selects items by date or query).
async fn load_items(repo: &Repository, s: &SnapshotSummary) -> Result<Vec<ItemRecord>> {
    match repo.snapshot(&s.id.0).await {
        Ok(snap) => snap.items().try_collect().await,
        // an erased owner's snapshot has no readable item: nothing to rewrite or to hold
        Err(crate::error::Error::Erased { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// The active hold that keeps snapshot `s` whole, if any. Reads the items (into `items`,
/// for the caller to reuse) only when a covering hold selects items by date or query.
async fn snapshot_hold(
    repo: &Repository,
    s: &SnapshotSummary,
    holds: &[Hold],
    items: &mut Option<Vec<ItemRecord>>,
) -> Result<Option<String>> {
    let covering: Vec<&Hold> = holds.iter().filter(|h| h.covers_snapshot(s)).collect();
    if let Some(h) = covering.iter().find(|h| !h.scope.filters_items()) {
        return Ok(Some(hold_label(h)));
    }
    if covering.is_empty() {
        return Ok(None);
    }
    let list = items.insert(load_items(repo, s).await?);
    for item in list.iter() {
        if let Some(h) = covering.iter().find(|h| h.covers_item_in(s, item)) {
            return Ok(Some(format!("{} holds item {}", hold_label(h), item.id)));
        }
    }
    Ok(None)
}

fn item_blocked(
    s: &SnapshotSummary,
    item: &ItemRecord,
    date: DateTime<Utc>,
    holds: &[Hold],
    minimum: Option<super::Age>,
    now: DateTime<Utc>,
) -> Option<String> {
    if let Some(h) = holds
        .iter()
        .find(|h| h.covers_snapshot(s) && h.scope.snapshots.contains(&s.id))
    {
        return Some(format!("{} pins this snapshot", hold_label(h)));
    }
    if let Some(h) = holds.iter().find(|h| h.covers_item_in(s, item)) {
        return Some(hold_label(h));
    }
    minimum_retention_blocks(minimum, date, now).map(|until| {
        format!(
            "minimum retention {} (until {})",
            minimum.expect("set"),
            until.format("%Y-%m-%d")
        )
    })
}

impl Repository {
    /// What the policies would remove at `now` (holds and the minimum retention — the
    /// longer of `set.minimum` and the recorded one — mark entries as blocked). Writes nothing.
    pub async fn plan_retention(
        &self,
        set: &PolicySet,
        now: DateTime<Utc>,
    ) -> Result<RetentionPlan> {
        let holds = self.active_holds().await?;
        let departures = self.departures().await?;
        let minimum = longer(set.minimum, self.recorded_minimum(now).await?, now);
        let mut plan = RetentionPlan {
            now: Some(now),
            minimum: minimum.map(|m| m.to_string()),
            ..Default::default()
        };
        let all = self
            .list_snapshots(SnapshotFilter {
                include_partial: true,
                ..Default::default()
            })
            .await?;
        let mut by_owner: BTreeMap<OwnerRef, Vec<SnapshotSummary>> = BTreeMap::new();
        for s in all {
            by_owner.entry(s.owner.clone()).or_default().push(s);
        }
        for (owner, snaps) in by_owner {
            let Some(applied) = set.policy_for(&owner, &departures) else {
                plan.snapshots_kept += snaps.len() as u64;
                plan.owners_without_policy.push(owner);
                continue;
            };
            let policy = applied.policy;
            // Snapshot rules: which snapshots go, and why.
            let mut remove: BTreeMap<SnapshotId, String> = BTreeMap::new();
            let expired = applied.departed.and_then(|d| {
                let a = policy.keep_after_departure?;
                (now >= a.after(d.at)).then(|| {
                    format!(
                        "departed {}, kept {a} after departure",
                        d.at.format("%Y-%m-%d")
                    )
                })
            });
            if let Some(rule) = expired {
                for s in &snaps {
                    remove.insert(s.id.clone(), rule.clone());
                }
            } else {
                let complete: Vec<(DateTime<Utc>, SnapshotId)> = snaps
                    .iter()
                    .filter(|s| s.complete)
                    .map(|s| (s.time, s.id.clone()))
                    .collect();
                let mut kept = policy.snapshots.keep(&complete, now);
                if applied.departed.is_some()
                    && let Some((_, newest)) = complete.iter().max()
                {
                    kept.entry(newest.clone())
                        .or_default()
                        .push("departed owner's last state");
                }
                for (_, id) in &complete {
                    if !kept.contains_key(id) {
                        remove.insert(id.clone(), format!("snapshot rule ({})", policy.snapshots));
                    }
                }
            }
            // One pass per snapshot, its items read at most once.
            for s in &snaps {
                let mut items: Option<Vec<ItemRecord>> = None;
                if let Some(rule) = remove.get(&s.id) {
                    let blocked = match snapshot_hold(self, s, &holds, &mut items).await? {
                        Some(h) => Some(h),
                        None => minimum_retention_blocks(minimum, s.time, now).map(|until| {
                            format!(
                                "minimum retention {} (until {})",
                                minimum.expect("set"),
                                until.format("%Y-%m-%d")
                            )
                        }),
                    };
                    let gone = blocked.is_none();
                    plan.entries.push(PlanEntry {
                        owner: owner.clone(),
                        snapshot: s.id.clone(),
                        snapshot_time: s.time,
                        policy: applied.name.to_string(),
                        target: PlanTarget::Snapshot,
                        rule: rule.clone(),
                        blocked,
                    });
                    if gone {
                        continue;
                    }
                }
                // Item rules, on every snapshot that stays.
                plan.snapshots_kept += 1;
                let Some(age) = policy.item_max_age else {
                    continue;
                };
                let cutoff = age.before(now);
                let items = match items {
                    Some(v) => v,
                    None => load_items(self, s).await?,
                };
                for item in items {
                    let Some(date) = item_date(&item) else {
                        continue;
                    };
                    if date >= cutoff {
                        continue;
                    }
                    plan.entries.push(PlanEntry {
                        owner: owner.clone(),
                        snapshot: s.id.clone(),
                        snapshot_time: s.time,
                        policy: applied.name.to_string(),
                        blocked: item_blocked(s, &item, date, &holds, minimum, now),
                        target: PlanTarget::Item {
                            id: item.id,
                            name: item.name,
                            date,
                        },
                        rule: format!("item older than {age}"),
                    });
                }
            }
        }
        Ok(plan)
    }

    /// Carry out [`plan_retention`](Self::plan_retention): delete snapshot roots and rewrite
    /// snapshots without their expired items. Refuses (changing nothing) if the policies
    /// are invalid or would undercut the minimum retention; blocked entries are skipped.
    /// Run GC afterwards to reclaim the space.
    pub async fn apply_retention(
        &self,
        set: &PolicySet,
        now: DateTime<Utc>,
    ) -> Result<RetentionReport> {
        let stored = self.recorded_minimum(now).await?;
        let effective = PolicySet {
            minimum: longer(set.minimum, stored, now),
            ..set.clone()
        };
        effective.validate()?;
        let mut report = RetentionReport {
            rewrites_finished: self.finish_rewrites().await?,
            ..Default::default()
        };
        if let Some(m) = set.minimum {
            self.raise_minimum(m, now).await?;
        }
        // A hold created while planning must still win: re-plan if the holds changed.
        let ids = |v: Vec<Hold>| v.into_iter().map(|h| h.id).collect::<BTreeSet<_>>();
        let mut plan;
        loop {
            let before = ids(self.active_holds().await?);
            plan = self.plan_retention(&effective, now).await?;
            if ids(self.active_holds().await?) == before {
                break;
            }
        }
        let minimum = effective.minimum;
        let mut rewrites: BTreeMap<SnapshotId, (OwnerRef, BTreeSet<String>, BTreeSet<String>)> =
            BTreeMap::new();
        for e in &plan.entries {
            if e.blocked.is_some() {
                report.refused += 1;
                continue;
            }
            match &e.target {
                PlanTarget::Snapshot => {
                    if minimum_retention_blocks(minimum, e.snapshot_time, now).is_some() {
                        return Err(Error::Invalid(format!(
                            "refusing to delete snapshot {} inside the minimum retention",
                            e.snapshot
                        )));
                    }
                    let key = snapshot_key(&e.snapshot);
                    let locked = |legal_hold, locked_until| LockedRoot {
                        owner: e.owner.clone(),
                        snapshot: e.snapshot.clone(),
                        action: "delete".into(),
                        legal_hold,
                        locked_until,
                    };
                    if let Some((hold, until)) = root_protection(self, &key).await {
                        report.skip_locked(locked(hold, until));
                        continue;
                    }
                    match self.storage().delete(&key).await {
                        Ok(()) => {}
                        Err(StorageError::Locked { until, .. }) => {
                            report.skip_locked(locked(false, until.and_then(real_date)));
                            continue;
                        }
                        Err(err) => return Err(err.into()),
                    }
                    tracing::info!(snapshot = %e.snapshot, owner = %e.owner, rule = %e.rule, "snapshot removed by retention");
                    report.snapshots_deleted += 1;
                }
                PlanTarget::Item { id, date, .. } => {
                    if minimum_retention_blocks(minimum, *date, now).is_some() {
                        return Err(Error::Invalid(format!(
                            "refusing to remove item {id} inside the minimum retention"
                        )));
                    }
                    let r = rewrites
                        .entry(e.snapshot.clone())
                        .or_insert_with(|| (e.owner.clone(), BTreeSet::new(), BTreeSet::new()));
                    r.1.insert(id.clone());
                    r.2.insert(format!("{} ({})", e.rule, e.policy));
                }
            }
        }
        for (snap, (owner, items, rules)) in rewrites {
            // A rewrite ends by deleting the old root: a protected root is left whole rather
            // than rewritten into a second copy that the old one would shadow.
            let locked = |legal_hold, locked_until| LockedRoot {
                owner: owner.clone(),
                snapshot: snap.clone(),
                action: "rewrite".into(),
                legal_hold,
                locked_until,
            };
            if let Some((hold, until)) = root_protection(self, &snapshot_key(&snap)).await {
                report.skip_locked(locked(hold, until));
                continue;
            }
            let reason = format!(
                "retention: {}",
                rules.into_iter().collect::<Vec<_>>().join(", ")
            );
            match self.rewrite_snapshot(&snap, &items, &reason, now).await {
                Ok(Some(_)) => {
                    report.snapshots_rewritten += 1;
                    report.items_removed += items.len() as u64;
                }
                Ok(None) => {}
                // locked between the look and the deletion: the new snapshot and its rewrite
                // record exist; the old root goes when a later run finishes the rewrite
                Err(err) if is_locked(&err) => {
                    report.snapshots_rewritten += 1;
                    report.items_removed += items.len() as u64;
                    report.skip_locked(LockedRoot {
                        action: "rewrite, old root kept".into(),
                        ..locked(false, None)
                    });
                }
                Err(err) => return Err(err),
            }
        }
        report.plan = plan;
        Ok(report)
    }
}
