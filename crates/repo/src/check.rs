//! `check`: verify structure (and optionally every byte) and name what is damaged.

use crate::crypto::{BlobId, PackId};
use crate::error::{Error, Result};
use crate::idset::RecordSorter;
use crate::index::{decode_index, index_key};
use crate::model::{ContentRef, MetadataRef, OwnerRef, SnapshotId};
use crate::pack::{
    PackEntry, TRAILER_LEN, pack_id_from_key, pack_key, parse_header, parse_pack, parse_trailer,
};
use crate::repository::Repository;
use crate::snapshot::decode_list;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// `check --read-data`, blob references from the walk: `id ‖ key`.
const REF_LEN: usize = 64;
/// References sorted in memory before a run is spilled to a temporary file (16 MiB).
const REFS_RUN: usize = 256 * 1024;
/// Located references: `pack ‖ offset (big-endian) ‖ id ‖ key ‖ stored_len ‖ plain_len`, so
/// that sorting them groups each pack's blobs in file order.
const LOC_LEN: usize = 112;
/// Located references sorted in memory before a spill (16 MiB).
const LOCS_RUN: usize = 150_000;

/// Options for [`Repository::check`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Also read every pack (verifying its hash) and decrypt+verify every referenced blob.
    pub read_data: bool,
}

/// A damaged object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damage {
    /// Storage key (or `blob <id>` for a blob inside a pack).
    pub object: String,
    pub detail: String,
}

/// An item that cannot be restored because of damage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedItem {
    pub snapshot: SnapshotId,
    pub owner: OwnerRef,
    pub item_id: String,
    pub object: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub damaged: Vec<Damage>,
    /// Snapshots that cannot be read completely (root, body or an item list damaged, or items affected).
    pub affected_snapshots: Vec<SnapshotId>,
    pub affected_items: Vec<AffectedItem>,
    pub snapshots: u64,
    pub items: u64,
    pub packs: u64,
    /// Packs without an index file (crash leftovers; harmless, removed by gc).
    pub unindexed_packs: u64,
    pub blobs_verified: u64,
    pub bytes_read: u64,
    /// Objects overwritten after they were written (versioned storage only): reads use
    /// their original version, which the rest of the check verified. Evidence of tampering.
    #[serde(default)]
    pub tampered: Vec<String>,
}

impl CheckReport {
    /// No damage found.
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
            && self.affected_items.is_empty()
            && self.affected_snapshots.is_empty()
            && self.tampered.is_empty()
    }
}

struct Checker<'a> {
    repo: &'a Repository,
    damaged: BTreeMap<String, String>,
    affected_snaps: BTreeSet<SnapshotId>,
    affected: Vec<AffectedItem>,
    bad_packs: HashSet<PackId>,
    /// One read transaction of the index cache for all lookups of this check.
    index: crate::index::IndexReader,
    /// read_data: every blob reference met by the walk (external sort: bounded memory).
    refs: Option<RecordSorter<REF_LEN>>,
    /// Packs whose header matched their index file (read_data reads each of them once).
    sound_packs: Vec<PackId>,
    /// read_data: blobs found damaged → the damaged object.
    failed: HashMap<BlobId, String>,
    report: CheckReport,
}

