//! A per-snapshot item-metadata index for `find`: a million-item mailbox is browsed with the
//! same filters as [`ItemFilter`] without decoding every item list of the snapshot.
//!
//! One redb file per snapshot in the repository's local cache directory
//! (`<cache>/exchange-find/<snapshot id>.redb`), built once on first use from the snapshot's item
//! lists (a snapshot never changes, so an index never goes stale). Tables:
//!
//! * `rows`: row number (= position in the snapshot's id order) → the item's filter fields
//!   (id, kind, path, name, received, modified, sender address and name, recipients) as JSON,
//!   sealed;
//! * `terms`: (field, term number) → the term, sealed: the lower-cased alphanumeric words of the
//!   subject, sender and recipients, the folder paths and the kinds;
//! * `postings`: (field, term number, segment) → ascending row numbers (u32 little-endian);
//! * `received`: (received instant in ms, row) for date ranges;
//! * `meta`: format, snapshot id, row count, and a sealed check value (a file sealed under
//!   another key is rebuilt).
//!
//! A query takes the most selective criterion available — subject, sender, recipient words
//! (every word of the query must be contained in some indexed term: the index answers the
//! substring filters exactly, because a substring's words lie inside the words of the text),
//! else the folder, else the date range, else the kind — and checks every candidate row against
//! the whole filter. Finding the terms that contain a word opens every term of that field (tens
//! of thousands of small AEAD opens for a big mailbox). While building, postings are flushed as
//! segments every [`FLUSH_ENTRIES`] entries; the term dictionary (each distinct word once)
//! stays in memory.
//!
//! # What the cache directory gives away
//!
//! Rows and terms are sealed (XChaCha20-Poly1305, [`tenantvault_repo::CacheSealer`]) under a
//! key derived from the repository's key material, bound to the snapshot, the table and the
//! row or term number: someone who copies the cache directory without the passphrase reads no
//! subject, address, name, folder or item id, and cannot move a row or term elsewhere
//! unnoticed. What the file does show them: the snapshot id (the file name), the number of
//! items, every item's received time (the `received` table, in clear for range queries), the
//! size of each sealed row and term, and the posting lists: how many distinct terms each field
//! has, how many items share each (unknown) term, and so which items share words with which —
//! enough for frequency guesses about very common words, not for reading them.
//!
//! # When index files go away
//!
//! * `erase --owner X` deletes the indexes of every snapshot of X it erased, and `erase` with an
//!   item selection those of the snapshots it rewrote ([`forget`]), including a `.building-`
//!   file a killed build left behind;
//! * a snapshot removed otherwise (`retention apply`, an item erasure on another machine) loses its
//!   index at the next [`prune`]: every indexed `find` and every `erase` on this machine runs it
//!   (a listing of `snapshots/`, no snapshot is read).
//!
//! Only this machine's cache is reached: another machine that ran `find` on the same
//! repository keeps its files until it runs `find` or `erase` itself.

mod build;
mod query;
mod seal;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use tenantvault_repo::Repository;

use super::filter::FilterView;
use super::layout::attr;

pub use build::open_or_build;
pub use query::IndexQuery;

/// Index file format; a file of another format is rebuilt.
pub const INDEX_FORMAT: &[u8] = b"2";

/// Postings kept in memory before a segment is written.
pub const FLUSH_ENTRIES: usize = 2_000_000;

const ROWS: TableDefinition<u32, &[u8]> = TableDefinition::new("rows");
const TERMS: TableDefinition<(u8, u32), &[u8]> = TableDefinition::new("terms");
const POSTINGS: TableDefinition<(u8, u32, u32), &[u8]> = TableDefinition::new("postings");
const RECEIVED: TableDefinition<(i64, u32), ()> = TableDefinition::new("received");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Errors of the find index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading the snapshot failed.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// The index file could not be written or read.
    #[error("find index {path}: {detail}")]
    Db {
        /// The index file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

impl IndexError {
    fn db(path: &Path, e: impl std::fmt::Display) -> IndexError {
        IndexError::Db {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }
    }
}

/// The filter fields of one item, as the index keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexedItem {
    /// Item id.
    pub id: String,
    /// Item kind.
    pub kind: String,
    /// Folder path.
    pub path: String,
    /// Name (a message's subject).
    pub name: String,
    /// Received instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<DateTime<Utc>>,
    /// Last modified instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<DateTime<Utc>>,
    /// Sender address (lower-cased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Sender name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_name: Option<String>,
    /// Recipients (`name <address>; …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipients: Option<String>,
}

impl IndexedItem {
    fn from_record(r: &tenantvault_repo::ItemRecord) -> IndexedItem {
        let a = |k: &str| r.attrs.get(k).cloned();
        IndexedItem {
            id: r.id.clone(),
            kind: r.kind.clone(),
            path: r.path.clone(),
            name: r.name.clone(),
            received: r.received,
            modified: r.modified,
            from: a(attr::FROM),
            from_name: a(attr::FROM_NAME),
            recipients: a(attr::RECIPIENTS),
        }
    }
}

