//! Bit flips in every kind of object are reported by check, naming the object; unaffected
//! items still restore. Plus the crypto-shredding design test.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tenantvault_repo::*;

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dst = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dst).unwrap();
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

fn flip(path: &Path, offset: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = offset.min(b.len() - 1);
    b[i] ^= 0x04;
    // Objects are written read-write by the local backend; replace in place.
    std::fs::write(path, b).unwrap();
}

fn files_under(root: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = walkdir::WalkDir::new(root.join(prefix))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

struct Fixture {
    dir: tempfile::TempDir,
    shared: Vec<u8>,
    /// The pack holding only owner C's item list.
    list_pack: String,
    c_snapshot: SnapshotId,
}

async fn build() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage, cache.path()).await;
    repo.add_key_with("second", KdfParams::insecure_fast())
        .await
        .unwrap();
    let shared = bytes(42, 30_000);
    for (owner, unique) in [("a", 1u64), ("b", 2)] {
        let mut s = repo
            .begin_backup(OwnerRef::new("exchange", owner), BackupOptions::default())
            .await
            .unwrap();
        s.put_item(meta("shared"), &shared[..]).await.unwrap();
        s.put_item(meta("unique"), &bytes(unique, 90_000)[..])
            .await
            .unwrap();
        s.commit(serde_json::json!({})).await.unwrap();
    }
    let before = files_under(dir.path(), "data");
    let mut s = repo
        .begin_backup(OwnerRef::new("exchange", "c"), BackupOptions::default())
        .await
        .unwrap();
    for i in 0..3 {
        s.put_item(meta(&format!("empty{i}")), &b""[..])
            .await
            .unwrap();
    }
    let c = s.commit(serde_json::json!({})).await.unwrap();
    let new: Vec<String> = files_under(dir.path(), "data")
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(
        new.len(),
        1,
        "C's commit writes exactly one pack (its item list)"
    );
    Fixture {
        dir,
        shared,
        list_pack: new[0].clone(),
        c_snapshot: c.id,
    }
}

