//! OneDrive and SharePoint document libraries: incremental backup with verified content,
//! export to a directory tree and restore through Graph.
//!
//! # Snapshots
//!
//! One snapshot per drive and run: `OwnerRef { workload: "drive", owner: <drive id> }`. The
//! snapshot `state` is a [`DriveState`]: the drive, its user (OneDrive) or site (SharePoint),
//! and the delta link the next run continues from.
//!
//! # Item layout
//!
//! | item id | kind | path | name | dates | version | content | metadata | attrs |
//! |---|---|---|---|---|---|---|---|---|
//! | `d:<item id>` | `folder` | path of the parent folder (`""` below the root) | folder name (`""` for the root) | `fileSystemInfo` created/modified | eTag | none | driveItem JSON (+ `permissions`) | `itemId`, `parentId`, `eTag`, `fsCreated`, `fsModified`, `root` = `true` on the root |
//! | `f:<item id>` | `file` | path of the parent folder | file name | `fileSystemInfo` created/modified | quickXorHash (else cTag/eTag) | the file's bytes, verified against `quickXorHash` and `size` | driveItem JSON without the download URL (+ `permissions`) | `itemId`, `parentId`, `eTag`, `cTag`, `quickXorHash`, `mimeType`, `fsCreated`, `fsModified`, `versions` (ids of stored earlier versions), `hashVerified` = `false` when Graph published no hash |
//! | `v:<item id>:<version id>` | `fileVersion` | the file's folder path | file name | modified = version's `lastModifiedDateTime` | version id | the version's bytes (size-checked) | `driveItemVersion` JSON | `itemId` (the file), `versionId`, `parentId` |
//!
//! Paths are folder names below the root joined with `/` (a `/` or `%` inside a name is
//! escaped as `%2F` / `%25`). Folder ids sort before file ids, so a run reads only the folder
//! records of the previous snapshot to rebuild the folder tree.
//!
//! # Incremental forever
//!
//! Drive delta with the token from the previous snapshot; unchanged content (same id, size and
//! QuickXorHash) is never downloaded again; renames and moves of folders only re-path the
//! records below them; deleted folders remove their subtree; a 410 resync enumerates again and
//! deletes what the server no longer lists, still reusing unchanged content. An interrupted run
//! leaves a checkpoint; the next run restarts the round from the last complete delta link and
//! recognises every item already stored.

mod backup;
mod cadence;
pub mod config;
pub mod export;
pub mod export_zip;
pub mod fetch;
pub mod layout;
pub mod lists;
pub mod lists_restore;
mod parallel;
pub mod quickxor;
pub mod report;
pub mod restore;
pub mod restore_perms;
mod run;
pub mod state;
pub mod tree;

pub use backup::DriveError;
pub use config::{DriveBackupConfig, DriveSelection};
pub use export::{ExportError, ExportOptions, ExportReport, RenamedEntry, export, safe_name};
pub use export_zip::export_zip;
pub use lists::{ListsExportReport, ListsReport, ListsState, backup_site_lists, export_lists};
pub use lists_restore::{
    ListTarget, ListsRestoreError, ListsRestoreOptions, ListsRestoreReport, restore_lists,
};
pub use quickxor::QuickXorHash;
pub use report::{
    DriveBackupReport, DriveItemFailure, DriveProgress, DriveReport, NoDriveProgress,
};
pub use restore::{Conflict, RestoreError, RestoreOptions, RestoreReport, RestoreTarget, restore};
pub use run::{DriveRunError, backup, onedrives, site_libraries};
pub use state::{DriveInfo, DriveKind, DriveState};
