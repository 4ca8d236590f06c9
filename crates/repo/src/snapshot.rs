//! Snapshot roots, item lists and reading snapshots (FORMAT.md §7).

use crate::crypto::{BlobId, BlobKey, Key, b64, open, seal, unb64};
use crate::error::{Error, Result};
use crate::model::{
    ContentRef, Failure, ItemRecord, MetadataRef, SnapshotFilter, SnapshotId, SnapshotSummary,
};
use crate::repository::Repository;
use crate::storage::StorageError;
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// Max items per item-list blob.
pub(crate) const LIST_MAX_ITEMS: usize = 2000;
/// Max serialized bytes per item-list blob (soft).
pub(crate) const LIST_MAX_BYTES: usize = 1024 * 1024;

/// One entry of the root's item-list table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRef {
    pub first: String,
    pub id: BlobId,
    pub key: BlobKey,
    pub len: u64,
    pub count: u64,
}

/// The owner-encrypted part of a snapshot root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotBody {
    pub state: serde_json::Value,
    pub failures: Vec<Failure>,
    pub lists: Vec<ListRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RootDoc {
    version: u64,
    oid: String,
    head: String,
    body: String,
}

pub(crate) fn snapshot_key(id: &SnapshotId) -> String {
    format!("snapshots/{id}")
}

fn ad(kind: &str, id: &SnapshotId) -> Vec<u8> {
    format!("tv1 snap-{kind} {id}").into_bytes()
}

/// Seal a snapshot root.
pub(crate) fn encode_root(
    meta_key: &Key,
    owner_key: &Key,
    oid: &str,
    head: &SnapshotSummary,
    body: &SnapshotBody,
) -> Vec<u8> {
    let doc = RootDoc {
        version: 1,
        oid: oid.to_string(),
        head: b64(&seal(
            meta_key,
            &ad("head", &head.id),
            &serde_json::to_vec(head).expect("serializable"),
        )),
        body: b64(&seal(
            owner_key,
            &ad("body", &head.id),
            &serde_json::to_vec(body).expect("serializable"),
        )),
    };
    serde_json::to_vec(&doc).expect("serializable")
}

struct ParsedRoot {
    oid: String,
    head: SnapshotSummary,
    body_sealed: Vec<u8>,
}

fn decode_root_head(meta_key: &Key, id: &SnapshotId, bytes: &[u8]) -> Result<ParsedRoot> {
    let object = snapshot_key(id);
    let doc: RootDoc = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(&object, e))?;
    if doc.version != 1 {
        return Err(Error::corrupt(&object, "unknown snapshot version"));
    }
    let head = open(
        meta_key,
        &ad("head", id),
        &unb64(&doc.head, &object)?,
        &object,
    )?;
    let head: SnapshotSummary =
        serde_json::from_slice(&head).map_err(|e| Error::corrupt(&object, e))?;
    if head.id != *id {
        return Err(Error::corrupt(&object, "head names another snapshot"));
    }
    Ok(ParsedRoot {
        oid: doc.oid,
        head,
        body_sealed: unb64(&doc.body, &object)?,
    })
}

fn decode_body(owner_key: &Key, id: &SnapshotId, sealed: &[u8]) -> Result<SnapshotBody> {
    let object = snapshot_key(id);
    let body = open(owner_key, &ad("body", id), sealed, &object)?;
    serde_json::from_slice(&body).map_err(|e| Error::corrupt(&object, e))
}

/// Serialize one item list (sorted records).
pub(crate) fn encode_list(items: &[ItemRecord]) -> Vec<u8> {
    serde_json::to_vec(items).expect("serializable")
}

pub(crate) fn decode_list(bytes: &[u8], object: &str) -> Result<Vec<ItemRecord>> {
    serde_json::from_slice(bytes).map_err(|e| Error::corrupt(object, format!("item list: {e}")))
}

/// An opened snapshot: summary plus its (decrypted) item-list table.
///
/// Cloning is cheap (clones share one cache). `item()` keeps the [`LIST_CACHE`] most recently
/// used decoded item lists, so lookups in id order (or near it) cost no blob read; a reader
/// that looks items up in random order (a drive backup whose delta reports thousands of
/// moved files) raises the budget with [`set_list_cache_bytes`](Self::set_list_cache_bytes).
#[derive(Debug, Clone)]
pub struct Snapshot {
    repo: Repository,
    summary: SnapshotSummary,
    body: Arc<SnapshotBody>,
    cache: ListCache,
}

