//! `erase --owner X --reason TEXT [--by NAME] [--workload W] [--dry-run]`: GDPR erasure by
//! crypto-shredding, with a report for the data-protection officer.

use std::collections::BTreeSet;

use anyhow::Result;
use clap::Args;
use serde::Serialize;
use tenantvault_repo::{
    EraseRequest, Erasure, ItemErasure, ItemQuery, ItemSelection, OwnerRef, SnapshotFilter,
};

use tenantvault_workloads::{detect, exchange::index};

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
    /// Erase only items whose subject (or name) contains all these words (repeatable).
    #[arg(long = "subject", value_name = "WORD")]
    pub subject: Vec<String>,
    /// Erase only items from this sender (address or name, substring).
    #[arg(long)]
    pub sender: Option<String>,
    /// Erase only items with this recipient (substring).
    #[arg(long)]
    pub recipient: Option<String>,
    /// Erase only items in this folder or below it.
    #[arg(long)]
    pub folder: Option<String>,
    /// Erase only items whose file name contains this text.
    #[arg(long = "file-name", value_name = "TEXT")]
    pub file_name: Option<String>,
    /// Erase only items dated (received, else modified) at or after this day / time.
    #[arg(long)]
    pub from: Option<String>,
    /// Erase only items dated at or before this day / time.
    #[arg(long)]
    pub to: Option<String>,
}

impl EraseArgs {
    /// The item selection, `None` when the whole owner is to be erased. Usage errors for
    /// empty values and impossible ranges.
    fn selection(&self) -> Result<Option<ItemSelection>> {
        let text = |v: &Option<String>, what: &str| -> Result<Option<String>> {
            match v {
                Some(x) if x.trim().is_empty() => {
                    Err(exit::usage(format!("{what} must not be empty")))
                }
                Some(x) => Ok(Some(x.trim().to_string())),
                None => Ok(None),
            }
        };
        if self.subject.iter().any(|w| w.trim().is_empty()) {
            return Err(exit::usage("--subject must not be empty"));
        }
        let sel = ItemSelection {
            query: ItemQuery {
                sender: text(&self.sender, "--sender")?,
                recipient: text(&self.recipient, "--recipient")?,
                subject_words: self.subject.iter().map(|w| w.trim().to_string()).collect(),
                folder: text(&self.folder, "--folder")?,
                file_name: text(&self.file_name, "--file-name")?,
            },
            from: self
                .from
                .as_deref()
                .map(|d| clock::parse_date(d, "--from", false))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|d| clock::parse_date(d, "--to", true))
                .transpose()?,
        };
        if let (Some(f), Some(t)) = (sel.from, sel.to)
            && f > t
        {
            return Err(exit::usage("--from is after --to: nothing would be erased"));
        }
        Ok((!sel.is_empty()).then_some(sel))
    }
}

#[derive(Serialize)]
struct Output<'a> {
    dry_run: bool,
    erasures: &'a [Erasure],
    /// The owners' detection records (statistics, alerts, recovery journals): found (dry
    /// run) or deleted.
    detection: &'a [Detection],
}

/// Detection records of one erased owner.
#[derive(Debug, Serialize)]
struct Detection {
    owner: String,
    /// Statistics documents (to be) deleted.
    stats: u64,
    /// Alert documents (an alert and its clearance count as two).
    alerts: u64,
    /// Ids of the alerts (to be) deleted.
    alert_ids: Vec<String>,
    /// Recovery journal entries.
    journals: u64,
    /// Documents Object Lock still retains (kept; a later `erase` of the owner deletes them).
    locked: Vec<Locked>,
}

