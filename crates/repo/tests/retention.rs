//! Retention against a real repository: holds override it and their release lets it proceed,
//! the minimum retention blocks (and cannot be lowered), interrupted rewrites are finished,
//! departures are recorded once.

mod common;
use chrono::{DateTime, Duration, Utc};
use common::*;
use futures::TryStreamExt;
use std::collections::BTreeSet;
use std::sync::Arc;
use tenantvault_repo::retention::{
    Age, Assignment, GfsRule, OwnerSet, PlanTarget, PolicySet, RetentionPolicy,
};
use tenantvault_repo::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn policy(keep_last: u32, item_max_age: Option<Age>, minimum: Option<Age>) -> PolicySet {
    PolicySet {
        policies: [(
            "p".to_string(),
            RetentionPolicy {
                snapshots: GfsRule {
                    keep_last: Some(keep_last),
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
        minimum,
    }
}

/// Three snapshots of `alice` (2020, 2021, 2022); each holds an item received that year,
/// from ceo@ in 2020, plus all earlier ones.
async fn setup() -> (
    tempfile::TempDir,
    tempfile::TempDir,
    Arc<dyn Storage>,
    Repository,
) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage.clone(), cache.path()).await;
    for (i, year) in [2020, 2021, 2022].into_iter().enumerate() {
        let mut s = repo
            .begin_backup(
                OwnerRef::new("exchange", "alice"),
                BackupOptions {
                    mode: BackupMode::Incremental,
                    time: Some(t(&format!("{year}-06-01T00:00:00Z"))),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let meta = ItemMeta {
            id: format!("m{i}"),
            kind: "message".into(),
            path: "Inbox".into(),
            name: format!("mail of {year}"),
            received: Some(t(&format!("{year}-05-01T00:00:00Z"))),
            attrs: [(
                "from".to_string(),
                if year == 2020 {
                    "ceo@x.test"
                } else {
                    "bob@x.test"
                }
                .to_string(),
            )]
            .into(),
            ..Default::default()
        };
        s.put_item(meta, &bytes(i as u64, 100)[..]).await.unwrap();
        s.commit(serde_json::json!({"year": year})).await.unwrap();
    }
    (dir, cache, storage, repo)
}

async fn state(repo: &Repository) -> Vec<(i32, BTreeSet<String>)> {
    use chrono::Datelike;
    let mut out = Vec::new();
    for s in repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap()
    {
        let snap = repo.snapshot(&s.id.0).await.unwrap();
        let items: Vec<ItemRecord> = snap.items().try_collect().await.unwrap();
        out.push((s.time.year(), items.into_iter().map(|i| i.id).collect()));
    }
    out
}

fn ids(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn holds_override_retention_until_released() {
    let (_d, _c, _s, repo) = setup().await;
    let now = t("2026-01-01T00:00:00Z");
    let hold = repo
        .create_hold(
            NewHold {
                case: "LIT-1".into(),
                reason: "ceo mail".into(),
                created_by: "counsel".into(),
                scope: HoldScope {
                    owners: vec!["alice".into()],
                    query: Some(ItemQuery {
                        sender: Some("ceo@".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            now,
        )
        .await
        .unwrap();
    // keep the newest snapshot only; items older than 4 years go.
    let set = policy(1, Some(Age::Years(4)), None);
    let plan = repo.plan_retention(&set, now).await.unwrap();
    let snaps: Vec<_> = plan
        .entries
        .iter()
        .filter(|e| e.target == PlanTarget::Snapshot)
        .collect();
    assert_eq!(snaps.len(), 2);
    assert!(
        snaps
            .iter()
            .all(|e| e.blocked.as_deref().unwrap().contains(&hold.id))
    );
    let items: Vec<_> = plan
        .entries
        .iter()
        .filter(|e| matches!(e.target, PlanTarget::Item { .. }))
        .collect();
    // m0 (2020) and m1 (2021) are older than 4 years; m0 is held.
    assert!(items.iter().all(|e| match &e.target {
        PlanTarget::Item { id, .. } => (id == "m0") == e.blocked.is_some(),
        _ => false,
    }));
    let r = repo.apply_retention(&set, now).await.unwrap();
    assert_eq!(r.snapshots_deleted, 0);
    assert_eq!(
        state(&repo).await,
        vec![
            (2020, ids(&["m0"])),
            (2021, ids(&["m0"])),
            (2022, ids(&["m0", "m2"]))
        ]
    );
    // Release: retention proceeds.
    repo.release_hold(&hold.id, "counsel", "settled", now)
        .await
        .unwrap();
    let r = repo.apply_retention(&set, now).await.unwrap();
    assert_eq!(r.snapshots_deleted, 2);
    assert_eq!(state(&repo).await, vec![(2022, ids(&["m2"]))]);
    // The rewritten snapshot keeps its time, state and owner; rewrites are on record.
    let s = repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    let snap = repo.snapshot(&s[0].id.0).await.unwrap();
    assert_eq!(snap.state(), &serde_json::json!({"year": 2022}));
    let recs = repo.rewrites().await.unwrap();
    assert!(recs.iter().any(|r| r.snapshot == s[0].id));
    // GC reclaims and the repository checks clean.
    repo.gc(GcOptions {
        grace: std::time::Duration::ZERO,
        dry_run: false,
    })
    .await
    .unwrap();
    repo.gc(GcOptions {
        grace: std::time::Duration::ZERO,
        dry_run: false,
    })
    .await
    .unwrap();
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test]
async fn minimum_retention_blocks_and_cannot_be_lowered() {
    let (_d, _c, storage, repo) = setup().await;
    let now = t("2023-01-01T00:00:00Z");
    // 2y minimum: the 2021 and 2022 snapshots and items are protected.
    let set = policy(1, Some(Age::Years(2)), Some(Age::Years(2)));
    let plan = repo.plan_retention(&set, now).await.unwrap();
    let blocked: Vec<_> = plan
        .entries
        .iter()
        .filter(|e| e.blocked.is_some())
        .collect();
    assert!(blocked.iter().all(|e| {
        e.blocked
            .as_deref()
            .unwrap()
            .starts_with("minimum retention 2y")
    }));
    assert_eq!(blocked.len(), 1, "{:#?}", plan.entries); // the 2021 snapshot
    let r = repo.apply_retention(&set, now).await.unwrap();
    assert_eq!(r.snapshots_deleted, 1); // 2020
    assert_eq!(r.refused, 1);
    assert_eq!(
        repo.recorded_minimum(now).await.unwrap(),
        Some(Age::Years(2))
    );
    // A configuration with a lower minimum does not lower the recorded one.
    let lower = policy(1, Some(Age::Days(30)), Some(Age::Days(30)));
    assert!(matches!(
        repo.apply_retention(&lower, now).await,
        Err(Error::Invalid(_))
    ));
    let lower = policy(1, None, None);
    let before = storage.list("snapshots/").await.unwrap();
    let r = repo.apply_retention(&lower, now).await.unwrap();
    assert_eq!(r.snapshots_deleted, 0);
    assert_eq!(storage.list("snapshots/").await.unwrap(), before);
    // Policies must not undercut the minimum.
    assert!(
        policy(1, Some(Age::Years(1)), Some(Age::Years(2)))
            .validate()
            .is_err()
    );
}

#[tokio::test]
async fn interrupted_rewrite_is_finished() {
    let (_d, _c, storage, repo) = setup().await;
    let s = repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    let old = s[2].id.clone();
    let root = storage.get(&format!("snapshots/{old}")).await.unwrap();
    let new = repo
        .rewrite_snapshot(&old, &ids(&["m0", "nope"]), "test", Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.time, s[2].time);
    assert_eq!(new.stats.items, 2);
    // Nothing to remove: nothing written.
    assert!(
        repo.rewrite_snapshot(&new.id, &ids(&["nope"]), "test", Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    // Simulate a crash before the old root was deleted.
    storage
        .put_if_absent(&format!("snapshots/{old}"), root)
        .await
        .unwrap();
    assert_eq!(repo.finish_rewrites().await.unwrap(), 1);
    assert_eq!(repo.finish_rewrites().await.unwrap(), 0);
    let left: Vec<_> = repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, vec![s[0].id.clone(), s[1].id.clone(), new.id]);
}

#[tokio::test]
async fn departures_are_recorded_once_and_returns_clear_them() {
    let (_d, _c, storage, repo) = setup().await;
    let at = t("2024-01-01T00:00:00Z");
    assert!(repo.mark_departed("alice", at).await.unwrap());
    assert!(
        !repo
            .mark_departed("alice", at + Duration::days(1))
            .await
            .unwrap()
    );
    let d = repo.departures().await.unwrap();
    assert_eq!(d["alice"].at, at);
    assert_eq!(storage.list("departed/").await.unwrap().len(), 1);
    // Departed policy: kept for 1 year after departure, then removed.
    let mut set = policy(1, None, None);
    set.policies.insert(
        "gone".into(),
        RetentionPolicy {
            keep_after_departure: Some(Age::Years(1)),
            ..Default::default()
        },
    );
    set.departed = Some("gone".into());
    let plan = repo
        .plan_retention(&set, at + Duration::days(123))
        .await
        .unwrap();
    assert!(plan.entries.is_empty(), "{:#?}", plan.entries);
    let plan = repo
        .plan_retention(&set, at + Duration::days(366))
        .await
        .unwrap();
    assert_eq!(plan.removals().count(), 3);
    assert!(plan.entries[0].rule.starts_with("departed 2024-01-01"));
    // Back in the tenant: the normal policy applies again.
    assert!(
        repo.mark_returned("alice", at + Duration::days(200))
            .await
            .unwrap()
    );
    assert!(repo.departures().await.unwrap().is_empty());
    let plan = repo
        .plan_retention(&set, at + Duration::days(366))
        .await
        .unwrap();
    assert_eq!(plan.removals().count(), 2);
    assert!(repo.mark_departed("", at).await.is_err());
}
