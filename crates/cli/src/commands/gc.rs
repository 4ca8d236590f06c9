//! `gc [--grace DURATION] [--dry-run]`.

use anyhow::{Context, Result};
use clap::Args;
use tenantvault_repo::GcOptions;

use crate::snapshot_ref::parse_duration;
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Args)]
pub struct GcArgs {
    /// How long unreferenced packs stay marked before a later gc deletes them. It must exceed
    /// the longest time a backup can run without refreshing its session marker; `0s` is for a
    /// single administrator (or tests). Default: the library's (24h).
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,
    /// Report what would be marked and deleted; write and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub async fn run(g: &GlobalArgs, args: GcArgs) -> Result<u8> {
    let mut opts = GcOptions {
        dry_run: args.dry_run,
        ..GcOptions::default()
    };
    if let Some(grace) = &args.grace {
        opts.grace = parse_duration(grace)?;
    }
    let repo = context::open(g).await?;
    let report = repo
        .gc(opts)
        .await
        .context("gc failed (nothing was deleted that is still referenced)")?;
    crate::audit_note::set("gc", &report);
    if g.json {
        output::print_json(&report)?;
    } else {
        let prefix = if args.dry_run {
            "dry run: would have "
        } else {
            ""
        };
        println!(
            "{prefix}marked {} unreferenced pack(s); swept {} candidate list(s) ({} waiting for the grace period, {} postponed by running backups)",
            report.packs_marked, report.lists_swept, report.lists_waiting, report.lists_postponed
        );
        println!(
            "{prefix}deleted {} pack(s), freed {}; {} pack(s) rescued (referenced again); {} stale session marker(s) removed",
            report.packs_deleted,
            output::bytes(report.bytes_freed),
            report.packs_rescued,
            report.stale_markers_removed
        );
    }
    Ok(exit::OK)
}
