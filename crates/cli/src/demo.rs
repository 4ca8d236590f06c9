//! `tenantvault demo`: the whole story in under a minute, on a simulated tenant.
//!
//! Starts the Graph-compatible emulator in-process with a small generated tenant, creates an
//! encrypted repository, backs every mailbox up, lets the simulated users work (new, read,
//! flagged, moved and deleted mail), backs up again (incremental), then finds a message that
//! was deleted in the tenant in the first snapshot, prints it, restores it into the mailbox
//! (a new `Restored <date>` folder) and reads it back through Graph.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use futures::TryStreamExt;
use tenantvault_emulator::{Emulator, EmulatorConfig, GeneratorConfig};
use tenantvault_graph::{Credential, GraphClient, GraphConfig, SecretString};
use tenantvault_repo::{InitOptions, ItemRecord, LocalStorage, OpenOptions, Repository, Snapshot};
use tenantvault_workloads::exchange::{
    self, BackupConfig, BackupReport, ItemFilter, Selection, layout::attr, restore,
};

use crate::{GlobalArgs, exit, output};

/// `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Users in the simulated tenant.
    #[arg(long, default_value_t = 6)]
    pub users: usize,
    /// Average messages per mailbox.
    #[arg(long, default_value_t = 60)]
    pub messages: u32,
    /// Seed of the generated tenant (same seed, same tenant).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Keep the repository here instead of a temporary directory (must not exist or be empty).
    #[arg(long = "demo-repo", value_name = "DIR")]
    pub demo_repo: Option<PathBuf>,
}

/// Passphrase of the demo repository (printed, so the user can explore it afterwards).
const DEMO_PASSPHRASE: &str = "demo";

struct Say {
    quiet: bool,
}

impl Say {
    fn step(&self, n: u32, text: &str) {
        if !self.quiet {
            eprintln!("\n{n}. {text}");
        }
    }
    fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("   {text}");
        }
    }
}

