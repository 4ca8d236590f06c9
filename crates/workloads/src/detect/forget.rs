//! Erasure of an owner's detection records (GDPR Art. 17, with `erase --owner`): the change
//! statistics `stats/<oid>/…`, the alerts about that owner (`alerts/<id>` and its
//! `.cleared`), and the recovery journals `recover/<oid>/…`. Crypto-shredding does not reach
//! them (they are sealed with the repository's metadata key, not the owner key), so they are
//! deleted. An alert names exactly one owner, so it is deleted whole rather than redacted;
//! what remains is the audit log's record of the erasure (counts, no names of items).
//!
//! Deletion respects Object Lock: a document still retained is left in place and reported;
//! running `erase` for the owner again after the retention date removes it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tenantvault_repo::{OwnerRef, Repository, SealedDelete, SnapshotFilter};

use super::DetectError;
use super::alert::{ALERT_PREFIX, list_alerts};
use super::run::owner_dir;

/// The owner's detection documents, by kind (object keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OwnerDocuments {
    /// `stats/<oid>/…`.
    pub stats: Vec<String>,
    /// `alerts/<id>` and `alerts/<id>.cleared` of alerts about the owner.
    pub alerts: Vec<String>,
    /// Recovery journal entries of the owner's recoveries.
    pub journals: Vec<String>,
}

impl OwnerDocuments {
    /// All keys.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.stats.iter().chain(&self.alerts).chain(&self.journals)
    }

    /// How many documents.
    pub fn len(&self) -> usize {
        self.stats.len() + self.alerts.len() + self.journals.len()
    }

    /// None at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What [`forget_owner`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Forgotten {
    /// Statistics documents deleted.
    pub stats: u64,
    /// Alert documents deleted (an alert and its clearance count as two).
    pub alerts: u64,
    /// Alert ids whose documents were deleted.
    pub alert_ids: Vec<String>,
    /// Recovery journal entries deleted.
    pub journals: u64,
    /// Documents kept because Object Lock still retains them, with the retain-until date
    /// when known (a legal-hold flag has none).
    pub locked: Vec<(String, Option<DateTime<Utc>>)>,
}

/// Recovery journals of an owner live under `recover/<oid>/` (see `recover`).
pub(crate) fn journal_owner_dir(repo: &Repository, owner: &OwnerRef) -> String {
    let k = repo.owner_object_key(owner);
    let oid = k.rsplit('/').next().unwrap_or(&k);
    format!("{}{oid}/", crate::recover::RECOVER_PREFIX)
}

/// The detection documents that concern `owner` (stats, alerts, recovery journals, including
/// journals of the earlier layout `recover/<run>/` for in-place recoveries of the owner).
pub async fn owner_documents(
    repo: &Repository,
    owner: &OwnerRef,
) -> Result<OwnerDocuments, DetectError> {
    let stats = repo.list_sealed(&owner_dir(repo, owner)).await?;
    let mut alerts = Vec::new();
    let keys = repo.list_sealed(ALERT_PREFIX).await?;
    for a in list_alerts(repo).await? {
        if a.workload == owner.workload && a.owner == owner.owner {
            let k = format!("{ALERT_PREFIX}{}", a.id);
            for key in [k.clone(), format!("{k}.cleared")] {
                if keys.binary_search(&key).is_ok() {
                    alerts.push(key);
                }
            }
        }
    }
    let mut journals = repo.list_sealed(&journal_owner_dir(repo, owner)).await?;
    journals.extend(legacy_journals(repo, owner).await?);
    Ok(OwnerDocuments {
        stats,
        alerts,
        journals,
    })
}

/// Journals written before they were kept per owner: `recover/<16 hex>/<item>`, the directory
/// a hash of (workload, owner, clean snapshot, latest snapshot, target folder). Those of
/// in-place recoveries are found by recomputing the hash for every pair of the owner's
/// snapshots; a legacy run into a separate folder cannot be attributed and is not found.
async fn legacy_journals(repo: &Repository, owner: &OwnerRef) -> Result<Vec<String>, DetectError> {
    let prefix = crate::recover::RECOVER_PREFIX;
    let all = repo.list_sealed(prefix).await?;
    let legacy: std::collections::BTreeSet<&str> = all
        .iter()
        .filter_map(|k| {
            let rest = &k[prefix.len()..];
            let (dir, _) = rest.split_once('/')?;
            (dir.len() == 16 && !rest[dir.len() + 1..].contains('/')).then_some(dir)
        })
        .collect();
    if legacy.is_empty() {
        return Ok(Vec::new());
    }
    let snaps = repo
        .list_snapshots(SnapshotFilter {
            workload: Some(owner.workload.clone()),
            owner: Some(owner.owner.clone()),
            include_partial: true,
        })
        .await?;
    let mut dirs = std::collections::BTreeSet::new();
    for clean in &snaps {
        for latest in &snaps {
            let d = crate::recover::journal_run_name(
                &owner.workload,
                &owner.owner,
                &clean.id.0,
                &latest.id.0,
                None,
            );
            if legacy.contains(d.as_str()) {
                dirs.insert(d);
            }
        }
    }
    Ok(all
        .into_iter()
        .filter(|k| {
            k[prefix.len()..]
                .split_once('/')
                .is_some_and(|(d, _)| dirs.contains(d))
        })
        .collect())
}

/// Deletes the owner's detection documents ([`owner_documents`]). Documents still under
/// Object Lock are kept and listed in [`Forgotten::locked`]; calling this again later deletes
/// them. Meant to run once the owner is erased (`erase`), or is being erased.
pub async fn forget_owner(repo: &Repository, owner: &OwnerRef) -> Result<Forgotten, DetectError> {
    let docs = owner_documents(repo, owner).await?;
    let mut out = Forgotten::default();
    for (keys, count) in [
        (&docs.stats, &mut out.stats),
        (&docs.alerts, &mut out.alerts),
        (&docs.journals, &mut out.journals),
    ] {
        for k in keys {
            // an alert still locked keeps its clearance (else it would read as open again)
            if let Some(base) = k.strip_suffix(".cleared")
                && out.locked.iter().any(|(l, _)| l == base)
            {
                out.locked.push((k.clone(), None));
                continue;
            }
            match repo.delete_sealed(k).await? {
                SealedDelete::Deleted => *count += 1,
                SealedDelete::Locked { until } => out.locked.push((k.clone(), until)),
            }
        }
    }
    out.alert_ids = docs
        .alerts
        .iter()
        .filter(|k| !k.ends_with(".cleared"))
        .filter(|k| !out.locked.iter().any(|(l, _)| l == *k))
        .map(|k| k[ALERT_PREFIX.len()..].to_string())
        .collect();
    tracing::info!(
        owner = %owner, stats = out.stats, alerts = out.alerts, journals = out.journals,
        locked = out.locked.len(), "detection records of an erased owner deleted"
    );
    Ok(out)
}