/// Recently decoded item lists, by index in the root table, least recently used first.
type ListCache = Arc<Mutex<DecodedLists>>;

#[derive(Debug, Default)]
struct DecodedLists {
    /// (index, list, plaintext bytes of its blob).
    lists: VecDeque<(usize, Arc<Vec<ItemRecord>>, usize)>,
    bytes: usize,
    /// Beyond [`LIST_CACHE`] lists, more are kept while their plaintext sizes sum to at most this.
    budget: usize,
}

impl DecodedLists {
    fn get(&mut self, i: usize) -> Option<Arc<Vec<ItemRecord>>> {
        let pos = self.lists.iter().position(|(k, _, _)| *k == i)?;
        let e = self.lists.remove(pos).expect("position is in range");
        let v = e.1.clone();
        self.lists.push_back(e);
        Some(v)
    }

    fn insert(&mut self, i: usize, v: Arc<Vec<ItemRecord>>, weight: usize) {
        if self.lists.iter().any(|(k, _, _)| *k == i) {
            return;
        }
        while self.lists.len() >= LIST_CACHE && self.bytes + weight > self.budget {
            let Some((_, _, w)) = self.lists.pop_front() else {
                break;
            };
            self.bytes -= w;
        }
        self.bytes += weight;
        self.lists.push_back((i, v, weight));
    }
}

/// Decoded item lists always kept per snapshot handle (more within the byte budget).
pub const LIST_CACHE: usize = 8;

/// A budget for [`Snapshot::set_list_cache_bytes`] suited to looking a parent's records up in
/// delta order (Graph workloads): about 100,000 records; roughly twice this in memory.
pub const RANDOM_LOOKUP_CACHE_BYTES: usize = 48 << 20;

impl Snapshot {
    pub fn summary(&self) -> &SnapshotSummary {
        &self.summary
    }
    pub fn id(&self) -> &SnapshotId {
        &self.summary.id
    }
    /// The workload's opaque state (delta tokens, …) saved at commit.
    pub fn state(&self) -> &serde_json::Value {
        &self.body.state
    }
    /// Items that failed in the run that produced this snapshot.
    pub fn failures(&self) -> &[Failure] {
        &self.body.failures
    }
    /// The item-list table (for check).
    pub fn lists(&self) -> &[ListRef] {
        &self.body.lists
    }

    async fn load_list(repo: Repository, l: ListRef) -> Result<Vec<ItemRecord>> {
        Ok(Self::load_list_sized(repo, l).await?.0)
    }

    async fn load_list_sized(repo: Repository, l: ListRef) -> Result<(Vec<ItemRecord>, usize)> {
        let bytes = repo.read_blob(&l.id, &l.key).await?;
        let v = decode_list(&bytes, &format!("item list {}", l.id))?;
        Ok((v, bytes.len()))
    }

    /// Keep decoded item lists beyond the [`LIST_CACHE`] most recent ones while their blobs'
    /// plaintext sizes sum to at most `bytes` (decoded lists take roughly twice that in
    /// memory). Applies to every clone of this handle.
    pub fn set_list_cache_bytes(&self, bytes: usize) {
        let mut c = self.cache.lock();
        c.budget = bytes;
        while c.lists.len() > LIST_CACHE && c.bytes > c.budget {
            if let Some((_, _, w)) = c.lists.pop_front() {
                c.bytes -= w;
            }
        }
    }

