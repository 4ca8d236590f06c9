//! Index files (one per pack) and the local redb index cache (FORMAT.md §6).

use crate::crypto::{BlobId, Key, PackId, open, seal};
use crate::error::{Error, Result};
use crate::idset::RecordSorter;
use crate::pack::{BlobKind, PackEntry, decode_entries, encode_entries};
use crate::storage::Storage;
use futures::StreamExt;
use redb::{
    Database, Durability, MultimapTableDefinition, ReadableMultimapTable, ReadableTable,
    TableDefinition,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blobs");
const ABSORBED: TableDefinition<&str, u64> = TableDefinition::new("absorbed");
/// The blob ids of each absorbed pack (32-byte ids concatenated), so that the entries of a
/// pack removed by gc can be dropped without reading every index file again.
const PACK_BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("pack_blobs");
/// Further locations of blobs stored in more than one pack (`BLOBS` holds the latest one).
const ALT: MultimapTableDefinition<&[u8; 32], &[u8]> = MultimapTableDefinition::new("blob_alt");
/// Snapshot roots as stored (sealed), by snapshot id: roots are write-once, so listing
/// snapshots reads each from the repository (e.g. an S3 bucket) only once per machine.
const ROOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot_roots");
/// Packs whose blob ids are recorded (`PACK_BLOBS`) but whose entries may not all be in
/// `BLOBS` yet: a catch-up in progress (or killed). Such a pack counts as known to the cache for
/// the removal of gone packs, so that a pack deleted in between leaves no stale entries.
const PENDING: TableDefinition<&str, ()> = TableDefinition::new("pending_packs");

/// Index entries a catch-up sorts in memory before spilling a sorted run to a temporary file
/// (81 bytes each: 16 MiB).
const CATCH_UP_RUN: usize = 200_000;
/// Entries inserted into `BLOBS` per write transaction during a catch-up (in ascending id
/// order, so a transaction dirties only the leaves it appends to or passes).
const CATCH_UP_TX: usize = 100_000;
/// Bytes of per-pack id lists written to `PACK_BLOBS` per write transaction.
const PACK_IDS_TX: usize = 8 << 20;
/// Index files fetched and decoded ahead of the one being absorbed.
const CATCH_UP_FETCH_AHEAD: usize = 8;

/// Commits of the rebuildable cache are not fsynced, but they must be *durable* commits in
/// redb's sense: redb frees the pages a transaction replaced only on durable commits, so a cache
/// written with `Durability::None` alone grows without bound (measured: 12.9 GB for 5·10⁶ blobs,
/// rewriting most B-tree leaves on every pack).
const CACHE_DURABILITY: Durability = Durability::Eventual;

/// Storage key of a pack's index file.
pub fn index_key(pack: &PackId) -> String {
    format!("index/{pack}")
}

fn index_ad(pack: &PackId) -> Vec<u8> {
    let mut ad = b"tv1 index ".to_vec();
    ad.extend_from_slice(&pack.0);
    ad
}

/// Seal an index file for `pack` (entries are sorted by id).
pub fn encode_index(meta_key: &Key, pack: &PackId, entries: &[PackEntry]) -> Vec<u8> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|e| e.id);
    let mut body = vec![1u8];
    body.extend_from_slice(&pack.0);
    encode_entries(&sorted, &mut body);
    seal(meta_key, &index_ad(pack), &body)
}

/// Open and parse an index file.
pub fn decode_index(meta_key: &Key, pack: &PackId, sealed: &[u8]) -> Result<Vec<PackEntry>> {
    let object = index_key(pack);
    let body = open(meta_key, &index_ad(pack), sealed, &object)?;
    if body.len() < 33 || body[0] != 1 {
        return Err(Error::corrupt(
            &object,
            "unknown index version or truncated",
        ));
    }
    if body[1..33] != pack.0 {
        return Err(Error::corrupt(&object, "index names another pack"));
    }
    decode_entries(&body[33..], &object)
}

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub pack: PackId,
    pub kind: BlobKind,
    pub offset: u64,
    pub stored_len: u32,
    pub plain_len: u32,
}

