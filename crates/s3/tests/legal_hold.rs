//! The S3 legal-hold flag follows the repository's holds (moto_server, Object Lock bucket,
//! governance mode).
//!
//! Three owners back up; a hold on one owner (whole snapshots) and a hold selecting one item
//! by file name are created. The objects expected to carry the flag are worked out from what
//! each backup session wrote (keys listed before and after it), not from the library's own
//! coverage code: every object of alice's session; every object of bob's first session (its
//! pack mixes the held item with an unheld one); bob's second snapshot (it still contains the
//! held item) and its item-list pack, but not the pack holding only the new, unheld item;
//! nothing of carol's. After `flag_hold` and `maintain_locks`, `GetObjectLegalHold` is ON for
//! exactly those keys; a governance-bypass delete of a flagged version fails while the same
//! delete of an unflagged, governance-locked object succeeds. After each release and
//! `maintain_locks`, the released hold's flags are off.
//!
//! A second test creates holds before backups: each commit (and checkpoint) of a held owner
//! flags its snapshot's held objects at once, a refused flag does not fail the backup.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_sdk_s3::types::ObjectLockLegalHoldStatus;
use tenantvault_repo::storage::{self, LockMode, LockPolicy, PutOutcome, Storage, StorageError};
use tenantvault_repo::*;
use tenantvault_s3::S3Storage;
use tenantvault_s3::moto::MotoServer;

const PASS: &str = "legal hold flags";
/// Above the "file" large-profile threshold (64 KiB) and below its minimum chunk (256 KiB):
/// one chunk, hence one pack of its own, far larger than any item-list pack.
const BIG: usize = 100_000;

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn meta(id: &str, len: usize) -> ItemMeta {
    ItemMeta {
        id: id.into(),
        kind: "file".into(),
        path: "/docs".into(),
        name: format!("{id}.docx"),
        size_hint: len as u64,
        version: "1".into(),
        ..Default::default()
    }
}

/// `(key, size)` of the snapshot, pack and index objects.
async fn objects(s: &S3Storage) -> BTreeSet<(String, u64)> {
    let mut out = BTreeSet::new();
    for p in ["snapshots/", "data/", "index/"] {
        out.extend(s.list(p).await.unwrap());
    }
    out
}

/// Backs up `items` (id, seed, length) for `owner`; returns the objects the session wrote.
async fn backup(
    repo: &Repository,
    s3: &S3Storage,
    owner: &str,
    items: &[(&str, u64, usize)],
) -> BTreeSet<(String, u64)> {
    let before = objects(s3).await;
    let mut s = repo
        .begin_backup(OwnerRef::new("drive", owner), BackupOptions::default())
        .await
        .unwrap();
    for (id, seed, len) in items {
        s.put_item(meta(id, *len), &data(*seed, *len)[..])
            .await
            .unwrap();
    }
    s.commit(serde_json::json!({})).await.unwrap();
    objects(s3).await.difference(&before).cloned().collect()
}

fn keys(objs: &BTreeSet<(String, u64)>) -> BTreeSet<String> {
    objs.iter().map(|(k, _)| k.clone()).collect()
}

/// Repository keys whose (only) version has the legal-hold flag on, read with
/// `GetObjectLegalHold` (an object that never had a flag answers with an error or no status).
async fn flagged(s3: &S3Storage) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (k, _) in s3.list("").await.unwrap() {
        let r = s3
            .client()
            .get_object_legal_hold()
            .bucket(&s3.location().bucket)
            .key(s3.location().full_key(&k))
            .send()
            .await;
        if let Ok(o) = r
            && o.legal_hold().and_then(|l| l.status()) == Some(&ObjectLockLegalHoldStatus::On)
        {
            out.insert(k);
        }
    }
    out
}

