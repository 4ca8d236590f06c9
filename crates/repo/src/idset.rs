//! Sets of blob ids bounded in memory, for walks over every blob of a repository (`gc`,
//! `check --read-data`): a repository of 10⁷ blobs must stay usable in well under 1 GiB.
//!
//! * [`SortedIds`]: built by pushing ids in any order; sorted runs of at most
//!   [`RUN_IDS`] ids are spilled to anonymous temporary files and merged into one sorted,
//!   deduplicated file. Read back in ascending order ([`SortedIds::probe`]) it answers
//!   membership for ascending queries (a merge join), so memory stays at one run whatever the
//!   number of ids.
//! * [`SeenSet`]: "have I already done this blob?" for queries in any order: an in-memory set up
//!   to [`SEEN_IN_MEMORY`] ids, then a redb table in a temporary file.

use crate::crypto::BlobId;
use crate::error::{Error, Result};
use std::collections::{BinaryHeap, HashSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Ids per in-memory run (32 MiB).
pub(crate) const RUN_IDS: usize = 1 << 20;
/// Runs merged at once (open files and read buffers).
const MERGE_FAN_IN: usize = 64;
/// Ids a [`SeenSet`] keeps in memory before spilling to disk.
pub(crate) const SEEN_IN_MEMORY: usize = 1 << 20;
/// Read/write buffer of a run file.
const IO_BUF: usize = 64 * 1024;

fn io(what: &str, e: std::io::Error) -> Error {
    Error::io(format!("temporary id set: {what}"), e)
}

/// A sorted, deduplicated file of 32-byte ids.
#[derive(Debug)]
pub(crate) struct Run {
    file: File,
    len: u64,
}

impl Run {
    fn write(ids: impl IntoIterator<Item = [u8; 32]>) -> Result<Run> {
        let file = tempfile::tempfile().map_err(|e| io("create", e))?;
        let mut w = BufWriter::with_capacity(IO_BUF, file);
        let mut len = 0u64;
        let mut last: Option<[u8; 32]> = None;
        for id in ids {
            if last == Some(id) {
                continue;
            }
            w.write_all(&id).map_err(|e| io("write", e))?;
            last = Some(id);
            len += 1;
        }
        let file = w.into_inner().map_err(|e| io("flush", e.into_error()))?;
        Ok(Run { file, len })
    }

    fn reader(&self) -> Result<RunReader<'_>> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(0)).map_err(|e| io("seek", e))?;
        Ok(RunReader {
            r: BufReader::with_capacity(IO_BUF, f),
            left: self.len,
        })
    }
}

/// Reads a run front to back.
struct RunReader<'a> {
    r: BufReader<&'a File>,
    left: u64,
}

impl Iterator for RunReader<'_> {
    type Item = Result<[u8; 32]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut id = [0u8; 32];
        Some(
            self.r
                .read_exact(&mut id)
                .map(|_| id)
                .map_err(|e| io("read", e)),
        )
    }
}

/// k-way merge of sorted runs into one sorted, deduplicated run.
fn merge(runs: &[Run]) -> Result<Run> {
    let mut readers = runs.iter().map(Run::reader).collect::<Result<Vec<_>>>()?;
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        if let Some(id) = r.next() {
            heap.push(std::cmp::Reverse((id?, i)));
        }
    }
    let mut err = None;
    let out = Run::write(std::iter::from_fn(|| {
        let std::cmp::Reverse((id, i)) = heap.pop()?;
        match readers[i].next() {
            Some(Ok(next)) => heap.push(std::cmp::Reverse((next, i))),
            Some(Err(e)) => {
                err = Some(e);
                return None;
            }
            None => {}
        }
        Some(id)
    }))?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Collects ids in any order; see the module documentation.
#[derive(Debug)]
pub(crate) struct SortedIdsBuilder {
    buf: Vec<[u8; 32]>,
    runs: Vec<Run>,
    run_ids: usize,
}

impl SortedIdsBuilder {
    pub fn new() -> Self {
        Self::with_run_size(RUN_IDS)
    }

    /// Spill every `run_ids` ids (tests use tiny runs to exercise the merge).
    pub fn with_run_size(run_ids: usize) -> Self {
        SortedIdsBuilder {
            buf: Vec::new(),
            runs: Vec::new(),
            run_ids: run_ids.max(1),
        }
    }

    pub fn insert(&mut self, id: &BlobId) -> Result<()> {
        self.buf.push(id.0);
        if self.buf.len() >= self.run_ids {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        self.buf.sort_unstable();
        let run = Run::write(self.buf.drain(..))?;
        self.runs.push(run);
        if self.runs.len() >= MERGE_FAN_IN {
            let merged = merge(&self.runs)?;
            self.runs = vec![merged];
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<SortedIds> {
        if self.runs.is_empty() {
            self.buf.sort_unstable();
            self.buf.dedup();
            self.buf.shrink_to_fit();
            return Ok(SortedIds::Memory(self.buf));
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        let run = if self.runs.len() == 1 {
            self.runs.pop().expect("one run")
        } else {
            merge(&self.runs)?
        };
        Ok(SortedIds::File(run))
    }
}

/// A sorted set of distinct ids, in memory when small, else in a temporary file.
#[derive(Debug)]
pub(crate) enum SortedIds {
    Memory(Vec<[u8; 32]>),
    File(Run),
}

impl SortedIds {
    pub fn len(&self) -> u64 {
        match self {
            SortedIds::Memory(v) => v.len() as u64,
            SortedIds::File(r) => r.len,
        }
    }

    /// A cursor answering membership for ascending queries.
    pub fn probe(&self) -> Result<Probe<'_>> {
        let iter: Box<dyn Iterator<Item = Result<[u8; 32]>> + Send + '_> = match self {
            SortedIds::Memory(v) => Box::new(v.iter().map(|id| Ok(*id))),
            SortedIds::File(r) => Box::new(r.reader()?),
        };
        Ok(Probe {
            iter,
            cur: None,
            done: false,
        })
    }
}

/// Merge-join cursor over a [`SortedIds`].
pub(crate) struct Probe<'a> {
    iter: Box<dyn Iterator<Item = Result<[u8; 32]>> + Send + 'a>,
    cur: Option<[u8; 32]>,
    done: bool,
}

impl Probe<'_> {
    /// Is `id` in the set? Queries must come in ascending order (equal ids may repeat);
    /// a query below an earlier one is answered `false`.
    pub fn contains(&mut self, id: &BlobId) -> Result<bool> {
        loop {
            match self.cur {
                Some(c) if c >= id.0 => return Ok(c == id.0),
                _ if self.done => return Ok(false),
                _ => match self.iter.next() {
                    Some(next) => self.cur = Some(next?),
                    None => self.done = true,
                },
            }
        }
    }
}

