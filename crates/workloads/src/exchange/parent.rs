//! Lookups in the previous snapshot with a small cache of decoded item lists.
//!
//! `Snapshot::item` decodes one item list (up to a few thousand records) per call. An
//! incremental round looks up every changed item, and a delta reset every item of a folder, so
//! the decoded lists are cached here (least recently used, bounded count).

use std::sync::Arc;

use parking_lot::Mutex;
use tenantvault_repo::{ContentRef, ItemRecord, Repository, Snapshot};

use futures::TryStreamExt;

/// Decoded lists kept (each up to ~2,000 records, roughly 1 MB in memory).
const CACHED_LISTS: usize = 24;

/// The previous snapshot, for lookups by item id.
pub struct ParentIndex {
    snap: Arc<Snapshot>,
    repo: Repository,
    cache: Mutex<Vec<(usize, Arc<Vec<ItemRecord>>)>>,
}

impl std::fmt::Debug for ParentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParentIndex")
            .field("snapshot", self.snap.id())
            .finish()
    }
}

impl ParentIndex {
    /// Wrap a snapshot.
    pub fn new(repo: Repository, snap: Snapshot) -> ParentIndex {
        ParentIndex {
            snap: Arc::new(snap),
            repo,
            cache: Mutex::new(Vec::new()),
        }
    }

    /// The snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    /// The record with this id, if the snapshot has it.
    pub async fn item(&self, id: &str) -> Result<Option<ItemRecord>, tenantvault_repo::Error> {
        let lists = self.snap.lists();
        let i = lists.partition_point(|l| l.first.as_str() <= id);
        if i == 0 {
            return Ok(None);
        }
        let idx = i - 1;
        let cached = {
            let mut c = self.cache.lock();
            c.iter().position(|(k, _)| *k == idx).map(|pos| {
                let entry = c.remove(pos);
                let list = entry.1.clone();
                c.push(entry);
                list
            })
        };
        let list = match cached {
            Some(l) => l,
            None => match self.load(idx).await {
                Some(l) => {
                    let mut c = self.cache.lock();
                    if c.len() >= CACHED_LISTS {
                        c.remove(0);
                    }
                    c.push((idx, l.clone()));
                    l
                }
                // Not decodable here (a format this code does not know): ask the snapshot.
                None => return self.snap.item(id).await,
            },
        };
        Ok(list
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .map(|j| list[j].clone()))
    }

    /// Read and decode item list `idx` (a JSON array of records, FORMAT.md §7).
    async fn load(&self, idx: usize) -> Option<Arc<Vec<ItemRecord>>> {
        let l = &self.snap.lists()[idx];
        let fake = ItemRecord {
            id: String::new(),
            kind: String::new(),
            path: String::new(),
            name: String::new(),
            created: None,
            modified: None,
            received: None,
            size: l.len,
            version: String::new(),
            content: vec![ContentRef {
                id: l.id,
                key: l.key,
                len: l.len,
            }],
            metadata: None,
            attrs: Default::default(),
        };
        let pieces: Vec<bytes::Bytes> = self.repo.content_stream(&fake).try_collect().await.ok()?;
        let bytes: Vec<u8> = pieces.concat();
        serde_json::from_slice::<Vec<ItemRecord>>(&bytes).ok().map(Arc::new)
    }
}