#[derive(Debug, Serialize)]
struct Locked {
    key: String,
    until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Counts (dry run) or deletes the detection records of `owner`.
async fn detection_records(
    repo: &tenantvault_repo::Repository,
    owner: &OwnerRef,
    dry_run: bool,
) -> Result<Detection> {
    if dry_run {
        let d = detect::owner_documents(repo, owner).await?;
        let count = |k: &[String]| k.len() as u64;
        return Ok(Detection {
            owner: owner.to_string(),
            stats: count(&d.stats),
            alerts: count(&d.alerts),
            alert_ids: d
                .alerts
                .iter()
                .filter(|k| !k.ends_with(".cleared"))
                .map(|k| k[detect::ALERT_PREFIX.len()..].to_string())
                .collect(),
            journals: count(&d.journals),
            locked: Vec::new(),
        });
    }
    let f = detect::forget_owner(repo, owner).await?;
    Ok(Detection {
        owner: owner.to_string(),
        stats: f.stats,
        alerts: f.alerts,
        alert_ids: f.alert_ids,
        journals: f.journals,
        locked: f
            .locked
            .into_iter()
            .map(|(key, until)| Locked { key, until })
            .collect(),
    })
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
    let selection = a.selection()?;
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
    if let Some(sel) = &selection {
        return erase_items(g, &repo, &a, &owners_of(&workloads, &a.owner), sel, req).await;
    }
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
        // finish an earlier erasure: detection records it could not delete then (Object
        // Lock, or an interruption) go now
        if !a.dry_run {
            for w in &workloads {
                let o = OwnerRef::new(w.clone(), a.owner.clone());
                let d = detection_records(&repo, &o, false).await?;
                audit_note::owner(o.to_string());
                audit_note::set("detection_records_deleted", d.stats + d.alerts + d.journals);
                audit_note::set("detection_records_locked", d.locked.len());
            }
        }
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
        forget_find_indexes(
            &repo,
            reports
                .iter()
                .flat_map(|r| r.snapshots.iter().map(|s| s.0.as_str())),
        )
        .await;
    }
    // statistics, alerts and recovery journals are sealed under the repository key, not the
    // owner key: crypto-shredding does not reach them, so they are deleted
    let mut detection = Vec::new();
    for o in &owners {
        detection.push(detection_records(&repo, o, a.dry_run).await?);
    }
    audit_note::set(
        "detection_records_deleted",
        if a.dry_run {
            0
        } else {
            detection
                .iter()
                .map(|d| d.stats + d.alerts + d.journals)
                .sum::<u64>()
        },
    );
    audit_note::set(
        "alerts_deleted",
        detection
            .iter()
            .filter(|_| !a.dry_run)
            .flat_map(|d| d.alert_ids.iter())
            .collect::<Vec<_>>(),
    );
    audit_note::set(
        "detection_records_locked",
        detection.iter().map(|d| d.locked.len()).sum::<usize>(),
    );
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
            detection: &detection,
        })?;
    } else {
        for (r, d) in reports.iter().zip(&detection) {
            print_report(r, d, a.dry_run);
        }
    }
    Ok(exit::OK)
}

fn print_report(r: &Erasure, d: &Detection, dry_run: bool) {
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
        "  detection:       {} change-statistics record(s), {} alert(s){}, {} recovery-journal entr{} {}",
        d.stats,
        d.alert_ids.len(),
        if d.alert_ids.is_empty() {
            String::new()
        } else {
            format!(" ({})", d.alert_ids.join(", "))
        },
        d.journals,
        if d.journals == 1 { "y" } else { "ies" },
        if dry_run { "to delete" } else { "deleted" }
    );
    for l in &d.locked {
        println!(
            "                   kept under Object Lock{}: {} (run erase again after that date)",
            l.until
                .map(|u| format!(" until {}", u.format("%Y-%m-%d")))
                .unwrap_or_else(|| " (legal-hold flag)".into()),
            l.key
        );
    }
    println!(
        "  method:          crypto-shredding: the owner key was destroyed; the content cannot be decrypted by anyone"
    );
    println!();
}

/// The local Exchange find indexes hold subjects and addresses in clear: those of `erased`
/// snapshots go now, with those of snapshots the repository no longer has.
async fn forget_find_indexes<'a>(
    repo: &tenantvault_repo::Repository,
    erased: impl IntoIterator<Item = &'a str>,
) {
    let removed = index::forget(&repo.info().cache_path, erased) + index::prune(repo).await;
    audit_note::set("find_indexes_removed", removed);
}

