//! `maintain locks | incomplete`: storage upkeep for Object Lock repositories (admin).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use tenantvault_repo::LegalHoldReport;

use crate::commands::policy::RetentionSection;
use crate::{GlobalArgs, clock, context, exit, output};

#[derive(Debug, Subcommand)]
pub enum MaintainCommand {
    /// Extend the Object Lock of every object still referenced before it lapses
    /// (unreferenced packs are left to expire, then gc deletes them), and set the S3
    /// legal-hold flag on objects holding held data (clear it after `hold release`).
    /// With `[retention]` policies in the configuration, snapshots they remove are not
    /// extended, so `retention apply` can delete them once their lock runs out. Run it daily.
    Locks(LocksArgs),
    /// Remove leftovers of interrupted writes: unfinished multipart uploads (S3) or
    /// temporary files (local) older than --older-than.
    Incomplete(IncompleteArgs),
}

#[derive(Debug, Args)]
pub struct LocksArgs {
    /// Extend locks that end within this time (default 7 days; keep it well above the
    /// interval between two runs).
    #[arg(long, value_name = "DURATION", default_value = "7d")]
    pub renew_below: String,
    /// Show what would be extended; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct IncompleteArgs {
    /// Only leftovers older than this (default 24h: a running backup's upload is younger).
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub older_than: String,
}

fn duration(arg: &str, what: &str) -> Result<chrono::Duration> {
    let d =
        humantime::parse_duration(arg).map_err(|e| exit::usage(format!("{what} {arg:?}: {e}")))?;
    chrono::Duration::from_std(d).map_err(|_| exit::usage(format!("{what} {arg:?} is too long")))
}

pub async fn run(g: &GlobalArgs, cmd: MaintainCommand) -> Result<u8> {
    match cmd {
        MaintainCommand::Locks(args) => locks(g, args).await,
        MaintainCommand::Incomplete(args) => incomplete(g, args).await,
    }
}

async fn locks(g: &GlobalArgs, args: LocksArgs) -> Result<u8> {
    let renew = duration(&args.renew_below, "--renew-below")?;
    let now = clock::now()?;
    let repo = context::open(g).await?;
    if repo.storage().lock_capabilities().policy.is_none() {
        return Err(exit::usage(
            "this repository has no Object Lock policy (create it with `repo init --object-lock`)",
        ));
    }
    // With retention policies configured, what they remove is left to expire instead of
    // being renewed for ever (Repository::maintain_locks_for).
    let section = RetentionSection::load(g)?;
    let report = if section.policies.is_empty() {
        repo.maintain_locks(now, renew, args.dry_run).await
    } else {
        let set = section.resolve(g).await?;
        repo.maintain_locks_for(now, renew, args.dry_run, &set)
            .await
    }
    .context("lock maintenance failed")?;
    if g.json {
        output::print_json(&report)?;
    } else if !g.quiet {
        println!(
            "{} referenced object(s) checked: {} lock(s) {}, {} still locked long enough; {} unreferenced pack(s) left to expire",
            report.checked,
            report.extended,
            if args.dry_run {
                "would be extended"
            } else {
                "extended"
            },
            report.still_locked,
            report.unreferenced
        );
        if !report.expiring.is_empty() {
            println!(
                "{} snapshot(s) the retention policies remove: locks left to run out, then `retention apply` deletes them",
                report.expiring.len()
            );
        }
        print_legal_hold(&report.legal_hold, args.dry_run);
        for f in report.failed.iter().chain(&report.legal_hold.failed) {
            println!("  FAILED {f}");
        }
    }
    crate::audit_note::set("legal_hold", legal_hold_note(&report.legal_hold));
    Ok(
        if report.failed.is_empty() && report.legal_hold.failed.is_empty() {
            exit::OK
        } else {
            exit::ERROR
        },
    )
}

/// Keys named in an audit record at most (the counts are always complete).
const AUDIT_KEYS: usize = 200;

/// The audit detail of a legal-hold flag change: counts and the keys (capped).
pub(crate) fn legal_hold_note(r: &LegalHoldReport) -> serde_json::Value {
    let cap = |v: &[String]| v.iter().take(AUDIT_KEYS).cloned().collect::<Vec<_>>();
    json!({
        "supported": r.supported,
        "held": r.held,
        "set": r.set.len(),
        "cleared": r.cleared.len(),
        "failed": r.failed.len(),
        "skipped": r.skipped,
        "set_keys": cap(&r.set),
        "cleared_keys": cap(&r.cleared),
    })
}

/// One line (or two) on the legal-hold flags, for people.
pub(crate) fn print_legal_hold(r: &LegalHoldReport, dry_run: bool) {
    if !r.supported {
        println!(
            "legal-hold flags: this storage has none (holds are kept by the repository alone)"
        );
        return;
    }
    let verb = if dry_run { "would be " } else { "" };
    println!(
        "legal-hold flags: {} object(s) hold held data; {} flag(s) {verb}set, {} {verb}cleared, {} already right",
        r.held,
        r.set.len(),
        r.cleared.len(),
        r.unchanged
    );
    if r.skipped > 0 {
        println!(
            "  {} change(s) not attempted: the storage refused permission (run as the admin)",
            r.skipped
        );
    }
    if r.unlocated > 0 {
        println!(
            "  {} held blob(s) are not in the index (run `check`)",
            r.unlocated
        );
    }
}

async fn incomplete(g: &GlobalArgs, args: IncompleteArgs) -> Result<u8> {
    let age = duration(&args.older_than, "--older-than")?;
    let now = clock::now()?;
    let (storage, exists) = context::open_storage(g).await?;
    if !exists {
        return Err(exit::not_found("no repository at this location"));
    }
    let removed = storage
        .clean_incomplete(now - age)
        .await
        .context("cannot clean interrupted uploads")?;
    if g.json {
        output::print_json(&json!({ "removed": removed }))?;
    } else if !g.quiet {
        println!("removed {removed} interrupted upload(s)");
    }
    Ok(exit::OK)
}
