//! Restore of a drive snapshot (a file, a folder or the whole drive) through Graph: to a new
//! folder (default), to the original location, or into another drive (another user's OneDrive
//! or another site's library). Folders are created or merged; files go up by `PUT` when small
//! and by an upload session (fragments in multiples of 320 KiB, resumed from
//! `nextExpectedRanges`) when large; `fileSystemInfo` timestamps are set on every file; the
//! uploaded file's QuickXorHash is checked against the one recorded at backup. On request the
//! stored sharing permissions are re-created (`restore_perms.rs`).

use std::collections::HashMap;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use tenantvault_graph::{
    DRIVE_FRAGMENT_UNIT, DriveItem, FileSource, GraphClient, GraphError, UploadTarget,
};
use tenantvault_repo::{ItemRecord, Repository, Snapshot};
use tokio::io::AsyncWriteExt;

use super::layout::{
    ATTR_FS_CREATED, ATTR_FS_MODIFIED, ATTR_QXH, KIND_FILE, KIND_FOLDER, full_path,
    unescape_segment,
};
use super::quickxor::same_hash;
use super::state::DriveState;

/// Files up to this size are uploaded with one `PUT` (Graph's documented simple-upload limit).
pub const SMALL_FILE_LIMIT: u64 = 4 * 1024 * 1024;

/// What to do when a file of the same name exists at the destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Conflict {
    /// Leave the existing file, count the restored one as skipped.
    #[default]
    Skip,
    /// Overwrite the existing file (it keeps its id; a new version is created).
    Replace,
    /// Upload under a new name (`name 1.ext`).
    Rename,
}

impl Conflict {
    fn behavior(self) -> &'static str {
        match self {
            Conflict::Skip => "fail",
            Conflict::Replace => "replace",
            Conflict::Rename => "rename",
        }
    }
}

impl std::str::FromStr for Conflict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skip" => Ok(Conflict::Skip),
            "replace" => Ok(Conflict::Replace),
            "rename" => Ok(Conflict::Rename),
            _ => Err(format!(
                "conflict must be skip, replace or rename, not {s:?}"
            )),
        }
    }
}

/// Where restored items go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreTarget {
    /// A new folder in the root of the original drive (name given, or `Restored <time>`).
    NewFolder(Option<String>),
    /// The original paths in the original drive (folders merged).
    Original,
    /// A drive by id (another user's OneDrive, another library), into a new folder in its root
    /// (name given, or `Restored <time>`).
    Drive {
        /// Destination drive id.
        drive_id: String,
        /// Folder name in its root.
        folder: Option<String>,
    },
}

/// What to restore and how.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// A file or folder path in the snapshot (`A/B` or `A/b.txt`); empty = the whole drive.
    pub path: String,
    /// Destination.
    pub target: RestoreTarget,
    /// Name clashes.
    pub conflict: Conflict,
    /// Upload-session fragment size (a multiple of 320 KiB).
    pub chunk_size: usize,
    /// Files above this size use an upload session.
    pub small_file_limit: u64,
    /// Re-create the stored sharing permissions on restored files and folders (best effort).
    pub permissions: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            path: String::new(),
            target: RestoreTarget::NewFolder(None),
            conflict: Conflict::Skip,
            chunk_size: 10 * DRIVE_FRAGMENT_UNIT,
            small_file_limit: SMALL_FILE_LIMIT,
            permissions: false,
        }
    }
}

/// Outcome of a restore.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Destination drive.
    pub drive_id: String,
    /// Folder everything went into (`""` = the drive root).
    pub folder: String,
    /// Files uploaded.
    pub files: u64,
    /// Files uploaded through upload sessions.
    pub large_files: u64,
    /// Folders created.
    pub folders_created: u64,
    /// Files left alone because the name existed (`--conflict skip`).
    pub skipped: Vec<String>,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Files that could not be restored, with the reason.
    pub failed: Vec<(String, String)>,
    /// Sharing permissions re-created (with `permissions`).
    pub permissions_restored: u64,
    /// Sharing permissions that could not be re-created: (path, what and why).
    pub permissions_failed: Vec<(String, String)>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Errors that stop a restore before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The snapshot is not a drive snapshot.
    #[error("snapshot {0} is not a OneDrive/SharePoint snapshot")]
    NotADriveSnapshot(String),
    /// The path is not in the snapshot.
    #[error("nothing at {0:?} in the snapshot")]
    NoSuchPath(String),
    /// Invalid options.
    #[error("{0}")]
    Invalid(String),
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// Graph failed while preparing the destination.
    #[error(transparent)]
    Graph(#[from] GraphError),
}

