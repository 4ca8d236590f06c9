//! Object Lock maintenance: keep every object the repository still needs locked.
//!
//! Objects are written with a retain-until date `days` ahead (the lock policy, S3 backend).
//! [`Repository::maintain_locks`] extends the lock of every object that is still referenced —
//! `config`, key slots, snapshots, and the packs (and their index files) holding a blob some
//! snapshot references — once its remaining retention is below `renew_below`. Objects no
//! longer referenced are not extended: their lock runs out and GC can delete them.
//! `owners/`, `sessions/` and `gc/` are never locked (see `LockPolicy::applies_to`).

use crate::crypto::PackId;
use crate::error::{Error, Result};
use crate::repository::Repository;
use crate::storage::{LockPolicy, StorageError};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// What [`Repository::maintain_locks`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockReport {
    /// Referenced objects whose lock was looked at.
    pub checked: u64,
    /// Locks extended to `now + days`.
    pub extended: u64,
    /// Referenced objects that were already locked long enough.
    pub still_locked: u64,
    /// Unreferenced packs (and index files) left to expire.
    pub unreferenced: u64,
    /// Objects that could not be extended (each also logged), e.g. missing meanwhile.
    pub failed: Vec<String>,
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
        let reach = crate::gc::reachable(self).await?;
        let mut live_packs: HashSet<PackId> = HashSet::new();
        for id in &reach {
            if let Some(loc) = self.inner.cache.lookup(id)? {
                live_packs.insert(loc.pack);
            }
        }
        let mut keys = vec!["config".to_string()];
        let mut report = LockReport::default();
        for prefix in ["keys/", "snapshots/"] {
            keys.extend(
                self.storage()
                    .list(prefix)
                    .await?
                    .into_iter()
                    .map(|(k, _)| k),
            );
        }
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
        tracing::info!(
            checked = report.checked,
            extended = report.extended,
            "lock maintenance done"
        );
        Ok(report)
    }
}
