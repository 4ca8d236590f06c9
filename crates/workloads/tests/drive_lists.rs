//! SharePoint lists: `backup sharepoint` stores every site's lists and list items (fields
//! included) beside its libraries, an unchanged list stores nothing new, a changed item is
//! stored again, and an export writes one JSON file per item.

#[path = "drive_common.rs"]
mod common;

use std::collections::BTreeMap;

use common::*;
use futures::TryStreamExt;
use serde_json::{Map, Value};
use tenantvault_emulator::Emulator;
use tenantvault_emulator::drive::drive_state;
use tenantvault_repo::{ItemRecord, Repository, Snapshot};
use tenantvault_workloads::drive::{DriveBackupReport, DriveSelection, export_lists};

/// (list id, item id) → fields.
type Items = BTreeMap<(String, String), Map<String, Value>>;

/// The emulator's generic lists: site id → items.
fn truth(emu: &Emulator) -> BTreeMap<String, Items> {
    let ds = drive_state(emu.state());
    let store = ds.store.read();
    let mut out = BTreeMap::new();
    for site in &store.sites {
        let mut items = BTreeMap::new();
        for l in site
            .lists
            .iter()
            .filter(|l| l.template != "documentLibrary")
        {
            for it in &l.items {
                items.insert((l.id.clone(), it.id.to_string()), it.fields.clone());
            }
        }
        out.insert(site.id.clone(), items);
    }
    out
}

async fn stored(
    repo: &Repository,
    snap: &Snapshot,
) -> BTreeMap<(String, String), Map<String, Value>> {
    let recs: Vec<ItemRecord> = snap.items().try_collect().await.unwrap();
    let mut out = BTreeMap::new();
    for r in recs.iter().filter(|r| r.kind == "listItem") {
        let body: Vec<bytes::Bytes> = repo.content_stream(r).try_collect().await.unwrap();
        let v: Value = serde_json::from_slice(&body.concat()).unwrap();
        let fields = v["fields"].as_object().cloned().unwrap_or_default();
        out.insert(
            (r.attrs["listId"].clone(), r.attrs["itemId"].clone()),
            fields,
        );
    }
    out
}

async fn check(repo: &Repository, emu: &Emulator, r: &DriveBackupReport) {
    let want = truth(emu);
    assert!(!r.lists.is_empty());
    for l in &r.lists {
        assert!(l.error.is_none() && l.failures.is_empty(), "{l:?}");
        let snap = repo.snapshot(l.snapshot.as_ref().unwrap()).await.unwrap();
        assert_eq!(snap.summary().owner.workload, "sitelists");
        let got = stored(repo, &snap).await;
        let mut expected = want[&l.site_id].clone();
        // `fields` as Graph returns them also carry the item's id and eTag-like extras; the
        // emulator's stored fields must all be there with the same values.
        for (k, f) in &got {
            let w = expected
                .remove(k)
                .unwrap_or_else(|| panic!("unexpected item {k:?}"));
            for (name, v) in &w {
                assert_eq!(f.get(name), Some(v), "item {k:?} field {name}");
            }
        }
        assert!(
            expected.is_empty(),
            "items not backed up: {:?}",
            expected.keys()
        );
    }
}

#[tokio::test]
async fn site_lists_are_backed_up_incrementally_and_exported() {
    let mut t = tenant(61, 1);
    t.drive.list_items = 6;
    t.drive.sites = 1;
    let emu = start(t).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let sel = DriveSelection::sharepoint();
    let first = backup(&repo, &graph, &config(), &sel).await;
    check(&repo, &emu, &first).await;
    let total: u64 = first.lists.iter().map(|l| l.items_stored).sum();
    assert!(total >= 6, "{:?}", first.lists);

    // Unchanged: nothing stored again.
    let second = backup(&repo, &graph, &config(), &sel).await;
    assert_eq!(second.lists.iter().map(|l| l.items_stored).sum::<u64>(), 0);
    assert_eq!(
        second.lists.iter().map(|l| l.items_unchanged).sum::<u64>(),
        total
    );

    // One item changes, one disappears.
    let (site, list, changed, gone) = {
        let ds = drive_state(emu.state());
        let mut store = ds.store.write();
        let site = store
            .sites
            .iter_mut()
            .find(|s| {
                s.lists
                    .iter()
                    .any(|l| l.template != "documentLibrary" && l.items.len() >= 2)
            })
            .expect("a list with items");
        let sid = site.id.clone();
        let l = site
            .lists
            .iter_mut()
            .find(|l| l.template != "documentLibrary" && l.items.len() >= 2)
            .unwrap();
        l.items[0]
            .fields
            .insert("Title".into(), Value::String("Changed title".into()));
        l.items[0].etag_n += 1;
        let gone = l.items.pop().unwrap().id.to_string();
        (sid, l.id.clone(), l.items[0].id.to_string(), gone)
    };
    let third = backup(&repo, &graph, &config(), &sel).await;
    check(&repo, &emu, &third).await;
    let l3 = third.lists.iter().find(|l| l.site_id == site).unwrap();
    assert_eq!(l3.items_stored, 1, "only the changed item is stored again");
    let snap = repo.snapshot(l3.snapshot.as_ref().unwrap()).await.unwrap();
    let got = stored(&repo, &snap).await;
    assert_eq!(
        got[&(list.clone(), changed.clone())]["Title"],
        Value::String("Changed title".into())
    );
    assert!(!got.contains_key(&(list.clone(), gone)));

    // Export: one directory per list, one JSON file per item.
    let target = dir.path().join("lists-export");
    let ex = export_lists(&repo, &snap, &target).await.unwrap();
    assert_eq!(ex.items as usize, got.len());
    let files: Vec<_> = walkdir(&target);
    assert_eq!(
        files.iter().filter(|p| p.ends_with("_list.json")).count() as u64,
        ex.lists
    );
    let changed_file = files
        .iter()
        .find(|p| p.file_name().unwrap() == format!("{changed}.json").as_str())
        .expect("changed item exported");
    let v: Value = serde_json::from_slice(&std::fs::read(changed_file).unwrap()).unwrap();
    assert_eq!(v["fields"]["Title"], "Changed title");
    // A second export into the same (now non-empty) directory is refused.
    assert!(export_lists(&repo, &snap, &target).await.is_err());
    emu.shutdown().await;
}

fn walkdir(p: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() {
            out.extend(walkdir(&e));
        } else {
            out.push(e);
        }
    }
    out
}
