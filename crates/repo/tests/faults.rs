//! Bad input and storage faults: wrong passphrase, unknown version, disk full, keys, retries.

mod common;
use common::*;
use std::sync::Arc;
use std::time::Duration;
use tenantvault_repo::*;

async fn listing(s: &Arc<dyn Storage>) -> Vec<(String, u64)> {
    s.list("").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passphrase_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    init(storage.clone(), cache.path()).await;
    let before = listing(&storage).await;
    let err = Repository::open(
        storage.clone(),
        "not the passphrase",
        open_opts(cache.path()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase), "{err}");
    assert_eq!(before, listing(&storage).await);
    Repository::open(storage, PASS, open_opts(cache.path()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    init(storage.clone(), cache.path()).await;
    let cfg = std::fs::read_to_string(dir.path().join("config")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&cfg).unwrap();
    v["version"] = 2.into();
    std::fs::write(dir.path().join("config"), serde_json::to_vec(&v).unwrap()).unwrap();
    let err = Repository::open(storage, PASS, open_opts(cache.path()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedVersion { found: 2 }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_a_repository_and_non_empty_init_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    assert!(matches!(
        Repository::open(storage.clone(), PASS, open_opts(cache.path())).await,
        Err(Error::NotFound(_))
    ));
    std::fs::write(dir.path().join("somefile"), b"x").unwrap();
    assert!(matches!(
        Repository::init(storage, PASS, init_opts(cache.path())).await,
        Err(Error::Invalid(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_full_is_a_clear_error_and_leaves_the_repository_valid() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let local: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let faulty = Arc::new(FaultStorage::new(local.clone()));
    let repo = init(faulty.clone(), cache.path()).await;
    let owner = OwnerRef::new("dir", "o");
    // A first good snapshot.
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    s.put_item(meta("keep"), &bytes(1, 1000)[..]).await.unwrap();
    let good = s.commit(serde_json::json!({})).await.unwrap();

    faulty.inject(Fault::no_space("data/", 2));
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    let mut failed = None;
    for i in 0..20 {
        if let Err(e) = s
            .put_item(meta(&format!("f{i}")), &bytes(100 + i, 50_000)[..])
            .await
        {
            failed = Some(e);
            break;
        }
    }
    let err = match failed {
        Some(e) => e,
        None => s.commit(serde_json::json!({})).await.unwrap_err(),
    };
    assert!(err.is_no_space(), "{err}");
    assert!(faulty.fired() > 0);
    faulty.clear();

    let list = repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "no snapshot written by the failed run");
    assert_eq!(list[0].id, good.id);
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");

    // The next run succeeds and reuses the packs that were written before the disk filled up.
    let metrics = Arc::new(MetricsStorage::new(local.clone()));
    let cache2 = tempfile::tempdir().unwrap();
    let repo2 = Repository::open(metrics.clone(), PASS, open_opts(cache2.path()))
        .await
        .unwrap();
    let mut s = repo2
        .begin_backup(owner, BackupOptions::default())
        .await
        .unwrap();
    for i in 0..20 {
        s.put_item(meta(&format!("f{i}")), &bytes(100 + i, 50_000)[..])
            .await
            .unwrap();
    }
    let done = s.commit(serde_json::json!({})).await.unwrap();
    assert_eq!(done.stats.items, 20);
    // 1 MB of incompressible content; the two 64 KiB packs written before the disk filled up are reused.
    assert!(
        done.stats.bytes_stored + 100_000 < 1_000_000,
        "packs of the failed run were not reused: {}",
        done.stats.bytes_stored
    );
    assert!(
        repo2
            .check(CheckOptions { read_data: true })
            .await
            .unwrap()
            .is_clean()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_slots_add_open_remove() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage.clone(), cache.path()).await;
    let first = repo.info().key_id.clone();
    let second = repo
        .add_key_with("second pass", KdfParams::insecure_fast())
        .await
        .unwrap();
    let keys = repo.list_keys().await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().any(|k| k.id == first && k.current));
    let r2 = Repository::open(storage.clone(), "second pass", open_opts(cache.path()))
        .await
        .unwrap();
    assert_eq!(r2.info().key_id, second);
    assert_eq!(r2.info().id, repo.info().id);
    r2.remove_key(&first).await.unwrap();
    assert!(matches!(
        Repository::open(storage.clone(), PASS, open_opts(cache.path())).await,
        Err(Error::WrongPassphrase)
    ));
    assert!(
        matches!(r2.remove_key(&second).await, Err(Error::Invalid(_))),
        "last key slot must stay"
    );
    assert!(matches!(
        r2.remove_key("nope").await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_integrity_errors_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    local
        .put_if_absent("a/b", bytes::Bytes::from_static(b"hi"))
        .await
        .unwrap();
    let faulty = Arc::new(FaultStorage::new(local.clone()));
    faulty.inject(Fault::transient(FaultOp::Get, "a/", 2));
    let retry = RetryStorage::with_policy(faulty.clone(), 3, Duration::from_millis(1));
    assert_eq!(&retry.get("a/b").await.unwrap()[..], b"hi");
    faulty.inject(Fault::transient(FaultOp::Get, "a/", 5));
    assert!(
        retry.get("a/b").await.unwrap_err().is_retriable(),
        "gives up after 3 attempts"
    );
    faulty.clear();
    assert!(matches!(
        retry.get("a/missing").await,
        Err(StorageError::NotFound { .. })
    ));
    assert_eq!(
        local
            .put_if_absent("a/b", bytes::Bytes::from_static(b"other"))
            .await
            .unwrap(),
        PutOutcome::AlreadyExists
    );
    assert_eq!(
        &local.get("a/b").await.unwrap()[..],
        b"hi",
        "never overwritten"
    );
    assert!(matches!(
        local.put_if_absent("../x", bytes::Bytes::new()).await,
        Err(StorageError::InvalidKey { .. })
    ));
}
