//! Every JSON object type the emulator serves uses only property names of the Graph v1.0 schema.

mod common;
#[path = "common/schema.rs"]
mod schema;
use common::*;
use serde_json::Value;

#[tokio::test]
async fn served_objects_use_only_schema_properties() {
    let emu = start(6, false).await;
    let g = G::new(&emu).await;
    let mut checked = std::collections::HashMap::new();
    let mut count = |t: &str, v: &Value| {
        let n = schema::check(t, v);
        *checked.entry(t.to_string()).or_insert(0) += n;
    };
    let all_user_props = "id,displayName,givenName,surname,mail,userPrincipalName,accountEnabled,userType,assignedLicenses,mailNickname,proxyAddresses,department,createdDateTime,deletedDateTime,jobTitle,businessPhones,mobilePhone,officeLocation,preferredLanguage,onPremisesSyncEnabled,usageLocation";
    let users = g.json(&format!("/users?$select={all_user_props}")).await;
    for u in users["value"].as_array().expect("users") {
        count("user", u);
    }
    for gr in g.json("/groups").await["value"].as_array().expect("groups") {
        count("group", gr);
    }
    count("organization", &g.json("/organization").await["value"][0]);
    let u = first_user(&g).await;
    let (folders, _) = g
        .delta_round(&format!("/users/{u}/mailFolders/delta"), 50)
        .await;
    for f in &folders {
        count("mailFolder", f);
    }
    let msgs = g
        .json(&format!(
            "/users/{u}/mailFolders/inbox/messages?$top=60&$expand=attachments"
        ))
        .await;
    for m in msgs["value"].as_array().expect("messages") {
        count("message", m);
        let id = m["id"].as_str().expect("id");
        if m["hasAttachments"] == true {
            let atts = g.json(&format!("/users/{u}/messages/{id}/attachments?$expand=microsoft.graph.itemattachment/item")).await;
            for a in atts["value"].as_array().expect("atts") {
                count("attachment", a);
            }
        }
    }
    let one = msgs["value"][0]["id"].as_str().expect("id");
    count(
        "message",
        &g.json(&format!(
            "/users/{u}/messages/{one}?$select=internetMessageHeaders,uniqueBody,subject"
        ))
        .await,
    );
    let (events, _) = g.delta_round(&format!("/users/{u}/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z"), 50).await;
    for e in &events {
        count("event", e);
    }
    for e in g.json(&format!("/users/{u}/events?$top=50")).await["value"]
        .as_array()
        .expect("events")
    {
        count("event", e);
    }
    count(
        "calendar",
        &g.json(&format!("/users/{u}/calendars")).await["value"][0],
    );
    let cf = g.json(&format!("/users/{u}/contactFolders")).await;
    count("contactFolder", &cf["value"][0]);
    for c in g.json(&format!("/users/{u}/contacts?$top=50")).await["value"]
        .as_array()
        .expect("contacts")
    {
        count("contact", c);
    }
    for t in [
        "user",
        "group",
        "mailFolder",
        "message",
        "attachment",
        "event",
        "calendar",
        "contactFolder",
        "contact",
    ] {
        assert!(checked.get(t).copied().unwrap_or(0) > 0, "no {t} checked");
    }
    // All three attachment kinds were seen.
    let kinds: std::collections::HashSet<String> = msgs["value"]
        .as_array()
        .expect("m")
        .iter()
        .flat_map(|m| m["attachments"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["@odata.type"].as_str().map(str::to_string))
        .collect();
    assert!(kinds.len() >= 2, "attachment kinds seen: {kinds:?}");
}

#[test]
fn schema_knows_base_types_and_rejects_invented_properties() {
    let m = schema::properties("message");
    assert!(
        m.contains("changeKey") && m.contains("id") && m.contains("subject"),
        "base types outlookItem/entity included"
    );
    assert!(!m.contains("nonsense"));
    let a = schema::properties("attendee");
    assert!(
        a.contains("emailAddress"),
        "complex base types (attendeeBase → recipient) included"
    );
}

#[test]
#[should_panic(expected = "not in the v1.0 schema")]
fn schema_check_fails_on_an_invented_property() {
    schema::check(
        "message",
        &serde_json::json!({"id": "x", "subject": "s", "flag": {"flagStatus": "flagged", "colour": "red"}}),
    );
}
