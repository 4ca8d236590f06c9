//! Sets and sorts bounded in memory, for walks over every blob of a repository (`gc`,
//! `check --read-data`, an index cache rebuilt from every index file): a repository of 10⁷
//! blobs must stay usable in well under 1 GiB.
//!
//! * [`RecordSorter`]: external sort of fixed-width records. Sorted runs of a bounded number of
//!   records are spilled to anonymous temporary files and read back through a streaming k-way
//!   merge ([`SortedRecords::iter`]), in ascending order, exact duplicates dropped.
//! * [`SortedIds`]: built by pushing ids in any order (a [`RecordSorter`] of 32-byte ids merged
//!   into one file). Read back in ascending order ([`SortedIds::probe`]) it answers membership
//!   for ascending queries (a merge join), so memory stays at one run whatever the number of ids.

use crate::crypto::BlobId;
use crate::error::{Error, Result};
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// Ids per in-memory run (32 MiB).
pub(crate) const RUN_IDS: usize = 1 << 20;
/// Runs merged at once (open files and read buffers).
const MERGE_FAN_IN: usize = 64;
/// Read/write buffer of a run file.
const IO_BUF: usize = 64 * 1024;

fn io(what: &str, e: std::io::Error) -> Error {
    Error::io(format!("temporary id set: {what}"), e)
}

/// A sorted, deduplicated file of fixed-width records (`W` bytes; ids are `W = 32`).
#[derive(Debug)]
pub(crate) struct Run<const W: usize> {
    file: File,
    len: u64,
}

impl<const W: usize> Run<W> {
    fn write(records: impl IntoIterator<Item = [u8; W]>) -> Result<Run<W>> {
        let file = tempfile::tempfile().map_err(|e| io("create", e))?;
        let mut w = BufWriter::with_capacity(IO_BUF, file);
        let mut len = 0u64;
        let mut last: Option<[u8; W]> = None;
        for r in records {
            if last == Some(r) {
                continue;
            }
            w.write_all(&r).map_err(|e| io("write", e))?;
            last = Some(r);
            len += 1;
        }
        let file = w.into_inner().map_err(|e| io("flush", e.into_error()))?;
        Ok(Run { file, len })
    }

    fn reader(&self) -> Result<RunReader<'_, W>> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(0)).map_err(|e| io("seek", e))?;
        Ok(RunReader {
            r: BufReader::with_capacity(IO_BUF, f),
            left: self.len,
        })
    }
}

/// Reads a run front to back.
struct RunReader<'a, const W: usize> {
    r: BufReader<&'a File>,
    left: u64,
}

impl<const W: usize> Iterator for RunReader<'_, W> {
    type Item = Result<[u8; W]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut rec = [0u8; W];
        Some(
            self.r
                .read_exact(&mut rec)
                .map(|_| rec)
                .map_err(|e| io("read", e)),
        )
    }
}

/// Streaming k-way merge of sorted runs: records in ascending order, exact duplicates dropped.
pub(crate) struct Merge<'a, const W: usize> {
    readers: Vec<RunReader<'a, W>>,
    heap: BinaryHeap<std::cmp::Reverse<([u8; W], usize)>>,
    last: Option<[u8; W]>,
    failed: bool,
}

impl<'a, const W: usize> Merge<'a, W> {
    fn new(runs: &'a [Run<W>]) -> Result<Self> {
        let mut readers = runs.iter().map(Run::reader).collect::<Result<Vec<_>>>()?;
        let mut heap = BinaryHeap::new();
        for (i, r) in readers.iter_mut().enumerate() {
            if let Some(rec) = r.next() {
                heap.push(std::cmp::Reverse((rec?, i)));
            }
        }
        Ok(Merge {
            readers,
            heap,
            last: None,
            failed: false,
        })
    }
}

impl<const W: usize> Iterator for Merge<'_, W> {
    type Item = Result<[u8; W]>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.failed {
                return None;
            }
            let std::cmp::Reverse((rec, i)) = self.heap.pop()?;
            match self.readers[i].next() {
                Some(Ok(next)) => self.heap.push(std::cmp::Reverse((next, i))),
                Some(Err(e)) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                None => {}
            }
            if self.last == Some(rec) {
                continue;
            }
            self.last = Some(rec);
            return Some(Ok(rec));
        }
    }
}

