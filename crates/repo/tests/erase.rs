//! GDPR erasure: two Exchange owners share an attachment; erasing one makes its data
//! unreadable with a clear answer, the other still restores the shared bytes, check passes,
//! GC frees the erased owner's unique data; an active hold refuses the erasure.

mod common;

use chrono::{DateTime, Duration, Utc};
use common::*;
use futures::TryStreamExt;
use std::sync::Arc;
use tenantvault_repo::*;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-05-04T09:30:00Z")
        .unwrap()
        .to_utc()
}

fn message(id: &str, subject: &str) -> ItemMeta {
    ItemMeta {
        id: id.into(),
        kind: "message".into(),
        path: "/Inbox".into(),
        name: subject.into(),
        version: "1".into(),
        received: Some(now() - Duration::days(30)),
        ..Default::default()
    }
}

/// The attachment both mailboxes carry (identical bytes).
fn attachment() -> Vec<u8> {
    bytes(77, 150_000)
}

async fn mailbox(repo: &Repository, owner: &str, seed: u64) -> SnapshotSummary {
    let mut s = repo
        .begin_backup(OwnerRef::new("exchange", owner), BackupOptions::default())
        .await
        .unwrap();
    s.put_item(message("shared", "Quarterly report"), &attachment()[..])
        .await
        .unwrap();
    // private mail, large enough to fill packs of its own
    for i in 0..4 {
        let body = bytes(seed * 100 + i, 90_000);
        s.put_item(
            message(&format!("own-{i}"), &format!("Private {i}")),
            &body[..],
        )
        .await
        .unwrap();
    }
    s.commit(serde_json::json!({})).await.unwrap()
}

fn request(reason: &str) -> EraseRequest {
    EraseRequest {
        reason: reason.into(),
        by: "dpo@example.com".into(),
        now: now(),
        dry_run: false,
    }
}

async fn setup() -> (
    tempfile::TempDir,
    Repository,
    SnapshotSummary,
    SnapshotSummary,
) {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path().join("repo")).unwrap());
    let repo = init(storage, &dir.path().join("cache")).await;
    let alice = mailbox(&repo, "alice@example.com", 1).await;
    let bob = mailbox(&repo, "bob@example.com", 2).await;
    (dir, repo, alice, bob)
}

async fn read(repo: &Repository, snap: &str, item: &str) -> Result<Vec<u8>> {
    let snap = repo.snapshot(snap).await?;
    let item = snap.item(item).await?.expect("item present");
    read_item(repo, &snap, &item).await
}

#[tokio::test]
async fn erasure_shreds_one_owner_and_keeps_the_shared_attachment_for_the_other() {
    let (dir, repo, alice, bob) = setup().await;
    let alice_ref = OwnerRef::new("exchange", "alice@example.com");
    let packs_before = repo.storage().list("data/").await.unwrap().len();

    // a dry run reports and changes nothing
    let mut dry = request("Art. 17 request #12");
    dry.dry_run = true;
    let preview = repo.erase_owner(&alice_ref, &dry).await.unwrap();
    assert!(
        repo.storage()
            .list(ERASURE_PREFIX)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        read(&repo, &alice.id.0, "shared").await.unwrap(),
        attachment()
    );

    let report = repo
        .erase_owner(&alice_ref, &request("Art. 17 request #12"))
        .await
        .unwrap();
    assert_eq!(report, preview);
    assert_eq!(report.snapshots, vec![alice.id.clone()]);
    assert_eq!(report.items, 5);
    assert!(report.blobs_shared > 0, "{report:?}");
    assert!(
        report.blobs_unique > 0 && report.bytes_unique > 4 * 80_000,
        "{report:?}"
    );
    assert!(report.packs_reclaimable > 0, "{report:?}");

    // alice: the clear answer, everywhere, from any handle
    let fresh = Repository::open(
        repo.storage().clone(),
        PASS,
        open_opts(&dir.path().join("cache2")),
    )
    .await
    .unwrap();
    for r in [&repo, &fresh] {
        let err = r.snapshot(&alice.id.0).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Erased { .. }), "{msg}");
        assert!(msg.contains("exchange:alice@example.com"), "{msg}");
        assert!(msg.contains("2026-05-04"), "{msg}");
        assert!(msg.contains("Art. 17 request #12"), "{msg}");
        assert!(msg.contains("dpo@example.com"), "{msg}");
    }
    // no new key is ever created for an erased owner
    let err = fresh
        .begin_backup(alice_ref.clone(), BackupOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Erased { .. }), "{err}");
    // erasing again answers the same, and writes nothing
    let again = fresh
        .erase_owner(&alice_ref, &request("again"))
        .await
        .unwrap_err();
    assert!(again.to_string().contains("Art. 17 request #12"), "{again}");
    assert_eq!(
        fresh.erasure_of(&alice_ref).await.unwrap(),
        Some(report.clone())
    );
    assert_eq!(fresh.erasures().await.unwrap(), vec![report.clone()]);

    // bob: the shared attachment and his own mail still restore
    assert_eq!(
        read(&fresh, &bob.id.0, "shared").await.unwrap(),
        attachment()
    );
    assert_eq!(
        read(&fresh, &bob.id.0, "own-2").await.unwrap(),
        bytes(202, 90_000)
    );

    // check --read-data is clean: erased on purpose is not damage
    let check = fresh.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(check.is_clean(), "{check:#?}");

    // GC frees the erased owner's unique data (mark, then sweep with no grace)
    let opts = GcOptions {
        grace: std::time::Duration::ZERO,
        dry_run: false,
    };
    let mut swept = fresh.gc(opts).await.unwrap();
    swept.packs_deleted += fresh.gc(opts).await.unwrap().packs_deleted;
    assert_eq!(
        swept.packs_deleted, report.packs_reclaimable,
        "{swept:?} vs {report:?}"
    );
    assert_eq!(
        repo.storage().list("data/").await.unwrap().len() as u64,
        packs_before as u64 - swept.packs_deleted
    );
    assert_eq!(
        read(&fresh, &bob.id.0, "shared").await.unwrap(),
        attachment()
    );
    let after = fresh.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(after.is_clean(), "{after:#?}");
    // the snapshot listing still shows the erased owner's snapshot head (for the audit trail)
    let heads = fresh
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(heads.len(), 2);
}

