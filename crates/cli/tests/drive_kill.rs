//! `kill -9` during `tenantvault backup onedrive`: the repository stays valid, the next run
//! resumes from the checkpoint (content the killed run stored is not downloaded again), the
//! resumed snapshot holds exactly what an uninterrupted run holds, and a snapshot committed
//! before the kill is untouched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig, EndpointClass};

fn cmd(emu: &Emulator, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tenantvault"));
    c.env("TENANTVAULT_REPO", dir.join("repo"))
        .env("TENANTVAULT_PASSWORD", "drive kill test")
        .env("TENANTVAULT_CACHE_DIR", dir.join("cache"))
        .env("AZURE_TENANT_ID", emu.tenant_id())
        .env("AZURE_CLIENT_ID", emu.client_id())
        .env("AZURE_CLIENT_SECRET", emu.client_secret())
        .env("AZURE_AUTHORITY_HOST", emu.base_url())
        .env("TENANTVAULT_GRAPH_BASE", emu.graph_url())
        .env_remove("TENANTVAULT_GRAPH_CONFIG")
        .env_remove("TENANTVAULT_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    c
}

async fn run(emu: &Emulator, dir: &Path, args: &[&str]) -> Output {
    let mut c = cmd(emu, dir);
    c.args(args);
    tokio::task::spawn_blocking(move || c.output().expect("run tenantvault"))
        .await
        .unwrap()
}

async fn ok_json(emu: &Emulator, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = run(emu, dir, &all).await;
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

async fn init(emu: &Emulator, dir: &Path) {
    let out = run(
        emu,
        dir,
        &[
            "repo",
            "init",
            "--kdf-memory",
            "64KiB",
            "--kdf-iterations",
            "1",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

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
async fn kill_after_downloads(emu: &Emulator, dir: &Path, after: u64) -> bool {
    let start = downloads(emu);
    let mut c = cmd(emu, dir);
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

async fn export(
    emu: &Emulator,
    dir: &Path,
    snapshot: &str,
    name: &str,
) -> BTreeMap<PathBuf, Vec<u8>> {
    let target = dir.join(name);
    ok_json(
        emu,
        dir,
        &[
            "export",
            "onedrive",
            snapshot,
            "--target",
            target.to_str().unwrap(),
        ],
    )
    .await;
    tree(&target)
}

async fn check_clean(emu: &Emulator, dir: &Path, when: &str) {
    let out = run(emu, dir, &["--json", "check", "--read-data"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "check --read-data {when}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
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
    init(&emu, &killed_dir).await;
    init(&emu, &clean_dir).await;

    // An uninterrupted run is the reference.
    let clean = ok_json(&emu, &clean_dir, BACKUP).await;
    let total_files = only_drive(&clean)["filesDownloaded"].as_u64().unwrap();
    assert!(total_files >= 150, "{clean}");

    // 1. Kill the first (full) backup after about a third of the files.
    assert!(
        kill_after_downloads(&emu, &killed_dir, total_files / 3).await,
        "the backup finished before it could be killed"
    );
    check_clean(&emu, &killed_dir, "after kill -9").await;
    let snaps = ok_json(&emu, &killed_dir, &["snapshots", "--all"]).await;
    let snaps = snaps.as_array().unwrap();
    assert!(
        !snaps.is_empty() && snaps.iter().all(|s| s["complete"] == false),
        "the killed run left checkpoints only: {snaps:?}"
    );

    // 2. The next run resumes: what the checkpoint holds is not downloaded again.
    let resumed = ok_json(&emu, &killed_dir, BACKUP).await;
    let d = only_drive(&resumed);
    let again = d["filesDownloaded"].as_u64().unwrap();
    assert!(
        again + 20 <= total_files,
        "resume downloaded {again} of {total_files} files: the checkpoint was not reused"
    );
    let first = d["snapshot"].as_str().unwrap().to_string();
    let clean_first = only_drive(&clean)["snapshot"].as_str().unwrap().to_string();
    let resumed_tree = export(&emu, &killed_dir, &first, "resumed").await;
    assert_eq!(resumed_tree.len() as u64, total_files);
    assert!(
        resumed_tree == export(&emu, &clean_dir, &clean_first, "reference").await,
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
    let clean_inc = ok_json(&emu, &clean_dir, BACKUP).await;
    let changed = only_drive(&clean_inc)["filesDownloaded"].as_u64().unwrap();
    assert!(changed >= 10, "{clean_inc}");
    if kill_after_downloads(&emu, &killed_dir, changed / 2).await {
        check_clean(&emu, &killed_dir, "after the second kill -9").await;
    }
    assert!(
        export(&emu, &killed_dir, &first, "first-again").await == resumed_tree,
        "the committed snapshot changed after a killed incremental run"
    );
    let inc = ok_json(&emu, &killed_dir, BACKUP).await;
    let second = only_drive(&inc)["snapshot"].as_str().unwrap().to_string();
    let clean_second = only_drive(&clean_inc)["snapshot"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        export(&emu, &killed_dir, &second, "second").await
            == export(&emu, &clean_dir, &clean_second, "reference-2").await,
        "the resumed incremental differs from an uninterrupted one"
    );
    check_clean(&emu, &killed_dir, "at the end").await;
    emu.shutdown().await;
}
