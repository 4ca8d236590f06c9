//! Delta expiry (410), calendar/contacts delta, and the admin scenarios.

mod common;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;
use tenantvault_emulator::{Emulator, EmulatorConfig};

async fn admin(emu: &Emulator, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/_emulator/{path}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert!(r.status().is_success(), "admin {path}: {}", r.status());
    r.json().await.expect("json")
}

#[tokio::test]
async fn expired_delta_tokens_answer_410_sync_state_not_found() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let (_, delta) = g
        .delta_round(&format!("/users/{u}/mailFolders/inbox/messages/delta"), 20)
        .await;
    // A nextLink mid-round, too.
    let r: Value = g
        .get_with(
            &format!("/users/{u}/mailFolders/inbox/messages/delta"),
            &[("Prefer", "odata.maxpagesize=2")],
        )
        .await
        .json()
        .await
        .expect("json");
    let next = r["@odata.nextLink"].as_str().expect("next").to_string();
    admin(&emu, "delta/expire", json!({"user": u})).await;
    for link in [&delta, &next] {
        let r = g.get(link).await;
        assert_eq!(r.status(), 410);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"]["code"], "SyncStateNotFound");
    }
    // A fresh round works again.
    let (items, _) = g
        .delta_round(&format!("/users/{u}/mailFolders/inbox/messages/delta"), 20)
        .await;
    assert!(!items.is_empty());
    // Forged token → 400.
    assert_eq!(
        g.get(&format!(
            "/users/{u}/mailFolders/inbox/messages/delta?$deltatoken=abc.def"
        ))
        .await
        .status(),
        400
    );
}

#[tokio::test]
async fn delta_tokens_expire_by_ttl_in_simulated_time() {
    let emu = Emulator::start(EmulatorConfig {
        seed: 3,
        users: 2,
        delta_token_ttl: Some(Duration::from_secs(7 * 86_400)),
        ..Default::default()
    })
    .await
    .expect("start");
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let (_, delta) = g
        .delta_round(&format!("/users/{u}/mailFolders/inbox/messages/delta"), 50)
        .await;
    assert_eq!(g.get(&delta).await.status(), 200);
    admin(&emu, "clock/advance", json!({"days": 8})).await;
    let g = G::new(&emu).await; // the old access token expired with the clock, too
    assert_eq!(g.get(&delta).await.status(), 410);
}

