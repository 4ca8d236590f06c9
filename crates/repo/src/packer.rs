//! The packer: collects new blobs of one session into packs and writes pack → index.
//!
//! A full pack is uploaded by a background task while the next one fills. On storage with a
//! local staging directory a pack is streamed to a temporary file as it fills (`file.rs`) and
//! no pack is held in memory; otherwise at most two packs are in memory.

use crate::blob::EncodedBlob;
use crate::crypto::{BlobId, MasterKeys, PackId};
use crate::error::{Error, Result};
use crate::index::{encode_index, index_key};
use crate::pack::{BlobKind, PackBuilder, PackEntry, pack_key};
use crate::repository::Repository;
use parking_lot::RwLock;
use std::collections::HashSet;
use std::sync::Arc;

/// Capacity reserved beyond the pack target (one large chunk, sealed, plus the header).
const PACK_SLACK: usize = (4 << 20) + (64 << 10);

/// Smallest capacity reserved for a pack buffer: just above glibc's largest dynamic mmap
/// threshold (32 MiB on 64-bit). glibc serves an allocation this large with its own mapping
/// and returns it to the system on free without raising its threshold; a freed 20 MiB pack
/// buffer raised the threshold to 20 MiB, after which every buffer up to that size came from
/// per-thread arenas that are not given back, and a first backup of 50,000 messages peaked
/// near 110 MiB of RSS for 40-60 MiB of live heap. Capacity beyond what is written is never
/// touched, so it costs address space, not memory.
const PACK_MIN_CAPACITY: usize = (32 << 20) + (1 << 20);

type Upload = tokio::task::JoinHandle<Result<(PackId, Vec<PackEntry>)>>;

mod file;
use file::PackFile;

/// The pack being filled: in memory, or streamed to a file when the storage has a local
/// staging directory.
enum Filling {
    Memory(PackBuilder),
    File(PackFile),
}

impl Filling {
    fn len(&self) -> usize {
        match self {
            Filling::Memory(b) => b.len(),
            Filling::File(f) => f.len(),
        }
    }
}

/// Packs of one writer.
pub(crate) struct Packer {
    repo: Repository,
    /// `None` until the first blob of the next pack.
    builder: Option<Filling>,
    in_pack: HashSet<BlobId>,
    inflight: Option<(Upload, HashSet<BlobId>)>,
    target: usize,
    /// Packs named in live GC candidate lists: never dedup against them.
    pub candidates: Arc<RwLock<HashSet<PackId>>>,
    pub blobs_new: u64,
    pub bytes_stored: u64,
    pub packs_written: u64,
    /// The packs this session wrote (for flagging a held owner's new objects at commit).
    pub written: HashSet<PackId>,
    /// Set when a pack write failed: blobs staged in it are lost, so the session must not commit.
    failed: bool,
}

/// Is a blob stored and usable for dedup (indexed, and its pack not a GC candidate)?
pub(crate) fn stored_usable(
    repo: &Repository,
    candidates: &RwLock<HashSet<PackId>>,
    id: &BlobId,
) -> Result<bool> {
    Ok(match repo.inner.cache.lookup(id)? {
        Some(loc) => !candidates.read().contains(&loc.pack),
        None => false,
    })
}

async fn upload(
    repo: Repository,
    keys: MasterKeys,
    builder: Filling,
) -> Result<(PackId, Vec<PackEntry>)> {
    let storage = repo.storage().clone();
    let (id, index, entries) = match builder {
        Filling::Memory(builder) => {
            let (id, pack, index, entries) = tokio::task::spawn_blocking(move || {
                let (id, pack, entries) = builder.finish(&keys.meta_key);
                let index = encode_index(&keys.meta_key, &id, &entries);
                (id, pack, index, entries)
            })
            .await
            .expect("pack finish task");
            storage.put_if_absent(&pack_key(&id), pack.into()).await?;
            (id, index, entries)
        }
        Filling::File(f) => {
            let (id, file, entries) = f.finish(&keys.meta_key).await?;
            storage.put_file_if_absent(&pack_key(&id), &file).await?;
            drop(file);
            let index = encode_index(&keys.meta_key, &id, &entries);
            (id, index, entries)
        }
    };
    fail::fail_point!("after-pack-write", |_| Err(Error::Invalid(
        "failpoint after-pack-write".into()
    )));
    storage.put_if_absent(&index_key(&id), index.into()).await?;
    fail::fail_point!("after-index-write", |_| Err(Error::Invalid(
        "failpoint after-index-write".into()
    )));
    tracing::debug!(pack = %id, blobs = entries.len(), "pack written");
    // Recorded in the local cache here, off the session's task: the insert rewrites many cache
    // pages and would otherwise stall the loop that feeds the CPU pool. Until this task is
    // awaited, the packer still answers `pending` for these ids.
    let cache_repo = repo.clone();
    let entries = tokio::task::spawn_blocking(move || {
        cache_repo
            .inner
            .cache
            .insert(&id, &entries)
            .map(|()| entries)
    })
    .await
    .expect("cache insert task")?;
    Ok((id, entries))
}

