//! Throttling (429 + Retry-After at the 5th concurrent request), fault injection determinism,
//! `$batch`, and stats counters.

mod common;
use common::*;
use serde_json::{Value, json};

async fn admin(emu: &tenantvault_emulator::Emulator, path: &str, body: Value) -> Value {
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
async fn fifth_concurrent_request_on_a_mailbox_gets_429() {
    let emu = start(2, true).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    admin(&emu, "faults", json!({"rate": 0.0, "latencyMs": 400})).await;
    let url = format!("/users/{u}/mailFolders/inbox");
    let futs = (0..5).map(|_| g.get(&url));
    let rs = futures::future::join_all(futs).await;
    let statuses: Vec<u16> = rs.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4,
        "{statuses:?}"
    );
    let t = rs.into_iter().find(|r| r.status() == 429).expect("one 429");
    let ra: u64 = t
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!(ra >= 1);
    let v: Value = t.json().await.expect("json");
    assert_eq!(v["error"]["code"], "ApplicationThrottled");
    // Other mailboxes are not affected; stats counted the 429.
    let stats: Value = reqwest::get(format!("{}/_emulator/stats", emu.base_url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["totals"]["mail"]["throttled"], 1);
    assert!(
        stats["totals"]["mail"]["bytes"].as_u64().expect("bytes") > 400,
        "response bytes counted: {stats}"
    );
    let row = stats["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["class"] == "mail")
        .expect("mail row")
        .clone();
    assert_eq!(row["app"], emu.client_id());
    assert_eq!(row["owner"], u);
    assert_eq!(row["requests"], 5);
}

#[tokio::test]
async fn request_budget_with_time_scale_and_rate_limit_headers() {
    let emu = start(2, true).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    admin(&emu, "throttling", json!({"mailboxRequestsPerWindow": 10, "windowSecs": 600, "timeScale": 2000.0, "reset": true})).await;
    let url = format!("/users/{u}/mailFolders/inbox");
    let mut saw_headers = false;
    for _ in 0..10 {
        let r = g.get(&url).await;
        assert_eq!(r.status(), 200);
        saw_headers |= r.headers().contains_key("ratelimit-remaining");
    }
    assert!(saw_headers, "RateLimit-* from 80% use");
    assert_eq!(g.get(&url).await.status(), 429);
    // 600 s / 2000 = 0.3 s later the window has passed.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(g.get(&url).await.status(), 200);
}

async fn fault_run(emu: &tenantvault_emulator::Emulator, g: &G, path: &str) -> Vec<u16> {
    admin(
        emu,
        "faults",
        json!({"rate": 0.3, "classes": ["directory"], "kinds": ["status500", "status503"]}),
    )
    .await;
    let mut out = Vec::new();
    for _ in 0..40 {
        out.push(g.get(path).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn faults_are_deterministic_by_seed_and_sequence() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    let a = fault_run(&emu, &g, "/users").await;
    let b = fault_run(&emu, &g, "/users").await;
    assert_eq!(a, b, "same seed and order → same faults");
    let faults = a.iter().filter(|s| **s != 200).count();
    assert!((4..=24).contains(&faults), "{a:?}");
    assert!(a.iter().all(|s| matches!(s, 200 | 500 | 503)));
    // Mail is not in the fault classes.
    let u = first_user(&G::new(&emu).await).await;
    admin(
        &emu,
        "faults",
        json!({"rate": 1.0, "classes": ["directory"]}),
    )
    .await;
    assert_eq!(
        g.get(&format!("/users/{u}/mailFolders/inbox"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn reset_and_truncate_faults_break_the_connection() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    admin(&emu, "faults", json!({"rate": 1.0, "kinds": ["reset"]})).await;
    assert!(
        g.http
            .get(g.url("/users"))
            .bearer_auth(&g.token)
            .send()
            .await
            .is_err(),
        "connection reset"
    );
    admin(&emu, "faults", json!({"rate": 1.0, "kinds": ["truncate"]})).await;
    let r = g
        .http
        .get(g.url("/users"))
        .bearer_auth(&g.token)
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "body is cut short");
    admin(&emu, "faults", json!({"rate": 0.0})).await;
    assert_eq!(g.get("/users").await.status(), 200);
}

#[tokio::test]
async fn batch_runs_dependencies_and_fails_dependents_with_424() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let body = json!({"requests": [
        {"id": "1", "method": "GET", "url": "/users?$top=1"},
        {"id": "2", "method": "GET", "url": format!("/users/{u}/mailFolders/inbox"), "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000000"},
        {"id": "4", "method": "GET", "url": "/users?$top=1", "dependsOn": ["3"]},
        {"id": "5", "method": "GET", "url": format!("/users/{u}/messages?$top=1")},
    ]});
    let r = g.send(reqwest::Method::POST, "/$batch", Some(body)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    let status = |id: &str| {
        v["responses"]
            .as_array()
            .expect("responses")
            .iter()
            .find(|x| x["id"] == id)
            .expect("response")["status"]
            .as_u64()
            .expect("status")
    };
    assert_eq!(status("1"), 200);
    assert_eq!(status("2"), 200);
    assert_eq!(status("3"), 404);
    assert_eq!(status("4"), 424);
    assert_eq!(status("5"), 200);
    let too_many: Vec<Value> = (0..21)
        .map(|i| json!({"id": i.to_string(), "method": "GET", "url": "/users"}))
        .collect();
    let r = g
        .send(
            reqwest::Method::POST,
            "/$batch",
            Some(json!({"requests": too_many})),
        )
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "MaximumValueExceeded");
}

#[tokio::test]
async fn sharepoint_throttling_can_answer_503_with_retry_after() {
    let emu = start(2, true).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let bad = reqwest::Client::new()
        .post(format!("{}/_emulator/throttling", emu.base_url()))
        .json(&json!({"sharepoint503Share": 1.5}))
        .send()
        .await
        .expect("send");
    assert_eq!(bad.status(), 400, "share outside 0..=1 is rejected");
    let cfg = admin(
        &emu,
        "throttling",
        json!({"sharepointRuPerMinute": 1, "sharepoint503Share": 1.0, "reset": true}),
    )
    .await;
    assert_eq!(cfg["sharepoint503Share"], 1.0);
    let url = format!("/users/{u}/drive");
    assert_eq!(g.get(&url).await.status(), 200);
    let r = g.get(&url).await;
    assert_eq!(r.status(), 503);
    let ra: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After seconds");
    assert!(ra >= 1);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["error"]["code"], "serviceNotAvailable");
    // Counted as throttling, not as an injected fault.
    let stats: Value = reqwest::get(format!("{}/_emulator/stats", emu.base_url()))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let sum = |k: &str| -> u64 {
        stats["totals"]
            .as_object()
            .expect("totals")
            .values()
            .map(|c| c[k].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("throttled"), 1, "{stats}");
    assert_eq!(sum("faults"), 0, "{stats}");
}
