//! Drive backup figures on the emulator (not a CI test: `#[ignore]`, no timed assertions).
//!
//! ```text
//! DRIVE_BENCH_FILES=100000 cargo test --release -p tenantvault-workloads --test drive_bench -- --ignored --nocapture
//! ```
//! `DRIVE_BENCH_PARALLEL` sets the parallel downloads per drive (default 4) and
//! `DRIVE_BENCH_LATENCY_MS` adds that much emulator service latency to every request.
//!
//! `DRIVE_BENCH_RU_PER_MINUTE` raises the client's resource-unit budget (default 1,200/min).
//! `DRIVE_BENCH_MOVE_FILES` (default: half the files) gathers top-level folders under one
//! folder `Bench move` before the first backup until it holds at least that many files; that
//! folder is then moved between two runs. `TENANTVAULT_EMU_SMALL_FILE_BYTES=4096` makes every
//! generated file a small text file (≤ 4 KiB), so 100,000 files back up in minutes, and makes the
//! drive hold exactly `DRIVE_BENCH_FILES` files (without it the generator spreads counts ±50 %).
//!
//! Prints: full backup, unchanged incremental (Graph requests and wall time), and the move of
//! the gathered folder (records re-pathed, content bytes served by the emulator).

#[path = "drive_common.rs"]
mod common;

use std::time::Instant;

