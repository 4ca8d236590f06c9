//! Exchange endpoints end to end over HTTP.

mod common;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn messages_delta_pages_changes_and_removals() {
    let emu = start(3, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let first = format!("/users/{u}/mailFolders/inbox/messages/delta()?$select=subject,isRead");
    let r = g
        .get_with(&first, &[("Prefer", "odata.maxpagesize=3")])
        .await;
    assert_eq!(
        r.headers()
            .get("preference-applied")
            .and_then(|v| v.to_str().ok()),
        Some("odata.maxpagesize=3")
    );
    let (items, delta) = g.delta_round(&first, 3).await;
    let inbox = g.json(&format!("/users/{u}/mailFolders/inbox")).await;
    assert_eq!(
        items.len() as u64,
        inbox["totalItemCount"].as_u64().expect("count")
    );
    assert!(items.len() > 3, "several pages");
    assert!(
        items
            .iter()
            .all(|i| i.get("subject").is_some() && i.get("body").is_none()),
        "$select frozen into links"
    );
    // No changes → empty round.
    let (none, delta2) = g.delta_round(&delta, 3).await;
    assert!(none.is_empty());
    // Change one, move one, delete one.
    let a = items[0]["id"].as_str().expect("id");
    let b = items[1]["id"].as_str().expect("id");
    let c = items[2]["id"].as_str().expect("id");
    let r = g
        .send(
            reqwest::Method::PATCH,
            &format!("/users/{u}/messages/{a}"),
            Some(json!({"isRead": false, "categories": ["Blue category"]})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/messages/{b}/move"),
            Some(json!({"destinationId": "archive"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = g
        .send(
            reqwest::Method::DELETE,
            &format!("/users/{u}/messages/{c}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let (changes, _) = g.delta_round(&delta2, 10).await;
    let find = |id: &str| changes.iter().find(|x| x["id"] == id).cloned();
    let changed = find(a).expect("updated message reported");
    assert_eq!(changed["isRead"], false);
    assert_eq!(find(b).expect("moved out")["@removed"]["reason"], "deleted");
    assert_eq!(find(c).expect("deleted")["@removed"]["reason"], "deleted");
    // The deleted one is in Recoverable Items; the moved one in Archive.
    let rec = g.json(&format!("/users/{u}/mailFolders/recoverableitemsdeletions/messages?$select=internetMessageId&$top=1000")).await;
    assert!(!rec["value"].as_array().expect("v").is_empty());
    // An old REST id is invalid after a move.
    assert_eq!(
        g.get(&format!("/users/{u}/messages/{b}")).await.status(),
        404
    );
}

#[tokio::test]
async fn immutable_ids_survive_moves() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let v: Value = g
        .get_with(
            &format!("/users/{u}/mailFolders/inbox/messages?$top=1"),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await
        .json()
        .await
        .expect("json");
    let id = v["value"][0]["id"].as_str().expect("id").to_string();
    let r = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/messages/{id}/move"),
            Some(json!({"destinationId": "archive"})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = g
        .get_with(
            &format!("/users/{u}/messages/{id}"),
            &[("Prefer", "IdType=\"ImmutableId\"")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.expect("json");
    let archive = g.json(&format!("/users/{u}/mailFolders/archive")).await;
    assert_eq!(m["parentFolderId"], archive["id"]);
}

#[tokio::test]
async fn select_unknown_property_is_400_and_value_is_mime() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let r = g
        .get(&format!(
            "/users/{u}/mailFolders/inbox/messages?$select=subject,nonsense"
        ))
        .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "BadRequest");
    assert!(e["error"]["innerError"]["request-id"].is_string());
    let v = g
        .json(&format!("/users/{u}/mailFolders/inbox/messages?$top=1"))
        .await;
    let id = v["value"][0]["id"].as_str().expect("id");
    let r = g.get(&format!("/users/{u}/messages/{id}/$value")).await;
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.expect("bytes");
    assert!(body.windows(17).any(|w| w == b"MIME-Version: 1.0"));
}

#[tokio::test]
async fn restore_create_json_non_draft_and_mime_draft() {
    let emu = start(2, false).await;
    let g = G::new(&emu).await;
    let u = first_user(&g).await;
    let folder = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/mailFolders"),
            Some(json!({"displayName": "Restored"})),
        )
        .await;
    assert_eq!(folder.status(), 201);
    let folder: Value = folder.json().await.expect("json");
    let fid = folder["id"].as_str().expect("id");
    let dup = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/mailFolders"),
            Some(json!({"displayName": "restored"})),
        )
        .await;
    assert_eq!(dup.status(), 409);
    let msg = json!({
        "subject": "Restored mail",
        "body": {"contentType": "text", "content": "hello"},
        "from": {"emailAddress": {"name": "A", "address": "a@example.com"}},
        "toRecipients": [{"emailAddress": {"name": "B", "address": "b@example.com"}}],
        "isRead": true,
        "flag": {"flagStatus": "flagged"},
        "singleValueExtendedProperties": [
            {"id": "Integer 0x0E07", "value": "1"},
            {"id": "SystemTime 0x0E06", "value": "2024-03-01T10:00:00Z"}
        ]
    });
    let r = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/mailFolders/{fid}/messages"),
            Some(msg),
        )
        .await;
    assert_eq!(r.status(), 201);
    let m: Value = r.json().await.expect("json");
    assert_eq!(m["isDraft"], false);
    assert_eq!(m["receivedDateTime"], "2024-03-01T10:00:00Z");
    assert_eq!(m["flag"]["flagStatus"], "flagged");
    // Same without the property → draft.
    let r = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/mailFolders/{fid}/messages"),
            Some(json!({"subject": "x"})),
        )
        .await;
    let m2: Value = r.json().await.expect("json");
    assert_eq!(m2["isDraft"], true);
    // MIME → always a draft.
    use base64::Engine;
    let mime = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: From MIME\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <m1@example.com>\r\n\r\nBody\r\n";
    let r = g
        .http
        .post(g.url(&format!("/users/{u}/mailFolders/{fid}/messages")))
        .bearer_auth(&g.token)
        .header("content-type", "text/plain")
        .body(base64::engine::general_purpose::STANDARD.encode(mime))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 201);
    let m3: Value = r.json().await.expect("json");
    assert_eq!(m3["isDraft"], true);
    assert_eq!(m3["subject"], "From MIME");
    let r = g
        .http
        .post(g.url(&format!("/users/{u}/mailFolders/{fid}/messages")))
        .bearer_auth(&g.token)
        .header("content-type", "text/plain")
        .body("!!!not base64!!!")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "ErrorMimeContentInvalidBase64String");
    // The $value of the MIME-created message is the uploaded MIME.
    let id3 = m3["id"].as_str().expect("id");
    let raw = g
        .get(&format!("/users/{u}/messages/{id3}/$value"))
        .await
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&raw[..], &mime[..]);
}

#[tokio::test]
async fn read_only_app_gets_403_on_writes_and_no_token_401() {
    let emu = start(2, false).await;
    let t = token_for(
        &emu,
        &emu.readonly_client_id(),
        &emu.readonly_client_secret(),
    )
    .await;
    let g = G {
        base: emu.graph_url(),
        token: t,
        http: reqwest::Client::new(),
    };
    let u = first_user(&g).await;
    let r = g
        .send(
            reqwest::Method::POST,
            &format!("/users/{u}/mailFolders"),
            Some(json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let e: Value = r.json().await.expect("json");
    assert_eq!(e["error"]["code"], "ErrorAccessDenied");
    let r = reqwest::Client::new()
        .get(format!("{}/users", emu.graph_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("www-authenticate").is_some());
}
