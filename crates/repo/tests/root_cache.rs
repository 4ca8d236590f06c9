//! The local snapshot-root cache: listing snapshots reads each root from the repository once per
//! machine (an S3 bucket is not re-read every time), while `check` still reads the repository.

mod common;
use common::*;
use std::sync::Arc;
use tenantvault_repo::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_reads_each_root_once_and_check_still_sees_damage() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let local: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(local.clone(), cache.path()).await;
    for i in 0..3u64 {
        let owner = OwnerRef::new("dir", format!("owner{i}"));
        let mut s = repo
            .begin_backup(owner, BackupOptions::default())
            .await
            .unwrap();
        s.put_item(meta("f"), &bytes(i, 5_000)[..]).await.unwrap();
        s.commit(serde_json::json!({})).await.unwrap();
    }
    drop(repo);

    // A new process on the same machine: the roots come from the cache.
    let metrics = Arc::new(MetricsStorage::new(local.clone()));
    let repo = Repository::open(metrics.clone(), PASS, open_opts(cache.path()))
        .await
        .unwrap();
    let before = metrics.snapshot();
    let listed = repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    let after = metrics.snapshot();
    assert_eq!(
        after.gets - before.gets,
        0,
        "roots were read again: {after:?}"
    );
    assert_eq!(after.lists - before.lists, 1);

    // Another machine (empty cache) reads every root once, then no more.
    let cold = tempfile::tempdir().unwrap();
    let repo2 = Repository::open(metrics.clone(), PASS, open_opts(cold.path()))
        .await
        .unwrap();
    let b = metrics.snapshot();
    assert_eq!(
        repo2
            .list_snapshots(SnapshotFilter::default())
            .await
            .unwrap(),
        listed
    );
    let m = metrics.snapshot();
    assert_eq!(m.gets - b.gets, 3);
    assert_eq!(
        repo2
            .list_snapshots(SnapshotFilter::default())
            .await
            .unwrap(),
        listed
    );
    assert_eq!(metrics.snapshot().gets, m.gets);

    // A damaged root in the repository: browsing still answers from the cache, check reports it.
    let key = format!("snapshots/{}", listed[0].id.0);
    let path = dir.path().join(&key);
    let mut data = std::fs::read(&path).unwrap();
    let n = data.len();
    data[n / 2] ^= 0x20;
    std::fs::write(&path, data).unwrap();
    assert_eq!(
        repo.list_snapshots(SnapshotFilter::default())
            .await
            .unwrap()
            .len(),
        3
    );
    let report = repo.check(CheckOptions::default()).await.unwrap();
    assert!(
        report
            .damaged
            .iter()
            .any(|d| d.object.contains(&listed[0].id.0)),
        "check must read the repository, not the cache: {report:?}"
    );
    // A deleted snapshot (retention) disappears from listings although its root is cached.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        repo.list_snapshots(SnapshotFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}
