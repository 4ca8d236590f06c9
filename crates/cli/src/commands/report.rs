//! `report compliance`: per owner — restore points, last successful backup, failures, holds,
//! erasure, departure — as a table or JSON.

use std::collections::BTreeMap;

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::Subcommand;
use serde::Serialize;
use tenantvault_repo::retention::{PolicySet, longer, minimum_retention_blocks};
use tenantvault_repo::{AuditFilter, OwnerRef, Repository, SnapshotFilter, SnapshotSummary};

use crate::commands::policy::RetentionSection;

use crate::{GlobalArgs, clock, context, exit, output};

/// `tenantvault report …`
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Per owner: restore points, last successful backup, failures, holds, erasures, departures.
    Compliance,
}

/// How an owner's erasure is shown.
#[derive(Debug, Clone, Serialize)]
pub struct ErasedInfo {
    pub at: DateTime<Utc>,
    pub reason: String,
    pub by: String,
    /// The minimum retention (e.g. `1y`) the erasure overrode: the owner's newest snapshot was
    /// younger than it when erased. GDPR erasure wins over the minimum retention floor; it
    /// never wins over a legal hold (an erasure touching held data is refused).
    pub overrode_minimum_retention: Option<String>,
}

/// One owner's line of the compliance report.
#[derive(Debug, Clone, Serialize)]
pub struct OwnerCompliance {
    pub owner: String,
    pub workload: String,
    /// The retention policy that applies (from the `[retention]` section), if any.
    pub policy: Option<String>,
    /// Restorable (complete) snapshots; 0 once erased.
    pub restore_points: u64,
    pub oldest_restore_point: Option<DateTime<Utc>>,
    pub newest_restore_point: Option<DateTime<Utc>>,
    /// Newest complete snapshot without failed items.
    pub last_successful_backup: Option<DateTime<Utc>>,
    /// Items that failed in the newest complete snapshot.
    pub failed_items_last_backup: u64,
    /// Interrupted runs: partial snapshots newer than the newest complete one.
    pub interrupted_runs_since: u64,
    /// Audit records of failed operations naming this owner since the last successful backup.
    pub failed_operations_since: u64,
    /// Active holds covering the owner (case ids).
    pub holds: Vec<String>,
    pub erased: Option<ErasedInfo>,
    /// When the owner was marked departed, if it was.
    pub departed: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize)]
struct Report {
    generated: DateTime<Utc>,
    owners: Vec<OwnerCompliance>,
}

pub async fn run(g: &GlobalArgs, cmd: ReportCommand) -> Result<u8> {
    match cmd {
        ReportCommand::Compliance => compliance(g).await,
    }
}

async fn compliance(g: &GlobalArgs) -> Result<u8> {
    let now = clock::now()?;
    let policies = policies(g).await?;
    let repo = context::open(g).await?;
    let owners = build(&repo, &policies).await?;
    crate::audit_note::set("owners", owners.len());
    if g.json {
        output::print_json(&Report {
            generated: now,
            owners,
        })?;
    } else {
        print_table(&owners, now);
    }
    Ok(exit::OK)
}

/// The configured policies. Group members are resolved through Graph; when Graph cannot be
/// reached, group assignments are shown as matching nobody (with a warning).
async fn policies(g: &GlobalArgs) -> Result<PolicySet> {
    let section = RetentionSection::load(g)?;
    if section.groups().is_empty() {
        return Ok(section.to_set(&BTreeMap::new()));
    }
    match section.resolve(g).await {
        Ok(set) => Ok(set),
        Err(e) => {
            eprintln!("warning: group assignments not resolved ({e:#}); they match no owner here");
            Ok(section.to_set(&BTreeMap::new()))
        }
    }
}

