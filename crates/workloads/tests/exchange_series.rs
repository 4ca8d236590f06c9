//! Recurring series end to end against the emulator: a weekly series with one moved and one
//! cancelled occurrence is backed up (its master as its own item), an unchanged calendar costs
//! one calendar request, the deleted series leaves the next snapshot (master included), and a
//! restore from the first snapshot recreates the series with the same recurrence, the moved
//! occurrence at its new time and the cancelled one absent.

#[path = "exchange_restore_common.rs"]
mod common;

use chrono::{DateTime, Duration, Timelike, Utc};
use common::*;
use serde_json::{Value, json};
use tenantvault_emulator::{EmulatorConfig, EndpointClass, GeneratorConfig};
use tenantvault_graph::GraphClient;
use tenantvault_repo::{ItemRecord, Repository, Snapshot};
use tenantvault_workloads::exchange::restore::{self, RestoreRequest, Status};
use tenantvault_workloads::exchange::{self, BackupConfig, Selection};

fn calendar_tenant() -> EmulatorConfig {
    let mut cfg = EmulatorConfig {
        seed: 41,
        users: 1,
        generator: GeneratorConfig {
            messages_per_mailbox: 2,
            user_folders: 0,
            events_per_mailbox: 0,
            contacts_per_mailbox: 0,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    cfg
}

fn dt(t: DateTime<Utc>) -> Value {
    json!({"dateTime": t.format("%Y-%m-%dT%H:%M:%S").to_string(), "timeZone": "UTC"})
}

fn time_of(v: &Value, key: &str) -> DateTime<Utc> {
    let s = v
        .pointer(&format!("/{key}/dateTime"))
        .or_else(|| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{key} missing in {v}"));
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|n| n.and_utc())
        .or_else(|_| DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)))
        .unwrap()
}

async fn instances(graph: &GraphClient, upn: &str, id: &str, around: DateTime<Utc>) -> Vec<Value> {
    let url = format!(
        "users/{upn}/events/{}/instances?startDateTime={}&endDateTime={}&$top=100",
        enc(id),
        (around - Duration::days(30)).format("%Y-%m-%dT%H:%M:%SZ"),
        (around + Duration::days(90)).format("%Y-%m-%dT%H:%M:%SZ"),
    );
    let v: Value = graph.get(&url).await.expect("instances");
    let mut out = v["value"].as_array().cloned().unwrap_or_default();
    out.sort_by_key(|i| time_of(i, "originalStart"));
    out
}

async fn backup(repo: &Repository, graph: &GraphClient) -> (Snapshot, exchange::MailboxReport) {
    let cfg = BackupConfig {
        page_size: 50,
        ..BackupConfig::default()
    };
    let report = exchange::backup(repo, graph, &cfg, &Selection::default(), None)
        .await
        .expect("backup");
    let m = report.mailboxes.into_iter().next().expect("one mailbox");
    assert!(m.error.is_none() && m.failures.is_empty(), "{m:?}");
    let snap = repo
        .snapshot(m.snapshot.as_deref().expect("snapshot"))
        .await
        .unwrap();
    (snap, m)
}

fn events(items: &[ItemRecord]) -> Vec<&ItemRecord> {
    items.iter().filter(|r| r.kind == "event").collect()
}

