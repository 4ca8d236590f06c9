//! `alerts list|show|clear`, and what a backup does when detection raised an alert: log it,
//! POST it to the webhook of the `[alerts]` configuration section, and exit with
//! [`exit::ALERT`].

pub mod webhook;

use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde::Deserialize;
use tenantvault_repo::Repository;
use tenantvault_workloads::detect::{self, Alert, DetectError};

use crate::config::Config;
use crate::{GlobalArgs, context, exit, output};

/// The `[alerts]` section of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsSection {
    /// Where each new alert is POSTed as JSON (`http://` or `https://`).
    pub webhook_url: Option<String>,
    /// Webhook timeout in seconds per attempt (default 10).
    pub timeout_secs: Option<u64>,
    /// Key of the HMAC-SHA256 signature header (`X-Tenantvault-Signature`); unsigned when unset.
    pub webhook_secret: Option<String>,
}

impl AlertsSection {
    fn validate(&self) -> Result<()> {
        if let Some(u) = &self.webhook_url {
            let ok = reqwest::Url::parse(u)
                .ok()
                .is_some_and(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some());
            if !ok {
                return Err(exit::usage(format!(
                    "[alerts] webhook_url {u:?} is not an http(s) URL"
                )));
            }
        }
        if self
            .webhook_secret
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(exit::usage("[alerts] webhook_secret must not be empty"));
        }
        if self.webhook_secret.is_some() && self.webhook_url.is_none() {
            return Err(exit::usage(
                "[alerts] webhook_secret is set but webhook_url is not",
            ));
        }
        if self.timeout_secs == Some(0) {
            return Err(exit::usage("[alerts] timeout_secs must be at least 1"));
        }
        Ok(())
    }
}

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// List alerts (open ones; `--all` includes cleared).
    List(ListArgs),
    /// Show one alert: score, explanation, statistics, clean snapshot, hold.
    Show(ShowArgs),
    /// Clear an alert: releases the hold pinning its clean snapshot.
    Clear(ClearArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Include cleared alerts.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Alert id or a unique prefix.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ClearArgs {
    /// Alert id or a unique prefix.
    pub id: String,
    /// Why it is cleared ("recovered", "false alarm: …").
    #[arg(long)]
    pub reason: String,
    /// Who clears it (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
}

fn detect_err(e: DetectError) -> anyhow::Error {
    match e {
        DetectError::NoSuchAlert(_) => exit::not_found(e.to_string()),
        DetectError::Invalid(m) => exit::usage(m),
        DetectError::Repo(r) => r.into(),
        other => anyhow::Error::new(other),
    }
}

pub async fn run(g: &GlobalArgs, cmd: AlertsCommand) -> Result<u8> {
    if let AlertsCommand::Clear(a) = &cmd
        && a.reason.trim().is_empty()
    {
        return Err(exit::usage("alerts clear needs --reason TEXT"));
    }
    let repo = context::open(g).await?;
    match cmd {
        AlertsCommand::List(a) => {
            let all: Vec<Alert> = detect::list_alerts(&repo)
                .await
                .map_err(detect_err)?
                .into_iter()
                .filter(|x| a.all || x.is_open())
                .collect();
            if g.json {
                output::print_json(&all)?;
            } else if all.is_empty() {
                println!("no alerts");
            } else {
                for x in &all {
                    println!(
                        "{}  {}  {} {}  score {}  {}{}",
                        x.id,
                        x.created.format("%Y-%m-%d %H:%M"),
                        x.workload,
                        if x.owner_name.is_empty() {
                            &x.owner
                        } else {
                            &x.owner_name
                        },
                        x.score,
                        x.explanation,
                        if x.is_open() { "" } else { "  [cleared]" }
                    );
                }
            }
            Ok(exit::OK)
        }
        AlertsCommand::Show(a) => {
            let x = detect::alert(&repo, &a.id).await.map_err(detect_err)?;
            if g.json {
                output::print_json(&x)?;
            } else {
                print_alert(&x);
            }
            Ok(exit::OK)
        }
        AlertsCommand::Clear(a) => {
            let by =
                a.by.or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "admin".into());
            let now = crate::clock::now()?;
            let x = detect::clear_alert(&repo, &a.id, &by, &a.reason, now)
                .await
                .map_err(detect_err)?;
            crate::audit_note::set("alert", &x.id);
            if g.json {
                output::print_json(&x)?;
            } else if !g.quiet {
                println!(
                    "alert {} cleared by {}{}",
                    x.id,
                    by,
                    x.hold
                        .as_ref()
                        .map(|h| format!("; hold {h} on the clean snapshot released"))
                        .unwrap_or_default()
                );
            }
            Ok(exit::OK)
        }
    }
}

