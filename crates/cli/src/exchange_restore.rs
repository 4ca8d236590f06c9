//! `restore exchange` and `export exchange`, plus the `restore`/`export` subcommand enums that
//! put Exchange beside the OneDrive/SharePoint subcommands.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use tenantvault_graph::GraphClient;
use tenantvault_repo::{Repository, Snapshot};
use tenantvault_workloads::exchange::export::{self, ExportOptions};
use tenantvault_workloads::exchange::restore::{
    self, ConflictPolicy, Destination, RestoreRequest, Status,
};
use tenantvault_workloads::exchange::{self, ItemFilter, layout::kind};

use crate::{GlobalArgs, context, exit, output};

/// `restore …` subcommands.
#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// Restore Exchange mail, events and contacts from a mailbox snapshot through Graph.
    Exchange(RestoreExchangeArgs),
    #[command(flatten)]
    Drive(crate::drive::RestoreDriveCommand),
}

/// `export …` subcommands.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Export a mailbox snapshot: EML per message, mbox per folder, calendar.ics, contacts.vcf.
    Exchange(ExportExchangeArgs),
    #[command(flatten)]
    Drive(crate::drive::ExportCommand),
}

/// Which snapshot, and which items of it.
#[derive(Debug, Args)]
pub struct Pick {
    /// Snapshot id or unique prefix (default: the latest snapshot of --mailbox).
    #[arg(long, value_name = "ID")]
    pub snapshot: Option<String>,
    /// Mailbox (UPN, mail or user id) whose snapshot to use.
    #[arg(long, value_name = "UPN")]
    pub mailbox: Option<String>,
    /// Point in time: the last snapshot of --mailbox taken at or before TIME (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "TIME", conflicts_with = "snapshot")]
    pub at: Option<String>,
    /// Folder path prefix (`Inbox`, `Inbox/Projects`), case-insensitive.
    #[arg(long)]
    pub folder: Option<String>,
    /// Subject contains (case-insensitive).
    #[arg(long)]
    pub subject: Option<String>,
    /// Sender address or name contains.
    #[arg(long = "from", value_name = "SENDER")]
    pub sender: Option<String>,
    /// A to/cc/bcc recipient contains.
    #[arg(long = "to", value_name = "RECIPIENT")]
    pub recipient: Option<String>,
    /// Received on or after (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub after: Option<String>,
    /// Received before (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub before: Option<String>,
    /// Item kind: message, event, contact, mailFolder, or all (default).
    #[arg(long, default_value = "all")]
    pub kind: String,
}

impl Pick {
    fn filter(&self) -> Result<ItemFilter> {
        let kinds = match self.kind.as_str() {
            "all" => vec![],
            k @ (kind::MESSAGE | kind::EVENT | kind::CONTACT | kind::MAIL_FOLDER) => {
                vec![k.to_string()]
            }
            other => {
                return Err(exit::usage(format!(
                    "unknown kind {other:?}: message, event, contact, mailFolder or all"
                )));
            }
        };
        Ok(ItemFilter {
            kinds,
            folder: self.folder.clone(),
            subject: self.subject.clone(),
            sender: self.sender.clone(),
            recipient: self.recipient.clone(),
            received_after: self
                .after
                .as_deref()
                .map(crate::exchange::parse_date)
                .transpose()?,
            received_before: self
                .before
                .as_deref()
                .map(crate::exchange::parse_date)
                .transpose()?,
        })
    }

    async fn open(&self, repo: &Repository) -> Result<Snapshot> {
        if self.snapshot.is_none() && self.mailbox.is_none() {
            return Err(exit::usage("give --snapshot ID or --mailbox UPN"));
        }
        if let Some(at) = &self.at {
            let at: DateTime<Utc> = crate::exchange::parse_date(at)?;
            let mb = self
                .mailbox
                .as_deref()
                .ok_or_else(|| exit::usage("--at needs --mailbox"))?;
            let all = exchange::mailbox_snapshots(repo, Some(mb)).await?;
            let pick = all
                .iter()
                .rev()
                .find(|s| s.summary.time <= at)
                .ok_or_else(|| exit::not_found(format!("no snapshot of {mb} at or before {at}")))?;
            return Ok(repo.snapshot(&pick.summary.id.0).await?);
        }
        exchange::resolve_snapshot(repo, self.snapshot.as_deref(), self.mailbox.as_deref())
            .await
            .map_err(|e| match e {
                exchange::browse::BrowseError::Repo(r) => anyhow::Error::from(r),
                exchange::browse::BrowseError::NoSnapshot(_) => exit::not_found(e.to_string()),
                other => exit::usage(other.to_string()),
            })
    }
}

