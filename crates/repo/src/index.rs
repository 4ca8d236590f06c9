//! Index files (one per pack) and the local redb index cache (FORMAT.md §6).

use crate::crypto::{BlobId, Key, PackId, open, seal};
use crate::error::{Error, Result};
use crate::pack::{BlobKind, PackEntry, decode_entries, encode_entries};
use crate::storage::Storage;
use futures::StreamExt;
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const BLOBS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("blobs");
const ABSORBED: TableDefinition<&str, u64> = TableDefinition::new("absorbed");
/// Snapshot roots as stored (sealed), by snapshot id: roots are write-once, so listing
/// snapshots reads each from the repository (e.g. an S3 bucket) only once per machine.
const ROOTS: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot_roots");

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

/// The local, rebuildable blob index cache.
#[derive(Debug)]
pub struct IndexCache {
    db: Database,
    _temp: Option<tempfile::TempDir>,
    path: PathBuf,
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
        tx.open_table(ROOTS)?;
        tx.commit()?;
        Ok(IndexCache {
            db,
            _temp: temp,
            path,
        })
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

    /// A snapshot root's sealed bytes, if this machine has read it before.
    pub fn root(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ROOTS)?;
        Ok(t.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Remember a snapshot root's sealed bytes (not durable: the cache is rebuildable).
    pub fn put_root(&self, id: &str, sealed: &[u8]) -> Result<()> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::None);
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
        tx.set_durability(Durability::None);
        {
            let mut t = tx.open_table(BLOBS)?;
            let mut a = tx.open_table(ABSORBED)?;
            for (pack, entries) in packs {
                for e in entries {
                    t.insert(&e.id.0, enc_loc(pack, e).as_slice())?;
                }
                a.insert(pack.to_hex().as_str(), entries.len() as u64)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn absorbed(&self) -> Result<HashSet<String>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ABSORBED)?;
        let mut out = HashSet::new();
        for r in t.iter()? {
            out.insert(r?.0.value().to_string());
        }
        Ok(out)
    }

    fn clear(&self) -> Result<()> {
        let tx = self.db.begin_write()?;
        tx.delete_table(BLOBS)?;
        tx.delete_table(ABSORBED)?;
        tx.open_table(BLOBS)?;
        tx.open_table(ABSORBED)?;
        tx.commit()?;
        Ok(())
    }

    /// Catch up with the repository's `index/` files. Damaged index files are skipped
    /// (`check` reports them).
    pub async fn catch_up(&self, storage: &Arc<dyn Storage>, meta_key: &Key) -> Result<()> {
        let listed = storage.list("index/").await?;
        let mut present = Vec::new();
        for (k, _) in &listed {
            if let Some(p) = k.strip_prefix("index/").and_then(PackId::from_hex) {
                present.push(p);
            }
        }
        let names: HashSet<String> = present.iter().map(|p| p.to_hex()).collect();
        let mut absorbed = self.absorbed()?;
        if absorbed.iter().any(|a| !names.contains(a)) {
            tracing::info!("index files were removed (gc); rebuilding the index cache");
            self.clear()?;
            absorbed.clear();
        }
        let todo: Vec<PackId> = present
            .iter()
            .filter(|p| !absorbed.contains(&p.to_hex()))
            .copied()
            .collect();
        let mut bad = Vec::new();
        let mut fetched = futures::stream::iter(todo.into_iter().map(|p| {
            let storage = storage.clone();
            async move { (p, storage.get(&index_key(&p)).await) }
        }))
        .buffer_unordered(8);
        let mut batch = Vec::new();
        while let Some((p, r)) = fetched.next().await {
            let entries = match r {
                Ok(bytes) => decode_index(meta_key, &p, &bytes),
                Err(crate::storage::StorageError::NotFound { .. }) => continue, // deleted meanwhile
                Err(e) => Err(e.into()),
            };
            match entries {
                Ok(e) => batch.push((p, e)),
                Err(e @ Error::Corrupt { .. }) => {
                    tracing::warn!(error = %e, "skipping damaged index file");
                    bad.push(p);
                }
                Err(e) => return Err(e),
            }
            if batch.len() >= 256 {
                self.insert_many(&batch)?;
                batch.clear();
            }
        }
        self.insert_many(&batch)?;
        if !bad.is_empty() {
            tracing::warn!(count = bad.len(), "damaged index files skipped; run check");
        }
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