    /// All items, sorted by id, streamed list blob by list blob.
    pub fn items(&self) -> impl Stream<Item = Result<ItemRecord>> + Send + 'static {
        let repo = self.repo.clone();
        let lists = self.body.lists.clone();
        futures::stream::iter(lists)
            .map(move |l| Self::load_list(repo.clone(), l))
            .buffered(2)
            .map_ok(|v| futures::stream::iter(v.into_iter().map(Ok)))
            .try_flatten()
    }

    /// An item's metadata document (e.g. Graph JSON), if any.
    pub async fn metadata(&self, item: &ItemRecord) -> Result<Option<Vec<u8>>> {
        self.repo.item_metadata(item).await
    }

    /// One item by id: binary search over the table, one blob read.
    pub async fn item(&self, id: &str) -> Result<Option<ItemRecord>> {
        Ok(self.locate(id).await?.map(|(items, j)| items[j].clone()))
    }

    /// The decoded item list that holds `id` and its position in it, or `None` if the
    /// snapshot has no such item (no copy of the record).
    pub(crate) async fn locate(&self, id: &str) -> Result<Option<(Arc<Vec<ItemRecord>>, usize)>> {
        let i = self.body.lists.partition_point(|l| l.first.as_str() <= id);
        if i == 0 {
            return Ok(None);
        }
        let items = self.list_at(i - 1).await?;
        Ok(items
            .binary_search_by(|r| r.id.as_str().cmp(id))
            .ok()
            .map(|j| (items, j)))
    }

    /// The `i`-th item list (in the order of [`lists`](Self::lists)), decoded and kept in the
    /// handle's small cache. Lists with the same [`ListRef::id`] hold identical records, so a
    /// reader comparing two snapshots can skip lists they share.
    pub async fn list_at(&self, i: usize) -> Result<Arc<Vec<ItemRecord>>> {
        let cached = self.cache.lock().get(i);
        if let Some(v) = cached {
            return Ok(v);
        }
        let (v, weight) =
            Self::load_list_sized(self.repo.clone(), self.body.lists[i].clone()).await?;
        let v = Arc::new(v);
        self.cache.lock().insert(i, v.clone(), weight);
        Ok(v)
    }
}

