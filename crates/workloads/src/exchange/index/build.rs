//! Building (once per snapshot) and opening the find index.

use std::collections::HashMap;
use std::path::Path;

use futures::TryStreamExt;
use redb::{Database, Durability};
use tenantvault_repo::{Repository, Snapshot};

use super::query::IndexQuery;
use super::{
    BUILDING, FLUSH_ENTRIES, INDEX_FORMAT, IndexError, IndexedItem, META, POSTINGS, RECEIVED, ROWS,
    encode_rows, field, index_dir, index_path, prune, words,
};

/// Rows written per write transaction.
const BATCH: usize = 20_000;

/// Open the index of `snap`, building it first when the cache has none. Returns the index and
/// whether it was built by this call.
pub async fn open_or_build(
    repo: &Repository,
    snap: &Snapshot,
) -> Result<(IndexQuery, bool), IndexError> {
    let cache = repo.info().cache_path;
    let path = index_path(&cache, &snap.id().0);
    // files of snapshots the repository no longer has hold subjects nobody may search any more
    prune(repo).await;
    if let Some(q) = open_existing(&path)? {
        return Ok((q, false));
    }
    let dir = index_dir(&cache);
    create_private_dir(&dir).map_err(|e| IndexError::db(&dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{BUILDING}{}-", snap.id().0))
        .suffix(".redb")
        .tempfile_in(&dir)
        .map_err(|e| IndexError::db(&dir, e))?;
    let rows = build(snap, tmp.path()).await?;
    // Batches were committed without fsync, which leaves freed pages behind: compact once.
    let mut db = Database::open(tmp.path()).map_err(|e| IndexError::db(tmp.path(), e))?;
    db.compact().map_err(|e| IndexError::db(tmp.path(), e))?;
    drop(db);
    tmp.persist(&path).map_err(|e| IndexError::db(&path, e))?;
    tracing::info!(snapshot = %snap.id().0, rows, "find index built");
    let q = open_existing(&path)?.ok_or_else(|| IndexError::db(&path, "built but unreadable"))?;
    Ok((q, true))
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The index at `path` if it exists, is complete and of this format.
fn open_existing(path: &Path) -> Result<Option<IndexQuery>, IndexError> {
    if !path.exists() {
        return Ok(None);
    }
    let db = match Database::open(path) {
        Ok(db) => db,
        // Another handle in this process uses it: not damaged.
        Err(e @ redb::DatabaseError::DatabaseAlreadyOpen) => return Err(IndexError::db(path, e)),
        Err(e) => {
            tracing::warn!(path = %path.display(), "unreadable find index, rebuilding: {e}");
            let _ = std::fs::remove_file(path);
            return Ok(None);
        }
    };
    let format = {
        let tx = db.begin_read().map_err(|e| IndexError::db(path, e))?;
        let meta = tx.open_table(META).map_err(|e| IndexError::db(path, e))?;
        meta.get("format")
            .map_err(|e| IndexError::db(path, e))?
            .map(|v| v.value().to_string())
    };
    if format.as_deref() != Some(INDEX_FORMAT) {
        drop(db);
        let _ = std::fs::remove_file(path);
        return Ok(None);
    }
    Ok(Some(IndexQuery::new(db, path.to_path_buf())))
}

/// In-memory postings of the current segment.
#[derive(Default)]
struct Pending {
    map: HashMap<String, Vec<u32>>,
    entries: usize,
    segment: u32,
}

impl Pending {
    fn add(&mut self, key: String, row: u32) {
        let v = self.map.entry(key).or_default();
        if v.last() != Some(&row) {
            v.push(row);
            self.entries += 1;
        }
    }

    fn flush(&mut self, db: &Database, path: &Path) -> Result<(), IndexError> {
        if self.map.is_empty() {
            return Ok(());
        }
        let mut tx = db.begin_write().map_err(|e| IndexError::db(path, e))?;
        tx.set_durability(Durability::None);
        {
            let mut t = tx
                .open_table(POSTINGS)
                .map_err(|e| IndexError::db(path, e))?;
            for (k, rows) in self.map.drain() {
                t.insert((k.as_str(), self.segment), encode_rows(&rows).as_slice())
                    .map_err(|e| IndexError::db(path, e))?;
            }
        }
        tx.commit().map_err(|e| IndexError::db(path, e))?;
        self.entries = 0;
        self.segment += 1;
        Ok(())
    }
}

fn write_rows(
    db: &Database,
    path: &Path,
    batch: &mut Vec<(u32, IndexedItem)>,
) -> Result<(), IndexError> {
    let mut tx = db.begin_write().map_err(|e| IndexError::db(path, e))?;
    tx.set_durability(Durability::None);
    {
        let mut rows = tx.open_table(ROWS).map_err(|e| IndexError::db(path, e))?;
        let mut recv = tx
            .open_table(RECEIVED)
            .map_err(|e| IndexError::db(path, e))?;
        for (row, item) in batch.drain(..) {
            let bytes = serde_json::to_vec(&item).expect("index row serializes");
            rows.insert(row, bytes.as_slice())
                .map_err(|e| IndexError::db(path, e))?;
            if let Some(t) = item.received {
                recv.insert((t.timestamp_millis(), row), ())
                    .map_err(|e| IndexError::db(path, e))?;
            }
        }
    }
    tx.commit().map_err(|e| IndexError::db(path, e))
}

async fn build(snap: &Snapshot, path: &Path) -> Result<u32, IndexError> {
    let db = Database::create(path).map_err(|e| IndexError::db(path, e))?;
    let mut pending = Pending::default();
    let mut batch: Vec<(u32, IndexedItem)> = Vec::with_capacity(BATCH);
    let mut row: u32 = 0;
    let items = snap.items();
    futures::pin_mut!(items);
    while let Some(rec) = items.try_next().await? {
        let item = IndexedItem::from_record(&rec);
        for w in words(&item.name) {
            pending.add(format!("{}{w}", field::SUBJECT), row);
        }
        for s in [&item.from, &item.from_name].into_iter().flatten() {
            for w in words(s) {
                pending.add(format!("{}{w}", field::SENDER), row);
            }
        }
        if let Some(r) = &item.recipients {
            for w in words(r) {
                pending.add(format!("{}{w}", field::RECIPIENT), row);
            }
        }
        pending.add(format!("{}{}", field::PATH, item.path), row);
        pending.add(format!("{}{}", field::KIND, item.kind), row);
        batch.push((row, item));
        row = row
            .checked_add(1)
            .ok_or_else(|| IndexError::db(path, "more than 4 billion items"))?;
        if batch.len() >= BATCH {
            write_rows(&db, path, &mut batch)?;
        }
        if pending.entries >= FLUSH_ENTRIES {
            pending.flush(&db, path)?;
        }
    }
    write_rows(&db, path, &mut batch)?;
    pending.flush(&db, path)?;
    let tx = db.begin_write().map_err(|e| IndexError::db(path, e))?;
    {
        let mut meta = tx.open_table(META).map_err(|e| IndexError::db(path, e))?;
        let rows = row.to_string();
        for (k, v) in [
            ("format", INDEX_FORMAT),
            ("snapshot", snap.id().0.as_str()),
            ("rows", rows.as_str()),
        ] {
            meta.insert(k, v).map_err(|e| IndexError::db(path, e))?;
        }
        // Make sure the tables exist even for an empty snapshot.
        tx.open_table(ROWS).map_err(|e| IndexError::db(path, e))?;
        tx.open_table(POSTINGS)
            .map_err(|e| IndexError::db(path, e))?;
        tx.open_table(RECEIVED)
            .map_err(|e| IndexError::db(path, e))?;
    }
    tx.commit().map_err(|e| IndexError::db(path, e))?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_dedups_rows_per_term() {
        let mut p = Pending::default();
        p.add("s:a".into(), 1);
        p.add("s:a".into(), 1);
        p.add("s:a".into(), 2);
        assert_eq!(p.entries, 2);
        assert_eq!(p.map["s:a"], [1, 2]);
    }
}
