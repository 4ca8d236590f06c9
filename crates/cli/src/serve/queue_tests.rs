//! Scheduler tests with a manual clock: slots fire when due, missed runs catch up once, no two
//! runs of one owner overlap, the concurrency limit holds, cancelled and interrupted runs are
//! recorded, an interrupted run resumes at the next start, and gc/check run as jobs against a
//! real repository.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use super::*;
use crate::serve::clock::ManualClock;
use crate::serve::history::{History, Outcome, Status, Trigger};
use crate::serve::metrics::Metrics;
use crate::serve::runner::{JobSpec, RunResult, Runner};
use crate::serve::settings::{JobDef, JobKind, ServeSection};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Records starts and ends; every run waits for a permit of `gate`.
struct Fake {
    gate: Semaphore,
    log: Mutex<Vec<String>>,
    active: Mutex<HashMap<String, usize>>,
    max_active: Mutex<usize>,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            gate: Semaphore::new(0),
            log: Mutex::default(),
            active: Mutex::default(),
            max_active: Mutex::default(),
        }
    }
}

impl Runner for Fake {
    fn run<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, RunResult> {
        async move {
            {
                let mut a = self.active.lock().unwrap();
                *a.entry(job.name.clone()).or_default() += 1;
                let total: usize = a.values().sum();
                let mut m = self.max_active.lock().unwrap();
                *m = (*m).max(total);
            }
            self.log.lock().unwrap().push(format!("start {}", job.name));
            self.gate.acquire().await.expect("open").forget();
            *self.active.lock().unwrap().get_mut(&job.name).unwrap() -= 1;
            self.log.lock().unwrap().push(format!("end {}", job.name));
            RunResult::finished(Outcome {
                items: 1,
                ..Outcome::default()
            })
        }
        .boxed()
    }
}

fn job(name: &str, kind: JobKind, schedule: &str, mailboxes: &[&str]) -> JobDef {
    JobDef {
        name: name.into(),
        kind: Some(kind),
        schedule: Some(schedule.into()),
        mailboxes: mailboxes.iter().map(|s| s.to_string()).collect(),
        ..JobDef::default()
    }
}

fn settings(jobs: Vec<JobDef>, concurrency: usize) -> ServeSection {
    ServeSection {
        jobs,
        concurrency,
        jitter: std::time::Duration::ZERO,
        ..ServeSection::default()
    }
}

