//! Garbage collection: two phases, grace period, live sessions, writer rule, concurrency.

mod common;
use common::*;
use std::sync::Arc;
use std::time::Duration;
use tenantvault_repo::*;

fn count(root: &std::path::Path, prefix: &str) -> usize {
    walkdir::WalkDir::new(root.join(prefix))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .count()
}

const NOW: GcOptions = GcOptions {
    grace: Duration::ZERO,
    dry_run: false,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_marks_waits_for_grace_then_deletes_only_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage.clone(), cache.path()).await;
    let owner = OwnerRef::new("dir", "o");
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    s.put_item(meta("garbage"), &bytes(1, 200_000)[..])
        .await
        .unwrap();
    let doomed = s.commit(serde_json::json!({})).await.unwrap();
    let mut s = repo
        .begin_backup(
            owner.clone(),
            BackupOptions {
                parent: ParentSelect::None,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    s.put_item(meta("kept"), &bytes(2, 100_000)[..])
        .await
        .unwrap();
    let kept = s.commit(serde_json::json!({})).await.unwrap();
    storage
        .delete(&format!("snapshots/{}", doomed.id))
        .await
        .unwrap();
    let packs_before = count(dir.path(), "data");

    // Dry run changes nothing.
    let dry = repo
        .gc(GcOptions {
            grace: Duration::ZERO,
            dry_run: true,
        })
        .await
        .unwrap();
    assert!(dry.packs_marked > 0);
    assert_eq!(count(dir.path(), "data"), packs_before);
    assert_eq!(count(dir.path(), "gc"), 0);

    // Phase 1 with a long grace: marked, nothing deleted.
    let hour = GcOptions {
        grace: Duration::from_secs(3600),
        dry_run: false,
    };
    let r = repo.gc(hour).await.unwrap();
    assert!(r.packs_marked >= 3, "{r:?}");
    assert_eq!(r.packs_deleted, 0);
    assert_eq!(count(dir.path(), "gc"), 1);
    assert_eq!(count(dir.path(), "data"), packs_before);
    // A second run does not mark the same packs again and still waits.
    let r = repo.gc(hour).await.unwrap();
    assert_eq!(
        (r.packs_marked, r.lists_waiting, r.packs_deleted),
        (0, 1, 0)
    );

    // Writer rule: a session started after the candidate list does not dedup against its
    // packs; it uploads the content again.
    let mut s = repo
        .begin_backup(OwnerRef::new("dir", "late"), BackupOptions::default())
        .await
        .unwrap();
    s.put_item(meta("same-as-garbage"), &bytes(1, 200_000)[..])
        .await
        .unwrap();
    let late = s.commit(serde_json::json!({})).await.unwrap();
    assert!(
        late.stats.bytes_stored >= 200_000,
        "re-uploaded: {}",
        late.stats.bytes_stored
    );

    // Phase 2 (grace 0): the garbage packs go, even though their blob ids are referenced
    // again, because the late writer's copies cover them.
    let r = repo.gc(NOW).await.unwrap();
    assert!(r.packs_deleted >= 3, "{r:?}");
    assert_eq!(r.packs_rescued, 0, "{r:?}");
    assert_eq!(count(dir.path(), "gc"), 0);
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    for id in [&kept.id, &late.id] {
        let snap = repo.snapshot(&id.0).await.unwrap();
        for item in all_items(&snap).await.unwrap() {
            read_item(&repo, &snap, &item).await.unwrap();
        }
    }
    // Another handle with a stale cache notices the deleted index files and still reads.
    let cache2 = tempfile::tempdir().unwrap();
    let other = Repository::open(storage.clone(), PASS, open_opts(cache2.path()))
        .await
        .unwrap();
    let snap = other.snapshot(&late.id.0).await.unwrap();
    let item = snap.item("same-as-garbage").await.unwrap().unwrap();
    assert_eq!(
        read_item(&other, &snap, &item).await.unwrap(),
        bytes(1, 200_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_session_postpones_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage.clone(), cache.path()).await;
    let owner = OwnerRef::new("dir", "o");
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    s.put_item(meta("x"), &bytes(1, 100_000)[..]).await.unwrap();
    let doomed = s.commit(serde_json::json!({})).await.unwrap();
    // A session starts BEFORE the garbage is marked, and may dedup against it.
    let mut live = repo
        .begin_backup(OwnerRef::new("dir", "live"), BackupOptions::default())
        .await
        .unwrap();
    storage
        .delete(&format!("snapshots/{}", doomed.id))
        .await
        .unwrap();
    let r = repo.gc(NOW).await.unwrap();
    assert!(r.packs_marked > 0);
    assert_eq!((r.lists_postponed, r.packs_deleted), (1, 0), "{r:?}");
    // The live session dedups against the (still present) pack and commits.
    live.put_item(meta("x"), &bytes(1, 100_000)[..])
        .await
        .unwrap();
    let sum = live.commit(serde_json::json!({})).await.unwrap();
    assert!(
        sum.stats.bytes_stored < 50_000,
        "deduplicated against the old pack"
    );
    // Now the sweep runs and rescues the pack, which is referenced again.
    let r = repo.gc(NOW).await.unwrap();
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    assert!(r.packs_rescued > 0);
    let snap = repo.snapshot(&sum.id.0).await.unwrap();
    let item = snap.item("x").await.unwrap().unwrap();
    assert_eq!(
        read_item(&repo, &snap, &item).await.unwrap(),
        bytes(1, 100_000)
    );
    assert!(
        repo.check(CheckOptions { read_data: true })
            .await
            .unwrap()
            .is_clean()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_and_gc_at_once_leave_a_clean_repository() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let admin = init(storage.clone(), cache.path()).await;
    // Some garbage for gc to chew on.
    let mut s = admin
        .begin_backup(OwnerRef::new("dir", "old"), BackupOptions::default())
        .await
        .unwrap();
    s.put_item(meta("old"), &bytes(99, 150_000)[..])
        .await
        .unwrap();
    let old = s.commit(serde_json::json!({})).await.unwrap();
    storage
        .delete(&format!("snapshots/{}", old.id))
        .await
        .unwrap();

    let shared = bytes(7, 120_000);
    let mut tasks = Vec::new();
    for w in 0..2u64 {
        let storage = storage.clone();
        let cache = cache.path().to_path_buf(); // same cache dir: the second handle uses a private cache
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let repo = Repository::open(storage, PASS, open_opts(&cache))
                .await
                .unwrap();
            let mut ids = Vec::new();
            for round in 0..3u64 {
                let mut s = repo
                    .begin_backup(
                        OwnerRef::new("exchange", format!("user{w}")),
                        BackupOptions::default(),
                    )
                    .await
                    .unwrap();
                for i in 0..8u64 {
                    s.put_item(
                        meta(&format!("m{i}")),
                        &bytes(w * 1000 + round * 10 + i, 20_000)[..],
                    )
                    .await
                    .unwrap();
                    tokio::task::yield_now().await;
                }
                s.put_item(meta("shared"), &shared[..]).await.unwrap();
                ids.push(
                    s.commit(serde_json::json!({"round": round}))
                        .await
                        .unwrap()
                        .id,
                );
            }
            ids
        }));
    }
    let gc_storage = storage.clone();
    let gc_cache = tempfile::tempdir().unwrap();
    let gc_task = tokio::spawn(async move {
        let repo = Repository::open(gc_storage, PASS, open_opts(gc_cache.path()))
            .await
            .unwrap();
        for _ in 0..6 {
            repo.gc(NOW).await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    gc_task.await.unwrap();
    admin.gc(NOW).await.unwrap();
    let report = admin.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.snapshots, 6);
    for id in &all {
        let snap = admin.snapshot(&id.0).await.unwrap();
        let items = all_items(&snap).await.unwrap();
        assert_eq!(items.len(), 9);
        for item in items {
            let data = read_item(&admin, &snap, &item).await.unwrap();
            assert_eq!(data.len() as u64, item.size);
            if item.id == "shared" {
                assert_eq!(data, shared);
            }
        }
    }
    assert_eq!(
        count(dir.path(), "sessions"),
        0,
        "committed sessions remove their markers"
    );
}
