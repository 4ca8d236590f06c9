//! The packer: collects new blobs of one session into packs and writes pack → index.

use crate::blob::EncodedBlob;
use crate::crypto::{BlobId, PackId};
use crate::error::{Error, Result};
use crate::index::{encode_index, index_key};
use crate::pack::{BlobKind, PackBuilder, pack_key};
use crate::repository::Repository;
use parking_lot::RwLock;
use std::collections::HashSet;
use std::sync::Arc;

/// Packs of one writer. Holds at most one pack in memory.
pub(crate) struct Packer {
    repo: Repository,
    builder: PackBuilder,
    in_pack: HashSet<BlobId>,
    target: usize,
    /// Packs named in live GC candidate lists: never dedup against them.
    pub candidates: Arc<RwLock<HashSet<PackId>>>,
    pub blobs_new: u64,
    pub bytes_stored: u64,
    pub packs_written: u64,
    /// Set when a pack write failed: blobs staged in it are lost, so the session must not commit.
    failed: bool,
}

impl Packer {
    pub fn new(repo: Repository, candidates: Arc<RwLock<HashSet<PackId>>>) -> Self {
        let target = repo.config().pack_target as usize;
        Packer {
            repo,
            builder: PackBuilder::new(),
            in_pack: HashSet::new(),
            target,
            candidates,
            blobs_new: 0,
            bytes_stored: 0,
            packs_written: 0,
            failed: false,
        }
    }

    /// A predicate usable off the async runtime: is this blob already stored (usable for dedup)?
    pub fn known_fn(&self) -> impl Fn(&BlobId) -> Result<bool> + Send + Sync + 'static {
        let repo = self.repo.clone();
        let in_pack = self.in_pack.clone();
        let candidates = self.candidates.clone();
        move |id| {
            if in_pack.contains(id) {
                return Ok(true);
            }
            Ok(match repo.inner.cache.lookup(id)? {
                Some(loc) => !candidates.read().contains(&loc.pack),
                None => false,
            })
        }
    }

    /// Is the blob already in the pending pack?
    pub fn pending(&self, id: &BlobId) -> bool {
        self.in_pack.contains(id)
    }

    /// Add a new blob; writes the pack when it reaches the target size.
    pub async fn add(&mut self, blob: &EncodedBlob, kind: BlobKind) -> Result<()> {
        self.check_ok()?;
        if !self.in_pack.insert(blob.id) {
            return Ok(());
        }
        self.builder.add(blob.id, kind, blob.plain_len, &blob.stored);
        self.blobs_new += 1;
        self.bytes_stored += blob.stored.len() as u64;
        if self.builder.len() >= self.target {
            self.flush().await?;
        }
        Ok(())
    }

    /// Write the pending pack, then its index file, then record it in the local cache.
    pub async fn flush(&mut self) -> Result<()> {
        self.check_ok()?;
        if self.builder.is_empty() {
            return Ok(());
        }
        self.failed = true;
        self.write_pack().await?;
        self.failed = false;
        Ok(())
    }

    fn check_ok(&self) -> Result<()> {
        if self.failed {
            return Err(Error::Invalid("an earlier pack write failed; this backup session cannot continue (start a new one to resume)".into()));
        }
        Ok(())
    }

    async fn write_pack(&mut self) -> Result<()> {
        let builder = std::mem::take(&mut self.builder);
        let keys = self.repo.keys().clone();
        let (id, bytes, entries) = tokio::task::spawn_blocking(move || builder.finish(&keys.meta_key))
            .await
            .expect("pack finish task");
        let storage = self.repo.storage().clone();
        storage.put_if_absent(&pack_key(&id), bytes.into()).await?;
        fail::fail_point!("after-pack-write", |_| Err(Error::Invalid("failpoint after-pack-write".into())));
        let index = encode_index(&self.repo.keys().meta_key, &id, &entries);
        storage.put_if_absent(&index_key(&id), index.into()).await?;
        fail::fail_point!("after-index-write", |_| Err(Error::Invalid("failpoint after-index-write".into())));
        self.repo.inner.cache.insert(&id, &entries)?;
        self.in_pack.clear();
        self.packs_written += 1;
        tracing::debug!(pack = %id, blobs = entries.len(), "pack written");
        Ok(())
    }
}