async fn check_copy(
    fx: &Fixture,
    object: &str,
    offset: impl Fn(u64) -> usize,
    read_data: bool,
) -> (CheckReport, Repository, tempfile::TempDir) {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(fx.dir.path(), copy.path());
    let p: PathBuf = copy.path().join(object);
    let len = std::fs::metadata(&p).unwrap().len();
    flip(&p, offset(len));
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(copy.path()).unwrap());
    let repo = Repository::open(storage, PASS, open_opts(cache.path()))
        .await
        .unwrap();
    let report = repo.check(CheckOptions { read_data }).await.unwrap();
    assert!(
        report.damaged.iter().any(|d| d.object == object),
        "flip in {object} (read_data={read_data}) not reported: {:?}",
        report.damaged
    );
    (report, repo, copy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_object_is_checked() {
    let fx = build().await;
    let root = fx.dir.path();
    // Sanity: the untouched repository is clean.
    {
        let cache = tempfile::tempdir().unwrap();
        let repo = Repository::open(
            Arc::new(LocalStorage::new(root).unwrap()),
            PASS,
            open_opts(cache.path()),
        )
        .await
        .unwrap();
        let r = repo.check(CheckOptions { read_data: true }).await.unwrap();
        assert!(r.is_clean(), "{r:?}");
        assert_eq!(r.snapshots, 3);
        assert_eq!(r.items, 7);
    }

    // config: open itself refuses, naming the object.
    {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(root, copy.path());
        flip(
            &copy.path().join("config"),
            std::fs::metadata(copy.path().join("config")).unwrap().len() as usize / 2,
        );
        let cache = tempfile::tempdir().unwrap();
        let err = Repository::open(
            Arc::new(LocalStorage::new(copy.path()).unwrap()),
            PASS,
            open_opts(cache.path()),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::Corrupt { object, .. } if object == "config"),
            "{err}"
        );
    }

    // Key slots (the one not used to open), owner keys, index files, snapshot roots.
    let cache = tempfile::tempdir().unwrap();
    let repo = Repository::open(
        Arc::new(LocalStorage::new(root).unwrap()),
        PASS,
        open_opts(cache.path()),
    )
    .await
    .unwrap();
    let current = format!("keys/{}", repo.info().key_id);
    for k in files_under(root, "keys")
        .into_iter()
        .filter(|k| *k != current)
    {
        check_copy(&fx, &k, |l| l as usize / 2, false).await;
    }
    for k in files_under(root, "owners") {
        let (r, _, _) = check_copy(&fx, &k, |l| l as usize / 2, false).await;
        assert!(
            !r.affected_snapshots.is_empty(),
            "snapshots of a damaged owner key are affected"
        );
    }
    for k in files_under(root, "index") {
        check_copy(&fx, &k, |l| l as usize / 2, false).await;
    }
    for k in files_under(root, "snapshots") {
        let (r, _, _) = check_copy(&fx, &k, |l| l as usize / 2, false).await;
        assert!(r.affected_snapshots.iter().any(|s| k.ends_with(&s.0)));
    }
    // Packs: header (found without reading data) and data (found by --read-data).
    for k in files_under(root, "data") {
        check_copy(&fx, &k, |l| l as usize - 20, false).await;
        check_copy(&fx, &k, |_| 30, true).await;
    }
    // An item-list blob: found without --read-data, and names C's snapshot.
    let (r, _, _) = check_copy(&fx, &fx.list_pack, |_| 30, false).await;
    assert_eq!(r.affected_snapshots, vec![fx.c_snapshot.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_pack_fails_only_the_items_that_need_it() {
    let fx = build().await;
    for pack in files_under(fx.dir.path(), "data")
        .into_iter()
        .filter(|p| *p != fx.list_pack)
    {
        let (report, repo, _copy) = check_copy(&fx, &pack, |_| 30, true).await;
        let mut failed = 0;
        let mut ok = 0;
        for s in repo
            .list_snapshots(SnapshotFilter::default())
            .await
            .unwrap()
        {
            let snap = match repo.snapshot(&s.id.0).await {
                Ok(s) => s,
                Err(e) => panic!("snapshot {} unreadable: {e}", s.id),
            };
            let items = match all_items(&snap).await {
                Ok(i) => i,
                Err(e) => {
                    assert!(matches!(e, Error::Corrupt { .. }));
                    assert!(report.affected_snapshots.contains(&s.id));
                    continue;
                }
            };
            for item in items {
                let affected = report
                    .affected_items
                    .iter()
                    .any(|a| a.snapshot == s.id && a.item_id == item.id);
                match read_item(&repo, &snap, &item).await {
                    Ok(data) => {
                        assert!(!affected, "{} reported affected but restores", item.id);
                        if item.id == "shared" {
                            assert_eq!(data, fx.shared);
                        }
                        ok += 1;
                    }
                    Err(e) => {
                        assert!(
                            matches!(&e, Error::Corrupt { object, .. } if *object == pack),
                            "{e}"
                        );
                        assert!(affected, "{} fails but check did not name it", item.id);
                        failed += 1;
                    }
                }
            }
        }
        assert!(
            failed > 0 || !report.affected_snapshots.is_empty(),
            "flip in {pack} had no visible effect"
        );
        assert!(ok > 0, "unaffected items still restore");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crypto_shredding_one_owner_keeps_shared_blobs_for_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = init(storage.clone(), cache.path()).await;
    let attachment = bytes(500, 120_000);
    let (a, b) = (
        OwnerRef::new("exchange", "alice"),
        OwnerRef::new("exchange", "bob"),
    );
    let mut ids = Vec::new();
    let mut stored = Vec::new();
    for (o, own) in [(&a, 1u64), (&b, 2)] {
        let mut s = repo
            .begin_backup(o.clone(), BackupOptions::default())
            .await
            .unwrap();
        s.put_item(meta("attachment"), &attachment[..])
            .await
            .unwrap();
        s.put_item(meta("own"), &bytes(own, 10_000)[..])
            .await
            .unwrap();
        let sum = s.commit(serde_json::json!({})).await.unwrap();
        stored.push(sum.stats.bytes_stored);
        ids.push(sum.id);
    }
    assert!(
        stored[1] < stored[0] / 3,
        "the shared attachment is stored once: {stored:?}"
    );

    storage.delete(&repo.owner_object_key(&a)).await.unwrap();
    let cache2 = tempfile::tempdir().unwrap();
    let repo2 = Repository::open(storage.clone(), PASS, open_opts(cache2.path()))
        .await
        .unwrap();
    let err = repo2.snapshot(&ids[0].0).await.unwrap_err();
    assert!(matches!(err, Error::OwnerKeyMissing { .. }), "{err}");
    let snap_b = repo2.snapshot(&ids[1].0).await.unwrap();
    let att = snap_b.item("attachment").await.unwrap().unwrap();
    assert_eq!(read_item(&repo2, &snap_b, &att).await.unwrap(), attachment);
    // Listing still works (heads are under the metadata key), so the snapshots can be removed.
    assert_eq!(
        repo2
            .list_snapshots(SnapshotFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );

    // After removing A's snapshots, gc frees A's own blobs but keeps the shared attachment.
    storage
        .delete(&format!("snapshots/{}", ids[0]))
        .await
        .unwrap();
    let r = repo2
        .gc(GcOptions {
            grace: std::time::Duration::ZERO,
            dry_run: false,
        })
        .await
        .unwrap();
    let _ = r;
    let report = repo2.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(read_item(&repo2, &snap_b, &att).await.unwrap(), attachment);
}
