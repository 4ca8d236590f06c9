//! Same seed → same tenant; different seed → different tenant.

mod common;
use common::*;
use serde_json::Value;
use tenantvault_emulator::{Emulator, EmulatorConfig};

async fn snapshot(seed: u64) -> (Vec<String>, Vec<String>, Vec<u8>) {
    let emu = Emulator::start(EmulatorConfig {
        seed,
        users: 4,
        ..Default::default()
    })
    .await
    .expect("start");
    let g = G::new(&emu).await;
    let users: Value = g
        .json("/users?$select=id,userPrincipalName,displayName")
        .await;
    let ids: Vec<String> = users["value"]
        .as_array()
        .expect("v")
        .iter()
        .map(|u| {
            format!(
                "{}|{}|{}",
                u["id"], u["userPrincipalName"], u["displayName"]
            )
        })
        .collect();
    let u = users["value"][0]["id"].as_str().expect("id").to_string();
    let (items, _) = g.delta_round(&format!("/users/{u}/mailFolders/inbox/messages/delta?$select=subject,receivedDateTime,internetMessageId"), 50).await;
    let msgs: Vec<String> = items
        .iter()
        .map(|m| {
            format!(
                "{}|{}|{}|{}",
                m["id"], m["subject"], m["receivedDateTime"], m["internetMessageId"]
            )
        })
        .collect();
    let first = items[0]["id"].as_str().expect("id");
    let mime = g
        .get(&format!("/users/{u}/messages/{first}/$value"))
        .await
        .bytes()
        .await
        .expect("bytes")
        .to_vec();
    emu.shutdown().await;
    (ids, msgs, mime)
}

#[tokio::test]
async fn same_seed_same_tenant() {
    let a = snapshot(7).await;
    let b = snapshot(7).await;
    assert_eq!(a, b);
    let c = snapshot(8).await;
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
}
