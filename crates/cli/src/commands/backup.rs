//! `backup dir PATH --owner NAME`: a local folder into a snapshot of workload `dir`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde::Serialize;
use tenantvault_repo::{
    BackupOptions, DIR_WORKLOAD, DirBackupOptions, Failure, ParentSelect, SnapshotStats,
};

use crate::progress::{ItemProgress, Progress};
use crate::snapshot_ref::parse_duration;
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up a local folder into a snapshot of OWNER (workload `dir`).
    Dir(DirArgs),
    /// Back up Exchange Online mailboxes (mail, calendars, contacts), one snapshot per mailbox.
    Exchange(crate::exchange::BackupExchangeArgs),
    /// Back up users' OneDrives, one snapshot per drive.
    Onedrive(crate::drive::BackupDriveArgs),
    /// Back up SharePoint sites' document libraries, one snapshot per library.
    Sharepoint(crate::drive::BackupDriveArgs),
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// The folder to back up.
    pub path: PathBuf,
    /// Owner the snapshot belongs to (e.g. the share or user whose folder this is).
    #[arg(long)]
    pub owner: String,
    /// Read every file again instead of carrying unchanged ones (same size and mtime) over.
    #[arg(long)]
    pub force: bool,
    /// Write a partial snapshot this often so that an interrupted run resumes from it.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub checkpoint_every: String,
}

/// The JSON printed by `backup --json` (and the figures of the human summary).
#[derive(Debug, Serialize)]
pub struct BackupJson {
    pub snapshot: String,
    pub time: String,
    pub workload: String,
    pub owner: String,
    pub parent: Option<String>,
    /// Items in the snapshot.
    pub items: u64,
    /// Sum of their sizes.
    pub bytes: u64,
    /// Items whose content was read in this run (new or changed).
    pub items_new: u64,
    /// Items carried over from the parent without reading.
    pub items_unchanged: u64,
    /// Content bytes read from the source in this run.
    pub bytes_read: u64,
    /// Blobs added to the repository (not found by dedup).
    pub blobs_new: u64,
    /// Bytes added to the repository (compressed and encrypted).
    pub bytes_added: u64,
    pub failures: Vec<Failure>,
    pub elapsed_secs: f64,
}

pub async fn run(g: &GlobalArgs, cmd: BackupCommand) -> Result<u8> {
    match cmd {
        BackupCommand::Dir(args) => dir(g, args).await,
        BackupCommand::Exchange(args) => crate::exchange::backup(g, args).await,
        BackupCommand::Onedrive(args) => {
            crate::drive::backup(g, tenantvault_workloads::drive::DriveKind::Onedrive, args).await
        }
        BackupCommand::Sharepoint(args) => {
            crate::drive::backup(g, tenantvault_workloads::drive::DriveKind::Sharepoint, args).await
        }
    }
}

async fn dir(g: &GlobalArgs, args: DirArgs) -> Result<u8> {
    // validate everything before touching the repository
    if args.owner.trim().is_empty() {
        return Err(exit::usage("--owner must not be empty"));
    }
    let checkpoint = parse_duration(&args.checkpoint_every)?;
    let meta = std::fs::metadata(&args.path)
        .map_err(|e| exit::not_found(format!("source {}: {e}", args.path.display())))?;
    if !meta.is_dir() {
        return Err(exit::usage(format!(
            "source {} is not a directory",
            args.path.display()
        )));
    }
    let repo = context::open(g).await?;

    let opts = DirBackupOptions {
        backup: BackupOptions {
            parent: if args.force {
                ParentSelect::None
            } else {
                ParentSelect::Latest
            },
            ..BackupOptions::default()
        },
        checkpoint_every: (!checkpoint.is_zero()).then_some(checkpoint),
    };
    let progress = ItemProgress {
        progress: Progress::new("backup", !g.json && !g.quiet, None),
        report_failures: !g.quiet,
        verb: "backup",
    };
    let summary = tenantvault_repo::backup_dir(&repo, &args.path, &args.owner, opts, &progress)
        .await
        .with_context(|| {
            format!(
                "backup of {} failed; the repository is unchanged except for reusable data",
                args.path.display()
            )
        })?;
    let elapsed = progress.progress.elapsed();
    progress.progress.finish();
    let failures = if summary.stats.failures > 0 {
        repo.snapshot(&summary.id.0).await?.failures().to_vec()
    } else {
        Vec::new()
    };
    let s: SnapshotStats = summary.stats;
    let out = BackupJson {
        snapshot: summary.id.0.clone(),
        time: summary.time.to_rfc3339(),
        workload: DIR_WORKLOAD.to_owned(),
        owner: summary.owner.owner.clone(),
        parent: summary.parent.as_ref().map(|p| p.0.clone()),
        items: s.items,
        bytes: s.bytes,
        items_new: s.items_new,
        items_unchanged: s.items.saturating_sub(s.items_new),
        bytes_read: s.bytes_read,
        blobs_new: s.blobs_new,
        bytes_added: s.bytes_stored,
        failures,
        elapsed_secs: elapsed.as_secs_f64(),
    };
    crate::audit_note::set("backup", &out);
    if g.json {
        output::print_json(&out)?;
    } else if !g.quiet {
        println!(
            "snapshot {} of {}:{} saved{}",
            summary.id.short(),
            DIR_WORKLOAD,
            out.owner,
            out.parent
                .as_deref()
                .map(|p| format!(" (parent {})", &p[..p.len().min(8)]))
                .unwrap_or_default()
        );
        println!(
            "  {} items ({}), {} new or changed, {} unchanged",
            out.items,
            output::bytes(out.bytes),
            out.items_new,
            out.items_unchanged
        );
        println!(
            "  read {} in {} ({}), added {} to the repository in {} new blobs",
            output::bytes(out.bytes_read),
            output::secs(elapsed),
            output::rate(out.bytes_read, elapsed),
            output::bytes(out.bytes_added),
            out.blobs_new
        );
        if !out.failures.is_empty() {
            println!(
                "  {} item(s) FAILED (listed in the snapshot; `tenantvault snapshots` shows it):",
                out.failures.len()
            );
            for f in &out.failures {
                println!("    {}: {}", f.item_id, f.reason);
            }
        }
    }
    Ok(if out.failures.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}
