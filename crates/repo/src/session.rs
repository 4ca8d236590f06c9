//! Backup sessions: put/keep/delete items, checkpoint, commit (FORMAT.md §7–§8).

use crate::blob::{self, EncodedBlob};
use crate::chunker::cut;
use crate::crypto::{BlobId, PackId};
use crate::error::{Error, Result};
use crate::gc::load_candidates;
use crate::model::{
    BackupMode, ContentRef, Failure, ItemMeta, ItemRecord, MetadataRef, OwnerRef, SnapshotFilter,
    SnapshotId, SnapshotStats, SnapshotSummary,
};
use crate::pack::BlobKind;
use crate::packer::Packer;
use crate::pending::{Pending, PendingCursor, PendingStore};
use crate::repository::Repository;
use crate::snapshot::{
    LIST_MAX_BYTES, LIST_MAX_ITEMS, ListRef, Snapshot, SnapshotBody, encode_list, encode_root,
    snapshot_key,
};
use parking_lot::RwLock;
use rayon::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

mod stream;

/// Content windows up to this size are processed on the calling task, not a blocking thread.
const INLINE_CPU: usize = 64 * 1024;

/// Metadata documents up to this size are stored inline in the item list.
const INLINE_METADATA: usize = 1024;

/// Which snapshot a session builds on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ParentSelect {
    /// The newest snapshot (complete or checkpoint) of the same owner and workload.
    #[default]
    Latest,
    /// No parent.
    None,
    /// A given snapshot (id or unique prefix).
    Id(String),
}

/// Options for [`Repository::begin_backup`].
#[derive(Debug, Clone)]
pub struct BackupOptions {
    pub parent: ParentSelect,
    pub mode: BackupMode,
    /// How often the session marker is refreshed (and GC candidate lists re-read).
    pub marker_refresh: Duration,
    /// Commit time recorded in the snapshot (default: now). For imports and simulated clocks.
    pub time: Option<chrono::DateTime<chrono::Utc>>,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            parent: ParentSelect::Latest,
            mode: BackupMode::Full,
            marker_refresh: Duration::from_secs(60),
            time: None,
        }
    }
}

/// A running backup of one owner. Dropping it without `commit` leaves only harmless packs.
///
/// Semantics:
/// * Items may be staged in any order. For one item id the **last stage wins**
///   (put→put, delete→put, put→delete, keep→put …); the pending set lives in a temporary
///   redb file, so memory does not grow with the number of items.
/// * [`BackupMode::Full`]: the snapshot holds exactly the items put/kept in this session.
///   [`BackupMode::Incremental`]: the parent's items are carried over unless deleted or
///   replaced in this session.
/// * [`ParentSelect::Latest`] picks the newest snapshot of the owner **including partial
///   ones** (checkpoints, `summary().complete == false`), so an interrupted run resumes:
///   [`previous`](Self::previous) sees the checkpoint's items and content already uploaded is
///   deduplicated, not uploaded again.
/// * To change an item's metadata but keep its content, use [`put_item_reusing`](Self::put_item_reusing)
///   (or build an [`ItemRecord`] yourself and [`keep_item`](Self::keep_item) it; metadata blobs must
///   then already exist, so prefer `put_item_reusing`).
/// * `attrs` are stored inline in the item lists (cheap to filter while streaming `items()`).
pub struct BackupSession {
    repo: Repository,
    owner: OwnerRef,
    oid: String,
    mode: BackupMode,
    parent: Option<Snapshot>,
    packer: Packer,
    pending: PendingStore,
    failures: Vec<Failure>,
    stats: SnapshotStats,
    marker: crate::marker::MarkerTask,
    time: Option<chrono::DateTime<chrono::Utc>>,
    /// Set by a rewrite (rewrite.rs): the head fields the new snapshot keeps from the old one.
    rewrite_of: Option<SnapshotSummary>,
    /// Objects this session turned the legal-hold flag on for (held owners only; see
    /// [`Repository::flag_new_snapshot`]): a later checkpoint or the commit skips them.
    flagged: HashSet<String>,
}

