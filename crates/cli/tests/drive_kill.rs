//! `kill -9` during `tenantvault backup onedrive`: the repository stays valid, the next run
//! resumes from the checkpoint (content the killed run stored is not downloaded again), the
//! resumed snapshot holds exactly what an uninterrupted run holds, and a snapshot committed
//! before the kill is untouched.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::tv::{Tv, text};

use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig, EndpointClass};

/// Content downloads the emulator has served (requests to pre-authenticated URLs).
fn downloads(emu: &Emulator) -> u64 {
    emu.state()
        .stats
        .totals()
        .get(&EndpointClass::Content)
        .map_or(0, |c| c.requests)
}

const BACKUP: &[&str] = &[
    "backup",
    "onedrive",
    "--checkpoint-items",
    "20",
    "--page-size",
    "25",
    "--no-permissions",
];

/// Starts a backup and SIGKILLs it once the emulator has served `after` more downloads.
/// Returns false when the backup finished before that (nothing was killed).
async fn kill_after_downloads(tv: &Tv<'_>, after: u64) -> bool {
    let emu = tv.emu;
    let start = downloads(emu);
    let mut c = tv.cmd();
    c.arg("--quiet")
        .args(BACKUP)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("spawn backup");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return false;
        }
        if downloads(emu) >= start + after {
            break;
        }
        assert!(Instant::now() < deadline, "backup made no progress");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    let status = tokio::task::spawn_blocking(move || child.wait().expect("reap"))
        .await
        .unwrap();
    assert!(!status.success(), "the backup was killed, not finished");
    true
}

/// Every file below `root` with its bytes, by relative path.
fn tree(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().strip_prefix(root).unwrap().to_path_buf(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

async fn export(tv: &Tv<'_>, snapshot: &str, name: &str) -> BTreeMap<PathBuf, Vec<u8>> {
    let target = tv.path(name);
    tv.json(&[
        "export",
        "onedrive",
        snapshot,
        "--target",
        target.to_str().unwrap(),
    ])
    .await;
    tree(&target)
}

async fn check_clean(tv: &Tv<'_>, when: &str) {
    let out = tv.run(&["--json", "check", "--read-data"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "check --read-data {when}: {}",
        text(&out)
    );
}

fn only_drive(report: &serde_json::Value) -> &serde_json::Value {
    let drives = report["drives"].as_array().expect("drives");
    assert_eq!(drives.len(), 1, "{report}");
    let d = &drives[0];
    assert!(d["snapshot"].is_string() && d["error"].is_null(), "{d}");
    assert_eq!(d["failures"].as_array().map(Vec::len), Some(0), "{d}");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_drive_backup_resumes_and_loses_nothing_committed() {
    let mut cfg = EmulatorConfig {
        seed: 57,
        users: 1,
        drive: DriveConfig {
            files_per_drive: 400,
            folders_per_drive: 12,
            versioned_rate: 0.0,
            large_files: 0,
            sites: 0,
            ..DriveConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let (killed_dir, clean_dir) = (work.path().join("killed"), work.path().join("clean"));
    std::fs::create_dir_all(&killed_dir).unwrap();
    std::fs::create_dir_all(&clean_dir).unwrap();
    let (killed_tv, clean_tv) = (Tv::new(&emu, &killed_dir), Tv::new(&emu, &clean_dir));
    killed_tv.init().await;
    clean_tv.init().await;

    // An uninterrupted run is the reference.
    let clean = clean_tv.json(BACKUP).await;
    let total_files = only_drive(&clean)["filesDownloaded"].as_u64().unwrap();
    assert!(total_files >= 150, "{clean}");

    // 1. Kill the first (full) backup after about a third of the files.
    assert!(
        kill_after_downloads(&killed_tv, total_files / 3).await,
        "the backup finished before it could be killed"
    );
    check_clean(&killed_tv, "after kill -9").await;
    let snaps = killed_tv.json(&["snapshots", "--all"]).await;
    let snaps = snaps.as_array().unwrap();
    assert!(
        !snaps.is_empty() && snaps.iter().all(|s| s["complete"] == false),
        "the killed run left checkpoints only: {snaps:?}"
    );

    // 2. The next run resumes: what the checkpoint holds is not downloaded again.
    let resumed = killed_tv.json(BACKUP).await;
    let d = only_drive(&resumed);
    let again = d["filesDownloaded"].as_u64().unwrap();
    assert!(
        again + 20 <= total_files,
        "resume downloaded {again} of {total_files} files: the checkpoint was not reused"
    );
    let first = d["snapshot"].as_str().unwrap().to_string();
    let clean_first = only_drive(&clean)["snapshot"].as_str().unwrap().to_string();
    let resumed_tree = export(&killed_tv, &first, "resumed").await;
    assert_eq!(resumed_tree.len() as u64, total_files);
    assert!(
        resumed_tree == export(&clean_tv, &clean_first, "reference").await,
        "the resumed snapshot differs from an uninterrupted run"
    );

    // 3. Changes, then kill the incremental run: the committed snapshot is untouched, the
    //    run resumes, and the result matches an uninterrupted incremental.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_emulator/drive/activity", emu.base_url()))
        .json(&serde_json::json!({"days": 2, "new": 40, "modify": 30, "rename": 3, "move": 3, "delete": 5}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let clean_inc = clean_tv.json(BACKUP).await;
    let changed = only_drive(&clean_inc)["filesDownloaded"].as_u64().unwrap();
    assert!(changed >= 10, "{clean_inc}");
    if kill_after_downloads(&killed_tv, changed / 2).await {
        check_clean(&killed_tv, "after the second kill -9").await;
    }
    assert!(
        export(&killed_tv, &first, "first-again").await == resumed_tree,
        "the committed snapshot changed after a killed incremental run"
    );
    let inc = killed_tv.json(BACKUP).await;
    let second = only_drive(&inc)["snapshot"].as_str().unwrap().to_string();
    let clean_second = only_drive(&clean_inc)["snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        export(&killed_tv, &second, "second").await
            == export(&clean_tv, &clean_second, "reference-2").await,
        "the resumed incremental differs from an uninterrupted one"
    );
    check_clean(&killed_tv, "at the end").await;
    emu.shutdown().await;
}
