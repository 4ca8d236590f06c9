//! `hold create|list|show|release`: legal holds (they override retention, GC and erasure).

use anyhow::Result;
use clap::{Args, Subcommand};
use tenantvault_repo::{Hold, HoldScope, ItemQuery, NewHold, SnapshotId};

use crate::clock::{now, parse_date};
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Create a hold on owners, a date range and/or items matching a metadata query.
    Create(Box<CreateArgs>),
    /// List holds (active and released).
    List(ListArgs),
    /// Show one hold.
    Show(IdArgs),
    /// Release a hold (the hold stays on record with its release).
    Release(ReleaseArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Case or matter id.
    #[arg(long)]
    pub case: String,
    /// Why the data is held.
    #[arg(long)]
    pub reason: String,
    /// Owner to hold (as `snapshots` shows it); repeatable; none = all owners.
    #[arg(long = "owner", value_name = "OWNER")]
    pub owners: Vec<String>,
    /// Only this snapshot (id or unique prefix); repeatable.
    #[arg(long = "snapshot", value_name = "SNAPSHOT")]
    pub snapshots: Vec<String>,
    /// Items dated on or after this day (2024-03-01 or RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Items dated on or before this day.
    #[arg(long)]
    pub to: Option<String>,
    /// Items whose sender contains this text.
    #[arg(long)]
    pub sender: Option<String>,
    /// Items with a recipient containing this text.
    #[arg(long)]
    pub recipient: Option<String>,
    /// A word the subject must contain; repeatable (all must occur).
    #[arg(long = "subject", value_name = "WORD")]
    pub subject: Vec<String>,
    /// Items in this folder or below.
    #[arg(long)]
    pub folder: Option<String>,
    /// Items whose (file) name contains this text.
    #[arg(long = "file-name", value_name = "TEXT")]
    pub file_name: Option<String>,
    /// Who creates the hold (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only holds that are not released.
    #[arg(long)]
    pub active: bool,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    /// Hold id or unique prefix (≥ 4 hex characters).
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ReleaseArgs {
    /// Hold id or unique prefix.
    pub id: String,
    /// Why the hold ends.
    #[arg(long)]
    pub reason: String,
    /// Who releases it (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
}

fn who(by: &Option<String>) -> String {
    by.clone()
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn nonempty(v: &Option<String>, flag: &str) -> Result<Option<String>> {
    match v {
        Some(s) if s.trim().is_empty() => Err(exit::usage(format!("{flag} must not be empty"))),
        Some(s) => Ok(Some(s.trim().to_string())),
        None => Ok(None),
    }
}

fn check_id(id: &str) -> Result<()> {
    if id.len() < 4 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(exit::usage(format!(
            "hold id {id:?}: need at least 4 hex characters"
        )));
    }
    Ok(())
}

impl CreateArgs {
    /// Everything checked before the repository is opened.
    fn to_new(&self) -> Result<NewHold> {
        if self.case.trim().is_empty() {
            return Err(exit::usage("--case must not be empty"));
        }
        if self.reason.trim().is_empty() {
            return Err(exit::usage("--reason must not be empty"));
        }
        let from = self
            .from
            .as_deref()
            .map(|d| parse_date(d, "--from", false))
            .transpose()?;
        let to = self
            .to
            .as_deref()
            .map(|d| parse_date(d, "--to", true))
            .transpose()?;
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            return Err(exit::usage(
                "--from is after --to: the hold would cover nothing",
            ));
        }
        if self.owners.iter().any(|o| o.trim().is_empty()) {
            return Err(exit::usage("--owner must not be empty"));
        }
        if self.subject.iter().any(|w| w.trim().is_empty()) {
            return Err(exit::usage("--subject must not be empty"));
        }
        for s in &self.snapshots {
            if s.len() < 4 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(exit::usage(format!(
                    "--snapshot {s:?}: need at least 4 hex characters"
                )));
            }
        }
        let query = ItemQuery {
            sender: nonempty(&self.sender, "--sender")?,
            recipient: nonempty(&self.recipient, "--recipient")?,
            subject_words: self.subject.iter().map(|w| w.trim().to_string()).collect(),
            folder: nonempty(&self.folder, "--folder")?,
            file_name: nonempty(&self.file_name, "--file-name")?,
        };
        Ok(NewHold {
            case: self.case.trim().into(),
            reason: self.reason.trim().into(),
            created_by: who(&self.by),
            scope: HoldScope {
                owners: self.owners.iter().map(|o| o.trim().to_string()).collect(),
                snapshots: self
                    .snapshots
                    .iter()
                    .map(|s| SnapshotId(s.clone()))
                    .collect(),
                from,
                to,
                query: (!query.is_empty()).then_some(query),
            },
        })
    }
}

