//! `snapshots`: list snapshots, optionally of one owner / workload.

use anyhow::Result;
use clap::Args;
use serde::Serialize;
use tenantvault_repo::{SnapshotFilter, SnapshotStats, SnapshotSummary};

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
    pub time: String,
    pub workload: String,
    pub owner: String,
    pub parent: Option<String>,
    pub complete: bool,
    pub mode: tenantvault_repo::BackupMode,
    pub stats: SnapshotStats,
}

impl From<&SnapshotSummary> for SnapshotJson {
    fn from(s: &SnapshotSummary) -> Self {
        SnapshotJson {
            id: s.id.0.clone(),
            time: s.time.to_rfc3339(),
            workload: s.owner.workload.clone(),
            owner: s.owner.owner.clone(),
            parent: s.parent.as_ref().map(|p| p.0.clone()),
            complete: s.complete,
            mode: s.mode,
            stats: s.stats,
        }
    }
}

pub async fn run(g: &GlobalArgs, args: SnapshotsArgs) -> Result<u8> {
    let repo = context::open(g).await?;
    let filter = SnapshotFilter {
        owner: args.owner,
        workload: args.workload,
        include_partial: args.all,
    };
    let list = repo.list_snapshots(filter).await?;
    if g.json {
        let out: Vec<SnapshotJson> = list.iter().map(SnapshotJson::from).collect();
        output::print_json(&out)?;
        return Ok(exit::OK);
    }
    println!(
        "{:<10} {:<20} {:<24} {:>9} {:>11}  status",
        "ID", "TIME (UTC)", "OWNER", "ITEMS", "SIZE"
    );
    for s in &list {
        let status = match (s.complete, s.stats.failures) {
            (false, _) => "partial".to_owned(),
            (true, 0) => "ok".to_owned(),
            (true, n) => format!("{n} failed"),
        };
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