const SEEN: redb::TableDefinition<&[u8; 32], ()> = redb::TableDefinition::new("seen");

/// Ids already handled, for queries in any order; see the module documentation.
pub(crate) struct SeenSet {
    mem: HashSet<[u8; 32]>,
    limit: usize,
    disk: Option<(redb::Database, tempfile::TempDir)>,
}

impl SeenSet {
    pub fn new() -> Self {
        Self::with_memory_limit(SEEN_IN_MEMORY)
    }

    pub fn with_memory_limit(limit: usize) -> Self {
        SeenSet {
            mem: HashSet::new(),
            limit: limit.max(1),
            disk: None,
        }
    }

    pub fn contains(&self, id: &BlobId) -> Result<bool> {
        if self.mem.contains(&id.0) {
            return Ok(true);
        }
        let Some((db, _)) = &self.disk else {
            return Ok(false);
        };
        let tx = db.begin_read()?;
        let t = tx.open_table(SEEN)?;
        Ok(t.get(&id.0)?.is_some())
    }

    /// Adds `id`; returns false if it was already there.
    pub fn insert(&mut self, id: &BlobId) -> Result<bool> {
        if self.contains(id)? {
            return Ok(false);
        }
        self.mem.insert(id.0);
        if self.mem.len() >= self.limit {
            self.spill()?;
        }
        Ok(true)
    }

    fn spill(&mut self) -> Result<()> {
        if self.disk.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("tenantvault-seen-")
                .tempdir()
                .map_err(|e| io("create", e))?;
            let mut b = redb::Builder::new();
            b.set_cache_size(16 << 20);
            let db = b.create(dir.path().join("seen.redb"))?;
            self.disk = Some((db, dir));
        }
        let (db, _) = self.disk.as_ref().expect("just created");
        let mut tx = db.begin_write()?;
        // durable commits (no fsync) free replaced pages; `None` alone would grow the file
        tx.set_durability(redb::Durability::Eventual);
        {
            let mut t = tx.open_table(SEEN)?;
            let mut ids: Vec<[u8; 32]> = self.mem.drain().collect();
            ids.sort_unstable();
            for id in &ids {
                t.insert(id, ())?;
            }
        }
        tx.commit()?;
        self.mem.shrink_to(self.limit);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn id(n: u32) -> BlobId {
        BlobId(*blake3::hash(&n.to_le_bytes()).as_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn sorted_ids_match_a_btreeset(ns in proptest::collection::vec(0u32..400, 0..600), run in 1usize..40) {
            let mut b = SortedIdsBuilder::with_run_size(run);
            for n in &ns {
                b.insert(&id(*n)).unwrap();
            }
            let set = b.finish().unwrap();
            let want: BTreeSet<[u8; 32]> = ns.iter().map(|n| id(*n).0).collect();
            prop_assert_eq!(set.len(), want.len() as u64);
            let mut queries: Vec<BlobId> = (0u32..450).map(id).collect();
            queries.sort_by_key(|q| q.0);
            let mut p = set.probe().unwrap();
            for q in &queries {
                prop_assert_eq!(p.contains(q).unwrap(), want.contains(&q.0));
                prop_assert_eq!(p.contains(q).unwrap(), want.contains(&q.0), "repeated query");
            }
        }

        #[test]
        fn seen_set_matches_a_hashset(ns in proptest::collection::vec(0u32..300, 0..500), limit in 1usize..50) {
            let mut s = SeenSet::with_memory_limit(limit);
            let mut want = HashSet::new();
            for n in &ns {
                prop_assert_eq!(s.insert(&id(*n)).unwrap(), want.insert(*n));
            }
            for n in 0u32..320 {
                prop_assert_eq!(s.contains(&id(n)).unwrap(), want.contains(&n));
            }
        }
    }

    #[test]
    fn many_runs_merge_in_levels() {
        // more runs than MERGE_FAN_IN forces intermediate merges
        let mut b = SortedIdsBuilder::with_run_size(3);
        for n in (0..1000u32).rev() {
            b.insert(&id(n % 700)).unwrap();
        }
        let set = b.finish().unwrap();
        assert!(matches!(set, SortedIds::File(_)));
        assert_eq!(set.len(), 700);
        let mut all: Vec<[u8; 32]> = (0..700u32).map(|n| id(n).0).collect();
        all.sort_unstable();
        let mut p = set.probe().unwrap();
        for a in &all {
            assert!(p.contains(&BlobId(*a)).unwrap());
        }
        assert!(!p.contains(&BlobId([0xff; 32])).unwrap());
    }
}
