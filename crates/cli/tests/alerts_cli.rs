//! `backup onedrive` raising a ransomware alert (exit 11, webhook POST), `alerts list|show|clear`
//! and `recover --dry-run` through the binary against an in-process emulator.

mod common;

use std::sync::{Arc, Mutex};

use common::tv::{Tv, text};

use tenantvault_emulator::drive::DriveConfig;
use tenantvault_emulator::{Emulator, EmulatorConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests received: (head, body).
type Posted = Arc<Mutex<Vec<(String, String)>>>;

/// A one-shot-per-connection HTTP sink that keeps every request (head and body) it receives.
async fn webhook_sink() -> (String, Posted) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let t = String::from_utf8_lossy(&buf).to_string();
                    if let Some((head, body)) = t.split_once("\r\n\r\n") {
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            g.lock().unwrap().push((head.to_string(), body.to_string()));
                            let _ = s
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await;
                            break;
                        }
                    }
                }
            });
        }
    });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ransomware_alert_exit_code_webhook_list_show_recover_dry_run_and_clear() {
    let mut cfg = EmulatorConfig {
        seed: 77,
        users: 1,
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
    let dir = tempfile::tempdir().unwrap();
    let (url, hooks) = webhook_sink().await;
    let config = dir.path().join("tenantvault.toml");
    // `backup onedrive --config` and the global `--config` share the name: the file must also
    // hold the Graph settings (`[graph]`).
    let graph = format!(
        "[graph]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nauthority_host = \"{}\"\ngraph_base = \"{}\"\n",
        emu.tenant_id(),
        emu.client_id(),
        emu.client_secret(),
        emu.base_url(),
        emu.graph_url()
    );
    std::fs::write(
        &config,
        format!(
            "{graph}[alerts]\nwebhook_url = \"{url}\"\ntimeout_secs = 5\nwebhook_secret = \"hook key\"\n"
        ),
    )
    .unwrap();
    let tv = Tv::new(&emu, dir.path()).with_config(&config);
    tv.init().await;

    // A bad [alerts] section is a usage error before anything runs.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!("{graph}[alerts]\nwebhook_url = \"ftp://example.com/x\"\n"),
    )
    .unwrap();
    tv.with_config(&bad)
        .expect_exit(2, &["backup", "onedrive"])
        .await;

    let report = tv.json(&["backup", "onedrive"]).await;
    let drive = report["drives"][0]["drive"]["driveId"]
        .as_str()
        .expect("drive id")
        .to_string();
    let out = tv.run(&["backup", "onedrive"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "an unchanged drive: {}",
        text(&out)
    );
    assert!(hooks.lock().unwrap().is_empty());

    let r = reqwest::Client::new()
        .post(format!("{}/_emulator/drive/ransomware", emu.base_url()))
        .json(&serde_json::json!({"drive": drive, "share": 0.4}))
        .send()
        .await
        .unwrap();
    let attack: serde_json::Value = r.json().await.unwrap();
    let encrypted = attack["encrypted"].as_u64().unwrap();
    assert!(encrypted >= 5, "{attack}");

    let out = tv.expect_exit(11, &["backup", "onedrive"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ALERT ") && err.contains("renamed *.locked"),
        "{err}"
    );
    let posted = hooks.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let (head, body) = &posted[0];
    let hook: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(hook["event"], "tenantvault.alert");
    assert_eq!(hook["alert"]["owner"], drive.as_str());
    // Signed: HMAC-SHA256 under [alerts] webhook_secret over "<timestamp>.<body>".
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no {name} header in {head}"))
    };
    let ts = header("x-tenantvault-timestamp");
    let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(b"hook key").unwrap();
    hmac::Mac::update(&mut mac, format!("{ts}.{body}").as_bytes());
    assert_eq!(
        header("x-tenantvault-signature"),
        format!(
            "sha256={}",
            hex::encode(hmac::Mac::finalize(mac).into_bytes())
        )
    );
    assert_eq!(
        header("x-tenantvault-delivery"),
        hook["alert"]["id"].as_str().unwrap()
    );

    // `snapshots` marks the suspect snapshot (and the pinned clean point) with the alert.
    let snaps = tv.json(&["snapshots"]).await;
    let snaps = snaps.as_array().unwrap();
    let suspect: Vec<&serde_json::Value> =
        snaps.iter().filter(|s| !s["suspect"].is_null()).collect();
    assert_eq!(suspect.len(), 1, "{snaps:#?}");
    assert_eq!(suspect[0]["id"], hook["alert"]["snapshot"]);
    assert_eq!(suspect[0]["suspect"]["alert"], hook["alert"]["id"]);
    let clean: Vec<&serde_json::Value> = snaps
        .iter()
        .filter(|s| !s["clean_point_of"].is_null())
        .collect();
    assert_eq!(clean.len(), 1);
    assert_eq!(clean[0]["id"], hook["alert"]["cleanSnapshot"]);
    let out = tv.run(&["snapshots"]).await;
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(table.matches("SUSPECT (alert ").count(), 1, "{table}");

    let list = tv.json(&["alerts", "list"]).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["id"], hook["alert"]["id"]);
    let out = tv.run(&["alerts", "show", &id[..12]]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("high-entropy"));
    tv.expect_exit(6, &["alerts", "show", "nope"]).await;

    // The dry run lists exactly the encrypted files and changes nothing.
    let plans = tv.json(&["recover", "--owner", &drive, "--dry-run"]).await;
    assert_eq!(
        plans[0]["items"].as_array().unwrap().len() as u64,
        encrypted
    );
    tv.expect_exit(
        2,
        &["recover", "--owner", &drive, "--before", "yesterday-ish"],
    )
    .await;
    tv.expect_exit(2, &["recover", "--owner", "nobody@nowhere", "--dry-run"])
        .await;

    // Clearing needs a reason; then the alert is closed and its hold released.
    tv.expect_exit(2, &["alerts", "clear", &id]).await;
    let out = tv
        .run(&[
            "alerts",
            "clear",
            &id,
            "--reason",
            "recovered",
            "--by",
            "admin",
        ])
        .await;
    assert!(out.status.success(), "{}", text(&out));
    let list = tv.json(&["alerts", "list"]).await;
    assert!(list.as_array().unwrap().is_empty());
    let list = tv.json(&["alerts", "list", "--all"]).await;
    assert_eq!(list[0]["cleared"]["by"], "admin");
    let snaps = tv.json(&["snapshots"]).await;
    assert!(
        snaps
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["suspect"].is_null() && s["clean_point_of"].is_null()),
        "clearing removes the marks: {snaps:#?}"
    );
    let out = tv.run(&["--json", "hold", "list"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let holds = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(holds.contains(&format!("alert:{id}")), "{holds}");
    let out = tv.run(&["alerts", "clear", &id, "--reason", "again"]).await;
    assert_eq!(out.status.code(), Some(2), "cleared twice: {}", text(&out));
}
