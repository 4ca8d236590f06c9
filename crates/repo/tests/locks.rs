//! Object Lock behaviour of the engine on a simulated lock-capable storage (local directory
//! plus per-key retain-until dates and legal-hold flags; the test ends locks early, as time
//! passing would):
//! `maintain_locks` extends exactly the referenced objects (reachability computed like gc, in
//! bounded memory), and `apply_retention` skips snapshot roots the storage still protects.

mod common;
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use common::*;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tenantvault_repo::storage::{LockCapabilities, LockMode, LockPolicy};
use tenantvault_repo::*;

/// A local directory with S3-like Object Lock: every lockable key is retained `days` from its
/// write; a retained or flagged key cannot be deleted.
#[derive(Debug)]
struct LockSim {
    inner: LocalStorage,
    policy: LockPolicy,
    until: Mutex<BTreeMap<String, DateTime<Utc>>>,
    flags: Mutex<BTreeSet<String>>,
    extended: Mutex<BTreeSet<String>>,
}

impl LockSim {
    fn new(dir: &std::path::Path) -> Self {
        LockSim {
            inner: LocalStorage::new(dir).unwrap(),
            policy: LockPolicy {
                mode: LockMode::Governance,
                days: 1,
            },
            until: Mutex::default(),
            flags: Mutex::default(),
            extended: Mutex::default(),
        }
    }
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    /// Every lock written so far has run out (as `days` later).
    fn expire_all(&self) {
        let past = self.now() - Duration::minutes(1);
        for u in self.until.lock().values_mut() {
            *u = past;
        }
    }
    fn take_extended(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.extended.lock())
    }
}

#[async_trait]
impl Storage for LockSim {
    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        self.inner.get(key).await
    }
    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StorageError> {
        self.inner.get_range(key, offset, len).await
    }
    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, StorageError> {
        let r = self.inner.put_if_absent(key, data).await?;
        if r == PutOutcome::Created && LockPolicy::applies_to(key) {
            let until = self.policy.until(self.now());
            self.until.lock().insert(key.to_string(), until);
        }
        Ok(r)
    }
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let until = self.until.lock().get(key).copied();
        if self.flags.lock().contains(key) || until.is_some_and(|u| u > self.now()) {
            return Err(StorageError::Locked {
                key: key.to_string(),
                until,
            });
        }
        self.inner.delete(key).await
    }
    fn lock_capabilities(&self) -> LockCapabilities {
        LockCapabilities {
            object_lock: true,
            legal_hold: true,
            versioned: false,
            policy: Some(self.policy),
        }
    }
    async fn lock_until(&self, key: &str) -> Result<Option<DateTime<Utc>>, StorageError> {
        Ok(self.until.lock().get(key).copied())
    }
    async fn extend_lock(&self, key: &str, until: DateTime<Utc>) -> Result<(), StorageError> {
        let mut m = self.until.lock();
        let cur = m.entry(key.to_string()).or_insert(until);
        *cur = (*cur).max(until);
        self.extended.lock().insert(key.to_string());
        Ok(())
    }
    async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), StorageError> {
        let mut f = self.flags.lock();
        if on {
            f.insert(key.to_string());
        } else {
            f.remove(key);
        }
        Ok(())
    }
    async fn legal_hold(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.flags.lock().contains(key))
    }
}