impl Packer {
    pub fn new(repo: Repository, candidates: Arc<RwLock<HashSet<PackId>>>) -> Self {
        let target = repo.config().pack_target as usize;
        Packer {
            repo,
            builder: None,
            in_pack: HashSet::new(),
            inflight: None,
            target,
            candidates,
            blobs_new: 0,
            bytes_stored: 0,
            packs_written: 0,
            written: HashSet::new(),
            failed: false,
        }
    }

    /// A predicate usable off the async runtime: is this blob already stored (indexed)?
    /// Blobs pending in this session's packs are caught later by [`Packer::add`].
    pub fn known_fn(&self) -> impl Fn(&BlobId) -> Result<bool> + Send + Sync + 'static {
        let repo = self.repo.clone();
        let candidates = self.candidates.clone();
        move |id| stored_usable(&repo, &candidates, id)
    }

    /// Is the blob in a pack of this session not yet recorded in the index cache?
    pub fn pending(&self, id: &BlobId) -> bool {
        self.in_pack.contains(id)
            || self
                .inflight
                .as_ref()
                .is_some_and(|(_, ids)| ids.contains(id))
    }

    /// Add a new blob (skipped if it is already stored); starts a pack upload when full.
    pub async fn add(&mut self, blob: &EncodedBlob, kind: BlobKind) -> Result<()> {
        self.add_looked_up(blob, kind, false).await
    }

    /// [`add`](Self::add); `looked_up`: the caller found the blob missing from the index cache
    /// and no location was added since (see `IndexCache::generation`), so it is not looked up
    /// again.
    pub async fn add_looked_up(
        &mut self,
        blob: &EncodedBlob,
        kind: BlobKind,
        looked_up: bool,
    ) -> Result<()> {
        self.check_ok()?;
        if self.pending(&blob.id)
            || (!looked_up && stored_usable(&self.repo, &self.candidates, &blob.id)?)
        {
            return Ok(());
        }
        let builder = match &mut self.builder {
            Some(b) => b,
            None => self
                .builder
                .insert(match self.repo.storage().staging_dir() {
                    Some(dir) => Filling::File(PackFile::create(&dir)?),
                    // Room for the target plus the blob that crosses it (the largest chunk is
                    // 4 MiB with the default profiles); untouched capacity costs no memory.
                    None => Filling::Memory(PackBuilder::with_capacity(
                        (self.target + PACK_SLACK).max(PACK_MIN_CAPACITY),
                    )),
                }),
        };
        match builder {
            Filling::Memory(b) => b.add(blob.id, kind, blob.plain_len, &blob.stored),
            Filling::File(f) => f.add(blob.id, kind, blob.plain_len, &blob.stored).await,
        }
        self.in_pack.insert(blob.id);
        self.blobs_new += 1;
        self.bytes_stored += blob.stored.len() as u64;
        if builder.len() >= self.target {
            self.start_upload().await?;
        }
        Ok(())
    }

    async fn wait_inflight(&mut self) -> Result<()> {
        if let Some((h, _)) = self.inflight.take() {
            self.failed = true;
            let (id, entries) = h
                .await
                .map_err(|e| Error::Invalid(format!("pack upload task: {e}")))??;
            tracing::trace!(pack = %id, blobs = entries.len(), "pack recorded");
            self.packs_written += 1;
            self.written.insert(id);
            self.failed = false;
        }
        Ok(())
    }

    async fn start_upload(&mut self) -> Result<()> {
        self.wait_inflight().await?;
        let Some(builder) = self.builder.take() else {
            return Ok(());
        };
        let ids = std::mem::take(&mut self.in_pack);
        let h = tokio::spawn(upload(self.repo.clone(), self.repo.keys().clone(), builder));
        self.inflight = Some((h, ids));
        Ok(())
    }

    /// Write everything pending (pack, then its index) and record it in the local cache.
    pub async fn flush(&mut self) -> Result<()> {
        self.check_ok()?;
        self.start_upload().await?;
        self.wait_inflight().await
    }

    fn check_ok(&self) -> Result<()> {
        if self.failed {
            return Err(Error::Invalid(
                "an earlier pack write failed; this backup session cannot continue (start a new one to resume)".into(),
            ));
        }
        Ok(())
    }
}

impl Drop for Packer {
    fn drop(&mut self) {
        // An abandoned upload may finish or not; either way the repository stays valid.
        if let Some((h, _)) = self.inflight.take() {
            drop(h);
        }
    }
}