impl FilterView for IndexedItem {
    fn kind(&self) -> &str {
        &self.kind
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn received(&self) -> Option<DateTime<Utc>> {
        self.received
    }
    fn attr(&self, key: &str) -> Option<&str> {
        match key {
            attr::FROM => self.from.as_deref(),
            attr::FROM_NAME => self.from_name.as_deref(),
            attr::RECIPIENTS => self.recipients.as_deref(),
            _ => None,
        }
    }
}

/// Lower-cased alphanumeric words of `s`.
pub fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// The indexed fields (first component of the `terms` and `postings` keys).
mod field {
    pub const SUBJECT: u8 = 0;
    pub const SENDER: u8 = 1;
    pub const RECIPIENT: u8 = 2;
    pub const PATH: u8 = 3;
    pub const KIND: u8 = 4;
    /// How many there are.
    pub const COUNT: usize = 5;
}

/// Where the index of `snapshot_id` lives under the repository cache path.
pub fn index_path(cache: &Path, snapshot_id: &str) -> PathBuf {
    index_dir(cache).join(format!("{snapshot_id}.redb"))
}

/// Delete the find indexes of `snapshot_ids` (sealed, but an erased owner's must not outlive
/// the erasure in any form), and
/// any unfinished build of them: called when an owner is erased or snapshots are rewritten.
/// Returns how many files were removed.
pub fn forget<'a>(cache: &Path, snapshot_ids: impl IntoIterator<Item = &'a str>) -> usize {
    let ids: HashSet<&str> = snapshot_ids.into_iter().collect();
    remove_where(&index_dir(cache), |id| ids.contains(id))
}

/// Delete the find indexes of snapshots the repository no longer has (removed by retention or
/// a rewrite), and unfinished builds of them. Best effort: a repository that
/// cannot be listed removes nothing. Returns how many files were removed.
pub async fn prune(repo: &Repository) -> usize {
    let dir = index_dir(&repo.info().cache_path);
    if !dir.exists() {
        return 0;
    }
    let live: HashSet<String> = match repo.storage().list("snapshots/").await {
        Ok(keys) => keys
            .into_iter()
            .map(|(k, _)| k.trim_start_matches("snapshots/").to_string())
            .collect(),
        Err(e) => {
            tracing::warn!("cannot list snapshots to prune the find indexes: {e}");
            return 0;
        }
    };
    remove_where(&dir, |id| !live.contains(id))
}

/// The snapshot id an index file is for: `<id>.redb`, or `.building-<id>-<random>.redb` while
/// (or when a killed process was) building it.
fn snapshot_of(file_name: &str) -> Option<&str> {
    let stem = file_name.strip_suffix(".redb")?;
    match stem.strip_prefix(BUILDING) {
        Some(rest) => rest.rsplit_once('-').map(|(id, _)| id),
        None => (!stem.starts_with('.')).then_some(stem),
    }
}

/// Remove the index files in `dir` whose snapshot satisfies `doomed`.
fn remove_where(dir: &Path, doomed: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(id) = snapshot_of(&name) else {
            continue;
        };
        if !doomed(id) {
            continue;
        }
        match std::fs::remove_file(e.path()) {
            Ok(()) => {
                tracing::info!(snapshot = id, "find index removed");
                removed += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!(path = %e.path().display(), "cannot remove a find index: {err}")
            }
        }
    }
    removed
}

/// File-name prefix of an index being built.
const BUILDING: &str = ".building-";

fn index_dir(cache: &Path) -> PathBuf {
    // `RepoInfo::cache_path` may name the cache database file or its directory.
    let base = if cache.extension().is_some() {
        cache.parent().unwrap_or(cache)
    } else {
        cache
    };
    base.join("exchange-find")
}

fn encode_rows(rows: &[u32]) -> Vec<u8> {
    rows.iter().flat_map(|r| r.to_le_bytes()).collect()
}

fn decode_rows(bytes: &[u8], out: &mut Vec<u32>) {
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_rows() {
        let w: Vec<String> = words("Re: Q3 budget—Zürich, ann@X.org").collect();
        assert_eq!(w, ["re", "q3", "budget", "zürich", "ann", "x", "org"]);
        let mut out = Vec::new();
        decode_rows(&encode_rows(&[1, 70_000, u32::MAX]), &mut out);
        assert_eq!(out, [1, 70_000, u32::MAX]);
        let p = index_path(Path::new("/c/abc"), "s1");
        assert_eq!(p, Path::new("/c/abc/exchange-find/s1.redb"));
        let p = index_path(Path::new("/c/abc/index.redb"), "s1");
        assert_eq!(p, Path::new("/c/abc/exchange-find/s1.redb"));
    }

    #[test]
    fn forget_removes_only_the_named_indexes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(index_dir(dir.path())).unwrap();
        for id in ["a", "b", "c"] {
            std::fs::write(index_path(dir.path(), id), b"x").unwrap();
        }
        let building = |id: &str| index_dir(dir.path()).join(format!("{BUILDING}{id}-x7Yq.redb"));
        std::fs::write(building("a"), b"x").unwrap();
        std::fs::write(building("b"), b"x").unwrap();
        assert_eq!(forget(dir.path(), ["a", "c", "missing"]), 3);
        assert!(!index_path(dir.path(), "a").exists());
        assert!(
            !building("a").exists(),
            "an unfinished build of a is gone too"
        );
        assert!(index_path(dir.path(), "b").exists());
        assert!(building("b").exists());
        assert!(!index_path(dir.path(), "c").exists());
    }

    #[test]
    fn index_file_names() {
        assert_eq!(snapshot_of("ab12.redb"), Some("ab12"));
        assert_eq!(snapshot_of(".building-ab12-Xy9k.redb"), Some("ab12"));
        assert_eq!(snapshot_of(".building-.redb"), None);
        assert_eq!(snapshot_of(".other.redb"), None);
        assert_eq!(snapshot_of("ab12.redb-journal"), None);
    }
}
