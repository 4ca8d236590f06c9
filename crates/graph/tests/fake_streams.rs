//! Paging, delta, `$batch`, downloads and upload sessions against a local fake Graph.

mod common;

use bytes::Bytes;
use common::*;
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tenantvault_graph::{
    BatchRequest, DeltaEvent, GraphError, ListOptions, MailFolder, Message, UploadSession,
    UploadTarget, User, WithRaw,
};

#[tokio::test]
async fn pages_follow_absolute_next_links_and_retry_a_failed_page() {
    let fails = Arc::new(AtomicU32::new(0));
    let f2 = fails.clone();
    let fake = Fake::start(move |r| {
        let skip: usize = query_param(r, "$skiptoken")
            .map(|s| s.parse().unwrap())
            .unwrap_or(0);
        // The second page fails once with a 503, then succeeds: nothing lost, nothing repeated.
        if skip == 3 && f2.fetch_add(1, Ordering::SeqCst) == 0 {
            return graph_error(503, "serviceNotAvailable", "try later");
        }
        let users: Vec<Value> = (skip..(skip + 3).min(8))
            .map(|i| json!({"id": format!("u{i}")}))
            .collect();
        let next =
            (skip + 3 < 8).then(|| format!("{}/v1.0/users?$top=3&$skiptoken={}", r.base, skip + 3));
        page(users, next)
    })
    .await;
    let (client, _) = fake.client();
    let users: Vec<User> = client
        .pages_with(
            "users?$top=3",
            ListOptions::default().header("ConsistencyLevel", "eventual"),
        )
        .map(|u| u.unwrap())
        .collect()
        .await;
    let ids: Vec<_> = users.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"]);
    // Headers are repeated on every page (Graph does not carry them into nextLinks).
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.header("consistencylevel") == Some("eventual"))
    );
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn bad_next_links_are_errors_not_leaks() {
    let fake = Fake::start(|r| {
        if r.path().ends_with("/foreign") {
            page(
                vec![json!({"id":"a"})],
                Some("https://attacker.example/v1.0/users?$skiptoken=1".into()),
            )
        } else if r.path().ends_with("/relative") {
            page(vec![], Some("/v1.0/users?$skiptoken=1".into()))
        } else {
            page(vec![], Some(format!("{}{}", r.base, r.path_and_query)))
        }
    })
    .await;
    let (client, _) = fake.client();
    let mut s = client.pages::<User>("users/foreign");
    assert_eq!(s.next().await.unwrap().unwrap().id, "a");
    let err = s.next().await.unwrap().unwrap_err();
    assert!(
        matches!(&err, GraphError::Corrupt { detail, .. } if detail.contains("foreign origin")),
        "{err:?}"
    );
    assert!(s.next().await.is_none());
    let err = client
        .pages::<User>("users/relative")
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("not an absolute URL"), "{err}");
    let err = client
        .pages::<User>("users/loop")
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("links to itself"), "{err}");
}

/// A tiny Outlook-like delta endpoint: round 1 = m1..m5 over pages of 2; round 2 = m2 changed,
/// m3 removed, m6 new.
fn delta_handler(r: &Req) -> Reply {
    let prefer = r.header("prefer").unwrap_or("").to_string();
    assert!(prefer.contains("odata.maxpagesize=2"), "{prefer}");
    assert!(prefer.contains("IdType=\"ImmutableId\""), "{prefer}");
    let base = format!("{}/v1.0/users/u1/mailFolders/inbox/messages/delta", r.base);
    let msg = |i: u32, subject: &str| json!({"@odata.etag":"W/\"x\"","id":format!("m{i}"),"subject":subject,"isRead":false});
    if let Some(tok) = query_param(r, "$deltatoken") {
        return match tok.as_str() {
            "round1" => Reply::Json(
                200,
                json!({"value":[msg(2,"changed"),
                {"@odata.type":"#microsoft.graph.message","id":"m3","@removed":{"reason":"deleted"}}, msg(6,"new")],
                "@odata.deltaLink": format!("{base}?$deltatoken=round2")}),
            ),
            "round2" => Reply::Json(
                200,
                json!({"value":[], "@odata.deltaLink": format!("{base}?$deltatoken=round2")}),
            ),
            _ => graph_error(
                410,
                "SyncStateNotFound",
                "The sync state generation is not found; generation=149;",
            ),
        };
    }
    let skip: u32 = query_param(r, "$skiptoken")
        .map(|s| s.parse().unwrap())
        .unwrap_or(0);
    let items: Vec<Value> = (skip..(skip + 2).min(5))
        .map(|i| msg(i + 1, "hello"))
        .collect();
    let mut body = json!({"value": items});
    if skip + 2 < 5 {
        body["@odata.nextLink"] = json!(format!("{base}?$skiptoken={}", skip + 2));
    } else {
        body["@odata.deltaLink"] = json!(format!("{base}?$deltatoken=round1"));
    }
    Reply::Json(200, body)
}

