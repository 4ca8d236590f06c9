//! Point-in-time restore of Exchange items (messages, events, contacts, folders) from a mailbox
//! snapshot into a mailbox through Graph.
//!
//! * [`plan`] picks the items (by id, or by an [`ItemFilter`]) from one snapshot and fixes the
//!   target; it reads only item lists, never content.
//! * [`run`] writes them, a bounded number at a time within the client's per-mailbox limits, and
//!   reports every item ([`ItemOutcome`]). One item failing never stops the others.
//!
//! Targets ([`Destination`]): a new top-level folder `Restored <date>` holding the original folder
//! paths (the default, so nothing is overwritten), or the original folders (`InPlace`; missing
//! folders are recreated, well-known folders are mapped by name); either in the original mailbox
//! or in another one. Messages are created from JSON, not MIME, so they are not drafts and keep
//! read state, flags, categories, importance and dates (see [`message`]). Attachments under 3 MB
//! go in the create request or by `POST …/attachments`; larger ones through upload sessions.
//! An attached message becomes a real `itemAttachment` again when it carries no files of its own
//! and is under 3 MB; otherwise it is attached as its exact `.eml` bytes. Events go to the target's primary calendar, contacts to its default contacts folder.
//!
//! ```no_run
//! # async fn demo(repo: tenantvault_repo::Repository, graph: tenantvault_graph::GraphClient) -> Result<(), Box<dyn std::error::Error>> {
//! use tenantvault_workloads::exchange::{ItemFilter, restore};
//! let snap = repo.snapshot("3fa4").await?;
//! let req = restore::RestoreRequest {
//!     filter: ItemFilter { subject: Some("invoice".into()), ..ItemFilter::default() },
//!     ..restore::RestoreRequest::default()
//! };
//! let plan = restore::plan(&snap, &req).await?;
//! let report = restore::run(&repo, &graph, &plan).await?;
//! println!("{} restored, {} failed", report.restored(), report.failed());
//! # Ok(()) }
//! ```

pub mod message;
pub mod pim;
mod series;
pub mod target;

mod run;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use tenantvault_repo::{ItemRecord, Snapshot};

use super::filter::ItemFilter;
use super::layout::{WORKLOAD, kind};
use super::state::{MailboxInfo, MailboxState};

pub use run::run;

/// Where restored items go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Destination {
    /// A new top-level folder (default name `Restored <YYYY-MM-DD HH:MM>` UTC) holding the
    /// original folder paths.
    #[default]
    NewFolder,
    /// A top-level folder with this name (created if missing).
    Folder(String),
    /// The original folders (recreated when deleted; conflicts decided by [`ConflictPolicy`]).
    InPlace,
}

/// What to do when the target folder already holds a message with the same `internetMessageId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictPolicy {
    /// Leave the existing message, report the item as skipped.
    #[default]
    Skip,
    /// Restore anyway (two copies).
    Copy,
    /// Restore, then delete the existing message(s).
    Replace,
}

impl std::str::FromStr for ConflictPolicy {
    type Err = RestoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "skip" => Ok(ConflictPolicy::Skip),
            "copy" => Ok(ConflictPolicy::Copy),
            "replace" => Ok(ConflictPolicy::Replace),
            other => Err(RestoreError::Invalid(format!(
                "conflict policy {other:?}: use skip, copy or replace"
            ))),
        }
    }
}

/// What to restore and where.
#[derive(Debug, Clone)]
pub struct RestoreRequest {
    /// Restore exactly these items (`msg:…`, `event:…`, `contact:…`, `folder:…`); when empty,
    /// every item matching `filter`.
    pub item_ids: Vec<String>,
    /// Selection when `item_ids` is empty (default: everything).
    pub filter: ItemFilter,
    /// Target mailbox (UPN, mail or user id); `None`: the snapshot's own mailbox.
    pub to_mailbox: Option<String>,
    /// Target folder choice.
    pub destination: Destination,
    /// Conflict handling.
    pub conflict: ConflictPolicy,
    /// Items written at once (the Graph client's per-mailbox limiter caps it further).
    pub parallel: usize,
    /// The clock time used in the default folder name.
    pub now: DateTime<Utc>,
}

impl Default for RestoreRequest {
    fn default() -> Self {
        RestoreRequest {
            item_ids: Vec::new(),
            filter: ItemFilter::default(),
            to_mailbox: None,
            destination: Destination::NewFolder,
            conflict: ConflictPolicy::Skip,
            parallel: 4,
            now: Utc::now(),
        }
    }
}

/// Errors that stop a restore before any item is written (item failures are reported in
/// [`RestoreReport`] instead).
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Reading the repository failed.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// The snapshot's state is not an Exchange mailbox state.
    #[error(transparent)]
    State(#[from] super::state::StateError),
    /// The snapshot is not an Exchange snapshot.
    #[error("snapshot {0} is not an Exchange snapshot (workload {1})")]
    NotExchange(String, String),
    /// An item id given does not exist in the snapshot.
    #[error("snapshot {snapshot} has no item {item}")]
    NoSuchItem {
        /// Snapshot id.
        snapshot: String,
        /// Item id asked for.
        item: String,
    },
    /// Bad request values.
    #[error("{0}")]
    Invalid(String),
    /// Graph failed while preparing the target (mailbox, container folder).
    #[error("preparing the target mailbox {mailbox}: {source}")]
    Target {
        /// Target mailbox.
        mailbox: String,
        /// Cause.
        source: tenantvault_graph::GraphError,
    },
}