/// A versioned delete with `x-amz-bypass-governance-retention` (admin rights).
async fn bypass_delete(s3: &S3Storage, key: &str) -> Result<(), String> {
    let full = s3.location().full_key(key);
    let versions = s3.versions(key).await.unwrap();
    assert_eq!(versions.len(), 1, "{key} has one version");
    s3.client()
        .delete_object()
        .bucket(&s3.location().bucket)
        .key(full)
        .version_id(&versions[0].version_id)
        .bypass_governance_retention(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// A bucket with versioning and Object Lock (governance, one day) under prefix `repo`.
async fn locked_bucket(moto: &MotoServer, name: &str) -> Arc<S3Storage> {
    Arc::new(
        moto.bucket(name, true, "repo")
            .await
            .open_locked(LockPolicy {
                mode: LockMode::Governance,
                days: 1,
            })
            .await,
    )
}

/// A repository whose packs hold one blob each (two small ones together).
async fn init_small_packs(storage: Arc<dyn Storage>, cache: &std::path::Path) -> Repository {
    Repository::init(
        storage,
        PASS,
        InitOptions {
            kdf: KdfParams::insecure_fast(),
            pack_target: 1024,
            cache_dir: Some(cache.to_path_buf()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legal_hold_flag_follows_holds() {
    let Some(moto) = MotoServer::shared() else {
        return;
    };
    let s3 = locked_bucket(moto, "hold").await;
    let cache = tempfile::tempdir().unwrap();
    let repo = init_small_packs(s3.clone(), cache.path()).await;

    let alice = backup(&repo, &s3, "alice", &[("a0", 1, 3000), ("a1", 2, 4000)]).await;
    // Two small items fill one pack together: the held contract and an unheld note.
    let bob1 = backup(&repo, &s3, "bob", &[("contract", 3, 600), ("note", 4, 600)]).await;
    // The contract again (deduplicated) and a big unheld file in a pack of its own.
    let bob2 = backup(
        &repo,
        &s3,
        "bob",
        &[("contract", 3, 600), ("holiday", 5, BIG)],
    )
    .await;
    let carol = backup(&repo, &s3, "carol", &[("c0", 6, 5000)]).await;
    let (big_packs, bob2_rest): (BTreeSet<_>, BTreeSet<_>) = bob2
        .iter()
        .cloned()
        .partition(|(k, n)| k.starts_with("data/") && *n > BIG as u64);
    assert_eq!(big_packs.len(), 1, "one pack holds the big file: {bob2:?}");
    let big_pack = big_packs.into_iter().next().unwrap().0;
    let big_index = format!("index/{}", big_pack.rsplit('/').next().unwrap());
    assert!(keys(&bob2).contains(&big_index));
    assert!(
        bob1.iter()
            .any(|(k, n)| k.starts_with("data/") && *n > 1200),
        "the contract and the note share a pack: {bob1:?}"
    );
    let now = chrono::Utc::now();

    // Hold 1: everything of alice. Hold 2: bob's contract, by file name.
    let h1 = repo
        .create_hold(
            NewHold {
                case: "LIT-1".into(),
                reason: "alice's dispute".into(),
                created_by: "legal".into(),
                scope: HoldScope {
                    owners: vec!["alice".into()],
                    ..Default::default()
                },
            },
            now,
        )
        .await
        .unwrap();
    let h2 = repo
        .create_hold(
            NewHold {
                case: "LIT-2".into(),
                reason: "the contract".into(),
                created_by: "legal".into(),
                scope: HoldScope {
                    query: Some(ItemQuery {
                        file_name: Some("contract".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            now,
        )
        .await
        .unwrap();
    let mut want1 = keys(&alice);
    want1.insert(format!("holds/{}", h1.id));
    let mut want2 = keys(&bob1);
    want2.extend(keys(&bob2_rest));
    want2.remove(&big_index);
    want2.insert(format!("holds/{}", h2.id));
    assert!(want2.iter().any(|k| k.starts_with("snapshots/")));
    assert_eq!(
        keys(&bob2)
            .difference(&want2)
            .cloned()
            .collect::<BTreeSet<_>>(),
        [big_pack.clone(), big_index.clone()].into(),
        "of bob's second session, only the big file's pack and index stay unflagged"
    );

    // hold create flags at once (one hold at a time).
    let r1 = repo.flag_hold(&h1).await.unwrap();
    assert!(r1.supported && r1.failed.is_empty(), "{r1:?}");
    assert_eq!(r1.set.iter().cloned().collect::<BTreeSet<_>>(), want1);
    assert_eq!(flagged(&s3).await, want1);
    let r2 = repo.flag_hold(&h2).await.unwrap();
    assert_eq!(r2.set.iter().cloned().collect::<BTreeSet<_>>(), want2);
    let both: BTreeSet<String> = want1.union(&want2).cloned().collect();
    assert_eq!(flagged(&s3).await, both);
    assert!(keys(&carol).is_disjoint(&both));

    // Maintenance finds everything in line.
    let m = repo
        .maintain_locks(now, chrono::Duration::hours(1), false)
        .await
        .unwrap();
    assert!(m.failed.is_empty(), "{m:?}");
    let lh = &m.legal_hold;
    assert!(lh.set.is_empty() && lh.cleared.is_empty(), "{lh:?}");
    assert_eq!(lh.held, both.len() as u64);
    assert_eq!(lh.unchanged, both.len() as u64);
    assert_eq!(flagged(&s3).await, both);

    // Admin rights with governance bypass cannot delete a flagged version …
    for k in &both {
        assert!(
            bypass_delete(&s3, k).await.is_err(),
            "governance bypass deleted flagged {k}"
        );
    }
    // … while they can delete an unflagged object under the same governance lock.
    let junk = format!("data/ab/ab{}", "0".repeat(62));
    s3.put_if_absent(&junk, data(9, 2000).into()).await.unwrap();
    assert!(
        s3.lock_until(&junk).await.unwrap().is_some(),
        "junk is locked"
    );
    bypass_delete(&s3, &junk)
        .await
        .expect("governance bypass deletes an unflagged object");

    // Release hold 1: a dry run changes nothing, maintenance clears exactly its flags.
    repo.release_hold(&h1.id, "legal", "settled", now)
        .await
        .unwrap();
    let dry = repo
        .maintain_locks(now, chrono::Duration::hours(1), true)
        .await
        .unwrap();
    assert_eq!(
        dry.legal_hold
            .cleared
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        want1
    );
    assert_eq!(flagged(&s3).await, both, "dry run");
    let m = repo
        .maintain_locks(now, chrono::Duration::hours(1), false)
        .await
        .unwrap();
    assert!(m.failed.is_empty(), "{m:?}");
    assert_eq!(
        m.legal_hold
            .cleared
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        want1
    );
    assert!(m.legal_hold.set.is_empty());
    assert_eq!(flagged(&s3).await, want2);

    // Release hold 2: no flag left, and the governance bypass works again.
    repo.release_hold(&h2.id, "legal", "settled", now)
        .await
        .unwrap();
    let m = repo
        .maintain_locks(now, chrono::Duration::hours(1), false)
        .await
        .unwrap();
    assert_eq!(
        m.legal_hold
            .cleared
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        want2
    );
    assert_eq!(m.legal_hold.held, 0);
    assert!(flagged(&s3).await.is_empty());
    let again = repo
        .maintain_locks(now, chrono::Duration::hours(1), false)
        .await
        .unwrap();
    assert!(again.legal_hold.cleared.is_empty() && again.legal_hold.set.is_empty());
    let snap = want2.iter().find(|k| k.starts_with("snapshots/")).unwrap();
    bypass_delete(&s3, snap)
        .await
        .expect("after the release the flag no longer blocks the admin");
}

/// The S3 storage, with the legal-hold flag refused (`AccessDenied`, as for a backup worker's
/// credential without `s3:PutObjectLegalHold`) while `deny` is set.
#[derive(Debug)]
struct FlagRights {
    inner: Arc<S3Storage>,
    deny: std::sync::atomic::AtomicBool,
    /// `set_legal_hold` calls.
    calls: std::sync::atomic::AtomicU64,
}

#[async_trait::async_trait]
impl Storage for FlagRights {
    async fn get(&self, key: &str) -> Result<bytes::Bytes, StorageError> {
        self.inner.get(key).await
    }
    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<bytes::Bytes, StorageError> {
        self.inner.get_range(key, offset, len).await
    }
    async fn put_if_absent(
        &self,
        key: &str,
        data: bytes::Bytes,
    ) -> Result<PutOutcome, StorageError> {
        self.inner.put_if_absent(key, data).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }
    fn lock_capabilities(&self) -> storage::LockCapabilities {
        self.inner.lock_capabilities()
    }
    async fn lock_until(
        &self,
        key: &str,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StorageError> {
        self.inner.lock_until(key).await
    }
    async fn extend_lock(
        &self,
        key: &str,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StorageError> {
        self.inner.extend_lock(key, until).await
    }
    async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), StorageError> {
        self.calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.deny.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StorageError::PermissionDenied { key: key.into() });
        }
        self.inner.set_legal_hold(key, on).await
    }
    async fn legal_hold(&self, key: &str) -> Result<bool, StorageError> {
        self.inner.legal_hold(key).await
    }
    async fn versions(&self, key: &str) -> Result<Vec<storage::ObjectVersion>, StorageError> {
        self.inner.versions(key).await
    }
}

/// A hold created before a backup: the backup's commit flags the held objects of its new
/// snapshot at once (no `flag_hold`, `sync_legal_holds` or `maintain_locks` in between).
/// Expected keys are worked out from what each session wrote (keys listed before and after):
/// dave (held whole) — every new object: snapshot root, packs, index files, and a checkpoint's
/// root; erin (not held) — nothing; frank under a file-name hold — everything except the pack
/// (and index file) holding only an unheld big file. With the flag refused (AccessDenied),
/// the commit still succeeds after one refused change (no walk of its items, no further tries)
/// and `maintain_locks` sets the missing flags afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_snapshots_of_held_owners_are_flagged_at_commit() {
    let Some(moto) = MotoServer::shared() else {
        return;
    };
    let s3 = locked_bucket(moto, "hold-commit").await;
    let st = Arc::new(FlagRights {
        inner: s3.clone(),
        deny: false.into(),
        calls: 0.into(),
    });
    let cache = tempfile::tempdir().unwrap();
    let repo = init_small_packs(st.clone(), cache.path()).await;
    let now = chrono::Utc::now();
    let new_hold = |case: &str, scope: HoldScope| NewHold {
        case: case.into(),
        reason: "dispute".into(),
        created_by: "legal".into(),
        scope,
    };

    // Before any hold: a backup flags nothing.
    let dave1 = backup(&repo, &s3, "dave", &[("d0", 11, 3000)]).await;
    assert!(flagged(&s3).await.is_empty());
    let h1 = repo
        .create_hold(
            new_hold(
                "LIT-3",
                HoldScope {
                    owners: vec!["dave".into()],
                    ..Default::default()
                },
            ),
            now,
        )
        .await
        .unwrap();
    repo.flag_hold(&h1).await.unwrap();
    let mut want = keys(&dave1);
    want.insert(format!("holds/{}", h1.id));
    assert_eq!(flagged(&s3).await, want);

    // dave's next backup (one item kept by dedup, one new): flagged at commit.
    let calls = st.calls.load(std::sync::atomic::Ordering::Relaxed);
    let dave2 = backup(&repo, &s3, "dave", &[("d0", 11, 3000), ("d1", 12, 4000)]).await;
    assert!(
        st.calls.load(std::sync::atomic::Ordering::Relaxed) - calls
            <= keys(&dave2).len() as u64 + 1,
        "only what the backup wrote (and the hold record it probes) is flagged, not the older \
         packs its kept item shares with dave's first snapshot"
    );
    assert!(keys(&dave2).iter().any(|k| k.starts_with("snapshots/")));
    assert!(keys(&dave2).iter().any(|k| k.starts_with("data/")));
    assert!(keys(&dave2).iter().any(|k| k.starts_with("index/")));
    want.extend(keys(&dave2));
    assert_eq!(
        flagged(&s3).await,
        want,
        "dave's new objects flagged at commit"
    );

    // erin is not held: nothing of hers is flagged.
    let calls = st.calls.load(std::sync::atomic::Ordering::Relaxed);
    let erin = backup(&repo, &s3, "erin", &[("e0", 13, 5000)]).await;
    assert!(!erin.is_empty());
    assert_eq!(
        st.calls.load(std::sync::atomic::Ordering::Relaxed),
        calls,
        "no flag change tried for erin"
    );
    assert_eq!(flagged(&s3).await, want, "erin's objects stay unflagged");

    // A checkpoint of a held owner is flagged when it is written, the commit after it too.
    let before = objects(&s3).await;
    let mut s = repo
        .begin_backup(OwnerRef::new("drive", "dave"), BackupOptions::default())
        .await
        .unwrap();
    s.put_item(meta("d2", 2000), &data(14, 2000)[..])
        .await
        .unwrap();
    let cp = s.checkpoint(serde_json::json!({})).await.unwrap();
    let cp_keys: BTreeSet<String> =
        keys(&objects(&s3).await.difference(&before).cloned().collect());
    assert!(
        cp_keys.contains(&format!("snapshots/{}", cp.0)),
        "{cp_keys:?}"
    );
    want.extend(cp_keys);
    assert_eq!(flagged(&s3).await, want, "the checkpoint is flagged");
    s.put_item(meta("d3", 2500), &data(15, 2500)[..])
        .await
        .unwrap();
    s.commit(serde_json::json!({})).await.unwrap();
    want.extend(keys(
        &objects(&s3).await.difference(&before).cloned().collect(),
    ));
    assert_eq!(flagged(&s3).await, want, "the commit after a checkpoint");

    // A hold with an item filter: only the objects holding the matching item's data.
    let h2 = repo
        .create_hold(
            new_hold(
                "LIT-4",
                HoldScope {
                    owners: vec!["frank".into()],
                    query: Some(ItemQuery {
                        file_name: Some("contract".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ),
            now,
        )
        .await
        .unwrap();
    repo.flag_hold(&h2).await.unwrap();
    want.insert(format!("holds/{}", h2.id));
    assert_eq!(flagged(&s3).await, want);
    let frank = backup(
        &repo,
        &s3,
        "frank",
        &[
            ("contract", 16, 600),
            ("note", 17, 600),
            ("holiday", 18, BIG),
        ],
    )
    .await;
    let (big, rest): (BTreeSet<_>, BTreeSet<_>) = frank
        .iter()
        .cloned()
        .partition(|(k, n)| k.starts_with("data/") && *n > BIG as u64);
    assert_eq!(big.len(), 1, "one pack holds the big file: {frank:?}");
    let big_pack = big.into_iter().next().unwrap().0;
    let big_index = format!("index/{}", big_pack.rsplit('/').next().unwrap());
    let mut frank_held = keys(&rest);
    assert!(frank_held.remove(&big_index));
    assert!(frank_held.iter().any(|k| k.starts_with("snapshots/")));
    want.extend(frank_held);
    assert_eq!(
        flagged(&s3).await,
        want,
        "frank: all but the big file's pack"
    );

    // A credential without the legal-hold permission: the backup still commits, nothing new
    // is flagged, and lock maintenance (with the permission) catches up.
    st.deny.store(true, std::sync::atomic::Ordering::Relaxed);
    let calls = st.calls.load(std::sync::atomic::Ordering::Relaxed);
    let dave4 = backup(&repo, &s3, "dave", &[("d4", 19, 3500)]).await;
    assert!(!dave4.is_empty());
    assert_eq!(
        st.calls.load(std::sync::atomic::Ordering::Relaxed),
        calls + 1,
        "one refused change, then no more tries"
    );
    assert_eq!(flagged(&s3).await, want, "refused: nothing new flagged");
    st.deny.store(false, std::sync::atomic::Ordering::Relaxed);
    let m = repo
        .maintain_locks(now, chrono::Duration::hours(1), false)
        .await
        .unwrap();
    assert!(m.failed.is_empty(), "{m:?}");
    let set: BTreeSet<String> = m.legal_hold.set.iter().cloned().collect();
    assert_eq!(
        set,
        keys(&dave4),
        "maintenance flags what the refused commit left"
    );
    want.extend(keys(&dave4));
    assert_eq!(flagged(&s3).await, want);
}