fn service(
    s: ServeSection,
    clock: &Arc<ManualClock>,
    history: &Arc<History>,
    runner: &Arc<Fake>,
) -> Arc<Service> {
    Service::new(
        s,
        clock.clone(),
        history.clone(),
        runner.clone(),
        Arc::new(Metrics::default()),
    )
    .unwrap()
    .0
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn schedules_fire_when_due_and_not_before() {
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let history = Arc::new(History::in_memory());
    let fake = Arc::new(Fake::default());
    let svc = service(
        settings(
            vec![
                job("mail", JobKind::Exchange, "daily at 02:00", &[]),
                job("drives", JobKind::Onedrive, "every 4h", &[]),
            ],
            4,
        ),
        &clock,
        &history,
        &fake,
    );
    assert!(
        svc.startup().unwrap().is_empty(),
        "nothing is missed on a first start"
    );
    assert_eq!(svc.next_due_of("mail"), Some(t("2026-03-11T02:00:00Z")));
    assert_eq!(svc.next_due_of("drives"), Some(t("2026-03-10T16:00:00Z")));

    clock.set(t("2026-03-10T15:59:59Z"));
    assert!(svc.tick().unwrap().is_empty());
    clock.set(t("2026-03-10T16:00:00Z"));
    let q = svc.tick().unwrap();
    assert_eq!(q.len(), 1);
    settle().await;
    fake.gate.add_permits(1);
    svc.idle().await;
    let r = history.get(q[0]).unwrap().unwrap();
    assert_eq!(r.name, "drives");
    assert_eq!(r.status, Status::Ok);
    assert_eq!(r.trigger, Trigger::Schedule);
    assert_eq!(r.outcome.items, 1);
    assert_eq!(svc.next_due_of("drives"), Some(t("2026-03-10T20:00:00Z")));

    // 02:00:30 next day: the daily slot, and the interval job's 20:00 and 00:00 slots
    // (one run for both: slots passed together are not queued twice)
    clock.set(t("2026-03-11T02:00:30Z"));
    let q = svc.tick().unwrap();
    let names: Vec<String> = q
        .iter()
        .map(|id| history.get(*id).unwrap().unwrap().name)
        .collect();
    assert_eq!(names, vec!["drives", "mail"]);
    settle().await;
    fake.gate.add_permits(2);
    svc.idle().await;
    assert_eq!(svc.next_due_of("drives"), Some(t("2026-03-11T04:00:00Z")));
    assert!(
        svc.tick().unwrap().is_empty(),
        "a fired slot does not fire again"
    );
}

#[tokio::test]
async fn jitter_delays_every_slot_by_the_jobs_fixed_offset() {
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let history = Arc::new(History::in_memory());
    let fake = Arc::new(Fake::default());
    let mut s = settings(
        vec![job("mail", JobKind::Exchange, "daily at 02:00", &[])],
        1,
    );
    s.jitter = std::time::Duration::from_secs(1800);
    let off = Duration::from_std(crate::serve::schedule::jitter_offset("mail", s.jitter)).unwrap();
    let svc = service(s, &clock, &history, &fake);
    svc.startup().unwrap();
    let due = t("2026-03-11T02:00:00Z") + off;
    assert_eq!(svc.next_due_of("mail"), Some(due));
    clock.set(due - Duration::seconds(1));
    assert!(svc.tick().unwrap().is_empty());
    clock.set(due);
    assert_eq!(svc.tick().unwrap().len(), 1);
    fake.gate.add_permits(1);
    svc.idle().await;
}

#[tokio::test]
async fn a_run_missed_while_down_runs_once_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let fake = Arc::new(Fake::default());
    let jobs = || {
        vec![
            job("mail", JobKind::Exchange, "daily at 02:00", &[]),
            job("gc", JobKind::Gc, "weekly", &[]),
        ]
    };
    {
        let history = Arc::new(History::open(&path).unwrap());
        let svc = service(settings(jobs(), 2), &clock, &history, &fake);
        svc.startup().unwrap();
    }
    // down for three days: three daily slots and no weekly one were missed
    clock.set(t("2026-03-13T09:00:00Z"));
    let history = Arc::new(History::open(&path).unwrap());
    let svc = service(settings(jobs(), 2), &clock, &history, &fake);
    let q = svc.startup().unwrap();
    assert_eq!(q.len(), 1, "one catch-up run, not one per missed slot");
    let r = history.get(q[0]).unwrap().unwrap();
    assert_eq!((r.name.as_str(), r.trigger), ("mail", Trigger::CatchUp));
    assert_eq!(svc.next_due_of("mail"), Some(t("2026-03-14T02:00:00Z")));
    assert_eq!(
        history.last_slot("mail").unwrap(),
        Some(t("2026-03-13T02:00:00Z"))
    );
    fake.gate.add_permits(1);
    svc.idle().await;
    assert_eq!(history.get(q[0]).unwrap().unwrap().status, Status::Ok);
}

#[tokio::test]
async fn runs_of_the_same_owner_never_overlap() {
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let history = Arc::new(History::in_memory());
    let fake = Arc::new(Fake::default());
    let svc = service(
        settings(
            vec![
                job("alice-a", JobKind::Exchange, "hourly", &["alice@x.com"]),
                job(
                    "alice-b",
                    JobKind::Exchange,
                    "hourly",
                    &["Alice@x.com", "bob@x.com"],
                ),
                job("carol", JobKind::Exchange, "hourly", &["carol@x.com"]),
                job("drives", JobKind::Onedrive, "hourly", &[]),
            ],
            4,
        ),
        &clock,
        &history,
        &fake,
    );
    svc.startup().unwrap();
    clock.set(t("2026-03-10T13:00:00Z"));
    assert_eq!(svc.tick().unwrap().len(), 4);
    settle().await;
    // alice-b shares alice with alice-a: it waits although there is room
    assert_eq!(svc.running().len(), 3);
    assert_eq!(svc.queued().len(), 1);
    let log = fake.log.lock().unwrap().clone();
    assert!(
        log.contains(&"start alice-a".to_string()),
        "queued first, started first: {log:?}"
    );
    assert!(!log.contains(&"start alice-b".to_string()), "{log:?}");

    // the next slot comes while they still run: nothing is queued twice
    clock.set(t("2026-03-10T14:00:00Z"));
    assert!(svc.tick().unwrap().is_empty());

    fake.gate.add_permits(10);
    svc.idle().await;
    let log = fake.log.lock().unwrap().clone();
    let end_a = log.iter().position(|l| l == "end alice-a").unwrap();
    let start_b = log.iter().position(|l| l == "start alice-b").unwrap();
    assert!(
        end_a < start_b,
        "alice-b started before alice-a ended: {log:?}"
    );
    assert_eq!(history.list(None, 100).unwrap().len(), 4);
}