async fn keys(st: &LockSim, prefix: &str) -> BTreeSet<String> {
    st.list(prefix)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

/// One snapshot of `owner` with content unique to it; returns (snapshot id, packs written).
async fn backup(
    repo: &Repository,
    st: &LockSim,
    owner: &str,
    seed: u64,
) -> (String, BTreeSet<String>) {
    let before = keys(st, "data/").await;
    let mut s = repo
        .begin_backup(OwnerRef::new("dir", owner), BackupOptions::default())
        .await
        .unwrap();
    for i in 0..3 {
        let m = ItemMeta {
            modified: Some(st.now()),
            ..meta(&format!("{owner}-{i}"))
        };
        s.put_item(m, &bytes(seed * 10 + i, 90_000)[..])
            .await
            .unwrap();
    }
    let sum = s.commit(serde_json::json!({})).await.unwrap();
    let packs = keys(st, "data/")
        .await
        .difference(&before)
        .cloned()
        .collect();
    (sum.id.0, packs)
}

fn index_of(pack: &str) -> String {
    format!("index/{}", pack.rsplit('/').next().unwrap())
}

/// Once the locks near their end, `maintain_locks` extends config, key slots, every snapshot
/// root and exactly the packs (with their index files) holding referenced blobs; the packs
/// only a deleted snapshot referenced are left to expire.
#[tokio::test]
async fn maintain_locks_extends_exactly_the_referenced_objects() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let st = Arc::new(LockSim::new(dir.path()));
    let repo = init(st.clone(), cache.path()).await;
    let (_, alice_packs) = backup(&repo, &st, "alice", 1).await;
    let (bob, bob_packs) = backup(&repo, &st, "bob", 2).await;
    assert!(!alice_packs.is_empty() && !bob_packs.is_empty());

    // Nothing is near its end yet: nothing extended.
    let r = repo
        .maintain_locks(st.now(), Duration::hours(1), false)
        .await
        .unwrap();
    assert_eq!(r.extended, 0, "{r:?}");
    assert_eq!(r.unreferenced, 0, "{r:?}");

    // Once the locks have run out and bob's snapshot is gone, only alice's data is renewed.
    st.expire_all();
    st.delete(&format!("snapshots/{bob}")).await.unwrap();
    let r = repo
        .maintain_locks(st.now(), Duration::hours(1), false)
        .await
        .unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    let mut want: BTreeSet<String> = ["config".to_string()].into();
    want.extend(keys(&st, "keys/").await);
    want.extend(keys(&st, "snapshots/").await);
    for p in &alice_packs {
        want.insert(p.clone());
        want.insert(index_of(p));
    }
    assert_eq!(st.take_extended(), want);
    assert_eq!(r.extended, want.len() as u64);
    assert_eq!(r.unreferenced, bob_packs.len() as u64, "{r:?}");
    // and the renewed locks hold: alice's packs cannot be deleted, bob's can
    for p in &alice_packs {
        assert!(matches!(
            st.delete(p).await,
            Err(StorageError::Locked { .. })
        ));
    }
    for p in &bob_packs {
        st.delete(p).await.unwrap();
    }
}

fn keep_last(n: u32, item_max_age: Option<retention::Age>) -> retention::PolicySet {
    use retention::*;
    PolicySet {
        policies: [(
            "p".to_string(),
            RetentionPolicy {
                snapshots: GfsRule {
                    keep_last: Some(n),
                    ..Default::default()
                },
                item_max_age,
                keep_after_departure: None,
            },
        )]
        .into(),
        assignments: vec![Assignment {
            policy: "p".into(),
            workloads: vec![],
            owners: OwnerSet::All,
        }],
        departed: None,
        minimum: None,
    }
}

async fn roots(st: &LockSim) -> BTreeSet<String> {
    keys(st, "snapshots/")
        .await
        .into_iter()
        .map(|k| k.trim_start_matches("snapshots/").to_string())
        .collect()
}

/// `keep_last = 1` over three snapshots: the oldest root still carries the legal-hold flag,
/// the middle one's lock has run out. Retention skips the flagged root (reported with its
/// reason, nothing of it changed), deletes the other and goes on; a later run, once the flag
/// is off, removes it too. A rewrite (item-level retention) of a still-locked root is skipped
/// the same way instead of leaving a second copy next to the old root.
#[tokio::test]
async fn apply_retention_skips_protected_roots_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let st = Arc::new(LockSim::new(dir.path()));
    let repo = init(st.clone(), cache.path()).await;
    let (s1, _) = backup(&repo, &st, "alice", 1).await;
    let (s2, _) = backup(&repo, &st, "alice", 2).await;
    let (s3, _) = backup(&repo, &st, "alice", 3).await;
    st.set_legal_hold(&format!("snapshots/{s1}"), true)
        .await
        .unwrap();
    // the locks of s1..s3 run out (s1's flag stays on); s4 is new, still locked
    st.expire_all();
    let (s4, _) = backup(&repo, &st, "alice", 4).await;
    let now = st.now();

    let r = repo
        .apply_retention(&keep_last(1, None), now)
        .await
        .unwrap();
    assert_eq!(r.snapshots_deleted, 2, "{r:?}");
    assert_eq!(r.locked.len(), 1, "{r:?}");
    let l = &r.locked[0];
    assert_eq!(l.snapshot.0, s1);
    assert_eq!(l.action, "delete");
    assert!(l.legal_hold && l.locked_until.is_none(), "{l:?}");
    assert!(l.reason().contains("legal-hold flag"), "{}", l.reason());
    assert_eq!(roots(&st).await, [s1.clone(), s4.clone()].into());
    let _ = (s2, s3);

    // The flag goes off: the next run removes s1 and nothing else.
    st.set_legal_hold(&format!("snapshots/{s1}"), false)
        .await
        .unwrap();
    let r = repo
        .apply_retention(&keep_last(1, None), now)
        .await
        .unwrap();
    assert!(r.locked.is_empty(), "{r:?}");
    assert_eq!(r.snapshots_deleted, 1, "{r:?}");
    assert_eq!(roots(&st).await, [s4.clone()].into());

    // Item-level retention of a root that is still Object-Locked: skipped, not rewritten.
    let age = "1d".parse().unwrap();
    let r = repo
        .apply_retention(&keep_last(1, Some(age)), now + Duration::days(30))
        .await
        .unwrap();
    assert_eq!(r.snapshots_rewritten, 0, "{r:?}");
    assert_eq!(r.locked.len(), 1, "{r:?}");
    assert_eq!(r.locked[0].action, "rewrite");
    assert!(r.locked[0].locked_until.is_some_and(|u| u > st.now()));
    assert_eq!(roots(&st).await, [s4.clone()].into());
    // once its lock has run out, the rewrite happens
    st.expire_all();
    let r = repo
        .apply_retention(&keep_last(1, Some(age)), now + Duration::days(30))
        .await
        .unwrap();
    assert!(r.locked.is_empty(), "{r:?}");
    assert_eq!(r.snapshots_rewritten, 1, "{r:?}");
    assert!(!roots(&st).await.contains(&s4));
}

