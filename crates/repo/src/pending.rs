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
pub(crate) struct PendingStore {
    spill: Option<(Arc<Database>, tempfile::TempDir)>,
    /// The spill being written, if any (its error surfaces at the next spill or read).
    writing: Mutex<Option<std::thread::JoinHandle<Result<()>>>>,
    buffer: BTreeMap<String, Pending>,
    buffer_bytes: usize,
}

impl PendingStore {
    pub fn new() -> Result<Self> {
        Ok(PendingStore {
            spill: None,
            writing: Mutex::new(None),
            buffer: BTreeMap::new(),
            buffer_bytes: 0,
        })
    }

    /// Wait for the spill in flight, if any, and report its error.
    fn settle(&self) -> Result<()> {
        let handle = self.writing.lock().take();
        match handle {
            Some(h) => h.join().expect("pending spill thread panicked"),
            None => Ok(()),
        }
    }

    pub fn stage(&mut self, id: &str, p: Pending) -> Result<()> {
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
                .map_err(|e| Error::io("create session temp dir", e))?;
            let db = redb::Builder::new()
                .set_cache_size(4 << 20)
                .create(dir.path().join("pending.redb"))?;
            self.spill = Some((Arc::new(db), dir));
        }
        Ok(self.spill.as_ref().expect("just set").0.clone())
    }

    /// Move the in-memory stages to the spill file (newer stages replace older ones there),
    /// on a thread of its own once the previous spill is written.
    fn spill(&mut self) -> Result<()> {
        self.settle()?;
        let buffer = std::mem::take(&mut self.buffer);
        self.buffer_bytes = 0;
        let db = self.db()?;
        let handle = std::thread::Builder::new()
            .name("pending-spill".into())
            .spawn(move || write_spill(&db, buffer))
            .map_err(|e| Error::io("start pending spill thread", e))?;
        *self.writing.lock() = Some(handle);
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

/// The thread reading a spill file in id order.
struct SpillReader {
    rx: std::sync::mpsc::Receiver<Result<Vec<(String, Pending)>>>,
    done: bool,
}

impl SpillReader {
    fn start(db: Arc<Database>) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD);
        std::thread::Builder::new()
            .name("pending-read".into())
            .spawn(move || {
                if let Err(e) = read_spill(&db, &tx) {
                    let _ = tx.send(Err(e));
                }
            })
            .map_err(|e| Error::io("start pending reader thread", e))?;
        Ok(SpillReader { rx, done: false })
    }

    /// The next batch, or None at the end.
    fn next(&mut self) -> Result<Option<Vec<(String, Pending)>>> {
        if self.done {
            return Ok(None);
        }
        match self.rx.recv() {
            Ok(batch) => batch.map(Some),
            Err(_) => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

/// Send the spill table's entries, decoded, in id order (stops when the cursor is dropped).
fn read_spill(
    db: &Database,
    tx: &std::sync::mpsc::SyncSender<Result<Vec<(String, Pending)>>>,
) -> Result<()> {
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
        if tx.send(Ok(batch)).is_err() {
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
        // The temporary directory goes once the spill thread is done with its file.
        let _ = self.settle();
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