fn print_alert(x: &Alert) {
    println!("alert     {}", x.id);
    println!("raised    {}", x.created.to_rfc3339());
    println!(
        "owner     {} {}{}",
        x.workload,
        x.owner,
        if x.owner_name.is_empty() {
            String::new()
        } else {
            format!(" ({})", x.owner_name)
        }
    );
    println!("suspect   {}", x.snapshot);
    match (&x.clean_snapshot, &x.clean_time) {
        (Some(c), Some(t)) => println!("clean     {c} ({})", t.to_rfc3339()),
        _ => println!("clean     none (no earlier snapshot)"),
    }
    if let Some(h) = &x.hold {
        println!("hold      {h}");
    }
    println!("score     {}", x.score);
    println!("why       {}", x.explanation);
    let s = &x.stats;
    println!(
        "changes   {} before, {} created, {} modified, {} deleted, {} moved, {} renamed",
        s.items_before, s.created, s.modified, s.deleted, s.moved, s.renamed
    );
    match &x.cleared {
        Some(c) => println!("cleared   {} by {}: {}", c.at.to_rfc3339(), c.by, c.reason),
        None => println!(
            "status    open — recover with `tenantvault recover --owner {}`",
            x.owner
        ),
    }
}

/// After a backup: reports the alerts raised for its snapshots (stderr), POSTs each to the
/// webhook, notes them for the audit log, and turns the exit code into [`exit::ALERT`].
pub async fn after_backup(
    g: &GlobalArgs,
    repo: &Repository,
    snapshots: Vec<String>,
    code: u8,
) -> Result<u8> {
    let section: AlertsSection = Config::load(g.config.as_deref())?.section("alerts")?;
    section.validate()?;
    let raised = detect::alerts_for_snapshots(repo, &snapshots)
        .await
        .map_err(detect_err)?;
    if raised.is_empty() {
        return Ok(code);
    }
    crate::audit_note::set(
        "alerts",
        raised.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
    );
    for a in &raised {
        eprintln!(
            "ALERT {} ({} {}): score {} — {}; clean snapshot {} pinned",
            a.id,
            a.workload,
            if a.owner_name.is_empty() {
                &a.owner
            } else {
                &a.owner_name
            },
            a.score,
            a.explanation,
            a.clean_snapshot.as_deref().unwrap_or("none")
        );
    }
    if let Some(url) = &section.webhook_url {
        let backoff = webhook::Backoff {
            timeout: Duration::from_secs(section.timeout_secs.unwrap_or(10)),
            ..webhook::Backoff::default()
        };
        let secret = section.webhook_secret.as_deref();
        let sends = raised.iter().map(|a| async move {
            let body = serde_json::json!({"event": "tenantvault.alert", "alert": a.to_json()});
            (
                a,
                webhook::deliver(url, secret, &a.id, &body, backoff).await,
            )
        });
        for (a, d) in futures::future::join_all(sends).await {
            if let Some(e) = d.error {
                tracing::warn!(alert = %a.id, attempts = d.attempts, error = %e, "alert webhook failed");
                eprintln!(
                    "warning: alert webhook {url} failed for {} after {} attempt(s): {e}",
                    a.id, d.attempts
                );
            }
        }
    }
    Ok(exit::ALERT)
}

/// How `snapshots` marks a snapshot an open alert names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SuspectMark {
    /// The open alert raised for this snapshot.
    pub alert: String,
    /// Its score.
    pub score: u32,
}

/// Marks of the snapshots open alerts name: suspect snapshots, and the clean points they pin.
/// Derived from the alert records; clearing an alert removes its marks.
#[derive(Debug, Default)]
pub struct SnapshotMarks {
    suspect: std::collections::BTreeMap<String, SuspectMark>,
    clean_point: std::collections::BTreeMap<String, String>,
}

impl SnapshotMarks {
    /// Reads the open alerts.
    pub async fn load(repo: &Repository) -> Result<Self> {
        let mut m = SnapshotMarks::default();
        for a in detect::list_alerts(repo)
            .await
            .map_err(detect_err)?
            .into_iter()
            .filter(Alert::is_open)
        {
            m.suspect.insert(
                a.snapshot.clone(),
                SuspectMark {
                    alert: a.id.clone(),
                    score: a.score,
                },
            );
            if let Some(c) = a.clean_snapshot {
                m.clean_point.insert(c, a.id);
            }
        }
        Ok(m)
    }

    /// The suspect mark of a snapshot.
    pub fn suspect(&self, snapshot: &str) -> Option<SuspectMark> {
        self.suspect.get(snapshot).cloned()
    }

    /// The alert whose clean point this snapshot is.
    pub fn clean_point_of(&self, snapshot: &str) -> Option<String> {
        self.clean_point.get(snapshot).cloned()
    }

    /// Text for the table's status column (`, SUSPECT alert <id>`), empty when unmarked.
    pub fn label(&self, snapshot: &str) -> String {
        let mut out = String::new();
        if let Some(s) = self.suspect.get(snapshot) {
            out.push_str(&format!(", SUSPECT (alert {})", s.alert));
        }
        if let Some(a) = self.clean_point.get(snapshot) {
            out.push_str(&format!(", clean point pinned (alert {a})"));
        }
        out
    }
}