#[tokio::test]
async fn delta_rounds_yield_upserts_removals_and_the_delta_link() {
    let fake = Fake::start(delta_handler).await;
    let (client, _) = fake.client();
    let opts = ListOptions::default().max_page_size(2).immutable_ids();
    let mbx = client.mailbox("u1");
    let round = mbx
        .delta_with::<WithRaw<Message>>("users/u1/mailFolders/inbox/messages/delta", opts.clone());
    let (events, link) = round.collect_all().await.unwrap();
    let ids: Vec<String> = events
        .iter()
        .map(|e| match e {
            DeltaEvent::Upsert(m) => m.value.id.clone(),
            DeltaEvent::Removed { id, .. } => format!("-{id}"),
        })
        .collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4", "m5"]);
    assert!(link.ends_with("$deltatoken=round1"));
    if let DeltaEvent::Upsert(m) = &events[0] {
        assert!(
            m.raw.get().starts_with("{\"@odata.etag\""),
            "raw JSON kept: {}",
            m.raw.get()
        );
    }

    let (events, link2) = mbx
        .delta_with::<Message>(&link, opts.clone())
        .collect_all()
        .await
        .unwrap();
    assert_eq!(events.len(), 3);
    assert!(matches!(&events[0], DeltaEvent::Upsert(m) if m.subject.as_deref() == Some("changed")));
    assert_eq!(
        events[1],
        DeltaEvent::Removed {
            id: "m3".into(),
            reason: "deleted".into()
        }
    );
    assert!(matches!(&events[2], DeltaEvent::Upsert(m) if m.id == "m6"));
    let (events, _) = mbx
        .delta_with::<Message>(&link2, opts.clone())
        .collect_all()
        .await
        .unwrap();
    assert!(events.is_empty(), "an unchanged round is empty");

    // An evicted token: a typed error the caller handles by restarting without a token.
    let stale = link.replace("round1", "evicted");
    let mut round = mbx.delta_with::<Message>(&stale, opts);
    let err = round.next().await.unwrap().unwrap_err();
    assert!(
        matches!(err, GraphError::SyncStateNotFound(ref i) if i.code == "SyncStateNotFound"),
        "{err:?}"
    );
    assert!(err.is_delta_reset());
    assert!(round.finish().is_err(), "no deltaLink after a failed round");
    assert_eq!(
        fake.count("/v1.0/users/u1/mailFolders/inbox/messages/delta"),
        6,
        "410 is not retried"
    );
}

