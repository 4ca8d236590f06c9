//! `audit show | verify`: read and verify the tamper-evident audit log.

use anyhow::Result;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use tenantvault_repo::{AuditEntry, AuditFilter, AuditHead, AuditVerifyReport};

use crate::{GlobalArgs, clock, context, exit, output};

/// `tenantvault audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Show audit records (text, or JSON lines with --json for SIEM export).
    Show(ShowArgs),
    /// Verify the hash chain and its signed checkpoints; says where it was tampered with.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Records at or after this time: a date (2026-03-01), an RFC 3339 time, or an age (7d, 12h).
    #[arg(long)]
    pub since: Option<String>,
    /// Records at or before this time (a date means the end of that day).
    #[arg(long)]
    pub until: Option<String>,
    /// Only this operation (`backup` matches `backup exchange` too).
    #[arg(long)]
    pub operation: Option<String>,
    /// Only records naming this owner.
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A head recorded elsewhere (SEQ:HASH as printed by an earlier verify): the log must
    /// still contain exactly that record, which catches a tail removed with its checkpoints.
    #[arg(long, value_name = "SEQ:HASH")]
    pub expect_head: Option<String>,
}

pub async fn run(g: &GlobalArgs, cmd: AuditCommand) -> Result<u8> {
    match cmd {
        AuditCommand::Show(a) => show(g, a).await,
        AuditCommand::Verify(a) => verify(g, a).await,
    }
}

/// A time bound: a day, an RFC 3339 time, or an age before now.
fn bound(arg: &str, what: &str, end_of_day: bool, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if let Ok(age) = humantime::parse_duration(arg.trim()) {
        let age = chrono::Duration::from_std(age)
            .map_err(|_| exit::usage(format!("{what} {arg:?}: too long ago")))?;
        return Ok(now - age);
    }
    clock::parse_date(arg, what, end_of_day).map_err(|_| {
        exit::usage(format!(
            "{what} {arg:?}: expected a date (2026-03-01), an RFC 3339 time or an age (7d)"
        ))
    })
}

async fn show(g: &GlobalArgs, a: ShowArgs) -> Result<u8> {
    let now = clock::now()?;
    let filter = AuditFilter {
        since: a
            .since
            .as_deref()
            .map(|s| bound(s, "--since", false, now))
            .transpose()?,
        until: a
            .until
            .as_deref()
            .map(|s| bound(s, "--until", true, now))
            .transpose()?,
        operation: a.operation.clone(),
        owner: a.owner.clone(),
    };
    if let (Some(s), Some(u)) = (filter.since, filter.until)
        && s > u
    {
        return Err(exit::usage("--since is after --until"));
    }
    let repo = context::open(g).await?;
    let (entries, unreadable) = repo.audit_records(&filter).await?;
    for e in &entries {
        if g.json {
            println!("{}", serde_json::to_string(e)?);
        } else {
            println!("{}", line(e));
        }
    }
    crate::audit_note::set("records_shown", entries.len());
    if unreadable > 0 {
        eprintln!(
            "warning: {unreadable} audit record(s) could not be read (altered or forged); run `tenantvault audit verify`"
        );
        return Ok(exit::DAMAGE);
    }
    Ok(exit::OK)
}

fn line(e: &AuditEntry) -> String {
    let r = &e.record;
    let owners = if r.owners.is_empty() {
        String::new()
    } else {
        format!(" owners={}", r.owners.join(","))
    };
    let details = match &r.details {
        serde_json::Value::Null => String::new(),
        d => format!(" {d}"),
    };
    format!(
        "#{:<6} {} {:<8} {:<20} {}{owners}{details}",
        e.seq,
        r.time.format("%Y-%m-%d %H:%M:%S"),
        r.outcome,
        r.operation,
        r.actor
    )
}

async fn verify(g: &GlobalArgs, a: VerifyArgs) -> Result<u8> {
    let expect: Option<AuditHead> = a
        .expect_head
        .as_deref()
        .map(|s| {
            s.parse()
                .map_err(|e| exit::usage(format!("--expect-head: {e}")))
        })
        .transpose()?;
    let repo = context::open(g).await?;
    let rep = repo.audit_verify(expect.as_ref()).await?;
    crate::audit_note::set("records", rep.records);
    crate::audit_note::set("problems", rep.problems.len());
    if g.json {
        output::print_json(&rep)?;
    } else {
        print_report(&rep);
    }
    Ok(if rep.ok() { exit::OK } else { exit::DAMAGE })
}

fn print_report(rep: &AuditVerifyReport) {
    println!(
        "audit log: {} record(s), {} checkpoint(s)",
        rep.records, rep.checkpoints
    );
    match &rep.head {
        Some(h) => println!("head: {h}"),
        None => println!("head: (empty log)"),
    }
    match rep.last_checkpoint {
        Some(c) => println!(
            "last valid checkpoint: record {c} ({} record(s) after it)",
            rep.unsealed_tail
        ),
        None => println!("last valid checkpoint: none"),
    }
    if let Some(w) = &rep.witness {
        println!("this machine last saw: record {}", w.seq);
    }
    if rep.ok() {
        println!("ok: no record altered, removed, inserted or reordered");
    } else {
        println!("TAMPERING DETECTED: {} problem(s)", rep.problems.len());
        for p in &rep.problems {
            let kind = serde_json::to_value(p.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            match p.seq {
                Some(s) => println!("  record {s} ({}): {kind}: {}", p.key, p.detail),
                None => println!("  {}: {kind}: {}", p.key, p.detail),
            }
        }
    }
}