/// Builds the report from snapshot heads, policies, departures, holds, erasures and the
/// audit log.
pub async fn build(repo: &Repository, policies: &PolicySet) -> Result<Vec<OwnerCompliance>> {
    let mut by_owner: BTreeMap<(String, String), Vec<SnapshotSummary>> = BTreeMap::new();
    for s in repo
        .list_snapshots(SnapshotFilter {
            include_partial: true,
            ..Default::default()
        })
        .await?
    {
        by_owner
            .entry((s.owner.owner.clone(), s.owner.workload.clone()))
            .or_default()
            .push(s);
    }
    let holds = repo.active_holds().await?;
    let erasures = repo.erasures().await?;
    let (audit, _) = repo.audit_records(&AuditFilter::default()).await?;
    let departures = repo.departures().await?;
    let recorded = repo.recorded_minimum(Utc::now()).await?;
    let mut out = Vec::new();
    for ((owner, workload), snaps) in by_owner {
        let erased = erasures
            .iter()
            .find(|e| e.owner.owner == owner && e.owner.workload == workload)
            .map(|e| {
                let minimum = longer(policies.minimum, recorded, e.erased_at);
                let newest = snaps.iter().map(|s| s.time).max();
                ErasedInfo {
                    at: e.erased_at,
                    reason: e.reason.clone(),
                    by: e.by.clone(),
                    overrode_minimum_retention: newest
                        .and_then(|t| minimum_retention_blocks(minimum, t, e.erased_at))
                        .and(minimum)
                        .map(|m| m.to_string()),
                }
            });
        let complete: Vec<&SnapshotSummary> = if erased.is_some() {
            Vec::new()
        } else {
            snaps.iter().filter(|s| s.complete).collect()
        };
        let newest = complete.last().copied();
        let last_ok = complete
            .iter()
            .rev()
            .find(|s| s.stats.failures == 0)
            .map(|s| s.time);
        let since = newest.map(|s| s.time);
        let interrupted = snaps
            .iter()
            .filter(|s| !s.complete && since.is_none_or(|t| s.time > t))
            .count() as u64;
        let failed_ops = audit
            .iter()
            .filter(|e| {
                e.record.outcome == "failed"
                    && e.record.mentions_owner(&owner)
                    && last_ok.is_none_or(|t| e.record.time > t)
            })
            .count() as u64;
        out.push(OwnerCompliance {
            restore_points: complete.len() as u64,
            oldest_restore_point: complete.first().map(|s| s.time),
            newest_restore_point: newest.map(|s| s.time),
            last_successful_backup: last_ok,
            failed_items_last_backup: newest.map_or(0, |s| s.stats.failures),
            interrupted_runs_since: interrupted,
            failed_operations_since: failed_ops,
            holds: holds
                .iter()
                .filter(|h| h.covers_owner(&owner))
                .map(|h| h.case.clone())
                .collect(),
            erased,
            policy: policies
                .policy_for(&OwnerRef::new(workload.clone(), owner.clone()), &departures)
                .map(|a| a.name.to_string()),
            departed: departures.get(&owner).map(|d| d.at),
            owner,
            workload,
        });
    }
    Ok(out)
}

fn day(t: Option<DateTime<Utc>>) -> String {
    t.map_or("-".into(), |t| t.format("%Y-%m-%d").to_string())
}

fn print_table(rows: &[OwnerCompliance], now: DateTime<Utc>) {
    println!(
        "compliance report, {} ({} owner(s))",
        now.format("%Y-%m-%d %H:%M UTC"),
        rows.len()
    );
    println!(
        "{:<32} {:<10} {:<12} {:>6} {:<10} {:<10} {:<10} {:>8} {:<16} STATUS",
        "OWNER", "WORKLOAD", "POLICY", "POINTS", "OLDEST", "NEWEST", "LAST OK", "FAILURES", "HOLDS"
    );
    for r in rows {
        let status = match (&r.erased, r.departed) {
            (Some(e), _) => format!(
                "erased {} by {} ({}){}",
                e.at.format("%Y-%m-%d"),
                e.by,
                e.reason,
                e.overrode_minimum_retention
                    .as_ref()
                    .map(|m| format!(", inside the {m} minimum retention (erasure overrides it)"))
                    .unwrap_or_default()
            ),
            (None, Some(d)) => format!("departed {}", d.format("%Y-%m-%d")),
            (None, None) => "active".into(),
        };
        let failures =
            r.failed_items_last_backup + r.interrupted_runs_since + r.failed_operations_since;
        println!(
            "{:<32} {:<10} {:<12} {:>6} {:<10} {:<10} {:<10} {:>8} {:<16} {status}",
            r.owner,
            r.workload,
            r.policy.as_deref().unwrap_or("-"),
            r.restore_points,
            day(r.oldest_restore_point),
            day(r.newest_restore_point),
            day(r.last_successful_backup),
            failures,
            if r.holds.is_empty() {
                "-".to_string()
            } else {
                r.holds.join(",")
            },
        );
    }
}
