//! `tenantvault backup sharepoint` stores the sites' lists; `export sharepoint --lists`
//! writes them as JSON files; bad combinations are usage errors that write nothing.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig};

fn run(emu: &Emulator, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantvault"))
        .env("TENANTVAULT_REPO", dir.join("repo"))
        .env("TENANTVAULT_PASSWORD", "lists cli test")
        .env("TENANTVAULT_CACHE_DIR", dir.join("cache"))
        .env("AZURE_TENANT_ID", emu.tenant_id())
        .env("AZURE_CLIENT_ID", emu.client_id())
        .env("AZURE_CLIENT_SECRET", emu.client_secret())
        .env("AZURE_AUTHORITY_HOST", emu.base_url())
        .env("TENANTVAULT_GRAPH_BASE", emu.graph_url())
        .env_remove("TENANTVAULT_GRAPH_CONFIG")
        .env_remove("TENANTVAULT_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .args(args)
        .output()
        .expect("run tenantvault")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharepoint_lists_back_up_and_export_through_the_binary() {
    let mut cfg = EmulatorConfig {
        seed: 73,
        users: 1,
        drive: DriveConfig {
            files_per_drive: 4,
            folders_per_drive: 2,
            large_files: 0,
            sites: 1,
            list_items: 5,
            ..DriveConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let e = &emu;
    let (report, site, export, again, onedrive) = tokio::task::block_in_place(|| {
        let init = run(
            e,
            &d,
            &[
                "repo",
                "init",
                "--kdf-memory",
                "64KiB",
                "--kdf-iterations",
                "1",
            ],
        );
        assert!(init.status.success());
        let report = json(&run(e, &d, &["--json", "backup", "sharepoint"]));
        let lists = report["lists"]
            .as_array()
            .expect("lists in the report")
            .clone();
        let l = lists
            .iter()
            .find(|l| l["itemsStored"].as_u64().unwrap_or(0) >= 5)
            .expect("a site with list items")
            .clone();
        let site = l["siteId"].as_str().unwrap().to_string();
        let target = d.join("lists");
        let export = json(&run(
            e,
            &d,
            &[
                "--json",
                "export",
                "sharepoint",
                "--lists",
                "--site",
                &site,
                "--target",
                target.to_str().unwrap(),
            ],
        ));
        let again = run(
            e,
            &d,
            &[
                "export",
                "sharepoint",
                "--lists",
                "--site",
                &site,
                "--target",
                target.to_str().unwrap(),
            ],
        );
        let onedrive = run(
            e,
            &d,
            &[
                "export",
                "onedrive",
                "--lists",
                "--target",
                d.join("x").to_str().unwrap(),
            ],
        );
        (l, site, export, again, onedrive)
    });
    assert!(!site.is_empty());
    assert_eq!(export["items"], report["itemsStored"], "{export} {report}");
    let files = walkdir::WalkDir::new(dir.path().join("lists"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|f| f.file_type().is_file() && f.file_name() != "_list.json")
        .count() as u64;
    assert_eq!(Some(files), export["items"].as_u64());
    assert_eq!(
        again.status.code(),
        Some(2),
        "non-empty target is a usage error"
    );
    assert_eq!(
        onedrive.status.code(),
        Some(2),
        "--lists is SharePoint only"
    );
    assert!(!dir.path().join("x").exists());
    emu.shutdown().await;
}