use common::*;
use tenantvault_emulator::drive::{DriveConfig, drive_state};
use tenantvault_emulator::{EmulatorConfig, EndpointClass};
use tenantvault_graph::{DriveItem, GraphClient};
use tenantvault_workloads::drive::{DriveBackupConfig, DriveSelection};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn drive_figures() {
    let files: u32 = std::env::var("DRIVE_BENCH_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut t = EmulatorConfig {
        seed: 77,
        users: 1,
        drive: DriveConfig {
            files_per_drive: files,
            folders_per_drive: (files / 200).max(4),
            versioned_rate: 0.0,
            large_files: 0,
            sites: 0,
            ..DriveConfig::default()
        },
        ..EmulatorConfig::default()
    };
    t.throttling.enabled = false;
    let emu = start(t).await;
    // Service latency per request (a real tenant is tens of ms away), e.g. 20.
    if let Some(ms) = std::env::var("DRIVE_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        *emu.state().faults.latency.write() = std::time::Duration::from_millis(ms);
    }
    // The client's SharePoint resource-unit budget (default 1,200 per minute, the smallest
    // tenant's): `DRIVE_BENCH_RU_PER_MINUTE` raises it so the full backup that sets up the
    // incremental figures is not paced by it (the emulator's throttling is off).
    let graph = graph_with(&emu, |c| {
        if let Some(ru) = std::env::var("DRIVE_BENCH_RU_PER_MINUTE")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            c.limits.resource_units_per_window = ru;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = DriveBackupConfig {
        page_size: 1000,
        permissions: false,
        checkpoint_items: 50_000,
        parallel_downloads: std::env::var("DRIVE_BENCH_PARALLEL")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(4),
        ..DriveBackupConfig::default()
    };
    let sel = DriveSelection::onedrive();
    let want: usize = std::env::var("DRIVE_BENCH_MOVE_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(files as usize / 2);
    let big = gather(&emu, &graph, want).await;

    let started = Instant::now();
    let full = backup(&repo, &graph, &cfg, &sel).await;
    let d = &full.drives[0];
    println!(
        "full: {} files ({} bytes) in {:.1} s, {} delta pages, {} requests",
        d.files_downloaded,
        d.bytes_downloaded,
        started.elapsed().as_secs_f64(),
        d.delta_pages,
        full.requests
    );

    let before = graph.metrics().requests;
    let started = Instant::now();
    let inc = backup(&repo, &graph, &cfg, &sel).await;
    println!(
        "unchanged incremental: {} requests ({} delta pages), {:.2} s, {} downloads",
        graph.metrics().requests - before,
        inc.drives[0].delta_pages,
        started.elapsed().as_secs_f64(),
        inc.files_downloaded()
    );

    // Move the gathered folder under another top-level folder.
    let drive = d.drive.drive_id.clone();
    let (big_count, dest) = {
        let ds = drive_state(emu.state());
        let store = ds.store.read();
        let dr = store.drive(&drive).unwrap();
        let dest = dr
            .live_children(0)
            .find(|&i| dr.item(i).is_folder() && dr.item(i).id != big)
            .map(|i| dr.item(i).id.clone())
            .unwrap();
        (files_below(dr, &big), dest)
    };
    let _: DriveItem = graph
        .patch_json(
            &format!("drives/{drive}/items/{big}"),
            &serde_json::json!({"parentReference": {"id": dest}}),
        )
        .await
        .unwrap();
    let bytes_before = emu
        .state()
        .stats
        .totals()
        .get(&EndpointClass::Content)
        .map_or(0, |c| c.bytes);
    let before = graph.metrics().requests;
    let started = Instant::now();
    let moved = backup(&repo, &graph, &cfg, &sel).await;
    println!(
        "move of a folder with {big_count} files: {} records re-pathed, {} downloads, {} content bytes served, {} requests, {:.2} s",
        moved.drives[0].items_updated,
        moved.files_downloaded(),
        emu.state()
            .stats
            .totals()
            .get(&EndpointClass::Content)
            .map_or(0, |c| c.bytes)
            - bytes_before,
        graph.metrics().requests - before,
        started.elapsed().as_secs_f64()
    );
    emu.shutdown().await;
}

/// Live files anywhere below the folder `id`.
fn files_below(dr: &tenantvault_emulator::drive::model::Drive, id: &str) -> usize {
    let f = dr.find(id).unwrap();
    top_counts(dr).get(&f).copied().unwrap_or(0)
}

/// Live files below each top-level folder (by item index), one pass over the drive.
fn top_counts(
    dr: &tenantvault_emulator::drive::model::Drive,
) -> std::collections::HashMap<u32, usize> {
    let mut out = std::collections::HashMap::new();
    for i in 1..dr.items.len() as u32 {
        let it = dr.item(i);
        if it.is_folder() || it.deleted.is_some() {
            continue;
        }
        let mut cur = i;
        while let Some(p) = dr.item(cur).parent {
            if p == 0 {
                break;
            }
            cur = p;
        }
        if cur != i {
            *out.entry(cur).or_insert(0) += 1;
        }
    }
    out
}

/// Creates `Bench move` at the root of the (only) OneDrive and moves top-level folders into it
/// until it holds at least `want` files; returns its id.
async fn gather(emu: &tenantvault_emulator::Emulator, graph: &GraphClient, want: usize) -> String {
    let drive = {
        let ds = drive_state(emu.state());
        let store = ds.store.read();
        // The user's OneDrive (the tenant also has site libraries).
        let id = store.user_drive.values().next().unwrap();
        store.drive(id).unwrap().id.clone()
    };
    let big: DriveItem = graph
        .post_json(
            &format!("drives/{drive}/root/children"),
            &serde_json::json!({"name": "Bench move", "folder": {}}),
        )
        .await
        .unwrap();
    loop {
        let next = {
            let ds = drive_state(emu.state());
            let store = ds.store.read();
            let dr = store.drive(&drive).unwrap();
            if files_below(dr, &big.id) >= want {
                None
            } else {
                let counts = top_counts(dr);
                dr.live_children(0)
                    .filter(|&i| dr.item(i).is_folder() && dr.item(i).id != big.id)
                    .max_by_key(|i| counts.get(i).copied().unwrap_or(0))
                    .map(|i| dr.item(i).id.clone())
            }
        };
        // Keep one other top-level folder as the move destination.
        let Some(id) = next else { break };
        let left = {
            let ds = drive_state(emu.state());
            let store = ds.store.read();
            let dr = store.drive(&drive).unwrap();
            dr.live_children(0)
                .filter(|&i| dr.item(i).is_folder())
                .count()
        };
        if left <= 2 {
            break;
        }
        let _: DriveItem = graph
            .patch_json(
                &format!("drives/{drive}/items/{id}"),
                &serde_json::json!({"parentReference": {"id": big.id}}),
            )
            .await
            .unwrap();
    }
    big.id
}
