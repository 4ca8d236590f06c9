//! The local-folder source: back up a directory tree, restore items into a directory.

use crate::error::{Error, Result};
use crate::model::{ItemMeta, ItemRecord, OwnerRef, SnapshotSummary};
use crate::repository::Repository;
use crate::session::{
    BackupOptions, BackupSession, CpuJob, Lookup, PreparedItem, Preparer, join_cpu, spawn_cpu,
};
use crate::snapshot::Snapshot;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use std::collections::{BTreeMap, VecDeque};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use tokio::io::AsyncWriteExt;

/// Workload name of local-folder snapshots.
pub const DIR_WORKLOAD: &str = "dir";

/// Progress of a long operation (items and bytes); called from the backup/restore loop.
pub trait Progress: Send + Sync {
    /// An item was processed (`bytes` = its size; `read` = its content was read, not carried over).
    fn item(&self, _id: &str, _bytes: u64, _read: bool) {}
    /// An item failed.
    fn failure(&self, _id: &str, _reason: &str) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// Options for [`backup_dir`].
#[derive(Debug, Clone)]
pub struct DirBackupOptions {
    pub backup: BackupOptions,
    /// Write a checkpoint (partial snapshot) this often, so a killed run resumes. None = never.
    pub checkpoint_every: Option<Duration>,
}

impl Default for DirBackupOptions {
    fn default() -> Self {
        DirBackupOptions {
            backup: BackupOptions::default(),
            checkpoint_every: Some(Duration::from_secs(300)),
        }
    }
}

fn mtime_of(md: &std::fs::Metadata) -> (Option<DateTime<Utc>>, i128) {
    let ns = md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128;
    (
        DateTime::from_timestamp(md.mtime(), md.mtime_nsec() as u32),
        ns,
    )
}

fn rel_id(root: &Path, p: &Path) -> Option<String> {
    let rel = p.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Back up the tree under `path` as owner `owner` of workload `dir`. Unchanged files (same
/// size and mtime as in the parent snapshot) are carried over without being read. Unreadable
/// files are recorded as failures; the snapshot is still written.
pub async fn backup_dir(
    repo: &Repository,
    path: &Path,
    owner: &str,
    opts: DirBackupOptions,
    progress: &dyn Progress,
) -> Result<SnapshotSummary> {
    let root = std::fs::canonicalize(path)
        .map_err(|e| Error::io(format!("source {}", path.display()), e))?;
    if !root.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is not a directory",
            path.display()
        )));
    }
    let mut session = repo
        .begin_backup(OwnerRef::new(DIR_WORKLOAD, owner), opts.backup.clone())
        .await?;
    let state = serde_json::json!({ "source": root.to_string_lossy() });
    // The walker stats entries on its own thread and hands them over in batches (one wake-up
    // per batch, not per file).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Walked>>(4);
    let walk_root = root.clone();
    let walker = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(WALK_BATCH);
        for e in walkdir::WalkDir::new(&walk_root)
            .min_depth(1)
            .follow_links(false)
            .sort_by_file_name()
        {
            batch.push(match e {
                Ok(e) => {
                    let md = e.path().symlink_metadata();
                    Walked::Entry(e.into_path(), md)
                }
                Err(e) => Walked::Error(e),
            });
            if batch.len() >= WALK_BATCH
                && tx
                    .blocking_send(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(WALK_BATCH),
                    ))
                    .is_err()
            {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = tx.blocking_send(batch);
        }
    });
    let mut last_checkpoint = Instant::now();
    let mut batches = Batches::new(session.preparer());
    while let Some(walked) = rx.recv().await {
        for w in walked {
            let (path, md) = match w {
                Walked::Entry(path, md) => (path, md),
                Walked::Error(e) => {
                    let id = e
                        .path()
                        .and_then(|p| rel_id(&root, p))
                        .unwrap_or_else(|| "?".into());
                    let reason = format!("cannot read: {e}");
                    progress.failure(&id, &reason);
                    session.record_failure(&id, &reason);
                    continue;
                }
            };
            let Some(id) = rel_id(&root, &path) else {
                let shown = path.to_string_lossy().to_string();
                progress.failure(&shown, "file name is not valid UTF-8; skipped");
                session.record_failure(&shown, "file name is not valid UTF-8; skipped");
                continue;
            };
            let md = match md {
                Ok(m) => m,
                Err(e) => {
                    session.record_failure(&id, &format!("stat: {e}"));
                    progress.failure(&id, &format!("stat: {e}"));
                    continue;
                }
            };
            back_up_entry(&mut session, &mut batches, id, path, &md, progress).await?;
            if let Some(every) = opts.checkpoint_every
                && last_checkpoint.elapsed() >= every
            {
                batches.drain(&mut session, progress).await?;
                session.checkpoint(state.clone()).await?;
                last_checkpoint = Instant::now();
            }
        }
    }
    walker.await.expect("walker task");
    batches.drain(&mut session, progress).await?;
    session.commit(state).await
}

