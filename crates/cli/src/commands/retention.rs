//! `retention plan` and `retention apply`: what the policies of `[retention]` remove, and
//! doing it (GC then reclaims the space).

use anyhow::Result;
use clap::{Args, Subcommand};
use tenantvault_repo::retention::{PlanTarget, RetentionPlan};

use super::policy::RetentionSection;
use crate::clock::now;
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// List what each policy would remove now, and why (owner, snapshot or item, rule);
    /// removals a hold or the minimum retention blocks are shown as kept.
    Plan(PlanArgs),
    /// Remove what `retention plan` lists (not what is blocked), then run `gc` to reclaim space.
    /// A snapshot root the storage still protects (Object Lock retention, S3 legal-hold flag)
    /// is skipped and listed; the rest goes on, and the exit code is then 3 (partial).
    Apply(PlanArgs),
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Only list entries of this owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Also list each item removal (default: a count per snapshot).
    #[arg(long)]
    pub items: bool,
}

fn print_plan(plan: &RetentionPlan, args: &PlanArgs) {
    use std::collections::BTreeMap;
    let mut item_counts: BTreeMap<(String, String, String, Option<String>), u64> = BTreeMap::new();
    for e in &plan.entries {
        if args.owner.as_ref().is_some_and(|o| *o != e.owner.owner) {
            continue;
        }
        let state = match &e.blocked {
            None => "REMOVE".to_string(),
            Some(b) => format!("KEEP ({b})"),
        };
        match &e.target {
            PlanTarget::Snapshot => println!(
                "{state}  {}  snapshot {} of {}  — policy {}: {}",
                e.owner,
                e.snapshot.short(),
                e.snapshot_time.format("%Y-%m-%d %H:%M"),
                e.policy,
                e.rule
            ),
            PlanTarget::Item { id, name, date } if args.items => println!(
                "{state}  {}  item {id} ({name}, {}) in snapshot {}  — policy {}: {}",
                e.owner,
                date.format("%Y-%m-%d"),
                e.snapshot.short(),
                e.policy,
                e.rule
            ),
            PlanTarget::Item { .. } => {
                *item_counts
                    .entry((
                        e.owner.to_string(),
                        e.snapshot.short().to_string(),
                        format!("policy {}: {}", e.policy, e.rule),
                        e.blocked.clone(),
                    ))
                    .or_default() += 1;
            }
        }
    }
    for ((owner, snap, rule, blocked), n) in item_counts {
        let state = match blocked {
            None => "REMOVE".to_string(),
            Some(b) => format!("KEEP ({b})"),
        };
        println!("{state}  {owner}  {n} item(s) in snapshot {snap}  — {rule}");
    }
    let removals = plan.removals().count();
    let blocked = plan.entries.len() - removals;
    println!(
        "{removals} removal(s), {blocked} blocked by holds or the minimum retention; {} snapshot(s) stay{}",
        plan.snapshots_kept,
        plan.minimum
            .as_deref()
            .map(|m| format!("; minimum retention {m}"))
            .unwrap_or_default()
    );
    for o in &plan.owners_without_policy {
        println!("no policy applies to {o}: all its snapshots are kept");
    }
}

