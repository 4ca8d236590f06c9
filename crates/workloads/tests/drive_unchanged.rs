//! An unchanged incremental: it commits the same item lists as its parent (content-addressed,
//! so nothing new is stored), and change detection recognises that without merging two decoded
//! snapshots — with the same statistics the merge gives (every item kept, nothing changed).

#[path = "drive_common.rs"]
mod common;

use std::collections::BTreeSet;

use common::*;
use futures::TryStreamExt;
use tenantvault_repo::ItemRecord;
use tenantvault_workloads::detect::ChangeStats;
use tenantvault_workloads::detect::stats::compute;
use tenantvault_workloads::drive::DriveSelection;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_incremental_reuses_item_lists_and_detects_no_change() {
    let emu = start(tenant(61, 1)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let sel = DriveSelection::onedrive();
    let first = backup(&repo, &graph, &config(), &sel).await;
    let again = backup(&repo, &graph, &config(), &sel).await;
    assert_eq!(again.files_downloaded(), 0);
    let a = repo
        .snapshot(first.drives[0].snapshot.as_deref().unwrap())
        .await
        .unwrap();
    let b = repo
        .snapshot(again.drives[0].snapshot.as_deref().unwrap())
        .await
        .unwrap();
    let ids = |s: &tenantvault_repo::Snapshot| s.lists().iter().map(|l| l.id).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b), "an unchanged run commits the same lists");

    let files = b
        .items()
        .try_collect::<Vec<ItemRecord>>()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.kind == "file")
        .count() as u64;
    assert!(files >= 5);
    let st = compute(&repo, Some(&a), &b, &BTreeSet::new())
        .await
        .unwrap();
    let want = ChangeStats {
        version: 1,
        workload: st.workload.clone(),
        owner: st.owner.clone(),
        snapshot: b.id().0.clone(),
        previous: Some(a.id().0.clone()),
        time: b.summary().time,
        items_before: files,
        items_after: files,
        ..ChangeStats::default()
    };
    assert_eq!(st, want);

    // One changed file: the lists differ and the merge sees exactly that change.
    let drive = first.drives[0].drive.drive_id.clone();
    let victim = b
        .items()
        .try_collect::<Vec<ItemRecord>>()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.kind == "file" && r.size > 0 && r.size < 1_000_000)
        .unwrap();
    let gid = victim
        .attrs
        .get("itemId")
        .cloned()
        .unwrap_or_else(|| victim.id[2..].to_string());
    let _: tenantvault_graph::DriveItem = graph
        .put_bytes(
            &format!("drives/{drive}/items/{gid}/content"),
            bytes::Bytes::from_static(b"changed content"),
            "text/plain",
        )
        .await
        .unwrap();
    let third = backup(&repo, &graph, &config(), &sel).await;
    let c = repo
        .snapshot(third.drives[0].snapshot.as_deref().unwrap())
        .await
        .unwrap();
    assert_ne!(ids(&b), ids(&c));
    let st = compute(&repo, Some(&b), &c, &BTreeSet::new())
        .await
        .unwrap();
    assert_eq!(
        (st.items_before, st.items_after, st.modified),
        (files, files, 1)
    );
    emu.shutdown().await;
}