/// Entries the walker hands over at once.
const WALK_BATCH: usize = 256;

/// A walked entry with its `lstat`, or a walk error.
enum Walked {
    Entry(PathBuf, std::io::Result<std::fs::Metadata>),
    Error(walkdir::Error),
}

/// Stage one walked entry: carry an unchanged file over, queue a small file for a batch,
/// stream a large one, store a directory or symlink record.
async fn back_up_entry(
    session: &mut BackupSession,
    batches: &mut Batches,
    id: String,
    path: PathBuf,
    md: &std::fs::Metadata,
    progress: &dyn Progress,
) -> Result<()> {
    let (mtime, mtime_ns) = mtime_of(md);
    let ft = md.file_type();
    let version = format!("{}:{}", md.len(), mtime_ns);
    // Unchanged file: carried over before anything else is built for it.
    if ft.is_file()
        && let Some(size) = session.keep_unchanged(&id, "file", &version).await?
    {
        progress.item(&id, size, false);
        return Ok(());
    }
    let (dir, name) = match id.rsplit_once('/') {
        Some((d, n)) => (d.to_string(), n.to_string()),
        None => (String::new(), id.clone()),
    };
    let mut attrs = BTreeMap::new();
    attrs.insert("mode".to_string(), format!("{:o}", md.mode() & 0o7777));
    attrs.insert("mtime_ns".to_string(), mtime_ns.to_string());
    let kind = if ft.is_file() {
        "file"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else {
        tracing::debug!(item = %id, "skipping special file");
        return Ok(());
    };
    let meta = ItemMeta {
        id: id.clone(),
        kind: kind.into(),
        path: dir,
        name,
        created: None,
        modified: mtime,
        received: None,
        size_hint: if ft.is_file() { md.len() } else { 0 },
        version: version.clone(),
        metadata: None,
        attrs,
    };
    match kind {
        "file" => {
            if md.len() <= BATCH_FILE_MAX {
                batches.push(session, meta, path, progress).await?;
            } else {
                // The batches in flight are added first: a streamed file keeps both cores
                // busy on its own, and their buffers are freed before its windows fill.
                batches.drain(session, progress).await?;
                put_file(session, meta, &path, progress).await?;
            }
        }
        "symlink" => {
            let mut meta = meta;
            match std::fs::read_link(&path) {
                Ok(t) => {
                    meta.attrs
                        .insert("target".into(), t.to_string_lossy().into_owned());
                    put_empty(session, meta).await?;
                    progress.item(&id, 0, false);
                }
                Err(e) => session.record_failure(&id, &format!("readlink: {e}")),
            }
        }
        _ => {
            put_empty(session, meta).await?;
            progress.item(&id, 0, false);
        }
    }
    Ok(())
}

/// Store a directory or symlink record, or carry the parent's over if it is identical.
async fn put_empty(session: &mut BackupSession, meta: ItemMeta) -> Result<()> {
    let rec = ItemRecord {
        id: meta.id.clone(),
        kind: meta.kind.clone(),
        path: meta.path.clone(),
        name: meta.name.clone(),
        created: meta.created,
        modified: meta.modified,
        received: meta.received,
        size: 0,
        version: meta.version.clone(),
        content: Vec::new(),
        metadata: None,
        attrs: meta.attrs.clone(),
    };
    if meta.metadata.is_some() || !session.keep_if_same(&rec).await? {
        session.put_item(meta, &b""[..]).await?;
    }
    Ok(())
}

/// Files up to this size are read whole and prepared in batches, several at once on the CPU
/// pool; larger ones are streamed (their windows are encoded in parallel, but one file at a
/// time). A file of a few MiB is mostly one or two large-profile chunks: streamed, it would
/// keep one core busy while the other waits.
const BATCH_FILE_MAX: u64 = 8 << 20;
/// A batch closes at this many files …
const BATCH_FILES: usize = 64;
/// … or this many bytes of content (a file of more has a batch of its own).
const BATCH_BYTES: u64 = 2 << 20;
/// Batches being prepared at once, at most: enough queued work to keep both cores busy while
/// the session adds a finished batch (or spills its staged items) …
const IN_FLIGHT: usize = 6;
/// … and bytes of content they may hold (their encoded blobs come on top, at most as much
/// again): memory stays bounded whatever the file sizes.
const IN_FLIGHT_BYTES: u64 = 12 << 20;

/// What preparing one file of a batch gave.
enum Outcome {
    Ready(PreparedItem),
    /// The file grew since it was walked: stream it instead.
    Grew(ItemMeta, PathBuf),
    Failed(String, Error),
}

/// Small files read, chunked, hashed, compressed and encrypted a batch at a time on the
/// rayon pool: one thread hand-off per batch instead of several per file.
struct Batches {
    preparer: Preparer,
    open: Vec<(ItemMeta, PathBuf)>,
    open_bytes: u64,
    /// Batches being prepared, oldest first, with their content bytes.
    running: VecDeque<(u64, CpuJob<Vec<Outcome>>)>,
    running_bytes: u64,
}

impl Batches {
    fn new(preparer: Preparer) -> Self {
        Batches {
            preparer,
            open: Vec::new(),
            open_bytes: 0,
            running: VecDeque::new(),
            running_bytes: 0,
        }
    }

    /// Queue a small file; starts its batch when full, adding the oldest finished batch to
    /// the session when too many are running.
    async fn push(
        &mut self,
        session: &mut BackupSession,
        meta: ItemMeta,
        path: PathBuf,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.open_bytes += meta.size_hint;
        self.open.push((meta, path));
        if self.open.len() >= BATCH_FILES || self.open_bytes >= BATCH_BYTES {
            self.start();
            while self.running.len() >= IN_FLIGHT
                || (self.running_bytes > IN_FLIGHT_BYTES && self.running.len() > 1)
            {
                self.finish_one(session, progress).await?;
            }
        }
        Ok(())
    }

    fn start(&mut self) {
        if self.open.is_empty() {
            return;
        }
        let files = std::mem::take(&mut self.open);
        let bytes = std::mem::take(&mut self.open_bytes);
        self.running_bytes += bytes;
        let prep = self.preparer.clone();
        // On the rayon pool (one thread per core), not the blocking pool: few, fixed threads.
        let job = spawn_cpu(move || {
            let lookup = prep.lookup();
            files
                .into_iter()
                .map(|(meta, path)| prepare_file(&prep, &lookup, meta, path))
                .collect()
        });
        self.running.push_back((bytes, job));
    }

    async fn finish_one(
        &mut self,
        session: &mut BackupSession,
        progress: &dyn Progress,
    ) -> Result<()> {
        let Some((bytes, h)) = self.running.pop_front() else {
            return Ok(());
        };
        self.running_bytes -= bytes;
        let outcomes = join_cpu(h).await;
        for o in outcomes {
            match o {
                Outcome::Ready(p) => {
                    let id = p.id().to_string();
                    let r = session.put_prepared(p).await?;
                    progress.item(&id, r.size, true);
                }
                Outcome::Grew(meta, path) => put_file(session, meta, &path, progress).await?,
                Outcome::Failed(id, Error::Io { context, source }) => {
                    let reason = format!("{context}: {source}");
                    progress.failure(&id, &reason);
                    session.record_failure(&id, &reason);
                }
                Outcome::Failed(_, e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Prepare and add everything queued.
    async fn drain(&mut self, session: &mut BackupSession, progress: &dyn Progress) -> Result<()> {
        self.start();
        while !self.running.is_empty() {
            self.finish_one(session, progress).await?;
        }
        Ok(())
    }
}

/// Read one file of at most [`BATCH_FILE_MAX`] bytes (its walked size) and encode it (blocking).
fn prepare_file(prep: &Preparer, lookup: &Lookup, meta: ItemMeta, path: PathBuf) -> Outcome {
    use std::io::Read;
    // At most the walked size is read: a file that grew since is streamed instead, so a
    // batch never holds more than its files' walked sizes (the in-flight bound counts those).
    let limit = meta.size_hint.min(BATCH_FILE_MAX);
    let read = std::fs::File::open(&path).and_then(|f| {
        let mut data = Vec::with_capacity(limit as usize + 1);
        f.take(limit + 1).read_to_end(&mut data)?;
        Ok(data)
    });
    match read {
        Err(e) => Outcome::Failed(meta.id, Error::io("read", e)),
        Ok(data) if data.len() as u64 > limit => Outcome::Grew(meta, path),
        Ok(data) => {
            let id = meta.id.clone();
            match prep.prepare_with(meta, data, false, lookup) {
                Ok(p) => Outcome::Ready(p),
                Err(e) => Outcome::Failed(id, e),
            }
        }
    }
}

async fn put_file(
    session: &mut BackupSession,
    meta: ItemMeta,
    path: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    let id = meta.id.clone();
    let r = match tokio::fs::File::open(path).await {
        Ok(f) => session.put_item(meta, f).await,
        Err(e) => Err(Error::io("open", e)),
    };
    match r {
        Ok(r) => progress.item(&id, r.size, true),
        Err(Error::Io { context, source }) => {
            let reason = format!("{context}: {source}");
            progress.failure(&id, &reason);
            session.record_failure(&id, &reason);
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Options for [`restore_items`].
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreOptions {
    /// Replace existing files in the target (default: an existing file is a per-item failure).
    pub overwrite: bool,
}

/// What [`restore_items`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestoreReport {
    pub items: u64,
    pub bytes: u64,
    /// (item id, reason) of items that could not be restored.
    pub failed: Vec<(String, String)>,
}

/// Map an item id to a path under `target`, refusing anything that could escape it.
pub fn safe_target_path(target: &Path, id: &str) -> Result<PathBuf> {
    let mut out = target.to_path_buf();
    let mut n = 0;
    for part in id.split('/') {
        if part.is_empty()
            || part == "."
            || part == ".."
            || part.contains('\0')
            || part.contains('\\')
        {
            return Err(Error::Invalid(format!("unsafe item path {id:?}")));
        }
        out.push(part);
        n += 1;
    }
    if n == 0 {
        return Err(Error::Invalid("empty item path".into()));
    }
    Ok(out)
}

/// Refuse to write through a symlink or non-directory between `target` and `path`.
fn check_parents(target: &Path, path: &Path) -> Result<()> {
    let mut cur = target.to_path_buf();
    let rel = path
        .strip_prefix(target)
        .map_err(|_| Error::Invalid("path outside target".into()))?;
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        match cur.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Invalid(format!(
                    "{} is a symlink; refusing to restore through it",
                    cur.display()
                )));
            }
            Ok(m) if !m.is_dir() => {
                return Err(Error::Invalid(format!(
                    "{} is not a directory",
                    cur.display()
                )));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&cur)
                    .map_err(|e| Error::io(format!("mkdir {}", cur.display()), e))?;
            }
            Err(e) => return Err(Error::io(format!("stat {}", cur.display()), e)),
        }
    }
    Ok(())
}

fn item_mtime(item: &ItemRecord) -> Option<SystemTime> {
    if let Some(ns) = item
        .attrs
        .get("mtime_ns")
        .and_then(|s| s.parse::<i128>().ok())
        && ns >= 0
    {
        return Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns as u64));
    }
    item.modified.map(SystemTime::from)
}

