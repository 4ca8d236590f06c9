//! What a backup run reports: per mailbox and in total, plus a progress hook for the CLI.

use std::time::Duration;

use serde::Serialize;

use super::state::MailboxInfo;

/// An item (or a whole folder) that could not be backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    /// Item id (`msg:…`, `folder:…`, `event:…`).
    pub item_id: String,
    /// Why, with Graph's code and request id when there was one.
    pub reason: String,
}

/// Outcome of one mailbox.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MailboxReport {
    /// The mailbox.
    pub mailbox: MailboxInfo,
    /// Snapshot written (None when the mailbox failed before anything could be committed).
    pub snapshot: Option<String>,
    /// Folders in the mailbox.
    pub folders: u64,
    /// Messages whose MIME was downloaded in this run.
    pub messages_downloaded: u64,
    /// Messages whose JSON changed without a new download (read/flag/category changes, moves,
    /// renamed folders).
    pub messages_updated: u64,
    /// Items removed from the mailbox since the previous snapshot.
    pub items_deleted: u64,
    /// Events stored or updated.
    pub events: u64,
    /// Contacts stored or updated.
    pub contacts: u64,
    /// Content bytes downloaded (MIME and event attachments).
    pub bytes_downloaded: u64,
    /// Folders restarted from scratch after an expired delta token.
    pub delta_resets: u64,
    /// Checkpoints committed during the run.
    pub checkpoints: u64,
    /// Whether this run resumed from a checkpoint.
    pub resumed: bool,
    /// Items that failed (the snapshot was committed without them).
    pub failures: Vec<ItemFailure>,
    /// A failure of the whole mailbox (nothing or only a checkpoint committed).
    pub error: Option<String>,
    /// The user is gone from the tenant; this run only marked the last snapshot as departed.
    pub departed: bool,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Outcome of a run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupReport {
    /// One entry per mailbox (backed up or marked departed), in selection order.
    pub mailboxes: Vec<MailboxReport>,
    /// `--mailbox` values that matched nobody.
    pub not_found: Vec<String>,
    /// Graph requests made (client counters).
    pub requests: u64,
    /// Requests answered 429/503 (retried).
    pub throttled: u64,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

impl BackupReport {
    /// Number of failed items across mailboxes (plus failed mailboxes).
    pub fn failures(&self) -> usize {
        self.mailboxes
            .iter()
            .map(|m| m.failures.len() + usize::from(m.error.is_some()))
            .sum()
    }

    /// Messages downloaded in total.
    pub fn messages_downloaded(&self) -> u64 {
        self.mailboxes.iter().map(|m| m.messages_downloaded).sum()
    }

    /// Bytes downloaded in total.
    pub fn bytes_downloaded(&self) -> u64 {
        self.mailboxes.iter().map(|m| m.bytes_downloaded).sum()
    }
}

/// Progress callbacks (called from many tasks; keep them cheap).
pub trait Progress: Send + Sync {
    /// The run knows how many mailboxes it will process.
    fn planned(&self, _mailboxes: usize) {}
    /// A mailbox starts.
    fn mailbox_started(&self, _mailbox: &MailboxInfo) {}
    /// Items were stored (`bytes` downloaded for them).
    fn items(&self, _count: u64, _bytes: u64) {}
    /// A mailbox is done (committed, failed or marked departed).
    fn mailbox_finished(&self, _report: &MailboxReport) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