impl std::fmt::Debug for BackupSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupSession")
            .field("owner", &self.owner)
            .field("mode", &self.mode)
            .finish()
    }
}

impl Repository {
    /// Start a backup of `owner`. Writes a session marker, reads GC candidate lists,
    /// catches up the index cache and opens the parent snapshot.
    pub async fn begin_backup(
        &self,
        owner: OwnerRef,
        opts: BackupOptions,
    ) -> Result<BackupSession> {
        if owner.workload.is_empty() || owner.owner.is_empty() {
            return Err(Error::Invalid(
                "owner and workload must not be empty".into(),
            ));
        }
        let oid = self.owner_id(&owner.workload, &owner.owner);
        self.owner_key(&oid, true).await?;
        let candidates: Arc<RwLock<HashSet<PackId>>> = Arc::default();
        let marker = crate::marker::MarkerTask::start(
            self.clone(),
            oid.clone(),
            opts.marker_refresh,
            candidates.clone(),
        )
        .await?;
        *candidates.write() = load_candidates(self).await?;
        self.catch_up_index().await?;
        let parent = match &opts.parent {
            ParentSelect::None => None,
            ParentSelect::Id(id) => Some(self.snapshot(id).await?),
            ParentSelect::Latest => {
                let filter = SnapshotFilter {
                    workload: Some(owner.workload.clone()),
                    owner: Some(owner.owner.clone()),
                    include_partial: true,
                };
                match self.list_snapshots(filter).await?.last() {
                    Some(s) => Some(self.snapshot(&s.id.0).await?),
                    None => None,
                }
            }
        };
        if let Some(p) = &parent
            && p.summary().owner != owner
        {
            return Err(Error::Invalid(format!(
                "parent snapshot {} belongs to {}, not {owner}",
                p.id(),
                p.summary().owner
            )));
        }
        let pending = PendingStore::new()?;
        Ok(BackupSession {
            repo: self.clone(),
            packer: Packer::new(self.clone(), candidates),
            owner,
            oid,
            mode: opts.mode,
            parent,
            pending,
            failures: Vec::new(),
            stats: SnapshotStats::default(),
            marker,
            time: opts.time,
            rewrite_of: None,
            flagged: HashSet::new(),
        })
    }
}

/// Items up to this many bytes can go through a [`Preparer`] (content held in memory).
pub const PREPARE_MAX: usize = 1 << 20;

/// Prepares small items (read, chunk, hash, compress, encrypt) concurrently, outside the
/// session's `&mut` borrow; hand the results to [`BackupSession::put_prepared`]. Cheap to clone.
/// Memory: each prepared item holds at most [`PREPARE_MAX`] bytes of content plus its encoded
/// new blobs, so bound the number in flight (e.g. `buffered(4)`).
#[derive(Clone)]
pub struct Preparer {
    repo: Repository,
    candidates: Arc<RwLock<HashSet<PackId>>>,
}

/// An item whose content is chunked and encoded, not yet in the session.
pub struct PreparedItem {
    meta: ItemMeta,
    refs: Vec<ContentRef>,
    blobs: Vec<EncodedBlob>,
    total: u64,
    /// Index-cache generation before its new blobs were found missing (see [`Lookup`]).
    checked_at: u64,
}

/// Index lookups shared by the items of one batch: one read transaction instead of one per
/// chunk, and the cache generation read before it opened. While the generation is unchanged,
/// a blob it found missing is still missing, so [`BackupSession::put_prepared`] packs it
/// without looking it up again.
pub(crate) struct Lookup {
    reader: Option<crate::index::IndexReader>,
    generation: u64,
}

impl std::fmt::Debug for PreparedItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedItem")
            .field("id", &self.meta.id)
            .field("size", &self.total)
            .finish()
    }
}

impl PreparedItem {
    /// The item's id.
    pub fn id(&self) -> &str {
        &self.meta.id
    }
}

