//! Drive backup against the emulator: full and incremental runs compared with the emulator's
//! own view of each drive, folder moves without downloads, deletions, 410 resync, hash
//! mismatches and injected faults.

#[path = "drive_common.rs"]
mod common;

use common::*;
use serde_json::json;
use tenantvault_emulator::drive::content::Source;
use tenantvault_emulator::drive::drive_state;
use tenantvault_emulator::drive::model::Kind;
use tenantvault_emulator::{EndpointClass, FaultConfig, FaultKind};
use tenantvault_graph::DriveItem;
use tenantvault_workloads::drive::{DriveSelection, QuickXorHash};

async fn snapshot_of(
    repo: &tenantvault_repo::Repository,
    report: &tenantvault_workloads::drive::DriveBackupReport,
    drive: &str,
) -> tenantvault_repo::Snapshot {
    let d = report
        .drives
        .iter()
        .find(|d| d.drive.drive_id == drive)
        .expect("drive in report");
    repo.snapshot(d.snapshot.as_ref().expect("snapshot"))
        .await
        .expect("open snapshot")
}

#[tokio::test]
async fn full_then_incremental_matches_the_tenant_and_downloads_only_changes() {
    let emu = start(tenant(11, 3)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = config();
    let sel = DriveSelection {
        onedrive: true,
        sharepoint: true,
        ..DriveSelection::default()
    };
    let first = backup(&repo, &graph, &cfg, &sel).await;
    assert!(first.drives.len() >= 3, "{} drives", first.drives.len());
    assert_eq!(
        first.failures(),
        0,
        "{:?}",
        first.drives.iter().map(|d| &d.failures).collect::<Vec<_>>()
    );
    let mut big_seen = false;
    for d in &first.drives {
        let snap = snapshot_of(&repo, &first, &d.drive.drive_id).await;
        let got = tree_of(&repo, &snap).await;
        assert_eq!(
            got,
            truth(&emu, &d.drive.drive_id),
            "drive {}",
            d.drive.drive_id
        );
        big_seen |= got.values().flatten().any(|c| c.len() > 3 * 1024 * 1024);
        // Every stored file carries the hash it was verified against.
        for it in futures::TryStreamExt::try_collect::<Vec<_>>(snap.items())
            .await
            .unwrap()
        {
            if it.kind == "file" {
                let content = tree_of(&repo, &snap)
                    .await
                    .remove(&tenantvault_workloads::drive::layout::full_path(&it))
                    .flatten()
                    .unwrap();
                assert_eq!(
                    it.attrs.get("quickXorHash"),
                    Some(&QuickXorHash::of(&content))
                );
            }
        }
    }
    assert!(big_seen, "the multi-MB file was backed up");

    // A day of activity, then an incremental run.
    let act = admin(
        &emu,
        "/_emulator/drive/activity",
        json!({"days": 1, "new": 2, "modify": 2, "rename": 1, "move": 1, "delete": 1}),
    )
    .await;
    let changed_files = act["created"].as_u64().unwrap() + act["modified"].as_u64().unwrap();
    let bytes_before = content_bytes(&emu);
    let second = backup(&repo, &graph, &cfg, &sel).await;
    assert_eq!(second.failures(), 0);
    // New and modified files only (fewer when the activity modified or deleted a new file).
    assert!(
        (1..=changed_files).contains(&second.files_downloaded()),
        "{} downloads for {act}",
        second.files_downloaded()
    );
    assert!(
        second.drives.iter().map(|d| d.items_deleted).sum::<u64>()
            >= act["deleted"].as_u64().unwrap()
    );
    assert!(
        content_bytes(&emu) - bytes_before < 4 * 1024 * 1024,
        "no re-download of unchanged content"
    );
    for d in &second.drives {
        let snap = snapshot_of(&repo, &second, &d.drive.drive_id).await;
        assert_eq!(
            tree_of(&repo, &snap).await,
            truth(&emu, &d.drive.drive_id),
            "drive {} after activity",
            d.drive.drive_id
        );
    }

    // Nothing changed: a few requests per drive, nothing downloaded.
    let before = drive_requests(&emu);
    let third = backup(&repo, &graph, &cfg, &sel).await;
    assert_eq!(third.files_downloaded(), 0);
    let per_drive = (drive_requests(&emu) - before) as f64 / third.drives.len() as f64;
    assert!(
        per_drive <= 2.0,
        "unchanged incremental costs {per_drive} drive requests per drive"
    );
    emu.shutdown().await;
}

/// Creates `/Big` with `n` small files through Graph; returns the folder id.
async fn make_folder(
    graph: &tenantvault_graph::GraphClient,
    drive: &str,
    parent: &str,
    name: &str,
    n: usize,
) -> String {
    let folder: DriveItem = graph
        .post_json(
            &format!("drives/{drive}/items/{parent}/children"),
            &json!({"name": name, "folder": {}, "@microsoft.graph.conflictBehavior": "fail"}),
        )
        .await
        .expect("create folder");
    for i in 0..n {
        let _: DriveItem = graph
            .put_bytes(
                &format!("drives/{drive}/items/{}:/file {i}.txt:/content", folder.id),
                bytes::Bytes::from(format!("content of file {i} in {name}\n").repeat(i + 1)),
                "text/plain",
            )
            .await
            .expect("upload");
    }
    folder.id
}

#[tokio::test]
async fn moving_and_renaming_a_large_folder_downloads_nothing_and_deleting_removes_its_subtree() {
    let emu = start(tenant(12, 1)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = config();
    let sel = DriveSelection::onedrive();
    let first = backup(&repo, &graph, &cfg, &sel).await;
    let drive = first.drives[0].drive.drive_id.clone();
    let root: DriveItem = graph.get(&format!("drives/{drive}/root")).await.unwrap();
    let big = make_folder(&graph, &drive, &root.id, "Big", 60).await;
    let sub = make_folder(&graph, &drive, &big, "Nested", 5).await;
    let dest = make_folder(&graph, &drive, &root.id, "Archive", 1).await;
    let r = backup(&repo, &graph, &cfg, &sel).await;
    assert_eq!(r.files_downloaded(), 66);

    // Move Big (with Nested) under Archive and rename it.
    let _: DriveItem = graph
        .patch_json(
            &format!("drives/{drive}/items/{big}"),
            &json!({"name": "Big 2024", "parentReference": {"id": dest}}),
        )
        .await
        .unwrap();
    let bytes_before = content_bytes(&emu);
    let content_requests = emu
        .state()
        .stats
        .totals()
        .get(&EndpointClass::Content)
        .map_or(0, |c| c.requests);
    let moved = backup(&repo, &graph, &cfg, &sel).await;
    assert_eq!(moved.files_downloaded(), 0);
    assert_eq!(
        content_bytes(&emu),
        bytes_before,
        "no content re-downloaded for a move"
    );
    assert_eq!(
        emu.state()
            .stats
            .totals()
            .get(&EndpointClass::Content)
            .map_or(0, |c| c.requests),
        content_requests
    );
    assert!(
        moved.drives[0].items_updated >= 66,
        "{} records re-pathed",
        moved.drives[0].items_updated
    );
    let snap = snapshot_of(&repo, &moved, &drive).await;
    let tree = tree_of(&repo, &snap).await;
    assert_eq!(tree, truth(&emu, &drive));
    assert!(tree.contains_key("Archive/Big 2024/Nested/file 4.txt"));
    assert!(!tree.keys().any(|k| k.starts_with("Big/")));

    // Delete the moved folder: its whole subtree leaves the snapshot.
    graph
        .delete(&format!("drives/{drive}/items/{big}"))
        .await
        .unwrap();
    let deleted = backup(&repo, &graph, &cfg, &sel).await;
    assert!(
        deleted.drives[0].items_deleted >= 67,
        "{}",
        deleted.drives[0].items_deleted
    );
    let snap = snapshot_of(&repo, &deleted, &drive).await;
    let tree = tree_of(&repo, &snap).await;
    assert_eq!(tree, truth(&emu, &drive));
    assert!(!tree.keys().any(|k| k.contains("Big 2024")));
    let ids: Vec<String> = futures::TryStreamExt::try_collect::<Vec<_>>(snap.items())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(
        !ids.iter().any(|i| i.ends_with(&sub)),
        "nested folder record gone"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn expired_delta_token_resyncs_without_downloading_unchanged_files() {
    let emu = start(tenant(13, 1)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = config();
    let sel = DriveSelection::onedrive();
    let first = backup(&repo, &graph, &cfg, &sel).await;
    let drive = first.drives[0].drive.drive_id.clone();
    let act = admin(
        &emu,
        "/_emulator/drive/activity",
        json!({"drive": drive, "new": 1, "modify": 1, "rename": 1, "move": 0, "delete": 2}),
    )
    .await;
    admin(
        &emu,
        "/_emulator/drive/expire-delta",
        json!({"drive": drive}),
    )
    .await;
    let second = backup(&repo, &graph, &cfg, &sel).await;
    let d = &second.drives[0];
    assert!(d.resynced, "410 seen and handled");
    assert_eq!(
        d.files_downloaded,
        act["created"].as_u64().unwrap() + act["modified"].as_u64().unwrap(),
        "{act}"
    );
    let snap = snapshot_of(&repo, &second, &drive).await;
    assert_eq!(
        tree_of(&repo, &snap).await,
        truth(&emu, &drive),
        "deleted files are gone after the resync"
    );
    // And the next run continues incrementally from the new token.
    let third = backup(&repo, &graph, &cfg, &sel).await;
    assert!(!third.drives[0].resynced);
    assert_eq!(third.files_downloaded(), 0);
    emu.shutdown().await;
}

#[tokio::test]
async fn content_that_does_not_match_its_quickxorhash_is_a_failed_item() {
    let emu = start(tenant(14, 1)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = config();
    let sel = DriveSelection::onedrive();
    let drive = tenantvault_workloads::drive::onedrives(&graph, &sel)
        .await
        .unwrap()
        .0[0]
        .drive_id
        .clone();
    let root: DriveItem = graph.get(&format!("drives/{drive}/root")).await.unwrap();
    let good: DriveItem = graph
        .put_bytes(
            &format!("drives/{drive}/items/{}:/good.txt:/content", root.id),
            bytes::Bytes::from_static(b"good bytes"),
            "text/plain",
        )
        .await
        .unwrap();
    let bad: DriveItem = graph
        .put_bytes(
            &format!("drives/{drive}/items/{}:/bad.txt:/content", root.id),
            bytes::Bytes::from_static(b"original bytes"),
            "text/plain",
        )
        .await
        .unwrap();
    assert!(
        bad.file
            .as_ref()
            .and_then(|f| f.hashes.as_ref())
            .and_then(|h| h.quick_xor_hash.as_ref())
            .is_some()
    );
    // Silent corruption on the server side: the bytes change, the published hash does not.
    {
        let ds = drive_state(emu.state());
        let mut store = ds.store.write();
        let d = store.drive_mut(&drive).unwrap();
        let idx = d.find(&bad.id).unwrap();
        if let Kind::File { content, .. } = &mut d.items[idx as usize].kind {
            content.source = Source::Stored(bytes::Bytes::from_static(b"tampered bytes"));
        } else {
            panic!("not a file");
        }
    }
    let r = tenantvault_workloads::drive::backup(&repo, &graph, &cfg, &sel, None)
        .await
        .unwrap();
    let d = &r.drives[0];
    assert_eq!(d.failures.len(), 1, "{:?}", d.failures);
    assert_eq!(d.failures[0].item_id, format!("f:{}", bad.id));
    assert!(
        d.failures[0].reason.contains("quickXorHash mismatch"),
        "{}",
        d.failures[0].reason
    );
    let snap = repo.snapshot(d.snapshot.as_ref().unwrap()).await.unwrap();
    assert_eq!(
        snap.failures().len(),
        1,
        "the restore point says what failed"
    );
    assert!(
        snap.item(&format!("f:{}", bad.id)).await.unwrap().is_none(),
        "never stored silently"
    );
    assert!(
        snap.item(&format!("f:{}", good.id))
            .await
            .unwrap()
            .is_some()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn injected_faults_give_the_same_snapshot_content_as_a_clean_run() {
    let cfg = config();
    let sel = DriveSelection::onedrive();
    let clean = {
        let emu = start(tenant(15, 2)).await;
        let graph = graph(&emu);
        let dir = tempfile::tempdir().unwrap();
        let repo = new_repo(dir.path()).await;
        let r = backup(&repo, &graph, &cfg, &sel).await;
        let mut out = Vec::new();
        for d in &r.drives {
            out.push(dump(&repo, &snapshot_of(&repo, &r, &d.drive.drive_id).await).await);
        }
        emu.shutdown().await;
        out
    };
    let mut t = tenant(15, 2);
    t.faults = FaultConfig {
        rate: 0.1,
        classes: vec![
            EndpointClass::Drive,
            EndpointClass::Content,
            EndpointClass::Directory,
        ],
        kinds: vec![
            FaultKind::Status500,
            FaultKind::Status503,
            FaultKind::Reset,
            FaultKind::Truncate,
            FaultKind::Status504,
        ],
    };
    let emu = start(t).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let r = backup(&repo, &graph, &cfg, &sel).await;
    assert_eq!(r.failures(), 0, "faults are retried");
    let faults: u64 = emu.state().stats.totals().values().map(|c| c.faults).sum();
    assert!(faults > 3, "{faults} faults injected");
    let mut got = Vec::new();
    for d in &r.drives {
        got.push(dump(&repo, &snapshot_of(&repo, &r, &d.drive.drive_id).await).await);
    }
    assert_eq!(got, clean);
    emu.shutdown().await;
}
