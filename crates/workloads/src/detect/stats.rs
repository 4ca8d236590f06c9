//! Change statistics of one snapshot against the owner's previous complete snapshot: a
//! streaming merge of the two item lists (both sorted by item id), so memory stays bounded by
//! the content samples, not by the number of items.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tenantvault_repo::{ItemRecord, Repository, Snapshot};

use super::entropy::{HIGH, looks_encrypted, shannon};
use super::names::{
    appended_extension, extension, is_known_ransom_extension, note_like_name, note_like_text,
};

/// Bytes read from the start of each sampled content.
pub const SAMPLE_BYTES: usize = 64 * 1024;
/// Changed files whose previous and new content are compared, per snapshot.
pub const SAMPLE_FILES: usize = 48;
/// A deleted item counts as "recent" when modified this many days before the snapshot.
pub const RECENT_DAYS: i64 = 365;

/// What changed for one owner between two snapshots (stored as `stats/` documents).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChangeStats {
    /// Format version (1).
    pub version: u32,
    /// `drive`, `exchange`, …
    pub workload: String,
    /// Snapshot owner (drive id, user id).
    pub owner: String,
    /// The snapshot described.
    pub snapshot: String,
    /// The complete snapshot it was compared with (none for a first backup).
    pub previous: Option<String>,
    /// Snapshot time.
    pub time: DateTime<Utc>,
    /// Items (files or messages) before and after.
    pub items_before: u64,
    /// Items after.
    pub items_after: u64,
    /// New items.
    pub created: u64,
    /// Items whose content changed.
    pub modified: u64,
    /// Items gone.
    pub deleted: u64,
    /// Deleted items that had been modified within [`RECENT_DAYS`] (live work, not clean-up).
    pub deleted_recent: u64,
    /// Deleted attack artifacts: files with a known ransomware extension or an extension an
    /// open alert saw appended (a clean-up or recovery removing them is not destruction).
    pub deleted_artifacts: u64,
    /// Items whose folder path changed.
    pub moved: u64,
    /// Items whose name changed.
    pub renamed: u64,
    /// Content bytes of created and modified items.
    pub bytes_changed: u64,
    /// Renames that changed the extension.
    pub ext_changed: u64,
    /// Items renamed to, or created with, a known ransomware extension.
    pub known_ransom_ext: u64,
    /// Extensions appended to an existing name (`a.docx` → `a.docx.xyz`) and how often.
    pub appended: BTreeMap<String, u64>,
    /// New files named like a ransom note.
    pub notes: u64,
    /// Of those, how many read like one.
    pub notes_confirmed: u64,
    /// Folders holding a new ransom-note-like file.
    pub note_folders: u64,
    /// Up to three of the note names seen.
    pub note_names: Vec<String>,
    /// Modified files whose old and new content were compared.
    pub entropy_sampled: u64,
    /// Of those, how many went from structured to random-looking.
    pub entropy_jumps: u64,
    /// Mean entropy (bits/byte) of the sampled previous contents.
    pub entropy_before: f64,
    /// Mean entropy of the sampled new contents.
    pub entropy_after: f64,
    /// Sampled new files and how many were random-looking (photos and archives are; benign).
    pub new_sampled: u64,
    /// New sampled files with high entropy.
    pub new_high_entropy: u64,
    /// Mail: messages moved into Deleted Items or Recoverable Items.
    pub mail_to_deleted: u64,
    /// Mail: messages gone for good (removed from Deleted Items / Recoverable Items, or
    /// hard-deleted from anywhere).
    pub mail_purged: u64,
    /// Mail: of those, messages purged from Recoverable Items (the last place a user could
    /// still recover them).
    pub mail_purged_recoverable: u64,
}

impl ChangeStats {
    /// Estimated number of files encrypted in place (sample share × modified files).
    pub fn estimated_encrypted(&self) -> u64 {
        if self.entropy_sampled == 0 {
            return 0;
        }
        ((self.entropy_jumps as f64 / self.entropy_sampled as f64) * self.modified as f64).round()
            as u64
    }
}

/// Which records are "items" for the statistics: files, messages, or generic content items.
fn counted(rec: &ItemRecord) -> bool {
    matches!(rec.kind.as_str(), "file" | "message" | "dir-file")
        || (rec.kind != "folder"
            && rec.kind != "mailFolder"
            && rec.kind != "fileVersion"
            && rec.kind != "dir"
            && rec.kind != "event"
            && rec.kind != "contact"
            && !rec.content.is_empty())
}

