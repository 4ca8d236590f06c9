//! Bounded-memory store of a session's staged items: in memory up to a budget, then spilled
//! to a temporary redb table.

use crate::error::{Error, Result};
use crate::model::ItemRecord;
use parking_lot::Mutex;
use rayon::prelude::*;
use redb::{Database, Durability, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

const PENDING: TableDefinition<&str, &[u8]> = TableDefinition::new("pending");

/// Estimated bytes of staged entries held in memory before they are spilled to disk. An
/// unchanged run (a carried-over item is an id and a size) spills about once per 20,000 items,
/// a run that puts new records about once per 2,500.
const MEMORY_BUDGET: usize = 3 << 20;

/// A staged change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Pending {
    Put(Box<ItemRecord>),
    /// The parent snapshot's record of this id, unchanged (its size, for the statistics).
    /// Lets the snapshot writer reuse whole item lists of the parent without decoding them.
    Keep(u64),
    Delete,
}

impl Pending {
    /// Rough heap size, for the memory budget.
    fn weight(&self, id: &str) -> usize {
        let rec = match self {
            Pending::Put(r) => {
                r.path.len()
                    + r.name.len()
                    + r.kind.len()
                    + r.version.len()
                    + r.content.len() * 80
                    + r.attrs
                        .iter()
                        .map(|(k, v)| k.len() + v.len())
                        .sum::<usize>()
                    + r.metadata.as_ref().map_or(0, |_| 128)
                    // the record itself and a B-tree node for its attributes
                    + 1000
            }
            Pending::Keep(_) | Pending::Delete => 0,
        };
        id.len() + 96 + rec
    }
}

/// Items staged by a session, sorted by id: the newest stages in memory, older ones (once
/// the memory budget was exceeded) in a temporary redb file.
///
/// A spill is written on a thread of its own while the session goes on staging (serializing
/// and inserting a few thousand records takes milliseconds that would otherwise stall the
/// backup loop and, with it, the CPU pool it feeds). At most one spill is in flight, so memory
/// stays under about twice [`MEMORY_BUDGET`]; readers wait for it first.
///
/// A failed spill loses the stages it held, so it fails the store for good: every later
/// stage, spill or read returns the error (a session must not commit without those items).
/// Its errors are never [`Error::Io`], which callers may take for one item's read error.
pub(crate) struct PendingStore {
    spill: Option<(Arc<Database>, tempfile::TempDir)>,
    /// The spill being written, if any.
    writing: Mutex<Option<std::thread::JoinHandle<Result<()>>>>,
    /// The first spill failure (is it a full disk, and what happened).
    failed: Mutex<Option<(bool, String)>>,
    buffer: BTreeMap<String, Pending>,
    buffer_bytes: usize,
}

/// The error of a failed store: a full disk stays recognisable as one.
fn store_error(no_space: bool, what: &str) -> Error {
    if no_space {
        Error::Storage(crate::storage::StorageError::NoSpace {
            key: format!("session temporary store ({what})"),
        })
    } else {
        Error::Cache(format!("session temporary store: {what}"))
    }
}

/// Whether an error's message shows a full disk (redb reports I/O errors as text).
fn is_no_space(e: &Error) -> bool {
    e.is_no_space() || {
        let m = e.to_string();
        m.contains("No space left on device") || m.contains("Disk quota exceeded")
    }
}

impl PendingStore {
    pub fn new() -> Result<Self> {
        Ok(PendingStore {
            spill: None,
            writing: Mutex::new(None),
            failed: Mutex::new(None),
            buffer: BTreeMap::new(),
            buffer_bytes: 0,
        })
    }

    /// Wait for the spill in flight, if any; the store's error if a spill ever failed.
    fn settle(&self) -> Result<()> {
        let handle = self.writing.lock().take();
        let outcome = match handle {
            Some(h) => match h.join() {
                Ok(r) => r,
                Err(_) => Err(Error::Cache("the spill thread panicked".into())),
            },
            None => Ok(()),
        };
        if let Err(e) = outcome {
            self.fail(&e);
        }
        match &*self.failed.lock() {
            Some((no_space, what)) => Err(store_error(*no_space, what)),
            None => Ok(()),
        }
    }

