//! What a drive backup run reports.

use std::time::Duration;

use serde::Serialize;

use super::state::DriveInfo;

/// An item that could not be backed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveItemFailure {
    /// Item id in the snapshot (`f:…`, `d:…`, `v:…`).
    pub item_id: String,
    /// Why.
    pub reason: String,
}

/// Outcome of one drive.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveReport {
    /// The drive.
    pub drive: DriveInfo,
    /// Snapshot written (None when nothing could be committed).
    pub snapshot: Option<String>,
    /// Delta items processed.
    pub delta_items: u64,
    /// Delta pages read.
    pub delta_pages: u64,
    /// Files whose content was downloaded (and verified).
    pub files_downloaded: u64,
    /// Content bytes downloaded.
    pub bytes_downloaded: u64,
    /// Files and folders whose record changed without a download (rename, move, metadata).
    pub items_updated: u64,
    /// Items removed since the previous snapshot.
    pub items_deleted: u64,
    /// Earlier versions downloaded.
    pub versions_downloaded: u64,
    /// The delta token had expired and the drive was enumerated again (410 resync).
    pub resynced: bool,
    /// Checkpoints committed.
    pub checkpoints: u64,
    /// Items that failed (the snapshot lists them too).
    pub failures: Vec<DriveItemFailure>,
    /// A failure of the whole drive.
    pub error: Option<String>,
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
pub struct DriveBackupReport {
    /// One entry per drive.
    pub drives: Vec<DriveReport>,
    /// One entry per SharePoint site whose lists were backed up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lists: Vec<super::lists::ListsReport>,
    /// Graph requests made.
    pub requests: u64,
    /// Requests answered 429/503.
    pub throttled: u64,
    /// Wall time.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

impl DriveBackupReport {
    /// Failed items plus failed drives.
    pub fn failures(&self) -> usize {
        self.drives
            .iter()
            .map(|d| d.failures.len() + usize::from(d.error.is_some()))
            .sum::<usize>()
            + self
                .lists
                .iter()
                .map(|l| l.failures.len() + usize::from(l.error.is_some()))
                .sum::<usize>()
    }

    /// Files downloaded in total.
    pub fn files_downloaded(&self) -> u64 {
        self.drives.iter().map(|d| d.files_downloaded).sum()
    }

    /// Bytes downloaded in total.
    pub fn bytes_downloaded(&self) -> u64 {
        self.drives.iter().map(|d| d.bytes_downloaded).sum()
    }
}

/// Progress callbacks (called from many tasks; keep them cheap).
pub trait DriveProgress: Send + Sync {
    /// The run knows how many drives it will process.
    fn planned(&self, _drives: usize) {}
    /// Files were stored (`bytes` downloaded for them).
    fn files(&self, _count: u64, _bytes: u64) {}
    /// A drive is done.
    fn drive_finished(&self, _report: &DriveReport) {}
}

/// A [`DriveProgress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDriveProgress;

impl DriveProgress for NoDriveProgress {}