/// Percent-encodes one path segment for Graph's `items/{id}:/{name}:` addressing.
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~()!'".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(p, _)| p)
}

struct Restorer<'a> {
    repo: &'a Repository,
    snap: &'a Snapshot,
    graph: &'a GraphClient,
    opts: &'a RestoreOptions,
    drive: String,
    /// Destination folder id by relative folder path (`""` = the base folder).
    folders: HashMap<String, String>,
    report: RestoreReport,
}

/// Restores from `snap` (a drive snapshot) according to `opts`.
pub async fn restore(
    repo: &Repository,
    graph: &GraphClient,
    snap: &Snapshot,
    opts: &RestoreOptions,
) -> Result<RestoreReport, RestoreError> {
    let started = Instant::now();
    let state = DriveState::from_json(snap.state())
        .ok_or_else(|| RestoreError::NotADriveSnapshot(snap.id().0.clone()))?;
    if opts.chunk_size == 0 || !opts.chunk_size.is_multiple_of(DRIVE_FRAGMENT_UNIT) {
        return Err(RestoreError::Invalid(format!(
            "chunk size must be a multiple of {DRIVE_FRAGMENT_UNIT} bytes"
        )));
    }
    let sel = opts.path.trim_matches('/').to_string();
    let inside = |p: &str| sel.is_empty() || p == sel || p.starts_with(&format!("{sel}/"));
    // Collect the selection (folders first, by depth).
    let mut folders = Vec::new();
    let mut files = Vec::new();
    let mut items = Box::pin(snap.items());
    while let Some(rec) = items.next().await {
        let rec = rec?;
        let full = full_path(&rec);
        if full.is_empty() || !inside(&full) {
            continue;
        }
        match rec.kind.as_str() {
            KIND_FOLDER => folders.push(rec),
            KIND_FILE => files.push(rec),
            _ => {}
        }
    }
    if folders.is_empty() && files.is_empty() && !sel.is_empty() {
        return Err(RestoreError::NoSuchPath(sel));
    }
    folders.sort_by_key(|f| full_path(f).matches('/').count());
    let sp = graph.sharepoint();
    let (drive, folder_name) = match &opts.target {
        RestoreTarget::Original => (state.drive.drive_id.clone(), None),
        RestoreTarget::NewFolder(n) => (state.drive.drive_id.clone(), Some(n.clone())),
        RestoreTarget::Drive { drive_id, folder } => (drive_id.clone(), Some(folder.clone())),
    };
    let root: DriveItem = sp.get(&format!("drives/{drive}/root")).await?;
    let mut r = Restorer {
        repo,
        snap,
        graph: &sp,
        opts,
        drive: drive.clone(),
        folders: HashMap::new(),
        report: RestoreReport {
            drive_id: drive.clone(),
            ..RestoreReport::default()
        },
    };
    // Relative paths are below `strip` (the selection's parent) unless restoring in place.
    let strip = match &opts.target {
        RestoreTarget::Original => String::new(),
        _ => parent_of(&sel).to_string(),
    };
    let base = match folder_name {
        None => root.id.clone(),
        Some(n) => {
            let name = n.unwrap_or_else(|| {
                format!(
                    "Restored {}",
                    chrono::Utc::now().format("%Y-%m-%d %H-%M-%S")
                )
            });
            let created: DriveItem = sp
                .post_json(&format!("drives/{drive}/items/{}/children", root.id), &json!({"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": "rename"}))
                .await?;
            r.report.folders_created += 1;
            r.report.folder = created.name.clone().unwrap_or(name);
            created.id
        }
    };
    r.folders.insert(String::new(), base);
    let rel = |p: &str| -> String {
        if strip.is_empty() {
            p.to_string()
        } else {
            p.strip_prefix(&strip)
                .map(|x| x.trim_start_matches('/').to_string())
                .unwrap_or_else(|| p.to_string())
        }
    };
    for f in &folders {
        let path = rel(&full_path(f));
        match r.ensure_folder(&path).await {
            Ok(id) => r.permissions(&id, f, &full_path(f)).await,
            Err(e) => r.report.failed.push((full_path(f), e.to_string())),
        }
    }
    for f in &files {
        let parent = rel(&f.path);
        let original = full_path(f);
        match r.ensure_folder(&parent).await {
            Ok(pid) => r.upload(&pid, f, &original).await,
            Err(e) => r
                .report
                .failed
                .push((original, format!("destination folder: {e}"))),
        }
    }
    r.report.seconds = started.elapsed().as_secs_f64();
    Ok(r.report)
}

