//! Exchange restore against the in-process emulator: back up, delete in the tenant, restore
//! (new folder, in place, other mailbox, filters, conflicts), then read every restored property
//! back through Graph and compare it with the backed-up JSON and MIME.

#[path = "exchange_restore_common.rs"]
mod common;

use std::collections::BTreeMap;

use common::*;
use mail_parser::MessageParser;
use serde_json::{Value, json};
use tenantvault_graph::{GraphClient, OUTLOOK_SESSION_MIN, UploadTarget};
use tenantvault_repo::{ItemRecord, Repository};
use tenantvault_workloads::exchange::ItemFilter;
use tenantvault_workloads::exchange::restore::{
    self, ConflictPolicy, Destination, RestoreReport, RestoreRequest, Status,
};

/// A message with a 3.5 MB attachment (upload session) and a small one, created before backup.
async fn seed_large_message(graph: &GraphClient, upn: &str) -> String {
    let mb = graph.mailbox(upn);
    let body = json!({
        "subject": "Large attachment report",
        "body": {"contentType": "html", "content": "<p>See the attached data set.</p>"},
        "from": {"emailAddress": {"name": "Dana", "address": "dana@example.org"}},
        "toRecipients": [{"emailAddress": {"name": "Owner", "address": upn}}],
        "isRead": false,
        "importance": "high",
        "categories": ["Blue category"],
        "flag": {"flagStatus": "flagged"},
        "internetMessageId": "<large-attachment-test@example.org>",
        "singleValueExtendedProperties": [
            {"id": "Integer 0x0E07", "value": "0"},
            {"id": "SystemTime 0x0E06", "value": "2024-02-03T04:05:06Z"},
            {"id": "SystemTime 0x0039", "value": "2024-02-03T04:00:00Z"}
        ],
        "attachments": [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "small.txt",
            "contentType": "text/plain", "contentBytes": "c21hbGwgYXR0YWNobWVudA=="}]
    });
    let created: Value = mb
        .post_json(&format!("users/{upn}/mailFolders/inbox/messages"), &body)
        .await
        .expect("create message");
    let id = created["id"].as_str().unwrap().to_string();
    let data: Vec<u8> = (0..(OUTLOOK_SESSION_MIN as usize + 512 * 1024))
        .map(|i| (i % 251) as u8)
        .collect();
    let session = mb
        .create_upload_session(
            &format!("users/{upn}/messages/{}/attachments/createUploadSession", enc(&id)),
            &json!({"AttachmentItem": {"attachmentType": "file", "name": "data.bin", "size": data.len(),
                "contentType": "application/octet-stream"}}),
        )
        .await
        .expect("session");
    let mut src = bytes::Bytes::from(data);
    mb.upload_to_session(
        &session,
        UploadTarget::OutlookAttachment,
        &mut src,
        Some(6 * 320 * 1024),
    )
    .await
    .expect("upload");
    id
}

fn graph_id(item_id: &str) -> &str {
    item_id.split_once(':').unwrap().1
}

async fn get_message(graph: &GraphClient, upn: &str, id: &str) -> Value {
    graph
        .mailbox(upn)
        .get(&format!("users/{upn}/messages/{}", enc(id)))
        .await
        .expect("get restored message")
}

async fn attachments(graph: &GraphClient, upn: &str, id: &str) -> BTreeMap<String, Vec<u8>> {
    use base64::Engine;
    let list: Value = graph
        .mailbox(upn)
        .get(&format!("users/{upn}/messages/{}/attachments", enc(id)))
        .await
        .expect("attachments");
    let mut out = BTreeMap::new();
    for a in list["value"].as_array().unwrap() {
        let name = a["name"].as_str().unwrap().to_string();
        let bytes = match a.get("contentBytes").and_then(Value::as_str) {
            Some(b) => base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
            None => graph
                .mailbox(upn)
                .get_bytes(&format!(
                    "users/{upn}/messages/{}/attachments/{}/$value",
                    enc(id),
                    enc(a["id"].as_str().unwrap())
                ))
                .await
                .unwrap()
                .to_vec(),
        };
        assert!(a["size"].as_u64().unwrap_or(bytes.len() as u64) as usize >= bytes.len());
        out.insert(name, bytes);
    }
    out
}

