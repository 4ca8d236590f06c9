//! The schema check (E1's `tests/common/schema.rs`) over every OneDrive/SharePoint/Teams type
//! the emulator serves: drive, driveItem (live and delta/deleted), driveItemVersion,
//! permission, site, list, listItem, team, channel, chat, chatMessage (with replies) and
//! chatMessageHostedContent.

mod common;
#[path = "common/schema.rs"]
mod schema;
use common::*;
use serde_json::Value;

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn drive_and_teams_objects_use_only_schema_properties() {
    let emu = start(6, false).await;
    let g = G::new(&emu).await;
    let mut checked = std::collections::HashMap::new();
    let mut count = |t: &str, v: &Value| {
        // The shared checker maps any `from` to Outlook's `recipient`; a chatMessage's `from`
        // is a chatMessageFromIdentitySet, checked on its own.
        let mut v = v.clone();
        if t == "chatMessage"
            && let Some(from) = v.as_object_mut().and_then(|o| o.remove("from"))
        {
            *checked
                .entry("chatMessageFromIdentitySet".into())
                .or_insert(0) += schema::check("chatMessageFromIdentitySet", &from);
            if let Some(user) = from.get("user") {
                schema::check("teamworkUserIdentity", user);
            }
        }
        *checked.entry(t.to_string()).or_insert(0) += schema::check(t, &v);
    };
    let users = g.json("/users?$select=id,assignedLicenses").await;
    let uid = users["value"][0]["id"].as_str().expect("id").to_string();
    let drive = g.json(&format!("/users/{uid}/drive")).await;
    count("drive", &drive);
    let did = drive["id"].as_str().expect("drive id").to_string();
    let delta = g.json(&format!("/drives/{did}/root/delta")).await;
    let items = delta["value"].as_array().expect("items").clone();
    for it in &items {
        count("driveItem", it);
    }
    let file = items
        .iter()
        .find(|i| i.get("file").is_some())
        .expect("a file");
    let fid = file["id"].as_str().expect("id");
    count(
        "driveItem",
        &g.json(&format!("/drives/{did}/items/{fid}")).await,
    );
    count(
        "driveItem",
        &g.json(&format!("/drives/{did}/root?$expand=children"))
            .await,
    );
    for v in g.json(&format!("/drives/{did}/items/{fid}/versions")).await["value"]
        .as_array()
        .expect("versions")
    {
        count("driveItemVersion", v);
    }
    for p in g
        .json(&format!("/drives/{did}/items/{fid}/permissions"))
        .await["value"]
        .as_array()
        .expect("perms")
    {
        count("permission", p);
    }
    // A deleted item in delta.
    let link = delta["@odata.deltaLink"]
        .as_str()
        .expect("deltaLink")
        .to_string();
    let r = g
        .http
        .delete(g.url(&format!("/drives/{did}/items/{fid}")))
        .bearer_auth(&g.token)
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    for it in g.json(&link).await["value"].as_array().expect("changes") {
        count("driveItem", it);
    }
    let sites = g.json("/sites/getAllSites").await;
    for s in sites["value"].as_array().expect("sites") {
        count("site", s);
    }
    let sid = sites["value"][0]["id"]
        .as_str()
        .expect("site id")
        .to_string();
    for d in g.json(&format!("/sites/{sid}/drives")).await["value"]
        .as_array()
        .expect("drives")
    {
        count("drive", d);
    }
    let lists = g.json(&format!("/sites/{sid}/lists")).await;
    for l in lists["value"].as_array().expect("lists") {
        count("list", l);
        if l["list"]["template"] == "genericList" {
            let lid = l["id"].as_str().expect("list id");
            for it in g
                .json(&format!("/sites/{sid}/lists/{lid}/items?$expand=fields"))
                .await["value"]
                .as_array()
                .expect("items")
            {
                count("listItem", it);
            }
        }
    }
    let teams = g.json("/teams").await;
    for t in teams["value"].as_array().expect("teams") {
        count("team", t);
    }
    let tid = teams["value"][0]["id"]
        .as_str()
        .expect("team id")
        .to_string();
    let chans = g.json(&format!("/teams/{tid}/channels")).await;
    for c in chans["value"].as_array().expect("channels") {
        count("channel", c);
    }
    let cid = enc(chans["value"][0]["id"].as_str().expect("channel id"));
    let msgs = g
        .json(&format!(
            "/teams/{tid}/channels/{cid}/messages?$top=50&$expand=replies"
        ))
        .await;
    for m in msgs["value"].as_array().expect("messages") {
        count("chatMessage", m);
        for r in m["replies"].as_array().into_iter().flatten() {
            count("chatMessage", r);
        }
        if m["body"]["content"]
            .as_str()
            .is_some_and(|b| b.contains("hostedContents"))
        {
            let mid = m["id"].as_str().expect("id");
            for h in g
                .json(&format!(
                    "/teams/{tid}/channels/{cid}/messages/{mid}/hostedContents"
                ))
                .await["value"]
                .as_array()
                .expect("hc")
            {
                count("chatMessageHostedContent", h);
            }
        }
    }
    let chats = g.json("/chats").await;
    for c in chats["value"].as_array().expect("chats") {
        count("chat", c);
    }
    let chat = enc(chats["value"][0]["id"].as_str().expect("chat id"));
    for m in g.json(&format!("/chats/{chat}/messages")).await["value"]
        .as_array()
        .expect("chat messages")
    {
        count("chatMessage", m);
    }
    for t in [
        "drive",
        "driveItem",
        "driveItemVersion",
        "permission",
        "site",
        "list",
        "listItem",
        "team",
        "channel",
        "chat",
        "chatMessage",
    ] {
        assert!(checked.get(t).copied().unwrap_or(0) > 0, "no {t} checked");
    }
    emu.shutdown().await;
}
