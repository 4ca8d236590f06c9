//! Through the binary against an in-process emulator: `ls` filters (name glob,
//! created/modified after/before) on a OneDrive snapshot, `export onedrive --zip`,
//! `restore sharepoint --lists` into a new list, and the usage errors that change nothing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::{DateTime, Utc};
use tenantvault_emulator::drive::{DriveConfig, drive_state};
use tenantvault_emulator::{Emulator, EmulatorConfig};

fn run(emu: &Emulator, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenantvault"))
        .env("TENANTVAULT_REPO", dir.join("repo"))
        .env("TENANTVAULT_PASSWORD", "drive more cli test")
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
    tokio::task::block_in_place(|| {
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
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
        let rep = json(&run(e, &d, &["--json", "backup", "onedrive"]));
        let snap = rep["drives"][0]["snapshot"].as_str().unwrap().to_string();
        let drive = rep["drives"][0]["drive"]["driveId"]
            .as_str()
            .unwrap()
            .to_string();

        // The oracle: every file's name and times in the snapshot, from `ls` without filters.
        let all = json(&run(e, &d, &["--json", "ls", &snap]));
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
        let got = names(&json(&run(
            e,
            &d,
            &["--json", "ls", &snap, "--name", &glob],
        )));
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
        let after = names(&json(&run(
            e,
            &d,
            &["--json", "ls", &snap, "--modified-after", &at],
        )));
        let before = names(&json(&run(
            e,
            &d,
            &["--json", "ls", &snap, "--modified-before", &at],
        )));
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
        let got = names(&json(&run(
            e,
            &d,
            &[
                "--json",
                "ls",
                &snap,
                "--created-after",
                &day_s,
                "--name",
                "*",
            ],
        )));
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
            let out = run(e, &d, &bad);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{bad:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        // ZIP export: every file once, content equal to the emulator's.
        let zip_path = d.join("od.zip");
        let ex = json(&run(
            e,
            &d,
            &[
                "--json",
                "export",
                "onedrive",
                &snap,
                "--zip",
                zip_path.to_str().unwrap(),
            ],
        ));
        assert_eq!(ex["files"].as_u64().unwrap(), files.len() as u64);
        let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
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
        drop(store);
        assert_eq!(checked, files.len());
        // An existing ZIP and --zip with --target are usage errors.
        let out = run(
            e,
            &d,
            &[
                "export",
                "onedrive",
                &snap,
                "--zip",
                zip_path.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(2));
        let out = run(
            e,
            &d,
            &[
                "export", "onedrive", &snap, "--zip", "x.zip", "--target", "y",
            ],
        );
        assert_eq!(out.status.code(), Some(2));

        // Lists: back up SharePoint, restore the Tasks list into a new list.
        let sp = json(&run(e, &d, &["--json", "backup", "sharepoint"]));
        let l = sp["lists"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["itemsStored"].as_u64() == Some(4))
            .expect("a site with the Tasks list")
            .clone();
        let site = l["siteId"].as_str().unwrap().to_string();
        let rep = json(&run(
            e,
            &d,
            &[
                "--json",
                "restore",
                "sharepoint",
                "--site",
                &site,
                "--lists",
                "--list",
                "Tasks",
                "--new-list",
                "Tasks again",
            ],
        ));
        assert_eq!(rep["items"].as_u64(), Some(4), "{rep}");
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
        drop(store);
        // --list without --lists, and --lists on OneDrive, are usage errors.
        let out = run(
            e,
            &d,
            &["restore", "sharepoint", "--site", &site, "--list", "Tasks"],
        );
        assert_eq!(out.status.code(), Some(2));
        let out = run(e, &d, &["restore", "onedrive", "--user", "x", "--lists"]);
        assert_eq!(out.status.code(), Some(2));
        let out = run(
            e,
            &d,
            &[
                "restore",
                "sharepoint",
                "--site",
                &site,
                "--lists",
                "--list",
                "Nope",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(6),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}