#[tokio::test]
async fn drive_delta_resync_carries_location_and_deleted_facets_are_removals() {
    let fake = Fake::start(|r| {
        if query_param(r, "token").as_deref() == Some("old") {
            return Reply::JsonWith(
                410,
                vec![("location", format!("{}/v1.0/drives/d/root/delta?token=", r.base))],
                json!({"error":{"code":"resyncChangesApplyDifferences","message":"Resync required."}}),
            );
        }
        Reply::Json(200, json!({"value":[
            {"id":"root","root":{},"folder":{"childCount":1}},
            {"id":"f1","name":"a.txt","size":3,"file":{"hashes":{"quickXorHash":"AAA="}}},
            {"id":"f2","deleted":{},"parentReference":{"id":"root"}}],
            "@odata.deltaLink": format!("{}/v1.0/drives/d/root/delta?token=new", r.base)}))
    })
    .await;
    let (client, _) = fake.client();
    let sp = client.sharepoint();
    let (events, link) = sp
        .delta::<tenantvault_graph::DriveItem>("drives/d/root/delta")
        .collect_all()
        .await
        .unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(
        events[2],
        DeltaEvent::Removed {
            id: "f2".into(),
            reason: "deleted".into()
        }
    );
    assert!(link.ends_with("token=new"));
    let err = sp
        .delta::<Value>(&link.replace("new", "old"))
        .next()
        .await
        .unwrap()
        .unwrap_err();
    match err {
        GraphError::ResyncRequired { location, info } => {
            assert!(location.unwrap().ends_with("/drives/d/root/delta?token="));
            assert_eq!(info.code, "resyncChangesApplyDifferences");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn batch_retries_throttled_members_individually_and_keeps_order() {
    let rounds = Arc::new(AtomicU32::new(0));
    let r2 = rounds.clone();
    let fake = Fake::start(move |r| {
        assert_eq!(r.path(), "/v1.0/$batch");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        let reqs = body["requests"].as_array().unwrap();
        assert!(reqs.len() <= 20);
        let round = r2.fetch_add(1, Ordering::SeqCst);
        let responses: Vec<Value> = reqs
            .iter()
            .map(|q| {
                let id = q["id"].as_str().unwrap();
                if round == 0 && id == "2" {
                    json!({"id":id,"status":429,"headers":{"Retry-After":"3"},"body":{"error":{"code":"ApplicationThrottled","message":"x"}}})
                } else if round == 0 && id == "3" {
                    assert_eq!(q["dependsOn"], json!(["2"]));
                    json!({"id":id,"status":424,"body":{"error":{"code":"FailedDependency","message":"dep"}}})
                } else if id == "4" {
                    json!({"id":id,"status":404,"body":{"error":{"code":"ErrorItemNotFound","message":"gone"}}})
                } else {
                    json!({"id":id,"status":200,"headers":{"Content-Type":"application/json"},"body":{"id":format!("m{id}"),"round":round}})
                }
            })
            .rev()
            .collect();
        Reply::Json(200, json!({"responses": responses}))
    })
    .await;
    let (client, clock) = fake.client();
    let reqs = vec![
        BatchRequest::get("1", "/users/u/messages/1"),
        BatchRequest::get("2", "/users/u/messages/2"),
        BatchRequest::get("3", "/users/u/messages/3").depends_on("2"),
        BatchRequest::get("4", "/users/u/messages/4"),
    ];
    let out = client.mailbox("u").batch(reqs).await.unwrap();
    let ids: Vec<_> = out.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    assert_eq!(
        out.iter().map(|r| r.status).collect::<Vec<_>>(),
        [200, 200, 200, 404]
    );
    assert_eq!(
        out[1].body.as_ref().unwrap()["round"],
        1,
        "member 2 retried in round 2"
    );
    assert_eq!(
        out[2].body.as_ref().unwrap()["round"],
        1,
        "its dependent too"
    );
    assert_eq!(
        out[0].body.as_ref().unwrap()["round"],
        0,
        "member 1 not re-sent"
    );
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(3)]);
    assert_eq!(rounds.load(Ordering::SeqCst), 2);
    // Misuse is rejected before anything is sent.
    let dup = vec![BatchRequest::get("a", "/x"), BatchRequest::get("A", "/y")];
    assert!(matches!(
        client.batch(dup).await,
        Err(GraphError::InvalidRequest(_))
    ));
    let many: Vec<_> = (0..45)
        .map(|i| BatchRequest::get(i.to_string(), "/users/u"))
        .collect();
    let out = client.batch(many).await.unwrap();
    assert_eq!(out.len(), 45);
    assert_eq!(
        rounds.load(Ordering::SeqCst),
        5,
        "45 requests = 3 batches of ≤ 20"
    );
}

fn content(n: usize) -> Bytes {
    Bytes::from((0..n).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>())
}

#[tokio::test]
async fn downloads_follow_302_without_token_and_resume_with_range() {
    const N: usize = 300_000;
    let cuts = Arc::new(AtomicU32::new(0));
    let c2 = cuts.clone();
    let fake = Fake::start(move |r| {
        if r.path() == "/v1.0/drives/d/items/f/content" {
            return Reply::Raw(
                302,
                vec![("location", format!("{}/download/f?tempauth=SECRET", r.base))],
                Bytes::new(),
            );
        }
        if r.path() == "/download/f" {
            if r.header("authorization").is_some() {
                return graph_error(
                    401,
                    "unauthenticated",
                    "pre-authenticated URL must not get a token",
                );
            }
            let data = content(N);
            let start = r
                .header("range")
                .map(|v| {
                    v.trim_start_matches("bytes=")
                        .trim_end_matches('-')
                        .parse::<usize>()
                        .unwrap()
                })
                .unwrap_or(0);
            if c2.fetch_add(1, Ordering::SeqCst) == 0 {
                // First attempt: send 100 kB, then drop the connection.
                return Reply::Cut(
                    200,
                    vec![
                        ("content-length", N.to_string()),
                        ("content-type", "application/pdf".into()),
                    ],
                    data.slice(..100_000),
                );
            }
            return Reply::Raw(
                206,
                vec![
                    ("content-range", format!("bytes {start}-{}/{N}", N - 1)),
                    ("content-type", "application/pdf".into()),
                ],
                data.slice(start..),
            );
        }
        if r.path().ends_with("/$value") {
            return Reply::Raw(
                200,
                vec![("content-type", "text/plain".into())],
                Bytes::from_static(b"MIME-Version: 1.0\r\n\r\nhi"),
            );
        }
        graph_error(404, "itemNotFound", "no")
    })
    .await;
    let (client, _) = fake.client();
    let stream = client
        .sharepoint()
        .get_bytes_stream("drives/d/items/f/content")
        .await
        .unwrap();
    assert_eq!(stream.content_length(), Some(N as u64));
    assert_eq!(stream.content_type(), Some("application/pdf"));
    let got = stream.collect_bytes().await.unwrap();
    assert_eq!(got.len(), N);
    assert!(got == content(N), "resumed download must be byte-identical");
    let downloads: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/download/f")
        .collect();
    assert_eq!(downloads.len(), 2);
    assert!(
        downloads
            .iter()
            .all(|r| r.header("authorization").is_none())
    );
    assert_eq!(downloads[1].header("range"), Some("bytes=100000-"));
    let mime = client
        .get_bytes("users/u/messages/m1/$value")
        .await
        .unwrap();
    assert_eq!(&mime[..], b"MIME-Version: 1.0\r\n\r\nhi");
    let err = client
        .get_bytes_stream("drives/d/items/missing/content")
        .await
        .unwrap_err();
    assert!(matches!(err, GraphError::NotFound(_)));
}

#[tokio::test]
async fn drive_upload_session_sends_320k_fragments_without_token_and_resumes() {
    const TOTAL: usize = 1_000_000;
    let fake = Fake::start(move |r| {
        if r.path().ends_with("/createUploadSession") {
            return Reply::Json(200, json!({"uploadUrl": format!("{}/up/s1?tempauth=zzz", r.base), "expirationDateTime":"2030-01-01T00:00:00Z", "nextExpectedRanges":["0-"]}));
        }
        if r.path() == "/up/s1" {
            if r.header("authorization").is_some() {
                return graph_error(401, "unauthenticated", "no token on upload URLs");
            }
            if r.method == "GET" {
                // Status query after a lost answer: the server did get the fragment.
                return Reply::Json(200, json!({"nextExpectedRanges":[format!("{}-", 655_360)]}));
            }
            let range = r.header("content-range").unwrap().to_string();
            let (span, total) = range.trim_start_matches("bytes ").split_once('/').unwrap();
            let (a, b) = span.split_once('-').unwrap();
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(total, TOTAL.to_string());
            assert_eq!(r.body.len(), b - a + 1);
            assert_eq!(r.body, content(TOTAL).slice(a..=b));
            if b + 1 < TOTAL {
                assert_eq!(r.body.len() % 327_680, 0, "fragments are multiples of 320 KiB");
            }
            if a == 327_680 {
                // Received, but the answer is lost (503 after storing): the retry gets 416.
                return graph_error(416, "invalidRange", "Uploaded fragment overlaps with existing data.");
            }
            if b + 1 == TOTAL {
                return Reply::Json(201, json!({"id":"new-item","name":"big.bin","size":TOTAL}));
            }
            return Reply::Json(202, json!({"expirationDateTime":"2030-01-01T00:00:00Z","nextExpectedRanges":[format!("{}-", b + 1)]}));
        }
        graph_error(404, "itemNotFound", "no")
    })
    .await;
    let (client, _) = fake.client();
    let session: UploadSession = client
        .create_upload_session(
            "drives/d/items/root:/big.bin:/createUploadSession",
            &json!({"item":{"name":"big.bin"}}),
        )
        .await
        .unwrap();
    let mut source = content(TOTAL);
    let done = client
        .upload_to_session(&session, UploadTarget::Drive, &mut source, Some(327_680))
        .await
        .unwrap();
    assert_eq!(done.status, 201);
    assert_eq!(done.item.unwrap()["id"], "new-item");
    let puts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path() == "/up/s1" && r.method == "PUT")
        .collect();
    let ranges: Vec<_> = puts
        .iter()
        .map(|r| r.header("content-range").unwrap().to_string())
        .collect();
    assert_eq!(
        ranges,
        [
            "bytes 0-327679/1000000",
            "bytes 327680-655359/1000000",
            "bytes 655360-983039/1000000",
            "bytes 983040-999999/1000000"
        ]
    );
    // Outlook sessions enforce the documented size window.
    let small = UploadSession {
        upload_url: format!("{}/up/s2", fake.base),
        expiration: None,
        next_expected_ranges: vec![],
    };
    let err = client
        .upload_to_session(
            &small,
            UploadTarget::OutlookAttachment,
            &mut content(1000),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("3–150 MB"), "{err}");
}

#[tokio::test]
async fn mail_folders_model_through_pages() {
    let fake = Fake::start(|_| page(vec![json!({"id":"f1","displayName":"Inbox","parentFolderId":"root","childFolderCount":0,"unreadItemCount":2,"totalItemCount":5,"isHidden":false})], None)).await;
    let (client, _) = fake.client();
    let f: Vec<MailFolder> = client
        .pages("users/u/mailFolders")
        .map(|f| f.unwrap())
        .collect()
        .await;
    assert_eq!(f[0].display_name.as_deref(), Some("Inbox"));
    assert_eq!(f[0].total_item_count, Some(5));
}
