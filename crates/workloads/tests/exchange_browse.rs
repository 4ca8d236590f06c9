//! Browsing Exchange snapshots: snapshot resolution by mailbox and the find filters over a
//! repository written with the Exchange item layout.

use std::sync::Arc;

use futures::TryStreamExt;
use serde_json::json;
use tenantvault_repo::{
    BackupMode, BackupOptions, InitOptions, KdfParams, LocalStorage, OwnerRef, Repository,
};
use tenantvault_workloads::exchange::{
    self, ItemFilter, MailboxInfo, MailboxKind, MailboxState, MessageFields, items::message_meta,
};

async fn repo(dir: &std::path::Path) -> Repository {
    let storage = Arc::new(LocalStorage::new(dir.join("repo")).unwrap());
    Repository::init(
        storage,
        "pw",
        InitOptions {
            kdf: KdfParams::insecure_fast(),
            cache_dir: Some(dir.join("cache")),
            ..InitOptions::default()
        },
    )
    .await
    .unwrap()
}

fn message(id: &str, subject: &str, from: &str, to: &str, received: &str) -> serde_json::Value {
    json!({
        "id": id, "changeKey": format!("ck-{id}"), "subject": subject, "isDraft": false, "isRead": true,
        "from": {"emailAddress": {"name": from.split('@').next().unwrap(), "address": from}},
        "toRecipients": [{"emailAddress": {"address": to}}],
        "receivedDateTime": received,
    })
}

async fn write_mailbox(
    repo: &Repository,
    user: &str,
    upn: &str,
    msgs: &[(&str, serde_json::Value)],
) -> String {
    let mut s = repo
        .begin_backup(
            OwnerRef::new(exchange::WORKLOAD, user),
            BackupOptions {
                mode: BackupMode::Incremental,
                ..BackupOptions::default()
            },
        )
        .await
        .unwrap();
    for (path, m) in msgs {
        let f = MessageFields::from_json(m);
        let meta = message_meta(&f, serde_json::to_vec(m).unwrap(), "fid", path, 0);
        s.put_item(meta, &b"MIME-Version: 1.0\r\n\r\nbody"[..])
            .await
            .unwrap();
    }
    let mut st = MailboxState::new(MailboxInfo {
        id: user.into(),
        upn: upn.into(),
        display_name: upn.into(),
        mail: Some(upn.into()),
        kind: MailboxKind::User,
    });
    st.complete = true;
    s.commit(st.to_json()).await.unwrap().id.0
}

#[tokio::test]
async fn find_filters_and_snapshot_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    let first = write_mailbox(
        &repo,
        "u1",
        "ann@contoso.com",
        &[
            (
                "Inbox",
                message(
                    "m1",
                    "Quarterly report",
                    "bob@contoso.com",
                    "ann@contoso.com",
                    "2024-03-01T10:00:00Z",
                ),
            ),
            (
                "Inbox/Projects",
                message(
                    "m2",
                    "Project kickoff",
                    "carol@fabrikam.com",
                    "ann@contoso.com",
                    "2024-05-01T10:00:00Z",
                ),
            ),
            (
                "Sent Items",
                message(
                    "m3",
                    "Re: Quarterly report",
                    "ann@contoso.com",
                    "bob@contoso.com",
                    "2024-03-02T10:00:00Z",
                ),
            ),
        ],
    )
    .await;
    write_mailbox(
        &repo,
        "u2",
        "zed@contoso.com",
        &[(
            "Inbox",
            message(
                "z1",
                "Other",
                "x@y.z",
                "zed@contoso.com",
                "2024-01-01T00:00:00Z",
            ),
        )],
    )
    .await;

    // Latest snapshot of a mailbox by UPN, by id; explicit id.
    let snap = exchange::resolve_snapshot(&repo, None, Some("ANN@contoso.com"))
        .await
        .unwrap();
    assert_eq!(snap.id().0, first);
    let snap2 = exchange::resolve_snapshot(&repo, None, Some("u1"))
        .await
        .unwrap();
    assert_eq!(snap2.id().0, first);
    assert!(
        exchange::resolve_snapshot(&repo, None, Some("nobody@contoso.com"))
            .await
            .is_err()
    );
    assert!(exchange::resolve_snapshot(&repo, None, None).await.is_err());
    let all = exchange::mailbox_snapshots(&repo, None).await.unwrap();
    assert_eq!(all.len(), 2);

    let ids = |f: ItemFilter| {
        let snap = snap.clone();
        async move {
            let v: Vec<_> = exchange::find(&snap, f).try_collect().await.unwrap();
            v.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(ItemFilter::messages()).await,
        ["msg:m1", "msg:m2", "msg:m3"]
    );
    assert_eq!(
        ids(ItemFilter {
            folder: Some("inbox".into()),
            ..ItemFilter::default()
        })
        .await,
        ["msg:m1", "msg:m2"]
    );
    assert_eq!(
        ids(ItemFilter {
            subject: Some("quarterly".into()),
            sender: Some("bob".into()),
            ..ItemFilter::default()
        })
        .await,
        ["msg:m1"]
    );
    assert_eq!(
        ids(ItemFilter {
            recipient: Some("bob@contoso.com".into()),
            ..ItemFilter::default()
        })
        .await,
        ["msg:m3"]
    );
    assert_eq!(
        ids(ItemFilter {
            received_after: Some("2024-04-01T00:00:00Z".parse().unwrap()),
            ..ItemFilter::default()
        })
        .await,
        ["msg:m2"]
    );
    assert_eq!(
        ids(ItemFilter {
            received_before: Some("2024-03-02T00:00:00Z".parse().unwrap()),
            ..ItemFilter::default()
        })
        .await,
        ["msg:m1"]
    );
}

/// Once one mailbox is erased, the others stay browsable by address and by id (the erased
/// one's snapshots cannot be opened, so they are skipped), and asking for the erased mailbox
/// by its id says that it was erased.
#[tokio::test]
async fn other_mailboxes_stay_browsable_after_an_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    let m = |id: &str, to: &str| message(id, "Hello", "x@y.z", to, "2024-01-01T00:00:00Z");
    let ann = write_mailbox(
        &repo,
        "u1",
        "ann@contoso.com",
        &[("Inbox", m("a1", "ann@contoso.com"))],
    )
    .await;
    write_mailbox(
        &repo,
        "u2",
        "zed@contoso.com",
        &[("Inbox", m("z1", "zed@contoso.com"))],
    )
    .await;
    repo.erase_owner(
        &OwnerRef::new(exchange::WORKLOAD, "u2"),
        &tenantvault_repo::EraseRequest {
            reason: "GDPR art. 17".into(),
            by: "dpo".into(),
            now: chrono::Utc::now(),
            dry_run: false,
        },
    )
    .await
    .unwrap();

    for key in ["ann@contoso.com", "u1"] {
        let snap = exchange::resolve_snapshot(&repo, None, Some(key))
            .await
            .unwrap();
        assert_eq!(snap.id().0, ann, "{key}");
    }
    let all = exchange::mailbox_snapshots(&repo, None).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].mailbox.upn, "ann@contoso.com");
    // the erased mailbox by address: simply not there; by id: erased
    assert!(
        exchange::mailbox_snapshots(&repo, Some("zed@contoso.com"))
            .await
            .unwrap()
            .is_empty()
    );
    let e = exchange::mailbox_snapshots(&repo, Some("u2")).await;
    assert!(
        matches!(e, Err(tenantvault_repo::Error::Erased { .. })),
        "{e:?}"
    );
}