fn item_mode(item: &ItemRecord) -> Option<u32> {
    item.attrs
        .get("mode")
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .map(|m| m & 0o7777)
}

async fn restore_file(
    repo: &Repository,
    item: &ItemRecord,
    path: &Path,
    opts: RestoreOptions,
) -> Result<u64> {
    let mut o = tokio::fs::OpenOptions::new();
    o.write(true);
    if opts.overwrite {
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            std::fs::remove_file(path)
                .map_err(|e| Error::io(format!("replace {}", path.display()), e))?;
        }
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    let mut f = o
        .open(path)
        .await
        .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
    let mut stream = std::pin::pin!(repo.content_stream(item));
    let mut n = 0u64;
    let r: Result<()> = async {
        while let Some(piece) = stream.try_next().await? {
            f.write_all(&piece)
                .await
                .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
            n += piece.len() as u64;
        }
        f.flush()
            .await
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        Ok(())
    }
    .await;
    if let Err(e) = r {
        drop(f);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    let f = f.into_std().await;
    if let Some(m) = item_mode(item) {
        let _ = f.set_permissions(std::fs::Permissions::from_mode(m));
    }
    if let Some(t) = item_mtime(item) {
        let _ = f.set_modified(t);
    }
    Ok(n)
}

/// Restore the items of `snap` whose id equals `prefix` or lies under `prefix/` (all items if
/// `None`) into `target`. Paths never escape `target`; symlinks are created last and never
/// followed. Items that fail (damaged data, existing file) are listed in the report; the rest
/// are restored.
pub async fn restore_items(
    repo: &Repository,
    snap: &Snapshot,
    prefix: Option<&str>,
    target: &Path,
    opts: RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport> {
    std::fs::create_dir_all(target)
        .map_err(|e| Error::io(format!("create target {}", target.display()), e))?;
    let target = std::fs::canonicalize(target)
        .map_err(|e| Error::io(format!("target {}", target.display()), e))?;
    let prefix = prefix
        .map(|p| p.trim_matches('/').to_string())
        .filter(|p| !p.is_empty());
    let mut report = RestoreReport::default();
    let mut dirs = Vec::new();
    let mut links = Vec::new();
    let mut items = std::pin::pin!(snap.items());
    while let Some(item) = items.try_next().await? {
        if let Some(p) = &prefix
            && item.id != *p
            && !item.id.starts_with(&format!("{p}/"))
        {
            continue;
        }
        let r: Result<Option<u64>> = async {
            let path = safe_target_path(&target, &item.id)?;
            check_parents(&target, &path)?;
            match item.kind.as_str() {
                "dir" => {
                    match path.symlink_metadata() {
                        Ok(m) if m.is_dir() => {}
                        Ok(_) => {
                            return Err(Error::Invalid(format!(
                                "{} exists and is not a directory",
                                path.display()
                            )));
                        }
                        Err(_) => std::fs::create_dir(&path)
                            .map_err(|e| Error::io(format!("mkdir {}", path.display()), e))?,
                    }
                    dirs.push((path, item_mode(&item), item_mtime(&item)));
                    Ok(Some(0))
                }
                "symlink" => {
                    let t = item.attrs.get("target").ok_or_else(|| {
                        Error::corrupt(format!("item {}", item.id), "symlink without target")
                    })?;
                    links.push((path, PathBuf::from(t), item.id.clone()));
                    Ok(None)
                }
                _ => restore_file(repo, &item, &path, opts).await.map(Some),
            }
        }
        .await;
        match r {
            Ok(None) => {}
            Ok(Some(n)) => {
                report.items += 1;
                report.bytes += n;
                progress.item(&item.id, n, true);
            }
            Err(e) => {
                progress.failure(&item.id, &e.to_string());
                report.failed.push((item.id.clone(), e.to_string()));
            }
        }
    }
    for (path, target_of_link, id) in links {
        let r = check_parents(&target, &path).and_then(|_| {
            if opts.overwrite && path.symlink_metadata().is_ok() {
                let _ = std::fs::remove_file(&path);
            }
            std::os::unix::fs::symlink(&target_of_link, &path)
                .map_err(|e| Error::io(format!("symlink {}", path.display()), e))
        });
        match r {
            Ok(()) => {
                report.items += 1;
                progress.item(&id, 0, true);
            }
            Err(e) => {
                progress.failure(&id, &e.to_string());
                report.failed.push((id, e.to_string()));
            }
        }
    }
    // Directory times last (creating entries inside changed them), deepest first.
    for (path, mode, mtime) in dirs.into_iter().rev() {
        if let Some(m) = mode {
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m));
        }
        if let Some(t) = mtime
            && let Ok(f) = std::fs::File::open(&path)
        {
            let _ = f.set_modified(t);
        }
    }
    Ok(report)
}
