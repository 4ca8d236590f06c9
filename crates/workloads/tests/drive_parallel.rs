//! Parallel downloads within a drive give exactly the snapshots of one-at-a-time downloads
//! of the same tenant: with injected faults, frequent checkpoints, and an incremental run
//! with new, modified, moved and deleted files.

#[path = "drive_common.rs"]
mod common;

use common::*;
use serde_json::json;
use tenantvault_emulator::{EndpointClass, FaultConfig, FaultKind};
use tenantvault_repo::Repository;
use tenantvault_workloads::drive::{DriveBackupConfig, DriveBackupReport, DriveSelection};

type Dump = std::collections::BTreeMap<
    String,
    (
        String,
        String,
        Vec<u8>,
        std::collections::BTreeMap<String, String>,
    ),
>;

async fn dumps(repo: &Repository, r: &DriveBackupReport) -> Vec<(String, Dump)> {
    let mut out = Vec::new();
    for d in &r.drives {
        let snap = repo
            .snapshot(d.snapshot.as_ref().expect("snapshot"))
            .await
            .unwrap();
        out.push((d.drive.drive_id.clone(), dump(repo, &snap).await));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn assert_same(par: &[(String, Dump)], seq: &[(String, Dump)], what: &str) {
    assert_eq!(par.len(), seq.len(), "{what}: drives");
    for ((pd, p), (sd, s)) in par.iter().zip(seq) {
        assert_eq!(pd, sd);
        let differ: Vec<&String> = p
            .keys()
            .chain(s.keys())
            .filter(|k| p.get(*k) != s.get(*k))
            .collect();
        assert!(
            differ.is_empty(),
            "{what}: drive {pd} differs at {differ:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_downloads_store_what_sequential_downloads_store() {
    let mut t = tenant(41, 2);
    t.drive.files_per_drive = 40;
    t.drive.versioned_rate = 0.0;
    t.faults = FaultConfig {
        rate: 0.1,
        classes: vec![EndpointClass::Drive, EndpointClass::Content],
        kinds: vec![
            FaultKind::Status500,
            FaultKind::Status504,
            FaultKind::Reset,
            FaultKind::Truncate,
        ],
    };
    let emu = start(t).await;
    // One client per run: each has its own resource-unit budget, as separate runs would.
    let (seq_graph, par_graph) = (graph(&emu), graph(&emu));
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (seq_repo, par_repo) = (new_repo(d1.path()).await, new_repo(d2.path()).await);
    let seq = DriveBackupConfig {
        parallel_downloads: 1,
        ..config()
    };
    let par = DriveBackupConfig {
        parallel_downloads: 8,
        checkpoint_items: 12,
        ..config()
    };
    let sel = DriveSelection::onedrive();

    let s1 = backup(&seq_repo, &seq_graph, &seq, &sel).await;
    let p1 = backup(&par_repo, &par_graph, &par, &sel).await;
    eprintln!(
        "full: sequential {:?}, parallel {:?}",
        s1.elapsed, p1.elapsed
    );
    assert_eq!(p1.failures() + s1.failures(), 0, "faults are retried");
    assert!(p1.files_downloaded() >= 40);
    assert!(p1.drives.iter().map(|d| d.checkpoints).sum::<u64>() > 2);
    assert_same(
        &dumps(&par_repo, &p1).await,
        &dumps(&seq_repo, &s1).await,
        "full",
    );

    admin(
        &emu,
        "/_emulator/drive/activity",
        json!({"days": 1, "new": 6, "modify": 6, "rename": 2, "move": 2, "delete": 4}),
    )
    .await;
    let s2 = backup(&seq_repo, &seq_graph, &seq, &sel).await;
    let p2 = backup(&par_repo, &par_graph, &par, &sel).await;
    eprintln!(
        "incremental: sequential {:?}, parallel {:?}",
        s2.elapsed, p2.elapsed
    );
    assert_eq!(p2.failures() + s2.failures(), 0);
    assert!(p2.files_downloaded() > 0);
    assert_same(
        &dumps(&par_repo, &p2).await,
        &dumps(&seq_repo, &s2).await,
        "incremental",
    );
    let faults: u64 = emu.state().stats.totals().values().map(|c| c.faults).sum();
    assert!(faults > 3, "{faults} faults injected");
    emu.shutdown().await;
}