    /// Remember the first failure (later calls report it).
    fn fail(&self, e: &Error) {
        let mut failed = self.failed.lock();
        if failed.is_none() {
            tracing::error!(error = %e, "session temporary store failed; the session cannot commit");
            *failed = Some((is_no_space(e), e.to_string()));
        }
    }

    pub fn stage(&mut self, id: &str, p: Pending) -> Result<()> {
        if let Some((no_space, what)) = &*self.failed.lock() {
            return Err(store_error(*no_space, what));
        }
        self.buffer_bytes += p.weight(id);
        if let Some(old) = self.buffer.insert(id.to_string(), p) {
            self.buffer_bytes = self.buffer_bytes.saturating_sub(old.weight(id));
        }
        if self.buffer_bytes >= MEMORY_BUDGET {
            self.spill()?;
        }
        Ok(())
    }

    fn db(&mut self) -> Result<Arc<Database>> {
        if self.spill.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("tenantvault-session-")
                .tempdir()
                .map_err(|e| {
                    let no_space = matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT));
                    store_error(no_space, &format!("create temporary directory: {e}"))
                })?;
            let db = redb::Builder::new()
                .set_cache_size(4 << 20)
                .create(dir.path().join("pending.redb"))
                .map_err(|e| {
                    let e = Error::from(e);
                    store_error(is_no_space(&e), &e.to_string())
                })?;
            self.spill = Some((Arc::new(db), dir));
        }
        Ok(self.spill.as_ref().expect("just set").0.clone())
    }

    /// Move the in-memory stages to the spill file (newer stages replace older ones there),
    /// on a thread of its own once the previous spill is written (on this thread if no thread
    /// can be started). The stages stay in memory until the spill file exists.
    fn spill(&mut self) -> Result<()> {
        self.settle()?;
        let db = self.db()?;
        let buffer = Arc::new(Mutex::new(Some(std::mem::take(&mut self.buffer))));
        self.buffer_bytes = 0;
        let (db2, buffer2) = (db.clone(), buffer.clone());
        let spawned = std::thread::Builder::new()
            .name("pending-spill".into())
            .spawn(move || {
                let buffer = buffer2.lock().take().expect("spilled once");
                write_spill(&db2, buffer)
            });
        match spawned {
            Ok(handle) => *self.writing.lock() = Some(handle),
            Err(e) => {
                tracing::debug!(error = %e, "no spill thread; spilling on this one");
                let buffer = buffer.lock().take().expect("not taken: no thread ran");
                if let Err(e) = write_spill(&db, buffer) {
                    self.fail(&e);
                    return self.settle();
                }
            }
        }
        Ok(())
    }

    /// A cursor over every staged entry in id order (the latest stage of each id). The spill
    /// file, if any, is read and decoded on a thread of its own, ahead of the caller, while
    /// the caller merges it with the stages still in memory. Nothing may be staged while the
    /// cursor is in use.
    pub fn cursor(&self) -> Result<PendingCursor> {
        self.settle()?;
        let spilled = match &self.spill {
            Some((db, _)) => Some(SpillReader::start(db.clone())?),
            None => None,
        };
        Ok(PendingCursor {
            buf: VecDeque::new(),
            after: None,
            spilled,
            spilled_ahead: VecDeque::new(),
        })
    }
}

/// Decoded spilled entries handed over at once by the spill reader.
const READ_BATCH: usize = 512;
/// Batches the spill reader may have decoded ahead of the cursor.
const READ_AHEAD: usize = 2;

/// What the spill reader sends: a batch, the end (`Ok(None)`), or its error.
type ReadMsg = Result<Option<Vec<(String, Pending)>>>;

/// The thread reading a spill file in id order.
struct SpillReader {
    rx: std::sync::mpsc::Receiver<ReadMsg>,
    done: bool,
}