/// Runs the demo.
pub async fn run(g: &GlobalArgs, args: DemoArgs) -> Result<u8> {
    if args.users == 0 || args.messages == 0 {
        return Err(exit::usage("--users and --messages must be at least 1"));
    }
    let started = Instant::now();
    let say = Say {
        quiet: g.quiet || g.json,
    };
    if !say.quiet {
        eprintln!(
            "tenantvault demo — a simulated Microsoft 365 tenant, backed up twice; \
             a message deleted in between is found in the first backup."
        );
    }

    say.step(
        1,
        "Starting a simulated tenant (Graph-compatible emulator, in this process)",
    );
    let mut emu_cfg = EmulatorConfig {
        seed: args.seed,
        users: args.users,
        generator: GeneratorConfig {
            messages_per_mailbox: args.messages,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    // Microsoft's Exchange limits stay on; the demo is small enough not to hit them.
    emu_cfg.throttling.enabled = true;
    let emu = Emulator::start(emu_cfg)
        .await
        .context("starting the emulator")?;
    say.line(&format!(
        "Graph at {} — tenant {} ({} users)",
        emu.graph_url(),
        emu.domain(),
        args.users
    ));

    let (dir_guard, repo_dir) = match &args.demo_repo {
        Some(p) => (None, p.clone()),
        None => {
            let t = tempfile::Builder::new()
                .prefix("tenantvault-demo-")
                .tempdir()
                .context("creating a temporary directory")?;
            let p = t.path().join("repo");
            (Some(t), p)
        }
    };
    say.step(
        2,
        &format!("Creating an encrypted repository in {}", repo_dir.display()),
    );
    let repo = create_repo(&repo_dir).await?;
    say.line(&format!("passphrase: {DEMO_PASSPHRASE:?}"));

    let mut gcfg = GraphConfig::new(
        emu.tenant_id(),
        emu.client_id(),
        Credential::Secret(SecretString::new(emu.client_secret())),
    );
    gcfg.authority_host = emu.base_url().to_string();
    gcfg.graph_base = emu.graph_url();
    let graph = GraphClient::new(gcfg).context("Graph client")?;
    let cfg = BackupConfig::default();

    say.step(3, "First backup of every mailbox (full)");
    let first = exchange::backup(&repo, &graph, &cfg, &Selection::default(), None)
        .await
        .context("first backup")?;
    report_line(&say, &first);

    say.step(
        4,
        "Simulated users at work, and an insider who deletes mail for good",
    );
    simulate_activity(&emu, &say, &first).await?;

    say.step(
        5,
        "Second backup (incremental: delta links from the first snapshot)",
    );
    let second = exchange::backup(&repo, &graph, &cfg, &Selection::default(), None)
        .await
        .context("second backup")?;
    report_line(&say, &second);

    say.step(
        6,
        "A message the tenant no longer has, found in the first backup",
    );
    let found = find_deleted(&repo, &first, &second).await?;
    let code = match found {
        Some((snap, item, mailbox)) => {
            show_message(&say, &repo, &snap, &item, &mailbox).await?;
            say.step(
                7,
                "Restoring it into the mailbox (a new \"Restored <date>\" folder; nothing overwritten)",
            );
            let restored = restore_and_verify(&say, &repo, &graph, &snap, &item, &mailbox).await?;
            if g.json {
                output::print_json(&serde_json::json!({
                    "repository": repo_dir,
                    "passphrase": DEMO_PASSPHRASE,
                    "first": first,
                    "second": second,
                    "deletedMessage": {"snapshot": snap.id().0, "item": item},
                    "restore": restored,
                }))?;
            }
            if restored.failed() > 0 {
                exit::ERROR
            } else {
                exit::OK
            }
        }
        None => {
            eprintln!("error: no deleted message found between the two snapshots");
            exit::ERROR
        }
    };
    emu.shutdown().await;
    if !say.quiet {
        eprintln!("\nDone in {}.", output::secs(started.elapsed()));
        if dir_guard.is_none() {
            eprintln!(
                "Explore it: TENANTVAULT_PASSWORD={DEMO_PASSPHRASE} tenantvault --repo {} snapshots",
                repo_dir.display()
            );
        } else {
            eprintln!("(The temporary repository is removed; keep one with --demo-repo DIR.)");
        }
    }
    drop(dir_guard);
    Ok(code)
}

async fn create_repo(dir: &std::path::Path) -> Result<Repository> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(exit::usage(format!(
            "{} exists and is not empty",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let storage = Arc::new(LocalStorage::new(dir).context("repository storage")?);
    let cache = dir.parent().map(|p| p.join("cache"));
    let repo = Repository::init(
        storage.clone(),
        DEMO_PASSPHRASE,
        InitOptions {
            cache_dir: cache.clone(),
            ..InitOptions::default()
        },
    )
    .await
    .context("creating the repository")?;
    drop(repo);
    Repository::open(storage, DEMO_PASSPHRASE, OpenOptions { cache_dir: cache })
        .await
        .context("opening the repository")
}

fn report_line(say: &Say, r: &BackupReport) {
    let updated: u64 = r.mailboxes.iter().map(|m| m.messages_updated).sum();
    let removed: u64 = r.mailboxes.iter().map(|m| m.items_deleted).sum();
    say.line(&format!(
        "{} mailboxes: {} messages downloaded ({}), {} updated without download, {} removed — {} Graph requests in {}",
        r.mailboxes.len(),
        r.messages_downloaded(),
        output::bytes(r.bytes_downloaded()),
        updated,
        removed,
        r.requests,
        output::secs(r.elapsed)
    ));
    if r.failures() > 0 {
        say.line(&format!(
            "{} item(s) failed (listed in the snapshots)",
            r.failures()
        ));
    }
}

/// Let the simulated users work through the emulator's admin API (three days of activity:
/// new, read, flagged, moved and deleted mail, renamed folders), then an insider deletes part of
/// one mailbox and purges Recoverable Items, so the tenant keeps no copy.
async fn simulate_activity(emu: &Emulator, say: &Say, first: &BackupReport) -> Result<()> {
    let client = reqwest_client()?;
    let activity = admin(
        &client,
        emu,
        "scenarios/activity",
        serde_json::json!({"days": 3}),
    )
    .await?;
    let r = &activity["report"];
    let n = |k: &str| r.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    say.line(&format!(
        "3 simulated days: {} new messages, {} read/flagged/categorised, {} moved, {} deleted to Deleted Items, {} folders renamed",
        n("new"),
        n("modified"),
        n("moved"),
        n("deleted"),
        n("renamedFolders")
    ));
    if let Some(victim) = first
        .mailboxes
        .iter()
        .find(|m| m.error.is_none() && m.messages_downloaded > 0)
    {
        let insider = admin(
            &client,
            emu,
            "scenarios/insider",
            serde_json::json!({"user": victim.mailbox.id, "purgeRecoverable": true, "share": 0.3}),
        )
        .await?;
        say.line(&format!(
            "an insider deleted {} messages of {} and purged Recoverable Items ({} purged)",
            insider
                .get("deleted")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
            victim.mailbox.upn,
            insider
                .get("purged")
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0),
        ));
    }
    Ok(())
}

async fn admin(
    client: &reqwest::Client,
    emu: &Emulator,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value> {
    let url = format!("{}/_emulator/{path}", emu.base_url());
    let resp = client
        .post(&url)
        .json(&body)
        .send()
        .await
        .with_context(|| format!("calling the emulator's {path}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("emulator {path} failed: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or_default())
}

fn reqwest_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("HTTP client")
}

/// A message of the first backup that the tenant no longer has in any visible folder: absent
/// from the second snapshot, or moved to Deleted Items / Recoverable Items.
async fn find_deleted(
    repo: &Repository,
    first: &BackupReport,
    second: &BackupReport,
) -> Result<Option<(Snapshot, ItemRecord, String)>> {
    for m1 in &first.mailboxes {
        let Some(s1) = &m1.snapshot else { continue };
        let Some(s2) = second
            .mailboxes
            .iter()
            .find(|m| m.mailbox.id == m1.mailbox.id)
            .and_then(|m| m.snapshot.clone())
        else {
            continue;
        };
        let snap1 = repo.snapshot(s1).await?;
        let snap2 = repo.snapshot(&s2).await?;
        let items = exchange::find(&snap1, ItemFilter::messages());
        futures::pin_mut!(items);
        let mut fallback = None;
        while let Some(item) = items.try_next().await? {
            if item.path.starts_with("Deleted Items") || item.path.starts_with("Recoverable Items")
            {
                continue;
            }
            match snap2.item(&item.id).await? {
                None => return Ok(Some((snap1, item, m1.mailbox.upn.clone()))),
                Some(now)
                    if fallback.is_none()
                        && (now.path.starts_with("Deleted Items")
                            || now.path.starts_with("Recoverable Items")) =>
                {
                    fallback = Some(item);
                }
                Some(_) => {}
            }
        }
        if let Some(item) = fallback {
            return Ok(Some((snap1, item, m1.mailbox.upn.clone())));
        }
    }
    Ok(None)
}

/// Restores one message of `snap` into its mailbox (default destination: a new folder) and
/// reads it back through Graph to show that it is a real, received message again.
async fn restore_and_verify(
    say: &Say,
    repo: &Repository,
    graph: &GraphClient,
    snap: &Snapshot,
    item: &ItemRecord,
    mailbox: &str,
) -> Result<restore::RestoreReport> {
    let request = restore::RestoreRequest {
        item_ids: vec![item.id.clone()],
        now: chrono::Utc::now(),
        ..restore::RestoreRequest::default()
    };
    let plan = restore::plan(snap, &request)
        .await
        .context("planning the restore")?;
    let report = restore::run(repo, graph, &plan)
        .await
        .context("restoring the message")?;
    for outcome in &report.items {
        match (&outcome.status, &outcome.new_id) {
            (restore::Status::Restored | restore::Status::Replaced, Some(new_id)) => {
                let url = format!(
                    "users/{mailbox}/messages/{new_id}?$select=subject,isDraft,isRead,receivedDateTime"
                );
                let back: serde_json::Value = graph
                    .mailbox(mailbox)
                    .get(&url)
                    .await
                    .context("reading the restored message back")?;
                say.line(&format!("restored to {}", outcome.target_path));
                say.line(&format!(
                    "read back through Graph: subject {:?}, received {}, isDraft {}",
                    back["subject"].as_str().unwrap_or(""),
                    back["receivedDateTime"].as_str().unwrap_or("-"),
                    back["isDraft"]
                ));
            }
            (status, _) => say.line(&format!(
                "{}: {:?} {}",
                outcome.item_id,
                status,
                outcome.reason.clone().unwrap_or_default()
            )),
        }
    }
    Ok(report)
}

async fn show_message(
    say: &Say,
    repo: &Repository,
    snap: &Snapshot,
    item: &ItemRecord,
    mailbox: &str,
) -> Result<()> {
    let mime: Vec<bytes::Bytes> = repo.content_stream(item).try_collect().await?;
    let mime = mime.concat();
    say.line(&format!("mailbox  {mailbox}"));
    say.line(&format!("folder   {}", item.path));
    say.line(&format!("subject  {}", item.name));
    say.line(&format!(
        "from     {} {}",
        item.attrs
            .get(attr::FROM_NAME)
            .map(String::as_str)
            .unwrap_or(""),
        item.attrs
            .get(attr::FROM)
            .map(|a| format!("<{a}>"))
            .unwrap_or_default()
    ));
    say.line(&format!(
        "received {}",
        item.received
            .map(|d| d.to_rfc2822())
            .unwrap_or_else(|| "-".into())
    ));
    say.line(&format!(
        "found in snapshot {} (first backup), {} of MIME exactly as Graph served it; it begins:",
        snap.id().short(),
        output::bytes(mime.len() as u64)
    ));
    let text = String::from_utf8_lossy(&mime);
    for l in text.lines().take(14) {
        say.line(&format!("  | {}", l.chars().take(100).collect::<String>()));
    }
    Ok(())
}
