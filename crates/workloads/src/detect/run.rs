//! Detection after a backup: statistics against the previous complete snapshot, the owner's
//! baseline, the verdict, and — when suspect — the response: alert stored, clean snapshot
//! pinned by a hold.

use serde::{Deserialize, Serialize};
use tenantvault_repo::{
    HoldScope, NewHold, OwnerRef, Repository, SnapshotFilter, SnapshotId, SnapshotSummary,
};

use super::DetectError;
use super::alert::{self, Alert};
use super::score::{BASELINE_SNAPSHOTS, Verdict, has_indicators, recent_encryption, score};
use super::stats::{ChangeStats, compute};

/// Prefix of statistics documents: `stats/<owner key id>/<time>-<snapshot id>`.
pub const STATS_PREFIX: &str = "stats/";

/// A stored statistics document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsDoc {
    /// The statistics.
    pub stats: ChangeStats,
    /// The verdict at the time.
    pub verdict: Verdict,
}

/// What detection found for one snapshot.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Statistics.
    pub stats: ChangeStats,
    /// Verdict.
    pub verdict: Verdict,
    /// The alert raised, if suspect.
    pub alert: Option<Alert>,
}

pub(crate) fn owner_dir(repo: &Repository, owner: &OwnerRef) -> String {
    let k = repo.owner_object_key(owner);
    let oid = k.rsplit('/').next().unwrap_or(&k);
    format!("{STATS_PREFIX}{oid}/")
}

fn stats_key(repo: &Repository, s: &SnapshotSummary) -> String {
    format!(
        "{}{}-{}",
        owner_dir(repo, &s.owner),
        s.time.format("%Y%m%dT%H%M%S%.6fZ"),
        s.id.0
    )
}

/// The owner's stored statistics, oldest first.
pub async fn history(repo: &Repository, owner: &OwnerRef) -> Result<Vec<StatsDoc>, DetectError> {
    let mut out = Vec::new();
    for k in repo.list_sealed(&owner_dir(repo, owner)).await? {
        if let Some(v) = repo.get_sealed(&k).await? {
            out.push(serde_json::from_value(v).map_err(|e| DetectError::Corrupt {
                object: k.clone(),
                detail: e.to_string(),
            })?);
        }
    }
    Ok(out)
}

/// The owner name a snapshot state carries (UPN, site name), if any.
fn owner_name(state: &serde_json::Value) -> String {
    for parent in [state.get("drive"), state.get("mailbox"), Some(state)]
        .into_iter()
        .flatten()
    {
        for k in [
            "userPrincipalName",
            "upn",
            "siteName",
            "displayName",
            "name",
        ] {
            if let Some(s) = parent.get(k).and_then(|v| v.as_str())
                && !s.is_empty()
            {
                return s.to_string();
            }
        }
    }
    String::new()
}

