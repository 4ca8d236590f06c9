//! Eight simulated years of regular (daily with SIM_EVERY=1) backups under retention policies, compared week by week
//! with an independent, deliberately naive model of the rules (GFS, item age, minimum
//! retention, a legal hold created and released mid-way, a departed owner).

mod common;
use chrono::{DateTime, Datelike, Duration, Months, TimeZone, Utc};
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tenantvault_repo::retention::{Age, Assignment, GfsRule, OwnerSet, PolicySet, RetentionPolicy};
use tenantvault_repo::*;

/// Storage in memory: the simulation writes thousands of snapshots, and fsync would dominate.
#[derive(Debug, Default)]
struct MemStorage(parking_lot::Mutex<BTreeMap<String, bytes::Bytes>>);

#[async_trait::async_trait]
impl Storage for MemStorage {
    async fn get(&self, key: &str) -> Result<bytes::Bytes, StorageError> {
        self.0
            .lock()
            .get(key)
            .cloned()
            .ok_or_else(|| StorageError::NotFound { key: key.into() })
    }
    async fn get_range(
        &self,
        key: &str,
        offset: u64,
        len: u64,
    ) -> Result<bytes::Bytes, StorageError> {
        let b = self.get(key).await?;
        let end = (offset + len) as usize;
        if end > b.len() {
            return Err(StorageError::NotFound { key: key.into() });
        }
        Ok(b.slice(offset as usize..end))
    }
    async fn put_if_absent(
        &self,
        key: &str,
        data: bytes::Bytes,
    ) -> Result<PutOutcome, StorageError> {
        let mut m = self.0.lock();
        if m.contains_key(key) {
            return Ok(PutOutcome::AlreadyExists);
        }
        m.insert(key.into(), data);
        Ok(PutOutcome::Created)
    }
    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        Ok(self
            .0
            .lock()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.len() as u64))
            .collect())
    }
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.0.lock().remove(key);
        Ok(())
    }
}

/// Deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone)]
struct Mail {
    id: String,
    received: DateTime<Utc>,
    until: DateTime<Utc>,
    from: String,
}

/// The model's view of one snapshot.
#[derive(Clone)]
struct ModelSnap {
    time: DateTime<Utc>,
    items: BTreeMap<String, Mail>,
}

const DAILY: usize = 7;
const WEEKLY: usize = 4;
const MONTHLY: usize = 12;
const YEARLY: usize = 3;

fn years_before(t: DateTime<Utc>, y: u32) -> DateTime<Utc> {
    t.checked_sub_months(Months::new(12 * y)).unwrap()
}

/// Naive GFS: a snapshot is kept if it is the newest of its day (week, month, year) and that
/// period is among the N most recent periods that have any snapshot.
fn model_gfs_keeps(snaps: &[ModelSnap], s: &ModelSnap) -> bool {
    fn periods<K: Ord + Clone>(
        snaps: &[ModelSnap],
        key: impl Fn(DateTime<Utc>) -> K,
        n: usize,
        s: &ModelSnap,
    ) -> bool {
        let all: BTreeSet<K> = snaps.iter().map(|x| key(x.time)).collect();
        let recent: Vec<K> = all.into_iter().rev().take(n).collect();
        let k = key(s.time);
        let newest_in_period = snaps
            .iter()
            .filter(|x| key(x.time) == k)
            .all(|x| x.time <= s.time);
        recent.contains(&k) && newest_in_period
    }
    periods(snaps, |t| t.date_naive(), DAILY, s)
        || periods(
            snaps,
            |t| (t.iso_week().year(), t.iso_week().week()),
            WEEKLY,
            s,
        )
        || periods(snaps, |t| (t.year(), t.month()), MONTHLY, s)
        || periods(snaps, |t| t.year(), YEARLY, s)
}

