//! Legal holds: write-once storage, release as a second object, validation changes nothing.

mod common;
use chrono::{DateTime, Utc};
use common::*;
use std::sync::Arc;
use tenantvault_repo::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[tokio::test]
async fn create_list_release_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage.clone(), cache.path()).await;
    let h = repo
        .create_hold(
            NewHold {
                case: "LIT-1".into(),
                reason: "litigation".into(),
                created_by: "admin".into(),
                scope: HoldScope {
                    owners: vec!["alice".into()],
                    query: Some(ItemQuery {
                        sender: Some("ceo@".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            },
            t("2026-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    assert!(h.is_active());
    let before: Vec<_> = storage.list("holds/").await.unwrap();
    assert_eq!(before.len(), 1);

    // Reopened repository reads the same hold.
    let repo2 = Repository::open(storage.clone(), PASS, open_opts(cache.path()))
        .await
        .unwrap();
    assert_eq!(repo2.holds().await.unwrap(), vec![h.clone()]);
    assert_eq!(repo2.hold(&h.id[..6]).await.unwrap(), h);

    let r = repo2
        .release_hold(&h.id, "admin", "case closed", t("2026-02-01T00:00:00Z"))
        .await
        .unwrap();
    assert!(!r.is_active());
    assert_eq!(r.released.as_ref().unwrap().reason, "case closed");
    // The hold object is unchanged; the release is a second object.
    let after: Vec<_> = storage.list("holds/").await.unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(
        storage.get(&before[0].0).await.unwrap(),
        storage.get(&before[0].0).await.unwrap()
    );
    assert!(repo.active_holds().await.unwrap().is_empty());
    assert_eq!(repo.holds().await.unwrap(), vec![r]);
    // A second release is refused and writes nothing.
    assert!(
        repo.release_hold(&h.id, "admin", "again", Utc::now())
            .await
            .is_err()
    );
    assert_eq!(storage.list("holds/").await.unwrap().len(), 2);
}

#[tokio::test]
async fn bad_requests_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage.clone(), cache.path()).await;
    let ok = NewHold {
        case: "C".into(),
        reason: "R".into(),
        created_by: "me".into(),
        scope: HoldScope::default(),
    };
    let mut bad = Vec::new();
    bad.push(NewHold {
        case: " ".into(),
        ..ok.clone()
    });
    bad.push(NewHold {
        reason: "".into(),
        ..ok.clone()
    });
    let mut b = ok.clone();
    b.scope.from = Some(t("2021-01-01T00:00:00Z"));
    b.scope.to = Some(t("2020-01-01T00:00:00Z"));
    bad.push(b);
    let mut b = ok.clone();
    b.scope.snapshots = vec![SnapshotId("deadbeef".into())];
    bad.push(b);
    for b in bad {
        assert!(repo.create_hold(b, Utc::now()).await.is_err());
    }
    assert!(storage.list("holds/").await.unwrap().is_empty());
    assert!(matches!(
        repo.release_hold("abcd", "me", "x", Utc::now()).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(repo.hold("zz").await, Err(Error::Invalid(_))));
    assert!(storage.list("holds/").await.unwrap().is_empty());
}
