//! Checkpoint cost of a large first backup: a checkpoint re-writes the whole item list, so the
//! interval grows with the items already committed — the number of checkpoints stays
//! logarithmic in the drive size and the records they write together stay linear (a fixed
//! interval of `k` items writes N/k checkpoints and ~N²/2k records).

#[path = "drive_common.rs"]
mod common;

use std::time::Duration;

use common::*;
use tenantvault_emulator::EmulatorConfig;
use tenantvault_emulator::drive::DriveConfig;
use tenantvault_repo::SnapshotFilter;
use tenantvault_workloads::drive::{DriveBackupConfig, DriveSelection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_of_a_first_backup_grow_logarithmically() {
    let mut t = EmulatorConfig {
        seed: 4242,
        users: 1,
        drive: DriveConfig {
            files_per_drive: 1500,
            folders_per_drive: 12,
            versioned_rate: 0.0,
            large_files: 0,
            sites: 0,
            small_file_bytes: Some(128),
            ..DriveConfig::default()
        },
        ..EmulatorConfig::default()
    };
    t.throttling.enabled = false;
    let emu = start(t).await;
    let graph = graph_with(&emu, |c| c.limits.resource_units_per_window = 10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let min = 10u64;
    let cfg = DriveBackupConfig {
        page_size: 50,
        permissions: false,
        checkpoint_items: min,
        // Only the item rule: the test counts, it does not time.
        checkpoint_interval: Duration::from_secs(3600),
        ..DriveBackupConfig::default()
    };
    let report = backup(&repo, &graph, &cfg, &DriveSelection::onedrive()).await;
    let d = &report.drives[0];
    let snap = d.snapshot.clone().expect("committed");
    let all = repo
        .list_snapshots(SnapshotFilter {
            include_partial: true,
            ..SnapshotFilter::default()
        })
        .await
        .unwrap();
    let final_items = all
        .iter()
        .find(|s| s.id.0 == snap)
        .expect("final snapshot")
        .stats
        .items;
    let partial: Vec<u64> = all
        .iter()
        .filter(|s| !s.complete)
        .map(|s| s.stats.items)
        .collect();
    assert!(final_items >= 700, "a drive of {final_items} items");
    assert_eq!(
        partial.len() as u64,
        d.checkpoints,
        "the report counts them"
    );
    // Item counts of successive checkpoints grow by ≥ 4/3 once past 4 × min: at most 4 of
    // size ~min·k, then log_{4/3}(N / 4·min) more, plus one of slack.
    let bound =
        4 + ((final_items as f64 / (4 * min) as f64).ln() / (4f64 / 3.0).ln()).ceil() as u64 + 1;
    assert!(
        d.checkpoints >= 3 && d.checkpoints <= bound,
        "{} checkpoints for {final_items} items (bound {bound}; a fixed interval would write {})",
        d.checkpoints,
        d.delta_items / min
    );
    // What they cost together: linear in the drive, not N²/2·min.
    let written: u64 = partial.iter().sum();
    eprintln!(
        "{final_items} items: {} checkpoints (bound {bound}) wrote {written} records: {partial:?}",
        d.checkpoints
    );
    assert!(
        written <= 5 * final_items,
        "checkpoints wrote {written} records for a {final_items}-item drive: {partial:?}"
    );
    emu.shutdown().await;
}