impl Repository {
    /// Summaries of all snapshots matching `filter`, oldest first. Damaged roots are skipped
    /// with a warning (`check` reports them).
    pub async fn list_snapshots(&self, filter: SnapshotFilter) -> Result<Vec<SnapshotSummary>> {
        let mut out = Vec::new();
        for (k, _) in self.storage().list("snapshots/").await? {
            let id = SnapshotId(k.trim_start_matches("snapshots/").to_string());
            match self.read_root(&id, true).await {
                Ok(p) if filter.matches(&p.head) => out.push(p.head),
                Ok(_) => {}
                Err(Error::Corrupt { object, detail }) => {
                    tracing::warn!(%object, %detail, "skipping damaged snapshot")
                }
                Err(Error::Storage(StorageError::NotFound { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.time.cmp(&b.time).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Puts a root this process wrote into the local cache (best effort).
    pub(crate) fn remember_root(&self, id: &SnapshotId, sealed: &[u8]) {
        if let Err(e) = self.inner.cache.put_root(&id.0, sealed) {
            tracing::debug!(error = %e, "cannot cache a snapshot root");
        }
    }

    /// A snapshot root. With `cached`, the local cache answers for roots this machine has read
    /// before (roots are write-once; a cached copy that no longer opens is read again); `check`
    /// reads the repository itself.
    async fn read_root(&self, id: &SnapshotId, cached: bool) -> Result<ParsedRoot> {
        let cache = &self.inner.cache;
        if cached {
            match cache.root(&id.0) {
                Ok(Some(b)) => match decode_root_head(&self.keys().meta_key, id, &b) {
                    Ok(p) => return Ok(p),
                    Err(e) => tracing::debug!(snapshot = %id, error = %e, "cached root unusable"),
                },
                Ok(None) => {}
                Err(e) => tracing::debug!(error = %e, "snapshot root cache unreadable"),
            }
        }
        let bytes = self.storage().get(&snapshot_key(id)).await?;
        let parsed = decode_root_head(&self.keys().meta_key, id, &bytes)?;
        self.remember_root(id, &bytes);
        Ok(parsed)
    }

    /// Resolve a full id or a unique prefix.
    pub async fn resolve_snapshot(&self, id_or_prefix: &str) -> Result<SnapshotId> {
        if id_or_prefix.len() < 4 || !id_or_prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::Invalid(format!(
                "snapshot id {id_or_prefix:?}: need at least 4 hex characters"
            )));
        }
        let want = id_or_prefix.to_ascii_lowercase();
        let found: Vec<String> = self
            .storage()
            .list(&format!("snapshots/{want}"))
            .await?
            .into_iter()
            .map(|(k, _)| k.trim_start_matches("snapshots/").to_string())
            .collect();
        match found.len() {
            0 => Err(Error::NotFound(format!("snapshot {id_or_prefix}"))),
            1 => Ok(SnapshotId(found[0].clone())),
            n => Err(Error::Invalid(format!(
                "snapshot prefix {id_or_prefix} is ambiguous ({n} matches)"
            ))),
        }
    }

    /// Open a snapshot by id or unique prefix.
    pub async fn snapshot(&self, id_or_prefix: &str) -> Result<Snapshot> {
        self.open_snapshot(id_or_prefix, true).await
    }

    /// Like [`Self::snapshot`], reading the root from the repository, never the local cache.
    pub(crate) async fn snapshot_uncached(&self, id_or_prefix: &str) -> Result<Snapshot> {
        self.open_snapshot(id_or_prefix, false).await
    }

    async fn open_snapshot(&self, id_or_prefix: &str, cached: bool) -> Result<Snapshot> {
        let id = self.resolve_snapshot(id_or_prefix).await?;
        let root = self.read_root(&id, cached).await.map_err(|e| match e {
            Error::Storage(StorageError::NotFound { .. }) => {
                Error::NotFound(format!("snapshot {id}"))
            }
            e => e,
        })?;
        // The oid is outside the sealed head: a damaged one must not pass for an erased owner
        // (gc would then treat this snapshot's data as garbage).
        let owner = &root.head.owner;
        if root.oid != self.owner_id(&owner.workload, &owner.owner) {
            return Err(Error::corrupt(
                snapshot_key(&id),
                "root names another owner key than its sealed head",
            ));
        }
        let okey = self.owner_key(&root.oid, false).await?;
        let body = decode_body(&okey, &id, &root.body_sealed)?;
        Ok(Snapshot {
            repo: self.clone(),
            summary: root.head,
            body: Arc::new(body),
            cache: Arc::default(),
        })
    }

    /// An item's content as a stream of plaintext pieces (bounded memory: two blobs in flight).
    pub fn content_stream(
        &self,
        item: &ItemRecord,
    ) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        let repo = self.clone();
        let refs: Vec<ContentRef> = item.content.clone();
        futures::stream::iter(refs)
            .map(move |c| {
                let repo = repo.clone();
                async move {
                    let data = repo.read_blob(&c.id, &c.key).await?;
                    if data.len() as u64 != c.len {
                        return Err(Error::corrupt(
                            format!("blob {}", c.id),
                            "length differs from the item record",
                        ));
                    }
                    Ok(Bytes::from(data))
                }
            })
            .buffered(2)
    }

    /// An item's content as an `AsyncRead` (errors become `std::io::Error` wrapping [`Error`]).
    pub fn content_reader(
        &self,
        _snap: &Snapshot,
        item: &ItemRecord,
    ) -> impl tokio::io::AsyncRead + Send + Unpin + 'static {
        let s = self.content_stream(item).map_err(std::io::Error::other);
        tokio_util::io::StreamReader::new(Box::pin(s))
    }

    /// An item's metadata document, if any (same as [`Snapshot::metadata`]).
    pub async fn item_metadata(&self, item: &ItemRecord) -> Result<Option<Vec<u8>>> {
        match &item.metadata {
            None => Ok(None),
            Some(MetadataRef::Inline(v)) => Ok(Some(v.clone())),
            Some(MetadataRef::Blob(c)) => Ok(Some(self.read_blob(&c.id, &c.key).await?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKeys;
    use proptest::prelude::*;

    fn arb_item() -> impl Strategy<Value = ItemRecord> {
        (
            "[a-z0-9/]{1,20}",
            "[a-z]{1,8}",
            any::<u64>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            proptest::collection::btree_map("[a-z]{1,5}", "[ -~]{0,10}", 0..3),
            0usize..3,
        )
            .prop_map(|(id, kind, size, meta, attrs, n)| ItemRecord {
                id: id.clone(),
                kind,
                path: format!("/{id}"),
                name: id,
                created: None,
                modified: Some(
                    chrono::DateTime::from_timestamp(size as i64 % 4_000_000_000, 0).unwrap(),
                ),
                received: None,
                size,
                version: format!("v{size}"),
                content: (0..n)
                    .map(|i| ContentRef {
                        id: BlobId([i as u8; 32]),
                        key: BlobKey([9; 32]),
                        len: size % 1000,
                    })
                    .collect(),
                metadata: meta.map(MetadataRef::Inline),
                attrs,
            })
    }

    proptest! {
        /// Hostile input behind the AEAD: arbitrary item lists, roots and bodies (sealed with
        /// the right keys) decode to an error, never a panic.
        #[test]
        fn garbage_lists_and_roots_are_errors_never_panics(
            raw in proptest::collection::vec(any::<u8>(), 0..300),
            json in prop_oneof![
                Just("[{\"id\":1}]".to_string()),
                Just("{\"version\":1,\"oid\":\"x\",\"head\":\"!!\",\"body\":\"\"}".to_string()),
                Just("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_string()),
                "[ -~]{0,200}",
            ],
        ) {
            let keys = MasterKeys::generate();
            let owner = Key::random();
            let id = SnapshotId("00".repeat(16));
            for bytes in [raw.as_slice(), json.as_bytes()] {
                if let Ok(items) = decode_list(bytes, "list") {
                    prop_assert!(items.len() <= bytes.len());
                }
                prop_assert!(decode_root_head(&keys.meta_key, &id, bytes).is_err());
                let head = seal(&keys.meta_key, &ad("head", &id), bytes);
                let doc = serde_json::json!({"version": 1, "oid": "o", "head": b64(&head), "body": b64(bytes)});
                prop_assert!(decode_root_head(&keys.meta_key, &id, doc.to_string().as_bytes()).is_err());
                let body = seal(&owner, &ad("body", &id), bytes);
                prop_assert!(decode_body(&owner, &id, &body).is_err());
            }
        }
    }

    proptest! {
        #[test]
        fn item_list_round_trip(items in proptest::collection::vec(arb_item(), 0..20)) {
            let enc = encode_list(&items);
            prop_assert_eq!(decode_list(&enc, "t").unwrap(), items);
        }

        #[test]
        fn root_round_trip(n in 0usize..5, complete in any::<bool>()) {
            let keys = MasterKeys::generate();
            let owner = Key::random();
            let id = SnapshotId(crate::crypto::random_hex(16));
            let head = SnapshotSummary { id: id.clone(), owner: crate::OwnerRef::new("dir", "o"), time: chrono::Utc::now(), parent: None, complete, mode: Default::default(), stats: Default::default() };
            let body = SnapshotBody { state: serde_json::json!({"n": n}), failures: vec![], lists: (0..n).map(|i| ListRef { first: i.to_string(), id: BlobId([i as u8; 32]), key: BlobKey([1; 32]), len: 3, count: 1 }).collect() };
            let enc = encode_root(&keys.meta_key, &owner, "oid", &head, &body);
            let p = decode_root_head(&keys.meta_key, &id, &enc).unwrap();
            prop_assert_eq!(&p.head, &head);
            prop_assert_eq!(decode_body(&owner, &id, &p.body_sealed).unwrap(), body);
            prop_assert!(decode_body(&Key::random(), &id, &p.body_sealed).is_err());
        }
    }

    #[test]
    fn list_cache_keeps_recently_used_lists_and_more_within_its_budget() {
        let list = || Arc::new(Vec::<ItemRecord>::new());
        let mut c = DecodedLists::default();
        for i in 0..LIST_CACHE + 4 {
            c.insert(i, list(), 1000);
        }
        // No budget: the LIST_CACHE most recent lists.
        assert_eq!(c.lists.len(), LIST_CACHE);
        assert!(c.get(0).is_none() && c.get(4).is_some());
        // A hit moves a list to the back: 4 survives the next insert, 5 does not.
        c.insert(100, list(), 1000);
        assert!(c.get(4).is_some() && c.get(5).is_none());
        assert_eq!(c.bytes, 1000 * LIST_CACHE);
        // A budget keeps more, and evicts the least recently used past it.
        c.budget = 1000 * (LIST_CACHE + 3);
        for i in 200..210 {
            c.insert(i, list(), 1000);
        }
        assert_eq!(c.lists.len(), LIST_CACHE + 3);
        assert_eq!(c.bytes, 1000 * (LIST_CACHE + 3));
        // 4 was used more recently than 100, so 100 went first.
        assert!(c.get(209).is_some() && c.get(4).is_some() && c.get(100).is_none());
    }
}