fn owners_of(workloads: &BTreeSet<String>, owner: &str) -> Vec<OwnerRef> {
    workloads
        .iter()
        .map(|w| OwnerRef::new(w.clone(), owner.to_string()))
        .collect()
}

#[derive(Serialize)]
struct ItemsOutput<'a> {
    dry_run: bool,
    item_erasures: &'a [ItemErasure],
}

/// `erase --owner X` with an item selection: every workload of the owner is planned (holds,
/// matches) before any snapshot is rewritten.
async fn erase_items(
    g: &GlobalArgs,
    repo: &tenantvault_repo::Repository,
    a: &EraseArgs,
    owners: &[OwnerRef],
    sel: &ItemSelection,
    req: EraseRequest,
) -> Result<u8> {
    let mut plans = Vec::new();
    for o in owners {
        audit_note::owner(o.to_string());
        match repo.erase_items(o, sel, &req).await {
            Ok(p) => plans.push((o.clone(), p)),
            // nothing selected in this workload (another may have matches)
            Err(tenantvault_repo::Error::NotFound(_)) if owners.len() > 1 => {}
            Err(e) => return Err(e.into()),
        }
    }
    if plans.is_empty() {
        return Err(exit::not_found(format!(
            "no item of {:?} matches the selection",
            a.owner
        )));
    }
    let mut reports: Vec<ItemErasure> = plans.iter().map(|(_, p)| p.clone()).collect();
    if !a.dry_run {
        let real = EraseRequest {
            dry_run: false,
            ..req.clone()
        };
        reports.clear();
        for (o, _) in &plans {
            reports.push(repo.erase_items(o, sel, &real).await?);
        }
        // the replaced snapshots' indexes still name the erased items
        forget_find_indexes(
            repo,
            reports
                .iter()
                .flat_map(|r| r.snapshots.iter().map(|s| s.old.0.as_str())),
        )
        .await;
    }
    audit_note::set("dry_run", a.dry_run);
    audit_note::set("reason", &req.reason);
    audit_note::set("by", &req.by);
    audit_note::set("selection", sel);
    audit_note::set(
        "items",
        reports.iter().map(|r| r.items.len()).sum::<usize>(),
    );
    audit_note::set(
        "snapshots_rewritten",
        reports.iter().map(|r| r.snapshots.len()).sum::<usize>(),
    );
    if g.json {
        output::print_json(&ItemsOutput {
            dry_run: a.dry_run,
            item_erasures: &reports,
        })?;
        return Ok(exit::OK);
    }
    for r in &reports {
        println!(
            "{}",
            if a.dry_run {
                "ITEM ERASURE PREVIEW (dry run: nothing was erased)"
            } else {
                "ITEM ERASURE REPORT (GDPR Art. 17)"
            }
        );
        println!("  owner:           {}", r.owner);
        println!(
            "  erased on:       {}",
            r.erased_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
        println!("  requested by:    {}", r.by);
        println!("  reason:          {}", r.reason);
        println!(
            "  items:           {} (ids recorded, no names)",
            r.items.len()
        );
        for s in &r.snapshots {
            match &s.new {
                Some(n) => println!(
                    "  snapshot {} → {} ({} item(s) removed)",
                    s.old.short(),
                    n.short(),
                    s.removed
                ),
                None => println!(
                    "  snapshot {} ({} item(s) to remove)",
                    s.old.short(),
                    s.removed
                ),
            }
        }
        for h in &r.holds_checked {
            println!(
                "  hold {} ({}): {}, {}",
                h.case,
                h.id,
                if h.active { "active" } else { "released" },
                if h.covers {
                    "covered these items"
                } else {
                    "does not cover these items"
                }
            );
        }
        println!(
            "  method:          the restore points were rewritten without the items; gc removes their data"
        );
        println!();
    }
    Ok(exit::OK)
}