#[tokio::test]
async fn bad_erase_requests_change_nothing() {
    let (_dir, repo, _alice, _bob) = setup().await;
    let alice_ref = OwnerRef::new("exchange", "alice@example.com");
    let before = repo.storage().list("").await.unwrap();
    let err = repo
        .erase_owner(&alice_ref, &request("  "))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    let mut no_by = request("x");
    no_by.by = String::new();
    assert!(matches!(
        repo.erase_owner(&alice_ref, &no_by).await.unwrap_err(),
        Error::Invalid(_)
    ));
    let nobody = OwnerRef::new("exchange", "carol@example.com");
    let err = repo.erase_owner(&nobody, &request("x")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    let wrong_workload = OwnerRef::new("drive", "alice@example.com");
    assert!(matches!(
        repo.erase_owner(&wrong_workload, &request("x"))
            .await
            .unwrap_err(),
        Error::NotFound(_)
    ));
    assert_eq!(repo.storage().list("").await.unwrap(), before);
}

#[tokio::test]
async fn an_active_hold_refuses_the_erasure_until_released() {
    let (_dir, repo, alice, _bob) = setup().await;
    let alice_ref = OwnerRef::new("exchange", "alice@example.com");
    // a hold on other items of alice (a subject that is not there) does not block
    let unrelated = repo
        .create_hold(
            NewHold {
                case: "LIT-7".into(),
                reason: "other matter".into(),
                created_by: "legal".into(),
                scope: HoldScope {
                    owners: vec!["alice@example.com".into()],
                    query: Some(ItemQuery {
                        subject_words: vec!["merger".into()],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            now(),
        )
        .await
        .unwrap();
    // a hold on the quarterly report does
    let hold = repo
        .create_hold(
            NewHold {
                case: "LIT-2026-014".into(),
                reason: "litigation".into(),
                created_by: "legal".into(),
                scope: HoldScope {
                    owners: vec!["alice@example.com".into()],
                    query: Some(ItemQuery {
                        subject_words: vec!["quarterly".into()],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            now(),
        )
        .await
        .unwrap();
    let before = repo.storage().list("").await.unwrap();
    let err = repo
        .erase_owner(&alice_ref, &request("Art. 17"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Held { .. }), "{msg}");
    assert!(
        msg.contains("LIT-2026-014") && msg.contains(&hold.id),
        "{msg}"
    );
    assert!(msg.contains("Quarterly report"), "{msg}");
    assert_eq!(repo.storage().list("").await.unwrap(), before);
    assert_eq!(
        read(&repo, &alice.id.0, "shared").await.unwrap(),
        attachment()
    );

    repo.release_hold(&hold.id, "legal", "case closed", now())
        .await
        .unwrap();
    let report = repo
        .erase_owner(&alice_ref, &request("Art. 17"))
        .await
        .unwrap();
    let checked: Vec<(&str, bool, bool)> = report
        .holds_checked
        .iter()
        .map(|h| (h.case.as_str(), h.active, h.covers))
        .collect();
    assert!(
        checked.contains(&("LIT-2026-014", false, true)),
        "{checked:?}"
    );
    assert!(checked.contains(&("LIT-7", true, false)), "{checked:?}");
    let _ = unrelated;
    let items: Result<Vec<ItemRecord>> = match repo.snapshot(&alice.id.0).await {
        Ok(s) => s.items().try_collect().await,
        Err(e) => Err(e),
    };
    assert!(matches!(items, Err(Error::Erased { .. })));
}

#[tokio::test]
async fn item_erasure_rewrites_every_snapshot_without_the_selected_items() {
    let (_dir, repo, alice, bob) = setup().await;
    let alice_ref = OwnerRef::new("exchange", "alice@example.com");
    // a second snapshot of alice, so two restore points hold the items
    let alice2 = mailbox(&repo, "alice@example.com", 1).await;
    let private = ItemSelection {
        query: ItemQuery {
            subject_words: vec!["private".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    // refused while a hold covers one of the selected items; nothing written
    let hold = repo
        .create_hold(
            NewHold {
                case: "LIT-9".into(),
                reason: "x".into(),
                created_by: "legal".into(),
                scope: HoldScope {
                    owners: vec!["alice@example.com".into()],
                    query: Some(ItemQuery {
                        subject_words: vec!["private".into(), "2".into()],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            now(),
        )
        .await
        .unwrap();
    let before = repo.storage().list("").await.unwrap();
    let err = repo
        .erase_items(&alice_ref, &private, &request("Art. 17"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Held { .. }), "{err}");
    assert!(err.to_string().contains("Private 2"), "{err}");
    assert_eq!(repo.storage().list("").await.unwrap(), before);
    // bad selections
    assert!(matches!(
        repo.erase_items(&alice_ref, &ItemSelection::default(), &request("x"))
            .await
            .unwrap_err(),
        Error::Invalid(_)
    ));
    let nothing = ItemSelection {
        query: ItemQuery {
            subject_words: vec!["merger".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(matches!(
        repo.erase_items(&alice_ref, &nothing, &request("x"))
            .await
            .unwrap_err(),
        Error::NotFound(_)
    ));
    assert_eq!(repo.storage().list("").await.unwrap(), before);

    repo.release_hold(&hold.id, "legal", "done", now())
        .await
        .unwrap();
    let report = repo
        .erase_items(&alice_ref, &private, &request("Art. 17 #5"))
        .await
        .unwrap();
    assert_eq!(report.items, vec!["own-0", "own-1", "own-2", "own-3"]);
    assert_eq!(report.snapshots.len(), 2);
    assert!(
        report
            .snapshots
            .iter()
            .all(|s| s.removed == 4 && s.new.is_some())
    );
    // the old restore points are gone; the new ones keep only the shared message
    for old in [&alice.id, &alice2.id] {
        assert!(matches!(
            repo.snapshot(&old.0).await.unwrap_err(),
            Error::NotFound(_)
        ));
    }
    for s in &report.snapshots {
        let snap = repo.snapshot(&s.new.as_ref().unwrap().0).await.unwrap();
        let ids: Vec<String> = all_items(&snap)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids, vec!["shared"]);
        assert_eq!(
            snap.summary().time,
            if s.old == alice.id {
                alice.time
            } else {
                alice2.time
            }
        );
    }
    assert_eq!(
        read(&repo, &bob.id.0, "own-1").await.unwrap(),
        bytes(201, 90_000)
    );
    let recorded = repo.item_erasures().await.unwrap();
    assert_eq!(recorded, vec![report]);
    assert!(repo.erasures().await.unwrap().is_empty());
    let check = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(check.is_clean(), "{check:#?}");
}

#[tokio::test]
async fn retention_still_runs_for_everyone_after_an_owner_was_erased() {
    use tenantvault_repo::retention::{
        Age, Assignment, GfsRule, OwnerSet, PolicySet, RetentionPolicy,
    };
    let (_dir, repo, alice, bob) = setup().await;
    repo.erase_owner(
        &OwnerRef::new("exchange", "alice@example.com"),
        &request("Art. 17"),
    )
    .await
    .unwrap();
    let set = PolicySet {
        policies: [(
            "std".to_string(),
            RetentionPolicy {
                snapshots: GfsRule {
                    keep_last: Some(5),
                    ..Default::default()
                },
                // every message of the fixture is 30 days old: all are removed from bob's
                item_max_age: Some(Age::Days(7)),
                keep_after_departure: None,
            },
        )]
        .into(),
        assignments: vec![Assignment {
            policy: "std".into(),
            workloads: vec![],
            owners: OwnerSet::All,
        }],
        departed: None,
        minimum: None,
    };
    let plan = repo.plan_retention(&set, now()).await.unwrap();
    assert!(
        plan.entries
            .iter()
            .all(|e| e.owner.owner == "bob@example.com"),
        "{plan:#?}"
    );
    let report = repo.apply_retention(&set, now()).await.unwrap();
    assert_eq!(report.items_removed, 5, "{report:#?}");
    assert!(matches!(
        repo.snapshot(&alice.id.0).await.unwrap_err(),
        Error::Erased { .. }
    ));
    assert!(matches!(
        repo.snapshot(&bob.id.0).await.unwrap_err(),
        Error::NotFound(_)
    ));
}
