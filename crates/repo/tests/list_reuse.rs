//! Carried-over items: an unchanged item list of the parent is referenced, not written again,
//! and the snapshot's items are exactly what the session staged (Full and Incremental modes).

mod common;
use common::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use tenantvault_repo::*;

const N: usize = 7000;

fn id(i: usize) -> String {
    format!("i{i:05}")
}

fn item_meta(i: usize, version: &str) -> ItemMeta {
    let mut m = meta(&id(i));
    m.version = version.to_string();
    m
}

/// Items of a snapshot by id (records compared whole).
async fn by_id(snap: &Snapshot) -> BTreeMap<String, ItemRecord> {
    all_items(snap)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_lists_are_reused_and_changes_land_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = init(
        Arc::new(LocalStorage::new(dir.path()).unwrap()),
        cache.path(),
    )
    .await;
    let owner = OwnerRef::new("dir", "lists");

    // S1: N items spanning several item lists.
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    for i in 0..N {
        let body = format!("content of item {i}");
        s.put_item(item_meta(i, "v1"), body.as_bytes())
            .await
            .unwrap();
    }
    let s1 = s.commit(serde_json::json!({})).await.unwrap();
    let snap1 = repo.snapshot(&s1.id.0).await.unwrap();
    assert!(snap1.lists().len() >= 4, "test needs several lists");
    let items1 = by_id(&snap1).await;

    // S2: everything carried over; a wrong version or an unknown id stages nothing.
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    assert_eq!(s.keep_unchanged(&id(3), "file", "v0").await.unwrap(), None);
    assert_eq!(s.keep_unchanged(&id(3), "dir", "v1").await.unwrap(), None);
    assert_eq!(s.keep_unchanged("nope", "file", "v1").await.unwrap(), None);
    for i in 0..N {
        let size = s.keep_unchanged(&id(i), "file", "v1").await.unwrap();
        assert_eq!(size, Some(items1[&id(i)].size));
    }
    let s2 = s.commit(serde_json::json!({})).await.unwrap();
    let snap2 = repo.snapshot(&s2.id.0).await.unwrap();
    assert_eq!(
        snap2.lists(),
        snap1.lists(),
        "every list referenced as it was"
    );
    assert_eq!(s2.stats.items, N as u64);
    assert_eq!(s2.stats.bytes, s1.stats.bytes);
    assert_eq!(by_id(&snap2).await, items1);

    // S3 (Full): one item changed, one gone (not staged), one new, one kept through
    // keep_item with a changed record; the rest kept.
    let mut s = repo
        .begin_backup(owner.clone(), BackupOptions::default())
        .await
        .unwrap();
    let mut want = items1.clone();
    for i in 0..N {
        match i {
            10 => {
                want.remove(&id(i));
            }
            2500 => {
                let r = s
                    .put_item(item_meta(i, "v2"), &b"changed"[..])
                    .await
                    .unwrap();
                want.insert(r.id.clone(), r);
            }
            2600 => {
                let mut r = s.previous(&id(i)).await.unwrap().unwrap();
                r.attrs.insert("flag".into(), "set".into());
                s.keep_item(r.clone()).await.unwrap();
                want.insert(r.id.clone(), r);
            }
            4999 => {
                let r = s.previous(&id(i)).await.unwrap().unwrap();
                s.keep_item(r).await.unwrap();
            }
            _ => {
                s.keep_unchanged(&id(i), "file", "v1")
                    .await
                    .unwrap()
                    .unwrap();
            }
        }
    }
    let r = s.put_item(meta("zzz"), &b"new"[..]).await.unwrap();
    want.insert(r.id.clone(), r);
    let r = s.put_item(meta("a-first"), &b"new"[..]).await.unwrap();
    want.insert(r.id.clone(), r);
    let s3 = s.commit(serde_json::json!({})).await.unwrap();
    let snap3 = repo.snapshot(&s3.id.0).await.unwrap();
    assert_eq!(by_id(&snap3).await, want);
    assert_eq!(s3.stats.items, want.len() as u64);
    assert_eq!(
        s3.stats.bytes,
        want.values().map(|r| r.size).sum::<u64>(),
        "sizes of reused lists counted"
    );
    let reused = snap3
        .lists()
        .iter()
        .filter(|l| snap1.lists().contains(l))
        .count();
    assert!(
        reused >= 1 && reused < snap1.lists().len(),
        "untouched lists reused, touched ones written again ({reused})"
    );
    // Lists stay sorted and non-overlapping (lookups by id work).
    for r in want.values() {
        assert_eq!(snap3.item(&r.id).await.unwrap().as_ref(), Some(r));
    }

    // S4 (Incremental): nothing kept explicitly; one delete, one put. Untouched lists are
    // reused and their sizes still counted.
    let opts = BackupOptions {
        mode: BackupMode::Incremental,
        ..BackupOptions::default()
    };
    let mut s = repo.begin_backup(owner.clone(), opts).await.unwrap();
    s.delete_item(&id(4500)).await.unwrap();
    want.remove(&id(4500));
    let r = s
        .put_item(item_meta(1, "v3"), &b"incremental change"[..])
        .await
        .unwrap();
    want.insert(r.id.clone(), r);
    let s4 = s.commit(serde_json::json!({})).await.unwrap();
    let snap4 = repo.snapshot(&s4.id.0).await.unwrap();
    assert_eq!(by_id(&snap4).await, want);
    assert_eq!(s4.stats.items, want.len() as u64);
    assert_eq!(s4.stats.bytes, want.values().map(|r| r.size).sum::<u64>());
    assert!(
        snap4.lists().iter().any(|l| snap3.lists().contains(l)),
        "an untouched list is reused in Incremental mode"
    );

    // The repository checks clean and every item reads back.
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    for r in want.values() {
        read_item(&repo, &snap4, r).await.unwrap();
    }
}