/// The body as the user reads it: the HTML part when there is one (Graph derives the text
/// alternative itself), else the text part; whitespace-normalised.
fn body_text(mime: &[u8]) -> String {
    let m = MessageParser::default().parse(mime).expect("mime parses");
    let html = m
        .html_part(0)
        .filter(|p| p.is_text_html())
        .and_then(|p| p.text_contents());
    let text = match html {
        Some(h) => h.to_string(),
        None => m.body_text(0).map(|s| s.to_string()).unwrap_or_default(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every property a user relies on, restored message vs backed-up JSON and MIME.
async fn assert_faithful(
    repo: &Repository,
    graph: &GraphClient,
    upn: &str,
    rec: &ItemRecord,
    new_id: &str,
) {
    let orig = json_of(repo, rec).await;
    let got = get_message(graph, upn, new_id).await;
    for key in [
        "subject",
        "from",
        "toRecipients",
        "ccRecipients",
        "receivedDateTime",
        "sentDateTime",
        "isRead",
        "categories",
        "importance",
        "internetMessageId",
        "hasAttachments",
    ] {
        assert_eq!(got[key], orig[key], "{key} of {} ({})", rec.id, rec.name);
    }
    assert_eq!(
        got["flag"]["flagStatus"], orig["flag"]["flagStatus"],
        "flag of {}",
        rec.id
    );
    assert_eq!(
        got["isDraft"],
        json!(false),
        "restored message must not be a draft"
    );
    // Body: the text of the restored MIME equals the text of the stored MIME.
    let stored_mime = content_of(repo, rec).await;
    let new_mime = graph
        .mailbox(upn)
        .get_bytes(&format!("users/{upn}/messages/{}/$value", enc(new_id)))
        .await
        .expect("$value");
    assert_eq!(
        body_text(&new_mime),
        body_text(&stored_mime),
        "body of {}",
        rec.id
    );
    // Attachments: names and bytes.
    let stored = MessageParser::default().parse(&stored_mime[..]).unwrap();
    let mut want = BTreeMap::new();
    for a in stored.attachments() {
        use mail_parser::MimeHeaders;
        want.insert(
            a.attachment_name().unwrap_or("attachment").to_string(),
            a.contents().to_vec(),
        );
    }
    if orig["hasAttachments"] == json!(true) {
        let got_atts = attachments(graph, upn, new_id).await;
        assert_eq!(
            got_atts.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &want {
            assert_eq!(&got_atts[name], bytes, "attachment {name} of {}", rec.id);
        }
    }
}

fn outcome<'a>(report: &'a RestoreReport, item: &str) -> &'a restore::ItemOutcome {
    report
        .items
        .iter()
        .find(|o| o.item_id == item)
        .expect("item in report")
}

async fn count_in_folder(graph: &GraphClient, upn: &str, folder: &str, mid: &str) -> usize {
    let v: Value = graph
        .mailbox(upn)
        .get(&format!(
            "users/{upn}/mailFolders/{}/messages?$select=id,internetMessageId&$top=999",
            enc(folder)
        ))
        .await
        .unwrap();
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["internetMessageId"] == json!(mid))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_new_folder_then_in_place_with_conflicts() {
    let emu = tenantvault_emulator::Emulator::start(tenant(11, 2, 14))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let upn0 = {
        let dir_ = emu.state().directory.read();
        dir_.live_users().next().map(|u| u.upn.clone()).unwrap()
    };
    seed_large_message(&graph, &upn0).await;
    let snaps = backup_all(&repo, &graph).await;
    let (upn, snap) = snaps
        .iter()
        .find(|(u, _)| *u == upn0)
        .expect("seeded mailbox backed up");
    let all = items(snap).await;
    let msgs: Vec<&ItemRecord> = all.iter().filter(|r| r.kind == "message").collect();
    // The seeded one, one with attachments from the generator, one unread, plus two more.
    let mut chosen: Vec<&ItemRecord> = Vec::new();
    chosen.extend(msgs.iter().find(|r| r.name == "Large attachment report"));
    chosen.extend(msgs.iter().find(|r| {
        r.attrs.get("hasAttachments").map(String::as_str) == Some("true")
            && !chosen.iter().any(|c| c.id == r.id)
    }));
    chosen.extend(msgs.iter().find(|r| {
        r.attrs.get("isRead").map(String::as_str) == Some("false")
            && !chosen.iter().any(|c| c.id == r.id)
    }));
    for r in &msgs {
        if chosen.len() >= 5 {
            break;
        }
        if !chosen.iter().any(|c| c.id == r.id) {
            chosen.push(r);
        }
    }
    assert!(chosen.len() >= 3);
    // Delete them in the tenant.
    for r in &chosen {
        graph
            .mailbox(upn)
            .delete(&format!("users/{upn}/messages/{}", enc(graph_id(&r.id))))
            .await
            .expect("delete in tenant");
    }
    let ids: Vec<String> = chosen.iter().map(|r| r.id.clone()).collect();

    // 1. Default: a new folder `Restored <date>` holding the original paths.
    let req = RestoreRequest {
        item_ids: ids.clone(),
        ..RestoreRequest::default()
    };
    let plan = restore::plan(snap, &req).await.unwrap();
    let report = restore::run(&repo, &graph, &plan).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.items);
    assert_eq!(report.restored(), chosen.len());
    let container = report.container.clone().expect("container");
    assert!(container.starts_with("Restored "));
    for r in &chosen {
        let o = outcome(&report, &r.id);
        assert_eq!(o.target_path, format!("{container}/{}", r.path));
        assert_faithful(&repo, &graph, upn, r, o.new_id.as_deref().unwrap()).await;
    }
    let large = outcome(&report, &chosen[0].id);
    assert_eq!(large.attachments, 2);

    // 2. In place: back into the original folders (they still exist).
    let req = RestoreRequest {
        item_ids: ids.clone(),
        destination: Destination::InPlace,
        ..RestoreRequest::default()
    };
    let plan = restore::plan(snap, &req).await.unwrap();
    let report = restore::run(&repo, &graph, &plan).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.items);
    assert_eq!(report.restored(), chosen.len());
    for r in &chosen {
        let o = outcome(&report, &r.id);
        let got = get_message(&graph, upn, o.new_id.as_deref().unwrap()).await;
        assert_eq!(
            got["parentFolderId"].as_str(),
            r.attrs.get("folderId").map(String::as_str),
            "{}",
            r.id
        );
        assert_faithful(&repo, &graph, upn, r, o.new_id.as_deref().unwrap()).await;
    }

    // 3. Conflicts in place: skip leaves them, copy duplicates, replace ends with one copy.
    let run_with = |conflict| {
        let req = RestoreRequest {
            item_ids: ids.clone(),
            destination: Destination::InPlace,
            conflict,
            ..RestoreRequest::default()
        };
        let repo = &repo;
        let graph = &graph;
        async move {
            let plan = restore::plan(snap, &req).await.unwrap();
            restore::run(repo, graph, &plan).await.unwrap()
        }
    };
    let skip = run_with(ConflictPolicy::Skip).await;
    assert_eq!(skip.skipped(), chosen.len(), "{:#?}", skip.items);
    let copy = run_with(ConflictPolicy::Copy).await;
    assert_eq!(copy.restored(), chosen.len());
    let probe = chosen[1];
    let folder = probe.attrs["folderId"].clone();
    let mid = probe.attrs["internetMessageId"].clone();
    assert_eq!(count_in_folder(&graph, upn, &folder, &mid).await, 2);
    let replace = run_with(ConflictPolicy::Replace).await;
    assert_eq!(replace.failed(), 0, "{:#?}", replace.items);
    assert!(replace.items.iter().all(|o| o.status == Status::Replaced));
    assert_eq!(count_in_folder(&graph, upn, &folder, &mid).await, 1);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_restore_into_another_mailbox() {
    let emu = tenantvault_emulator::Emulator::start(tenant(12, 3, 10))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let snaps = backup_all(&repo, &graph).await;
    assert!(snaps.len() >= 2);
    let (src_upn, snap) = &snaps[0];
    let (dst_upn, _) = &snaps[1];
    let msgs: Vec<ItemRecord> = items(snap)
        .await
        .into_iter()
        .filter(|r| r.kind == "message")
        .collect();
    let probe = &msgs[msgs.len() / 2];
    let sender = probe.attrs["from"].clone();
    let filter = ItemFilter {
        sender: Some(sender.clone()),
        folder: Some(probe.path.clone()),
        ..ItemFilter::default()
    };
    let expected: Vec<&ItemRecord> = msgs
        .iter()
        .filter(|r| r.attrs.get("from") == Some(&sender) && r.path == probe.path)
        .collect();
    let req = RestoreRequest {
        filter,
        to_mailbox: Some(dst_upn.clone()),
        destination: Destination::Folder("From a colleague".into()),
        ..RestoreRequest::default()
    };
    let plan = restore::plan(snap, &req).await.unwrap();
    assert!(!plan.same_mailbox);
    assert_eq!(plan.count("message"), expected.len());
    let report = restore::run(&repo, &graph, &plan).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.items);
    assert_eq!(report.restored(), expected.len());
    assert_eq!(report.source_mailbox, *src_upn);
    for r in &expected {
        let o = outcome(&report, &r.id);
        assert_eq!(o.target_path, format!("From a colleague/{}", r.path));
        assert_faithful(&repo, &graph, dst_upn, r, o.new_id.as_deref().unwrap()).await;
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_items_are_reported_and_the_rest_restores() {
    let emu = tenantvault_emulator::Emulator::start(tenant(13, 1, 6))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let snaps = backup_all(&repo, &graph).await;
    let (_, snap) = &snaps[0];
    // An app allowed to write mail but not calendars or contacts: events and contacts get 403.
    let client_id = "0f5c1a52-0000-4000-8000-00000000aa01".to_string();
    emu.state()
        .auth
        .apps
        .write()
        .push(tenantvault_emulator::auth::App {
            client_id: client_id.clone(),
            name: "mail only".into(),
            secrets: vec!["mail-only-secret".into()],
            certs: vec![],
            roles: vec!["User.Read.All".into(), "Mail.ReadWrite".into()],
        });
    let limited = graph_with(&emu, client_id, "mail-only-secret".into());
    let plan = restore::plan(snap, &RestoreRequest::default())
        .await
        .unwrap();
    let n_msgs = plan.count("message");
    let n_other = plan.count("event") + plan.count("contact");
    assert!(
        n_msgs > 0 && n_other > 0,
        "tenant should have mail, events and contacts"
    );
    let report = restore::run(&repo, &limited, &plan).await.unwrap();
    let restored_msgs = report
        .items
        .iter()
        .filter(|o| o.kind == "message" && o.status == Status::Restored)
        .count();
    assert_eq!(restored_msgs, n_msgs, "{:#?}", report.items);
    let failed: Vec<_> = report
        .items
        .iter()
        .filter(|o| o.status == Status::Failed)
        .collect();
    assert!(!failed.is_empty());
    for f in &failed {
        assert!(f.kind == "event" || f.kind == "contact");
        assert!(
            f.reason.as_deref().unwrap_or("").contains("403") || f.code.is_some(),
            "{f:?}"
        );
    }
    // With full rights, the same plan restores events and contacts too.
    let report = restore::run(&repo, &graph, &plan).await.unwrap();
    assert_eq!(
        report.failed(),
        0,
        "{:#?}",
        report
            .items
            .iter()
            .filter(|o| o.status == Status::Failed)
            .collect::<Vec<_>>()
    );
    let ev = report
        .items
        .iter()
        .filter(|o| o.kind == "event" && o.status != Status::Failed)
        .count();
    assert_eq!(ev, plan.count("event"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_writing() {
    let emu = tenantvault_emulator::Emulator::start(tenant(14, 2, 3))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let snaps = backup_all(&repo, &graph).await;
    let (_, snap) = &snaps[0];
    let before = emu
        .state()
        .stats
        .totals()
        .values()
        .map(|c| c.requests)
        .sum::<u64>();
    let err = restore::plan(
        snap,
        &RestoreRequest {
            item_ids: vec!["msg:nope".into()],
            ..RestoreRequest::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("msg:nope"));
    let err = restore::plan(
        snap,
        &RestoreRequest {
            destination: Destination::Folder("a/b".into()),
            ..RestoreRequest::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("a/b"));
    assert!("sometimes".parse::<ConflictPolicy>().is_err());
    let after = emu
        .state()
        .stats
        .totals()
        .values()
        .map(|c| c.requests)
        .sum::<u64>();
    assert_eq!(before, after, "planning must not touch the tenant");
    emu.shutdown().await;
}