#[tokio::test]
async fn an_all_mailboxes_job_excludes_every_named_mailbox_job() {
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let history = Arc::new(History::in_memory());
    let fake = Arc::new(Fake::default());
    let svc = service(
        settings(
            vec![
                job("all", JobKind::Exchange, "hourly", &[]),
                job("vip", JobKind::Exchange, "hourly", &["ceo@x.com"]),
                job("gc", JobKind::Gc, "hourly", &[]),
            ],
            3,
        ),
        &clock,
        &history,
        &fake,
    );
    svc.startup().unwrap();
    clock.set(t("2026-03-10T13:00:00Z"));
    svc.tick().unwrap();
    settle().await;
    assert_eq!(svc.running().len(), 2, "all + gc run, vip waits");
    fake.gate.add_permits(10);
    svc.idle().await;
}

#[tokio::test]
async fn the_concurrency_limit_holds_tenant_wide() {
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let history = Arc::new(History::in_memory());
    let fake = Arc::new(Fake::default());
    let jobs = (0..5)
        .map(|i| {
            job(
                &format!("m{i}"),
                JobKind::Exchange,
                "hourly",
                &[&format!("u{i}@x.com")],
            )
        })
        .collect();
    let svc = service(settings(jobs, 2), &clock, &history, &fake);
    svc.startup().unwrap();
    clock.set(t("2026-03-10T13:00:00Z"));
    assert_eq!(svc.tick().unwrap().len(), 5);
    settle().await;
    assert_eq!(svc.running().len(), 2);
    fake.gate.add_permits(5);
    svc.idle().await;
    assert_eq!(*fake.max_active.lock().unwrap(), 2);
    assert!(
        history
            .list(None, 10)
            .unwrap()
            .iter()
            .all(|r| r.status == Status::Ok)
    );
}

#[tokio::test]
async fn start_now_and_cancel_are_recorded() {
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let history = Arc::new(History::in_memory());
    let fake = Arc::new(Fake::default());
    let svc = service(
        settings(
            vec![
                job("a", JobKind::Exchange, "daily", &["a@x.com"]),
                job("b", JobKind::Exchange, "daily", &["b@x.com"]),
            ],
            1,
        ),
        &clock,
        &history,
        &fake,
    );
    svc.startup().unwrap();
    let (a, new) = svc.start_now("a", "console").unwrap();
    assert!(new);
    assert_eq!(svc.start_now("a", "console").unwrap(), (a, false));
    let (b, _) = svc.start_now("b", "console").unwrap();
    settle().await;
    assert_eq!(svc.running(), vec![a]);
    assert_eq!(svc.queued(), vec![b]);
    svc.cancel(b).unwrap();
    svc.cancel(a).unwrap();
    svc.idle().await;
    assert_eq!(history.get(a).unwrap().unwrap().status, Status::Cancelled);
    assert_eq!(history.get(b).unwrap().unwrap().status, Status::Cancelled);
    assert_eq!(
        history.get(a).unwrap().unwrap().requested_by.as_deref(),
        Some("console")
    );
    assert!(matches!(svc.cancel(a), Err(QueueError::AlreadyEnded(_))));
    assert!(matches!(svc.cancel(999), Err(QueueError::UnknownRun(999))));
    assert!(matches!(
        svc.start_now("nope", "x"),
        Err(QueueError::UnknownJob(_))
    ));
}

#[tokio::test]
async fn a_run_stopped_by_shutdown_resumes_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite");
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let fake = Arc::new(Fake::default());
    let jobs = || vec![job("mail", JobKind::Exchange, "daily at 02:00", &[])];
    let id = {
        let history = Arc::new(History::open(&path).unwrap());
        let svc = service(settings(jobs(), 1), &clock, &history, &fake);
        svc.startup().unwrap();
        let (id, _) = svc.start_now("mail", "ops").unwrap();
        settle().await;
        assert_eq!(svc.running(), vec![id]);
        svc.shutdown(std::time::Duration::from_millis(50)).await;
        settle().await;
        assert_eq!(history.get(id).unwrap().unwrap().status, Status::Running);
        id
    };
    let history = Arc::new(History::open(&path).unwrap());
    let svc = service(settings(jobs(), 1), &clock, &history, &fake);
    let q = svc.startup().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(
        history.get(id).unwrap().unwrap().status,
        Status::Interrupted
    );
    let r = history.get(q[0]).unwrap().unwrap();
    assert_eq!((r.name.as_str(), r.trigger), ("mail", Trigger::Resume));
    assert_eq!(r.requested_by.as_deref(), Some("ops"));
    fake.gate.add_permits(1);
    svc.idle().await;
    assert_eq!(history.get(q[0]).unwrap().unwrap().status, Status::Ok);
}

