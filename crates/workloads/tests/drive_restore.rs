//! Restore and export of drive snapshots against the emulator: round trips (content and
//! `fileSystemInfo` timestamps), upload sessions with faults, conflicts, another user's drive,
//! and export of hostile names.

#[path = "drive_common.rs"]
mod common;

use std::collections::BTreeMap;

use common::*;
use tenantvault_emulator::drive::drive_state;
use tenantvault_emulator::{EndpointClass, FaultConfig, FaultKind};
use tenantvault_graph::DriveItem;
use tenantvault_repo::{BackupMode, BackupOptions, ItemMeta, OwnerRef};
use tenantvault_workloads::drive::{
    Conflict, DriveSelection, ExportOptions, RestoreOptions, RestoreTarget, export, restore,
};

/// `path → (fs created, fs modified)` of a drive's live files, from the emulator.
fn fs_times(
    emu: &tenantvault_emulator::Emulator,
    drive: &str,
) -> BTreeMap<String, (String, String)> {
    let ds = drive_state(emu.state());
    let store = ds.store.read();
    let d = store.drive(drive).unwrap();
    (1..d.items.len() as u32)
        .filter(|&i| d.item(i).deleted.is_none() && !d.item(i).is_folder())
        .map(|i| {
            let it = d.item(i);
            (
                d.path_of(i).trim_start_matches('/').to_string(),
                (
                    it.fs_created.timestamp().to_string(),
                    it.fs_modified.timestamp().to_string(),
                ),
            )
        })
        .collect()
}

fn under(
    map: &BTreeMap<String, Option<Vec<u8>>>,
    prefix: &str,
) -> BTreeMap<String, Option<Vec<u8>>> {
    map.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&format!("{prefix}/"))
                .map(|r| (r.to_string(), v.clone()))
        })
        .collect()
}

