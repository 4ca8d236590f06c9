//! Restore of a message carrying an attached message (Graph `itemAttachment`): the attached
//! message comes back as a real item attachment (subject, sender, recipients, body, not a draft),
//! not as an `.eml` file, next to the message's file attachment.

#[path = "exchange_restore_common.rs"]
mod common;

use base64::Engine;
use common::*;
use serde_json::{Value, json};
use tenantvault_graph::GraphClient;
use tenantvault_workloads::exchange::restore::{self, RestoreRequest, Status};

async fn seed(graph: &GraphClient, upn: &str) {
    let body = json!({
        "subject": "Forwarding the note",
        "body": {"contentType": "html", "content": "<p>See the attached note.</p>"},
        "from": {"emailAddress": {"name": "Dana", "address": "dana@example.org"}},
        "toRecipients": [{"emailAddress": {"name": "Owner", "address": upn}}],
        "internetMessageId": "<outer-item-att@example.org>",
        "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "1"}],
        "attachments": [
            {"@odata.type": "#microsoft.graph.fileAttachment", "name": "plan.txt",
             "contentType": "text/plain",
             "contentBytes": base64::engine::general_purpose::STANDARD.encode("the plan")},
            {"@odata.type": "#microsoft.graph.itemAttachment", "name": "Budget note",
             "item": {
                "@odata.type": "#microsoft.graph.message",
                "subject": "Budget note",
                "body": {"contentType": "html", "content": "<p>Budget is approved.</p>"},
                "from": {"emailAddress": {"name": "Eli Finance", "address": "eli@example.org"}},
                "toRecipients": [{"emailAddress": {"name": "Dana", "address": "dana@example.org"}}],
                "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "1"}]
             }}
        ]
    });
    let _: Value = graph
        .mailbox(upn)
        .post_json(&format!("users/{upn}/mailFolders/inbox/messages"), &body)
        .await
        .expect("create the message");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_message_restores_as_an_item_attachment() {
    let emu = tenantvault_emulator::Emulator::start(tenant(21, 1, 4))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let upn0 = {
        let d = emu.state().directory.read();
        d.live_users().next().map(|u| u.upn.clone()).unwrap()
    };
    seed(&graph, &upn0).await;
    let snaps = backup_all(&repo, &graph).await;
    let (upn, snap) = snaps.iter().find(|(u, _)| *u == upn0).expect("backed up");
    let rec = items(snap)
        .await
        .into_iter()
        .find(|r| r.kind == "message" && r.name == "Forwarding the note")
        .expect("the seeded message is in the snapshot");
    // The backup holds the nested message inside the MIME (message/rfc822 part).
    let mime = content_of(&repo, &rec).await;
    assert!(
        String::from_utf8_lossy(&mime).contains("Budget is approved"),
        "the stored MIME carries the attached message"
    );

    let req = RestoreRequest {
        item_ids: vec![rec.id.clone()],
        ..RestoreRequest::default()
    };
    let plan = restore::plan(snap, &req).await.unwrap();
    let report = restore::run(&repo, &graph, &plan).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.items);
    let o = &report.items[0];
    assert_eq!(o.status, Status::Restored);
    assert_eq!(o.attachments, 2);
    let new_id = o.new_id.as_deref().unwrap();

    let list: Value = graph
        .mailbox(upn)
        .get(&format!(
            "users/{upn}/messages/{}/attachments?$expand=microsoft.graph.itemattachment/item",
            enc(new_id)
        ))
        .await
        .expect("list attachments");
    let atts = list["value"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{atts:#?}");
    let file = atts
        .iter()
        .find(|a| a["@odata.type"] == "#microsoft.graph.fileAttachment")
        .expect("the file attachment");
    assert_eq!(file["name"], "plan.txt");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(file["contentBytes"].as_str().unwrap())
            .unwrap(),
        b"the plan"
    );
    let item_att = atts
        .iter()
        .find(|a| a["@odata.type"] == "#microsoft.graph.itemAttachment")
        .expect("the attached message is an itemAttachment, not an .eml file");
    assert_eq!(item_att["name"], "Budget note");
    let item = &item_att["item"];
    assert_eq!(item["subject"], "Budget note");
    assert_eq!(item["from"]["emailAddress"]["address"], "eli@example.org");
    assert_eq!(
        item["toRecipients"][0]["emailAddress"]["address"],
        "dana@example.org"
    );
    assert!(
        item["body"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Budget is approved"),
        "{item:#?}"
    );
    assert_ne!(
        item["isDraft"],
        json!(true),
        "the attached message is not a draft"
    );
    assert!(
        !atts
            .iter()
            .any(|a| a["name"].as_str().unwrap_or("").ends_with(".eml")),
        "no .eml stand-in"
    );
    emu.shutdown().await;
}
