//! The local-folder source: backup_dir / restore_items.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use tenantvault_repo::*;

fn make_tree(root: &std::path::Path) {
    std::fs::create_dir_all(root.join("docs/sub")).unwrap();
    std::fs::write(root.join("docs/a.txt"), b"alpha").unwrap();
    std::fs::write(root.join("docs/sub/big.bin"), bytes(7, 400_000)).unwrap();
    std::fs::write(root.join("docs-x.txt"), b"sorted between docs and docs/").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::set_permissions(
        root.join("docs/a.txt"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    std::os::unix::fs::symlink("docs/a.txt", root.join("link")).unwrap();
}

fn assert_same_tree(a: &std::path::Path, b: &std::path::Path) {
    for rel in ["docs/a.txt", "docs/sub/big.bin", "docs-x.txt", "empty"] {
        assert_eq!(
            std::fs::read(a.join(rel)).unwrap(),
            std::fs::read(b.join(rel)).unwrap(),
            "{rel}"
        );
        let (ma, mb) = (
            std::fs::metadata(a.join(rel)).unwrap(),
            std::fs::metadata(b.join(rel)).unwrap(),
        );
        assert_eq!(
            ma.modified().unwrap(),
            mb.modified().unwrap(),
            "mtime of {rel}"
        );
        assert_eq!(
            ma.permissions().mode() & 0o7777,
            mb.permissions().mode() & 0o7777,
            "mode of {rel}"
        );
    }
    assert_eq!(
        std::fs::read_link(b.join("link")).unwrap(),
        std::path::PathBuf::from("docs/a.txt")
    );
}

/// Restore a whole snapshot into a new temporary directory; no item may fail.
async fn restore_all(
    repo: &Repository,
    snapshot: &str,
) -> (tempfile::TempDir, Snapshot, RestoreReport) {
    let target = tempfile::tempdir().unwrap();
    let snap = repo.snapshot(snapshot).await.unwrap();
    let rep = restore_items(
        repo,
        &snap,
        None,
        target.path(),
        RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    (target, snap, rep)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_dir_restores_identically_and_second_run_reads_nothing_unchanged() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let repo_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let metrics = Arc::new(MetricsStorage::new(Arc::new(
        LocalStorage::new(repo_dir.path()).unwrap(),
    )));
    let repo = init(metrics.clone(), cache.path()).await;
    let s1 = backup_dir(
        &repo,
        src.path(),
        "files",
        DirBackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(s1.stats.items, 7, "5 files/links + 2 dirs");
    assert_eq!(s1.stats.bytes_read, 400_000 + 5 + 29);

    let s2 = backup_dir(
        &repo,
        src.path(),
        "files",
        DirBackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(s2.parent.as_ref(), Some(&s1.id));
    assert_eq!(s2.stats.items, 7);
    assert_eq!(
        s2.stats.bytes_read, 0,
        "unchanged files are carried over, not read"
    );
    assert_eq!(
        s2.stats.blobs_new, 0,
        "nothing new: even the identical item list is deduplicated"
    );

    // A change is picked up; a deleted file disappears (Full mode).
    std::fs::write(src.path().join("docs/a.txt"), b"alpha2").unwrap();
    std::fs::remove_file(src.path().join("empty")).unwrap();
    let s3 = backup_dir(
        &repo,
        src.path(),
        "files",
        DirBackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(s3.stats.items, 6);
    assert_eq!(s3.stats.bytes_read, 6);

    let (target, snap, rep) = restore_all(&repo, &s1.id.0).await;
    assert_eq!(rep.items, 7);
    for rel in ["docs/sub/big.bin", "docs-x.txt"] {
        assert_eq!(
            std::fs::read(src.path().join(rel)).unwrap(),
            std::fs::read(target.path().join(rel)).unwrap()
        );
        let (ma, mb) = (
            std::fs::metadata(src.path().join(rel)).unwrap(),
            std::fs::metadata(target.path().join(rel)).unwrap(),
        );
        assert_eq!(
            ma.modified().unwrap(),
            mb.modified().unwrap(),
            "mtime of {rel}"
        );
    }
    assert_eq!(
        std::fs::read(target.path().join("docs/a.txt")).unwrap(),
        b"alpha"
    );
    assert_eq!(
        std::fs::metadata(target.path().join("docs/a.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(
        std::fs::read_link(target.path().join("link")).unwrap(),
        std::path::PathBuf::from("docs/a.txt")
    );

    // Restoring again without overwrite fails per item, with overwrite succeeds.
    let again = restore_items(
        &repo,
        &snap,
        Some("docs/sub"),
        target.path(),
        RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(again.failed.len(), 1, "{:?}", again.failed);
    let again = restore_items(
        &repo,
        &snap,
        Some("docs/sub"),
        target.path(),
        RestoreOptions { overwrite: true },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(again.failed.is_empty());
    assert_eq!(again.items, 2, "the dir and its file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_tree_restores_with_identical_metadata() {
    let src = tempfile::tempdir().unwrap();
    make_tree(src.path());
    let repo_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = init(
        Arc::new(LocalStorage::new(repo_dir.path()).unwrap()),
        cache.path(),
    )
    .await;
    let s = backup_dir(
        &repo,
        src.path(),
        "files",
        DirBackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    let snap = repo.snapshot(&s.id.0).await.unwrap();
    let target = tempfile::tempdir().unwrap();
    restore_items(
        &repo,
        &snap,
        None,
        target.path(),
        RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_same_tree(src.path(), target.path());
}

#[test]
fn hostile_item_paths_never_escape_the_target() {
    let t = std::path::Path::new("/restore/here");
    for bad in [
        "../etc/passwd",
        "a/../../x",
        "/abs",
        "a//b",
        "",
        ".",
        "a/./b",
        "a\\..\\b",
        "nul\0byte",
    ] {
        assert!(safe_target_path(t, bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(
        safe_target_path(t, "a/b c/..d").unwrap(),
        t.join("a/b c/..d")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_to_write_through_a_symlink_in_the_target() {
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("d")).unwrap();
    std::fs::write(src.path().join("d/f"), b"x").unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = init(
        Arc::new(LocalStorage::new(repo_dir.path()).unwrap()),
        cache.path(),
    )
    .await;
    let s = backup_dir(
        &repo,
        src.path(),
        "o",
        DirBackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    let snap = repo.snapshot(&s.id.0).await.unwrap();
    let target = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), target.path().join("d")).unwrap();
    let rep = restore_items(
        &repo,
        &snap,
        None,
        target.path(),
        RestoreOptions { overwrite: true },
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(!rep.failed.is_empty());
    assert!(
        !elsewhere.path().join("f").exists(),
        "wrote through a symlink"
    );
}

/// Files of a few MiB are read whole and prepared in batches beside small ones, larger files
/// stream: whichever path a file takes, it is cut into the same chunks (the same content put
/// through the streaming path stores nothing new), restores byte-identically, and the
/// repository checks clean. Enough files to keep several batches in flight and to spill the
/// session's staged items more than once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_and_streamed_files_cut_alike_and_restore() {
    let src = tempfile::tempdir().unwrap();
    let medium = bytes(11, 3 << 20);
    let large = bytes(12, 9 << 20);
    std::fs::create_dir_all(src.path().join("m")).unwrap();
    std::fs::write(src.path().join("m/medium.bin"), &medium).unwrap();
    std::fs::write(src.path().join("m/large.bin"), &large).unwrap();
    for d in 0..4 {
        let dir = src.path().join(format!("small{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..1_500 {
            std::fs::write(
                dir.join(format!("f{i:05}.txt")),
                format!("{d}/{i}").repeat(i % 50 + 1),
            )
            .unwrap();
        }
    }
    let repo_dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = init(
        Arc::new(LocalStorage::new(repo_dir.path()).unwrap()),
        cache.path(),
    )
    .await;
    let s = backup_dir(
        &repo,
        src.path(),
        "mix",
        DirBackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert!(
        s.stats.failures == 0 && s.stats.items == 6_000 + 2 + 5,
        "{:?}",
        s.stats
    );

    // The medium file again, streamed as one item of another owner: every chunk is known.
    let mut session = repo
        .begin_backup(OwnerRef::new("dir", "again"), BackupOptions::default())
        .await
        .unwrap();
    let mut m = meta("medium.bin");
    m.size_hint = medium.len() as u64;
    session.put_item(m, &medium[..]).await.unwrap();
    let again = session.commit(serde_json::Value::Null).await.unwrap();
    assert_eq!(
        again.stats.blobs_new, 1,
        "only the new item list is stored: the streamed cut matches the batched one"
    );

    let (target, _, _) = restore_all(&repo, &s.id.0).await;
    assert_eq!(
        std::fs::read(target.path().join("m/medium.bin")).unwrap(),
        medium
    );
    assert_eq!(
        std::fs::read(target.path().join("m/large.bin")).unwrap(),
        large
    );
    assert_eq!(
        std::fs::read(target.path().join("small3/f01499.txt")).unwrap(),
        "3/1499".repeat(1499 % 50 + 1).into_bytes()
    );
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}
