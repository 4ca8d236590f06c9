//! The committed format-v1 sample repository must always open, check clean and restore.
//!
//! Regenerate (only when deliberately creating a NEW format version's fixture, never to
//! "fix" this test): `cargo test -p tenantvault-repo --test fixture_v1 -- --ignored generate`.

mod common;
use common::*;
use std::path::PathBuf;
use std::sync::Arc;
use tenantvault_repo::*;

const FIXTURE_PASS: &str = "tenantvault-fixture-v1";

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo-v1")
}

/// One known item: (owner, item id, content, metadata).
type Known = (OwnerRef, &'static str, Vec<u8>, Option<Vec<u8>>);

/// The known content.
fn content() -> Vec<Known> {
    let attachment = bytes(2024, 40_000);
    let mut mail_a = b"From: a@example.com\r\nSubject: hello\r\n\r\n".to_vec();
    mail_a.extend_from_slice(&attachment);
    let mut mail_b = b"From: b@example.com\r\nSubject: fwd\r\n\r\n".to_vec();
    mail_b.extend_from_slice(&attachment);
    let a = OwnerRef::new("exchange", "a@example.com");
    let b = OwnerRef::new("exchange", "b@example.com");
    let d = OwnerRef::new("dir", "files");
    vec![
        (
            a.clone(),
            "msg-1",
            mail_a,
            Some(br#"{"subject":"hello","isRead":true}"#.to_vec()),
        ),
        (
            a,
            "msg-2",
            b"short message".to_vec(),
            Some(vec![b'j'; 3000]),
        ),
        (b, "msg-9", mail_b, None),
        (
            d.clone(),
            "docs/readme.txt",
            b"tenantvault format v1 fixture\n".to_vec(),
            None,
        ),
        (d, "docs/empty", Vec::new(), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the committed fixture"]
async fn generate() {
    let dir = fixture_dir();
    assert!(
        !dir.exists(),
        "{} exists; a fixture is never regenerated in place",
        dir.display()
    );
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(&dir).unwrap());
    let opts = InitOptions {
        kdf: KdfParams::insecure_fast(),
        pack_target: 32 * 1024,
        cache_dir: Some(cache.path().into()),
        ..Default::default()
    };
    let repo = Repository::init(storage, FIXTURE_PASS, opts).await.unwrap();
    let mut owners: Vec<OwnerRef> = content().into_iter().map(|c| c.0).collect();
    owners.dedup();
    for owner in owners {
        let mut s = repo
            .begin_backup(owner.clone(), BackupOptions::default())
            .await
            .unwrap();
        for (o, id, data, md) in content() {
            if o == owner {
                let mut m = meta(id);
                m.kind = if o.workload == "exchange" {
                    "message".into()
                } else {
                    "file".into()
                };
                m.metadata = md;
                m.attrs.insert("x".into(), "y".into());
                s.put_item(m, &data[..]).await.unwrap();
            }
        }
        s.commit(serde_json::json!({"deltaLink": "https://example.invalid/delta?token=1"}))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_v1_fixture_opens_checks_and_restores() {
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(fixture_dir()).unwrap());
    let before = storage.list("").await.unwrap();
    let repo = Repository::open(storage.clone(), FIXTURE_PASS, open_opts(cache.path()))
        .await
        .unwrap();
    assert_eq!(repo.info().version, 1);
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.snapshots, 3);
    let snaps = repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(snaps.len(), 3);
    for (owner, id, data, md) in content() {
        let s = snaps.iter().find(|s| s.owner == owner).unwrap();
        let snap = repo.snapshot(&s.id.0).await.unwrap();
        assert_eq!(
            snap.state()["deltaLink"],
            "https://example.invalid/delta?token=1"
        );
        let item = snap
            .item(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(item.attrs.get("x").map(String::as_str), Some("y"));
        assert_eq!(read_item(&repo, &snap, &item).await.unwrap(), data, "{id}");
        assert_eq!(repo.item_metadata(&item).await.unwrap(), md, "{id}");
    }
    assert_eq!(
        storage.list("").await.unwrap(),
        before,
        "reading the fixture wrote nothing"
    );
    assert!(matches!(
        Repository::open(storage, "wrong", open_opts(cache.path())).await,
        Err(Error::WrongPassphrase)
    ));
}
