//! Users paging, mail folder + message delta rounds, MIME download, writes, 410 resets.

mod emulator_common;

use emulator_common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tenantvault_emulator::EmulatorConfig;
use tenantvault_graph::{
    DeltaEvent, GraphError, ListOptions, MailFolder, Message, Method, User, WithRaw,
};

#[tokio::test]
async fn users_page_through_next_links() {
    let (emu, client) = start(EmulatorConfig {
        seed: 11,
        users: 12,
        ..Default::default()
    })
    .await;
    let all: Value = client.get("users?$top=999&$select=id").await.unwrap();
    let expected = all["value"].as_array().unwrap().len();
    let before = client.metrics().requests;
    let paged: Vec<User> = client
        .pages("users?$top=5")
        .map(|u| u.unwrap())
        .collect()
        .await;
    assert_eq!(paged.len(), expected);
    let pages = client.metrics().requests - before;
    assert_eq!(
        pages as usize,
        expected.div_ceil(5),
        "one request per page of 5"
    );
    let mut ids: Vec<_> = paged.iter().map(|u| u.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected, "no user repeated across pages");
    emu.shutdown().await;
}

#[tokio::test]
async fn mail_delta_full_then_incremental_then_expired() {
    let cfg = EmulatorConfig {
        seed: 12,
        users: 3,
        delta_token_ttl: Some(Duration::from_secs(24 * 3600)),
        ..Default::default()
    };
    let (emu, client) = start(cfg).await;
    let user = mailbox_users(&client).await.remove(0).id;
    let mbx = client.mailbox(&user);

    let (folders, folders_link) = mbx
        .delta::<MailFolder>(&format!("users/{user}/mailFolders/delta"))
        .collect_all()
        .await
        .unwrap();
    let folders: Vec<MailFolder> = folders
        .into_iter()
        .map(|e| match e {
            DeltaEvent::Upsert(f) => f,
            other => panic!("first folder round has only upserts: {other:?}"),
        })
        .collect();
    let inbox = folders
        .iter()
        .find(|f| f.display_name.as_deref() == Some("Inbox"))
        .expect("Inbox")
        .clone();
    assert!(
        folders_link.contains("/mailFolders/delta"),
        "{folders_link}"
    );

    // Full round on the Inbox in pages of 4: every message once, matching totalItemCount.
    let opts = ListOptions::default().max_page_size(4).immutable_ids();
    let url = format!("users/{user}/mailFolders/{}/messages/delta", inbox.id);
    let mut round = mbx.delta_with::<WithRaw<Message>>(&url, opts.clone());
    let mut msgs = Vec::new();
    while let Some(e) = round.next().await {
        match e.unwrap() {
            DeltaEvent::Upsert(m) => msgs.push(m),
            DeltaEvent::Removed { id, .. } => panic!("removal {id} in a first round"),
        }
    }
    let pages = round.pages();
    let link = round.finish().unwrap();
    assert!(msgs.len() >= 2, "inbox has messages");
    assert_eq!(Some(msgs.len() as i32), inbox.total_item_count);
    let min_pages = msgs.len().div_ceil(4) as u64;
    assert!(
        (min_pages..=min_pages + 1).contains(&pages),
        "{pages} pages for {} messages",
        msgs.len()
    );
    let mut ids: Vec<_> = msgs.iter().map(|m| m.value.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), msgs.len(), "no duplicates");
    assert!(msgs[0].raw.get().contains("\"id\""));

    // MIME of one message agrees with its JSON.
    let m = &msgs[0].value;
    let full: Message = mbx
        .get(&format!("users/{user}/messages/{}", m.id))
        .await
        .unwrap();
    let mime = mbx
        .get_bytes(&format!("users/{user}/messages/{}/$value", m.id))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&mime);
    assert!(
        text.contains("MIME-Version"),
        "{}",
        &text[..text.len().min(300)]
    );
    if let Some(mid) = &full.internet_message_id {
        assert!(text.contains(mid.as_str()), "MIME carries Message-ID {mid}");
    }

    // Changes: mark one read, delete one, create one.
    let (changed, deleted) = (msgs[0].value.id.clone(), msgs[1].value.id.clone());
    let _: Value = mbx
        .patch_json(
            &format!("users/{user}/messages/{changed}"),
            &json!({"isRead": true, "categories": ["Blue"]}),
        )
        .await
        .unwrap();
    mbx.delete(&format!("users/{user}/messages/{deleted}"))
        .await
        .unwrap();
    // Ask for the immutable id, as the delta rounds do (a plain POST answers the REST id).
    let created: Message = mbx
        .request(Method::POST, &format!("users/{user}/mailFolders/{}/messages", inbox.id))
        .prefer("IdType=\"ImmutableId\"")
        .json(&json!({"subject":"restored by tenantvault","body":{"contentType":"text","content":"hello"},
                "toRecipients":[{"emailAddress":{"address":"someone@example.com"}}]}))
        .unwrap()
        .send_json()
        .await
        .unwrap();
    let (events, link2) = mbx
        .delta_with::<Message>(&link, opts.clone())
        .collect_all()
        .await
        .unwrap();
    let mut saw = (false, false, false);
    for e in &events {
        match e {
            DeltaEvent::Upsert(m) if m.id == changed => {
                assert_eq!(m.is_read, Some(true));
                saw.0 = true;
            }
            DeltaEvent::Removed { id, reason } if *id == deleted => {
                assert_eq!(reason, "deleted");
                saw.1 = true;
            }
            DeltaEvent::Upsert(m) if m.id == created.id => saw.2 = true,
            other => panic!("unexpected change {other:?}"),
        }
    }
    assert_eq!(saw, (true, true, true), "{events:?}");
    // Nothing changed since: an empty round, still a deltaLink.
    let (events, _link3) = mbx
        .delta_with::<Message>(&link2, opts.clone())
        .collect_all()
        .await
        .unwrap();
    assert!(events.is_empty(), "{events:?}");

    // Two simulated days later the token is gone: a typed error, then a full restart works.
    emu.state().clock.advance(Duration::from_secs(48 * 3600));
    let err = mbx
        .delta_with::<Message>(&link2, opts.clone())
        .collect_all()
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::SyncStateNotFound(_)), "{err:?}");
    let (events, _) = mbx
        .delta_with::<Message>(&url, opts)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(
        events.len(),
        msgs.len(),
        "one changed, one deleted, one created"
    );
    emu.shutdown().await;
}
