//! `snapshots`: list snapshots, optionally of one owner / workload.

use anyhow::Result;
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use tenantvault_repo::{Erasure, SnapshotFilter, SnapshotStats, SnapshotSummary};

use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// Only this owner's snapshots.
    #[arg(long)]
    pub owner: Option<String>,
    /// Only this workload's snapshots (e.g. `dir`).
    #[arg(long)]
    pub workload: Option<String>,
    /// Also list partial snapshots (checkpoints of unfinished backups).
    #[arg(long)]
    pub all: bool,
}

/// The JSON shape of one snapshot in `snapshots --json` (and in `backup --json`).
#[derive(Debug, Serialize)]
pub struct SnapshotJson {
    pub id: String,
    /// Set when the owner was erased (GDPR): the snapshot's content is unreadable.
    pub erased: Option<ErasedJson>,
    pub time: String,
    pub workload: String,
    pub owner: String,
    pub parent: Option<String>,
    pub complete: bool,
    pub mode: tenantvault_repo::BackupMode,
    pub stats: SnapshotStats,
    /// The open ransomware/insider alert raised for this snapshot, if any.
    pub suspect: Option<super::alerts::SuspectMark>,
    /// The open alert whose pinned clean point this snapshot is, if any.
    pub clean_point_of: Option<String>,
}

impl From<&SnapshotSummary> for SnapshotJson {
    fn from(s: &SnapshotSummary) -> Self {
        SnapshotJson {
            id: s.id.0.clone(),
            erased: None,
            time: s.time.to_rfc3339(),
            workload: s.owner.workload.clone(),
            owner: s.owner.owner.clone(),
            parent: s.parent.as_ref().map(|p| p.0.clone()),
            complete: s.complete,
            mode: s.mode,
            stats: s.stats,
            suspect: None,
            clean_point_of: None,
        }
    }
}

/// When, why and by whom a snapshot's owner was erased (`snapshots --json`).
#[derive(Debug, Clone, Serialize)]
pub struct ErasedJson {
    pub date: String,
    pub reason: String,
    pub by: String,
}

/// Erased owners, by `workload:owner`.
async fn erased_owners(repo: &tenantvault_repo::Repository) -> Result<BTreeMap<String, Erasure>> {
    Ok(repo
        .erasures()
        .await?
        .into_iter()
        .map(|e| (e.owner.to_string(), e))
        .collect())
}

fn erased_json(erased: &BTreeMap<String, Erasure>, s: &SnapshotSummary) -> Option<ErasedJson> {
    erased.get(&s.owner.to_string()).map(|e| ErasedJson {
        date: e.erased_at.to_rfc3339(),
        reason: e.reason.clone(),
        by: e.by.clone(),
    })
}

pub async fn run(g: &GlobalArgs, args: SnapshotsArgs) -> Result<u8> {
    let repo = context::open(g).await?;
    let filter = SnapshotFilter {
        owner: args.owner,
        workload: args.workload,
        include_partial: args.all,
    };
    let list = repo.list_snapshots(filter).await?;
    let erased = erased_owners(&repo).await?;
    let marks = super::alerts::SnapshotMarks::load(&repo).await?;
    if g.json {
        let out: Vec<SnapshotJson> = list
            .iter()
            .map(|s| SnapshotJson {
                suspect: marks.suspect(&s.id.0),
                clean_point_of: marks.clean_point_of(&s.id.0),
                ..SnapshotJson::from(s)
            })
            .collect();
        let out: Vec<SnapshotJson> = out
            .into_iter()
            .zip(&list)
            .map(|(j, s)| SnapshotJson {
                erased: erased_json(&erased, s),
                ..j
            })
            .collect();
        output::print_json(&out)?;
        return Ok(exit::OK);
    }
    println!(
        "{:<10} {:<20} {:<24} {:>9} {:>11}  status",
        "ID", "TIME (UTC)", "OWNER", "ITEMS", "SIZE"
    );
    for s in &list {
        let status = match (erased_json(&erased, s), s.complete, s.stats.failures) {
            (Some(e), _, _) => format!(
                "ERASED {} by {} ({})",
                e.date.get(..10).unwrap_or(&e.date),
                e.by,
                e.reason
            ),
            (None, false, _) => "partial".to_owned(),
            (None, true, 0) => "ok".to_owned(),
            (None, true, n) => format!("{n} failed"),
        } + &marks.label(&s.id.0);
        println!(
            "{:<10} {:<20} {:<24} {:>9} {:>11}  {status}",
            s.id.short(),
            s.time.format("%Y-%m-%d %H:%M:%S"),
            s.owner.to_string(),
            s.stats.items,
            output::bytes(s.stats.bytes),
        );
    }
    if !g.quiet {
        eprintln!("{} snapshot(s)", list.len());
    }
    Ok(exit::OK)
}