impl SpillReader {
    fn start(db: Arc<Database>) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
        std::thread::Builder::new()
            .name("pending-read".into())
            .spawn(move || {
                // Ok(None) marks the end: a reader that dies without it (a panic) is an error
                // for the cursor, never a short snapshot.
                let end = read_spill(&db, &tx).map(|()| None);
                let _ = tx.send(end);
            })
            .map_err(|e| store_error(false, &format!("start the reader thread: {e}")))?;
        Ok(SpillReader { rx, done: false })
    }

    /// The next batch, or None at the end.
    fn next(&mut self) -> Result<Option<Vec<(String, Pending)>>> {
        if self.done {
            return Ok(None);
        }
        match self.rx.recv() {
            Ok(Ok(Some(batch))) => Ok(Some(batch)),
            Ok(Ok(None)) => {
                self.done = true;
                Ok(None)
            }
            Ok(Err(e)) => {
                self.done = true;
                Err(store_error(is_no_space(&e), &e.to_string()))
            }
            Err(_) => {
                self.done = true;
                Err(store_error(
                    false,
                    "the reader thread stopped before the end",
                ))
            }
        }
    }
}

/// Send the spill table's entries, decoded, in id order (stops when the cursor is dropped).
fn read_spill(db: &Database, tx: &std::sync::mpsc::SyncSender<ReadMsg>) -> Result<()> {
    let rtx = db.begin_read()?;
    let table = match rtx.open_table(PENDING) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut raw = Vec::with_capacity(READ_BATCH);
    let mut iter = table.iter()?;
    loop {
        raw.clear();
        for r in iter.by_ref().take(READ_BATCH) {
            let (k, v) = r?;
            raw.push((k.value().to_string(), v.value().to_vec()));
        }
        if raw.is_empty() {
            return Ok(());
        }
        // Decoding is most of the work: the CPU pool does it, this thread reads on.
        let batch = raw
            .par_drain(..)
            .map(|(k, v)| {
                serde_json::from_slice::<Pending>(&v)
                    .map(|p| (k, p))
                    .map_err(|e| Error::Cache(format!("pending store: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        if tx.send(Ok(Some(batch))).is_err() {
            return Ok(());
        }
    }
}

/// Reads the staged entries in id order, with look-ahead (bounded by the caller): the spill
/// file's entries merged with the newer ones in memory (memory wins for an id in both).
pub(crate) struct PendingCursor {
    buf: VecDeque<(String, Pending)>,
    after: Option<String>,
    spilled: Option<SpillReader>,
    spilled_ahead: VecDeque<(String, Pending)>,
}

impl PendingCursor {
    fn fill(&mut self, store: &PendingStore, need: usize) -> Result<()> {
        while self.buf.len() < need {
            if self.spilled_ahead.is_empty()
                && let Some(r) = &mut self.spilled
            {
                match r.next()? {
                    Some(batch) => self.spilled_ahead.extend(batch),
                    None => self.spilled = None,
                }
            }
            let lower = match &self.after {
                Some(a) => Bound::Excluded(a.as_str()),
                None => Bound::Unbounded,
            };
            let memory = store
                .buffer
                .range::<str, _>((lower, Bound::Unbounded))
                .next();
            let take_memory = match (memory, self.spilled_ahead.front()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((m, _)), Some((s, _))) => {
                    if m == s {
                        self.spilled_ahead.pop_front(); // replaced by the newer stage in memory
                        true
                    } else {
                        m < s
                    }
                }
            };
            let entry = if take_memory {
                let (k, v) = memory.expect("checked");
                (k.clone(), v.clone())
            } else {
                self.spilled_ahead.pop_front().expect("checked")
            };
            self.after = Some(entry.0.clone());
            self.buf.push_back(entry);
        }
        Ok(())
    }

    /// The `n`-th entry from the current position.
    pub fn peek(&mut self, store: &PendingStore, n: usize) -> Result<Option<&(String, Pending)>> {
        self.fill(store, n + 1)?;
        Ok(self.buf.get(n))
    }

    pub fn pop(&mut self, store: &PendingStore) -> Result<Option<(String, Pending)>> {
        self.fill(store, 1)?;
        Ok(self.buf.pop_front())
    }
}

impl Drop for PendingStore {
    fn drop(&mut self) {
        // The temporary directory goes once the spill thread is done with its file (a reader
        // thread still running only holds an open file, which unlinking does not disturb).
        if let Some(h) = self.writing.get_mut().take() {
            let _ = h.join();
        }
    }
}

/// Write one spill in a single transaction (not durable: the file dies with the session).
fn write_spill(db: &Database, buffer: BTreeMap<String, Pending>) -> Result<()> {
    let mut tx = db.begin_write()?;
    tx.set_durability(Durability::None);
    {
        let mut t = tx.open_table(PENDING)?;
        for (k, v) in buffer {
            let bytes = serde_json::to_vec(&v).expect("serializable");
            t.insert(k.as_str(), bytes.as_slice())?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(id: &str, v: u8) -> Pending {
        Pending::Put(Box::new(ItemRecord {
            id: id.to_string(),
            kind: "file".into(),
            path: "p".repeat(20_000),
            name: id.to_string(),
            created: None,
            modified: None,
            received: None,
            size: v as u64,
            version: v.to_string(),
            content: vec![],
            metadata: None,
            attrs: Default::default(),
        }))
    }

    fn tag(p: &Pending) -> String {
        match p {
            Pending::Put(r) => format!("put{}", r.size),
            Pending::Keep(s) => format!("keep{s}"),
            Pending::Delete => "delete".into(),
        }
    }

    /// Thousands of entries across several spills and many reader batches: each id once, in
    /// order, the newest stage winning (some ids re-staged after they were spilled, some only
    /// in the spill file, the last ones only in memory).
    #[test]
    fn cursor_reads_every_id_once_across_spills_and_batches() {
        let mut store = PendingStore::new().unwrap();
        let n = 5_000u32;
        for i in 0..n {
            store
                .stage(&format!("{i:05}"), rec(&format!("{i:05}"), 1))
                .unwrap();
        }
        for i in (0..n).step_by(7) {
            store
                .stage(&format!("{i:05}"), Pending::Keep(u64::from(i)))
                .unwrap();
        }
        assert!(store.spill.is_some(), "the test must spill");
        let mut cursor = store.cursor().unwrap();
        let mut got = Vec::new();
        while let Some((k, p)) = cursor.pop(&store).unwrap() {
            got.push((k, tag(&p)));
        }
        let want: Vec<_> = (0..n)
            .map(|i| {
                let t = if i % 7 == 0 {
                    format!("keep{i}")
                } else {
                    "put1".into()
                };
                (format!("{i:05}"), t)
            })
            .collect();
        assert_eq!(got, want);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Whatever was spilled and whatever is still in memory, reading in batches gives every
        /// id once, sorted, with its last stage.
        #[test]
        fn last_stage_wins_across_memory_and_spill(
            ops in proptest::collection::vec((0u16..400, 0u8..3, any::<u8>()), 1..3000),
            batch in 1usize..50,
        ) {
            let mut store = PendingStore::new().unwrap();
            let mut model = BTreeMap::new();
            for (id, op, v) in ops {
                let id = format!("{id:04}");
                let p = match op {
                    0 => rec(&id, v),
                    1 => Pending::Keep(v as u64),
                    _ => Pending::Delete,
                };
                model.insert(id.clone(), tag(&p));
                store.stage(&id, p).unwrap();
            }
            let mut got = Vec::new();
            let mut cursor = store.cursor().unwrap();
            // Look ahead by up to `batch` entries now and then, as the snapshot writer does.
            while cursor.peek(&store, batch - 1).unwrap().is_some()
                || cursor.peek(&store, 0).unwrap().is_some()
            {
                let (k, p) = cursor.pop(&store).unwrap().unwrap();
                got.push((k, tag(&p)));
            }
            let want: Vec<_> = model.into_iter().collect();
            prop_assert_eq!(got, want);
        }
    }
}
