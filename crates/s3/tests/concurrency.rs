//! Four writers (separate repository handles, as separate processes would be) back up
//! different owners into one bucket at once, sharing some content, while GC runs beside them.
//! Afterwards `check --read-data` is clean and every snapshot restores byte-identically.

use futures::TryStreamExt;
use std::collections::BTreeMap;
use std::sync::Arc;
use tenantvault_repo::*;
use tenantvault_s3::moto::MotoServer;

const PASS: &str = "concurrent writers";

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn meta(id: &str) -> ItemMeta {
    ItemMeta {
        id: id.into(),
        kind: "file".into(),
        path: "/".into(),
        name: id.into(),
        version: "1".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_writers_and_gc_leave_a_valid_repository() {
    let Some(moto) = MotoServer::shared() else {
        return;
    };
    let b = moto.bucket("conc", false, "r").await;
    let cache = tempfile::tempdir().unwrap();
    let open_storage = || async { Arc::new(b.open().await) as Arc<dyn Storage> };
    Repository::init(
        open_storage().await,
        PASS,
        InitOptions {
            kdf: KdfParams::insecure_fast(),
            pack_target: 64 * 1024,
            cache_dir: Some(cache.path().join("init")),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let shared = data(4242, 300_000); // every owner has it: concurrent dedup of the same blobs
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let st = open_storage().await;
        let dir = cache.path().join(format!("w{w}"));
        let shared = shared.clone();
        writers.push(tokio::spawn(async move {
            let repo = Repository::open(
                st,
                PASS,
                OpenOptions {
                    cache_dir: Some(dir),
                },
            )
            .await
            .unwrap();
            let owner = format!("owner{w}");
            let mut expected = BTreeMap::new();
            for round in 0..2u64 {
                let mut s = repo
                    .begin_backup(OwnerRef::new("dir", &owner), BackupOptions::default())
                    .await
                    .unwrap();
                for i in 0..4u64 {
                    let body = data(w * 1000 + round * 10 + i, 20_000 + 30_000 * i as usize);
                    let id = format!("r{round}-{i}");
                    s.put_item(meta(&id), &body[..]).await.unwrap();
                    expected.insert(id, body);
                }
                s.put_item(meta("shared"), &shared[..]).await.unwrap();
                expected.insert("shared".into(), shared.clone());
                s.commit(serde_json::json!({})).await.unwrap();
            }
            (owner, expected)
        }));
    }
    let gc_storage = open_storage().await;
    let gc_dir = cache.path().join("gc");
    let gc = tokio::spawn(async move {
        let repo = Repository::open(
            gc_storage,
            PASS,
            OpenOptions {
                cache_dir: Some(gc_dir),
            },
        )
        .await
        .unwrap();
        let mut reports = Vec::new();
        for _ in 0..3 {
            reports.push(
                repo.gc(GcOptions {
                    grace: std::time::Duration::ZERO,
                    dry_run: false,
                })
                .await
                .unwrap(),
            );
        }
        reports
    });
    let mut expected = BTreeMap::new();
    for w in writers {
        let (owner, items) = w.await.unwrap();
        expected.insert(owner, items);
    }
    let gc_reports = gc.await.unwrap();
    assert_eq!(gc_reports.len(), 3);

    let repo = Repository::open(
        open_storage().await,
        PASS,
        OpenOptions {
            cache_dir: Some(cache.path().join("verify")),
        },
    )
    .await
    .unwrap();
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    let snaps = repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(snaps.len(), 8, "4 writers × 2 snapshots");
    for s in snaps {
        let snap = repo.snapshot(&s.id.0).await.unwrap();
        let items: Vec<ItemRecord> = snap.items().try_collect().await.unwrap();
        let want = &expected[&s.owner.owner];
        assert!(items.len() >= 5);
        for it in items {
            let got: Vec<bytes::Bytes> = repo.content_stream(&it).try_collect().await.unwrap();
            assert_eq!(&got.concat(), &want[&it.id], "{} {}", s.owner.owner, it.id);
        }
    }
}
