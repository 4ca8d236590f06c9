//! A whole Exchange backup run: resolve the selection against the directory, mark departed
//! mailboxes, and back up the selected mailboxes in parallel.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::StreamExt;
use tenantvault_graph::{GraphClient, GraphError};
use tenantvault_repo::{
    BackupMode, BackupOptions, OwnerRef, ParentSelect, Repository, SnapshotFilter,
};

use super::config::BackupConfig;
use super::graph_io;
use super::layout::WORKLOAD;
use super::mailbox::backup_mailbox;
use super::report::{BackupReport, MailboxReport, NoProgress, Progress};
use super::select::{Selection, plan};
use super::state::{Departure, MailboxState};

/// Errors that stop a run before any mailbox is backed up.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Listing the directory failed (credentials, permissions, network).
    #[error("listing the tenant's users: {0}")]
    Directory(#[source] GraphError),
    /// `--mailbox` values that match no user and no backed-up mailbox.
    #[error("no such mailbox: {}", .0.join(", "))]
    UnknownMailbox(Vec<String>),
    /// `--group` values that match no group.
    #[error("no such group: {}", .0.join(", "))]
    UnknownGroup(Vec<String>),
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// Graph failed outside a mailbox.
    #[error(transparent)]
    Graph(GraphError),
}

/// Back up the selected mailboxes. Item and mailbox failures are in the report; only problems
/// that stop the whole run (bad selection, directory unreadable, repository unusable) are errors,
/// and those are raised before anything is written.
pub async fn backup(
    repo: &Repository,
    graph: &GraphClient,
    cfg: &BackupConfig,
    selection: &Selection,
    progress: Option<&dyn Progress>,
) -> Result<BackupReport, ExchangeError> {
    let progress: &dyn Progress = progress.unwrap_or(&NoProgress);
    let started = Instant::now();
    let metrics_before = graph.metrics();
    let users = graph_io::list_users(graph)
        .await
        .map_err(ExchangeError::Directory)?;
    let mut group_members = BTreeMap::new();
    let mut unknown_groups = Vec::new();
    for g in &selection.groups {
        match graph_io::group_member_ids(graph, g)
            .await
            .map_err(ExchangeError::Graph)?
        {
            Some(members) => {
                group_members.insert(g.clone(), members);
            }
            None => unknown_groups.push(g.clone()),
        }
    }
    if !unknown_groups.is_empty() {
        return Err(ExchangeError::UnknownGroup(unknown_groups));
    }
    // Owners backed up before, with their latest state.
    let snaps = repo
        .list_snapshots(SnapshotFilter {
            workload: Some(WORKLOAD.to_string()),
            owner: None,
            include_partial: true,
        })
        .await?;
    let known: BTreeSet<String> = snaps.iter().map(|s| s.owner.owner.clone()).collect();
    let the_plan = plan(&users, selection, &group_members, &known);
    if !the_plan.not_found.is_empty() {
        return Err(ExchangeError::UnknownMailbox(the_plan.not_found));
    }
    progress.planned(the_plan.mailboxes.len() + the_plan.departed.len());

    let mut reports: Vec<MailboxReport> = Vec::new();
    for owner in &the_plan.departed {
        if let Some(r) = mark_departed(repo, owner).await? {
            progress.mailbox_finished(&r);
            reports.push(r);
        }
    }
    let mut indexed: Vec<(usize, MailboxReport)> =
        futures::stream::iter(the_plan.mailboxes.into_iter().enumerate())
            .map(|(i, mb)| async move { (i, backup_mailbox(repo, graph, cfg, mb, progress).await) })
            .buffer_unordered(cfg.parallel_mailboxes.max(1))
            .collect()
            .await;
    indexed.sort_by_key(|(i, _)| *i);
    reports.extend(indexed.into_iter().map(|(_, r)| r));
    let metrics_after = graph.metrics();
    Ok(BackupReport {
        mailboxes: reports,
        not_found: Vec::new(),
        requests: metrics_after
            .requests
            .saturating_sub(metrics_before.requests),
        throttled: metrics_after
            .throttled
            .saturating_sub(metrics_before.throttled),
        elapsed: started.elapsed(),
    })
}

/// Write one more snapshot for a mailbox whose user left the tenant: everything carried over,
/// `departed` set. Nothing happens when the latest snapshot already says so.
async fn mark_departed(
    repo: &Repository,
    owner: &str,
) -> Result<Option<MailboxReport>, ExchangeError> {
    let started = Instant::now();
    let session = repo
        .begin_backup(
            OwnerRef::new(WORKLOAD, owner),
            BackupOptions {
                parent: ParentSelect::Latest,
                mode: BackupMode::Incremental,
                ..BackupOptions::default()
            },
        )
        .await?;
    let Some(parent) = session.parent() else {
        return Ok(None);
    };
    let Ok(mut state) = MailboxState::from_json(parent.state()) else {
        return Ok(None);
    };
    if state.departed.is_some() {
        return Ok(None);
    }
    state.departed = Some(Departure {
        noticed_at: chrono::Utc::now(),
        deleted_at: None,
    });
    let mailbox = state.mailbox.clone();
    tracing::info!(mailbox = %mailbox.upn, "user no longer in the tenant: marking its mailbox departed");
    let summary = session.commit(state.to_json()).await?;
    Ok(Some(MailboxReport {
        mailbox,
        snapshot: Some(summary.id.0),
        departed: true,
        elapsed: started.elapsed(),
        ..MailboxReport::default()
    }))
}