impl Checker<'_> {
    fn damage(&mut self, object: impl Into<String>, detail: impl std::fmt::Display) {
        let object = object.into();
        tracing::warn!(%object, %detail, "damaged");
        self.damaged
            .entry(object)
            .or_insert_with(|| detail.to_string());
    }

    /// Item `item_id` of `snapshot` cannot be restored because of `object`.
    fn name_affected(
        &mut self,
        snapshot: &SnapshotId,
        owner: &OwnerRef,
        item_id: &str,
        object: String,
    ) {
        self.affected_snaps.insert(snapshot.clone());
        self.affected.push(AffectedItem {
            snapshot: snapshot.clone(),
            owner: owner.clone(),
            item_id: item_id.to_string(),
            object,
        });
    }

    fn damage_err(&mut self, fallback: &str, e: Error) -> Result<()> {
        match e {
            Error::Corrupt { object, detail } => self.damage(object, detail),
            Error::Storage(s) if !s.is_retriable() => self.damage(fallback, s),
            Error::UnsupportedVersion { found } => {
                self.damage(fallback, format!("unsupported version {found}"))
            }
            e => return Err(e),
        }
        Ok(())
    }

    async fn check_small_objects(&mut self) -> Result<()> {
        let st = self.repo.storage().clone();
        match st.get("config").await {
            Ok(b) => {
                let r = serde_json::from_slice(&b)
                    .map_err(|e| Error::corrupt("config", e))
                    .and_then(|doc| crate::repository::open_config(self.repo.keys(), &doc));
                if let Err(e) = r {
                    self.damage_err("config", e)?;
                }
            }
            Err(e) => self.damage("config", e),
        }
        for (k, _) in st.list("keys/").await? {
            let r = match st.get(&k).await {
                Ok(b) => crate::keys::verify_slot(self.repo.keys(), &k, &b),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = r {
                self.damage_err(&k, e)?;
            }
        }
        for (k, _) in st.list("owners/").await? {
            let oid = k.trim_start_matches("owners/");
            let r = match st.get(&k).await {
                Ok(b) => crate::keys::unwrap_owner_key(self.repo.keys(), oid, &b).map(|_| ()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = r {
                self.damage_err(&k, e)?;
            }
        }
        Ok(())
    }

    async fn check_pack(
        &mut self,
        pack: PackId,
        size: u64,
        entries: &[PackEntry],
    ) -> Result<std::result::Result<(), Error>> {
        let st = self.repo.storage().clone();
        let object = pack_key(&pack);
        let repo = self.repo;
        let meta_key = &repo.keys().meta_key;
        // Only the header: with read_data, every pack is read whole once, later
        // ([`Checker::verify_pack`]), when the keys of its blobs are known.
        let header = async {
            if size < TRAILER_LEN as u64 {
                return Err(Error::corrupt(&object, "pack too short"));
            }
            let t = st
                .get_range(&object, size - TRAILER_LEN as u64, TRAILER_LEN as u64)
                .await?;
            let hlen = parse_trailer(&t, &object)? as u64;
            let hstart = size
                .checked_sub(TRAILER_LEN as u64 + hlen)
                .ok_or_else(|| Error::corrupt(&object, "header length beyond pack size"))?;
            let h = st.get_range(&object, hstart, hlen).await?;
            parse_header(meta_key, &h, hstart, &object)
        }
        .await;
        // The listed size is the newest version's: on a versioned bucket where the pack was
        // overwritten, `get` still returns the original (see `Storage::overwritten`), but
        // ranges computed from the wrong size miss its trailer. Read it whole before calling
        // the pack damaged (a missing or unreadable pack keeps the first error).
        let header = match header {
            Err(first) => match st.get(&object).await {
                Ok(bytes) => parse_pack(meta_key, &pack, &bytes),
                Err(_) => Err(first),
            },
            ok => ok,
        };
        Ok(header.and_then(|mut h| {
            let mut want = entries.to_vec();
            h.sort_by_key(|e| e.id);
            want.sort_by_key(|e| e.id);
            if h != want {
                return Err(Error::corrupt(
                    &object,
                    "pack header and index file disagree",
                ));
            }
            Ok(())
        }))
    }

    async fn check_packs(&mut self) -> Result<()> {
        let st = self.repo.storage().clone();
        let mut packs: HashMap<PackId, u64> = HashMap::new();
        for (k, size) in st.list("data/").await? {
            match pack_id_from_key(&k) {
                Some(p) if pack_key(&p) == k => {
                    packs.insert(p, size);
                }
                _ => self.damage(k, "unexpected object under data/"),
            }
        }
        let mut indexed = HashSet::new();
        let index_files = st.list("index/").await?;
        let meta_key = self.repo.keys().meta_key.clone();
        let mut stream = futures::stream::iter(index_files.into_iter().map(|(k, _)| {
            let st = st.clone();
            let meta_key = meta_key.clone();
            async move {
                let Some(p) = k.strip_prefix("index/").and_then(PackId::from_hex) else {
                    return (k, None);
                };
                let r = match st.get(&k).await {
                    Ok(b) => decode_index(&meta_key, &p, &b),
                    Err(e) => Err(e.into()),
                };
                (k, Some((p, r)))
            }
        }))
        .buffered(4);
        // One index file at a time (four fetched ahead): memory does not grow with the
        // number of blobs.
        while let Some((k, r)) = stream.next().await {
            let (p, entries) = match r {
                None => {
                    self.damage(k, "unexpected object under index/");
                    continue;
                }
                Some((p, Err(e))) => {
                    self.bad_packs.insert(p);
                    self.damage_err(&k, e)?;
                    continue;
                }
                Some((p, Ok(entries))) => (p, entries),
            };
            indexed.insert(p);
            self.report.packs += 1;
            match packs.get(&p) {
                None => {
                    self.bad_packs.insert(p);
                    self.damage(
                        pack_key(&p),
                        format!("missing (listed by {})", index_key(&p)),
                    );
                }
                Some(&size) => {
                    if let Err(e) = self.check_pack(p, size, &entries).await? {
                        self.bad_packs.insert(p);
                        self.damage_err(&pack_key(&p), e)?;
                    } else {
                        self.sound_packs.push(p);
                    }
                }
            }
        }
        self.report.unindexed_packs = packs.keys().filter(|p| !indexed.contains(p)).count() as u64;
        Ok(())
    }

    /// Is this blob readable as far as structure goes (indexed, in a sound pack)? Returns the
    /// damaged object's name if not. With read_data the reference is also queued for
    /// [`Checker::verify_data`].
    fn blob_problem(
        &mut self,
        id: &BlobId,
        key: &crate::crypto::BlobKey,
    ) -> Result<Option<String>> {
        let loc = match self.index.lookup(id)? {
            Some(l) => l,
            // a blob indexed after the check began (another writer) is in the cache itself
            None => match self.repo.inner.cache.lookup(id)? {
                Some(l) => l,
                None => return Ok(Some(format!("blob {id} (in no index file)"))),
            },
        };
        if self.bad_packs.contains(&loc.pack) {
            return Ok(Some(pack_key(&loc.pack)));
        }
        if let Some(refs) = &mut self.refs {
            let mut r = [0u8; REF_LEN];
            r[..32].copy_from_slice(&id.0);
            r[32..].copy_from_slice(&key.0);
            refs.push(r)?;
        }
        Ok(None)
    }

    /// read_data: decrypt and verify every referenced blob, pack by pack in file order (each
    /// pack read whole once, its hash verified), then read the packs no snapshot references.
    /// Memory: one pack and two bounded sort buffers, whatever the number of blobs.
    async fn verify_data(&mut self) -> Result<()> {
        let Some(refs) = self.refs.take() else {
            return Ok(());
        };
        let refs = refs.finish()?;
        let mut located = RecordSorter::<LOC_LEN>::new(LOCS_RUN);
        for r in refs.iter()? {
            let r = r?;
            let id = BlobId(r[..32].try_into().expect("32 bytes"));
            let loc = match self.index.lookup(&id)? {
                Some(l) => l,
                None => match self.repo.inner.cache.lookup(&id)? {
                    Some(l) => l,
                    None => continue, // reported by the walk
                },
            };
            if self.bad_packs.contains(&loc.pack) {
                continue; // reported by the walk
            }
            let mut rec = [0u8; LOC_LEN];
            rec[..32].copy_from_slice(&loc.pack.0);
            rec[32..40].copy_from_slice(&loc.offset.to_be_bytes());
            rec[40..104].copy_from_slice(&r);
            rec[104..108].copy_from_slice(&loc.stored_len.to_le_bytes());
            rec[108..112].copy_from_slice(&loc.plain_len.to_le_bytes());
            located.push(rec)?;
        }
        drop(refs);
        let located = located.finish()?;
        let mut visited = HashSet::new();
        let mut group = Vec::new();
        let mut cur: Option<PackId> = None;
        for rec in located.iter()? {
            let rec = rec?;
            let pack = PackId(rec[..32].try_into().expect("32 bytes"));
            if cur != Some(pack) {
                if let Some(p) = cur {
                    self.verify_pack(p, std::mem::take(&mut group)).await?;
                    visited.insert(p);
                }
                cur = Some(pack);
            }
            group.push(rec);
        }
        if let Some(p) = cur {
            self.verify_pack(p, group).await?;
            visited.insert(p);
        }
        drop(located);
        for p in std::mem::take(&mut self.sound_packs) {
            if !visited.contains(&p) && !self.bad_packs.contains(&p) {
                self.verify_pack(p, Vec::new()).await?;
            }
        }
        Ok(())
    }

    /// Read one pack whole: verify its hash, and decrypt+verify the given blobs (records of
    /// [`LOC_LEN`] bytes). Damaged blobs go to `failed`.
    async fn verify_pack(&mut self, pack: PackId, blobs: Vec<[u8; LOC_LEN]>) -> Result<()> {
        let object = pack_key(&pack);
        let bytes = match self.repo.storage().get(&object).await {
            Ok(b) => b,
            Err(e) => {
                let e = match e {
                    crate::storage::StorageError::NotFound { .. } => {
                        Error::corrupt(&object, "pack missing")
                    }
                    e => e.into(),
                };
                self.damage_err(&object, e)?;
                self.bad_packs.insert(pack);
                for rec in &blobs {
                    let id = BlobId(rec[40..72].try_into().expect("32 bytes"));
                    self.failed.insert(id, object.clone());
                }
                return Ok(());
            }
        };
        self.report.bytes_read += bytes.len() as u64;
        let keys = self.repo.keys().clone();
        let checked = tokio::task::spawn_blocking(move || {
            let whole = parse_pack(&keys.meta_key, &pack, &bytes).map(|_| ());
            let mut bad = Vec::new();
            for rec in &blobs {
                let offset = u64::from_be_bytes(rec[32..40].try_into().expect("8 bytes"));
                let id = BlobId(rec[40..72].try_into().expect("32 bytes"));
                let key = crate::crypto::BlobKey(rec[72..104].try_into().expect("32 bytes"));
                let stored = u32::from_le_bytes(rec[104..108].try_into().expect("4 bytes"));
                let plain = u32::from_le_bytes(rec[108..112].try_into().expect("4 bytes"));
                let range = usize::try_from(offset)
                    .ok()
                    .and_then(|o| Some(o..o.checked_add(stored as usize)?))
                    .filter(|r| r.end <= bytes.len());
                let r = match range {
                    Some(r) => {
                        crate::blob::decode(&keys, &id, &key, plain as usize, &bytes[r]).map(|_| ())
                    }
                    None => Err(Error::corrupt(pack_key(&pack), "beyond the pack's end")),
                };
                if let Err(e) = r {
                    bad.push((id, e));
                }
            }
            (whole, blobs.len(), bad)
        })
        .await
        .expect("verify task");
        let (whole, n, bad) = checked;
        if let Err(e) = whole {
            self.damage_err(&object, e)?;
        }
        self.report.blobs_verified += (n - bad.len()) as u64;
        for (id, e) in bad {
            match e {
                Error::Corrupt { detail, .. } => {
                    self.damage(object.clone(), format!("blob {id}: {detail}"));
                    self.failed.insert(id, object.clone());
                }
                e => return Err(e),
            }
        }
        Ok(())
    }

    /// read_data found damaged blobs: walk the snapshots again to name the items they affect.
    async fn attribute_failed(&mut self) -> Result<()> {
        if self.failed.is_empty() {
            return Ok(());
        }
        let st = self.repo.storage().clone();
        for (k, _) in st.list("snapshots/").await? {
            let id = SnapshotId(k.trim_start_matches("snapshots/").to_string());
            // unreadable snapshots and lists were reported by the first walk
            let Ok(snap) = self.repo.snapshot_uncached(&id.0).await else {
                continue;
            };
            let owner = snap.summary().owner.clone();
            for l in snap.lists().to_vec() {
                let object = format!("item list {} of {k}", l.id);
                if let Some(bad) = self.failed.get(&l.id) {
                    self.damage(bad.clone(), format!("needed by {object}"));
                    self.affected_snaps.insert(id.clone());
                    continue;
                }
                let Ok(items) = self
                    .repo
                    .read_blob(&l.id, &l.key)
                    .await
                    .and_then(|b| decode_list(&b, &object))
                else {
                    continue;
                };
                for item in items {
                    let mut refs: Vec<BlobId> = item.content.iter().map(|c| c.id).collect();
                    if let Some(MetadataRef::Blob(c)) = &item.metadata {
                        refs.push(c.id);
                    }
                    if let Some(object) = refs.iter().find_map(|r| self.failed.get(r)) {
                        let object = object.clone();
                        if self
                            .affected
                            .iter()
                            .any(|a| a.snapshot == id && a.item_id == item.id)
                        {
                            continue; // named by the first walk already
                        }
                        self.name_affected(&id, &owner, &item.id, object);
                    }
                }
            }
        }
        Ok(())
    }

    async fn check_snapshots(&mut self) -> Result<()> {
        let st = self.repo.storage().clone();
        for (k, _) in st.list("snapshots/").await? {
            let id = SnapshotId(k.trim_start_matches("snapshots/").to_string());
            self.report.snapshots += 1;
            let snap = match self.repo.snapshot_uncached(&id.0).await {
                Ok(s) => s,
                // erased on purpose (tombstone present): unreadable by design, not damage
                Err(Error::Erased { .. }) => continue,
                Err(Error::OwnerKeyMissing { oid }) => {
                    self.damage(format!("owners/{oid}"), format!("missing; needed by {k}"));
                    self.affected_snaps.insert(id);
                    continue;
                }
                Err(e) => {
                    self.damage_err(&k, e)?;
                    self.affected_snaps.insert(id);
                    continue;
                }
            };
            let owner = snap.summary().owner.clone();
            let mut prev_last: Option<String> = None;
            for l in snap.lists().to_vec() {
                let object = format!("item list {} of {k}", l.id);
                let items = match self
                    .repo
                    .read_blob(&l.id, &l.key)
                    .await
                    .and_then(|b| decode_list(&b, &object))
                {
                    Ok(items) => items,
                    Err(e) => {
                        self.damage_err(&object, e)?;
                        self.affected_snaps.insert(id.clone());
                        continue;
                    }
                };
                if items.first().map(|i| &i.id) != Some(&l.first)
                    || items.windows(2).any(|w| w[0].id >= w[1].id)
                    || prev_last.as_ref().is_some_and(|p| *p >= l.first)
                {
                    self.damage(
                        object,
                        "item list out of order or does not match the root table",
                    );
                    self.affected_snaps.insert(id.clone());
                }
                prev_last = items.last().map(|i| i.id.clone());
                for item in items {
                    self.report.items += 1;
                    let mut refs: Vec<ContentRef> = item.content.clone();
                    if let Some(MetadataRef::Blob(c)) = &item.metadata {
                        refs.push(*c);
                    }
                    for c in refs {
                        if let Some(object) = self.blob_problem(&c.id, &c.key)? {
                            if !self.damaged.contains_key(&object) {
                                self.damage(
                                    object.clone(),
                                    format!("needed by item {} of {k}", item.id),
                                );
                            }
                            self.name_affected(&id, &owner, &item.id, object);
                            break;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

impl Repository {
    /// Verify the repository. Damage is reported, not returned as an error; `Err` means the
    /// check itself could not run (storage unreachable).
    pub async fn check(&self, opts: CheckOptions) -> Result<CheckReport> {
        self.catch_up_index().await?;
        let mut c = Checker {
            repo: self,
            damaged: BTreeMap::new(),
            affected_snaps: BTreeSet::new(),
            affected: Vec::new(),
            bad_packs: HashSet::new(),
            index: self.inner.cache.reader()?,
            refs: opts.read_data.then(|| RecordSorter::new(REFS_RUN)),
            sound_packs: Vec::new(),
            failed: HashMap::new(),
            report: CheckReport::default(),
        };
        c.check_small_objects().await?;
        c.check_packs().await?;
        c.check_snapshots().await?;
        c.verify_data().await?;
        c.attribute_failed().await?;
        let mut report = c.report;
        report.damaged = c
            .damaged
            .into_iter()
            .map(|(object, detail)| Damage { object, detail })
            .collect();
        report.affected_snapshots = c.affected_snaps.into_iter().collect();
        report.affected_items = c.affected;
        report.tampered = self.storage().overwritten("").await?;
        Ok(report)
    }
}
