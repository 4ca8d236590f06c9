//! Teams endpoints of the emulator over HTTP: teams, channels, messages, replies, hosted
//! contents, channel delta, chats, `$top` caps and the protected-API 403.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenantvault_emulator::{Emulator, EmulatorConfig, ThrottleConfig};

struct T {
    emu: Emulator,
    http: reqwest::Client,
    token: String,
}

impl T {
    async fn start() -> T {
        let emu = Emulator::start(EmulatorConfig {
            seed: 11,
            users: 6,
            throttling: ThrottleConfig {
                enabled: false,
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let id = emu.client_id();
        let secret = emu.client_secret();
        let r: Value = http
            .post(emu.token_url())
            .form(&[
                ("client_id", id.as_str()),
                ("client_secret", secret.as_str()),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        T {
            token: r["access_token"].as_str().unwrap().to_string(),
            emu,
            http,
        }
    }

    async fn get(&self, p: &str) -> (StatusCode, Value) {
        let url = if p.starts_with("http") {
            p.to_string()
        } else {
            format!("{}{p}", self.emu.graph_url())
        };
        let r = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn admin(&self, p: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{p}", self.emu.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        r.json().await.unwrap()
    }
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn teams_channels_messages_replies_and_hosted_content() {
    let t = T::start().await;
    let (s, teams) = t.get("/teams").await;
    assert_eq!(s, StatusCode::OK, "{teams}");
    let teams = teams["value"].as_array().unwrap().clone();
    assert!(!teams.is_empty(), "Teams-enabled groups become teams");
    let team = teams[0]["id"].as_str().unwrap().to_string();
    let (_, chans) = t.get(&format!("/teams/{team}/channels")).await;
    let chans = chans["value"].as_array().unwrap().clone();
    let kinds: Vec<&str> = chans
        .iter()
        .map(|c| c["membershipType"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"standard") && kinds.contains(&"private"));
    let general = chans
        .iter()
        .find(|c| c["displayName"] == "General")
        .unwrap();
    let cid = enc(general["id"].as_str().unwrap());
    // $top caps at 50.
    let (s, e) = t
        .get(&format!("/teams/{team}/channels/{cid}/messages?$top=51"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    // Paging with $top and replies inline.
    let mut url = format!("/teams/{team}/channels/{cid}/messages?$top=5&$expand=replies");
    let mut roots = Vec::new();
    loop {
        let (s, page) = t.get(&url).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        roots.extend(page["value"].as_array().unwrap().iter().cloned());
        match page["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => break,
        }
    }
    assert_eq!(roots.len(), 12, "default channel_messages");
    assert!(
        roots.iter().all(|m| m["replyToId"].is_null()),
        "root posts only"
    );
    let with_replies = roots
        .iter()
        .find(|m| !m["replies"].as_array().unwrap().is_empty())
        .expect("some replies");
    let mid = with_replies["id"].as_str().unwrap();
    assert_eq!(with_replies["channelIdentity"]["teamId"], json!(team));
    let (_, replies) = t
        .get(&format!(
            "/teams/{team}/channels/{cid}/messages/{mid}/replies"
        ))
        .await;
    for r in replies["value"].as_array().unwrap() {
        assert_eq!(r["replyToId"], json!(mid));
    }
    // Hosted content: listed and downloadable as image bytes.
    let all_msgs: Vec<&Value> = roots
        .iter()
        .chain(
            roots
                .iter()
                .flat_map(|r| r["replies"].as_array().unwrap().iter()),
        )
        .collect();
    if let Some(m) = all_msgs.iter().find(|m| {
        m["body"]["content"]
            .as_str()
            .unwrap()
            .contains("hostedContents")
    }) {
        let path = match m["replyToId"].as_str() {
            Some(root) => format!(
                "/teams/{team}/channels/{cid}/messages/{root}/replies/{}",
                m["id"].as_str().unwrap()
            ),
            None => format!(
                "/teams/{team}/channels/{cid}/messages/{}",
                m["id"].as_str().unwrap()
            ),
        };
        let (_, hc) = t.get(&format!("{path}/hostedContents")).await;
        let hid = hc["value"][0]["id"].as_str().unwrap();
        let r = t
            .http
            .get(format!(
                "{}{path}/hostedContents/{}/$value",
                t.emu.graph_url(),
                enc(hid)
            ))
            .bearer_auth(&t.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("image/")
        );
        assert!(r.bytes().await.unwrap().len() > 1000);
    }
    t.emu.shutdown().await;
}

#[tokio::test]
async fn channel_delta_reports_new_replies_and_edits() {
    let t = T::start().await;
    let (_, teams) = t.get("/teams").await;
    let team = teams["value"][0]["id"].as_str().unwrap().to_string();
    let (_, chans) = t.get(&format!("/teams/{team}/channels")).await;
    let cid = enc(chans["value"][0]["id"].as_str().unwrap());
    let mut url = format!("/teams/{team}/channels/{cid}/messages/delta?$top=4");
    let mut seen = Vec::new();
    let delta = loop {
        let (s, page) = t.get(&url).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        seen.extend(page["value"].as_array().unwrap().iter().cloned());
        if let Some(n) = page["@odata.nextLink"].as_str() {
            url = n.to_string();
        } else {
            break page["@odata.deltaLink"].as_str().unwrap().to_string();
        }
    };
    // Only root posts from the last 8 months (relative to the emulator's clock) are in delta.
    let clock: Value = t
        .http
        .get(format!("{}/_emulator/clock", t.emu.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = chrono::DateTime::parse_from_rfc3339(clock["now"].as_str().unwrap()).unwrap();
    let (_, all) = t
        .get(&format!("/teams/{team}/channels/{cid}/messages?$top=50"))
        .await;
    let in_window = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            now - chrono::DateTime::parse_from_rfc3339(m["lastModifiedDateTime"].as_str().unwrap())
                .unwrap()
                <= chrono::Duration::days(240)
        })
        .count();
    assert_eq!(seen.len(), in_window);
    assert!(seen.iter().all(|m| m["replyToId"].is_null()));
    let (_, empty) = t.get(&delta).await;
    assert!(empty["value"].as_array().unwrap().is_empty());
    let a = t
        .admin(
            "/_emulator/teams/activity",
            json!({"messages": 1, "replies": 1, "edits": 1}),
        )
        .await;
    assert!(a["messages"].as_u64().unwrap() >= 1);
    let (_, changes) = t.get(&delta).await;
    let changed = changes["value"].as_array().unwrap();
    assert!(
        changed.len() >= 2,
        "new post and the root of the new reply: {changed:?}"
    );
    assert!(changes["@odata.deltaLink"].is_string());
    t.emu.shutdown().await;
}

#[tokio::test]
async fn chats_and_protected_api_toggle() {
    let t = T::start().await;
    let (s, chats) = t.get("/chats").await;
    assert_eq!(s, StatusCode::OK);
    let chats = chats["value"].as_array().unwrap().clone();
    assert!(chats.iter().any(|c| c["chatType"] == "oneOnOne"));
    let chat = enc(chats[0]["id"].as_str().unwrap());
    let (s, msgs) = t.get(&format!("/chats/{chat}/messages?$top=3")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(msgs["value"].as_array().unwrap().len(), 3);
    assert!(msgs["value"][0]["chatId"].is_string());
    let (s, _) = t
        .get(&format!("/chats/{chat}/messages?$orderby=subject"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A user's chats.
    let (_, users) = t.get("/users?$select=id").await;
    let uid = users["value"][0]["id"].as_str().unwrap();
    let (s, mine) = t.get(&format!("/users/{uid}/chats")).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    // Not approved for protected APIs: messages answer 403 with Graph's message, lists still work.
    t.admin("/_emulator/teams/protected-api", json!({"approved": false}))
        .await;
    let (s, e) = t.get(&format!("/chats/{chat}/messages")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Protected API access")
    );
    let (s, _) = t.get("/chats").await;
    assert_eq!(s, StatusCode::OK);
    t.emu.shutdown().await;
}
