//! `erase --owner X --reason TEXT [--by NAME] [--workload W] [--dry-run]`: GDPR erasure by
//! crypto-shredding, with a report for the data-protection officer.

use std::collections::BTreeSet;

use anyhow::Result;
use clap::Args;
use serde::Serialize;
use tenantvault_repo::{EraseRequest, Erasure, OwnerRef, SnapshotFilter};

use crate::{GlobalArgs, audit_note, clock, context, exit, output};

#[derive(Debug, Args)]
pub struct EraseArgs {
    /// The owner whose data to erase (mailbox / drive owner, as in `snapshots`).
    #[arg(long)]
    pub owner: String,
    /// Only this workload of the owner (default: every workload that holds the owner's data).
    #[arg(long)]
    pub workload: Option<String>,
    /// Why (the request or legal basis, e.g. "Art. 17 request #2026-114").
    #[arg(long)]
    pub reason: String,
    /// Who is answerable for the request (default: the user running the command).
    #[arg(long)]
    pub by: Option<String>,
    /// Show the report without erasing anything.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Serialize)]
struct Output<'a> {
    dry_run: bool,
    erasures: &'a [Erasure],
}

pub async fn run(g: &GlobalArgs, a: EraseArgs) -> Result<u8> {
    if a.owner.trim().is_empty() {
        return Err(exit::usage("--owner must name an owner"));
    }
    if a.reason.trim().is_empty() {
        return Err(exit::usage("--reason must say why the data is erased"));
    }
    if a.by.as_deref().is_some_and(|b| b.trim().is_empty()) {
        return Err(exit::usage("--by must name who requests the erasure"));
    }
    let now = clock::now()?;
    let repo = context::open(g).await?;
    let workloads: BTreeSet<String> = match &a.workload {
        Some(w) => BTreeSet::from([w.clone()]),
        None => repo
            .list_snapshots(SnapshotFilter {
                owner: Some(a.owner.clone()),
                include_partial: true,
                ..Default::default()
            })
            .await?
            .into_iter()
            .map(|s| s.owner.workload)
            .collect(),
    };
    if workloads.is_empty() {
        // already erased (under any workload)? say so; else nothing to erase
        if let Some(e) = repo
            .erasures()
            .await?
            .into_iter()
            .find(|e| e.owner.owner == a.owner)
        {
            return Err(e.to_error().into());
        }
        return Err(exit::not_found(format!(
            "owner {:?}: no data of it in this repository",
            a.owner
        )));
    }
    let req = EraseRequest {
        reason: a.reason.trim().to_string(),
        by: a.by.clone().unwrap_or_else(audit_note::actor),
        now,
        dry_run: true,
    };
    // owners erased earlier keep their snapshot heads: skip them unless nothing else is left
    let mut owners: Vec<OwnerRef> = Vec::new();
    let mut done = None;
    for w in &workloads {
        let o = OwnerRef::new(w.clone(), a.owner.clone());
        match repo.erasure_of(&o).await? {
            Some(e) => done = done.or(Some(e)),
            None => owners.push(o),
        }
    }
    if owners.is_empty()
        && let Some(e) = done
    {
        return Err(e.to_error().into());
    }
    // every workload is checked (holds, existence) before anything is erased
    let mut reports = Vec::new();
    for o in &owners {
        audit_note::owner(o.to_string());
        reports.push(repo.erase_owner(o, &req).await?);
    }
    if !a.dry_run {
        let req = EraseRequest {
            dry_run: false,
            ..req.clone()
        };
        reports.clear();
        for o in &owners {
            reports.push(repo.erase_owner(o, &req).await?);
        }
    }
    audit_note::set("dry_run", a.dry_run);
    audit_note::set("reason", &req.reason);
    audit_note::set("by", &req.by);
    audit_note::set(
        "snapshots",
        reports.iter().map(|r| r.snapshots.len()).sum::<usize>(),
    );
    audit_note::set("items", reports.iter().map(|r| r.items).sum::<u64>());
    audit_note::set(
        "bytes_reclaimable",
        reports.iter().map(|r| r.bytes_reclaimable).sum::<u64>(),
    );
    if g.json {
        output::print_json(&Output {
            dry_run: a.dry_run,
            erasures: &reports,
        })?;
    } else {
        for r in &reports {
            print_report(r, a.dry_run);
        }
    }
    Ok(exit::OK)
}

fn print_report(r: &Erasure, dry_run: bool) {
    let title = if dry_run {
        "ERASURE PREVIEW (dry run: nothing was erased)"
    } else {
        "ERASURE REPORT (GDPR Art. 17)"
    };
    println!("{title}");
    println!("  owner:           {}", r.owner);
    println!(
        "  erased on:       {}",
        r.erased_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!("  requested by:    {}", r.by);
    println!("  reason:          {}", r.reason);
    println!("  what:            {}", r.scope);
    println!("  snapshots:       {}", r.snapshots.len());
    for s in &r.snapshots {
        println!("                   {s}");
    }
    println!("  items:           {}", r.items);
    println!(
        "  unreadable now:  {} blob(s), {} stored, referenced by this owner only",
        r.blobs_unique,
        output::bytes(r.bytes_unique)
    );
    println!(
        "  shared:          {} blob(s) also referenced by other owners stay readable for them only",
        r.blobs_shared
    );
    println!(
        "  reclaimable:     {} pack(s), {} — removed by `tenantvault gc` after its grace period",
        r.packs_reclaimable,
        output::bytes(r.bytes_reclaimable)
    );
    if r.holds_checked.is_empty() {
        println!("  holds checked:   none exist");
    } else {
        println!("  holds checked:");
        for h in &r.holds_checked {
            println!(
                "                   {} (hold {}): {}, {}",
                h.case,
                h.id,
                if h.active { "active" } else { "released" },
                if h.covers {
                    "covered this data"
                } else {
                    "does not cover this data"
                }
            );
        }
    }
    println!(
        "  method:          crypto-shredding: the owner key was destroyed; the content cannot be decrypted by anyone"
    );
    println!();
}