fn enc_loc(pack: &PackId, e: &PackEntry) -> [u8; 49] {
    let mut v = [0u8; 49];
    v[..32].copy_from_slice(&pack.0);
    v[32] = e.kind as u8;
    v[33..41].copy_from_slice(&e.offset.to_le_bytes());
    v[41..45].copy_from_slice(&e.stored_len.to_le_bytes());
    v[45..49].copy_from_slice(&e.plain_len.to_le_bytes());
    v
}

fn dec_loc(v: &[u8]) -> Option<Location> {
    if v.len() != 49 {
        return None;
    }
    Some(Location {
        pack: PackId(v[..32].try_into().ok()?),
        kind: if v[32] == 1 {
            BlobKind::Tree
        } else {
            BlobKind::Data
        },
        offset: u64::from_le_bytes(v[33..41].try_into().ok()?),
        stored_len: u32::from_le_bytes(v[41..45].try_into().ok()?),
        plain_len: u32::from_le_bytes(v[45..49].try_into().ok()?),
    })
}

/// redb with a bounded page cache (the OS page cache does the rest).
fn cache_builder() -> redb::Builder {
    let mut b = redb::Builder::new();
    b.set_cache_size(16 << 20);
    b
}

/// See [`IndexCache::reader`].
pub(crate) struct IndexReader {
    _tx: redb::ReadTransaction,
    table: redb::ReadOnlyTable<&'static [u8; 32], &'static [u8]>,
}

impl IndexReader {
    pub fn lookup(&self, id: &BlobId) -> Result<Option<Location>> {
        Ok(self.table.get(&id.0)?.and_then(|v| dec_loc(v.value())))
    }
}

/// The local, rebuildable blob index cache.
#[derive(Debug)]
pub struct IndexCache {
    db: Database,
    _temp: Option<tempfile::TempDir>,
    path: PathBuf,
    /// Bumped after every commit that adds blob locations (see [`IndexCache::generation`]).
    generation: std::sync::atomic::AtomicU64,
}