impl Restorer<'_> {
    /// The destination folder for a relative path, created (or found) segment by segment.
    async fn ensure_folder(&mut self, rel: &str) -> Result<String, GraphError> {
        if let Some(id) = self.folders.get(rel) {
            return Ok(id.clone());
        }
        let parent_path = parent_of(rel).to_string();
        let parent = Box::pin(self.ensure_folder(&parent_path)).await?;
        let seg = rel.rsplit_once('/').map_or(rel, |(_, n)| n);
        let name = unescape_segment(seg);
        let url = format!("drives/{}/items/{parent}/children", self.drive);
        let id = match self
            .graph
            .post_json::<DriveItem>(
                &url,
                &json!({"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": "fail"}),
            )
            .await
        {
            Ok(item) => {
                self.report.folders_created += 1;
                item.id
            }
            Err(e) if e.status() == Some(409) => {
                let existing: DriveItem = self
                    .graph
                    .get(&format!(
                        "drives/{}/items/{parent}:/{}:",
                        self.drive,
                        encode_segment(&name)
                    ))
                    .await?;
                if existing.folder.is_none() {
                    return Err(GraphError::InvalidRequest(format!(
                        "a file named {name:?} is in the way of a folder"
                    )));
                }
                existing.id
            }
            Err(e) => return Err(e),
        };
        self.folders.insert(rel.to_string(), id.clone());
        Ok(id)
    }

    /// With `permissions`: re-creates the record's stored sharing permissions on `item_id`.
    async fn permissions(&mut self, item_id: &str, rec: &ItemRecord, original: &str) {
        if !self.opts.permissions {
            return;
        }
        let meta: Value = match self.snap.metadata(rec).await {
            Ok(Some(m)) => serde_json::from_slice(&m).unwrap_or(Value::Null),
            Ok(None) => return,
            Err(e) => {
                self.report
                    .permissions_failed
                    .push((original.to_string(), format!("reading the backup: {e}")));
                return;
            }
        };
        let out = super::restore_perms::apply(self.graph, &self.drive, item_id, &meta).await;
        self.report.permissions_restored += out.restored;
        for f in out.failed {
            self.report
                .permissions_failed
                .push((original.to_string(), f));
        }
    }

    fn file_system_info(rec: &ItemRecord) -> Value {
        let mut fsi = serde_json::Map::new();
        if let Some(c) = rec.attrs.get(ATTR_FS_CREATED) {
            fsi.insert("createdDateTime".into(), json!(c));
        }
        if let Some(m) = rec.attrs.get(ATTR_FS_MODIFIED) {
            fsi.insert("lastModifiedDateTime".into(), json!(m));
        }
        Value::Object(fsi)
    }

    async fn upload(&mut self, parent: &str, rec: &ItemRecord, original: &str) {
        match self.try_upload(parent, rec).await {
            Ok(Some(item)) => {
                let got = item
                    .file
                    .as_ref()
                    .and_then(|f| f.hashes.as_ref())
                    .and_then(|h| h.quick_xor_hash.clone());
                if let (Some(want), Some(got)) = (rec.attrs.get(ATTR_QXH), got)
                    && !same_hash(want, &got)
                {
                    self.report.failed.push((
                        original.to_string(),
                        format!("uploaded content hashes to {got}, backup recorded {want}"),
                    ));
                    return;
                }
                self.report.files += 1;
                self.report.bytes += rec.size;
                self.permissions(&item.id, rec, original).await;
            }
            Ok(None) => self.report.skipped.push(original.to_string()),
            Err(e) => self.report.failed.push((original.to_string(), e)),
        }
    }

    /// `Ok(None)` = skipped because of a name clash.
    async fn try_upload(
        &mut self,
        parent: &str,
        rec: &ItemRecord,
    ) -> Result<Option<DriveItem>, String> {
        let name = &rec.name;
        let behavior = self.opts.conflict.behavior();
        let fsi = Self::file_system_info(rec);
        let item = if rec.size <= self.opts.small_file_limit {
            let mut buf = BytesMut::with_capacity(rec.size as usize);
            let mut stream = Box::pin(self.repo.content_stream(rec));
            while let Some(c) = stream.next().await {
                buf.extend_from_slice(&c.map_err(|e| format!("reading the backup: {e}"))?);
            }
            let url = format!(
                "drives/{}/items/{parent}:/{}:/content?@microsoft.graph.conflictBehavior={behavior}",
                self.drive,
                encode_segment(name)
            );
            match self
                .graph
                .put_bytes::<DriveItem>(&url, buf.freeze(), "application/octet-stream")
                .await
            {
                Ok(i) => i,
                Err(e) if e.status() == Some(409) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            }
        } else {
            match self.large(parent, rec, behavior, &fsi).await {
                Ok(Some(i)) => {
                    self.report.large_files += 1;
                    i
                }
                Ok(None) => return Ok(None),
                Err(e) => return Err(e),
            }
        };
        if fsi.as_object().is_some_and(|m| !m.is_empty()) {
            let url = format!("drives/{}/items/{}", self.drive, item.id);
            match self
                .graph
                .patch_json::<DriveItem>(&url, &json!({"fileSystemInfo": fsi}))
                .await
            {
                Ok(updated) => {
                    return Ok(Some(DriveItem {
                        file: item.file.clone(),
                        ..updated
                    }));
                }
                Err(e) => return Err(format!("setting timestamps: {e}")),
            }
        }
        Ok(Some(item))
    }

    /// Upload session: the content is spooled to a temporary file (never held in memory) so
    /// fragments can be re-sent from any offset the server asks for.
    async fn large(
        &mut self,
        parent: &str,
        rec: &ItemRecord,
        behavior: &str,
        fsi: &Value,
    ) -> Result<Option<DriveItem>, String> {
        let spool = tempfile::NamedTempFile::new().map_err(|e| format!("temporary file: {e}"))?;
        {
            let mut f = tokio::fs::File::create(spool.path())
                .await
                .map_err(|e| format!("temporary file: {e}"))?;
            let mut stream = Box::pin(self.repo.content_stream(rec));
            while let Some(c) = stream.next().await {
                let c: Bytes = c.map_err(|e| format!("reading the backup: {e}"))?;
                f.write_all(&c)
                    .await
                    .map_err(|e| format!("temporary file: {e}"))?;
            }
            f.flush()
                .await
                .map_err(|e| format!("temporary file: {e}"))?;
        }
        let url = format!(
            "drives/{}/items/{parent}:/{}:/createUploadSession",
            self.drive,
            encode_segment(&rec.name)
        );
        let body = json!({"item": {"@microsoft.graph.conflictBehavior": behavior, "name": rec.name, "fileSystemInfo": fsi}});
        let session = match self.graph.create_upload_session(&url, &body).await {
            Ok(s) => s,
            Err(e) if e.status() == Some(409) => return Ok(None),
            Err(e) => return Err(format!("creating the upload session: {e}")),
        };
        let mut source = FileSource::open(spool.path())
            .await
            .map_err(|e| format!("temporary file: {e}"))?;
        match self
            .graph
            .upload_to_session(
                &session,
                UploadTarget::Drive,
                &mut source,
                Some(self.opts.chunk_size),
            )
            .await
        {
            Ok(out) => {
                let item: DriveItem = out
                    .item
                    .and_then(|v| serde_json::from_value(v).ok())
                    .ok_or("upload finished without a driveItem")?;
                Ok(Some(item))
            }
            Err(e) if e.status() == Some(409) => Ok(None),
            Err(e) => Err(format!("upload session: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_for_path_addressing() {
        assert_eq!(encode_segment("a b.txt"), "a%20b.txt");
        assert_eq!(encode_segment("x#y?z%"), "x%23y%3Fz%25");
        assert_eq!(encode_segment("ü"), "%C3%BC");
        assert_eq!(encode_segment("a/b"), "a%2Fb");
        assert_eq!(parent_of("A/B/c"), "A/B");
        assert_eq!(parent_of("c"), "");
        assert_eq!("replace".parse::<Conflict>(), Ok(Conflict::Replace));
        assert!("bogus".parse::<Conflict>().is_err());
    }
}