struct HoldModel {
    active: bool,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl HoldModel {
    fn holds(&self, m: &Mail) -> bool {
        self.active && m.from == "ceo@corp.test" && m.received >= self.from && m.received <= self.to
    }
}

/// Apply the rules to the model at `now`.
fn model_apply(
    snaps: &mut Vec<ModelSnap>,
    now: DateTime<Utc>,
    min_days: i64,
    item_years: Option<u32>,
    hold: &HoldModel,
) -> usize {
    let before = snaps.clone();
    let mut only_held = 0;
    snaps.retain(|s| {
        let rules = model_gfs_keeps(&before, s) || s.time > now - Duration::days(min_days);
        let held = s.items.values().any(|m| hold.holds(m));
        only_held += usize::from(held && !rules);
        rules || held
    });
    if let Some(y) = item_years {
        let cutoff = years_before(now, y);
        for s in snaps.iter_mut() {
            s.items.retain(|_, m| {
                only_held += usize::from(m.received < cutoff && hold.holds(m));
                m.received >= cutoff || hold.holds(m)
            });
        }
    }
    only_held
}

async fn repo_state(repo: &Repository, owner: &str) -> BTreeMap<DateTime<Utc>, BTreeSet<String>> {
    use futures::TryStreamExt;
    let mut out = BTreeMap::new();
    let filter = SnapshotFilter {
        owner: Some(owner.into()),
        ..Default::default()
    };
    for s in repo.list_snapshots(filter).await.unwrap() {
        let snap = repo.snapshot(&s.id.0).await.unwrap();
        let items: Vec<ItemRecord> = snap.items().try_collect().await.unwrap();
        assert!(
            out.insert(s.time, items.into_iter().map(|i| i.id).collect())
                .is_none()
        );
    }
    out
}

fn model_state(snaps: &[ModelSnap]) -> BTreeMap<DateTime<Utc>, BTreeSet<String>> {
    snaps
        .iter()
        .map(|s| (s.time, s.items.keys().cloned().collect()))
        .collect()
}

async fn backup(repo: &Repository, owner: &str, now: DateTime<Utc>, live: &[Mail]) {
    let mut s = repo
        .begin_backup(
            OwnerRef::new("exchange", owner),
            BackupOptions {
                mode: BackupMode::Incremental,
                time: Some(now),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let live_ids: BTreeSet<&str> = live.iter().map(|m| m.id.as_str()).collect();
    if let Some(p) = s.parent().cloned() {
        use futures::TryStreamExt;
        let old: Vec<ItemRecord> = p.items().try_collect().await.unwrap();
        for i in old {
            if !live_ids.contains(i.id.as_str()) {
                s.delete_item(&i.id).await.unwrap();
            }
        }
    }
    for m in live {
        if s.previous(&m.id).await.unwrap().is_none() {
            let meta = ItemMeta {
                id: m.id.clone(),
                kind: "message".into(),
                path: "Inbox".into(),
                name: format!("subject {}", m.id),
                received: Some(m.received),
                version: "1".into(),
                attrs: [("from".to_string(), m.from.clone())].into(),
                ..Default::default()
            };
            s.put_item(meta, m.id.as_bytes()).await.unwrap();
        }
    }
    s.commit(serde_json::json!({})).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_years_of_backups_follow_the_model() {
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(MemStorage::default());
    let repo = init(storage.clone(), cache.path()).await;

    const MIN_DAYS: i64 = 45;
    let standard = RetentionPolicy {
        snapshots: GfsRule {
            daily: Some(DAILY as u32),
            weekly: Some(WEEKLY as u32),
            monthly: Some(MONTHLY as u32),
            yearly: Some(YEARLY as u32),
            ..Default::default()
        },
        item_max_age: Some(Age::Years(2)),
        keep_after_departure: None,
    };
    let departed = RetentionPolicy {
        keep_after_departure: Some(Age::Years(1)),
        ..Default::default()
    };
    let set = PolicySet {
        policies: [("standard".into(), standard), ("departed".into(), departed)].into(),
        assignments: vec![Assignment {
            policy: "standard".into(),
            workloads: vec!["exchange".into()],
            owners: OwnerSet::All,
        }],
        departed: Some("departed".into()),
        minimum: Some(Age::Days(MIN_DAYS as u32)),
    };

    let start = Utc.with_ymd_and_hms(2018, 1, 1, 12, 0, 0).unwrap();
    let days: i64 = std::env::var("SIM_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8 * 365 + 2);
    // Backup interval in days: `SIM_EVERY=1` gives daily backups (a run of several minutes:
    // every commit adds an index file the engine lists on each session start); CI uses weekly
    // backups to stay fast on two cores. The rules, the checks and the model are the same.
    let every: i64 = std::env::var("SIM_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    let t0 = std::time::Instant::now();
    let mut rng = Rng(0x5eed_1234_9876_abcd);
    let mut mail: BTreeMap<&str, Vec<Mail>> = BTreeMap::new();
    let mut model: BTreeMap<&str, Vec<ModelSnap>> = BTreeMap::new();
    let owners = ["alice", "bob"];
    let bob_leaves = start + Duration::days(3 * 365 + 100);
    let bob_departure_expires = bob_leaves.checked_add_months(Months::new(12)).unwrap();
    let mut hold = HoldModel {
        active: false,
        from: Utc.with_ymd_and_hms(2019, 3, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2019, 5, 31, 23, 59, 59).unwrap(),
    };
    let hold_start = start + Duration::days(2 * 365 + 200);
    let hold_end = start + Duration::days(5 * 365);
    let mut hold_id = None;
    let mut next_id = 0u64;
    let mut checks = 0;
    let mut held_effect = 0;
    for d in 0..days {
        let now = start + Duration::days(d);
        for owner in owners {
            if (owner == "bob" && now >= bob_leaves) || d % every != 0 {
                continue;
            }
            let live = mail.entry(owner).or_default();
            live.retain(|m| m.until > now);
            for _ in 0..rng.below(3) {
                next_id += 1;
                let lifetime = if rng.below(10) < 9 {
                    5 + rng.below(60)
                } else {
                    200 + rng.below(700)
                };
                live.push(Mail {
                    id: format!("m{next_id:06}"),
                    received: now - Duration::hours(rng.below(20 * every as u64) as i64),
                    until: now + Duration::days(lifetime as i64),
                    from: if rng.below(4) == 0 {
                        "ceo@corp.test".into()
                    } else {
                        "x@corp.test".into()
                    },
                });
            }
            backup(&repo, owner, now, live).await;
            model.entry(owner).or_default().push(ModelSnap {
                time: now,
                items: live.iter().map(|m| (m.id.clone(), m.clone())).collect(),
            });
        }
        if now >= bob_leaves && now < bob_leaves + Duration::days(1) {
            repo.mark_departed("bob", now).await.unwrap();
        }
        if now >= hold_start && hold_id.is_none() {
            let h = repo
                .create_hold(
                    NewHold {
                        case: "LIT-7".into(),
                        reason: "ceo mail of spring 2019".into(),
                        created_by: "counsel".into(),
                        scope: HoldScope {
                            owners: vec!["alice".into()],
                            from: Some(hold.from),
                            to: Some(hold.to),
                            query: Some(ItemQuery {
                                sender: Some("ceo@corp.test".into()),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                    },
                    now,
                )
                .await
                .unwrap();
            hold_id = Some(h.id);
            hold.active = true;
        }
        if now >= hold_end && hold.active {
            repo.release_hold(hold_id.as_deref().unwrap(), "counsel", "settled", now)
                .await
                .unwrap();
            hold.active = false;
        }
        if d % 100 == 0 {
            eprintln!("day {d}: {:?}", t0.elapsed());
        }
        if d % 7 == 6 || d == days - 1 {
            repo.apply_retention(&set, now).await.unwrap();
            let a = model.get_mut("alice").unwrap();
            held_effect += model_apply(a, now, MIN_DAYS, Some(2), &hold);
            let b = model.get_mut("bob").unwrap();
            if now >= bob_departure_expires {
                b.clear();
            } else if now < bob_leaves {
                model_apply(
                    b,
                    now,
                    MIN_DAYS,
                    Some(2),
                    &HoldModel {
                        active: false,
                        ..hold
                    },
                );
            }
            for owner in owners {
                assert_eq!(
                    repo_state(&repo, owner).await,
                    model_state(&model[owner]),
                    "{owner} on day {d} ({now})"
                );
            }
            checks += 1;
        }
        // Microsoft's 30 and 123 days: bob's backups are all still there.
        for grace in [30, 123] {
            if now == bob_leaves + Duration::days(grace) {
                let s = repo_state(&repo, "bob").await;
                assert!(!s.is_empty(), "bob's data gone {grace} days after leaving");
                assert_eq!(s, model_state(&model["bob"]));
            }
        }
    }
    assert!(checks > 400, "{checks}");
    eprintln!(
        "{days} days, backups every {every} day(s): {:?}",
        t0.elapsed()
    );
    // The hold mattered: while active it kept snapshots or items the rules would remove.
    assert!(hold_id.is_some());
    assert!(held_effect > 0, "the hold never protected anything");
    assert!(
        model["bob"].is_empty(),
        "bob expired one year after departure"
    );
    let alice = &model["alice"];
    assert!(alice.len() >= DAILY + WEEKLY, "{}", alice.len());
}
