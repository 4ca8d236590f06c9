//! Sealing the index's rows and terms under the repository's cache key, each bound to its
//! snapshot, table and number (associated data), so that nothing can be read without the
//! passphrase and nothing moved between rows, terms or files unnoticed.

use std::path::Path;

use tenantvault_repo::{CacheSealer, Repository};

use super::IndexError;

/// Purpose the repository's cache sealer binds (one key for every local cache record).
const PURPOSE: &str = "exchange-find";

/// What a sealed value is (part of its associated data).
#[derive(Clone, Copy)]
enum Kind {
    Row = 1,
    Term = 2,
    Check = 3,
}

/// Seals and opens the records of one snapshot's index.
pub(super) struct Sealer {
    inner: CacheSealer,
    snapshot: String,
}

impl Sealer {
    pub(super) fn new(repo: &Repository, snapshot: &str) -> Sealer {
        Sealer {
            inner: repo.cache_sealer(PURPOSE),
            snapshot: snapshot.to_string(),
        }
    }

    fn ad(&self, kind: Kind, field: u8, n: u32) -> Vec<u8> {
        let mut ad = Vec::with_capacity(self.snapshot.len() + 7);
        ad.extend_from_slice(self.snapshot.as_bytes());
        ad.push(0);
        ad.push(kind as u8);
        ad.push(field);
        ad.extend_from_slice(&n.to_le_bytes());
        ad
    }

    fn open(
        &self,
        kind: Kind,
        field: u8,
        n: u32,
        sealed: &[u8],
        path: &Path,
    ) -> Result<Vec<u8>, IndexError> {
        self.inner
            .open(
                &self.ad(kind, field, n),
                sealed,
                &path.display().to_string(),
            )
            .map_err(|e| IndexError::db(path, format!("damaged or foreign record: {e}")))
    }

    /// Row `row` (the item's JSON).
    pub(super) fn row(&self, row: u32, json: &[u8]) -> Vec<u8> {
        self.inner.seal(&self.ad(Kind::Row, 0, row), json)
    }

    pub(super) fn open_row(
        &self,
        row: u32,
        sealed: &[u8],
        path: &Path,
    ) -> Result<Vec<u8>, IndexError> {
        self.open(Kind::Row, 0, row, sealed, path)
    }

    /// Term number `id` of `field`.
    pub(super) fn term(&self, field: u8, id: u32, term: &str) -> Vec<u8> {
        self.inner
            .seal(&self.ad(Kind::Term, field, id), term.as_bytes())
    }

    pub(super) fn open_term(
        &self,
        field: u8,
        id: u32,
        sealed: &[u8],
        path: &Path,
    ) -> Result<String, IndexError> {
        let bytes = self.open(Kind::Term, field, id, sealed, path)?;
        String::from_utf8(bytes).map_err(|e| IndexError::db(path, format!("damaged term: {e}")))
    }

    /// The check value of the file's `meta` table: the snapshot id, sealed.
    pub(super) fn check(&self) -> Vec<u8> {
        self.inner
            .seal(&self.ad(Kind::Check, 0, 0), self.snapshot.as_bytes())
    }

    /// Whether `sealed` is this snapshot's check value under this repository's key.
    pub(super) fn verifies(&self, sealed: &[u8]) -> bool {
        self.inner
            .open(&self.ad(Kind::Check, 0, 0), sealed, "find index check")
            .is_ok_and(|s| s == self.snapshot.as_bytes())
    }
}
