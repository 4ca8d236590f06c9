//! Through the binary against an in-process emulator: `ls` filters (name glob,
//! created/modified after/before) on a OneDrive snapshot, `export onedrive --zip`,
//! `restore sharepoint --lists` into a new list, and the usage errors that change nothing.

mod common;

use std::collections::BTreeSet;

use common::tv::Tv;

use chrono::{DateTime, Utc};
use tenantvault_emulator::drive::{DriveConfig, drive_state};
use tenantvault_emulator::{Emulator, EmulatorConfig};

/// Names of the files `ls --json` lists.
fn names(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "file")
        .map(|i| {
            i["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_filters_zip_export_and_list_restore_through_the_binary() {
    let mut cfg = EmulatorConfig {
        seed: 75,
        users: 1,
        drive: DriveConfig {
            files_per_drive: 14,
            folders_per_drive: 3,
            large_files: 0,
            sites: 1,
            list_items: 4,
            ..DriveConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let e = &emu;
    let tv = Tv::new(e, &d);
    tv.init().await;
    let rep = tv.json(&["backup", "onedrive"]).await;
    let snap = rep["drives"][0]["snapshot"].as_str().unwrap().to_string();
    let drive = rep["drives"][0]["drive"]["driveId"]
        .as_str()
        .unwrap()
        .to_string();

    // The oracle: every file's name and times in the snapshot, from `ls` without filters.
    let all = tv.json(&["ls", &snap]).await;
    let files: Vec<(String, DateTime<Utc>, DateTime<Utc>)> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "file")
        .map(|i| {
            let t = |k: &str| {
                DateTime::parse_from_rfc3339(i[k].as_str().unwrap())
                    .unwrap()
                    .with_timezone(&Utc)
            };
            let name = i["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            (name, t("created"), t("modified"))
        })
        .collect();
    assert!(files.len() >= 7, "{files:?}");

    // --name: a glob on the extension of one of the files, case-insensitive.
    let ext = files[0].0.rsplit('.').next().unwrap().to_string();
    let glob = format!("*.{}", ext.to_uppercase());
    let got = names(&tv.json(&["ls", &snap, "--name", &glob]).await);
    let want: BTreeSet<String> = files
        .iter()
        .filter(|f| {
            f.0.to_lowercase()
                .ends_with(&format!(".{}", ext.to_lowercase()))
        })
        .map(|f| f.0.clone())
        .collect();
    assert_eq!(got, want);
    assert!(!want.is_empty() && want.len() < files.len(), "{want:?}");

    // --modified-after / --modified-before split the files at the median time.
    let mut times: Vec<DateTime<Utc>> = files.iter().map(|f| f.2).collect();
    times.sort();
    let mid = times[times.len() / 2];
    let at = mid.to_rfc3339();
    let after = names(&tv.json(&["ls", &snap, "--modified-after", &at]).await);
    let before = names(&tv.json(&["ls", &snap, "--modified-before", &at]).await);
    let want_after: BTreeSet<String> = files
        .iter()
        .filter(|f| f.2 >= mid)
        .map(|f| f.0.clone())
        .collect();
    let want_before: BTreeSet<String> = files
        .iter()
        .filter(|f| f.2 < mid)
        .map(|f| f.0.clone())
        .collect();
    assert_eq!(after, want_after);
    assert_eq!(before, want_before);
    assert!(!want_after.is_empty() && !want_before.is_empty());

    // --created-after with a plain date (00:00 UTC) combined with --name.
    let mut created: Vec<DateTime<Utc>> = files.iter().map(|f| f.1).collect();
    created.sort();
    let day = created[created.len() / 2].date_naive();
    let day_s = day.format("%Y-%m-%d").to_string();
    let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let got = names(
        &tv.json(&["ls", &snap, "--created-after", &day_s, "--name", "*"])
            .await,
    );
    let want: BTreeSet<String> = files
        .iter()
        .filter(|f| f.1 >= start)
        .map(|f| f.0.clone())
        .collect();
    assert_eq!(got, want);

    // Bad filters are usage errors.
    for bad in [
        vec!["ls", snap.as_str(), "--modified-after", "yesterday"],
        vec![
            "ls",
            snap.as_str(),
            "--created-after",
            "2026-02-01",
            "--created-before",
            "2026-01-01",
        ],
    ] {
        tv.expect_exit(2, &bad).await;
    }

    // ZIP export: every file once, content equal to the emulator's.
    let zip_path = d.join("od.zip");
    let ex = tv
        .json(&[
            "export",
            "onedrive",
            &snap,
            "--zip",
            zip_path.to_str().unwrap(),
        ])
        .await;
    assert_eq!(ex["files"].as_u64().unwrap(), files.len() as u64);
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    {
        let ds = drive_state(e.state());
        let store = ds.store.read();
        let dr = store.drive(&drive).unwrap();
        let mut checked = 0;
        for i in 1..dr.items.len() as u32 {
            let it = dr.item(i);
            if it.is_folder() || it.deleted.is_some() {
                continue;
            }
            let path = dr.path_of(i).trim_start_matches('/').to_string();
            let mut entry = z
                .by_name(&path)
                .unwrap_or_else(|_| panic!("{path} in the zip"));
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut buf).unwrap();
            assert_eq!(buf, it.content().unwrap().to_bytes().to_vec(), "{path}");
            checked += 1;
        }
        assert_eq!(checked, files.len());
    }
    // An existing ZIP and --zip with --target are usage errors.
    tv.expect_exit(
        2,
        &[
            "export",
            "onedrive",
            &snap,
            "--zip",
            zip_path.to_str().unwrap(),
        ],
    )
    .await;
    tv.expect_exit(
        2,
        &[
            "export", "onedrive", &snap, "--zip", "x.zip", "--target", "y",
        ],
    )
    .await;

    // Lists: back up SharePoint, restore the Tasks list into a new list.
    let sp = tv.json(&["backup", "sharepoint"]).await;
    let l = sp["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["itemsStored"].as_u64() == Some(4))
        .expect("a site with the Tasks list")
        .clone();
    let site = l["siteId"].as_str().unwrap().to_string();
    let rep = tv
        .json(&[
            "restore",
            "sharepoint",
            "--site",
            &site,
            "--lists",
            "--list",
            "Tasks",
            "--new-list",
            "Tasks again",
        ])
        .await;
    assert_eq!(rep["items"].as_u64(), Some(4), "{rep}");
    {
        let ds = drive_state(e.state());
        let store = ds.store.read();
        let s = store.sites.iter().find(|s| s.id == site).unwrap();
        let orig = s.lists.iter().find(|l| l.display_name == "Tasks").unwrap();
        let new = s
            .lists
            .iter()
            .find(|l| l.display_name == "Tasks again")
            .unwrap();
        let titles = |l: &tenantvault_emulator::drive::store::SpList| -> Vec<serde_json::Value> {
            l.items.iter().map(|i| i.fields["Title"].clone()).collect()
        };
        assert_eq!(titles(new), titles(orig));
    }
    // --list without --lists, and --lists on OneDrive, are usage errors.
    tv.expect_exit(
        2,
        &["restore", "sharepoint", "--site", &site, "--list", "Tasks"],
    )
    .await;
    tv.expect_exit(2, &["restore", "onedrive", "--user", "x", "--lists"])
        .await;
    tv.expect_exit(
        6,
        &[
            "restore",
            "sharepoint",
            "--site",
            &site,
            "--lists",
            "--list",
            "Nope",
        ],
    )
    .await;
}
