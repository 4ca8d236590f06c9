//! Recovery end to end against the emulator, for the two destructive attacks of issue 7: an
//! insider mass-deletes a mailbox and purges Recoverable Items, and a SharePoint library is
//! wiped. Each: baseline backups, the attack, a backup that raises the alert, legitimate work
//! after it, then `recover` (plan = the dry run, then the run) puts back exactly what the attack
//! removed — verified against the pre-attack content — leaves the later work alone, and a
//! second recovery restores nothing.

#[path = "drive_common.rs"]
mod common;
#[path = "exchange_support/mod.rs"]
mod ex;

use std::collections::{BTreeMap, BTreeSet};

use common::admin;
use futures::TryStreamExt;
use mail_parser::MessageParser;
use serde_json::json;
use tenantvault_repo::{ItemRecord, Repository, Snapshot};
use tenantvault_workloads::detect;
use tenantvault_workloads::drive::{DriveKind, DriveSelection, QuickXorHash};
use tenantvault_workloads::recover::{self, CleanPoint, Damage, RecoverRequest};

/// The body as the user reads it (HTML part, else text), whitespace-normalised.
fn body_text(mime: &[u8]) -> String {
    let m = MessageParser::default().parse(mime).expect("mime parses");
    let text = m
        .html_part(0)
        .filter(|p| p.is_text_html())
        .and_then(|p| p.text_contents())
        .map(str::to_string)
        .or_else(|| m.body_text(0).map(|s| s.to_string()))
        .unwrap_or_default();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A message as the user sees it: folder path, subject, body text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mail {
    path: String,
    subject: String,
    body: String,
}

async fn messages(repo: &Repository, snap: &Snapshot) -> BTreeMap<String, (ItemRecord, Mail)> {
    let items: Vec<ItemRecord> = snap.items().try_collect().await.expect("items");
    let mut out = BTreeMap::new();
    for it in items.into_iter().filter(|i| i.kind == "message") {
        let mime: Vec<bytes::Bytes> = repo
            .content_stream(&it)
            .try_collect()
            .await
            .expect("content");
        let m = Mail {
            path: it.path.clone(),
            subject: it.name.clone(),
            body: body_text(&mime.concat()),
        };
        out.insert(it.id.clone(), (it, m));
    }
    out
}

fn imid(r: &ItemRecord) -> String {
    r.attrs
        .get("internetMessageId")
        .cloned()
        .unwrap_or_else(|| panic!("message {} has no internetMessageId", r.id))
}

fn snapshot_of(r: &tenantvault_workloads::exchange::BackupReport, user: &str) -> String {
    r.mailboxes
        .iter()
        .find(|m| m.mailbox.id == user)
        .and_then(|m| m.snapshot.clone())
        .expect("snapshot of the mailbox")
}

async fn mail_alerts(
    repo: &Repository,
    r: &tenantvault_workloads::exchange::BackupReport,
) -> Vec<detect::Alert> {
    let ids: Vec<String> = r
        .mailboxes
        .iter()
        .filter_map(|m| m.snapshot.clone())
        .collect();
    detect::alerts_for_snapshots(repo, &ids).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_purge_is_recovered_exactly_and_once() {
    let emu = ex::start(ex::small_tenant(9091, 3, 40)).await;
    let g = ex::graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = ex::new_repo(dir.path()).await;
    let cfg = ex::fast_config();
    let first = ex::backup(&repo, &g, &cfg).await;
    let mut users: Vec<(String, String)> = first
        .mailboxes
        .iter()
        .filter(|m| m.snapshot.is_some())
        .map(|m| (m.mailbox.id.clone(), m.mailbox.upn.clone()))
        .collect();
    users.sort();
    let (victim, upn) = users[0].clone();
    // Baseline: ordinary days.
    let mut r = first;
    for _ in 0..2 {
        admin(&emu, "/_emulator/scenarios/activity", json!({"days": 1})).await;
        r = ex::backup(&repo, &g, &cfg).await;
        assert!(mail_alerts(&repo, &r).await.is_empty());
    }
    let clean_id = snapshot_of(&r, &victim);
    let clean = messages(&repo, &repo.snapshot(&clean_id).await.unwrap()).await;
    assert!(clean.len() >= 40, "{} messages", clean.len());

    // The insider: everything deleted, Deleted Items emptied, Recoverable Items purged.
    let a = admin(
        &emu,
        "/_emulator/scenarios/insider",
        json!({"user": victim, "purgeRecoverable": true}),
    )
    .await;
    assert!(a["purged"].as_u64().unwrap() >= 40, "{a}");
    let r = ex::backup(&repo, &g, &cfg).await;
    let got = mail_alerts(&repo, &r).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].owner, victim);
    assert_eq!(got[0].clean_snapshot.as_deref(), Some(clean_id.as_str()));
    let attacked = messages(
        &repo,
        &repo.snapshot(&snapshot_of(&r, &victim)).await.unwrap(),
    )
    .await;
    let deleted: BTreeSet<String> = clean
        .keys()
        .filter(|k| !attacked.contains_key(*k))
        .cloned()
        .collect();
    assert_eq!(
        deleted.len(),
        clean.len(),
        "the purge removed every message"
    );

    // Afterwards the user receives new mail (and files some of it): legitimate, left alone.
    admin(
        &emu,
        "/_emulator/scenarios/activity",
        json!({"days": 1, "user": victim, "messagesPerDay": 3}),
    )
    .await;
    let r = ex::backup(&repo, &g, &cfg).await;
    assert!(mail_alerts(&repo, &r).await.is_empty());
    let later = messages(
        &repo,
        &repo.snapshot(&snapshot_of(&r, &victim)).await.unwrap(),
    )
    .await;
    assert_eq!(later.len(), 3, "the three new messages");

    // The dry run (a plan; by UPN, as an admin types it) lists exactly the deleted messages.
    let req = RecoverRequest {
        owner: upn.clone(),
        clean: CleanPoint::Alert,
        target_folder: None,
        parallel: 8,
        now: chrono::Utc::now(),
    };
    let plans = recover::plan(&repo, &req).await.expect("plan");
    assert_eq!(plans.len(), 1, "{plans:#?}");
    let plan = &plans[0];
    assert_eq!(plan.workload, "exchange");
    assert_eq!(plan.owner, victim);
    let planned: BTreeSet<String> = plan.items.iter().map(|i| i.item_id.clone()).collect();
    assert_eq!(
        planned, deleted,
        "the plan lists exactly the deleted messages"
    );
    assert!(plan.items.iter().all(|i| i.damage == Damage::Deleted));
    assert_eq!(recover::describe(plan).len(), deleted.len());
    let requests_before = ex::outlook_requests(&emu);

    let started = std::time::Instant::now();
    let rep = recover::run(&repo, &g, plan, &req).await.expect("recover");
    eprintln!(
        "RECOVERY mailbox: {} deleted, restored {}, failed {}, {} Graph requests, {:.1} s",
        deleted.len(),
        rep.restored,
        rep.failed.len(),
        ex::outlook_requests(&emu) - requests_before,
        started.elapsed().as_secs_f64()
    );
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!(rep.restored as usize, deleted.len());

    // What the mailbox holds now, backed up again: every deleted message is back in its folder
    // with its subject and body; the three new ones are untouched; nothing is doubled.
    let r = ex::backup(&repo, &g, &cfg).await;
    let after = messages(
        &repo,
        &repo.snapshot(&snapshot_of(&r, &victim)).await.unwrap(),
    )
    .await;
    assert_eq!(after.len(), deleted.len() + later.len(), "nothing doubled");
    let by_imid: BTreeMap<String, &Mail> = after.values().map(|(r, m)| (imid(r), m)).collect();
    assert_eq!(by_imid.len(), after.len());
    for id in &deleted {
        let (rec, want) = &clean[id];
        let got = by_imid
            .get(&imid(rec))
            .unwrap_or_else(|| panic!("{} ({}) not restored", id, want.subject));
        assert_eq!(*got, want, "{id} restored differently");
    }
    for (id, (rec, m)) in &later {
        let (now_rec, now_m) = after.get(id).expect("new message still there");
        assert_eq!(now_m, m);
        assert_eq!(now_rec.version, rec.version, "{id} changed by recovery");
    }

    // A second recovery restores nothing: the same plan is journalled, and a fresh plan sees
    // the messages back in place.
    let again = recover::run(&repo, &g, plan, &req).await.expect("re-run");
    assert_eq!(
        (again.restored, again.already_done as usize),
        (0, deleted.len())
    );
    let replan = recover::plan(&repo, &req).await.expect("plan again");
    assert!(replan[0].items.is_empty(), "{:#?}", replan[0].items);
    assert_eq!(replan[0].already_present as usize, deleted.len());
    let rerun = recover::run(&repo, &g, &replan[0], &req).await.unwrap();
    assert_eq!(rerun.restored, 0);
    let r = ex::backup(&repo, &g, &cfg).await;
    let last = messages(
        &repo,
        &repo.snapshot(&snapshot_of(&r, &victim)).await.unwrap(),
    )
    .await;
    assert_eq!(last.len(), after.len());
}

