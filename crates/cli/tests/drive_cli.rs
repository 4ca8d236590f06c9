//! `tenantvault backup|restore|export onedrive` end to end: the binary against an in-process
//! emulator (Graph credentials through the `AZURE_*` environment).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig};

fn cmd(emu: &Emulator, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tenantvault"));
    c.env("TENANTVAULT_REPO", dir.join("repo"))
        .env("TENANTVAULT_PASSWORD", "drive cli test")
        .env("TENANTVAULT_CACHE_DIR", dir.join("cache"))
        .env("AZURE_TENANT_ID", emu.tenant_id())
        .env("AZURE_CLIENT_ID", emu.client_id())
        .env("AZURE_CLIENT_SECRET", emu.client_secret())
        .env("AZURE_AUTHORITY_HOST", emu.base_url())
        .env("TENANTVAULT_GRAPH_BASE", emu.graph_url())
        .env_remove("TENANTVAULT_GRAPH_CONFIG")
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
    let init = run(
        &emu,
        dir.path(),
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
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );

    let report = ok_json(&emu, dir.path(), &["backup", "onedrive"]).await;
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
    let out = run(
        &emu,
        dir.path(),
        &["backup", "onedrive", "--user", "nobody@nowhere"],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let target = dir.path().join("export");
    let ex = ok_json(
        &emu,
        dir.path(),
        &[
            "export",
            "onedrive",
            "--user",
            &upn,
            "--target",
            target.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(ex["files"].as_u64(), Some(files));
    let written = walk(&target).into_iter().filter(|p| p.is_file()).count() as u64;
    assert_eq!(written, files);

    let rs = ok_json(
        &emu,
        dir.path(),
        &[
            "restore",
            "onedrive",
            "--user",
            &upn,
            "--folder",
            "Back again",
        ],
    )
    .await;
    assert_eq!(
        (rs["files"].as_u64(), rs["folder"].as_str()),
        (Some(files), Some("Back again")),
        "{rs}"
    );
    // Restoring the same again into the original place with skip: every file is skipped.
    let again = ok_json(
        &emu,
        dir.path(),
        &[
            "restore",
            "onedrive",
            "--user",
            &upn,
            "--original",
            "--conflict",
            "skip",
        ],
    )
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
