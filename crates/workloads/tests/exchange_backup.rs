//! Exchange backup against the in-process emulator: full then incremental, changes between runs,
//! expired delta tokens, departed users.

mod exchange_support;

use std::collections::BTreeMap;
use std::time::Duration;

use exchange_support::*;
use serde_json::{Value, json};
use tenantvault_graph::GraphClient;
use tenantvault_workloads::exchange::{MailboxState, layout::attr};

/// Messages the tenant serves for a mailbox, counted with plain (non-delta) folder listings.
async fn tenant_message_count(graph: &GraphClient, user: &str, folder_ids: &[String]) -> usize {
    let mut n = 0;
    for f in folder_ids {
        let mut url = Some(format!(
            "users/{user}/mailFolders/{f}/messages?$select=id&$top=100"
        ));
        while let Some(u) = url.take() {
            let page: Value = graph.get(&u).await.expect("list messages");
            n += page["value"].as_array().map_or(0, Vec::len);
            url = page["@odata.nextLink"].as_str().map(str::to_string);
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_unchanged_incremental() {
    let emu = start(small_tenant(7, 6, 30)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = fast_config();

    let first = backup(&repo, &graph, &cfg).await;
    assert!(
        first.mailboxes.len() >= 2,
        "several mailboxes: {:?}",
        first.mailboxes.len()
    );
    assert_eq!(first.failures(), 0, "{:#?}", first.mailboxes);
    let snaps1 = snapshots(&repo, &first).await;
    let mut total_messages = 0;
    for m in &first.mailboxes {
        let snap = &snaps1[&m.mailbox.id];
        let state = MailboxState::from_json(snap.state()).unwrap();
        assert!(state.complete);
        assert!(
            state
                .folders
                .values()
                .all(|f| f.delta_link.is_some() && f.resume_link.is_none())
        );
        let d = dump(&repo, snap).await;
        let stored = d.values().filter(|i| i.kind == "message").count();
        let folder_ids: Vec<String> = state.folders.keys().cloned().collect();
        assert_eq!(
            stored,
            tenant_message_count(&graph, &m.mailbox.id, &folder_ids).await,
            "{}",
            m.mailbox.upn
        );
        assert_eq!(stored as u64, m.messages_downloaded);
        total_messages += stored;
        // Every message: MIME content, Graph JSON, the layout's attributes.
        for (id, it) in d.iter().filter(|(_, i)| i.kind == "message") {
            assert!(id.starts_with("msg:"));
            assert!(!it.content.is_empty(), "{id} has MIME");
            let json: Value = serde_json::from_slice(&it.metadata).expect("message JSON");
            assert_eq!(format!("msg:{}", json["id"].as_str().unwrap()), *id);
            assert_eq!(it.version, json["changeKey"].as_str().unwrap());
            assert!(it.attrs.contains_key(attr::FOLDER_ID));
            assert_eq!(state.folder_path(&it.attrs[attr::FOLDER_ID]), it.path);
        }
        assert!(
            d.values()
                .any(|i| i.kind == "mailFolder" && i.path == "Inbox")
        );
    }
    assert!(total_messages > 50, "tenant has mail: {total_messages}");

    // Nothing changed: no download, one request per collection (≤ 2 per folder).
    emu.state().stats.reset();
    let second = backup(&repo, &graph, &cfg).await;
    assert_eq!(second.failures(), 0);
    assert_eq!(second.messages_downloaded(), 0);
    let folders: u64 = second.mailboxes.iter().map(|m| m.folders).sum();
    let requests = outlook_requests(&emu);
    eprintln!(
        "unchanged incremental: {requests} Outlook requests, {folders} folders, {total_messages} messages"
    );
    assert!(
        requests <= 2 * folders,
        "unchanged incremental: {requests} Outlook requests for {folders} folders"
    );
    let snaps2 = snapshots(&repo, &second).await;
    for (owner, s1) in &snaps1 {
        let s2 = &snaps2[owner];
        assert_ne!(s1.id(), s2.id());
        assert_eq!(dump(&repo, s1).await, dump(&repo, s2).await, "same content");
    }
    emu.shutdown().await;
}

fn find_msgs<'a>(d: &'a BTreeMap<String, ItemDump>, path: &str) -> Vec<(&'a String, &'a ItemDump)> {
    d.iter()
        .filter(|(_, i)| i.kind == "message" && i.path == path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_between_runs_are_reflected() {
    let emu = start(small_tenant(11, 3, 40)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = fast_config();
    let first = backup(&repo, &graph, &cfg).await;
    assert_eq!(first.failures(), 0);
    let snaps1 = snapshots(&repo, &first).await;
    // The mailbox with the most Inbox mail.
    let mut best = None;
    for (owner, s) in &snaps1 {
        let d = dump(&repo, s).await;
        let n = find_msgs(&d, "Inbox").len();
        if best.as_ref().is_none_or(|(_, _, m)| n > *m) {
            best = Some((owner.clone(), d, n));
        }
    }
    let (user, before, n) = best.unwrap();
    assert!(n >= 3, "need 3 Inbox messages, have {n}");
    let inbox = find_msgs(&before, "Inbox");
    let gid = |item_id: &str| item_id.trim_start_matches("msg:").to_string();
    let (read_id, move_id, del_id) = (inbox[0].0.clone(), inbox[1].0.clone(), inbox[2].0.clone());
    let renamed = before
        .iter()
        .find(|(_, i)| i.kind == "mailFolder" && i.path.starts_with("Inbox/"))
        .map(|(id, i)| (id.clone(), i.path.clone()));
    assert!(
        renamed.is_some(),
        "the tenant has a folder under Inbox to rename"
    );

    let base = format!("users/{user}");
    let _: Value = graph
        .patch_json(&format!("{base}/messages/{}", gid(&read_id)), &json!({"isRead": true, "flag": {"flagStatus": "flagged"}, "categories": ["Red category"]}))
        .await
        .expect("patch");
    let _: Value = graph
        .post_json(
            &format!("{base}/messages/{}/move", gid(&move_id)),
            &json!({"destinationId": "archive"}),
        )
        .await
        .expect("move");
    graph
        .delete(&format!("{base}/messages/{}", gid(&del_id)))
        .await
        .expect("delete");
    if let Some((fid, _)) = &renamed {
        let _: Value = graph
            .patch_json(
                &format!("{base}/mailFolders/{}", fid.trim_start_matches("folder:")),
                &json!({"displayName": "Renamed Folder"}),
            )
            .await
            .expect("rename");
    }

    let second = backup(&repo, &graph, &cfg).await;
    assert_eq!(second.failures(), 0, "{:#?}", second.mailboxes);
    assert_eq!(
        second.messages_downloaded(),
        0,
        "moves, flags and deletes download nothing"
    );
    let m = second
        .mailboxes
        .iter()
        .find(|m| m.mailbox.id == user)
        .unwrap();
    eprintln!(
        "after changes: {} updated, {} deleted, delete → {:?}",
        m.messages_updated, m.items_deleted, "see below"
    );
    assert!(
        m.messages_updated >= 2,
        "flag change and move stored as updates"
    );
    let snaps2 = snapshots(&repo, &second).await;
    let after = dump(&repo, &snaps2[&user]).await;

    // Read/flag/category change: new JSON, same MIME, no download.
    let (b, a) = (&before[&read_id], &after[&read_id]);
    assert_eq!(a.content, b.content);
    assert_eq!(a.attrs[attr::IS_READ], "true");
    let json: Value = serde_json::from_slice(&a.metadata).unwrap();
    assert_eq!(json["flag"]["flagStatus"], "flagged");
    assert_eq!(json["categories"], json!(["Red category"]));
    // Move: same immutable id, new folder path, same MIME.
    assert_eq!(after[&move_id].path, "Archive");
    assert_eq!(after[&move_id].content, before[&move_id].content);
    // Delete: gone from the Inbox (Graph moves it to Deleted Items or purges it).
    eprintln!(
        "deleted message now: {:?}",
        after.get(&del_id).map(|i| &i.path)
    );
    match after.get(&del_id) {
        None => {}
        Some(i) => assert!(
            i.path == "Deleted Items" || i.path.starts_with("Recoverable Items"),
            "{}",
            i.path
        ),
    }
    // Rename: the folder and every message in it carry the new path.
    if let Some((fid, old_path)) = renamed {
        let new_path = format!("{}/Renamed Folder", old_path.rsplit_once('/').unwrap().0);
        assert_eq!(after[&fid].path, new_path);
        for (id, _) in find_msgs(&before, &old_path) {
            if after.contains_key(id) {
                assert_eq!(after[id].path, new_path, "{id}");
            }
        }
        assert!(find_msgs(&after, &old_path).is_empty());
    }
    // The first snapshot still holds what was there.
    assert_eq!(dump(&repo, &snaps1[&user]).await, before);
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_delta_tokens_reenumerate_without_downloads() {
    let mut cfg_emu = small_tenant(21, 3, 30);
    cfg_emu.delta_token_ttl = Some(Duration::from_secs(3600));
    let emu = start(cfg_emu).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = fast_config();
    let first = backup(&repo, &graph, &cfg).await;
    assert_eq!(first.failures(), 0);
    let snaps1 = snapshots(&repo, &first).await;

    let resp = reqwest::Client::new()
        .post(format!("{}/_emulator/clock/advance", emu.base_url()))
        .json(&json!({"seconds": 7200}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    let second = backup(&repo, &graph, &cfg).await;
    assert_eq!(second.failures(), 0, "{:#?}", second.mailboxes);
    let resets: u64 = second.mailboxes.iter().map(|m| m.delta_resets).sum();
    assert!(resets > 0, "tokens expired");
    assert_eq!(
        second.messages_downloaded(),
        0,
        "nothing re-downloaded after a reset"
    );
    let snaps2 = snapshots(&repo, &second).await;
    for (owner, s1) in &snaps1 {
        let d1 = dump(&repo, s1).await;
        let d2 = dump(&repo, &snaps2[owner]).await;
        assert_eq!(d1.keys().collect::<Vec<_>>(), d2.keys().collect::<Vec<_>>());
        for (id, i1) in &d1 {
            assert_eq!(i1.content, d2[id].content, "{id}");
            assert_eq!(i1.path, d2[id].path, "{id}");
        }
    }
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departed_user_keeps_its_mail_and_is_marked() {
    let emu = start(small_tenant(61, 4, 15)).await;
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let cfg = fast_config();
    let first = backup(&repo, &graph, &cfg).await;
    assert_eq!(first.failures(), 0);
    let leaver = first.mailboxes[0].mailbox.clone();
    let snap1 = repo
        .snapshot(first.mailboxes[0].snapshot.as_ref().unwrap())
        .await
        .unwrap();
    let before = dump(&repo, &snap1).await;

    let resp = reqwest::Client::new()
        .post(format!("{}/_emulator/scenarios/departure", emu.base_url()))
        .json(&json!({"user": leaver.id, "mailboxRetentionDays": 0}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());

    let second = backup(&repo, &graph, &cfg).await;
    assert_eq!(second.failures(), 0, "{:#?}", second.mailboxes);
    let entry = second
        .mailboxes
        .iter()
        .find(|m| m.mailbox.id == leaver.id)
        .expect("the departed mailbox is reported");
    assert!(entry.departed);
    let snap2 = repo
        .snapshot(entry.snapshot.as_ref().unwrap())
        .await
        .unwrap();
    let state = MailboxState::from_json(snap2.state()).unwrap();
    assert!(state.departed.is_some());
    assert_eq!(state.mailbox.upn, leaver.upn);
    assert_eq!(dump(&repo, &snap2).await, before, "everything kept");

    // Marked once: a third run writes nothing more for it.
    let third = backup(&repo, &graph, &cfg).await;
    assert!(third.mailboxes.iter().all(|m| m.mailbox.id != leaver.id));
    emu.shutdown().await;
}
