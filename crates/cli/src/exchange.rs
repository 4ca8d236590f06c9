//! Exchange commands: `backup exchange` and `find` (browse a mailbox snapshot with filters).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use futures::TryStreamExt;
use tenantvault_graph::{GraphClient, GraphConfig, GraphError};
use tenantvault_repo::ItemRecord;
use tenantvault_workloads::exchange::{
    self, BackupConfig, BackupReport, ExchangeError, ItemFilter, MailboxReport, Selection,
    layout::{attr, kind},
};

use crate::output;
use crate::progress::Progress as Bar;
use crate::{GlobalArgs, context, exit};

/// `backup exchange`.
#[derive(Debug, Args)]
pub struct BackupExchangeArgs {
    /// Back up only this mailbox (UPN, mail address or user id); repeatable.
    #[arg(long = "mailbox", value_name = "UPN")]
    pub mailboxes: Vec<String>,
    /// Back up the mailboxes of this group's members (display name or id); repeatable.
    #[arg(long = "group", value_name = "NAME")]
    pub groups: Vec<String>,
    /// Graph settings: a TOML file with a `[graph]` table (tenant_id, client_id, client_secret
    /// or certificate_path, …). `AZURE_*` variables override it; without a file they are used alone.
    #[arg(long, value_name = "FILE", env = "TENANTVAULT_GRAPH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Mailboxes backed up at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub parallel: usize,
    /// Skip calendars.
    #[arg(long)]
    pub no_events: bool,
    /// Skip contacts.
    #[arg(long)]
    pub no_contacts: bool,
    /// Delta page size (`Prefer: odata.maxpagesize`).
    #[arg(long, default_value_t = 250, value_name = "N", hide = true)]
    pub page_size: u32,
    /// Commit a checkpoint every N stored items (resume point).
    #[arg(long, default_value_t = 20_000, value_name = "N", hide = true)]
    pub checkpoint_items: u64,
}

/// Loads the Graph configuration with `AZURE_*` overrides. The `--config` file is either the
/// tenantvault configuration (its `[graph]` section; without one, the environment alone supplies
/// the credentials) or a file holding only Graph settings at its top level.
pub fn graph_config(path: Option<&Path>) -> Result<GraphConfig> {
    let env = |k: &str| std::env::var(k).ok();
    let from_env = |why: String| {
        GraphConfig::from_env().map_err(|e| {
            exit::usage(format!(
                "no Graph credentials: {why} set AZURE_TENANT_ID, AZURE_CLIENT_ID and \
                 AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) ({e})"
            ))
        })
    };
    let cfg = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read the Graph configuration {}", p.display()))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| exit::usage(format!("{} is not valid TOML: {e}", p.display())))?;
            if table.contains_key("graph") {
                GraphConfig::from_toml_str(&text, Some("graph"))
                    .map_err(|e| exit::usage(format!("{}: {e}", p.display())))?
                    .with_env_overrides(env)
            } else if table
                .keys()
                .any(|k| crate::config::SECTIONS.contains(&k.as_str()))
            {
                from_env(format!(
                    "{} has no [graph] section; add one or",
                    p.display()
                ))?
            } else {
                GraphConfig::from_toml_str(&text, None)
                    .map_err(|e| exit::usage(format!("{}: {e}", p.display())))?
                    .with_env_overrides(env)
            }
        }
        None => from_env("pass --config FILE or".into())?,
    };
    cfg.validate().map_err(|e| exit::usage(e.to_string()))?;
    Ok(cfg)
}

/// Progress adapter: library callbacks → the CLI's bar.
struct BarProgress {
    bar: Bar,
    planned: AtomicU64,
    done: AtomicU64,
}

impl exchange::Progress for BarProgress {
    fn planned(&self, mailboxes: usize) {
        self.planned.store(mailboxes as u64, Ordering::Relaxed);
    }
    fn items(&self, count: u64, bytes: u64) {
        self.bar.add(count, bytes);
    }
    fn mailbox_finished(&self, report: &MailboxReport) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::info!(
            mailbox = %report.mailbox.upn,
            "mailbox {done}/{} done",
            self.planned.load(Ordering::Relaxed)
        );
    }
}

fn explain_graph(e: &GraphError) -> String {
    match e {
        GraphError::Auth(a) => format!("authentication failed: {a}"),
        GraphError::Unauthorized(_) => format!("Graph rejected the credentials: {e}"),
        GraphError::Forbidden(_) => {
            format!("the app lacks a permission (Mail.Read, User.Read.All, …): {e}")
        }
        _ => e.to_string(),
    }
}