fn calendar_requests(emu: &tenantvault_emulator::Emulator) -> u64 {
    emu.state()
        .stats
        .totals()
        .get(&EndpointClass::Calendar)
        .map_or(0, |c| c.requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weekly_series_with_moved_and_cancelled_occurrences_round_trips() {
    let emu = tenantvault_emulator::Emulator::start(calendar_tenant())
        .await
        .unwrap();
    let graph = graph(&emu);
    let users: Value = graph.get("users").await.unwrap();
    let upn = users["value"][0]["userPrincipalName"]
        .as_str()
        .unwrap()
        .to_string();
    let mb = graph.mailbox(&upn);

    // A weekly series of 6, starting in two days.
    let start = (Utc::now() + Duration::days(2))
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap();
    let recurrence = json!({
        "pattern": {"type": "weekly", "interval": 1,
                    "daysOfWeek": [start.format("%A").to_string().to_lowercase()]},
        "range": {"type": "numbered", "startDate": start.format("%Y-%m-%d").to_string(),
                  "numberOfOccurrences": 6},
    });
    let created: Value = mb
        .post_json(
            &format!("users/{upn}/events"),
            &json!({"subject": "Team sync", "start": dt(start), "end": dt(start + Duration::minutes(30)),
                    "recurrence": recurrence, "body": {"contentType": "html", "content": "<p>Agenda</p>"}}),
        )
        .await
        .unwrap();
    let master_id = created["id"].as_str().unwrap().to_string();
    let original = created["recurrence"].clone();
    let inst = instances(&mb, &upn, &master_id, start).await;
    assert_eq!(inst.len(), 6);
    // Occurrence 2 moves two hours later with a new subject; occurrence 4 is cancelled.
    let moved_from = time_of(&inst[1], "originalStart");
    let moved_to = time_of(&inst[1], "start") + Duration::hours(2);
    let _: Value = mb
        .patch_json(
            &format!(
                "users/{upn}/events/{}",
                enc(inst[1]["id"].as_str().unwrap())
            ),
            &json!({"subject": "Team sync (moved)", "start": dt(moved_to),
                    "end": dt(moved_to + Duration::minutes(30))}),
        )
        .await
        .unwrap();
    let cancelled = time_of(&inst[3], "originalStart");
    mb.delete(&format!(
        "users/{upn}/events/{}",
        enc(inst[3]["id"].as_str().unwrap())
    ))
    .await
    .unwrap();

    // First backup: master + 4 occurrences + 1 exception.
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let (snap1, _) = backup(&repo, &graph).await;
    let items1 = items(&snap1).await;
    let ev1 = events(&items1);
    let types: Vec<&str> = ev1.iter().map(|r| r.attrs["type"].as_str()).collect();
    assert_eq!(ev1.len(), 6, "{types:?}");
    assert_eq!(types.iter().filter(|t| **t == "seriesMaster").count(), 1);
    assert_eq!(types.iter().filter(|t| **t == "exception").count(), 1);
    assert_eq!(types.iter().filter(|t| **t == "occurrence").count(), 4);
    let master = ev1
        .iter()
        .find(|r| r.attrs["type"] == "seriesMaster")
        .unwrap();
    assert_eq!(master.id, format!("event:{master_id}"));
    assert!(!master.version.is_empty(), "master keeps its changeKey");
    let stored = json_of(&repo, master).await;
    assert_eq!(stored["recurrence"], original);
    for r in ev1.iter().filter(|r| r.attrs["type"] != "seriesMaster") {
        assert_eq!(r.attrs["seriesMasterId"], master_id);
    }

    // Unchanged: the calendar costs its one delta request, the master is not fetched again.
    let before = calendar_requests(&emu);
    let (snap2, rep2) = backup(&repo, &graph).await;
    assert_eq!(calendar_requests(&emu) - before, 1);
    assert_eq!(rep2.events, 0);
    assert_eq!(events(&items(&snap2).await).len(), 6);

    // The series is deleted in the tenant: every occurrence and the master leave the snapshot.
    mb.delete(&format!("users/{upn}/events/{}", enc(&master_id)))
        .await
        .unwrap();
    let (snap3, _) = backup(&repo, &graph).await;
    assert!(events(&items(&snap3).await).is_empty());

    // Restore the calendar of the first snapshot.
    let req = RestoreRequest {
        item_ids: ev1.iter().map(|r| r.id.clone()).collect(),
        ..RestoreRequest::default()
    };
    let plan = restore::plan(&snap1, &req).await.unwrap();
    let report = restore::run(&repo, &graph, &plan).await.unwrap();
    assert_eq!(report.failed(), 0, "{:#?}", report.items);
    let mo = report
        .items
        .iter()
        .find(|o| o.item_id == master.id)
        .unwrap();
    assert_eq!(mo.status, Status::Restored);
    let new_master = mo.new_id.clone().unwrap();
    let skipped = report
        .items
        .iter()
        .filter(|o| o.status == Status::Skipped)
        .count();
    assert_eq!(skipped, 4, "plain occurrences are not recreated separately");
    let listed: Value = mb.get(&format!("users/{upn}/events")).await.unwrap();
    assert_eq!(
        listed["value"].as_array().unwrap().len(),
        1,
        "one restored series, nothing else: {listed}"
    );

    let restored: Value = mb
        .get(&format!("users/{upn}/events/{}", enc(&new_master)))
        .await
        .unwrap();
    assert_eq!(restored["type"], "seriesMaster");
    assert_eq!(restored["recurrence"]["pattern"], original["pattern"]);
    assert_eq!(restored["recurrence"]["range"], original["range"]);
    let inst = instances(&mb, &upn, &new_master, start).await;
    let originals: Vec<DateTime<Utc>> = inst.iter().map(|i| time_of(i, "originalStart")).collect();
    assert_eq!(inst.len(), 5, "{originals:?}");
    assert!(
        !originals.contains(&cancelled),
        "the cancelled occurrence stays cancelled"
    );
    let exc = inst
        .iter()
        .find(|i| time_of(i, "originalStart") == moved_from)
        .expect("the moved occurrence");
    assert_eq!(exc["type"], "exception");
    assert_eq!(time_of(exc, "start"), moved_to);
    assert_eq!(exc["subject"], "Team sync (moved)");
    for i in inst
        .iter()
        .filter(|i| time_of(i, "originalStart") != moved_from)
    {
        assert_eq!(i["type"], "occurrence");
        assert_eq!(time_of(i, "start"), time_of(i, "originalStart"));
    }
    emu.shutdown().await;
}