/// A checked restore: the items and the target.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    /// The snapshot restored from.
    pub snapshot: Snapshot,
    /// Whose mailbox the snapshot holds.
    pub source: MailboxInfo,
    /// The mailbox written to (UPN or id).
    pub target_mailbox: String,
    /// True when the target is the snapshot's own mailbox.
    pub same_mailbox: bool,
    /// Target folder name when restoring into a new folder.
    pub container: Option<String>,
    /// Conflict handling.
    pub conflict: ConflictPolicy,
    /// Items written at once.
    pub parallel: usize,
    /// Items to restore (folders, messages, events, contacts), in id order.
    pub items: Vec<ItemRecord>,
    pub(crate) state: MailboxState,
}

impl RestorePlan {
    /// Count of items per kind.
    pub fn count(&self, item_kind: &str) -> usize {
        self.items.iter().filter(|i| i.kind == item_kind).count()
    }
}

/// The fate of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created in the target.
    Restored,
    /// Created, and the conflicting existing item(s) deleted.
    Replaced,
    /// Not written (conflict with `skip`, or covered by its restored series).
    Skipped,
    /// Failed; see `error`.
    Failed,
}

/// One line of the restore report.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemOutcome {
    /// Item id in the snapshot.
    pub item_id: String,
    /// Item kind.
    pub kind: String,
    /// Subject / display name.
    pub name: String,
    /// Folder path in the snapshot.
    pub source_path: String,
    /// Where it went (folder path in the target, with the container first).
    pub target_path: String,
    /// Outcome.
    pub status: Status,
    /// Graph id of the created item.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_id: Option<String>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Graph error code, when Graph refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Attachments written.
    #[serde(skip_serializing_if = "is_zero")]
    pub attachments: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The whole restore, item by item.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Snapshot id.
    pub snapshot: String,
    /// Source mailbox (UPN).
    pub source_mailbox: String,
    /// Target mailbox.
    pub target_mailbox: String,
    /// The new top-level folder, when used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Folders created in the target.
    pub folders_created: Vec<String>,
    /// Every item.
    pub items: Vec<ItemOutcome>,
}

impl RestoreReport {
    fn count(&self, s: Status) -> usize {
        self.items.iter().filter(|i| i.status == s).count()
    }
    /// Items restored (including replaced).
    pub fn restored(&self) -> usize {
        self.count(Status::Restored) + self.count(Status::Replaced)
    }
    /// Items skipped.
    pub fn skipped(&self) -> usize {
        self.count(Status::Skipped)
    }
    /// Items failed.
    pub fn failed(&self) -> usize {
        self.count(Status::Failed)
    }
}

/// The default container name for a restore started at `now`.
pub fn default_folder_name(now: DateTime<Utc>) -> String {
    format!("Restored {}", now.format("%Y-%m-%d %H:%M"))
}

fn restorable(kind_: &str) -> bool {
    matches!(
        kind_,
        kind::MESSAGE | kind::EVENT | kind::CONTACT | kind::MAIL_FOLDER
    )
}

/// Choose the items of `snap` to restore and fix the target. Reads item lists only.
pub async fn plan(snap: &Snapshot, request: &RestoreRequest) -> Result<RestorePlan, RestoreError> {
    let summary = snap.summary();
    if summary.owner.workload != WORKLOAD {
        return Err(RestoreError::NotExchange(
            summary.id.0.clone(),
            summary.owner.workload.clone(),
        ));
    }
    let state = MailboxState::from_json(snap.state())?;
    if request.parallel == 0 {
        return Err(RestoreError::Invalid("parallel must be at least 1".into()));
    }
    let mut items = Vec::new();
    if request.item_ids.is_empty() {
        let filter = request.filter.clone();
        let mut stream = std::pin::pin!(snap.items());
        while let Some(rec) = stream.try_next().await? {
            if restorable(&rec.kind) && filter.matches(&rec) {
                items.push(rec);
            }
        }
    } else {
        for id in &request.item_ids {
            let rec = snap
                .item(id)
                .await?
                .ok_or_else(|| RestoreError::NoSuchItem {
                    snapshot: summary.id.0.clone(),
                    item: id.clone(),
                })?;
            if !restorable(&rec.kind) {
                return Err(RestoreError::Invalid(format!(
                    "item {id} is a {} and cannot be restored",
                    rec.kind
                )));
            }
            items.push(rec);
        }
        items.sort_by(|a, b| a.id.cmp(&b.id));
        items.dedup_by(|a, b| a.id == b.id);
    }
    let source = state.mailbox.clone();
    let (target_mailbox, same_mailbox) = match &request.to_mailbox {
        Some(t) if !t.trim().is_empty() => {
            let t = t.trim();
            let same = t.eq_ignore_ascii_case(&source.id)
                || t.eq_ignore_ascii_case(&source.upn)
                || source
                    .mail
                    .as_deref()
                    .is_some_and(|m| m.eq_ignore_ascii_case(t));
            (t.to_string(), same)
        }
        Some(_) => return Err(RestoreError::Invalid("--to-mailbox is empty".into())),
        None => (source.id.clone(), true),
    };
    let container = match &request.destination {
        Destination::NewFolder => Some(default_folder_name(request.now)),
        Destination::Folder(name) => {
            let name = name.trim();
            if name.is_empty() || name.contains('/') {
                return Err(RestoreError::Invalid(format!(
                    "target folder name {name:?} must be non-empty and without '/'"
                )));
            }
            Some(name.to_string())
        }
        Destination::InPlace => None,
    };
    Ok(RestorePlan {
        snapshot: snap.clone(),
        source,
        target_mailbox,
        same_mailbox,
        container,
        conflict: request.conflict,
        parallel: request.parallel,
        items,
        state,
    })
}