impl IndexCache {
    /// Open (or create) the cache in `dir`. If another process holds it, use a private
    /// temporary cache inside `dir` instead.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("create cache dir {}", dir.display()), e))?;
        let path = dir.join("index.redb");
        match cache_builder().create(&path) {
            Ok(db) => Ok(Self::init(db, None, path)?),
            Err(redb::DatabaseError::DatabaseAlreadyOpen)
            | Err(redb::DatabaseError::Storage(redb::StorageError::Io(_))) => {
                let temp = tempfile::Builder::new()
                    .prefix("private-")
                    .tempdir_in(dir)
                    .map_err(|e| Error::io("create private cache", e))?;
                let path = temp.path().join("index.redb");
                tracing::debug!(path = %path.display(), "index cache busy, using a private cache");
                let db = cache_builder().create(&path)?;
                Self::init(db, Some(temp), path)
            }
            Err(e) => {
                // A damaged cache is rebuilt from the repository.
                tracing::warn!(error = %e, "index cache unreadable, rebuilding");
                let _ = std::fs::remove_file(&path);
                let db = cache_builder().create(&path)?;
                Self::init(db, None, path)
            }
        }
    }

    fn init(db: Database, temp: Option<tempfile::TempDir>, path: PathBuf) -> Result<Self> {
        let tx = db.begin_write()?;
        tx.open_table(BLOBS)?;
        tx.open_table(ABSORBED)?;
        tx.open_table(PACK_BLOBS)?;
        tx.open_multimap_table(ALT)?;
        tx.open_table(ROOTS)?;
        tx.open_table(PENDING)?;
        tx.commit()?;
        Ok(IndexCache {
            db,
            _temp: temp,
            path,
            generation: Default::default(),
        })
    }

    /// How many commits that add blob locations this process has made. A blob looked up
    /// (and missing) at generation `g` is still missing while the generation is `g`: a writer
    /// can then skip a second lookup of it before packing it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn added_locations(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// Path of the redb file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Look a blob up.
    pub fn lookup(&self, id: &BlobId) -> Result<Option<Location>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(BLOBS)?;
        Ok(t.get(&id.0)?.and_then(|v| dec_loc(v.value())))
    }

    /// A read view for many lookups (one transaction instead of one per lookup). It does not
    /// see entries inserted after it was opened.
    pub(crate) fn reader(&self) -> Result<IndexReader> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BLOBS)?;
        Ok(IndexReader { _tx: tx, table })
    }

    /// A snapshot root's sealed bytes, if this machine has read it before.
    pub fn root(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ROOTS)?;
        Ok(t.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Remember a snapshot root's sealed bytes (not durable: the cache is rebuildable).
    pub fn put_root(&self, id: &str, sealed: &[u8]) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(CACHE_DURABILITY);
        tx.open_table(ROOTS)?.insert(id, sealed)?;
        tx.commit()?;
        Ok(())
    }

    /// Record the entries of one pack's index file.
    pub fn insert(&self, pack: &PackId, entries: &[PackEntry]) -> Result<()> {
        self.insert_many(&[(*pack, entries.to_vec())])
    }

    fn insert_many(&self, packs: &[(PackId, Vec<PackEntry>)]) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(CACHE_DURABILITY);
        {
            let mut t = tx.open_table(BLOBS)?;
            let mut a = tx.open_table(ABSORBED)?;
            let mut pb = tx.open_table(PACK_BLOBS)?;
            let mut alt = tx.open_multimap_table(ALT)?;
            for (pack, entries) in packs {
                let mut ids = Vec::with_capacity(entries.len() * 32);
                for e in entries {
                    let loc = enc_loc(pack, e);
                    let old = t
                        .insert(&e.id.0, loc.as_slice())?
                        .map(|g| g.value().to_vec());
                    if let Some(old) = old.filter(|o| o.len() == 49 && o[..32] != pack.0) {
                        alt.insert(&e.id.0, old.as_slice())?;
                    }
                    ids.extend_from_slice(&e.id.0);
                }
                let name = pack.to_hex();
                a.insert(name.as_str(), entries.len() as u64)?;
                pb.insert(name.as_str(), ids.as_slice())?;
            }
        }
        tx.commit()?;
        self.added_locations();
        Ok(())
    }

    /// Names of the absorbed packs, and of the packs a catch-up started to absorb (pending).
    fn absorbed(&self) -> Result<(HashSet<String>, HashSet<String>)> {
        let tx = self.db.begin_read()?;
        let mut absorbed = HashSet::new();
        for r in tx.open_table(ABSORBED)?.iter()? {
            absorbed.insert(r?.0.value().to_string());
        }
        let mut pending = HashSet::new();
        for r in tx.open_table(PENDING)?.iter()? {
            pending.insert(r?.0.value().to_string());
        }
        Ok((absorbed, pending))
    }

    /// Is this pack's index file absorbed?
    pub(crate) fn is_absorbed(&self, pack: &PackId) -> Result<bool> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ABSORBED)?;
        Ok(t.get(pack.to_hex().as_str())?.is_some())
    }

    /// Drop the entries of packs whose index files are gone. A blob also stored in another
    /// pack falls back to that location. Returns false (nothing changed) if a pack was absorbed
    /// by an older cache that did not record its blob ids: the caller rebuilds instead.
    fn remove_packs(&self, gone: &[String]) -> Result<bool> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(CACHE_DURABILITY);
        {
            let mut t = tx.open_table(BLOBS)?;
            let mut a = tx.open_table(ABSORBED)?;
            let mut pb = tx.open_table(PACK_BLOBS)?;
            let mut alt = tx.open_multimap_table(ALT)?;
            let mut pending = tx.open_table(PENDING)?;
            for name in gone {
                pending.remove(name.as_str())?;
                let Some(pack) = PackId::from_hex(name) else {
                    a.remove(name.as_str())?;
                    continue;
                };
                let Some(ids) = pb.remove(name.as_str())?.map(|g| g.value().to_vec()) else {
                    drop((t, a, pb, alt, pending));
                    tx.abort()?;
                    return Ok(false);
                };
                for id in ids.chunks_exact(32) {
                    let id: [u8; 32] = id.try_into().expect("32 bytes");
                    let mut others = Vec::new();
                    for v in alt.get(&id)? {
                        others.push(v?.value().to_vec());
                    }
                    for o in others.iter().filter(|o| o[..32] == pack.0) {
                        alt.remove(&id, o.as_slice())?;
                    }
                    let primary_here = t
                        .get(&id)?
                        .is_some_and(|g| g.value().len() == 49 && g.value()[..32] == pack.0);
                    if primary_here {
                        match others.iter().find(|o| o[..32] != pack.0) {
                            Some(o) => {
                                alt.remove(&id, o.as_slice())?;
                                t.insert(&id, o.as_slice())?;
                            }
                            None => {
                                t.remove(&id)?;
                            }
                        }
                    }
                }
                a.remove(name.as_str())?;
            }
        }
        tx.commit()?;
        Ok(true)
    }

    /// Calls `f` with every blob id in ascending order and all its known locations (the
    /// current one first). Runs in one read transaction; memory stays bounded.
    pub(crate) fn scan(&self, mut f: impl FnMut(&BlobId, &[Location]) -> Result<()>) -> Result<()> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(BLOBS)?;
        let alt = tx.open_multimap_table(ALT)?;
        let mut alts = alt.iter()?.peekable();
        let mut locs = Vec::new();
        for r in t.iter()? {
            let (k, v) = r?;
            let id = BlobId(*k.value());
            locs.clear();
            locs.extend(dec_loc(v.value()));
            // the ALT cursor moves in step (both tables are ordered by id)
            while let Some(Ok((ak, _))) = alts.peek() {
                if *ak.value() > id.0 {
                    break;
                }
                let (ak, vals) = alts.next().expect("peeked")?;
                if *ak.value() == id.0 {
                    for v in vals {
                        locs.extend(dec_loc(v?.value()));
                    }
                }
            }
            if let Some(Err(_)) = alts.peek() {
                alts.next().expect("peeked")?;
            }
            f(&id, &locs)?;
        }
        Ok(())
    }

    fn clear(&self) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.delete_table(BLOBS)?;
        tx.delete_table(ABSORBED)?;
        tx.delete_table(PACK_BLOBS)?;
        tx.delete_multimap_table(ALT)?;
        tx.delete_table(PENDING)?;
        tx.open_table(PENDING)?;
        tx.open_table(BLOBS)?;
        tx.open_table(ABSORBED)?;
        tx.open_table(PACK_BLOBS)?;
        tx.open_multimap_table(ALT)?;
        tx.commit()?;
        Ok(())
    }

    /// Catch up with the repository's `index/` files. Damaged index files are skipped
    /// (`check` reports them).
    ///
    /// Memory stays bounded whatever the number of new entries (a cold cache reads every
    /// index file): entries go through an external sort ([`RecordSorter`]) and are inserted in
    /// ascending id order in bounded write transactions. A pack becomes absorbed only after all
    /// its entries are in; until then it is pending (see [`PENDING`]).
    pub async fn catch_up(&self, storage: &Arc<dyn Storage>, meta_key: &Key) -> Result<()> {
        self.catch_up_with(storage, meta_key, CATCH_UP_RUN, CATCH_UP_TX)
            .await
    }

    async fn catch_up_with(
        &self,
        storage: &Arc<dyn Storage>,
        meta_key: &Key,
        run_len: usize,
        tx_len: usize,
    ) -> Result<()> {
        let listed = storage.list("index/").await?;
        let mut present = Vec::new();
        for (k, _) in &listed {
            if let Some(p) = k.strip_prefix("index/").and_then(PackId::from_hex) {
                present.push(p);
            }
        }
        drop(listed);
        let names: HashSet<String> = present.iter().map(|p| p.to_hex()).collect();
        let (mut absorbed, pending) = self.absorbed()?;
        let gone: Vec<String> = absorbed
            .iter()
            .chain(pending.iter())
            .filter(|a| !names.contains(*a))
            .cloned()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        drop(names);
        if !gone.is_empty() {
            if self.remove_packs(&gone)? {
                tracing::debug!(
                    packs = gone.len(),
                    "index files removed (gc); dropped their entries"
                );
                for g in &gone {
                    absorbed.remove(g);
                }
            } else {
                tracing::info!("index files were removed (gc); rebuilding the index cache");
                self.clear()?;
                absorbed.clear();
            }
        }
        let todo: Vec<PackId> = present
            .into_iter()
            .filter(|p| !absorbed.contains(&p.to_hex()))
            .collect();
        drop(absorbed);
        if todo.is_empty() {
            return Ok(());
        }
        tracing::debug!(packs = todo.len(), "absorbing index files");
        let mut fetched = futures::stream::iter(todo.into_iter().map(|p| {
            let storage = storage.clone();
            let meta_key = meta_key.clone();
            async move {
                let r = match storage.get(&index_key(&p)).await {
                    Ok(bytes) => decode_index(&meta_key, &p, &bytes).map(Some),
                    Err(crate::storage::StorageError::NotFound { .. }) => Ok(None), // deleted meanwhile
                    Err(e) => Err(e.into()),
                };
                (p, r)
            }
        }))
        .buffer_unordered(CATCH_UP_FETCH_AHEAD);
        // 1. every pack's id list (pending), entries into the external sort
        let mut sorter = RecordSorter::<81>::new(run_len);
        let mut ids_batch: Vec<(PackId, Vec<u8>)> = Vec::new();
        let mut ids_bytes = 0usize;
        let mut packs = Vec::new();
        let mut bad = 0usize;
        while let Some((p, r)) = fetched.next().await {
            let entries = match r {
                Ok(Some(e)) => e,
                Ok(None) => continue,
                Err(e @ Error::Corrupt { .. }) => {
                    tracing::warn!(error = %e, "skipping damaged index file");
                    bad += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut ids = Vec::with_capacity(entries.len() * 32);
            for e in &entries {
                let mut rec = [0u8; 81];
                rec[..32].copy_from_slice(&e.id.0);
                rec[32..].copy_from_slice(&enc_loc(&p, e));
                sorter.push(rec)?;
                ids.extend_from_slice(&e.id.0);
            }
            packs.push((p, entries.len() as u64));
            ids_bytes += ids.len();
            ids_batch.push((p, ids));
            if ids_bytes >= PACK_IDS_TX {
                self.put_pending(&ids_batch)?;
                ids_batch.clear();
                ids_bytes = 0;
            }
        }
        self.put_pending(&ids_batch)?;
        drop(ids_batch);
        // 2. entries in ascending id order
        let sorted = sorter.finish()?;
        let mut batch = Vec::with_capacity(tx_len.min(1 << 20));
        for rec in sorted.iter()? {
            batch.push(rec?);
            if batch.len() >= tx_len {
                self.insert_sorted(&batch)?;
                batch.clear();
            }
        }
        self.insert_sorted(&batch)?;
        drop(sorted);
        // 3. the packs are absorbed
        let mut tx = self.db.begin_write()?;
        tx.set_durability(CACHE_DURABILITY);
        {
            let mut a = tx.open_table(ABSORBED)?;
            let mut pending = tx.open_table(PENDING)?;
            for (p, n) in &packs {
                let name = p.to_hex();
                a.insert(name.as_str(), *n)?;
                pending.remove(name.as_str())?;
            }
        }
        tx.commit()?;
        tracing::debug!(packs = packs.len(), "index files absorbed");
        if bad > 0 {
            tracing::warn!(count = bad, "damaged index files skipped; run check");
        }
        Ok(())
    }

    /// Record packs as pending with their blob ids (catch-up step 1).
    fn put_pending(&self, packs: &[(PackId, Vec<u8>)]) -> Result<()> {
        if packs.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(CACHE_DURABILITY);
        {
            let mut pb = tx.open_table(PACK_BLOBS)?;
            let mut pending = tx.open_table(PENDING)?;
            for (p, ids) in packs {
                let name = p.to_hex();
                pb.insert(name.as_str(), ids.as_slice())?;
                pending.insert(name.as_str(), ())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Insert `id ‖ location` records (catch-up step 2). A blob already located in another
    /// pack keeps that location as an alternative.
    fn insert_sorted(&self, recs: &[[u8; 81]]) -> Result<()> {
        if recs.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(CACHE_DURABILITY);
        {
            let mut t = tx.open_table(BLOBS)?;
            let mut alt = tx.open_multimap_table(ALT)?;
            for rec in recs {
                let id: &[u8; 32] = rec[..32].try_into().expect("32 bytes");
                let loc = &rec[32..];
                let old = t.insert(id, loc)?.map(|g| g.value().to_vec());
                if let Some(old) = old.filter(|o| o.len() == 49 && o[..32] != loc[..32]) {
                    alt.insert(id, old.as_slice())?;
                }
            }
        }
        tx.commit()?;
        self.added_locations();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::MasterKeys;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn index_round_trip(n in 0usize..50) {
            let keys = MasterKeys::generate();
            let pack = PackId([7; 32]);
            let entries: Vec<PackEntry> = (0..n).map(|i| PackEntry {
                id: keys.blob_id(&i.to_le_bytes()), kind: BlobKind::Data, offset: i as u64 * 10, stored_len: 10, plain_len: 9,
            }).collect();
            let sealed = encode_index(&keys.meta_key, &pack, &entries);
            let mut back = decode_index(&keys.meta_key, &pack, &sealed).unwrap();
            let mut want = entries.clone();
            want.sort_by_key(|e| e.id);
            back.sort_by_key(|e| e.id);
            prop_assert_eq!(back, want);
            prop_assert!(decode_index(&keys.meta_key, &PackId([8; 32]), &sealed).is_err());
        }
    }

    proptest! {
        /// Hostile input behind the AEAD: arbitrary plaintext sealed with the right key
        /// (what a holder of the key, or a bug, could write) is an error or a bounded result.
        #[test]
        fn sealed_garbage_index_body_is_an_error_never_a_panic(
            tail in proptest::collection::vec(any::<u8>(), 0..300),
            count in prop_oneof![Just(u32::MAX), Just(1u32 << 28), 0u32..8],
            version in prop_oneof![Just(1u8), any::<u8>()],
        ) {
            let keys = MasterKeys::generate();
            let pack = PackId([7; 32]);
            let mut framed = vec![version];
            framed.extend_from_slice(&pack.0);
            framed.extend_from_slice(&count.to_le_bytes());
            framed.extend_from_slice(&tail);
            for plain in [tail.clone(), framed] {
                let sealed = seal(&keys.meta_key, &index_ad(&pack), &plain);
                match decode_index(&keys.meta_key, &pack, &sealed) {
                    // an entry is 49 bytes: nothing is allocated beyond what the input holds
                    Ok(entries) => prop_assert!(entries.len() * 49 <= plain.len()),
                    Err(e) => prop_assert!(matches!(e, Error::Corrupt { .. }), "{e}"),
                }
            }
        }
    }

    fn entry(id: u8, offset: u64) -> PackEntry {
        PackEntry {
            id: BlobId([id; 32]),
            kind: BlobKind::Data,
            offset,
            stored_len: 10,
            plain_len: 9,
        }
    }

    fn scanned(c: &IndexCache) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        c.scan(|id, locs| {
            out.push((id.0[0], locs.iter().map(|l| l.pack.0[0]).collect()));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn removed_packs_drop_only_their_entries_and_fall_back_to_other_copies() {
        let dir = tempfile::tempdir().unwrap();
        let c = IndexCache::open(dir.path()).unwrap();
        let (a, b, d) = (PackId([0xa; 32]), PackId([0xb; 32]), PackId([0xd; 32]));
        c.insert(&a, &[entry(1, 0), entry(2, 10)]).unwrap();
        c.insert(&b, &[entry(2, 0), entry(3, 10)]).unwrap();
        c.insert(&d, &[entry(4, 0)]).unwrap();
        // blob 2 lives in a and b: b (latest) first, a as alternative
        assert_eq!(
            scanned(&c),
            vec![
                (1, vec![0xa]),
                (2, vec![0xb, 0xa]),
                (3, vec![0xb]),
                (4, vec![0xd])
            ]
        );
        assert!(c.remove_packs(&[b.to_hex()]).unwrap());
        let l = c.lookup(&BlobId([2; 32])).unwrap().unwrap();
        assert_eq!((l.pack, l.offset), (a, 10), "falls back to the other copy");
        assert!(c.lookup(&BlobId([3; 32])).unwrap().is_none());
        assert_eq!(
            scanned(&c),
            vec![(1, vec![0xa]), (2, vec![0xa]), (4, vec![0xd])]
        );
        assert!(!c.is_absorbed(&b).unwrap() && c.is_absorbed(&a).unwrap());
        // removing the alternative's pack when the primary stays drops only the alternative
        c.insert(&b, &[entry(2, 0), entry(3, 10)]).unwrap();
        assert!(c.remove_packs(&[a.to_hex()]).unwrap());
        assert_eq!(
            scanned(&c),
            vec![(2, vec![0xb]), (3, vec![0xb]), (4, vec![0xd])]
        );
        // a cache that does not know a pack's blob ids asks for a rebuild, changing nothing
        assert!(!c.remove_packs(&[PackId([0xe; 32]).to_hex()]).unwrap());
        assert_eq!(scanned(&c).len(), 3);
    }

    #[test]
    fn cache_file_stays_bounded_over_many_pack_inserts() {
        // one write transaction per pack, as the packer does; with non-durable commits the
        // file grew with the square of the pack count
        let dir = tempfile::tempdir().unwrap();
        let c = IndexCache::open(dir.path()).unwrap();
        let mut n = 0u32;
        for p in 0..60u32 {
            let entries: Vec<PackEntry> = (0..1000)
                .map(|_| {
                    n += 1;
                    PackEntry {
                        id: BlobId(*blake3::hash(&n.to_le_bytes()).as_bytes()),
                        kind: BlobKind::Data,
                        offset: 0,
                        stored_len: 1,
                        plain_len: 1,
                    }
                })
                .collect();
            let mut pack = [0u8; 32];
            pack[..4].copy_from_slice(&p.to_le_bytes());
            c.insert(&PackId(pack), &entries).unwrap();
        }
        let size = std::fs::metadata(c.path()).unwrap().len();
        // 60,000 entries of ~120 bytes with their pack lists: a few MiB, not hundreds
        assert!(
            size < 40 << 20,
            "index cache is {size} bytes for 60,000 blobs"
        );
        assert!(
            c.reader()
                .unwrap()
                .lookup(&BlobId(*blake3::hash(&7u32.to_le_bytes()).as_bytes()))
                .unwrap()
                .is_some()
        );
    }

    /// Packs of `per` entries, consecutive packs sharing `shared` blobs; written as index files.
    async fn write_index_files(
        storage: &Arc<dyn Storage>,
        keys: &crate::crypto::MasterKeys,
        packs: u32,
        per: u32,
        shared: u32,
    ) -> Vec<(PackId, Vec<PackEntry>)> {
        let mut out = Vec::new();
        for p in 0..packs {
            let mut pack = [0u8; 32];
            pack[..4].copy_from_slice(&(p + 1).to_le_bytes());
            let pack = PackId(pack);
            let first = p * (per - shared);
            let entries: Vec<PackEntry> = (first..first + per)
                .map(|n| PackEntry {
                    id: BlobId(*blake3::hash(&n.to_le_bytes()).as_bytes()),
                    kind: if n % 5 == 0 {
                        BlobKind::Tree
                    } else {
                        BlobKind::Data
                    },
                    offset: u64::from(n) * 100,
                    stored_len: n,
                    plain_len: n + 1,
                })
                .collect();
            let sealed = encode_index(&keys.meta_key, &pack, &entries);
            storage
                .put_if_absent(&index_key(&pack), sealed.into())
                .await
                .unwrap();
            out.push((pack, entries));
        }
        out
    }

    /// A location as compared by the tests: pack, offset, stored and plain length, kind.
    type Loc = (PackId, u64, u32, u32, u8);

    /// Every id with all its locations, sorted.
    fn locations(c: &IndexCache) -> Vec<(BlobId, Vec<Loc>)> {
        let mut out = Vec::new();
        c.scan(|id, locs| {
            let mut l: Vec<_> = locs
                .iter()
                .map(|l| (l.pack, l.offset, l.stored_len, l.plain_len, l.kind as u8))
                .collect();
            l.sort();
            out.push((*id, l));
            Ok(())
        })
        .unwrap();
        out
    }

    #[tokio::test]
    async fn catch_up_through_spilled_sorted_runs_matches_per_pack_inserts() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(crate::storage::LocalStorage::new(dir.path().join("repo")).unwrap());
        let keys = crate::crypto::MasterKeys::generate();
        // 30 packs x 40 entries, 6 shared with the next pack: 1,026 distinct blobs
        let packs = write_index_files(&storage, &keys, 30, 40, 6).await;
        // runs of 7 entries: 172 runs, more than one merge level; 50 entries per transaction
        let streamed = IndexCache::open(&dir.path().join("a")).unwrap();
        streamed
            .catch_up_with(&storage, &keys.meta_key, 7, 50)
            .await
            .unwrap();
        let direct = IndexCache::open(&dir.path().join("b")).unwrap();
        for (p, e) in &packs {
            direct.insert(p, e).unwrap();
        }
        let want = locations(&direct);
        assert_eq!(want.len(), 30 * 34 + 6);
        assert_eq!(locations(&streamed), want);
        for (p, entries) in &packs {
            assert!(streamed.is_absorbed(p).unwrap());
            for e in entries {
                let l = streamed.lookup(&e.id).unwrap().unwrap();
                let holders: Vec<_> = want
                    .iter()
                    .find(|(id, _)| *id == e.id)
                    .unwrap()
                    .1
                    .iter()
                    .map(|x| (x.0, x.1))
                    .collect();
                assert!(holders.contains(&(l.pack, l.offset)));
            }
        }
        let (_, pending) = streamed.absorbed().unwrap();
        assert!(pending.is_empty(), "no pack left pending: {pending:?}");
        // a second catch-up has nothing to do and changes nothing
        streamed.catch_up(&storage, &keys.meta_key).await.unwrap();
        assert_eq!(locations(&streamed), want);
        // an index file removed (gc): its entries go, shared blobs fall back to the other pack
        let (gone, gone_entries) = &packs[3];
        storage.delete(&index_key(gone)).await.unwrap();
        streamed.catch_up(&storage, &keys.meta_key).await.unwrap();
        for e in gone_entries {
            if let Some(l) = streamed.lookup(&e.id).unwrap() {
                assert_ne!(l.pack, *gone);
            }
        }
        let shared_with_next = gone_entries.last().unwrap().id;
        assert_eq!(
            streamed.lookup(&shared_with_next).unwrap().unwrap().pack,
            packs[4].0
        );
        assert!(streamed.lookup(&gone_entries[10].id).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_pack_left_pending_by_a_killed_catch_up_leaves_no_entries_once_gone() {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> =
            Arc::new(crate::storage::LocalStorage::new(dir.path().join("repo")).unwrap());
        let keys = crate::crypto::MasterKeys::generate();
        let packs = write_index_files(&storage, &keys, 2, 10, 0).await;
        let c = IndexCache::open(&dir.path().join("cache")).unwrap();
        // killed between steps 2 and 3: entries and id lists in, pack not marked absorbed
        let (p, entries) = &packs[0];
        let ids: Vec<u8> = entries.iter().flat_map(|e| e.id.0).collect();
        c.put_pending(&[(*p, ids)]).unwrap();
        let recs: Vec<[u8; 81]> = entries
            .iter()
            .map(|e| {
                let mut r = [0u8; 81];
                r[..32].copy_from_slice(&e.id.0);
                r[32..].copy_from_slice(&enc_loc(p, e));
                r
            })
            .collect();
        c.insert_sorted(&recs).unwrap();
        assert!(!c.is_absorbed(p).unwrap());
        // meanwhile gc deleted that pack's index file
        storage.delete(&index_key(p)).await.unwrap();
        c.catch_up(&storage, &keys.meta_key).await.unwrap();
        for e in entries {
            assert!(c.lookup(&e.id).unwrap().is_none(), "stale entry left");
        }
        for e in &packs[1].1 {
            assert_eq!(c.lookup(&e.id).unwrap().unwrap().pack, packs[1].0);
        }
        let (absorbed, pending) = c.absorbed().unwrap();
        assert_eq!(absorbed.len(), 1);
        assert!(pending.is_empty());
    }

    #[test]
    fn cache_lookup_and_private_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let a = IndexCache::open(dir.path()).unwrap();
        let b = IndexCache::open(dir.path()).unwrap();
        assert_ne!(a.path(), b.path(), "second opener gets a private cache");
        let e = PackEntry {
            id: BlobId([1; 32]),
            kind: BlobKind::Tree,
            offset: 5,
            stored_len: 6,
            plain_len: 7,
        };
        a.insert(&PackId([2; 32]), &[e]).unwrap();
        let l = a.lookup(&BlobId([1; 32])).unwrap().unwrap();
        assert_eq!(
            (l.pack, l.kind, l.offset, l.stored_len, l.plain_len),
            (PackId([2; 32]), BlobKind::Tree, 5, 6, 7)
        );
        assert!(b.lookup(&BlobId([1; 32])).unwrap().is_none());
    }
}
