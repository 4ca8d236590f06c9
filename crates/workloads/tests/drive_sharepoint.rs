//! SharePoint and sharing restores against the emulator: list items recreated into a new list
//! (with the stored columns) or into the original list, read-only fields never sent; the
//! "Site Pages" library backed up and restored like any library; sharing permissions
//! re-created on restore; a ZIP export of hostile names that round-trips the content.

#[path = "drive_common.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::Read;

use common::*;
use serde_json::{Map, Value, json};
use tenantvault_emulator::Emulator;
use tenantvault_emulator::drive::drive_state;
use tenantvault_graph::DriveItem;
use tenantvault_repo::{BackupMode, BackupOptions, ItemMeta, OwnerRef};
use tenantvault_workloads::drive::{
    DriveSelection, ExportOptions, ListTarget, ListsRestoreError, ListsRestoreOptions,
    RestoreOptions, RestoreTarget, export_zip, restore, restore_lists,
};

/// Writable fields the emulator's generated Tasks items carry.
const WRITABLE: &[&str] = &[
    "Title",
    "Status",
    "PercentComplete",
    "DueDate",
    "AssignedToLookupId",
];

/// Items of the list named `name` on site `site`, by item id.
fn list_items(emu: &Emulator, site: &str, name: &str) -> Option<Vec<(u32, Map<String, Value>)>> {
    let ds = drive_state(emu.state());
    let store = ds.store.read();
    let s = store.sites.iter().find(|s| s.id == site)?;
    let l = s.lists.iter().find(|l| l.display_name == name)?;
    Some(l.items.iter().map(|i| (i.id, i.fields.clone())).collect())
}

