//! Drive backup figures on the emulator (not a CI test: `#[ignore]`, no timed assertions).
//!
//! ```text
//! DRIVE_BENCH_FILES=100000 cargo test --release -p tenantvault-workloads --test drive_bench -- --ignored --nocapture
//! ```
//! `DRIVE_BENCH_PARALLEL` sets the parallel downloads per drive (default 4) and
//! `DRIVE_BENCH_LATENCY_MS` adds that much emulator service latency to every request.
//!
//! Prints: full backup, unchanged incremental (Graph requests and wall time), and a move of the
//! biggest top-level folder (records re-pathed, content bytes downloaded).

#[path = "drive_common.rs"]
mod common;

use std::time::Instant;

use common::*;
use tenantvault_emulator::drive::{DriveConfig, drive_state};
use tenantvault_emulator::{EmulatorConfig, EndpointClass};
use tenantvault_graph::DriveItem;
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
    let graph = graph(&emu);
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

    // Move the folder with the most files below it under another top-level folder.
    let drive = d.drive.drive_id.clone();
    let (big, big_count, dest) = {
        let ds = drive_state(emu.state());
        let store = ds.store.read();
        let dr = store.drive(&drive).unwrap();
        let top: Vec<u32> = dr
            .live_children(0)
            .filter(|&i| dr.item(i).is_folder())
            .collect();
        let count = |f: u32| {
            (1..dr.items.len() as u32)
                .filter(|&i| {
                    !dr.item(i).is_folder()
                        && dr.item(i).deleted.is_none()
                        && dr.path_of(i).starts_with(&format!("{}/", dr.path_of(f)))
                })
                .count()
        };
        let mut best = (top[0], 0);
        for &f in &top {
            let c = count(f);
            if c > best.1 {
                best = (f, c);
            }
        }
        let dest = top.iter().find(|&&f| f != best.0).copied().unwrap();
        (dr.item(best.0).id.clone(), best.1, dr.item(dest).id.clone())
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
