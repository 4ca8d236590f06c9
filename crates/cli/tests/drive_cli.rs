//! `tenantvault backup|restore|export onedrive` end to end: the binary against an in-process
//! emulator (Graph credentials through the `AZURE_*` environment).

mod common;

use std::path::Path;

use common::tv::Tv;
use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_export_and_restore_a_onedrive_through_the_binary() {
    let mut cfg = EmulatorConfig {
        seed: 31,
        users: 1,
        drive: DriveConfig {
            files_per_drive: 8,
            folders_per_drive: 3,
            large_files: 0,
            sites: 0,
            ..DriveConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tv = Tv::new(&emu, dir.path());
    tv.init().await;

    let report = tv.json(&["backup", "onedrive"]).await;
    let drives = report["drives"].as_array().unwrap();
    assert_eq!(drives.len(), 1);
    let d = &drives[0];
    assert!(d["snapshot"].is_string() && d["error"].is_null(), "{d}");
    let files = d["filesDownloaded"].as_u64().unwrap();
    assert!(files >= 4, "{d}");
    let upn = d["drive"]["userPrincipalName"]
        .as_str()
        .unwrap()
        .to_string();

    // Unknown user: not found, nothing written.
    tv.expect_exit(6, &["backup", "onedrive", "--user", "nobody@nowhere"])
        .await;

    let target = dir.path().join("export");
    let ex = tv
        .json(&[
            "export",
            "onedrive",
            "--user",
            &upn,
            "--target",
            target.to_str().unwrap(),
        ])
        .await;
    assert_eq!(ex["files"].as_u64(), Some(files));
    let written = walk(&target).into_iter().filter(|p| p.is_file()).count() as u64;
    assert_eq!(written, files);

    let rs = tv
        .json(&[
            "restore",
            "onedrive",
            "--user",
            &upn,
            "--folder",
            "Back again",
        ])
        .await;
    assert_eq!(
        (rs["files"].as_u64(), rs["folder"].as_str()),
        (Some(files), Some("Back again")),
        "{rs}"
    );
    // Restoring the same again into the original place with skip: every file is skipped.
    let again = tv
        .json(&[
            "restore",
            "onedrive",
            "--user",
            &upn,
            "--original",
            "--conflict",
            "skip",
        ])
        .await;
    assert_eq!(
        again["skipped"].as_array().map(Vec::len),
        Some(files as usize),
        "{again}"
    );
    emu.shutdown().await;
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
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