fn writable(f: &Map<String, Value>) -> BTreeMap<String, Value> {
    WRITABLE
        .iter()
        .filter_map(|k| f.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

#[tokio::test]
async fn list_items_restore_into_a_new_list_and_into_the_original() {
    let mut t = tenant(71, 1);
    t.drive.list_items = 5;
    t.drive.sites = 1;
    let emu = start(t).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let r = backup(&repo, &graph, &config(), &DriveSelection::sharepoint()).await;
    let l = r
        .lists
        .iter()
        .find(|l| l.items_stored >= 5)
        .expect("a site with a Tasks list");
    let site = l.site_id.clone();
    let snap = repo.snapshot(l.snapshot.as_ref().unwrap()).await.unwrap();
    let original = list_items(&emu, &site, "Tasks").unwrap();

    // Into a new list: same writable values, system fields left out (the emulator answers
    // 400 for any read-only field, so a single one sent would fail the item).
    let rep = restore_lists(
        &repo,
        &graph,
        &snap,
        &ListsRestoreOptions {
            list: Some("tasks".into()),
            item: None,
            target: ListTarget::NewList(Some("Tasks restored".into())),
        },
    )
    .await
    .unwrap();
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!(rep.items, original.len() as u64);
    assert!(rep.lists[0].created);
    for f in ["Created", "Modified", "@odata.etag", "id", "Attachments"] {
        assert!(
            rep.skipped_fields.contains(f),
            "{f}: {:?}",
            rep.skipped_fields
        );
    }
    let restored = list_items(&emu, &site, "Tasks restored").expect("new list");
    let want: Vec<_> = original.iter().map(|(_, f)| writable(f)).collect();
    let got: Vec<_> = restored.iter().map(|(_, f)| writable(f)).collect();
    assert_eq!(got, want);
    assert!(want.iter().all(|w| w.len() == WRITABLE.len()));

    // One item back into the original list: a new item with its values.
    let before = list_items(&emu, &site, "Tasks").unwrap();
    let rep = restore_lists(
        &repo,
        &graph,
        &snap,
        &ListsRestoreOptions {
            list: Some("Tasks".into()),
            item: Some("2".into()),
            target: ListTarget::Original,
        },
    )
    .await
    .unwrap();
    assert_eq!(rep.items, 1, "{rep:?}");
    let after = list_items(&emu, &site, "Tasks").unwrap();
    assert_eq!(after.len(), before.len() + 1);
    let (new_id, new_fields) = after.last().unwrap();
    assert_eq!(
        rep.lists[0].items,
        vec![("2".to_string(), new_id.to_string())]
    );
    assert_eq!(writable(new_fields), writable(&original[1].1));

    // Bad selections change nothing.
    for (list, item) in [(Some("Nope"), None), (Some("Tasks"), Some("999"))] {
        let e = restore_lists(
            &repo,
            &graph,
            &snap,
            &ListsRestoreOptions {
                list: list.map(str::to_string),
                item: item.map(str::to_string),
                target: ListTarget::NewList(None),
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ListsRestoreError::NotFound(_)), "{e}");
    }
    assert_eq!(list_items(&emu, &site, "Tasks").unwrap().len(), after.len());
    let lists_now = {
        let ds = drive_state(emu.state());
        let store = ds.store.read();
        store
            .sites
            .iter()
            .find(|s| s.id == site)
            .unwrap()
            .lists
            .len()
    };
    assert_eq!(lists_now, 4, "Documents, Site Pages, Tasks, Tasks restored");
}

#[tokio::test]
async fn site_pages_library_is_backed_up_and_restored() {
    let mut t = tenant(72, 1);
    t.drive.sites = 1;
    let emu = start(t).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let r = backup(&repo, &graph, &config(), &DriveSelection::sharepoint()).await;
    let pages: Vec<_> = r
        .drives
        .iter()
        .filter(|d| d.drive.name == "Site Pages")
        .collect();
    assert!(!pages.is_empty(), "every site has a Site Pages library");
    let d = pages[0];
    let drive = d.drive.drive_id.clone();
    let snap = repo.snapshot(d.snapshot.as_ref().unwrap()).await.unwrap();
    let stored = tree_of(&repo, &snap).await;
    let live = truth(&emu, &drive);
    assert_eq!(stored, live);
    assert!(stored.contains_key("Home.aspx"), "{:?}", stored.keys());
    assert!(String::from_utf8_lossy(stored["Home.aspx"].as_ref().unwrap()).contains("<%@ Page"));

    let rep = restore(
        &repo,
        &graph,
        &snap,
        &RestoreOptions {
            target: RestoreTarget::NewFolder(Some("Pages back".into())),
            ..RestoreOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    let after = truth(&emu, &drive);
    for (path, content) in &live {
        assert_eq!(
            after.get(&format!("Pages back/{path}")),
            Some(content),
            "{path}"
        );
    }
}

/// (kind, who/what, roles) of an item's own permissions, from the emulator.
fn grants_of(emu: &Emulator, drive: &str, path: &str) -> Vec<(String, String, Vec<String>)> {
    let ds = drive_state(emu.state());
    let store = ds.store.read();
    let d = store.drive(drive).unwrap();
    let idx = d
        .resolve_path(0, path)
        .unwrap_or_else(|| panic!("no {path}"));
    let mut v: Vec<_> = d
        .item(idx)
        .permissions
        .iter()
        .filter(|p| !p.roles.contains(&"owner"))
        .map(|p| match (&p.granted_to, p.link) {
            (Some(u), _) => (
                "user".into(),
                u.id.clone(),
                p.roles.iter().map(|r| r.to_string()).collect(),
            ),
            (None, Some((t, s))) => (
                "link".into(),
                format!("{t}/{s}"),
                p.roles.iter().map(|r| r.to_string()).collect(),
            ),
            _ => ("other".into(), String::new(), vec![]),
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn sharing_permissions_are_restored_on_request() {
    let mut t = tenant(73, 3);
    t.drive.large_files = 0;
    t.drive.sites = 0;
    let emu = start(t).await;
    let graph = graph(&emu);
    let sp = graph.sharepoint();
    // The drives a OneDrive backup covers (the emulator also holds drives of users it skips).
    let covered: Vec<String> = {
        let tmp = tempfile::tempdir().unwrap();
        let repo0 = new_repo(tmp.path()).await;
        let r0 = backup(&repo0, &graph, &config(), &DriveSelection::onedrive()).await;
        r0.drives
            .iter()
            .filter(|d| d.snapshot.is_some())
            .map(|d| d.drive.drive_id.clone())
            .collect()
    };
    // A file shared with a colleague (write) and by an organization view link.
    let (drive, file_id, colleague) = {
        let ds = drive_state(emu.state());
        let store = ds.store.read();
        let d = covered.iter().find_map(|id| store.drive(id)).unwrap();
        let idx = (1..d.items.len() as u32)
            .find(|&i| {
                !d.item(i).is_folder()
                    && d.item(i).deleted.is_none()
                    && d.item(i).permissions.is_empty()
            })
            .unwrap();
        let owner = d.item(0).created_by.id.clone();
        let dir = emu.state().directory.read();
        let colleague = dir
            .users
            .iter()
            .find(|u| u.id != owner && u.deleted.is_none())
            .unwrap()
            .id
            .clone();
        (d.id.clone(), d.item(idx).id.clone(), colleague)
    };
    let _: Value = sp
        .post_json(
            &format!("drives/{drive}/items/{file_id}/invite"),
            &json!({"recipients": [{"objectId": colleague}], "roles": ["write"], "requireSignIn": true, "sendInvitation": false}),
        )
        .await
        .unwrap();
    let _: Value = sp
        .post_json(
            &format!("drives/{drive}/items/{file_id}/createLink"),
            &json!({"type": "view", "scope": "organization"}),
        )
        .await
        .unwrap();
    let item: DriveItem = sp
        .get(&format!("drives/{drive}/items/{file_id}"))
        .await
        .unwrap();
    let name = item.name.clone().unwrap();
    let path = {
        let ds = drive_state(emu.state());
        let store = ds.store.read();
        let d = store.drive(&drive).unwrap();
        d.path_of(d.find(&file_id).unwrap())
            .trim_start_matches('/')
            .to_string()
    };
    let want = grants_of(&emu, &drive, &path);
    assert_eq!(want.len(), 2, "{want:?}");

    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let r = backup(&repo, &graph, &config(), &DriveSelection::onedrive()).await;
    let d = r.drives.iter().find(|d| d.drive.drive_id == drive).unwrap();
    let snap = repo.snapshot(d.snapshot.as_ref().unwrap()).await.unwrap();
    let snap_path = path.clone();

    // Without --permissions: the restored copy has none.
    let plain = restore(
        &repo,
        &graph,
        &snap,
        &RestoreOptions {
            path: snap_path.clone(),
            target: RestoreTarget::NewFolder(Some("plain".into())),
            ..RestoreOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((plain.files, plain.permissions_restored), (1, 0));
    assert!(grants_of(&emu, &drive, &format!("plain/{name}")).is_empty());

    let rep = restore(
        &repo,
        &graph,
        &snap,
        &RestoreOptions {
            path: snap_path,
            target: RestoreTarget::NewFolder(Some("with perms".into())),
            permissions: true,
            ..RestoreOptions::default()
        },
    )
    .await
    .unwrap();
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert!(
        rep.permissions_failed.is_empty(),
        "{:?}",
        rep.permissions_failed
    );
    assert_eq!(rep.permissions_restored, 2);
    assert_eq!(grants_of(&emu, &drive, &format!("with perms/{name}")), want);
}

#[tokio::test]
async fn zip_export_of_hostile_names_round_trips_content() {
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let mut s = repo
        .begin_backup(
            OwnerRef::new("drive", "b!zip"),
            BackupOptions {
                mode: BackupMode::Full,
                ..BackupOptions::default()
            },
        )
        .await
        .unwrap();
    let meta = |id: String, kind: &str, path: &str, name: &str| ItemMeta {
        id,
        kind: kind.into(),
        path: path.into(),
        name: name.into(),
        ..ItemMeta::default()
    };
    s.put_item(meta("d:R".into(), "folder", "", ""), &b""[..])
        .await
        .unwrap();
    s.put_item(meta("d:P".into(), "folder", "", ".."), &b""[..])
        .await
        .unwrap();
    let long = "y".repeat(400);
    let hostile = [
        "../../escape.txt",
        "/etc/passwd",
        "a\\..\\b.txt",
        "C:evil.txt",
        "CON",
        "trailing...",
        "nul\0byte",
        long.as_str(),
        "ok.txt",
        "OK.txt",
    ];
    let mut want: Vec<Vec<u8>> = Vec::new();
    for (i, name) in hostile.iter().enumerate() {
        // Content larger than one repository chunk for one entry, so streaming is exercised.
        let body: Vec<u8> = if i == 0 {
            (0..3_000_000u32).map(|n| (n % 251) as u8).collect()
        } else {
            format!("body {i}").into_bytes()
        };
        s.put_item(meta(format!("f:F{i}"), "file", "", name), &body[..])
            .await
            .unwrap();
        want.push(body);
    }
    s.put_item(
        meta("f:IN".into(), "file", "..", "inside.txt"),
        &b"in the dot-dot folder"[..],
    )
    .await
    .unwrap();
    let summary = s.commit(json!({})).await.unwrap();
    let snap = repo.snapshot(&summary.id.0).await.unwrap();

    let zip_path = dir.path().join("out.zip");
    let rep = export_zip(&repo, &snap, &zip_path, &ExportOptions::default())
        .await
        .unwrap();
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!(rep.files, hostile.len() as u64 + 1);
    assert!(rep.renamed.len() >= 7, "{:?}", rep.renamed);
    assert!(!dir.path().join("out.zip.partial").exists());

    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut got: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let name = e.name().to_string();
        assert!(e.enclosed_name().is_some(), "entry {name:?} escapes");
        assert!(
            !name.starts_with('/') && !name.contains('\\') && !name.contains(':'),
            "{name:?}"
        );
        assert!(name.split('/').all(|s| s != ".."), "{name:?}");
        assert!(name.split('/').all(|s| s.len() <= 240), "{name:?}");
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        got.insert(name, buf);
    }
    // Every file's content is in the archive exactly once, under its reported name.
    for (i, name) in hostile.iter().enumerate() {
        let written = rep
            .renamed
            .iter()
            .find(|r| r.original == *name)
            .map_or(name.to_string(), |r| r.written.clone());
        assert_eq!(got.get(&written), Some(&want[i]), "{name:?} -> {written:?}");
    }
    assert_eq!(
        got.get("_/inside.txt").map(Vec::as_slice),
        Some(&b"in the dot-dot folder"[..])
    );
    assert!(
        got.contains_key("_/"),
        "the renamed folder is an entry: {:?}",
        got.keys()
    );
    // An existing file is refused and left as it was.
    let e = export_zip(&repo, &snap, &zip_path, &ExportOptions::default()).await;
    assert!(e.is_err());
    assert!(zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).is_ok());
}