/// `restore exchange`.
#[derive(Debug, Args)]
pub struct RestoreExchangeArgs {
    #[command(flatten)]
    pub pick: Pick,
    /// Restore exactly this item (`msg:…`, `event:…`, `contact:…`, `folder:…`); repeatable.
    /// Filters are ignored when given.
    #[arg(long = "item", value_name = "ID")]
    pub items: Vec<String>,
    /// Restore into the original folders (default: a new folder `Restored <date>`).
    #[arg(long, conflicts_with = "folder_name")]
    pub in_place: bool,
    /// Name of the new top-level folder to restore into (default `Restored <date>`).
    #[arg(long, value_name = "NAME")]
    pub folder_name: Option<String>,
    /// Restore into this mailbox instead of the snapshot's own.
    #[arg(long, value_name = "UPN")]
    pub to_mailbox: Option<String>,
    /// When the target folder already holds the message (same internetMessageId).
    #[arg(long, default_value = "skip", value_parser = ["skip", "copy", "replace"])]
    pub conflict: String,
    /// Items written at once (Graph allows 4 concurrent requests per mailbox).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: usize,
    /// Show what would be restored, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Graph settings (TOML with a `[graph]` table); `AZURE_*` variables override it.
    #[arg(long, value_name = "FILE", env = "TENANTVAULT_GRAPH_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `export exchange`.
#[derive(Debug, Args)]
pub struct ExportExchangeArgs {
    #[command(flatten)]
    pub pick: Pick,
    /// Directory to write into (created if missing), or the ZIP file with --zip.
    #[arg(long, value_name = "PATH")]
    pub target: PathBuf,
    /// Write one ZIP file instead of a directory tree.
    #[arg(long)]
    pub zip: bool,
    /// No .eml files.
    #[arg(long)]
    pub no_eml: bool,
    /// No .mbox files.
    #[arg(long)]
    pub no_mbox: bool,
    /// No calendar.ics.
    #[arg(long)]
    pub no_ics: bool,
    /// No contacts.vcf.
    #[arg(long)]
    pub no_vcf: bool,
}

/// Dispatch `restore <workload>`.
pub async fn restore(g: &GlobalArgs, cmd: RestoreCommand) -> Result<u8> {
    match cmd {
        RestoreCommand::Exchange(args) => restore_exchange(g, args).await,
        RestoreCommand::Drive(d) => crate::drive::restore(g, d).await,
    }
}

/// Dispatch `export <workload>`.
pub async fn export(g: &GlobalArgs, cmd: ExportCommand) -> Result<u8> {
    match cmd {
        ExportCommand::Exchange(args) => export_exchange(g, args).await,
        ExportCommand::Drive(d) => crate::drive::export(g, d).await,
    }
}

async fn restore_exchange(g: &GlobalArgs, args: RestoreExchangeArgs) -> Result<u8> {
    let filter = args.pick.filter()?;
    let conflict: ConflictPolicy = args
        .conflict
        .parse()
        .map_err(|e: restore::RestoreError| exit::usage(e.to_string()))?;
    let destination = if args.in_place {
        Destination::InPlace
    } else if let Some(n) = &args.folder_name {
        Destination::Folder(n.clone())
    } else {
        Destination::NewFolder
    };
    // Credentials are checked before anything else is read.
    let graph = if args.dry_run {
        None
    } else {
        Some(GraphClient::new(crate::exchange::graph_config(
            args.config.as_deref(),
        )?)?)
    };
    let repo = context::open(g).await?;
    let snap = args.pick.open(&repo).await?;
    let request = RestoreRequest {
        item_ids: args.items.clone(),
        filter,
        to_mailbox: args.to_mailbox.clone(),
        destination,
        conflict,
        parallel: args.parallel,
        now: Utc::now(),
    };
    let plan = restore::plan(&snap, &request).await.map_err(|e| match e {
        restore::RestoreError::NoSuchItem { .. } => exit::not_found(e.to_string()),
        restore::RestoreError::Repo(r) => anyhow::Error::from(r),
        other => exit::usage(other.to_string()),
    })?;
    if plan.items.is_empty() {
        return Err(exit::not_found(format!(
            "nothing in snapshot {} matches",
            snap.id().short()
        )));
    }
    let Some(graph) = graph else {
        if g.json {
            let items: Vec<_> = plan
                .items
                .iter()
                .map(|i| serde_json::json!({"itemId": i.id, "kind": i.kind, "name": i.name, "path": i.path}))
                .collect();
            output::print_json(&serde_json::json!({
                "snapshot": snap.id().0, "targetMailbox": plan.target_mailbox,
                "container": plan.container, "items": items,
            }))?;
        } else {
            for i in &plan.items {
                println!("would restore {:<10} {:?} from {}", i.kind, i.name, i.path);
            }
            eprintln!(
                "{} item(s) to {}{}",
                plan.items.len(),
                plan.target_mailbox,
                plan.container
                    .as_deref()
                    .map(|c| format!(" / {c}"))
                    .unwrap_or_default()
            );
        }
        return Ok(exit::OK);
    };
    if !g.quiet && !g.json {
        eprintln!(
            "restoring {} item(s) from snapshot {} ({}) to {}{}",
            plan.items.len(),
            snap.id().short(),
            plan.source.upn,
            plan.target_mailbox,
            plan.container
                .as_deref()
                .map(|c| format!(" / {c}"))
                .unwrap_or(" (in place)".into())
        );
    }
    let started = std::time::Instant::now();
    let report = restore::run(&repo, &graph, &plan)
        .await
        .map_err(|e| match e {
            restore::RestoreError::Target { .. } => exit::not_found(e.to_string()),
            e => anyhow::Error::new(e).context("exchange restore"),
        })?;
    crate::audit_note::set("result", &report);
    if g.json {
        output::print_json(&report)?;
    } else {
        for o in &report.items {
            let status = match o.status {
                Status::Restored => "restored",
                Status::Replaced => "replaced",
                Status::Skipped => "skipped",
                Status::Failed => "FAILED",
            };
            let line = format!(
                "{status:<9} {:<8} {:?} -> {}",
                o.kind, o.name, o.target_path
            );
            match (&o.reason, o.status) {
                (Some(r), Status::Failed) => eprintln!("{line}: {r}"),
                (Some(r), _) if !g.quiet => println!("{line} ({r})"),
                _ if !g.quiet => println!("{line}"),
                _ => {}
            }
        }
        if !g.quiet {
            eprintln!(
                "{} restored, {} skipped, {} failed in {}",
                report.restored(),
                report.skipped(),
                report.failed(),
                output::secs(started.elapsed())
            );
        }
    }
    Ok(if report.failed() > 0 {
        exit::PARTIAL
    } else {
        exit::OK
    })
}

async fn export_exchange(g: &GlobalArgs, args: ExportExchangeArgs) -> Result<u8> {
    let filter = args.pick.filter()?;
    let repo = context::open(g).await?;
    let snap = args.pick.open(&repo).await?;
    let opts = ExportOptions {
        filter,
        eml: !args.no_eml,
        mbox: !args.no_mbox,
        ics: !args.no_ics,
        vcf: !args.no_vcf,
        zip: args.zip,
    };
    let report = export::export(&repo, &snap, &args.target, &opts)
        .await
        .map_err(|e| match e {
            export::ExportError::Unsafe(_) => exit::usage(e.to_string()),
            e => anyhow::Error::new(e),
        })
        .with_context(|| {
            format!(
                "export of snapshot {} to {}",
                snap.id().short(),
                args.target.display()
            )
        })?;
    crate::audit_note::set("result", &report);
    if g.json {
        output::print_json(&report)?;
    } else if !g.quiet {
        println!(
            "exported {} message(s) ({} EML, {} mbox), {} event(s), {} contact(s), {} into {}",
            report.messages,
            report.eml_files,
            report.mbox_files.len(),
            report.events,
            report.contacts,
            output::bytes(report.bytes),
            args.target.display()
        );
        for r in &report.renamed {
            println!("  renamed {:?} -> {}", r.original, r.written);
        }
    }
    for f in &report.failures {
        eprintln!("  FAILED {}: {}", f.item_id, f.reason);
    }
    Ok(if report.failures.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    })
}
