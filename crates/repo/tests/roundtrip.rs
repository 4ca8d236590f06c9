//! Backup → snapshot → restore round trips through the public API.

mod common;
use common::*;
use std::sync::Arc;
use tenantvault_repo::*;
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_commit_list_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage.clone(), cache.path()).await;
    let owner = OwnerRef::new("dir", "alice");
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    let big = bytes(1, 300_000);
    let mut m = meta("b.bin");
    m.metadata = Some(vec![b'x'; 5000]);
    s.put_item(m, &big[..]).await.unwrap();
    s.put_item(meta("a.txt"), &b"hello"[..]).await.unwrap();
    s.put_item(meta("empty"), &b""[..]).await.unwrap();
    s.record_failure("c.txt", "permission denied");
    let sum = s.commit(serde_json::json!({"delta": "t1"})).await.unwrap();
    assert_eq!(sum.stats.items, 3);
    assert_eq!(sum.stats.bytes, 300_005);
    assert!(sum.complete);

    // A fresh handle (new cache) sees the same.
    let cache2 = tempfile::tempdir().unwrap();
    let repo2 = Repository::open(storage, PASS, open_opts(cache2.path()))
        .await
        .unwrap();
    let list = repo2
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let snap = repo2.snapshot(&sum.id.0[..6]).await.unwrap();
    assert_eq!(snap.state()["delta"], "t1");
    assert_eq!(snap.failures()[0].item_id, "c.txt");
    let items = all_items(&snap).await.unwrap();
    let ids: Vec<_> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["a.txt", "b.bin", "empty"]);
    let b = snap.item("b.bin").await.unwrap().unwrap();
    let mut out = Vec::new();
    repo2
        .content_reader(&snap, &b)
        .read_to_end(&mut out)
        .await
        .unwrap();
    assert_eq!(out, big);
    assert_eq!(
        repo2.item_metadata(&b).await.unwrap().unwrap(),
        vec![b'x'; 5000]
    );
    assert!(snap.item("zzz").await.unwrap().is_none());
    assert_eq!(read_item(&repo2, &snap, &items[0]).await.unwrap(), b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_keeps_parent_items_and_dedups() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let metrics = Arc::new(MetricsStorage::new(Arc::new(
        LocalStorage::new(dir.path()).unwrap(),
    )));
    let repo = init(metrics.clone(), cache.path()).await;
    let owner = OwnerRef::new("exchange", "bob");
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    for i in 0..50 {
        s.put_item(meta(&format!("m{i:03}")), &bytes(i, 20_000)[..])
            .await
            .unwrap();
    }
    let first = s.commit(serde_json::json!({})).await.unwrap();
    let written = metrics.snapshot().bytes_written;

    let opts = BackupOptions {
        mode: BackupMode::Incremental,
        ..Default::default()
    };
    let mut s = repo.begin_backup(owner.clone(), opts).await.unwrap();
    assert_eq!(s.parent().unwrap().id(), &first.id);
    assert_eq!(s.previous("m007").await.unwrap().unwrap().size, 20_000);
    s.delete_item("m003").await.unwrap();
    s.put_item(meta("m010"), &b"changed"[..]).await.unwrap();
    // Same content as m000 under a new id: fully deduplicated.
    s.put_item(meta("n000"), &bytes(0, 20_000)[..])
        .await
        .unwrap();
    let second = s.commit(serde_json::json!({})).await.unwrap();
    assert_eq!(second.stats.items, 50);
    assert!(
        metrics.snapshot().bytes_written - written < 20_000,
        "duplicate content was not uploaded again"
    );
    let snap = repo.snapshot(&second.id.0).await.unwrap();
    let items = all_items(&snap).await.unwrap();
    assert!(items.iter().all(|i| i.id != "m003"));
    let m10 = snap.item("m010").await.unwrap().unwrap();
    assert_eq!(read_item(&repo, &snap, &m10).await.unwrap(), b"changed");
    let n0 = snap.item("n000").await.unwrap().unwrap();
    assert_eq!(
        read_item(&repo, &snap, &n0).await.unwrap(),
        bytes(0, 20_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_then_abandon_resumes_from_the_partial_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let metrics = Arc::new(MetricsStorage::new(Arc::new(
        LocalStorage::new(dir.path()).unwrap(),
    )));
    let repo = init(metrics.clone(), cache.path()).await;
    let owner = OwnerRef::new("exchange", "carol");
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    for i in 0..5 {
        s.put_item(meta(&format!("m{i}")), &bytes(i, 40_000)[..])
            .await
            .unwrap();
    }
    let cp = s.checkpoint(serde_json::json!({"page": 1})).await.unwrap();
    drop(s); // killed before commit

    let all = repo
        .list_snapshots(SnapshotFilter {
            include_partial: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert!(!all[0].complete);
    assert!(
        repo.list_snapshots(SnapshotFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "partial hidden by default"
    );

    let before = metrics.snapshot().bytes_written;
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    let parent = s.parent().unwrap();
    assert_eq!(parent.id(), &cp);
    assert_eq!(parent.state()["page"], 1);
    for i in 0..8 {
        match s.previous(&format!("m{i}")).await.unwrap() {
            Some(prev) => s.keep_item(prev).await.unwrap(),
            None => {
                s.put_item(meta(&format!("m{i}")), &bytes(i, 40_000)[..])
                    .await
                    .unwrap();
            }
        }
    }
    // Last stage of an id wins: put, then delete, then put again.
    s.delete_item("m7").await.unwrap();
    let again = s.put_item(meta("m7"), &b"final"[..]).await.unwrap();
    let done = s.commit(serde_json::json!({"page": 2})).await.unwrap();
    assert!(done.complete);
    assert_eq!(done.stats.items, 8);
    assert_eq!(done.stats.items_new, 4, "m5..m7 and the second m7");
    let written = metrics.snapshot().bytes_written - before;
    assert!(
        written < 3 * 40_000 + 20_000,
        "checkpointed items were not uploaded again: {written}"
    );
    let snap = repo.snapshot(&done.id.0).await.unwrap();
    assert_eq!(snap.item("m7").await.unwrap().unwrap(), again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_items_concurrently_dedup_and_read_back() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = init(
        Arc::new(LocalStorage::new(dir.path()).unwrap()),
        cache.path(),
    )
    .await;
    let mut s = repo
        .begin_backup(OwnerRef::new("exchange", "dave"), BackupOptions::default())
        .await
        .unwrap();
    let prep = s.preparer();
    // 20 items, every other one with identical content: stored once.
    let mut stream = futures::stream::iter(0..20u64)
        .map(|i| {
            let prep = prep.clone();
            async move {
                let data = bytes(i % 2, 100_000);
                prep.prepare(meta(&format!("p{i:02}")), &data[..]).await
            }
        })
        .buffered(4);
    while let Some(p) = stream.next().await {
        s.put_prepared(p.unwrap().expect("small enough"))
            .await
            .unwrap();
    }
    let too_big = bytes(9, PREPARE_MAX + 1);
    assert!(
        prep.prepare(meta("big"), &too_big[..])
            .await
            .unwrap()
            .is_none()
    );
    let sum = s.commit(serde_json::json!({})).await.unwrap();
    assert_eq!(sum.stats.items, 20);
    assert!(
        sum.stats.bytes_stored < 2 * 100_000 + 40_000,
        "identical content stored once: {}",
        sum.stats.bytes_stored
    );
    let snap = repo.snapshot(&sum.id.0).await.unwrap();
    for item in all_items(&snap).await.unwrap() {
        let i: u64 = item.id[1..].parse().unwrap();
        assert_eq!(
            read_item(&repo, &snap, &item).await.unwrap(),
            bytes(i % 2, 100_000)
        );
    }
}
