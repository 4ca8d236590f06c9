//! Answering an [`ItemFilter`] from the find index.

use std::path::PathBuf;

use redb::{Database, ReadTransaction, ReadableTable};

use super::seal::Sealer;
use super::{IndexError, IndexedItem, POSTINGS, RECEIVED, ROWS, TERMS, decode_rows, field, words};
use crate::exchange::filter::ItemFilter;
use crate::exchange::folders::path_within;

/// An open find index.
pub struct IndexQuery {
    db: Database,
    path: PathBuf,
    sealer: Sealer,
}

/// Sorted intersection of two ascending row lists.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

fn sort_dedup(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable();
    v.dedup();
    v
}

impl IndexQuery {
    pub(super) fn new(db: Database, path: PathBuf, sealer: Sealer) -> IndexQuery {
        IndexQuery { db, path, sealer }
    }

    fn err(&self, e: impl std::fmt::Display) -> IndexError {
        IndexError::db(&self.path, e)
    }

    /// Every term of `field` with its number (each one opened).
    fn dictionary(
        &self,
        tx: &ReadTransaction,
        field: u8,
    ) -> Result<Vec<(u32, String)>, IndexError> {
        let t = tx.open_table(TERMS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in t
            .range((field, 0u32)..=(field, u32::MAX))
            .map_err(|e| self.err(e))?
        {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let (_, id) = k.value();
            out.push((id, self.sealer.open_term(field, id, v.value(), &self.path)?));
        }
        Ok(out)
    }

    /// The rows of the terms `ids` of `field`, ascending.
    fn rows_of(
        &self,
        tx: &ReadTransaction,
        field: u8,
        ids: impl Iterator<Item = u32>,
    ) -> Result<Vec<u32>, IndexError> {
        let t = tx.open_table(POSTINGS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for id in ids {
            for entry in t
                .range((field, id, 0u32)..=(field, id, u32::MAX))
                .map_err(|e| self.err(e))?
            {
                let (_, v) = entry.map_err(|e| self.err(e))?;
                decode_rows(v.value(), &mut out);
            }
        }
        Ok(sort_dedup(out))
    }

    /// Rows of every term of `field` that satisfies `keep`.
    fn postings_where(
        &self,
        tx: &ReadTransaction,
        field: u8,
        keep: impl Fn(&str) -> bool,
    ) -> Result<Vec<u32>, IndexError> {
        let dict = self.dictionary(tx, field)?;
        self.rows_of(
            tx,
            field,
            dict.iter().filter(|(_, t)| keep(t)).map(|(id, _)| *id),
        )
    }

    /// Rows whose `field` words contain every word of `needle`; `None` when the needle has no
    /// word (the caller then checks rows one by one).
    fn text(
        &self,
        tx: &ReadTransaction,
        field: u8,
        needle: &str,
    ) -> Result<Option<Vec<u32>>, IndexError> {
        let mut tokens: Vec<String> = words(needle).collect();
        tokens.sort();
        tokens.dedup();
        if tokens.is_empty() {
            return Ok(None);
        }
        let dict = self.dictionary(tx, field)?;
        let mut result: Option<Vec<u32>> = None;
        for t in tokens {
            let ids = dict
                .iter()
                .filter(|(_, term)| term.contains(t.as_str()))
                .map(|(id, _)| *id);
            let rows = self.rows_of(tx, field, ids)?;
            result = Some(match result {
                None => rows,
                Some(r) => intersect(&r, &rows),
            });
        }
        Ok(result)
    }

    /// Candidate rows for `filter` (a superset of the matches), or `None` for "every row".
    fn candidates(
        &self,
        tx: &ReadTransaction,
        filter: &ItemFilter,
    ) -> Result<Option<Vec<u32>>, IndexError> {
        let mut sets: Vec<Vec<u32>> = Vec::new();
        for (f, needle) in [
            (field::SUBJECT, &filter.subject),
            (field::SENDER, &filter.sender),
            (field::RECIPIENT, &filter.recipient),
        ] {
            if let Some(n) = needle
                && let Some(rows) = self.text(tx, f, n)?
            {
                sets.push(rows);
            }
        }
        // Folder and date sets are cheap to read and can be far smaller than a word's (the
        // mailbox owner's name is in nearly every recipient list): intersect them too.
        if let Some(folder) = &filter.folder {
            sets.push(self.postings_where(tx, field::PATH, |p| path_within(p, folder))?);
        }
        if filter.received_after.is_some() || filter.received_before.is_some() {
            let t = tx.open_table(RECEIVED).map_err(|e| self.err(e))?;
            let from = filter
                .received_after
                .map_or(i64::MIN, |t| t.timestamp_millis());
            let to = filter
                .received_before
                .map_or(i64::MAX, |t| t.timestamp_millis());
            let mut rows = Vec::new();
            for entry in t.range((from, 0u32)..(to, 0u32)).map_err(|e| self.err(e))? {
                let (k, _) = entry.map_err(|e| self.err(e))?;
                rows.push(k.value().1);
            }
            sets.push(sort_dedup(rows));
        }
        if sets.is_empty() && !filter.kinds.is_empty() {
            let kinds = filter.kinds.clone();
            sets.push(self.postings_where(tx, field::KIND, |k| kinds.iter().any(|x| x == k))?);
        }
        sets.sort_by_key(Vec::len);
        let mut it = sets.into_iter();
        let Some(mut acc) = it.next() else {
            return Ok(None);
        };
        for s in it {
            acc = intersect(&acc, &s);
        }
        Ok(Some(acc))
    }

    /// The items matching `filter`, in item-id order, at most `limit`.
    pub fn find(
        &self,
        filter: &ItemFilter,
        limit: Option<usize>,
    ) -> Result<Vec<IndexedItem>, IndexError> {
        let tx = self.db.begin_read().map_err(|e| self.err(e))?;
        let candidates = self.candidates(&tx, filter)?;
        let rows = tx.open_table(ROWS).map_err(|e| self.err(e))?;
        let limit = limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut consider = |row: u32, sealed: &[u8]| -> Result<bool, IndexError> {
            let json = self.sealer.open_row(row, sealed, &self.path)?;
            let item: IndexedItem =
                serde_json::from_slice(&json).map_err(|e| self.err(format!("damaged row: {e}")))?;
            if filter.matches(&item) {
                out.push(item);
            }
            Ok(out.len() < limit)
        };
        match candidates {
            Some(list) => {
                for r in list {
                    let Some(v) = rows.get(r).map_err(|e| self.err(e))? else {
                        return Err(self.err(format!("row {r} missing")));
                    };
                    if !consider(r, v.value())? {
                        break;
                    }
                }
            }
            None => {
                for entry in rows.iter().map_err(|e| self.err(e))? {
                    let (k, v) = entry.map_err(|e| self.err(e))?;
                    if !consider(k.value(), v.value())? {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersections() {
        assert_eq!(intersect(&[1, 3, 5, 7], &[2, 3, 7, 9]), [3, 7]);
        assert!(intersect(&[], &[1]).is_empty());
        assert_eq!(sort_dedup(vec![5, 1, 5, 2]), [1, 2, 5]);
    }
}