pub async fn run(g: &GlobalArgs, cmd: RetentionCommand) -> Result<u8> {
    let (apply, args) = match cmd {
        RetentionCommand::Plan(a) => (false, a),
        RetentionCommand::Apply(a) => (true, a),
    };
    let section = RetentionSection::load(g)?;
    if section.policies.is_empty() {
        return Err(exit::usage(
            "no retention policies: add [retention.policies.NAME] and [[retention.assign]] to the configuration file (--config)",
        ));
    }
    let at = now()?;
    let set = section.resolve(g).await?;
    let repo = context::open(g).await?;
    if !apply {
        let plan = repo.plan_retention(&set, at).await?;
        if g.json {
            output::print_json(&plan)?;
        } else {
            print_plan(&plan, &args);
        }
        return Ok(exit::OK);
    }
    let report = repo.apply_retention(&set, at).await.map_err(|e| match e {
        tenantvault_repo::Error::Invalid(m) => exit::usage(format!("retention apply refused: {m}")),
        e => e.into(),
    })?;
    let locked: Vec<serde_json::Value> = report
        .locked
        .iter()
        .map(|l| {
            serde_json::json!({"snapshot": l.snapshot, "owner": l.owner.to_string(), "action": l.action, "reason": l.reason()})
        })
        .collect();
    crate::audit_note::set(
        "retention",
        serde_json::json!({"snapshots_deleted": report.snapshots_deleted, "snapshots_rewritten": report.snapshots_rewritten, "items_removed": report.items_removed, "refused": report.refused, "locked_skipped": locked}),
    );
    if g.json {
        output::print_json(&report)?;
    } else {
        if !g.quiet {
            print_plan(&report.plan, &args);
        }
        println!(
            "removed {} snapshot(s) and {} item(s) (from {} rewritten snapshot(s)); {} removal(s) refused by holds or the minimum retention{}",
            report.snapshots_deleted,
            report.items_removed,
            report.snapshots_rewritten,
            report.refused,
            if report.snapshots_deleted + report.snapshots_rewritten > 0 {
                "; run `tenantvault gc` to reclaim the space"
            } else {
                ""
            }
        );
        for l in &report.locked {
            println!(
                "SKIPPED  {}  snapshot {} ({}): {} — retried by a later run",
                l.owner,
                l.snapshot.short(),
                l.action,
                l.reason()
            );
        }
        if !report.locked.is_empty() {
            println!(
                "{} snapshot root(s) skipped: still protected by the storage",
                report.locked.len()
            );
        }
    }
    Ok(apply_exit_code(&report))
}

/// 0, or 3 (partial: completed, but some snapshot roots were skipped because the storage
/// still protects them). Not 10 (held): that code promises nothing was changed, and the rest
/// of the plan was carried out.
fn apply_exit_code(report: &tenantvault_repo::retention::RetentionReport) -> u8 {
    if report.locked.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    }
}

/// Records departures and returns after a backup of all users: `departed` owners are gone
/// from the tenant (the first departure counts), `present` ones are (back) in it.
pub async fn record_departures(
    repo: &tenantvault_repo::Repository,
    departed: &[String],
    present: &[String],
) -> Result<()> {
    let at = now()?;
    for o in departed {
        repo.mark_departed(o, at).await?;
    }
    for o in present {
        repo.mark_returned(o, at).await?;
    }
    Ok(())
}

/// After a OneDrive backup of all users: OneDrives backed up before (by their snapshots'
/// state) that this run did not list belong to departed users.
pub async fn record_drive_departures(
    repo: &tenantvault_repo::Repository,
    report: &tenantvault_workloads::drive::DriveBackupReport,
) -> Result<()> {
    use tenantvault_workloads::drive::{DriveKind, DriveState, layout::WORKLOAD};
    let present: Vec<String> = report
        .drives
        .iter()
        .map(|d| d.drive.drive_id.clone())
        .collect();
    let filter = tenantvault_repo::SnapshotFilter {
        workload: Some(WORKLOAD.into()),
        ..Default::default()
    };
    let mut newest = std::collections::BTreeMap::new();
    for s in repo.list_snapshots(filter).await? {
        newest.insert(s.owner.owner.clone(), s.id);
    }
    let mut departed = Vec::new();
    for (owner, id) in newest {
        if present.contains(&owner) {
            continue;
        }
        let snap = repo.snapshot(&id.0).await?;
        if DriveState::from_json(snap.state()).is_some_and(|s| s.drive.kind == DriveKind::Onedrive)
        {
            departed.push(owner);
        }
    }
    record_departures(repo, &departed, &present).await
}