#[tokio::test]
async fn calendar_view_delta_needs_a_window_and_expands_series() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let r = g.get(&format!("/users/{u}/calendarView/delta")).await;
    assert_eq!(r.status(), 400);
    let first = format!(
        "/users/{u}/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z"
    );
    let (items, delta) = g.delta_round(&first, 7).await;
    let kinds: Vec<&str> = items
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    assert!(
        kinds.contains(&"occurrence")
            && kinds.contains(&"exception")
            && kinds.contains(&"singleInstance"),
        "{kinds:?}"
    );
    assert!(!kinds.contains(&"seriesMaster"));
    let series_instances = items
        .iter()
        .filter(|e| e["seriesMasterId"].is_string())
        .count();
    assert_eq!(
        series_instances,
        2 * 11,
        "12 weekly occurrences minus one cancelled, two series"
    );
    let created = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/events"),
            Some(json!({
                "subject": "Restored meeting",
                "start": {"dateTime": "2026-07-01T10:00:00", "timeZone": "UTC"},
                "end": {"dateTime": "2026-07-01T11:00:00", "timeZone": "UTC"},
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let (changes, _) = g.delta_round(&delta, 10).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["subject"], "Restored meeting");
}

#[tokio::test]
async fn contacts_delta_reports_creates_and_deletes() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let folders = g.json(&format!("/users/{u}/contactFolders")).await;
    let f = folders["value"][0]["id"].as_str().expect("id").to_string();
    let (items, delta) = g
        .delta_round(&format!("/users/{u}/contactFolders/{f}/contacts/delta"), 4)
        .await;
    assert_eq!(items.len(), 6);
    let r = g.send(reqwest::Method::POST, &format!("/users/{u}/contacts"), Some(json!({"givenName": "Ada", "surname": "Lovelace", "emailAddresses": [{"address": "ada@example.com", "name": "Ada"}]}))).await;
    assert_eq!(r.status(), 201);
    let old = items[0]["id"].as_str().expect("id");
    assert_eq!(
        g.send(
            reqwest::Method::DELETE,
            &format!("/users/{u}/contacts/{old}"),
            None
        )
        .await
        .status(),
        204
    );
    let (changes, _) = g.delta_round(&delta, 4).await;
    assert_eq!(changes.len(), 2);
    assert!(changes.iter().any(|c| c["givenName"] == "Ada"));
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == old && c["@removed"]["reason"] == "deleted")
    );
    let bad = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/contacts"),
            Some(json!({"nonsense": 1})),
        )
        .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn activity_insider_and_departure_scenarios() {
    let emu = start(3, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let (_, delta) = g
        .delta_round(&format!("/users/{u}/mailFolders/inbox/messages/delta"), 50)
        .await;
    let (_, fdelta) = g
        .delta_round(&format!("/users/{u}/mailFolders/delta"), 50)
        .await;
    let rep = admin(&emu, "scenarios/activity", json!({"days": 3, "user": u})).await;
    assert_eq!(rep["report"]["new"], 9);
    let g = G::new(&emu).await;
    let (changes, _) = g.delta_round(&delta, 50).await;
    assert!(
        changes
            .iter()
            .filter(|c| c.get("@removed").is_none())
            .count()
            >= 9,
        "new mail shows up"
    );
    assert!(
        changes.iter().any(|c| c.get("@removed").is_some()),
        "moved/deleted mail shows up as removed"
    );
    let _ = g.delta_round(&fdelta, 50).await;
    // Insider: everything to Recoverable Items, then purged.
    let r = admin(
        &emu,
        "scenarios/insider",
        json!({"user": u, "purgeRecoverable": true}),
    )
    .await;
    assert!(r["deleted"].as_u64().expect("deleted") > 0);
    let inbox = g.json(&format!("/users/{u}/mailFolders/inbox")).await;
    assert_eq!(inbox["totalItemCount"], 0);
    let rec = g
        .json(&format!("/users/{u}/mailFolders/recoverableitemsdeletions"))
        .await;
    assert_eq!(rec["totalItemCount"], 0);
    // Departure: gone from /users, listed as deleted, then gone entirely after retention.
    admin(
        &emu,
        "scenarios/departure",
        json!({"user": u, "mailboxRetentionDays": 10}),
    )
    .await;
    assert_eq!(g.get(&format!("/users/{u}")).await.status(), 404);
    assert_eq!(
        g.get(&format!("/users/{u}/mailFolders/inbox"))
            .await
            .status(),
        404
    );
    let deleted = g.json("/directory/deletedItems/microsoft.graph.user").await;
    assert!(
        deleted["value"]
            .as_array()
            .expect("v")
            .iter()
            .any(|x| x["id"] == u)
    );
    admin(&emu, "clock/advance", json!({"days": 11})).await;
    let g = G::new(&emu).await;
    let deleted = g.json("/directory/deletedItems/microsoft.graph.user").await;
    assert!(
        !deleted["value"]
            .as_array()
            .expect("v")
            .iter()
            .any(|x| x["id"] == u)
    );
}

#[tokio::test]
async fn users_paging_select_filter() {
    let emu = start(25, false).await;
    let g = G::new(&emu).await;
    let mut url = "/users?$top=10&$select=id,accountEnabled,userType,assignedLicenses".to_string();
    let mut all = Vec::new();
    loop {
        let v = g.json(&url).await;
        all.extend(v["value"].as_array().expect("v").clone());
        match v["@odata.nextLink"].as_str() {
            Some(n) => {
                assert!(n.starts_with("http://127.0.0.1:"), "absolute nextLink");
                assert!(
                    n.contains("%24select") || n.contains("$select"),
                    "query options kept"
                );
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(all.len(), 25);
    assert!(
        all.iter()
            .all(|u| u.get("displayName").is_none() && u.get("accountEnabled").is_some())
    );
    let enabled = g
        .json("/users?$filter=accountEnabled eq false&$select=id,accountEnabled")
        .await;
    assert!(
        enabled["value"]
            .as_array()
            .expect("v")
            .iter()
            .all(|u| u["accountEnabled"] == false)
    );
    assert!(!enabled["value"].as_array().expect("v").is_empty());
    assert_eq!(g.get("/users?$select=nope").await.status(), 400);
    assert_eq!(
        g.get("/users?$filter=displayName gt 'a'").await.status(),
        400
    );
    let groups = g.json("/groups").await;
    let gid = groups["value"][0]["id"].as_str().expect("gid");
    let members = g.json(&format!("/groups/{gid}/members")).await;
    assert!(!members["value"].as_array().expect("v").is_empty());
}
