//! Knobs of a drive backup run and which drives it covers.

use std::time::Duration;

/// Tuning of a drive backup run.
#[derive(Debug, Clone)]
pub struct DriveBackupConfig {
    /// Delta page size (`$top`).
    pub page_size: u32,
    /// Drives backed up at once (all under the tenant's SharePoint resource-unit budget).
    pub parallel_drives: usize,
    /// Small files (≤ 1 MiB) downloaded at once within one drive (1 = one at a time).
    pub parallel_downloads: usize,
    /// Earlier versions kept per file (0 = only the current version).
    pub versions: u32,
    /// Read each new or changed item's sharing permissions (5 resource units each).
    pub permissions: bool,
    /// SharePoint runs also back up each site's lists and list items.
    pub lists: bool,
    /// Commit a checkpoint after at least this many delta items …
    pub checkpoint_items: u64,
    /// … or, when more, this share (percent) of the items already in the snapshot (a
    /// checkpoint re-writes the whole item list, so a fixed interval would cost O(N²)) …
    pub checkpoint_growth_percent: u64,
    /// … or after this much time (never sooner than 20× the previous checkpoint's duration).
    pub checkpoint_interval: Duration,
}

impl Default for DriveBackupConfig {
    fn default() -> Self {
        Self {
            page_size: 500,
            parallel_drives: 4,
            parallel_downloads: 4,
            versions: 0,
            permissions: true,
            lists: true,
            checkpoint_items: 500,
            checkpoint_growth_percent: 25,
            checkpoint_interval: Duration::from_secs(300),
        }
    }
}

/// Which drives a run covers. Empty `users` and `sites` mean every OneDrive (when
/// `onedrive`) and every site's libraries (when `sharepoint`).
#[derive(Debug, Clone, Default)]
pub struct DriveSelection {
    /// Include users' OneDrives.
    pub onedrive: bool,
    /// Include SharePoint sites' document libraries.
    pub sharepoint: bool,
    /// Only these users (id or UPN).
    pub users: Vec<String>,
    /// Only these sites (id, name, display name or web URL).
    pub sites: Vec<String>,
}

impl DriveSelection {
    /// Every OneDrive.
    pub fn onedrive() -> Self {
        Self {
            onedrive: true,
            ..Self::default()
        }
    }

    /// Every SharePoint document library.
    pub fn sharepoint() -> Self {
        Self {
            sharepoint: true,
            ..Self::default()
        }
    }
}