/// With the retention policies, lock maintenance renews only what retention keeps: under
/// `keep_last = 1`, alice's older snapshot root and the packs only it references keep their
/// run-out lock (reported as expiring), so `retention apply` deletes the root at once and gc
/// can delete the packs; the kept snapshot and its packs are renewed. A snapshot under an
/// active hold is renewed whatever retention says (the plan marks its removal as blocked).
#[tokio::test]
async fn maintain_locks_for_retention_lets_removed_snapshots_expire() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let st = Arc::new(LockSim::new(dir.path()));
    let repo = init(st.clone(), cache.path()).await;
    let (old, old_packs) = backup(&repo, &st, "alice", 1).await;
    let (new, new_packs) = backup(&repo, &st, "alice", 2).await;
    let (bob, _) = backup(&repo, &st, "bob", 3).await;
    let (bob2, _) = backup(&repo, &st, "bob", 4).await;
    repo.create_hold(
        NewHold {
            case: "LIT-9".into(),
            reason: "litigation".into(),
            created_by: "admin".into(),
            scope: HoldScope {
                owners: vec!["bob".into()],
                ..Default::default()
            },
        },
        st.now(),
    )
    .await
    .unwrap();
    st.expire_all();
    st.take_extended();
    let policies = keep_last(1, None);
    let r = repo
        .maintain_locks_for(st.now(), Duration::hours(1), false, &policies)
        .await
        .unwrap();
    assert!(r.failed.is_empty(), "{r:?}");
    assert_eq!(r.expiring, vec![old.clone()], "{r:?}");
    let extended = st.take_extended();
    assert!(!extended.contains(&format!("snapshots/{old}")));
    for s in [&new, &bob, &bob2] {
        assert!(
            extended.contains(&format!("snapshots/{s}")),
            "{s} not renewed"
        );
    }
    for p in &old_packs {
        assert!(
            !extended.contains(p) && !extended.contains(&index_of(p)),
            "{p}"
        );
    }
    for p in &new_packs {
        assert!(
            extended.contains(p) && extended.contains(&index_of(p)),
            "{p}"
        );
    }
    // the expiring snapshot's own packs are left to expire like unreferenced ones
    assert_eq!(r.unreferenced, old_packs.len() as u64, "{r:?}");

    // Retention removes the expiring root right away (its lock ran out); bob's stay held.
    let a = repo.apply_retention(&policies, st.now()).await.unwrap();
    assert!(a.locked.is_empty(), "{a:?}");
    assert_eq!(a.snapshots_deleted, 1, "{a:?}");
    assert_eq!(roots(&st).await, [new, bob, bob2].into());

    // Without the policies every root is renewed again (the old behaviour).
    st.expire_all();
    let r = repo
        .maintain_locks(st.now(), Duration::hours(1), false)
        .await
        .unwrap();
    assert!(r.expiring.is_empty());
}