#[tokio::test]
async fn whole_drive_round_trip_through_put_and_upload_sessions_with_faults() {
    let emu = start(tenant(21, 1)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let r = backup(&repo, &graph, &config(), &DriveSelection::onedrive()).await;
    let drive = r.drives[0].drive.drive_id.clone();
    let snap = repo
        .snapshot(r.drives[0].snapshot.as_ref().unwrap())
        .await
        .unwrap();
    let backed_up = tree_of(&repo, &snap).await;
    assert!(
        backed_up.values().flatten().any(|c| c.len() > 3 << 20),
        "the drive has a multi-MB file"
    );
    let times_before = fs_times(&emu, &drive);

    // Faults on upload URLs (and the rest of the drive API) while restoring.
    emu.state().faults.set(FaultConfig {
        rate: 0.15,
        classes: vec![EndpointClass::Content],
        kinds: vec![FaultKind::Status500, FaultKind::Status503, FaultKind::Reset],
    });
    let opts = RestoreOptions {
        target: RestoreTarget::NewFolder(Some("Restored".into())),
        small_file_limit: 1 << 20,
        chunk_size: 327_680,
        ..RestoreOptions::default()
    };
    let rep = restore(&repo, &graph, &snap, &opts).await.unwrap();
    emu.state().faults.set(FaultConfig::default());
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert!(
        rep.large_files >= 1,
        "the large file went through an upload session"
    );
    assert_eq!(rep.folder, "Restored");
    let after = truth(&emu, &drive);
    assert_eq!(
        under(&after, "Restored"),
        backed_up,
        "restored tree = backed-up tree"
    );
    let times_after = fs_times(&emu, &drive);
    for (path, t) in &times_before {
        assert_eq!(
            times_after.get(&format!("Restored/{path}")),
            Some(t),
            "fileSystemInfo of {path}"
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn conflicts_skip_replace_rename_and_restore_into_another_users_drive() {
    let emu = start(tenant(22, 2)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let r = backup(&repo, &graph, &config(), &DriveSelection::onedrive()).await;
    assert!(r.drives.len() >= 2);
    let drive = r.drives[0].drive.drive_id.clone();
    let other = r.drives[1].drive.drive_id.clone();
    let snap = repo
        .snapshot(r.drives[0].snapshot.as_ref().unwrap())
        .await
        .unwrap();
    let backed_up = tree_of(&repo, &snap).await;
    let (file, content) = backed_up
        .iter()
        .find(|(k, v)| v.as_ref().is_some_and(|c| c.len() < 100_000) && k.contains('/'))
        .map(|(k, v)| (k.clone(), v.clone().unwrap()))
        .expect("a small file in a folder");

    // Change the file in the tenant, then restore it in place.
    let item: DriveItem = graph
        .get(&format!("drives/{drive}/root:/{file}"))
        .await
        .unwrap();
    let _: DriveItem = graph
        .put_bytes(
            &format!("drives/{drive}/items/{}/content", item.id),
            bytes::Bytes::from_static(b"changed"),
            "text/plain",
        )
        .await
        .unwrap();
    let in_place = |conflict| RestoreOptions {
        path: file.clone(),
        target: RestoreTarget::Original,
        conflict,
        ..RestoreOptions::default()
    };
    let skip = restore(&repo, &graph, &snap, &in_place(Conflict::Skip))
        .await
        .unwrap();
    assert_eq!((skip.files, skip.skipped.clone()), (0, vec![file.clone()]));
    assert_eq!(
        truth(&emu, &drive)[&file],
        Some(b"changed".to_vec()),
        "skip leaves the file alone"
    );
    let replace = restore(&repo, &graph, &snap, &in_place(Conflict::Replace))
        .await
        .unwrap();
    assert_eq!(replace.files, 1);
    assert_eq!(
        truth(&emu, &drive)[&file],
        Some(content.clone()),
        "replace puts the backed-up bytes back"
    );
    let rename = restore(&repo, &graph, &snap, &in_place(Conflict::Rename))
        .await
        .unwrap();
    assert_eq!(rename.files, 1);
    let now = truth(&emu, &drive);
    let copies = now
        .iter()
        .filter(|(_, v)| v.as_ref() == Some(&content))
        .count();
    assert!(copies >= 2, "rename keeps both");

    // A folder into the other user's OneDrive.
    let folder = file.rsplit_once('/').unwrap().0.to_string();
    let to_other = RestoreOptions {
        path: folder.clone(),
        target: RestoreTarget::Drive {
            drive_id: other.clone(),
            folder: Some("From colleague".into()),
        },
        ..RestoreOptions::default()
    };
    let rep = restore(&repo, &graph, &snap, &to_other).await.unwrap();
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    let leaf = folder.rsplit('/').next().unwrap();
    let got = under(&truth(&emu, &other), &format!("From colleague/{leaf}"));
    let want = under(&backed_up, &folder);
    assert_eq!(got, want);

    // Bad input changes nothing.
    let missing = RestoreOptions {
        path: "no/such/thing".into(),
        ..RestoreOptions::default()
    };
    let before = truth(&emu, &drive);
    assert!(restore(&repo, &graph, &snap, &missing).await.is_err());
    assert_eq!(truth(&emu, &drive), before);
    emu.shutdown().await;
}

#[tokio::test]
async fn export_makes_hostile_names_safe_and_never_leaves_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    // A snapshot as a hostile or broken tenant could produce it.
    let mut s = repo
        .begin_backup(
            OwnerRef::new("drive", "b!hostile"),
            BackupOptions {
                mode: BackupMode::Full,
                ..BackupOptions::default()
            },
        )
        .await
        .unwrap();
    let folder = |id: &str, path: &str, name: &str, parent: &str| {
        let mut attrs = BTreeMap::new();
        attrs.insert("itemId".to_string(), id.to_string());
        attrs.insert("parentId".to_string(), parent.to_string());
        if name.is_empty() {
            attrs.insert("root".to_string(), "true".to_string());
        }
        ItemMeta {
            id: format!("d:{id}"),
            kind: "folder".into(),
            path: path.into(),
            name: name.into(),
            attrs,
            ..ItemMeta::default()
        }
    };
    let file = |id: &str, path: &str, name: &str| ItemMeta {
        id: format!("f:{id}"),
        kind: "file".into(),
        path: path.into(),
        name: name.into(),
        ..ItemMeta::default()
    };
    s.put_item(folder("R", "", "", ""), &b""[..]).await.unwrap();
    s.put_item(folder("P", "", "..", "R"), &b""[..])
        .await
        .unwrap();
    let long = "x".repeat(400);
    let hostile = [
        "../../escape.txt",
        "a\\..\\b.txt",
        "CON",
        "nul.txt",
        "trailing...",
        "nul\0byte",
        long.as_str(),
        "ok.txt",
        "OK.txt",
    ];
    for (i, name) in hostile.iter().enumerate() {
        let n = tenantvault_workloads::drive::layout::escape_segment(name);
        s.put_item(
            file(&format!("F{i}"), "", name),
            format!("body {i} {n}").as_bytes(),
        )
        .await
        .unwrap();
    }
    s.put_item(
        file("IN", "..", "inside.txt"),
        &b"in the dot-dot folder"[..],
    )
    .await
    .unwrap();
    let summary = s.commit(serde_json::json!({})).await.unwrap();
    let snap = repo.snapshot(&summary.id.0).await.unwrap();

    let target = dir.path().join("out");
    let rep = export(&repo, &snap, &target, &ExportOptions::default())
        .await
        .unwrap();
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!(rep.files, hostile.len() as u64 + 1);
    assert!(rep.renamed.len() >= 8, "{:?}", rep.renamed);
    // Everything is inside the target, one level of files plus the renamed `..` folder.
    let mut count = 0;
    for e in walk(&target) {
        assert!(e.starts_with(&target));
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name.len() <= 240 && !name.contains('\\') && name != ".." && !name.ends_with('.'),
            "{name}"
        );
        count += 1;
    }
    assert_eq!(count, hostile.len() + 2);
    assert!(!dir.path().join("escape.txt").exists());
    assert_eq!(
        std::fs::read(target.join("_").join("inside.txt")).unwrap(),
        b"in the dot-dot folder"
    );
    // A non-empty target is refused, and nothing is written.
    assert!(
        export(&repo, &snap, &target, &ExportOptions::default())
            .await
            .is_err()
    );
    // One folder only.
    let sub = dir.path().join("sub");
    let rep = export(
        &repo,
        &snap,
        &sub,
        &ExportOptions {
            folder: "..".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!((rep.files, rep.folders), (1, 1));
    assert!(sub.join("_").join("inside.txt").exists());
    assert!(
        export(
            &repo,
            &snap,
            &dir.path().join("none"),
            &ExportOptions {
                folder: "nope".into()
            }
        )
        .await
        .is_err()
    );
}

fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() {
            out.extend(walk(&e));
        }
        out.push(e);
    }
    out
}