impl Preparer {
    /// Read and encode an item's content. Returns `Ok(None)` if the content is larger than
    /// [`PREPARE_MAX`]: use [`BackupSession::put_item`] (streaming) for it instead.
    pub async fn prepare<R: AsyncRead + Unpin + Send>(
        &self,
        meta: ItemMeta,
        content: R,
    ) -> Result<Option<PreparedItem>> {
        validate_id(&meta.id)?;
        let mut data = Vec::with_capacity((meta.size_hint as usize).min(PREPARE_MAX) + 1);
        content
            .take(PREPARE_MAX as u64 + 1)
            .read_to_end(&mut data)
            .await
            .map_err(|e| Error::io(format!("reading content of item {}", meta.id), e))?;
        if data.len() > PREPARE_MAX {
            return Ok(None);
        }
        let this = self.clone();
        on_cpu(move || this.prepare_blocking(meta, data, true))
            .await
            .map(Some)
    }

    /// [`prepare`](Self::prepare) for content already in memory, on the calling thread (call it
    /// off the async runtime, e.g. from a blocking task that prepares a batch of small files).
    /// `parallel` lets items with many chunks use the rayon pool; a caller that already runs
    /// several batches at once passes `false` (no hand-off per item).
    pub fn prepare_blocking(
        &self,
        meta: ItemMeta,
        data: Vec<u8>,
        parallel: bool,
    ) -> Result<PreparedItem> {
        self.prepare_with(meta, data, parallel, &self.lookup())
    }

    /// Start the index lookups of a batch (a read view of the cache; if it cannot be opened,
    /// each lookup opens its own).
    pub(crate) fn lookup(&self) -> Lookup {
        let cache = &self.repo.inner.cache;
        let generation = cache.generation();
        let reader = cache.reader().ok();
        Lookup { reader, generation }
    }

    /// [`prepare_blocking`](Self::prepare_blocking) with the lookups of a batch.
    pub(crate) fn prepare_with(
        &self,
        meta: ItemMeta,
        data: Vec<u8>,
        parallel: bool,
        lookup: &Lookup,
    ) -> Result<PreparedItem> {
        validate_id(&meta.id)?;
        let sizes = self
            .repo
            .config()
            .chunker
            .profile(&meta.kind, meta.size_hint);
        let level = self.repo.config().zstd_level;
        let keys = self.repo.keys();
        let total = data.len() as u64;
        let (lens, _) = cut(&data, sizes, true);
        let known = |id: &BlobId| -> Result<bool> {
            let loc = match &lookup.reader {
                Some(r) => r.lookup(id)?,
                None => self.repo.inner.cache.lookup(id)?,
            };
            Ok(loc.is_some_and(|l| !self.candidates.read().contains(&l.pack)))
        };
        let out = process_chunks(keys, &data, &lens, level, &known, parallel, None)?;
        let mut refs = Vec::with_capacity(out.len());
        let mut blobs = Vec::new();
        for (r, b) in out {
            refs.push(r);
            blobs.extend(b);
        }
        Ok(PreparedItem {
            meta,
            refs,
            blobs,
            total,
            checked_at: lookup.generation,
        })
    }
}

/// A CPU job started by [`spawn_cpu`]: its result, or its panic.
pub(crate) type CpuJob<T> = tokio::sync::oneshot::Receiver<std::thread::Result<T>>;

/// Start CPU-bound work (hashing, compression, encryption, small-file reads) on the rayon pool
/// (one thread per core). Unlike the blocking pool, the set of threads that allocate chunk
/// buffers stays small and fixed, so the allocator keeps few arenas (peak RSS) and both cores
/// stay busy without spawning threads. A panic is caught and handed to [`join_cpu`].
pub(crate) fn spawn_cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> CpuJob<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    rx
}