fn is_trash(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.starts_with("deleted items") || p.starts_with("recoverable items")
}

/// FNV-1a: a stable hash for the deterministic bottom-k sample.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Keeps the `k` entries with the smallest key hashes: the same items are sampled on every
/// run, with no bias towards id order.
struct BottomK<T> {
    k: usize,
    items: BTreeMap<(u64, String), T>,
}

impl<T> BottomK<T> {
    fn new(k: usize) -> Self {
        BottomK {
            k,
            items: BTreeMap::new(),
        }
    }
    fn offer(&mut self, id: &str, v: T) {
        self.items.insert((fnv(id), id.to_string()), v);
        if self.items.len() > self.k {
            self.items.pop_last();
        }
    }
}

/// Reads up to [`SAMPLE_BYTES`] from the start of an item's content.
pub async fn sample(
    repo: &Repository,
    rec: &ItemRecord,
) -> Result<Vec<u8>, tenantvault_repo::Error> {
    let mut out = Vec::new();
    let mut s = Box::pin(repo.content_stream(rec));
    while let Some(piece) = s.next().await {
        let piece = piece?;
        let room = SAMPLE_BYTES - out.len();
        out.extend_from_slice(&piece[..piece.len().min(room)]);
        if out.len() >= SAMPLE_BYTES {
            break;
        }
    }
    Ok(out)
}

type Items =
    std::pin::Pin<Box<dyn Stream<Item = Result<ItemRecord, tenantvault_repo::Error>> + Send>>;

