//! Crash consistency at every commit step (run with `--features failpoints`).
//!
//! For each failpoint: a backup fails there, the session is dropped (as by a crash), the
//! repository is reopened, `check --read-data` is clean, a resumed backup reuses the packs
//! already written, and everything restores byte-identically.

mod common;
use common::*;
use std::sync::Arc;
use tenantvault_repo::*;

const ITEMS: u64 = 12;

async fn backup(repo: &Repository) -> Result<SnapshotSummary> {
    let mut s = repo
        .begin_backup(OwnerRef::new("dir", "o"), BackupOptions::default())
        .await?;
    for i in 0..ITEMS {
        s.put_item(meta(&format!("f{i:02}")), &bytes(i, 30_000)[..])
            .await?;
    }
    s.commit(serde_json::json!({})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_commit_step_then_resume() {
    let scenario = fail::FailScenario::setup();
    // Reference: bytes a full, uninterrupted backup uploads.
    let full_bytes = {
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let m = Arc::new(MetricsStorage::new(Arc::new(
            LocalStorage::new(dir.path()).unwrap(),
        )));
        let repo = init(m.clone(), cache.path()).await;
        let before = m.snapshot().bytes_written;
        backup(&repo).await.unwrap();
        m.snapshot().bytes_written - before
    };
    for (point, action) in [
        ("after-pack-write", "3*off->return"),
        ("after-index-write", "3*off->return"),
        ("before-snapshot-write", "return"),
        ("after-snapshot-write", "return"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let local: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
        let repo = init(local.clone(), cache.path()).await;
        fail::cfg(point, action).unwrap();
        let r = backup(&repo).await;
        fail::remove(point);
        assert!(r.is_err(), "{point}: the failpoint did not fire");
        drop(repo);

        let m = Arc::new(MetricsStorage::new(local.clone()));
        let repo = Repository::open(m.clone(), PASS, open_opts(cache.path()))
            .await
            .unwrap();
        let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
        assert!(report.is_clean(), "{point}: {report:?}");
        let snaps = repo
            .list_snapshots(SnapshotFilter::default())
            .await
            .unwrap();
        assert_eq!(
            snaps.len(),
            usize::from(point == "after-snapshot-write"),
            "{point}"
        );

        let before = m.snapshot().bytes_written;
        let done = backup(&repo).await.unwrap();
        let resumed_bytes = m.snapshot().bytes_written - before;
        assert!(
            resumed_bytes < full_bytes / 2,
            "{point}: resume uploaded {resumed_bytes} of {full_bytes} bytes"
        );
        let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
        assert!(report.is_clean(), "{point}: {report:?}");
        let snap = repo.snapshot(&done.id.0).await.unwrap();
        let items = all_items(&snap).await.unwrap();
        assert_eq!(items.len() as u64, ITEMS);
        for (i, item) in items.iter().enumerate() {
            assert_eq!(
                read_item(&repo, &snap, item).await.unwrap(),
                bytes(i as u64, 30_000),
                "{point}: {}",
                item.id
            );
        }
        // gc of the crash leftovers keeps everything restorable.
        repo.gc(GcOptions {
            grace: std::time::Duration::ZERO,
            dry_run: false,
        })
        .await
        .unwrap();
        assert!(
            repo.check(CheckOptions { read_data: true })
                .await
                .unwrap()
                .is_clean(),
            "{point} after gc"
        );
    }
    scenario.teardown();
}
