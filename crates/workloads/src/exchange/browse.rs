//! Browsing Exchange snapshots: which snapshots a mailbox has, and the items of one snapshot
//! that match a filter (streamed over the sorted item lists; no content or metadata reads).

use futures::{Stream, TryStreamExt};
use tenantvault_repo::{Error, ItemRecord, Repository, Snapshot, SnapshotFilter, SnapshotSummary};

use super::filter::ItemFilter;
use super::layout::WORKLOAD;
use super::state::{MailboxInfo, MailboxState};

/// An Exchange snapshot with the mailbox it belongs to.
#[derive(Debug, Clone)]
pub struct MailboxSnapshot {
    /// The snapshot head.
    pub summary: SnapshotSummary,
    /// Whose mailbox (from the snapshot state).
    pub mailbox: MailboxInfo,
    /// The user had left the tenant when this snapshot was written.
    pub departed: bool,
}

/// Errors while choosing a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// No snapshot for that mailbox.
    #[error("no Exchange snapshot for mailbox {0}")]
    NoSnapshot(String),
    /// Neither a snapshot nor a mailbox was given.
    #[error("give a snapshot id or --mailbox to pick that mailbox's latest snapshot")]
    NothingSelected,
    /// The snapshot is not an Exchange snapshot.
    #[error("snapshot {0} is not an Exchange snapshot (workload {1})")]
    NotExchange(String, String),
}

fn names(mb: &MailboxInfo, key: &str) -> bool {
    mb.id.eq_ignore_ascii_case(key)
        || mb.upn.eq_ignore_ascii_case(key)
        || mb
            .mail
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case(key))
}

/// Complete Exchange snapshots, oldest first, optionally only those of the mailbox named by
/// `mailbox` (user id, UPN or mail address).
pub async fn mailbox_snapshots(
    repo: &Repository,
    mailbox: Option<&str>,
) -> Result<Vec<MailboxSnapshot>, tenantvault_repo::Error> {
    let summaries = repo
        .list_snapshots(SnapshotFilter {
            workload: Some(WORKLOAD.to_string()),
            owner: None,
            include_partial: false,
        })
        .await?;
    let mut out = Vec::new();
    for s in summaries {
        // The owner id is the user id: skip opening snapshots that cannot match.
        if let Some(key) = mailbox
            && !key.contains('@')
            && !s.owner.owner.eq_ignore_ascii_case(key)
        {
            continue;
        }
        let snap = match repo.snapshot(&s.id.0).await {
            Ok(snap) => snap,
            // An erased mailbox can be neither read nor matched by address: skip it, so that
            // the other mailboxes stay browsable; asked for by its id, say that it was erased.
            Err(e @ (Error::Erased { .. } | Error::OwnerKeyMissing { .. })) => {
                if mailbox.is_some_and(|k| s.owner.owner.eq_ignore_ascii_case(k)) {
                    return Err(e);
                }
                continue;
            }
            Err(e) => return Err(e),
        };
        let state = MailboxState::from_json(snap.state()).ok();
        let (info, departed) = match state {
            Some(st) => (st.mailbox, st.departed.is_some()),
            None => (
                MailboxInfo {
                    id: s.owner.owner.clone(),
                    ..MailboxInfo::default()
                },
                false,
            ),
        };
        if mailbox.is_some_and(|k| !names(&info, k)) {
            continue;
        }
        out.push(MailboxSnapshot {
            summary: s,
            mailbox: info,
            departed,
        });
    }
    Ok(out)
}

/// The snapshot to browse: `snapshot` (id or unique prefix) if given, else the latest complete
/// snapshot of `mailbox`.
pub async fn resolve_snapshot(
    repo: &Repository,
    snapshot: Option<&str>,
    mailbox: Option<&str>,
) -> Result<Snapshot, BrowseError> {
    if let Some(id) = snapshot.filter(|s| *s != "latest") {
        let snap = repo.snapshot(id).await?;
        if snap.summary().owner.workload != WORKLOAD {
            return Err(BrowseError::NotExchange(
                snap.id().0.clone(),
                snap.summary().owner.workload.clone(),
            ));
        }
        return Ok(snap);
    }
    let Some(mb) = mailbox else {
        return Err(BrowseError::NothingSelected);
    };
    let all = mailbox_snapshots(repo, Some(mb)).await?;
    let last = all
        .last()
        .ok_or_else(|| BrowseError::NoSnapshot(mb.to_string()))?;
    Ok(repo.snapshot(&last.summary.id.0).await?)
}

/// The items of `snap` matching `filter`, in item-id order.
pub fn find(
    snap: &Snapshot,
    filter: ItemFilter,
) -> impl Stream<Item = Result<ItemRecord, tenantvault_repo::Error>> + Send + 'static {
    snap.items()
        .try_filter(move |r| futures::future::ready(filter.matches(r)))
}
