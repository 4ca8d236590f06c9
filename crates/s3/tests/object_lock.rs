//! Object Lock against a stolen backup-worker credential, on a moto_server that enforces IAM.
//!
//! The worker backs up three snapshots; then the "attacker" (the same credential) tries to
//! delete every object version, to shorten locks and to overwrite objects. Deletes must fail;
//! overwrites succeed in S3 (a new version) but the repository reads the original versions:
//! `check --read-data` names the overwritten keys and every snapshot restores byte-identically.
//! moto accepts retention changes whatever the policy and mode (two moto bugs), so the test
//! does not assert that shortening fails; it asserts that `maintain_locks` restores them.

use futures::TryStreamExt;
use std::collections::BTreeSet;
use std::sync::Arc;
use tenantvault_repo::storage::{LockMode, LockPolicy, Storage, StorageError};
use tenantvault_repo::*;
use tenantvault_s3::S3Options;
use tenantvault_s3::moto::MotoServer;

const PASS: &str = "worker and admin share the repository passphrase";

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

fn iam_users(moto: &MotoServer) -> serde_json::Value {
    let bin_dir = std::env::var_os("TENANTVAULT_MOTO_SERVER")
        .map(std::path::PathBuf::from)
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/s3-venv/bin")
        });
    let python = [bin_dir.join("python"), "python3".into()]
        .into_iter()
        .find(|p| p.components().count() == 1 || p.exists())
        .unwrap();
    let out = std::process::Command::new(python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/iam_setup.py"))
        .arg(&moto.endpoint)
        .output()
        .expect("run iam_setup.py");
    assert!(
        out.status.success(),
        "iam_setup.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn opts(moto: &MotoServer, users: &serde_json::Value, who: &str) -> S3Options {
    S3Options {
        multipart_threshold: 5 * 1024 * 1024,
        part_size: 5 * 1024 * 1024,
        ..moto.options(
            users[who][0].as_str().unwrap(),
            users[who][1].as_str().unwrap(),
        )
    }
}

async fn restore_all(repo: &Repository) -> BTreeSet<(String, String, Vec<u8>)> {
    let mut out = BTreeSet::new();
    for s in repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap()
    {
        let snap = repo.snapshot(&s.id.0).await.unwrap();
        let items: Vec<ItemRecord> = snap.items().try_collect().await.unwrap();
        for it in items {
            let parts: Vec<bytes::Bytes> = repo.content_stream(&it).try_collect().await.unwrap();
            out.insert((s.id.0.clone(), it.id.clone(), parts.concat()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stolen_worker_credential_cannot_destroy_backups() {
    let Some(moto) = MotoServer::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "6")]) else {
        return;
    };
    let users = iam_users(&moto);
    let (admin_opts, worker_opts) = (opts(&moto, &users, "admin"), opts(&moto, &users, "worker"));
    let b = moto
        .bucket_as(admin_opts.clone(), "lock", true, "repo")
        .await;
    let bucket = b.bucket.clone();
    let cache = tempfile::tempdir().unwrap();
    let init_opts = InitOptions {
        kdf: KdfParams::insecure_fast(),
        pack_target: 6 * 1024 * 1024,
        cache_dir: Some(cache.path().join("admin")),
        ..Default::default()
    };

    // Admin: repository with a compliance lock policy.
    let admin = Arc::new(
        b.open_locked(LockPolicy {
            mode: LockMode::Compliance,
            days: 2,
        })
        .await,
    );
    Repository::init(admin.clone(), PASS, init_opts)
        .await
        .unwrap();

    // Worker: three snapshots, one with a pack above the multipart threshold.
    let worker = Arc::new(b.open_as(worker_opts.clone()).await);
    assert_eq!(
        worker.lock_capabilities().policy.map(|p| p.days),
        Some(2),
        "the worker reads the policy from the bucket"
    );
    let repo = Repository::open(
        worker.clone(),
        PASS,
        OpenOptions {
            cache_dir: Some(cache.path().join("worker")),
        },
    )
    .await
    .unwrap();
    for (owner, round, sizes) in [
        ("alice", 0u64, vec![3000usize, 70_000, 7 * 1024 * 1024]),
        ("bob", 1, vec![500, 9000]),
        ("alice", 2, vec![3000, 12_000]),
    ] {
        let mut s = repo
            .begin_backup(OwnerRef::new("dir", owner), BackupOptions::default())
            .await
            .unwrap();
        for (i, n) in sizes.iter().enumerate() {
            let body = data(round * 100 + i as u64, *n);
            s.put_item(meta(&format!("{owner}-{round}-{i}")), &body[..])
                .await
                .unwrap();
        }
        s.commit(serde_json::json!({})).await.unwrap();
    }
    let before = restore_all(&repo).await;
    assert!(before.len() >= 7);
    let now = chrono::Utc::now();
    let lock = worker
        .lock_until("config")
        .await
        .unwrap()
        .expect("config is locked");
    assert!(
        lock > now + chrono::Duration::hours(47),
        "retain-until ≈ 2 days"
    );
    let snap_key = worker.list("snapshots/").await.unwrap()[0].0.clone();
    assert!(worker.lock_until(&snap_key).await.unwrap().is_some());
    let owner_key = worker.list("owners/").await.unwrap()[0].0.clone();
    assert_eq!(
        worker.lock_until(&owner_key).await.unwrap(),
        None,
        "owners/ must never be locked (erasure deletes it)"
    );

    // Attack 1: delete every version of every object, and plain deletes.
    let client = worker.client();
    let listing = client
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let versions: Vec<(String, String)> = listing
        .versions()
        .iter()
        .map(|v| {
            (
                v.key().unwrap().to_string(),
                v.version_id().unwrap().to_string(),
            )
        })
        .collect();
    assert!(versions.len() > 10);
    for (k, v) in &versions {
        let r = client
            .delete_object()
            .bucket(&bucket)
            .key(k)
            .version_id(v)
            .send()
            .await;
        assert!(r.is_err(), "worker deleted version {v} of {k}");
        if k.contains("/sessions/") {
            continue; // a worker deletes its own session markers (never locked)
        }
        let r = client.delete_object().bucket(&bucket).key(k).send().await;
        assert!(r.is_err(), "worker deleted (delete marker) {k}");
    }
    for (k, _) in worker.list("").await.unwrap() {
        assert!(
            matches!(
                worker.delete(&k).await,
                Err(StorageError::Locked { .. }
                    | StorageError::PermissionDenied { .. }
                    | StorageError::Backend { .. })
            ),
            "storage delete of {k} must fail"
        );
    }

    // Attack 2: shorten locks (moto accepts this; AWS refuses it for compliance mode and for
    // a principal without s3:PutObjectRetention). maintain_locks must restore them.
    let shortened = format!("repo/{snap_key}");
    let (_, vid) = versions.iter().find(|(k, _)| *k == shortened).unwrap();
    let _ = client
        .put_object_retention()
        .bucket(&bucket)
        .key(&shortened)
        .version_id(vid)
        .retention(
            aws_sdk_s3::types::ObjectLockRetention::builder()
                .mode(aws_sdk_s3::types::ObjectLockRetentionMode::Governance)
                .retain_until_date(aws_sdk_s3::primitives::DateTime::from_secs(
                    (now + chrono::Duration::hours(1)).timestamp(),
                ))
                .build(),
        )
        .send()
        .await;

    // Attack 3: overwrite objects with garbage (S3 keeps the original version underneath).
    let pack_key = worker.list("data/").await.unwrap()[0].0.clone();
    let index_key = worker.list("index/").await.unwrap()[0].0.clone();
    let slot_key = worker.list("keys/").await.unwrap()[0].0.clone();
    let targets = [
        "config".to_string(),
        snap_key.clone(),
        pack_key,
        index_key,
        owner_key,
        slot_key,
    ];
    for k in &targets {
        client
            .put_object()
            .bucket(&bucket)
            .key(format!("repo/{k}"))
            .body(aws_sdk_s3::primitives::ByteStream::from(data(99, 4096)))
            .send()
            .await
            .expect("S3 cannot refuse an overwrite in a versioned bucket");
    }

    // After the attack: a fresh process (empty cache) reads the originals.
    let fresh = Repository::open(
        Arc::new(b.open_as(worker_opts).await),
        PASS,
        OpenOptions {
            cache_dir: Some(cache.path().join("fresh")),
        },
    )
    .await
    .expect("opening after an overwrite of config and the key slot");
    let report = fresh.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    assert!(report.affected_items.is_empty());
    let expected: BTreeSet<String> = targets.iter().cloned().collect();
    assert_eq!(
        report.tampered.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "check names exactly the overwritten objects"
    );
    assert!(!report.is_clean(), "tampering is reported, not hidden");
    assert!(report.blobs_verified > 0);
    assert_eq!(
        restore_all(&fresh).await,
        before,
        "every snapshot restores byte-identically"
    );

    // Admin maintenance re-extends the shortened lock (and only referenced objects).
    let admin_repo = Repository::open(
        admin.clone(),
        PASS,
        OpenOptions {
            cache_dir: Some(cache.path().join("admin2")),
        },
    )
    .await
    .unwrap();
    let m = admin_repo
        .maintain_locks(now, chrono::Duration::days(1), false)
        .await
        .unwrap();
    assert!(m.failed.is_empty(), "{:?}", m.failed);
    assert_eq!(
        m.extended, 1,
        "only the shortened snapshot lock needed renewal: {m:?}"
    );
    assert!(
        admin.lock_until(&snap_key).await.unwrap().unwrap() > now + chrono::Duration::hours(47)
    );

    // GC never deletes a locked object: an unreferenced (locked) pack is skipped and reported.
    let junk = format!("data/ab/ab{}", "0".repeat(62));
    admin
        .put_if_absent(&junk, data(7, 5000).into())
        .await
        .unwrap();
    let gc = GcOptions {
        grace: std::time::Duration::ZERO,
        dry_run: false,
    };
    let mut reports = Vec::new();
    for _ in 0..2 {
        reports.push(admin_repo.gc(gc).await.unwrap());
    }
    assert!(
        reports.iter().all(|r| r.packs_locked == 1),
        "every gc run reports the locked pack it kept (and keeps its list): {reports:?}"
    );
    assert_eq!(reports.iter().map(|r| r.packs_deleted).sum::<u64>(), 0);
    assert!(
        worker.list("sessions/").await.unwrap().is_empty(),
        "workers remove their session markers"
    );
    assert!(
        admin.get(&junk).await.is_ok(),
        "the locked pack is still there"
    );
    assert_eq!(restore_all(&admin_repo).await, before);
}