/// Merge sorted runs into one sorted, deduplicated run.
fn merge<const W: usize>(runs: &[Run<W>]) -> Result<Run<W>> {
    let mut err = None;
    let out = Run::write(Merge::new(runs)?.map_while(|r| match r {
        Ok(rec) => Some(rec),
        Err(e) => {
            err = Some(e);
            None
        }
    }))?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// External sort of fixed-width records: at most `run_len` records in memory; full buffers are
/// sorted and spilled to anonymous temporary files (merged in levels of [`MERGE_FAN_IN`]).
#[derive(Debug)]
pub(crate) struct RecordSorter<const W: usize> {
    buf: Vec<[u8; W]>,
    runs: Vec<Run<W>>,
    run_len: usize,
}

impl<const W: usize> RecordSorter<W> {
    pub fn new(run_len: usize) -> Self {
        RecordSorter {
            buf: Vec::new(),
            runs: Vec::new(),
            run_len: run_len.max(1),
        }
    }

    pub fn push(&mut self, rec: [u8; W]) -> Result<()> {
        self.buf.push(rec);
        if self.buf.len() >= self.run_len {
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

    /// Sorted, deduplicated records (in memory if nothing was spilled).
    pub fn finish(mut self) -> Result<SortedRecords<W>> {
        if self.runs.is_empty() {
            self.buf.sort_unstable();
            self.buf.dedup();
            self.buf.shrink_to_fit();
            return Ok(SortedRecords::Memory(self.buf));
        }
        if !self.buf.is_empty() {
            self.spill()?;
        }
        self.buf = Vec::new();
        Ok(SortedRecords::Runs(self.runs))
    }
}

/// The output of a [`RecordSorter`].
#[derive(Debug)]
pub(crate) enum SortedRecords<const W: usize> {
    Memory(Vec<[u8; W]>),
    Runs(Vec<Run<W>>),
}

impl<const W: usize> SortedRecords<W> {
    /// Records in ascending order, each once.
    pub fn iter(&self) -> Result<Box<dyn Iterator<Item = Result<[u8; W]>> + Send + '_>> {
        Ok(match self {
            SortedRecords::Memory(v) => Box::new(v.iter().map(|r| Ok(*r))),
            SortedRecords::Runs(runs) => Box::new(Merge::new(runs)?),
        })
    }
}

/// Collects ids in any order; see the module documentation.
#[derive(Debug)]
pub(crate) struct SortedIdsBuilder {
    sorter: RecordSorter<32>,
}

impl SortedIdsBuilder {
    pub fn new() -> Self {
        Self::with_run_size(RUN_IDS)
    }

    /// Spill every `run_ids` ids (tests use tiny runs to exercise the merge).
    pub fn with_run_size(run_ids: usize) -> Self {
        SortedIdsBuilder {
            sorter: RecordSorter::new(run_ids),
        }
    }

    pub fn insert(&mut self, id: &BlobId) -> Result<()> {
        self.sorter.push(id.0)
    }

    pub fn finish(self) -> Result<SortedIds> {
        Ok(match self.sorter.finish()? {
            SortedRecords::Memory(v) => SortedIds::Memory(v),
            SortedRecords::Runs(mut runs) if runs.len() == 1 => {
                SortedIds::File(runs.pop().expect("one run"))
            }
            SortedRecords::Runs(runs) => SortedIds::File(merge(&runs)?),
        })
    }
}

/// A sorted set of distinct ids, in memory when small, else in a temporary file.
#[derive(Debug)]
pub(crate) enum SortedIds {
    Memory(Vec<[u8; 32]>),
    File(Run<32>),
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
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn record_sorter_yields_each_record_once_in_order(
            ns in proptest::collection::vec((0u32..300, 0u8..3), 0..600),
            run in 1usize..40,
        ) {
            // wide records whose first bytes often tie: order is on the whole record
            let rec = |(n, tag): (u32, u8)| {
                let mut r = [0u8; 81];
                r[..32].copy_from_slice(&id(n % 50).0);
                r[32] = tag;
                r[33..37].copy_from_slice(&n.to_be_bytes());
                r
            };
            let mut s = RecordSorter::<81>::new(run);
            for n in &ns {
                s.push(rec(*n)).unwrap();
            }
            let sorted = s.finish().unwrap();
            let got: Vec<[u8; 81]> = sorted.iter().unwrap().map(|r| r.unwrap()).collect();
            let want: Vec<[u8; 81]> = ns.iter().map(|n| rec(*n)).collect::<BTreeSet<_>>().into_iter().collect();
            prop_assert_eq!(got, want);
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
