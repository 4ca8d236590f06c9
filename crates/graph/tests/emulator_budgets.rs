//! SharePoint resource units and `$batch` against the emulator's throttling.

mod emulator_common;

use emulator_common::*;
use futures::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tenantvault_emulator::EmulatorConfig;
use tenantvault_graph::{
    BatchRequest, DeltaEvent, Drive, DriveItem, GraphClient, GraphError, QuickXorHash,
};

/// Delta of one drive plus every file's content hash.
async fn drive_pass(client: &GraphClient, drive: &str) -> BTreeMap<String, String> {
    let sp = client.sharepoint();
    let (events, _) = sp
        .delta::<DriveItem>(&format!("drives/{drive}/root/delta"))
        .collect_all()
        .await
        .unwrap();
    let files: Vec<String> = events
        .into_iter()
        .filter_map(|e| match e {
            DeltaEvent::Upsert(i) if i.file.is_some() => Some(i.id),
            _ => None,
        })
        .collect();
    futures::stream::iter(files)
        .map(|id| {
            let sp = sp.clone();
            async move {
                let b = sp
                    .get_bytes(&format!("drives/{drive}/items/{id}/content"))
                    .await
                    .unwrap();
                (id, QuickXorHash::of(&b))
            }
        })
        .buffer_unordered(6)
        .collect()
        .await
}

async fn first_drive(client: &GraphClient) -> String {
    for u in mailbox_users(client).await {
        match client.get::<Drive>(&format!("users/{}/drive", u.id)).await {
            Ok(d) => return d.id,
            Err(GraphError::NotFound(_)) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    panic!("no drive")
}

#[tokio::test]
async fn sharepoint_resource_units_honoured_and_budgeted() {
    let mut cfg = EmulatorConfig {
        seed: 41,
        users: 2,
        ..Default::default()
    };
    cfg.drive.large_files = 0;
    let (emu, client) = start(cfg.clone()).await;
    let drive = first_drive(&client).await;
    let want = drive_pass(&client, &drive).await;
    emu.shutdown().await;
    assert!(want.len() >= 5, "{} files", want.len());

    // 8 RU per (time-scaled) 1-second minute.
    cfg.throttling.sharepoint_ru_per_minute = 8;
    cfg.throttling.time_scale = 60.0;
    let (emu, unaware) = start(cfg.clone()).await;
    let got = drive_pass(&unaware, &drive).await;
    assert!(unaware.metrics().throttled > 0, "{:?}", unaware.metrics());
    assert_eq!(got, want);
    emu.shutdown().await;

    let emu = tenantvault_emulator::Emulator::start(cfg).await.unwrap();
    let mut gc = config_for(&emu);
    gc.limits.resource_units_per_window = 8;
    gc.limits.resource_unit_window = Duration::from_millis(1100);
    let aware = GraphClient::new(gc).unwrap();
    let got = drive_pass(&aware, &drive).await;
    assert_eq!(aware.metrics().throttled, 0, "{:?}", aware.metrics());
    assert_eq!(got, want);
    emu.shutdown().await;
}

#[tokio::test]
async fn batch_matches_single_requests_under_mailbox_throttling() {
    let mut cfg = EmulatorConfig {
        seed: 42,
        users: 2,
        ..Default::default()
    };
    cfg.generator.messages_per_mailbox = 80;
    let (emu, client) = start(cfg).await;
    let user = mailbox_users(&client).await.remove(0).id;
    let mbx = client.mailbox(&user);
    let ids: Vec<String> = mbx
        .pages::<Value>(&format!("users/{user}/messages?$select=id&$top=50"))
        .map(|v| v.unwrap()["id"].as_str().unwrap().to_string())
        .take(30)
        .collect()
        .await;
    assert!(ids.len() > 20, "{} messages", ids.len());
    let reqs: Vec<BatchRequest> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            BatchRequest::get(
                i.to_string(),
                format!("/users/{user}/messages/{id}?$select=id,subject"),
            )
        })
        .collect();
    let before = client.metrics();
    let out = mbx.batch(reqs).await.unwrap();
    let after = client.metrics();
    assert_eq!(out.len(), ids.len());
    for (i, (resp, id)) in out.iter().zip(&ids).enumerate() {
        assert_eq!(resp.id, i.to_string());
        assert_eq!(resp.status, 200, "{resp:?}");
        let single: Value = mbx
            .get(&format!("users/{user}/messages/{id}?$select=id,subject"))
            .await
            .unwrap();
        assert_eq!(resp.body.as_ref().unwrap()["subject"], single["subject"]);
    }
    // More than 20 requests: at least two $batch calls (more if members were throttled).
    assert!(after.requests - before.requests >= 2);
    emu.shutdown().await;
}
