//! Bounded-memory store of a session's staged items (a temporary redb table).

use crate::error::{Error, Result};
use crate::model::ItemRecord;
use redb::{Database, Durability, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const PENDING: TableDefinition<&str, &[u8]> = TableDefinition::new("pending");
const BUFFER: usize = 1024;

/// A staged change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Pending {
    Put(Box<ItemRecord>),
    Delete,
}

/// Items staged by a session, sorted by id, spilled to a temporary redb file.
pub(crate) struct PendingStore {
    db: Database,
    _dir: tempfile::TempDir,
    buffer: BTreeMap<String, Pending>,
}

impl PendingStore {
    pub fn new() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("tenantvault-session-")
            .tempdir()
            .map_err(|e| Error::io("create session temp dir", e))?;
        let db = redb::Builder::new()
            .set_cache_size(4 << 20)
            .create(dir.path().join("pending.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(PENDING)?;
        tx.commit()?;
        Ok(PendingStore {
            db,
            _dir: dir,
            buffer: BTreeMap::new(),
        })
    }

    pub fn stage(&mut self, id: &str, p: Pending) -> Result<()> {
        self.buffer.insert(id.to_string(), p);
        if self.buffer.len() >= BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::None);
        {
            let mut t = tx.open_table(PENDING)?;
            for (k, v) in std::mem::take(&mut self.buffer) {
                let bytes = serde_json::to_vec(&v).expect("serializable");
                t.insert(k.as_str(), bytes.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Up to `n` staged entries with id > `after`, sorted (call [`flush`] first).
    pub fn batch_after(&self, after: Option<&str>, n: usize) -> Result<Vec<(String, Pending)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(PENDING)?;
        let range = match after {
            Some(a) => {
                t.range::<&str>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))?
            }
            None => t.range::<&str>(..)?,
        };
        let mut out = Vec::new();
        for r in range.take(n) {
            let (k, v) = r?;
            let p: Pending = serde_json::from_slice(v.value())
                .map_err(|e| Error::Cache(format!("pending store: {e}")))?;
            out.push((k.value().to_string(), p));
        }
        Ok(out)
    }
}