async fn next_counted(s: &mut Items) -> Result<Option<ItemRecord>, tenantvault_repo::Error> {
    while let Some(r) = s.next().await {
        let r = r?;
        if counted(&r) {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// True when both snapshots hold the same item-list blobs in the same order.
fn same_lists(a: &Snapshot, b: &Snapshot) -> bool {
    a.lists().len() == b.lists().len() && a.lists().iter().zip(b.lists()).all(|(x, y)| x.id == y.id)
}

/// Computes the statistics of `cur` against `prev` (`None`: a first backup, everything new).
pub async fn compute(
    repo: &Repository,
    prev: Option<&Snapshot>,
    cur: &Snapshot,
    artifact_exts: &BTreeSet<String>,
) -> Result<ChangeStats, tenantvault_repo::Error> {
    let s = cur.summary();
    let mut st = ChangeStats {
        version: 1,
        workload: s.owner.workload.clone(),
        owner: s.owner.owner.clone(),
        snapshot: s.id.0.clone(),
        previous: prev.map(|p| p.id().0.clone()),
        time: s.time,
        ..ChangeStats::default()
    };
    if let Some(p) = prev
        && same_lists(p, cur)
    {
        // An unchanged incremental re-encodes identical (content-addressed) item lists: the
        // records are the same, so count them once instead of merging two decoded snapshots.
        let mut b: Items = Box::pin(cur.items());
        while next_counted(&mut b).await?.is_some() {
            st.items_before += 1;
            st.items_after += 1;
        }
        return Ok(st);
    }
    let recent = s.time - Duration::days(RECENT_DAYS);
    let empty: Items = Box::pin(futures::stream::empty());
    let mut a: Items = match prev {
        Some(p) => Box::pin(p.items()),
        None => empty,
    };
    let mut b: Items = Box::pin(cur.items());
    let mut pa = next_counted(&mut a).await?;
    let mut pb = next_counted(&mut b).await?;
    let mut changed: BottomK<(ItemRecord, ItemRecord)> = BottomK::new(SAMPLE_FILES);
    let mut fresh: BottomK<ItemRecord> = BottomK::new(SAMPLE_FILES);
    let mut note_recs: Vec<ItemRecord> = Vec::new();
    let mut note_folders = BTreeSet::new();
    let first = prev.is_none();
    loop {
        let order = match (&pa, &pb) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.id.cmp(&y.id),
        };
        match order {
            std::cmp::Ordering::Less => {
                let old = pa.take().expect("present");
                st.items_before += 1;
                st.deleted += 1;
                let artifact = old.kind != "message"
                    && extension(&old.name).is_some_and(|e| {
                        is_known_ransom_extension(&e) || artifact_exts.contains(&e)
                    });
                if artifact {
                    st.deleted_artifacts += 1;
                } else if old.modified.is_some_and(|m| m >= recent) {
                    st.deleted_recent += 1;
                }
                if old.kind == "message" {
                    st.mail_purged += 1;
                    if old
                        .path
                        .to_ascii_lowercase()
                        .starts_with("recoverable items")
                    {
                        st.mail_purged_recoverable += 1;
                    }
                }
                pa = next_counted(&mut a).await?;
            }
            std::cmp::Ordering::Greater => {
                let new = pb.take().expect("present");
                st.items_after += 1;
                if !first {
                    st.created += 1;
                    st.bytes_changed += new.size;
                    if extension(&new.name).is_some_and(|e| is_known_ransom_extension(&e)) {
                        st.known_ransom_ext += 1;
                    }
                    if new.kind != "message" && note_like_name(&new.name) {
                        st.notes += 1;
                        note_folders.insert(new.path.clone());
                        if st.note_names.len() < 3 && !st.note_names.contains(&new.name) {
                            st.note_names.push(new.name.clone());
                        }
                        if note_recs.len() < 8 {
                            note_recs.push(new.clone());
                        }
                    } else if new.size > 0 {
                        fresh.offer(&new.id, new.clone());
                    }
                }
                pb = next_counted(&mut b).await?;
            }
            std::cmp::Ordering::Equal => {
                let old = pa.take().expect("present");
                let new = pb.take().expect("present");
                st.items_before += 1;
                st.items_after += 1;
                let content_changed = old.version != new.version
                    || old.size != new.size
                    || old
                        .content
                        .iter()
                        .map(|c| c.id)
                        .ne(new.content.iter().map(|c| c.id));
                if content_changed && new.kind != "message" {
                    st.modified += 1;
                    st.bytes_changed += new.size;
                    if old.size > 0 && new.size > 0 {
                        changed.offer(&new.id, (old.clone(), new.clone()));
                    }
                }
                if old.path != new.path {
                    st.moved += 1;
                    if new.kind == "message" && is_trash(&new.path) && !is_trash(&old.path) {
                        st.mail_to_deleted += 1;
                    }
                }
                if old.name != new.name && new.kind != "message" {
                    st.renamed += 1;
                    let (e0, e1) = (extension(&old.name), extension(&new.name));
                    if e0 != e1 {
                        st.ext_changed += 1;
                        if e1.as_deref().is_some_and(is_known_ransom_extension) {
                            st.known_ransom_ext += 1;
                        }
                    }
                    if let Some(x) = appended_extension(&old.name, &new.name) {
                        *st.appended.entry(x).or_default() += 1;
                    }
                }
                pa = next_counted(&mut a).await?;
                pb = next_counted(&mut b).await?;
            }
        }
    }
    st.note_folders = note_folders.len() as u64;
    // Keep only the five most frequent appended extensions.
    if st.appended.len() > 5 {
        let mut v: Vec<(String, u64)> = std::mem::take(&mut st.appended).into_iter().collect();
        v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        st.appended = v.into_iter().take(5).collect();
    }
    for rec in &note_recs {
        match sample(repo, rec).await {
            Ok(bytes) if note_like_text(&bytes) => st.notes_confirmed += 1,
            Ok(_) => {}
            Err(e) => tracing::warn!(item = %rec.id, error = %e, "ransom-note sample unreadable"),
        }
    }
    let (mut h0, mut h1) = (0.0, 0.0);
    for (old, new) in changed.items.into_values() {
        let (x, y) = match (sample(repo, &old).await, sample(repo, &new).await) {
            (Ok(x), Ok(y)) => (x, y),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(item = %new.id, error = %e, "entropy sample unreadable");
                continue;
            }
        };
        st.entropy_sampled += 1;
        h0 += shannon(&x);
        h1 += shannon(&y);
        if looks_encrypted(&x, &y) {
            st.entropy_jumps += 1;
        }
    }
    if st.entropy_sampled > 0 {
        st.entropy_before = h0 / st.entropy_sampled as f64;
        st.entropy_after = h1 / st.entropy_sampled as f64;
    }
    for new in fresh.items.into_values() {
        if let Ok(y) = sample(repo, &new).await {
            st.new_sampled += 1;
            if shannon(&y) >= HIGH {
                st.new_high_entropy += 1;
            }
        }
    }
    Ok(st)
}