#[tokio::test]
async fn retention_gc_and_check_run_as_scheduled_jobs_on_a_real_repository() {
    use tenantvault_repo::retention::{Assignment, OwnerSet, PolicySet, RetentionPolicy};
    use tenantvault_repo::{
        DirBackupOptions, InitOptions, KdfParams, LocalStorage, NoProgress, Repository,
        SnapshotFilter,
    };
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn tenantvault_repo::Storage> =
        Arc::new(LocalStorage::new(dir.path().join("repo")).unwrap());
    let repo = Repository::init(
        storage,
        "pw",
        InitOptions {
            kdf: KdfParams {
                m_kib: 64,
                t: 1,
                p: 1,
            },
            cache_dir: Some(dir.path().join("cache")),
            ..InitOptions::default()
        },
    )
    .await
    .unwrap();
    // two snapshots of one owner; the policy keeps the newest only
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for content in ["one", "two"] {
        std::fs::write(src.join("f.txt"), content).unwrap();
        tenantvault_repo::backup_dir(
            &repo,
            &src,
            "share",
            DirBackupOptions::default(),
            &NoProgress,
        )
        .await
        .unwrap();
    }
    let mut policy = RetentionPolicy::default();
    policy.snapshots.keep_last = Some(1);
    let set = PolicySet {
        policies: [("last".to_string(), policy)].into_iter().collect(),
        assignments: vec![Assignment {
            policy: "last".into(),
            workloads: vec![],
            owners: OwnerSet::All,
        }],
        ..PolicySet::default()
    };
    let clock = Arc::new(ManualClock::new(t("2026-03-10T12:00:00Z")));
    let history = Arc::new(History::in_memory());
    let runner = Arc::new(crate::serve::jobs::RepoRunner {
        repo: repo.clone(),
        graph: None,
        export_root: None,
        retention: Some(set),
        clock: clock.clone(),
    });
    let (svc, _rx) = Service::new(
        settings(
            vec![
                job("gc", JobKind::Gc, "daily at 03:00", &[]),
                job("check", JobKind::Check, "daily at 04:00", &[]),
                job("mail", JobKind::Exchange, "daily at 05:00", &[]),
                job("retention", JobKind::Retention, "daily at 01:00", &[]),
                job("locks", JobKind::Locks, "daily at 01:30", &[]),
            ],
            1,
        ),
        clock.clone(),
        history.clone(),
        runner,
        Arc::new(Metrics::default()),
    )
    .unwrap();
    svc.startup().unwrap();
    clock.set(t("2026-03-11T06:00:00Z"));
    let q = svc.tick().unwrap();
    assert_eq!(q.len(), 5);
    svc.idle().await;
    let by: HashMap<String, Status> = q
        .iter()
        .map(|id| {
            let r = history.get(*id).unwrap().unwrap();
            (r.name, r.status)
        })
        .collect();
    assert_eq!(by["gc"], Status::Ok);
    assert_eq!(by["check"], Status::Ok);
    assert_eq!(by["retention"], Status::Ok);
    let left = repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(left.len(), 1, "retention removed the older snapshot");
    // a local repository has no Object Lock: lock maintenance says so
    assert_eq!(by["locks"], Status::Failed);
    // every run is in the repository's audit log
    let (audit, _) = repo
        .audit_records(&tenantvault_repo::AuditFilter::default())
        .await
        .unwrap();
    for op in [
        "serve gc",
        "serve check",
        "serve retention",
        "serve exchange",
    ] {
        assert!(
            audit.iter().any(|e| e.record.operation == op),
            "no audit record for {op}"
        );
    }
    // a backup without Graph credentials fails with a clear message
    assert_eq!(by["mail"], Status::Failed);
    let mail = history.list(Some("mail"), 1).unwrap().remove(0);
    assert!(
        mail.outcome
            .error
            .as_deref()
            .unwrap()
            .contains("no Graph credentials"),
        "{:?}",
        mail.outcome.error
    );
}
