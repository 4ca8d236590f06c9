//! `tenantvault backup sharepoint` stores the sites' lists; `export sharepoint --lists`
//! writes them as JSON files; bad combinations are usage errors that write nothing.

mod common;

use common::tv::Tv;
use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig};

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
    let tv = Tv::new(&emu, &d);
    let (report, site, export, again, onedrive) = async {
        tv.init().await;
        let report = tv.json(&["backup", "sharepoint"]).await;
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
        let export = tv
            .json(&[
                "export",
                "sharepoint",
                "--lists",
                "--site",
                &site,
                "--target",
                target.to_str().unwrap(),
            ])
            .await;
        let again = tv
            .run(&[
                "export",
                "sharepoint",
                "--lists",
                "--site",
                &site,
                "--target",
                target.to_str().unwrap(),
            ])
            .await;
        let onedrive = tv
            .run(&[
                "export",
                "onedrive",
                "--lists",
                "--target",
                d.join("x").to_str().unwrap(),
            ])
            .await;
        (l, site, export, again, onedrive)
    }
    .await;
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
