//! `check [--read-data]`: exit 5 when anything is damaged, naming objects and affected items.

use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use tenantvault_repo::{CheckOptions, CheckReport, Repository};

use super::item_path;
use crate::progress::Progress;
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Also read every pack and decrypt and verify every referenced blob.
    #[arg(long)]
    pub read_data: bool,
}

pub async fn run(g: &GlobalArgs, args: CheckArgs) -> Result<u8> {
    let repo = context::open(g).await?;
    let what = if args.read_data {
        "checking structure and reading all data"
    } else {
        "checking structure"
    };
    let progress = Progress::spinner(what, !g.json && !g.quiet);
    let report = repo
        .check(CheckOptions {
            read_data: args.read_data,
        })
        .await
        .context("check could not complete")?;
    progress.finish();
    let paths = affected_paths(&repo, &report).await;
    let code = if report.is_clean() {
        exit::OK
    } else {
        exit::DAMAGE
    };
    if g.json {
        let mut value = serde_json::to_value(&report)?;
        // item paths beside ids, for people and scripts that know files by path
        if let Some(items) = value
            .get_mut("affected_items")
            .and_then(|v| v.as_array_mut())
        {
            for (item, path) in items.iter_mut().zip(&paths) {
                item["path"] = json!(path);
            }
        }
        value["clean"] = json!(report.is_clean());
        output::print_json(&value)?;
        return Ok(code);
    }
    let what = if args.read_data {
        "structure and data"
    } else {
        "structure"
    };
    println!(
        "checked {what}: {} snapshots, {} items, {} packs, {} blobs verified, {} read",
        report.snapshots,
        report.items,
        report.packs,
        report.blobs_verified,
        output::bytes(report.bytes_read)
    );
    if report.unindexed_packs > 0 {
        println!(
            "{} pack(s) without index (left by an interrupted backup; harmless, gc removes them)",
            report.unindexed_packs
        );
    }
    if report.is_clean() {
        println!("no damage found");
        return Ok(code);
    }
    if !report.tampered.is_empty() {
        println!(
            "TAMPERED: {} object(s) were overwritten after they were written; \
             their original (locked) versions were read and verified instead:",
            report.tampered.len()
        );
        for k in &report.tampered {
            println!("  {k}");
        }
    }
    println!("DAMAGE: {} object(s)", report.damaged.len());
    for d in &report.damaged {
        println!("  {}: {}", d.object, d.detail);
    }
    if !report.affected_snapshots.is_empty() {
        println!("affected snapshots:");
        for s in &report.affected_snapshots {
            println!("  {s}");
        }
    }
    if !report.affected_items.is_empty() {
        println!("affected items ({}):", report.affected_items.len());
        for (a, path) in report.affected_items.iter().zip(&paths) {
            println!(
                "  snapshot {} {} item {} (via {})",
                a.snapshot.short(),
                a.owner,
                path,
                a.object
            );
        }
    }
    Ok(code)
}

/// The display path of each affected item (its id when the snapshot cannot be read).
async fn affected_paths(repo: &Repository, report: &CheckReport) -> Vec<String> {
    let mut out = Vec::with_capacity(report.affected_items.len());
    let mut current: Option<(String, tenantvault_repo::Snapshot)> = None;
    for a in &report.affected_items {
        if current.as_ref().is_none_or(|(id, _)| *id != a.snapshot.0) {
            current = repo
                .snapshot(&a.snapshot.0)
                .await
                .ok()
                .map(|s| (a.snapshot.0.clone(), s));
        }
        let path = match &current {
            Some((_, snap)) => match snap.item(&a.item_id).await {
                Ok(Some(item)) => item_path(&item),
                _ => a.item_id.clone(),
            },
            None => a.item_id.clone(),
        };
        out.push(path);
    }
    out
}