/// Runs `backup exchange`.
pub async fn backup(g: &GlobalArgs, args: BackupExchangeArgs) -> Result<u8> {
    if args.parallel == 0 {
        return Err(exit::usage("--parallel must be at least 1"));
    }
    let graph_cfg = graph_config(args.config.as_deref())?;
    let repo = context::open(g).await?;
    let graph = GraphClient::new(graph_cfg).map_err(|e| anyhow::anyhow!(explain_graph(&e)))?;
    let cfg = BackupConfig {
        parallel_mailboxes: args.parallel,
        page_size: args.page_size.max(1),
        checkpoint_items: args.checkpoint_items.max(1),
        events: !args.no_events,
        contacts: !args.no_contacts,
        ..BackupConfig::default()
    };
    let selection = Selection {
        mailboxes: args.mailboxes,
        groups: args.groups,
    };
    let progress = BarProgress {
        bar: Bar::new("exchange", !g.json && !g.quiet, None),
        planned: AtomicU64::new(0),
        done: AtomicU64::new(0),
    };
    let result = exchange::backup(&repo, &graph, &cfg, &selection, Some(&progress)).await;
    progress.bar.finish();
    let report = match result {
        Ok(r) => r,
        Err(ExchangeError::UnknownMailbox(m)) => {
            return Err(exit::usage(format!("no such mailbox: {}", m.join(", "))));
        }
        Err(ExchangeError::UnknownGroup(m)) => {
            return Err(exit::usage(format!("no such group: {}", m.join(", "))));
        }
        Err(ExchangeError::Directory(e)) | Err(ExchangeError::Graph(e)) => {
            anyhow::bail!("{}", explain_graph(&e));
        }
        Err(ExchangeError::Repo(e)) => return Err(e.into()),
    };
    // retention: mailboxes gone from the tenant get the departed policy (issue 6)
    let (gone, here): (Vec<_>, Vec<_>) = report.mailboxes.iter().partition(|m| m.departed);
    let ids = |v: Vec<&tenantvault_workloads::exchange::MailboxReport>| {
        v.iter().map(|m| m.mailbox.id.clone()).collect::<Vec<_>>()
    };
    crate::commands::retention::record_departures(&repo, &ids(gone), &ids(here)).await?;
    crate::audit_note::set("mailboxes", report.mailboxes.len());
    crate::audit_note::set("failures", report.failures());
    if g.json {
        output::print_json(&report)?;
    } else if !g.quiet {
        print_summary(&report);
    }
    let code = if report.failures() > 0 {
        exit::PARTIAL
    } else {
        exit::OK
    };
    let snaps = report.mailboxes.iter().filter_map(|m| m.snapshot.clone());
    crate::commands::alerts::after_backup(g, &repo, snaps.collect(), code).await
}

fn print_summary(r: &BackupReport) {
    for m in &r.mailboxes {
        let who = if m.mailbox.upn.is_empty() {
            &m.mailbox.id
        } else {
            &m.mailbox.upn
        };
        if m.departed {
            println!(
                "{who}: departed (user gone from the tenant); snapshot {} keeps its mail",
                short(&m.snapshot)
            );
            continue;
        }
        if let Some(e) = &m.error {
            println!("{who}: FAILED: {e}");
            continue;
        }
        println!(
            "{who}: snapshot {} — {} folders, {} messages downloaded, {} updated, {} removed, {} events, {} contacts, {}{}",
            short(&m.snapshot),
            m.folders,
            m.messages_downloaded,
            m.messages_updated,
            m.items_deleted,
            m.events,
            m.contacts,
            output::bytes(m.bytes_downloaded),
            if m.resumed { " (resumed)" } else { "" }
        );
        for f in &m.failures {
            println!("  failed {}: {}", f.item_id, f.reason);
        }
    }
    eprintln!(
        "{} mailboxes, {} messages ({}) in {} — {} Graph requests, {} throttled, {} failures",
        r.mailboxes.len(),
        r.messages_downloaded(),
        output::bytes(r.bytes_downloaded()),
        output::secs(r.elapsed),
        r.requests,
        r.throttled,
        r.failures()
    );
}

fn short(id: &Option<String>) -> &str {
    id.as_deref().map(|s| &s[..s.len().min(8)]).unwrap_or("-")
}

/// `find`: list the items of an Exchange snapshot matching filters.
#[derive(Debug, Args)]
pub struct FindArgs {
    /// Snapshot id or unique prefix; default: the latest snapshot of --mailbox.
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: Option<String>,
    /// Mailbox (UPN, mail or user id) whose latest snapshot to browse.
    #[arg(long, value_name = "UPN")]
    pub mailbox: Option<String>,
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
    /// Item kind: message (default), event, contact, mailFolder, or all.
    #[arg(long, default_value = "message")]
    pub kind: String,
    /// Stop after N matches.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Scan the snapshot's item lists instead of using (and, on first use, building) the
    /// per-snapshot find index in the local cache directory.
    #[arg(long)]
    pub no_index: bool,
}

/// `2024-05-01` or an RFC 3339 instant.
pub fn parse_date(s: &str) -> Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| exit::usage(format!("bad date {s:?}: use YYYY-MM-DD or RFC 3339")))
}

