//! `--versions N`: the previous N versions of every file are stored with their exact bytes,
//! listed on the file's record, rotated when a file changes, and never downloaded twice.

#[path = "drive_common.rs"]
mod common;

use std::collections::BTreeMap;

use common::*;
use futures::TryStreamExt;
use serde_json::json;
use tenantvault_emulator::Emulator;
use tenantvault_emulator::drive::drive_state;
use tenantvault_emulator::drive::model::Kind;
use tenantvault_repo::{ItemRecord, Repository, Snapshot};
use tenantvault_workloads::drive::{DriveBackupConfig, DriveSelection};

/// What the snapshot must hold: `v:<item>:<label>.0` → bytes for the newest `keep` earlier
/// versions of every live file, and per file id the kept labels newest first.
#[allow(clippy::type_complexity)]
fn expected(
    emu: &Emulator,
    drive_id: &str,
    keep: usize,
) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, String>) {
    let ds = drive_state(emu.state());
    let store = ds.store.read();
    let d = store.drive(drive_id).expect("drive");
    let (mut bytes, mut lists) = (BTreeMap::new(), BTreeMap::new());
    for i in 1..d.items.len() as u32 {
        let it = d.item(i);
        if it.deleted.is_some() {
            continue;
        }
        let Kind::File { history, .. } = &it.kind else {
            continue;
        };
        let kept: Vec<_> = history.iter().rev().take(keep).collect();
        for v in &kept {
            bytes.insert(
                format!("v:{}:{}.0", it.id, v.label),
                v.content.to_bytes().to_vec(),
            );
        }
        if !kept.is_empty() {
            let labels: Vec<String> = kept.iter().map(|v| format!("{}.0", v.label)).collect();
            lists.insert(format!("f:{}", it.id), labels.join(","));
        }
    }
    (bytes, lists)
}

#[allow(clippy::type_complexity)]
async fn stored(
    repo: &Repository,
    snap: &Snapshot,
) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, String>) {
    let items: Vec<ItemRecord> = snap.items().try_collect().await.expect("items");
    let (mut bytes, mut lists) = (BTreeMap::new(), BTreeMap::new());
    for it in items {
        match it.kind.as_str() {
            "fileVersion" => {
                let c: Vec<bytes::Bytes> = repo
                    .content_stream(&it)
                    .try_collect()
                    .await
                    .expect("content");
                bytes.insert(it.id.clone(), c.concat());
            }
            "file" => {
                if let Some(v) = it.attrs.get("versions").filter(|v| !v.is_empty()) {
                    lists.insert(it.id.clone(), v.clone());
                }
            }
            _ => {}
        }
    }
    (bytes, lists)
}

#[tokio::test]
async fn previous_versions_are_stored_rotated_and_not_downloaded_twice() {
    let mut t = tenant(23, 1);
    t.drive.versioned_rate = 0.6;
    t.drive.files_per_drive = 16;
    t.drive.large_files = 0;
    t.drive.sites = 0;
    let emu = start(t).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = DriveBackupConfig {
        versions: 2,
        ..config()
    };
    let sel = DriveSelection::onedrive();

    let first = backup(&repo, &graph, &cfg, &sel).await;
    assert_eq!(first.drives.len(), 1);
    let d = &first.drives[0];
    assert_eq!(d.failures.len(), 0, "{:?}", d.failures);
    let drive_id = d.drive.drive_id.clone();
    let snap = repo.snapshot(d.snapshot.as_ref().unwrap()).await.unwrap();
    let (want, want_lists) = expected(&emu, &drive_id, 2);
    assert!(
        want.len() >= 3,
        "the tenant has earlier versions to keep ({})",
        want.len()
    );
    let (got, got_lists) = stored(&repo, &snap).await;
    assert_eq!(got, want, "stored versions and their bytes");
    assert_eq!(got_lists, want_lists, "versions attribute of each file");
    assert_eq!(d.versions_downloaded, want.len() as u64);

    // Nothing changed: no version is listed or downloaded again.
    let again = backup(&repo, &graph, &cfg, &sel).await;
    assert_eq!(again.drives[0].versions_downloaded, 0);
    assert_eq!(again.drives[0].files_downloaded, 0);

    // Modified files: their previous content becomes a stored version and the oldest kept
    // one beyond N is dropped; moved/renamed files keep theirs.
    let act = admin(
        &emu,
        "/_emulator/drive/activity",
        json!({"days": 2, "new": 1, "modify": 4, "rename": 1, "move": 1, "delete": 1}),
    )
    .await;
    assert!(act["modified"].as_u64().unwrap() >= 1, "{act}");
    let third = backup(&repo, &graph, &cfg, &sel).await;
    let d3 = &third.drives[0];
    assert_eq!(d3.failures.len(), 0, "{:?}", d3.failures);
    assert!(
        (1..=act["modified"].as_u64().unwrap()).contains(&d3.versions_downloaded),
        "one new earlier version per modified file, got {} for {act}",
        d3.versions_downloaded
    );
    let snap3 = repo.snapshot(d3.snapshot.as_ref().unwrap()).await.unwrap();
    let (want3, want_lists3) = expected(&emu, &drive_id, 2);
    let (got3, got_lists3) = stored(&repo, &snap3).await;
    assert_eq!(got3, want3, "versions after the changes");
    assert_eq!(got_lists3, want_lists3);

    // With --versions 0 nothing is listed: the versions endpoint is never called.
    let none = DriveBackupConfig {
        versions: 0,
        ..config()
    };
    let dir2 = tempfile::tempdir().unwrap();
    let repo2 = new_repo(dir2.path()).await;
    let plain = backup(&repo2, &graph, &none, &sel).await;
    let snap = repo2
        .snapshot(plain.drives[0].snapshot.as_ref().unwrap())
        .await
        .unwrap();
    let (v, lists) = stored(&repo2, &snap).await;
    assert!(v.is_empty() && lists.is_empty());
    emu.shutdown().await;
}
