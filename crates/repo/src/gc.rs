//! Garbage collection, two-phase and time-based (FORMAT.md §9).

use crate::crypto::{PackId, open, seal};
use crate::error::{Error, Result};
use crate::idset::{SortedIds, SortedIdsBuilder};
use crate::index::Location;
use crate::repository::Repository;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};

const GC_AD: &[u8] = b"tv1 gc";

/// A candidate list `gc/<unix-ms>-<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CandidateDoc {
    pub created: DateTime<Utc>,
    pub packs: Vec<PackId>,
}

pub(crate) fn encode_candidates(repo: &Repository, doc: &CandidateDoc) -> Vec<u8> {
    seal(
        &repo.keys().meta_key,
        GC_AD,
        &serde_json::to_vec(doc).expect("serializable"),
    )
}

pub(crate) fn decode_candidates(
    repo: &Repository,
    object: &str,
    bytes: &[u8],
) -> Result<CandidateDoc> {
    let plain = open(&repo.keys().meta_key, GC_AD, bytes, object)?;
    serde_json::from_slice(&plain).map_err(|e| Error::corrupt(object, e))
}

/// All candidate lists present now, with their keys.
pub(crate) async fn read_candidate_lists(repo: &Repository) -> Result<Vec<(String, CandidateDoc)>> {
    let mut out = Vec::new();
    for (k, _) in repo.storage().list("gc/").await? {
        match repo.storage().get(&k).await {
            Ok(b) => out.push((k.clone(), decode_candidates(repo, &k, &b)?)),
            Err(crate::storage::StorageError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Union of all live candidate lists: writers must not dedup against these packs.
pub(crate) async fn load_candidates(repo: &Repository) -> Result<HashSet<PackId>> {
    let mut set = HashSet::new();
    for (_, doc) in read_candidate_lists(repo).await? {
        set.extend(doc.packs);
    }
    Ok(set)
}

/// Options for [`Repository::gc`].
#[derive(Debug, Clone, Copy)]
pub struct GcOptions {
    /// How old a candidate list must be before its packs are deleted. Must exceed the longest
    /// time a backup session can run without refreshing its marker. 0 = tests / single admin.
    pub grace: std::time::Duration,
    /// Report only; write and delete nothing.
    pub dry_run: bool,
}

impl Default for GcOptions {
    fn default() -> Self {
        GcOptions {
            grace: std::time::Duration::from_secs(24 * 3600),
            dry_run: false,
        }
    }
}

/// What a gc run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Packs written into a new candidate list (phase 1).
    pub packs_marked: u64,
    /// Candidate lists swept (phase 2).
    pub lists_swept: u64,
    /// Candidate lists postponed because a session older than them is still live.
    pub lists_postponed: u64,
    /// Candidate lists not old enough yet.
    pub lists_waiting: u64,
    pub packs_deleted: u64,
    pub bytes_freed: u64,
    /// Candidates that became referenced again and were kept.
    pub packs_rescued: u64,
    pub stale_markers_removed: u64,
    /// Unreferenced packs kept because Object Lock still retains them (deleted by a later
    /// gc once the lock has passed; their candidate list is kept until then).
    #[serde(default)]
    pub packs_locked: u64,
}

/// Minimum liveness window of a session marker, whatever the grace (refresh default is 60 s).
const MIN_MARKER_LIFE: std::time::Duration = std::time::Duration::from_secs(120);
/// Allowed clock skew between writers and gc.
const SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// Calls `sink` with every blob id referenced by a snapshot whose owner key exists (item
/// lists, content, metadata; an id may come more than once). Fails on damage: gc must never
/// delete on the basis of an incomplete walk. Memory: one item list at a time.
async fn walk_reachable(
    repo: &Repository,
    skip: &BTreeSet<String>,
    mut sink: impl FnMut(&crate::crypto::BlobId) -> Result<()>,
) -> Result<()> {
    use futures::TryStreamExt;
    for (k, _) in repo.storage().list("snapshots/").await? {
        let id = k.trim_start_matches("snapshots/");
        if skip.contains(id) {
            continue;
        }
        let snap = match repo.snapshot(id).await {
            Ok(s) => s,
            // erased owner: its data is garbage
            Err(Error::OwnerKeyMissing { .. } | Error::Erased { .. }) => continue,
            Err(Error::NotFound(_)) => continue, // deleted meanwhile
            Err(e) => return Err(e),
        };
        for l in snap.lists() {
            sink(&l.id)?;
        }
        let mut items = std::pin::pin!(snap.items());
        while let Some(item) = items.try_next().await? {
            for c in &item.content {
                sink(&c.id)?;
            }
            if let Some(crate::model::MetadataRef::Blob(c)) = &item.metadata {
                sink(&c.id)?;
            }
        }
    }
    Ok(())
}

/// Every reachable blob id as a sorted set that spills to temporary files (bounded memory).
pub(crate) async fn reachable_sorted(repo: &Repository) -> Result<SortedIds> {
    reachable_sorted_except(repo, &BTreeSet::new()).await
}

/// [`reachable_sorted`] as if the snapshots in `skip` were already gone.
pub(crate) async fn reachable_sorted_except(
    repo: &Repository,
    skip: &BTreeSet<String>,
) -> Result<SortedIds> {
    let mut b = SortedIdsBuilder::new();
    walk_reachable(repo, skip, |id| b.insert(id)).await?;
    let set = tokio::task::spawn_blocking(move || b.finish())
        .await
        .expect("sort task")?;
    tracing::debug!(blobs = set.len(), "reachable blobs");
    Ok(set)
}

/// Runs `f` over the index cache (every blob in id order with its locations) merge-joined with
/// `reach`: `f(id, locations, reachable)`. Blocking work, off the async threads.
async fn join_reachable<T: Send + 'static>(
    repo: &Repository,
    reach: SortedIds,
    init: T,
    mut f: impl FnMut(&mut T, &[Location], &mut dyn FnMut() -> Result<bool>) -> Result<()>
    + Send
    + 'static,
) -> Result<T> {
    let repo = repo.clone();
    tokio::task::spawn_blocking(move || {
        let mut acc = init;
        let mut probe = reach.probe()?;
        repo.inner.cache.scan(|id, locs| {
            let mut reachable = || probe.contains(id);
            f(&mut acc, locs, &mut reachable)
        })?;
        Ok(acc)
    })
    .await
    .expect("join task")
}

/// Decode the index file of a pack the cache has not absorbed (damaged, or written after the
/// cache caught up). `Ok(None)`: there is no index file.
async fn unabsorbed_index(
    repo: &Repository,
    pack: &PackId,
) -> Result<Option<Vec<crate::pack::PackEntry>>> {
    match repo.storage().get(&crate::index::index_key(pack)).await {
        Ok(b) => Ok(Some(crate::index::decode_index(
            &repo.keys().meta_key,
            pack,
            &b,
        )?)),
        Err(crate::storage::StorageError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Repository {
    /// Two-phase garbage collection (FORMAT.md §9): mark unreferenced packs in a new candidate
    /// list, and delete the packs of candidate lists older than `grace` that are still
    /// unreferenced and not protected by a live session.
    pub async fn gc(&self, opts: GcOptions) -> Result<GcReport> {
        let mut report = GcReport::default();
        self.gc_mark(opts, &mut report).await?;
        self.gc_sweep(opts, &mut report).await?;
        if report.packs_deleted > 0 {
            self.catch_up_index().await?;
        }
        Ok(report)
    }

    async fn gc_mark(&self, opts: GcOptions, report: &mut GcReport) -> Result<()> {
        let created = Utc::now();
        self.catch_up_index().await?;
        let already = load_candidates(self).await?;
        let reach = reachable_sorted(self).await?;
        // Packs holding at least one reachable blob, from the index cache (caught up above).
        let live: HashSet<PackId> =
            join_reachable(self, reach, HashSet::new(), |live, locs, reachable| {
                if locs.iter().any(|l| !live.contains(&l.pack)) && reachable()? {
                    live.extend(locs.iter().map(|l| l.pack));
                }
                Ok(())
            })
            .await?;
        let indexed: HashSet<PackId> = self
            .storage()
            .list("index/")
            .await?
            .into_iter()
            .filter_map(|(k, _)| k.strip_prefix("index/").and_then(PackId::from_hex))
            .collect();
        let mut packs = Vec::new();
        for (k, _) in self.storage().list("data/").await? {
            let Some(p) = crate::pack::pack_id_from_key(&k) else {
                continue;
            };
            if already.contains(&p) || live.contains(&p) {
                continue;
            }
            if indexed.contains(&p) && !self.inner.cache.is_absorbed(&p)? {
                // Not absorbed: a damaged index file fails gc (never delete on an incomplete
                // view); a readable one was written after the catch-up: a new pack, kept.
                if unabsorbed_index(self, &p).await?.is_some() {
                    continue;
                }
            }
            packs.push(p);
        }
        report.packs_marked = packs.len() as u64;
        if packs.is_empty() || opts.dry_run {
            return Ok(());
        }
        let doc = CandidateDoc { created, packs };
        let key = format!(
            "gc/{:013}-{}",
            created.timestamp_millis(),
            crate::crypto::random_hex(8)
        );
        self.storage()
            .put_if_absent(&key, encode_candidates(self, &doc).into())
            .await?;
        tracing::info!(list = %key, packs = doc.packs.len(), "gc candidates marked");
        Ok(())
    }

    async fn gc_sweep(&self, opts: GcOptions, report: &mut GcReport) -> Result<()> {
        let now = Utc::now();
        let grace = chrono::Duration::from_std(opts.grace)
            .map_err(|_| Error::Invalid("grace too large".into()))?;
        let life =
            chrono::Duration::from_std(opts.grace.max(MIN_MARKER_LIFE)).expect("small duration");
        let lists = read_candidate_lists(self).await?;
        let aged: Vec<_> = lists
            .into_iter()
            .filter(|(_, d)| d.created + grace <= now)
            .collect();
        // Sessions FIRST, snapshots after (see FORMAT.md §9 for why the order matters).
        let mut live_starts = Vec::new();
        for (k, _) in self.storage().list("sessions/").await? {
            let doc: crate::marker::MarkerDoc = match self.storage().get(&k).await {
                Ok(b) => match serde_json::from_slice(&b) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(marker = %k, error = %e, "unreadable session marker treated as live");
                        live_starts.push(chrono::DateTime::<Utc>::MIN_UTC);
                        continue;
                    }
                },
                Err(crate::storage::StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if doc.refreshed + life > now {
                live_starts.push(doc.started);
            } else if !opts.dry_run {
                self.storage().delete(&k).await?;
                report.stale_markers_removed += 1;
            }
        }
        let total = read_candidate_lists(self)
            .await
            .map(|l| l.len())
            .unwrap_or(0);
        report.lists_waiting = total.saturating_sub(aged.len()) as u64;
        let mut todo = Vec::new();
        for (k, d) in aged {
            if live_starts.iter().any(|s| *s < d.created + SKEW) {
                report.lists_postponed += 1;
            } else {
                todo.push((k, d));
            }
        }
        if todo.is_empty() {
            return Ok(());
        }
        let reach = reachable_sorted(self).await?;
        let sizes: std::collections::HashMap<String, u64> =
            self.storage().list("data/").await?.into_iter().collect();
        let cand: HashSet<PackId> = todo
            .iter()
            .flat_map(|(_, d)| d.packs.iter().copied())
            .collect();
        // The cache must know every index file now present (and forget removed ones).
        self.catch_up_index().await?;
        for p in &cand {
            if !self.inner.cache.is_absorbed(p)? {
                // a damaged index file fails gc; a readable one was written after the catch-up
                // (re-indexed by a writer): keep the pack this time
                if unabsorbed_index(self, p).await?.is_some() {
                    return Err(Error::Invalid(format!(
                        "index file of gc candidate {p} appeared during gc; run gc again"
                    )));
                }
            }
        }
        // A candidate may go if each of its reachable blobs also lives in an existing pack that
        // is not a candidate (a writer re-uploaded it, §9 writer rule); otherwise it is rescued.
        let rescued: HashSet<PackId> = {
            let cand = cand.clone();
            let present: HashSet<PackId> = sizes
                .keys()
                .filter_map(|k| crate::pack::pack_id_from_key(k))
                .collect();
            join_reachable(
                self,
                reach,
                HashSet::new(),
                move |rescued, locs, reachable| {
                    if locs.iter().any(|l| cand.contains(&l.pack))
                        && !locs
                            .iter()
                            .any(|l| !cand.contains(&l.pack) && present.contains(&l.pack))
                        && reachable()?
                    {
                        rescued.extend(locs.iter().map(|l| l.pack).filter(|p| cand.contains(p)));
                    }
                    Ok(())
                },
            )
            .await?
        };
        let locking = self.storage().lock_capabilities().object_lock;
        for (k, d) in todo {
            let mut kept_locked = false;
            for p in &d.packs {
                if rescued.contains(p) {
                    report.packs_rescued += 1;
                    continue;
                }
                let pk = crate::pack::pack_key(p);
                let Some(size) = sizes.get(&pk) else { continue };
                // Never delete a locked object: skip it (pack and index alike) and retry later.
                if locking && self.storage().lock_until(&pk).await?.is_some() {
                    tracing::info!(pack = %pk, "unreferenced pack still under Object Lock; kept");
                    report.packs_locked += 1;
                    kept_locked = true;
                    continue;
                }
                report.packs_deleted += 1;
                report.bytes_freed += size;
                if !opts.dry_run {
                    match self.storage().delete(&crate::index::index_key(p)).await {
                        Err(crate::storage::StorageError::Locked { .. }) => {
                            report.packs_deleted -= 1;
                            report.bytes_freed -= size;
                            report.packs_locked += 1;
                            kept_locked = true;
                            continue;
                        }
                        r => r?,
                    }
                    self.storage().delete(&pk).await?;
                }
            }
            if kept_locked {
                continue; // the list stays until its locked packs can go
            }
            report.lists_swept += 1;
            if !opts.dry_run {
                self.storage().delete(&k).await?;
            }
        }
        tracing::info!(
            deleted = report.packs_deleted,
            freed = report.bytes_freed,
            "gc sweep done"
        );
        Ok(())
    }
}