impl FindArgs {
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
            received_after: self.after.as_deref().map(parse_date).transpose()?,
            received_before: self.before.as_deref().map(parse_date).transpose()?,
        })
    }
}

/// Runs `find`.
pub async fn find(g: &GlobalArgs, args: FindArgs) -> Result<u8> {
    let filter = args.filter()?;
    if args.snapshot.is_none() && args.mailbox.is_none() {
        return Err(exit::usage("give a SNAPSHOT or --mailbox UPN"));
    }
    let repo = context::open(g).await?;
    let snap = exchange::resolve_snapshot(&repo, args.snapshot.as_deref(), args.mailbox.as_deref())
        .await
        .map_err(|e| match e {
            exchange::browse::BrowseError::Repo(r) => anyhow::Error::from(r),
            exchange::browse::BrowseError::NoSnapshot(_) => exit::not_found(e.to_string()),
            other => exit::usage(other.to_string()),
        })?;
    if !args.no_index {
        return find_indexed(g, &repo, &snap, &filter, args.limit).await;
    }
    let items = exchange::find(&snap, filter);
    futures::pin_mut!(items);
    let mut found: Vec<ItemRecord> = Vec::new();
    let mut count = 0usize;
    while let Some(item) = items.try_next().await? {
        count += 1;
        if g.json {
            found.push(item);
        } else {
            print_item(&item);
        }
        if args.limit.is_some_and(|l| count >= l) {
            break;
        }
    }
    if g.json {
        output::print_json(&serde_json::json!({
            "snapshot": snap.id().0,
            "owner": snap.summary().owner.owner,
            "items": found,
        }))?;
    } else if !g.quiet {
        eprintln!("{count} item(s) in snapshot {}", snap.id().short());
    }
    Ok(exit::OK)
}

/// `find` through the per-snapshot index (built on first use). Text output comes from the
/// index rows; `--json` reads the matching records themselves (by id, binary search).
async fn find_indexed(
    g: &GlobalArgs,
    repo: &tenantvault_repo::Repository,
    snap: &tenantvault_repo::Snapshot,
    filter: &ItemFilter,
    limit: Option<usize>,
) -> Result<u8> {
    let started = std::time::Instant::now();
    let (index, built) = exchange::index::open_or_build(repo, snap).await?;
    if built && !g.quiet {
        eprintln!(
            "find index of snapshot {} built in {:.1} s",
            snap.id().short(),
            started.elapsed().as_secs_f64()
        );
    }
    let hits = index.find(filter, limit)?;
    if g.json {
        let mut found: Vec<ItemRecord> = Vec::with_capacity(hits.len());
        for h in &hits {
            let rec = snap.item(&h.id).await?.ok_or_else(|| {
                anyhow::anyhow!(
                    "find index names {} but the snapshot has no such item",
                    h.id
                )
            })?;
            found.push(rec);
        }
        output::print_json(&serde_json::json!({
            "snapshot": snap.id().0,
            "owner": snap.summary().owner.owner,
            "items": found,
        }))?;
    } else {
        for h in &hits {
            print_line(
                h.received.or(h.modified),
                h.from.as_deref().unwrap_or(""),
                &h.path,
                &h.name,
                &h.id,
            );
        }
        if !g.quiet {
            eprintln!("{} item(s) in snapshot {}", hits.len(), snap.id().short());
        }
    }
    Ok(exit::OK)
}

fn print_item(item: &ItemRecord) {
    print_line(
        item.received.or(item.modified),
        item.attrs.get(attr::FROM).map(String::as_str).unwrap_or(""),
        &item.path,
        &item.name,
        &item.id,
    );
}

fn print_line(date: Option<DateTime<Utc>>, from: &str, path: &str, name: &str, id: &str) {
    let date = date
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".repeat(16));
    println!(
        "{date}  {:<28}  {}/{}  [{}]",
        truncate(from, 28),
        path,
        name,
        id
    );
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_configuration_file_serves_graph_and_the_other_sections() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tenantvault.toml");
        std::fs::write(
            &p,
            "[retention]\n[graph]\ntenant_id = \"contoso\"\nclient_id = \"app\"\nclient_secret = \"s\"\n",
        )
        .unwrap();
        let cfg = graph_config(Some(&p)).unwrap();
        assert_eq!(cfg.tenant_id, "contoso");
        // a Graph-only file keeps working
        std::fs::write(
            &p,
            "tenant_id = \"contoso\"\nclient_id = \"app\"\nclient_secret = \"s\"\n",
        )
        .unwrap();
        assert_eq!(graph_config(Some(&p)).unwrap().client_id, "app");
        // a tenantvault file without [graph] is not read as Graph settings
        std::fs::write(&p, "[retention]\n").unwrap();
        if std::env::var("AZURE_TENANT_ID").is_err() {
            let e = graph_config(Some(&p)).unwrap_err();
            assert!(format!("{e:#}").contains("has no [graph] section"), "{e:#}");
            assert_eq!(exit::code_for(&e), exit::USAGE);
        }
    }
}