/// Analyses one committed snapshot (idempotent: its stats and alert are keyed by it).
pub async fn analyze(repo: &Repository, snapshot_id: &str) -> Result<Analysis, DetectError> {
    let cur = repo.snapshot(snapshot_id).await?;
    let summary = cur.summary().clone();
    let all = repo
        .list_snapshots(SnapshotFilter {
            workload: Some(summary.owner.workload.clone()),
            owner: Some(summary.owner.owner.clone()),
            include_partial: false,
        })
        .await?;
    let prev_summary = all
        .iter()
        .rfind(|s| s.id != summary.id && s.time <= summary.time)
        .cloned();
    let prev = match &prev_summary {
        Some(p) => Some(repo.snapshot(&p.id.0).await?),
        None => None,
    };
    // Extensions an open alert of this owner saw appended: deleting such files is clean-up.
    let artifact_exts: std::collections::BTreeSet<String> = alert::list_alerts(repo)
        .await?
        .into_iter()
        .filter(|a| a.is_open() && a.owner == summary.owner.owner)
        .flat_map(|a| a.stats.appended.into_keys())
        .collect();
    let stats = compute(repo, prev.as_ref(), &cur, &artifact_exts).await?;
    let mut past: Vec<StatsDoc> = history(repo, &summary.owner)
        .await?
        .into_iter()
        .filter(|d| d.stats.snapshot != summary.id.0 && d.stats.time <= summary.time)
        .collect();
    // Baseline: the owner's earlier normal snapshots (suspect ones would teach it attacks).
    let baseline: Vec<ChangeStats> = past
        .iter()
        .rev()
        .filter(|d| !d.verdict.suspect && d.stats.previous.is_some())
        .take(BASELINE_SNAPSHOTS)
        .map(|d| d.stats.clone())
        .collect();
    let verdict = score(&stats, &baseline);
    let doc = StatsDoc {
        stats: stats.clone(),
        verdict: verdict.clone(),
    };
    repo.put_sealed(
        &stats_key(repo, &summary),
        &serde_json::to_value(&doc).map_err(|e| DetectError::Invalid(e.to_string()))?,
    )
    .await?;
    if !verdict.suspect {
        return Ok(Analysis {
            stats,
            verdict,
            alert: None,
        });
    }
    // The clean point: before the first snapshot of the run of snapshots showing any sign of
    // the attack (a slow attack shows below the threshold before it is caught).
    past.sort_by_key(|d| d.stats.time);
    let mut clean = stats.previous.clone();
    for d in past.iter().rev() {
        if Some(&d.stats.snapshot) != clean.as_ref() || !has_indicators(&d.stats) {
            break;
        }
        clean = d.stats.previous.clone();
    }
    // A slow encryption began with its first backup showing encryption in the window, even
    // when backups without any sign came in between.
    if verdict.signals.iter().any(|x| x == "slowEncryption") {
        let earlier: Vec<ChangeStats> = past.iter().map(|d| d.stats.clone()).collect();
        let time_of = |id: &Option<String>| {
            id.as_ref()
                .and_then(|c| all.iter().find(|s| &s.id.0 == c))
                .map(|s| s.time)
        };
        if let Some(first) = recent_encryption(&stats, &earlier).first()
            && let Some(t) = time_of(&first.previous)
            && time_of(&clean).is_none_or(|c| t < c)
        {
            clean = first.previous.clone();
        }
    }
    let clean_summary = clean
        .as_ref()
        .and_then(|c| all.iter().find(|s| &s.id.0 == c))
        .cloned();
    let id = format!(
        "{}-{}",
        summary.time.format("%Y%m%dT%H%M%SZ"),
        &summary.id.0[..summary.id.0.len().min(8)]
    );
    let existing = alert::list_alerts(repo)
        .await?
        .into_iter()
        .find(|a| a.id == id);
    if let Some(a) = existing {
        return Ok(Analysis {
            stats,
            verdict,
            alert: Some(a),
        });
    }
    let hold = match &clean_summary {
        Some(c) => Some(
            repo.create_hold(
                NewHold {
                    case: Alert::case(&id),
                    reason: format!(
                        "clean point before suspect snapshot {}: {}",
                        summary.id.0,
                        verdict.explanation()
                    ),
                    created_by: "tenantvault detect".into(),
                    scope: HoldScope {
                        owners: vec![summary.owner.owner.clone()],
                        snapshots: vec![SnapshotId(c.id.0.clone())],
                        ..HoldScope::default()
                    },
                },
                summary.time,
            )
            .await?
            .id,
        ),
        None => None,
    };
    let a = Alert {
        id,
        created: summary.time,
        workload: summary.owner.workload.clone(),
        owner: summary.owner.owner.clone(),
        owner_name: owner_name(cur.state()),
        snapshot: summary.id.0.clone(),
        clean_snapshot: clean_summary.as_ref().map(|c| c.id.0.clone()),
        clean_time: clean_summary.as_ref().map(|c| c.time),
        score: verdict.score,
        explanation: verdict.explanation(),
        stats: stats.clone(),
        hold,
        cleared: None,
    };
    alert::store(repo, &a).await?;
    tracing::warn!(
        alert = %a.id, owner = %a.owner, snapshot = %a.snapshot, score = a.score,
        clean = ?a.clean_snapshot, "ransomware/insider alert: {}", a.explanation
    );
    Ok(Analysis {
        stats,
        verdict,
        alert: Some(a),
    })
}

/// The backup hook: analyses a freshly committed snapshot; a detection failure is logged and
/// never fails the backup.
pub async fn after_backup(repo: &Repository, snapshot_id: &str) -> Option<Alert> {
    match analyze(repo, snapshot_id).await {
        Ok(a) => a.alert,
        Err(e) => {
            tracing::warn!(snapshot = snapshot_id, error = %e, "change analysis failed");
            None
        }
    }
}
