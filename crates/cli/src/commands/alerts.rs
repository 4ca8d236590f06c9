//! `alerts list|show|clear`, and what a backup does when detection raised an alert: log it,
//! POST it to the webhook of the `[alerts]` configuration section, and exit with
//! [`exit::ALERT`].

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
    /// Webhook timeout in seconds (default 10).
    pub timeout_secs: Option<u64>,
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
        if let Some(url) = &section.webhook_url {
            let timeout = Duration::from_secs(section.timeout_secs.unwrap_or(10));
            if let Err(e) = post(url, timeout, a).await {
                tracing::warn!(alert = %a.id, error = %e, "alert webhook failed");
                eprintln!("warning: alert webhook {url} failed: {e}");
            }
        }
    }
    Ok(exit::ALERT)
}

async fn post(url: &str, timeout: Duration, a: &Alert) -> Result<()> {
    let body = serde_json::json!({"event": "tenantvault.alert", "alert": a.to_json()});
    let r = reqwest::Client::builder()
        .timeout(timeout)
        .build()?
        .post(url)
        .json(&body)
        .send()
        .await?;
    if !r.status().is_success() {
        anyhow::bail!("HTTP {}", r.status());
    }
    Ok(())
}