fn describe_scope(s: &HoldScope) -> String {
    let mut parts = Vec::new();
    parts.push(if s.owners.is_empty() {
        "all owners".to_string()
    } else {
        format!("owners {}", s.owners.join(", "))
    });
    if !s.snapshots.is_empty() {
        parts.push(format!(
            "snapshots {}",
            s.snapshots
                .iter()
                .map(|i| i.short().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(f) = s.from {
        parts.push(format!("from {}", f.format("%Y-%m-%d %H:%M")));
    }
    if let Some(t) = s.to {
        parts.push(format!("to {}", t.format("%Y-%m-%d %H:%M")));
    }
    if let Some(q) = &s.query {
        if let Some(v) = &q.sender {
            parts.push(format!("sender ~ {v:?}"));
        }
        if let Some(v) = &q.recipient {
            parts.push(format!("recipient ~ {v:?}"));
        }
        if !q.subject_words.is_empty() {
            parts.push(format!("subject has {}", q.subject_words.join(" ")));
        }
        if let Some(v) = &q.folder {
            parts.push(format!("folder {v}"));
        }
        if let Some(v) = &q.file_name {
            parts.push(format!("name ~ {v:?}"));
        }
    }
    parts.join("; ")
}

fn print_hold(h: &Hold, long: bool) {
    let state = match &h.released {
        None => "ACTIVE".to_string(),
        Some(r) => format!("released {}", r.at.format("%Y-%m-%d")),
    };
    println!(
        "{}  {:<10}  case {}  created {} by {}  [{}]",
        h.id,
        state,
        h.case,
        h.created.format("%Y-%m-%d"),
        h.created_by,
        describe_scope(&h.scope)
    );
    if long {
        println!("  reason: {}", h.reason);
        if let Some(r) = &h.released {
            println!("  released {} by {}: {}", r.at.to_rfc3339(), r.by, r.reason);
        }
    }
}

pub async fn run(g: &GlobalArgs, cmd: HoldCommand) -> Result<u8> {
    match cmd {
        HoldCommand::Create(args) => {
            let new = args.to_new()?;
            let at = now()?;
            let repo = context::open(g).await?;
            let h = repo.create_hold(new, at).await.map_err(|e| match e {
                tenantvault_repo::Error::NotFound(m) => exit::not_found(m),
                tenantvault_repo::Error::Invalid(m) => exit::usage(m),
                e => e.into(),
            })?;
            crate::audit_note::set("hold", &h);
            let flags = flag_now(repo.flag_hold(&h).await);
            if g.json {
                output::print_json(&with_flags(&h, &flags))?;
            } else {
                println!("created hold {}", h.id);
                print_hold(&h, true);
                print_flags(&flags);
            }
        }
        HoldCommand::List(args) => {
            let repo = context::open(g).await?;
            let holds: Vec<Hold> = repo
                .holds()
                .await?
                .into_iter()
                .filter(|h| !args.active || h.is_active())
                .collect();
            if g.json {
                output::print_json(&holds)?;
            } else if holds.is_empty() {
                println!("no holds");
            } else {
                for h in &holds {
                    print_hold(h, false);
                }
            }
        }
        HoldCommand::Show(args) => {
            check_id(&args.id)?;
            let repo = context::open(g).await?;
            let h = repo.hold(&args.id).await.map_err(map_lookup)?;
            if g.json {
                output::print_json(&h)?;
            } else {
                print_hold(&h, true);
            }
        }
        HoldCommand::Release(args) => {
            check_id(&args.id)?;
            if args.reason.trim().is_empty() {
                return Err(exit::usage("--reason must not be empty"));
            }
            let at = now()?;
            let repo = context::open(g).await?;
            let h = repo
                .release_hold(&args.id, &who(&args.by), &args.reason, at)
                .await
                .map_err(map_lookup)?;
            crate::audit_note::set("hold", &h);
            let flags = flag_now(repo.sync_legal_holds(false).await);
            if g.json {
                output::print_json(&with_flags(&h, &flags))?;
            } else {
                println!("released hold {}", h.id);
                print_hold(&h, true);
                print_flags(&flags);
            }
        }
    }
    Ok(exit::OK)
}

/// The S3 legal-hold flags changed right after `hold create|release`: best effort (a worker
/// credential may not change flags); `maintain locks` brings them in line later anyway.
fn flag_now(
    r: tenantvault_repo::Result<tenantvault_repo::LegalHoldReport>,
) -> std::result::Result<tenantvault_repo::LegalHoldReport, String> {
    match r {
        Ok(r) => {
            crate::audit_note::set("legal_hold", super::maintain::legal_hold_note(&r));
            Ok(r)
        }
        Err(e) => {
            tracing::warn!(error = %e, "legal-hold flags not changed now");
            crate::audit_note::set("legal_hold_error", e.to_string());
            Err(e.to_string())
        }
    }
}

fn with_flags(
    h: &Hold,
    flags: &std::result::Result<tenantvault_repo::LegalHoldReport, String>,
) -> serde_json::Value {
    let mut v = serde_json::to_value(h).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        let f = match flags {
            Ok(r) => serde_json::to_value(r).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e }),
        };
        o.insert("legal_hold_flags".into(), f);
    }
    v
}

fn print_flags(flags: &std::result::Result<tenantvault_repo::LegalHoldReport, String>) {
    match flags {
        Ok(r) => {
            super::maintain::print_legal_hold(r, false);
            for f in &r.failed {
                println!("  FAILED {f} (`maintain locks` retries)");
            }
        }
        Err(e) => println!("legal-hold flags not changed now ({e}); `maintain locks` will"),
    }
}

fn map_lookup(e: tenantvault_repo::Error) -> anyhow::Error {
    match e {
        tenantvault_repo::Error::NotFound(m) => exit::not_found(m),
        tenantvault_repo::Error::Invalid(m) => exit::usage(m),
        e => e.into(),
    }
}
