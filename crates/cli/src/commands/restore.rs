//! `restore SNAPSHOT [PATH] --target DIR`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use tenantvault_repo::RestoreOptions;

use super::SnapshotSelect;
use crate::progress::{ItemProgress, Progress};
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// `restore onedrive|sharepoint …`: restore through Graph instead of into a directory.
    #[command(subcommand)]
    pub drive: Option<crate::exchange_restore::RestoreCommand>,
    #[command(flatten)]
    pub select: Option<SnapshotSelect>,
    /// Only the item at this path and the items under it.
    pub path: Option<String>,
    /// Directory to restore into (created if missing). Paths never escape it.
    #[arg(long, value_name = "DIR", required = true)]
    pub target: Option<PathBuf>,
    /// Replace files that already exist in the target (default: they are reported as failures).
    #[arg(long)]
    pub overwrite: bool,
}

pub async fn run(g: &GlobalArgs, args: RestoreArgs) -> Result<u8> {
    if let Some(cmd) = args.drive {
        return crate::exchange_restore::restore(g, cmd).await;
    }
    // `Option` so that `restore <workload>` parses without a SNAPSHOT (clap would else fail
    // converting the missing required positional even though the subcommand negates it).
    let select = args
        .select
        .ok_or_else(|| exit::usage("give a SNAPSHOT (or a workload subcommand)"))?;
    select.validate()?;
    let target = args
        .target
        .clone()
        .ok_or_else(|| exit::usage("--target DIR is required"))?;
    if let Some(p) = &args.path
        && p.split('/').any(|c| c == "..")
    {
        return Err(exit::usage(format!("path {p:?} must not contain `..`")));
    }
    let repo = context::open(g).await?;
    let snap = select.open(&repo).await?;
    let total = args.path.is_none().then_some(snap.summary().stats.bytes);
    let progress = ItemProgress {
        progress: Progress::new("restore", !g.json && !g.quiet, total),
        report_failures: !g.quiet,
        verb: "restore",
    };
    let report = tenantvault_repo::restore_items(
        &repo,
        &snap,
        args.path.as_deref(),
        &target,
        RestoreOptions {
            overwrite: args.overwrite,
        },
        &progress,
    )
    .await
    .with_context(|| {
        format!(
            "restore of snapshot {} into {} failed",
            snap.id().short(),
            target.display()
        )
    })?;
    let elapsed = progress.progress.elapsed();
    progress.progress.finish();
    crate::audit_note::set(
        "restored",
        json!({"snapshot": snap.id().0, "target": target, "items": report.items, "bytes": report.bytes, "failed": report.failed.len()}),
    );
    if report.items == 0
        && report.failed.is_empty()
        && let Some(p) = &args.path
    {
        {
            return Err(exit::not_found(format!(
                "no item at or under {p:?} in snapshot {}",
                snap.id().short()
            )));
        }
    }
    if g.json {
        output::print_json(&json!({
            "snapshot": snap.id().0,
            "target": target,
            "items": report.items,
            "bytes": report.bytes,
            "failed": report.failed.iter().map(|(id, reason)| json!({"item_id": id, "reason": reason})).collect::<Vec<_>>(),
            "elapsed_secs": elapsed.as_secs_f64(),
        }))?;
    } else if !g.quiet {
        println!(
            "restored {} items ({}) from snapshot {} into {} in {} ({})",
            report.items,
            output::bytes(report.bytes),
            snap.id().short(),
            target.display(),
            output::secs(elapsed),
            output::rate(report.bytes, elapsed)
        );
    }
    if report.failed.is_empty() {
        return Ok(exit::OK);
    }
    // failures always go to stderr, even with --json/--quiet: a partial restore must be noticed
    eprintln!(
        "error: {} item(s) could not be restored:",
        report.failed.len()
    );
    for (id, reason) in &report.failed {
        eprintln!("  {id}: {reason}");
    }
    Ok(exit::PARTIAL)
}
