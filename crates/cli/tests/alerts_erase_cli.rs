//! `erase --owner X` deletes the owner's detection records — change statistics
//! (`stats/<oid>/`), the alerts about it (`alerts/<id>`, `.cleared`) and its recovery journals
//! (`recover/<oid>/`) — while another owner's statistics and alert stay, `alerts list|show`
//! keep working, an open alert's hold refuses the erasure, and the audit log records the
//! counts. Through the binary against an in-process emulator.

mod common;

use std::path::{Path, PathBuf};

use common::tv::{Tv, files, text};

use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig};

/// Subdirectories of `dir`.
fn subdirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_deletes_the_owners_stats_alerts_and_recovery_journals_only() {
    let mut cfg = EmulatorConfig {
        seed: 91,
        users: 2,
        drive: DriveConfig {
            files_per_drive: 30,
            folders_per_drive: 3,
            large_files: 0,
            versioned_rate: 0.0,
            sites: 0,
            ..DriveConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo: PathBuf = dir.join("repo");
    let tv = Tv::new(&emu, dir);
    tv.init().await;

    let report = tv.json(&["backup", "onedrive"]).await;
    let mut drives: Vec<String> = report["drives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["drive"]["driveId"].as_str().unwrap().to_string())
        .collect();
    drives.sort();
    assert_eq!(drives.len(), 2, "{report}");
    let (a, b) = (drives[0].clone(), drives[1].clone());
    tv.expect_exit(0, &["backup", "onedrive"]).await;

    // Both drives attacked: one alert each.
    let http = reqwest::Client::new();
    for d in [&a, &b] {
        let r: serde_json::Value = http
            .post(format!("{}/_emulator/drive/ransomware", emu.base_url()))
            .json(&serde_json::json!({"drive": d, "share": 0.4}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(r["encrypted"].as_u64().unwrap() >= 5, "{r}");
    }
    tv.expect_exit(11, &["backup", "onedrive"]).await;
    let list = tv.json(&["alerts", "list"]).await;
    let alert_of = |owner: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|x| x["owner"] == owner)
            .unwrap_or_else(|| panic!("no alert for {owner}: {list}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (alert_a, alert_b) = (alert_of(&a), alert_of(&b));

    // A recovery of A writes its journal.
    tv.expect_exit(0, &["recover", "--owner", &a]).await;
    let journal_owners = subdirs(&repo.join("recover"));
    assert_eq!(journal_owners.len(), 1, "{journal_owners:?}");
    let oid_a = journal_owners[0].clone();
    let journal = files(&repo.join("recover"));
    assert!(!journal.is_empty());
    let stats_owners = subdirs(&repo.join("stats"));
    assert_eq!(stats_owners.len(), 2, "{stats_owners:?}");
    assert!(stats_owners.contains(&oid_a), "{stats_owners:?} vs {oid_a}");
    let oid_b = stats_owners.iter().find(|o| **o != oid_a).unwrap().clone();
    let stats_a = files(&repo.join("stats").join(&oid_a));
    let stats_b = files(&repo.join("stats").join(&oid_b));
    assert_eq!(stats_a.len(), 3, "three backups: {stats_a:?}");
    assert_eq!(stats_b.len(), 3);

    // The open alert pins A's clean snapshot with a hold: the erasure is refused, nothing goes.
    tv.expect_exit(10, &["erase", "--owner", &a, "--reason", "Art. 17 #9"])
        .await;
    assert_eq!(files(&repo.join("stats").join(&oid_a)), stats_a);
    let out = tv
        .run(&[
            "alerts", "clear", &alert_a, "--reason", "restored", "--by", "admin",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let alert_docs = files(&repo.join("alerts"));
    assert_eq!(
        alert_docs,
        vec![
            alert_a.clone(),
            format!("{alert_a}.cleared"),
            alert_b.clone()
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );

    // The dry run counts what would go and deletes nothing.
    let dry = tv
        .json(&[
            "erase",
            "--owner",
            &a,
            "--reason",
            "Art. 17 #9",
            "--dry-run",
        ])
        .await;
    let d = &dry["detection"][0];
    assert_eq!(d["stats"], 3, "{dry}");
    assert_eq!(d["alerts"], 2, "{dry}");
    assert_eq!(d["alert_ids"], serde_json::json!([alert_a]));
    assert_eq!(d["journals"], journal.len() as u64, "{dry}");
    assert_eq!(files(&repo.join("stats").join(&oid_a)), stats_a);
    assert_eq!(files(&repo.join("alerts")).len(), 3);

    let out = tv
        .expect_exit(
            0,
            &[
                "erase",
                "--owner",
                &a,
                "--reason",
                "Art. 17 #9",
                "--by",
                "dpo",
            ],
        )
        .await;
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        shown.contains(&format!(
            "3 change-statistics record(s), 1 alert(s) ({alert_a}), {} recovery-journal",
            journal.len()
        )),
        "{shown}"
    );

    // Nothing of A's detection records is left; B's are untouched.
    assert!(files(&repo.join("stats").join(&oid_a)).is_empty());
    assert!(files(&repo.join("recover")).is_empty());
    assert_eq!(files(&repo.join("stats").join(&oid_b)), stats_b);
    assert_eq!(files(&repo.join("alerts")), vec![alert_b.clone()]);
    let all = tv.json(&["alerts", "list", "--all"]).await;
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![alert_b.as_str()]);
    let out = tv.run(&["alerts", "show", &alert_b]).await;
    assert!(out.status.success(), "{}", text(&out));
    tv.expect_exit(6, &["alerts", "show", &alert_a]).await;

    // The audit log keeps the erasure with counts (and the deleted alert's id), no content.
    let lines = tv
        .run(&["--json", "audit", "show", "--operation", "erase"])
        .await;
    assert!(lines.status.success(), "{}", text(&lines));
    let recs: Vec<serde_json::Value> = String::from_utf8_lossy(&lines.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let last = recs.last().expect("erase recorded");
    assert_eq!(last["details"]["dry_run"], false, "{last}");
    assert_eq!(
        last["details"]["detection_records_deleted"],
        3 + 2 + journal.len() as u64,
        "{last}"
    );
    assert_eq!(
        last["details"]["alerts_deleted"],
        serde_json::json!([alert_a])
    );
    assert_eq!(last["details"]["detection_records_locked"], 0);

    // Erasing again: already erased (exit 9), B still intact.
    tv.expect_exit(9, &["erase", "--owner", &a, "--reason", "again"])
        .await;
    assert_eq!(files(&repo.join("stats").join(&oid_b)), stats_b);
    assert_eq!(files(&repo.join("alerts")), vec![alert_b]);
}
