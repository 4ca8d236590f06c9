//! Building (once per snapshot) and opening the find index.

use std::collections::HashMap;
use std::path::Path;

use futures::TryStreamExt;
use redb::{Database, Durability};
use tenantvault_repo::{Repository, Snapshot};

use super::query::IndexQuery;
use super::seal::Sealer;
use super::{
    BUILDING, FLUSH_ENTRIES, INDEX_FORMAT, IndexError, IndexedItem, META, POSTINGS, RECEIVED, ROWS,
    TERMS, encode_rows, field, index_dir, index_path, prune, words,
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
    let sealer = || Sealer::new(repo, &snap.id().0);
    if let Some(q) = open_existing(&path, sealer())? {
        return Ok((q, false));
    }
    let dir = index_dir(&cache);
    create_private_dir(&dir).map_err(|e| IndexError::db(&dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!("{BUILDING}{}-", snap.id().0))
        .suffix(".redb")
        .tempfile_in(&dir)
        .map_err(|e| IndexError::db(&dir, e))?;
    let rows = build(snap, tmp.path(), &sealer()).await?;
    // Batches were committed without fsync, which leaves freed pages behind: compact once.
    let mut db = Database::open(tmp.path()).map_err(|e| IndexError::db(tmp.path(), e))?;
    db.compact().map_err(|e| IndexError::db(tmp.path(), e))?;
    drop(db);
    tmp.persist(&path).map_err(|e| IndexError::db(&path, e))?;
    tracing::info!(snapshot = %snap.id().0, rows, "find index built");
    let q = open_existing(&path, sealer())?
        .ok_or_else(|| IndexError::db(&path, "built but unreadable"))?;
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

/// The index at `path` if it exists, is complete, of this format and sealed under this
/// repository's key; anything else there is removed (and rebuilt by the caller).
fn open_existing(path: &Path, sealer: Sealer) -> Result<Option<IndexQuery>, IndexError> {
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
    // An older format (other table types), an unfinished file or another repository's key.
    let usable = || -> Result<bool, Box<dyn std::error::Error>> {
        let tx = db.begin_read()?;
        let meta = tx.open_table(META)?;
        let get = |k: &str| meta.get(k).map(|v| v.map(|v| v.value().to_vec()));
        Ok(get("format")?.as_deref() == Some(INDEX_FORMAT)
            && get("check")?.is_some_and(|c| sealer.verifies(&c)))
    };
    if !usable().unwrap_or(false) {
        tracing::info!(path = %path.display(), "find index of another format or key, rebuilding");
        drop(db);
        let _ = std::fs::remove_file(path);
        return Ok(None);
    }
    Ok(Some(IndexQuery::new(db, path.to_path_buf(), sealer)))
}

/// In-memory postings of the current segment, and the term dictionary.
struct Pending {
    map: HashMap<(u8, u32), Vec<u32>>,
    entries: usize,
    segment: u32,
    /// Term numbers by field and term.
    ids: [HashMap<String, u32>; field::COUNT],
    next_id: u32,
    /// Terms numbered since the last flush: (field, number, term).
    new_terms: Vec<(u8, u32, String)>,
}

impl Pending {
    fn new() -> Pending {
        Pending {
            map: HashMap::new(),
            entries: 0,
            segment: 0,
            ids: Default::default(),
            next_id: 0,
            new_terms: Vec::new(),
        }
    }

    /// `row` has `term` in `field`. `None` once term numbers run out (4 billion terms).
    fn add(&mut self, field: u8, term: &str, row: u32) -> Option<()> {
        let ids = &mut self.ids[field as usize];
        let id = match ids.get(term) {
            Some(&id) => id,
            None => {
                let id = self.next_id;
                self.next_id = id.checked_add(1)?;
                ids.insert(term.to_string(), id);
                self.new_terms.push((field, id, term.to_string()));
                id
            }
        };
        let v = self.map.entry((field, id)).or_default();
        if v.last() != Some(&row) {
            v.push(row);
            self.entries += 1;
        }
        Some(())
    }

    fn flush(&mut self, db: &Database, path: &Path, sealer: &Sealer) -> Result<(), IndexError> {
        if self.map.is_empty() && self.new_terms.is_empty() {
            return Ok(());
        }
        let mut tx = db.begin_write().map_err(|e| IndexError::db(path, e))?;
        tx.set_durability(Durability::None);
        {
            let mut t = tx
                .open_table(POSTINGS)
                .map_err(|e| IndexError::db(path, e))?;
            for ((f, id), rows) in self.map.drain() {
                t.insert((f, id, self.segment), encode_rows(&rows).as_slice())
                    .map_err(|e| IndexError::db(path, e))?;
            }
            let mut terms = tx.open_table(TERMS).map_err(|e| IndexError::db(path, e))?;
            for (f, id, term) in self.new_terms.drain(..) {
                terms
                    .insert((f, id), sealer.term(f, id, &term).as_slice())
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
    sealer: &Sealer,
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
            let json = serde_json::to_vec(&item).expect("index row serializes");
            rows.insert(row, sealer.row(row, &json).as_slice())
                .map_err(|e| IndexError::db(path, e))?;
            if let Some(t) = item.received {
                recv.insert((t.timestamp_millis(), row), ())
                    .map_err(|e| IndexError::db(path, e))?;
            }
        }
    }
    tx.commit().map_err(|e| IndexError::db(path, e))
}

/// The terms of `item` by field.
fn terms(item: &IndexedItem) -> impl Iterator<Item = (u8, String)> + '_ {
    let subject = words(&item.name).map(|w| (field::SUBJECT, w));
    let sender = [&item.from, &item.from_name]
        .into_iter()
        .flatten()
        .flat_map(|s| words(s))
        .map(|w| (field::SENDER, w));
    let recipients = item
        .recipients
        .iter()
        .flat_map(|r| words(r))
        .map(|w| (field::RECIPIENT, w));
    subject.chain(sender).chain(recipients).chain([
        (field::PATH, item.path.clone()),
        (field::KIND, item.kind.clone()),
    ])
}

async fn build(snap: &Snapshot, path: &Path, sealer: &Sealer) -> Result<u32, IndexError> {
    let db = Database::create(path).map_err(|e| IndexError::db(path, e))?;
    let mut pending = Pending::new();
    let mut batch: Vec<(u32, IndexedItem)> = Vec::with_capacity(BATCH);
    let mut row: u32 = 0;
    let too_many = || IndexError::db(path, "more than 4 billion items or terms");
    let items = snap.items();
    futures::pin_mut!(items);
    while let Some(rec) = items.try_next().await? {
        let item = IndexedItem::from_record(&rec);
        for (f, term) in terms(&item) {
            pending.add(f, &term, row).ok_or_else(too_many)?;
        }
        batch.push((row, item));
        row = row.checked_add(1).ok_or_else(too_many)?;
        if batch.len() >= BATCH {
            write_rows(&db, path, sealer, &mut batch)?;
        }
        if pending.entries >= FLUSH_ENTRIES {
            pending.flush(&db, path, sealer)?;
        }
    }
    write_rows(&db, path, sealer, &mut batch)?;
    pending.flush(&db, path, sealer)?;
    let tx = db.begin_write().map_err(|e| IndexError::db(path, e))?;
    {
        let mut meta = tx.open_table(META).map_err(|e| IndexError::db(path, e))?;
        let rows = row.to_string();
        let check = sealer.check();
        for (k, v) in [
            ("format", INDEX_FORMAT),
            ("snapshot", snap.id().0.as_bytes()),
            ("rows", rows.as_bytes()),
            ("check", check.as_slice()),
        ] {
            meta.insert(k, v).map_err(|e| IndexError::db(path, e))?;
        }
        // Make sure the tables exist even for an empty snapshot.
        tx.open_table(ROWS).map_err(|e| IndexError::db(path, e))?;
        tx.open_table(TERMS).map_err(|e| IndexError::db(path, e))?;
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
    fn pending_numbers_terms_once_and_dedups_rows() {
        let mut p = Pending::new();
        p.add(field::SUBJECT, "a", 1).unwrap();
        p.add(field::SUBJECT, "a", 1).unwrap();
        p.add(field::SUBJECT, "a", 2).unwrap();
        p.add(field::SENDER, "a", 2).unwrap();
        assert_eq!(p.entries, 3);
        assert_eq!(p.map[&(field::SUBJECT, 0)], [1, 2]);
        assert_eq!(p.map[&(field::SENDER, 1)], [2]);
        assert_eq!(
            p.new_terms,
            [
                (field::SUBJECT, 0, "a".to_string()),
                (field::SENDER, 1, "a".to_string())
            ]
        );
    }
}