fn selection() -> DriveSelection {
    DriveSelection {
        onedrive: true,
        sharepoint: true,
        ..DriveSelection::default()
    }
}

fn hashes(t: &BTreeMap<String, Option<Vec<u8>>>) -> BTreeMap<String, Option<String>> {
    t.iter()
        .map(|(p, c)| (p.clone(), c.as_ref().map(|b| QuickXorHash::of(b))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_wipe_is_recovered_exactly_and_once() {
    let mut tcfg = common::tenant(5150, 2);
    tcfg.drive.files_per_drive = 40;
    tcfg.drive.folders_per_drive = 5;
    tcfg.drive.large_files = 0;
    tcfg.drive.versioned_rate = 0.0;
    let emu = common::start(tcfg).await;
    let mut gcfg = ex::graph_config(&emu);
    gcfg.limits.resource_units_per_window = 1_000_000;
    let g = tenantvault_graph::GraphClient::new(gcfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = common::new_repo(dir.path()).await;
    let cfg = common::config();
    let first = common::backup(&repo, &g, &cfg, &selection()).await;
    let library = first
        .drives
        .iter()
        .find(|d| d.drive.kind == DriveKind::Sharepoint)
        .map(|d| d.drive.drive_id.clone())
        .expect("a library");
    for _ in 0..2 {
        admin(&emu, "/_emulator/drive/activity", json!({"days": 1})).await;
        common::backup(&repo, &g, &cfg, &selection()).await;
    }
    let before = common::truth(&emu, &library);
    let files_before = before.values().filter(|c| c.is_some()).count();
    assert!(files_before >= 30, "{files_before} files");
    admin(
        &emu,
        "/_emulator/drive/purge",
        json!({"drive": library, "share": 1.0}),
    )
    .await;
    let r = common::backup(&repo, &g, &cfg, &selection()).await;
    let ids: Vec<String> = r.drives.iter().filter_map(|d| d.snapshot.clone()).collect();
    let got = detect::alerts_for_snapshots(&repo, &ids).await.unwrap();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].owner, library);
    // The team starts again: three new files after the wipe.
    admin(
        &emu,
        "/_emulator/drive/activity",
        json!({"drive": library, "new": 3, "modify": 0, "rename": 0, "move": 0, "delete": 0}),
    )
    .await;
    common::backup(&repo, &g, &cfg, &selection()).await;
    let wiped = common::truth(&emu, &library);
    let new_files: BTreeSet<String> = wiped
        .iter()
        .filter(|(_, c)| c.is_some())
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(new_files.len(), 3, "{new_files:?}");
    let deleted: BTreeSet<String> = before
        .iter()
        .filter(|(p, c)| c.is_some() && !wiped.contains_key(*p))
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(deleted.len(), files_before);

    let req = RecoverRequest {
        owner: library.clone(),
        clean: CleanPoint::Alert,
        target_folder: None,
        parallel: 8,
        now: chrono::Utc::now(),
    };
    let plans = recover::plan(&repo, &req).await.expect("plan");
    assert_eq!(plans.len(), 1);
    let plan = &plans[0];
    let planned: BTreeSet<String> = plan.items.iter().map(|i| i.path.clone()).collect();
    assert_eq!(planned, deleted, "the plan lists exactly the wiped files");
    assert!(plan.items.iter().all(|i| i.damage == Damage::Deleted));
    assert_eq!(
        common::truth(&emu, &library),
        wiped,
        "the dry run wrote nothing"
    );
    let started = std::time::Instant::now();
    let rep = recover::run(&repo, &g, plan, &req).await.expect("recover");
    eprintln!(
        "RECOVERY library: {} wiped, restored {}, failed {}, {:.1} s",
        deleted.len(),
        rep.restored,
        rep.failed.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(rep.failed.is_empty(), "{:?}", rep.failed);
    assert_eq!(rep.restored as usize, deleted.len());
    // Files: the pre-wipe content (QuickXorHash) plus the three new files, nothing else.
    let after = hashes(&common::truth(&emu, &library));
    let mut want = hashes(&before);
    for p in &new_files {
        want.insert(p.clone(), hashes(&wiped)[p].clone());
    }
    let after_files: BTreeMap<_, _> = after.iter().filter(|(_, h)| h.is_some()).collect();
    let want_files: BTreeMap<_, _> = want.iter().filter(|(_, h)| h.is_some()).collect();
    assert_eq!(after_files, want_files);

    // Once more: journalled, and after a backup the files are seen back in place.
    let again = recover::run(&repo, &g, plan, &req).await.unwrap();
    assert_eq!(
        (again.restored, again.already_done as usize),
        (0, deleted.len())
    );
    common::backup(&repo, &g, &cfg, &selection()).await;
    let replan = recover::plan(&repo, &req).await.unwrap();
    assert!(replan[0].items.is_empty(), "{:#?}", replan[0].items);
    assert_eq!(replan[0].already_present as usize, deleted.len());
}