/// Await a job started by [`spawn_cpu`]; a panic in it is resumed on the caller.
pub(crate) async fn join_cpu<T>(job: CpuJob<T>) -> T {
    match job.await.expect("rayon pool dropped a job") {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// [`spawn_cpu`] then [`join_cpu`].
pub(crate) async fn on_cpu<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    join_cpu(spawn_cpu(f)).await
}

/// A chunk's reference and, if it is new, its encoded blob.
type Encoded = (ContentRef, Option<EncodedBlob>);

/// Hash, dedup-check and encode a batch of chunks (runs on a blocking thread, uses rayon),
/// sealing new blobs into buffers taken from `sealed` when given.
fn process_chunks(
    keys: &crate::crypto::MasterKeys,
    data: &[u8],
    lens: &[usize],
    level: i32,
    known: &(dyn Fn(&BlobId) -> Result<bool> + Send + Sync),
    parallel: bool,
    sealed: Option<&stream::BufPool>,
) -> Result<Vec<Encoded>> {
    let encode = |id: BlobId, s: &[u8]| {
        let out = sealed.map_or_else(Vec::new, |p| p.take(blob::sealed_len(s.len())));
        blob::encode_with_id_into(keys, id, s, level, out)
    };
    let mut slices = Vec::with_capacity(lens.len());
    let mut o = 0;
    for &l in lens {
        slices.push(&data[o..o + l]);
        o += l;
    }
    // Few chunks: stay on this thread (waking rayon costs more than it saves).
    if slices.len() < 4 || !parallel {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(slices.len());
        for s in slices {
            let id = keys.blob_id(s);
            if seen.insert(id) && !known(&id)? {
                let b = encode(id, s);
                out.push((
                    ContentRef {
                        id,
                        key: b.key,
                        len: s.len() as u64,
                    },
                    Some(b),
                ));
            } else {
                out.push((
                    ContentRef {
                        id,
                        key: keys.blob_key(s),
                        len: s.len() as u64,
                    },
                    None,
                ));
            }
        }
        return Ok(out);
    }
    let ids: Vec<BlobId> = slices.par_iter().map(|s| keys.blob_id(s)).collect();
    let mut seen = HashSet::new();
    let mut need = Vec::with_capacity(ids.len());
    for id in &ids {
        need.push(seen.insert(*id) && !known(id)?);
    }
    slices
        .par_iter()
        .zip(ids.par_iter())
        .zip(need.par_iter())
        .map(|((s, id), need)| {
            if *need {
                let b = encode(*id, s);
                Ok((
                    ContentRef {
                        id: *id,
                        key: b.key,
                        len: s.len() as u64,
                    },
                    Some(b),
                ))
            } else {
                Ok((
                    ContentRef {
                        id: *id,
                        key: keys.blob_key(s),
                        len: s.len() as u64,
                    },
                    None,
                ))
            }
        })
        .collect()
}

impl BackupSession {
    pub fn owner(&self) -> &OwnerRef {
        &self.owner
    }

    pub fn mode(&self) -> BackupMode {
        self.mode
    }

    /// The parent snapshot, if any.
    pub fn parent(&self) -> Option<&Snapshot> {
        self.parent.as_ref()
    }

    /// Statistics so far.
    pub fn stats(&self) -> SnapshotStats {
        let mut s = self.stats;
        s.blobs_new = self.packer.blobs_new;
        s.bytes_stored = self.packer.bytes_stored;
        s.failures = self.failures.len() as u64;
        s
    }

    /// The item with this id in the parent snapshot.
    pub async fn previous(&self, item_id: &str) -> Result<Option<ItemRecord>> {
        match &self.parent {
            Some(p) => p.item(item_id).await,
            None => Ok(None),
        }
    }

    async fn store_blob(&mut self, data: Vec<u8>, kind: BlobKind) -> Result<ContentRef> {
        let keys = self.repo.keys().clone();
        let known = self.packer.known_fn();
        let level = self.repo.config().zstd_level;
        let len = data.len();
        let mut out = if len <= INLINE_CPU {
            process_chunks(&keys, &data, &[len], level, &known, false, None)?
        } else {
            on_cpu(move || process_chunks(&keys, &data, &[len], level, &known, false, None)).await?
        };
        let (r, enc) = out.pop().expect("one chunk");
        if let Some(b) = enc {
            self.packer.add(&b, kind).await?;
        }
        Ok(r)
    }

    /// A handle to prepare small items concurrently (see [`Preparer`]).
    pub fn preparer(&self) -> Preparer {
        Preparer {
            repo: self.repo.clone(),
            candidates: self.packer.candidates.clone(),
        }
    }

    /// Add an item prepared by [`Preparer::prepare`].
    pub async fn put_prepared(&mut self, item: PreparedItem) -> Result<ItemRecord> {
        // No location added to the cache since the blobs were found missing: skip the lookup.
        let looked_up = self.repo.inner.cache.generation() == item.checked_at;
        for b in &item.blobs {
            self.packer
                .add_looked_up(b, BlobKind::Data, looked_up)
                .await?;
        }
        self.stats.items_new += 1;
        self.stats.bytes_read += item.total;
        self.finish_item(item.meta, item.refs, item.total).await
    }

    async fn finish_item(
        &mut self,
        meta: ItemMeta,
        content: Vec<ContentRef>,
        size: u64,
    ) -> Result<ItemRecord> {
        let metadata = match meta.metadata {
            None => None,
            Some(m) if m.len() <= INLINE_METADATA => Some(MetadataRef::Inline(m)),
            Some(m) => Some(MetadataRef::Blob(self.store_blob(m, BlobKind::Data).await?)),
        };
        let rec = ItemRecord {
            id: meta.id,
            kind: meta.kind,
            path: meta.path,
            name: meta.name,
            created: meta.created,
            modified: meta.modified,
            received: meta.received,
            size,
            version: meta.version,
            content,
            metadata,
            attrs: meta.attrs,
        };
        self.pending
            .stage(&rec.id.clone(), Pending::Put(Box::new(rec.clone())))?;
        Ok(rec)
    }

    /// Store an item whose content is unchanged but whose metadata/name/path/dates changed
    /// (a flag or folder change on a message): everything from `meta`, the content blob list
    /// and size from `content_from`; no content is read.
    pub async fn put_item_reusing(
        &mut self,
        meta: ItemMeta,
        content_from: &ItemRecord,
    ) -> Result<ItemRecord> {
        validate_id(&meta.id)?;
        self.finish_item(meta, content_from.content.clone(), content_from.size)
            .await
    }

    /// Carry an unchanged item over from the parent without reading its content.
    /// (A record equal to the parent's is staged as a reference to it, which lets the
    /// snapshot reuse the parent's item lists; any other record is stored as given.)
    pub async fn keep_item(&mut self, prev: ItemRecord) -> Result<()> {
        validate_id(&prev.id)?;
        if let Some(p) = &self.parent
            && let Some((list, j)) = p.locate(&prev.id).await?
            && list[j] == prev
        {
            return self.pending.stage(&prev.id, Pending::Keep(prev.size));
        }
        self.pending
            .stage(&prev.id.clone(), Pending::Put(Box::new(prev)))
    }

    /// If the parent holds exactly this record, carry it over (as [`keep_item`](Self::keep_item))
    /// and return true; otherwise stage nothing and return false.
    pub async fn keep_if_same(&mut self, rec: &ItemRecord) -> Result<bool> {
        validate_id(&rec.id)?;
        let Some(p) = &self.parent else {
            return Ok(false);
        };
        match p.locate(&rec.id).await? {
            Some((list, j)) if list[j] == *rec => {
                self.pending.stage(&rec.id, Pending::Keep(rec.size))?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// If the parent holds item `id` with this `kind` and `version`, carry it over unchanged
    /// (as [`keep_item`](Self::keep_item), without copying the record) and return its size;
    /// otherwise stage nothing and return `None`.
    pub async fn keep_unchanged(
        &mut self,
        id: &str,
        kind: &str,
        version: &str,
    ) -> Result<Option<u64>> {
        validate_id(id)?;
        let Some(p) = &self.parent else {
            return Ok(None);
        };
        let size = match p.locate(id).await? {
            Some((list, j)) if list[j].kind == kind && list[j].version == version => list[j].size,
            _ => return Ok(None),
        };
        self.pending.stage(id, Pending::Keep(size))?;
        Ok(Some(size))
    }

    /// Remove an item (Incremental mode: drops it from the parent's set).
    pub async fn delete_item(&mut self, item_id: &str) -> Result<()> {
        validate_id(item_id)?;
        self.pending.stage(item_id, Pending::Delete)
    }

    /// Note an item that could not be backed up; the snapshot lists it.
    pub fn record_failure(&mut self, item_id: &str, reason: &str) {
        tracing::warn!(item = item_id, reason, "item failed");
        self.failures.push(Failure {
            item_id: item_id.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Make this session rewrite `old` (rewrite.rs): same time, parent, completeness, mode and
    /// failures; stats keep the old run's figures except the item count and bytes.
    pub(crate) fn rewriting(&mut self, old: &Snapshot) {
        self.time = Some(old.summary().time);
        self.failures = old.failures().to_vec();
        self.rewrite_of = Some(old.summary().clone());
    }

    /// Write a partial snapshot (checkpoint) of everything so far, for resume. If active
    /// holds cover the owner and the storage has the S3 legal-hold flag, the checkpoint's held
    /// objects are flagged as at [`commit`](Self::commit) (a checkpoint is the only copy of
    /// its items should the run stop; `maintain locks` flags checkpoints too).
    pub async fn checkpoint(&mut self, state: serde_json::Value) -> Result<SnapshotId> {
        let s = self.write_snapshot(state, false).await?;
        self.repo
            .flag_new_snapshot(&s, &self.packer.written, &mut self.flagged)
            .await;
        Ok(s.id)
    }

    /// Write the final snapshot and end the session. If active holds cover the snapshot and
    /// the storage has the S3 legal-hold flag, its held objects (root, item-list packs, packs
    /// of the held items' blobs, their index files) are flagged right away; a flag that cannot
    /// be set (e.g. no `s3:PutObjectLegalHold` permission) is logged and left to
    /// `maintain locks`, it does not fail the commit.
    pub async fn commit(mut self, state: serde_json::Value) -> Result<SnapshotSummary> {
        let s = self.write_snapshot(state, true).await?;
        self.repo
            .flag_new_snapshot(&s, &self.packer.written, &mut self.flagged)
            .await;
        self.marker.finish().await;
        Ok(s)
    }

    async fn write_snapshot(
        &mut self,
        state: serde_json::Value,
        complete: bool,
    ) -> Result<SnapshotSummary> {
        self.packer.flush().await?;
        let mut out = ListsOut::default();
        let mut cursor = self.pending.cursor()?;
        let parent = self.parent.clone();
        let incremental = self.mode == BackupMode::Incremental;
        if let Some(p) = &parent {
            let lists = p.lists();
            for (i, l) in lists.iter().enumerate() {
                let end = lists.get(i + 1).map(|n| n.first.as_str());
                // Staged items before the parent's first list (ids sort before all of its).
                while let Some((id, _)) = cursor.peek(&self.pending, 0)?
                    && id.as_str() < l.first.as_str()
                {
                    let (id, p) = cursor.pop(&self.pending)?.expect("peeked");
                    self.emit_unmatched(&mut out, id, p).await?;
                }
                if let Some(kept_bytes) = self.reusable(&mut cursor, l, end, incremental)? {
                    // The whole list is carried over unchanged: reference the parent's blob.
                    while cursor
                        .peek(&self.pending, 0)?
                        .is_some_and(|(id, _)| end.is_none_or(|e| id.as_str() < e))
                    {
                        cursor.pop(&self.pending)?;
                    }
                    let bytes = match kept_bytes {
                        Some(b) => b,
                        None => p.list_at(i).await?.iter().map(|r| r.size).sum(),
                    };
                    self.settle_lists(&mut out).await?;
                    out.lists.push(l.clone());
                    out.items += l.count;
                    out.bytes += bytes;
                    continue;
                }
                // Decoded only when needed: Incremental mode carries the parent's other items,
                // a kept item is copied from it; a Full run that only puts never reads it.
                let mut items = if incremental {
                    Some(p.list_at(i).await?)
                } else {
                    None
                };
                let mut k = 0;
                while let Some((id, staged)) = cursor.peek(&self.pending, 0)?
                    && end.is_none_or(|e| id.as_str() < e)
                {
                    if items.is_none() && matches!(staged, Pending::Keep(_)) {
                        let v = p.list_at(i).await?;
                        k = v.partition_point(|r| r.id < *id);
                        items = Some(v);
                    }
                    let (id, staged) = cursor.pop(&self.pending)?.expect("peeked");
                    let empty = Vec::new();
                    let items: &[ItemRecord] = items.as_deref().map_or(&empty[..], |v| &v[..]);
                    while k < items.len() && items[k].id < id {
                        if incremental {
                            self.emit(&mut out, items[k].clone()).await?;
                        }
                        k += 1;
                    }
                    let in_parent = k < items.len() && items[k].id == id;
                    match staged {
                        Pending::Keep(_) if in_parent => {
                            self.emit(&mut out, items[k].clone()).await?
                        }
                        Pending::Keep(_) => {
                            return Err(Error::Invalid(format!(
                                "item {id} was kept but is not in the parent snapshot"
                            )));
                        }
                        Pending::Put(r) => self.emit(&mut out, *r).await?,
                        Pending::Delete => {}
                    }
                    if in_parent {
                        k += 1;
                    }
                }
                if incremental && let Some(items) = &items {
                    for r in &items[k..] {
                        self.emit(&mut out, r.clone()).await?;
                    }
                }
            }
        }
        while let Some((id, p)) = cursor.pop(&self.pending)? {
            self.emit_unmatched(&mut out, id, p).await?;
        }
        self.settle_lists(&mut out).await?;
        let ListsOut {
            lists,
            items,
            bytes,
            ..
        } = out;
        self.packer.flush().await?;
        let mut stats = self.stats();
        if let Some(old) = &self.rewrite_of {
            stats = old.stats;
        }
        stats.items = items;
        stats.bytes = bytes;
        let id = SnapshotId(crate::crypto::random_hex(16));
        let mut head = SnapshotSummary {
            id: id.clone(),
            owner: self.owner.clone(),
            time: self.time.unwrap_or_else(chrono::Utc::now),
            parent: self.parent.as_ref().map(|p| p.id().clone()),
            complete,
            mode: self.mode,
            stats,
        };
        if let Some(old) = &self.rewrite_of {
            head.parent = old.parent.clone();
            head.complete = old.complete && complete;
            head.mode = old.mode;
        }
        let body = SnapshotBody {
            state,
            failures: self.failures.clone(),
            lists,
        };
        let okey = self.repo.owner_key(&self.oid, true).await?;
        let root = encode_root(&self.repo.keys().meta_key, &okey, &self.oid, &head, &body);
        fail::fail_point!("before-snapshot-write", |_| Err(Error::Invalid(
            "failpoint before-snapshot-write".into()
        )));
        let root = bytes::Bytes::from(root);
        let outcome = self
            .repo
            .storage()
            .put_if_absent(&snapshot_key(&id), root.clone())
            .await?;
        if outcome == crate::storage::PutOutcome::Created {
            self.repo.remember_root(&id, &root);
        }
        fail::fail_point!("after-snapshot-write", |_| Err(Error::Invalid(
            "failpoint after-snapshot-write".into()
        )));
        tracing::info!(snapshot = %id, owner = %self.owner, items, complete, "snapshot written");
        Ok(head)
    }

    /// Whether the parent's list `l` (ids up to `end`) can be referenced as it is: no item in
    /// its range is put or deleted, and (Full mode) every one of its items is kept. Returns
    /// `Some(bytes)` with the sum of the kept sizes when every item was kept, `Some(None)` when
    /// the sizes must be read from the list (Incremental mode), `None` when it cannot be reused.
    fn reusable(
        &self,
        cursor: &mut PendingCursor,
        l: &ListRef,
        end: Option<&str>,
        incremental: bool,
    ) -> Result<Option<Option<u64>>> {
        let mut kept = 0u64;
        let mut bytes = 0u64;
        let mut n = 0;
        while let Some((id, p)) = cursor.peek(&self.pending, n)? {
            if end.is_some_and(|e| id.as_str() >= e) {
                break;
            }
            match p {
                Pending::Keep(size) => {
                    kept += 1;
                    bytes += size;
                }
                _ => return Ok(None),
            }
            if kept > l.count {
                return Ok(None);
            }
            n += 1;
        }
        // A list in a pack that GC is about to delete is written again instead.
        if !crate::packer::stored_usable(&self.repo, &self.packer.candidates, &l.id)? {
            return Ok(None);
        }
        Ok(if kept == l.count {
            Some(Some(bytes))
        } else if incremental {
            Some(None)
        } else {
            None
        })
    }

    /// A staged entry outside every parent list's range.
    async fn emit_unmatched(&mut self, out: &mut ListsOut, id: String, p: Pending) -> Result<()> {
        match p {
            Pending::Put(r) => self.emit(out, *r).await,
            Pending::Delete => Ok(()),
            Pending::Keep(_) => Err(Error::Invalid(format!(
                "item {id} was kept but is not in the parent snapshot"
            ))),
        }
    }

    /// Append one record to the snapshot's lists being written.
    async fn emit(&mut self, out: &mut ListsOut, r: ItemRecord) -> Result<()> {
        out.items += 1;
        out.bytes += r.size;
        out.cur_bytes += 200 + r.content.len() * 150 + r.id.len() + r.path.len() + r.name.len();
        out.cur.push(r);
        if out.cur.len() >= LIST_MAX_ITEMS || out.cur_bytes >= LIST_MAX_BYTES {
            self.flush_list(out).await?;
        }
        Ok(())
    }

    /// Start encoding the list being filled (on the CPU pool, while the next one fills); store
    /// the oldest encoded list once more than [`LISTS_IN_FLIGHT`] are being encoded.
    async fn flush_list(&mut self, out: &mut ListsOut) -> Result<()> {
        if !out.cur.is_empty() {
            let items = std::mem::take(&mut out.cur);
            out.cur_bytes = 0;
            let keys = self.repo.keys().clone();
            let known = self.packer.known_fn();
            let level = self.repo.config().zstd_level;
            out.running.push_back(spawn_cpu(move || {
                let first = items[0].id.clone();
                let count = items.len() as u64;
                let data = encode_list(&items);
                drop(items);
                let len = data.len();
                let mut enc = process_chunks(&keys, &data, &[len], level, &known, false, None)?;
                let (r, blob) = enc.pop().expect("one chunk");
                let list = ListRef {
                    first,
                    id: r.id,
                    key: r.key,
                    len: len as u64,
                    count,
                };
                Ok((list, blob))
            }));
            if out.running.len() > LISTS_IN_FLIGHT {
                self.store_oldest_list(out).await?;
            }
        }
        Ok(())
    }

    /// [`flush_list`](Self::flush_list), then store every list still being encoded (before a
    /// parent's list is referenced as it is, and at the end: lists stay in id order).
    async fn settle_lists(&mut self, out: &mut ListsOut) -> Result<()> {
        self.flush_list(out).await?;
        while !out.running.is_empty() {
            self.store_oldest_list(out).await?;
        }
        Ok(())
    }

    async fn store_oldest_list(&mut self, out: &mut ListsOut) -> Result<()> {
        let Some(job) = out.running.pop_front() else {
            return Ok(());
        };
        let (list, blob) = join_cpu(job).await?;
        if let Some(b) = blob {
            self.packer.add(&b, BlobKind::Tree).await?;
        }
        out.lists.push(list);
        Ok(())
    }
}

/// An item list's reference and, if it is new, its encoded blob.
type EncodedList = (ListRef, Option<EncodedBlob>);

/// Item lists encoded at once while the session reads on through its staged items.
const LISTS_IN_FLIGHT: usize = 2;

/// The item lists of a snapshot being written.
#[derive(Default)]
struct ListsOut {
    lists: Vec<ListRef>,
    cur: Vec<ItemRecord>,
    cur_bytes: usize,
    /// Lists being encoded, oldest first.
    running: std::collections::VecDeque<CpuJob<Result<EncodedList>>>,
    items: u64,
    bytes: u64,
}

fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 4096 {
        return Err(Error::Invalid("item id must be 1..=4096 bytes".into()));
    }
    Ok(())
}
