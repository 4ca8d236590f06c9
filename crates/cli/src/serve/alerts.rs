//! Deciding what to notify: failed runs, runs completed with failures, anomalies, owners past
//! their RPO, and the optional daily digest.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tenantvault_repo::{Repository, SnapshotFilter};

use super::history::{History, JobRecord, Status};
use super::notify::{Notification, Notifier};
use super::settings::{JobKind, ServeSection};

/// The notification for a finished run, if it needs one.
pub fn for_run(r: &JobRecord) -> Vec<Notification> {
    let mut out = Vec::new();
    let data = serde_json::to_value(r).unwrap_or_default();
    let (event, what) = match r.status {
        Status::Failed => ("failed", "FAILED"),
        Status::CompletedWithFailures => ("partial", "completed with failures"),
        _ => ("", ""),
    };
    if !event.is_empty() {
        let mut text = format!(
            "Job {} (run {}, {}) {what}.\n",
            r.name,
            r.id,
            r.kind.as_str()
        );
        if let Some(e) = &r.outcome.error {
            text.push_str(&format!("Error: {e}\n"));
        }
        for f in r.outcome.failures.iter().take(50) {
            text.push_str(&format!(
                "- {} {}: {}\n",
                f.owner,
                f.item.as_deref().unwrap_or(""),
                f.reason
            ));
        }
        if r.outcome.failures.len() > 50 {
            text.push_str(&format!("… and {} more\n", r.outcome.failures.len() - 50));
        }
        out.push(Notification {
            event: event.into(),
            subject: format!("tenantvault: job {} {what}", r.name),
            text,
            data: data.clone(),
        });
    }
    if !r.outcome.anomalies.is_empty() {
        out.push(Notification {
            event: "anomaly".into(),
            subject: format!("tenantvault: anomaly in job {}", r.name),
            text: r.outcome.anomalies.join("\n"),
            data,
        });
    }
    out
}

/// Workload name of a backup kind's snapshots.
fn workload(kind: JobKind) -> Option<&'static str> {
    match kind {
        JobKind::Exchange => Some(tenantvault_workloads::exchange::WORKLOAD),
        JobKind::Onedrive | JobKind::Sharepoint => {
            Some(tenantvault_workloads::drive::layout::WORKLOAD)
        }
        _ => None,
    }
}

/// Newest complete snapshot per (workload, owner).
pub async fn last_success(
    repo: &Repository,
) -> tenantvault_repo::Result<BTreeMap<(String, String), DateTime<Utc>>> {
    let mut map = BTreeMap::new();
    for s in repo.list_snapshots(SnapshotFilter::default()).await? {
        let key = (s.owner.workload.clone(), s.owner.owner.clone());
        let e = map.entry(key).or_insert(s.time);
        if s.time > *e {
            *e = s.time;
        }
    }
    Ok(map)
}

/// Owners (of workloads that have scheduled backups) whose newest complete snapshot is older
/// than their RPO, and scheduled backup jobs with no `ok` run within their RPO since the
/// service first started. Each problem is notified once until it clears.
pub async fn rpo_check(
    settings: &ServeSection,
    history: &History,
    repo: &Repository,
    notifier: &Notifier,
    now: DateTime<Utc>,
) -> Vec<Notification> {
    let mut rpo_by_workload: BTreeMap<&str, Duration> = BTreeMap::new();
    for j in &settings.jobs {
        if let Some(w) = workload(j.kind()) {
            let r = settings.rpo_of(j);
            let e = rpo_by_workload.entry(w).or_insert(r);
            *e = (*e).min(r);
        }
    }
    let mut problems: Vec<(String, Notification)> = Vec::new();
    let mut healthy: Vec<String> = Vec::new();
    match last_success(repo).await {
        Ok(map) => {
            for ((w, owner), t) in map {
                let Some(rpo) = rpo_by_workload.get(w.as_str()) else {
                    continue;
                };
                let key = format!("rpo:{w}:{owner}");
                let age = now - t;
                if age.to_std().unwrap_or_default() > *rpo {
                    problems.push((
                        key,
                        Notification {
                            event: "rpo".into(),
                            subject: format!(
                                "tenantvault: {w} owner {owner} has no backup for {}h",
                                age.num_hours()
                            ),
                            text: format!(
                                "The newest complete {w} snapshot of {owner} is from {t} \
                                 ({}h ago); the recovery-point objective is {}.",
                                age.num_hours(),
                                humantime::format_duration(*rpo)
                            ),
                            data: serde_json::json!({
                                "workload": w, "owner": owner, "lastSuccess": t,
                                "rpoSeconds": rpo.as_secs(),
                            }),
                        },
                    ));
                } else {
                    healthy.push(key);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "RPO check: cannot list snapshots"),
    }
    let since = history
        .meta("first_start")
        .ok()
        .flatten()
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    for j in settings.jobs.iter().filter(|j| j.kind().is_backup()) {
        let rpo = settings.rpo_of(j);
        let key = format!("rpo-job:{}", j.name);
        let last_ok = history
            .list(Some(&j.name), 500)
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.status == Status::Ok)
            .filter_map(|r| r.ended)
            .max();
        let reference = last_ok.unwrap_or(since);
        if (now - reference).to_std().unwrap_or_default() > rpo {
            problems.push((
                key,
                Notification {
                    event: "rpo".into(),
                    subject: format!("tenantvault: job {} has not succeeded within its RPO", j.name),
                    text: format!(
                        "Job {} last finished ok {}; the recovery-point objective is {}.",
                        j.name,
                        last_ok
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "never".into()),
                        humantime::format_duration(rpo)
                    ),
                    data: serde_json::json!({"job": j.name, "lastOk": last_ok, "rpoSeconds": rpo.as_secs()}),
                },
            ));
        } else {
            healthy.push(key);
        }
    }
    for k in healthy {
        let _ = history.set_notified(&k, None);
    }
    let mut sent = Vec::new();
    for (key, n) in problems {
        if history.notified(&key).ok().flatten().is_some() {
            continue;
        }
        notifier.send(&n).await;
        let _ = history.set_notified(&key, Some(now));
        sent.push(n);
    }
    sent
}

/// The daily digest, once per day after `digest_at`.
pub async fn digest(
    history: &History,
    notifier: &Notifier,
    now: DateTime<Utc>,
) -> Option<Notification> {
    let at = notifier.digest_at()?;
    let (h, m) = at.split_once(':')?;
    let today = now.date_naive();
    let due = today
        .and_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)?
        .and_utc();
    if now < due
        || history.meta("last_digest").ok().flatten().as_deref() == Some(&today.to_string())
    {
        return None;
    }
    let runs = history
        .ended_since(now - chrono::Duration::hours(24))
        .unwrap_or_default();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut text = String::new();
    for r in &runs {
        *counts.entry(r.status.as_str()).or_default() += 1;
        text.push_str(&format!(
            "{} run {} ({}): {} — {} items, {} bytes, {} failures\n",
            r.ended.map(|t| t.to_rfc3339()).unwrap_or_default(),
            r.id,
            r.name,
            r.status.as_str(),
            r.outcome.items,
            r.outcome.bytes,
            r.outcome.failures.len()
        ));
    }
    let n = Notification {
        event: "digest".into(),
        subject: format!("tenantvault: daily digest, {} runs", runs.len()),
        text: if text.is_empty() {
            "No runs in the last 24 hours.\n".into()
        } else {
            text
        },
        data: serde_json::json!({ "runs": runs.len(), "byStatus": counts }),
    };
    notifier.send(&n).await;
    let _ = history.set_meta("last_digest", &today.to_string());
    Some(n)
}

/// Forwards finished runs to the notifier until the queue is dropped.
pub async fn forward(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<JobRecord>,
    notifier: Arc<Notifier>,
) {
    while let Some(r) = rx.recv().await {
        for n in for_run(&r) {
            notifier.send(&n).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::history::{Outcome, Trigger};
    use crate::serve::settings::{JobDef, NotificationsSection};
    use std::sync::Mutex;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    async fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push(v);
                    "ok"
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        (format!("http://{addr}/hook"), got)
    }

    async fn empty_repo(dir: &std::path::Path) -> Repository {
        use tenantvault_repo::{InitOptions, KdfParams, LocalStorage};
        Repository::init(
            Arc::new(LocalStorage::new(dir.join("repo")).unwrap()),
            "pw",
            InitOptions {
                kdf: KdfParams {
                    m_kib: 64,
                    t: 1,
                    p: 1,
                },
                cache_dir: Some(dir.join("cache")),
                ..InitOptions::default()
            },
        )
        .await
        .unwrap()
    }

    #[test]
    fn only_failed_partial_and_anomalous_runs_notify() {
        let mut r = JobRecord {
            id: 1,
            name: "mail".into(),
            kind: JobKind::Exchange,
            trigger: Trigger::Schedule,
            status: Status::Ok,
            queued: t("2026-01-01T00:00:00Z"),
            started: None,
            ended: None,
            requested_by: None,
            params: serde_json::Value::Null,
            outcome: Outcome::default(),
        };
        assert!(for_run(&r).is_empty());
        r.status = Status::CompletedWithFailures;
        r.outcome.failures.push(crate::serve::history::JobFailure {
            owner: "alice".into(),
            item: Some("msg:1".into()),
            reason: "gone".into(),
        });
        let n = for_run(&r);
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].event, "partial");
        assert!(n[0].text.contains("alice msg:1: gone"), "{}", n[0].text);
        r.status = Status::Failed;
        r.outcome
            .anomalies
            .push("alert X: 900 files renamed".into());
        let events: Vec<String> = for_run(&r).into_iter().map(|n| n.event).collect();
        assert_eq!(events, vec!["failed", "anomaly"]);
    }

    #[tokio::test]
    async fn a_job_past_its_rpo_is_notified_once_until_it_succeeds_again() {
        let dir = tempfile::tempdir().unwrap();
        let repo = empty_repo(dir.path()).await;
        let (hook, got) = receiver().await;
        let notifier = Notifier::new(NotificationsSection {
            webhooks: vec![hook],
            ..NotificationsSection::default()
        })
        .unwrap();
        let settings = ServeSection {
            jobs: vec![JobDef {
                name: "mail".into(),
                kind: Some(JobKind::Exchange),
                rpo: Some(Duration::from_secs(3600)),
                ..JobDef::default()
            }],
            ..ServeSection::default()
        };
        let history = History::in_memory();
        history
            .set_meta("first_start", &t("2026-01-01T00:00:00Z").to_rfc3339())
            .unwrap();
        let at = |s| rpo_check(&settings, &history, &repo, &notifier, t(s));
        assert!(
            at("2026-01-01T00:59:00Z").await.is_empty(),
            "within the RPO"
        );
        let sent = at("2026-01-01T01:01:00Z").await;
        assert_eq!(sent.len(), 1);
        assert!(sent[0].subject.contains("job mail"), "{}", sent[0].subject);
        assert!(at("2026-01-01T02:00:00Z").await.is_empty(), "sent once");
        let hooks = got.lock().unwrap().clone();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0]["event"], "rpo");
        assert_eq!(hooks[0]["data"]["job"], "mail");

        // a successful run clears it; the next lapse is notified again
        let id = history
            .enqueue(
                "mail",
                JobKind::Exchange,
                Trigger::Manual,
                t("2026-01-01T02:00:00Z"),
                None,
                &serde_json::Value::Null,
            )
            .unwrap();
        history
            .finish(
                id,
                Status::Ok,
                t("2026-01-01T02:10:00Z"),
                &Outcome::default(),
            )
            .unwrap();
        assert!(at("2026-01-01T02:30:00Z").await.is_empty());
        assert_eq!(at("2026-01-01T03:30:00Z").await.len(), 1);
    }

    #[tokio::test]
    async fn the_digest_is_sent_once_a_day_after_its_time() {
        let (hook, got) = receiver().await;
        let notifier = Notifier::new(NotificationsSection {
            webhooks: vec![hook],
            digest_at: Some("07:00".into()),
            ..NotificationsSection::default()
        })
        .unwrap();
        let history = History::in_memory();
        let id = history
            .enqueue(
                "gc",
                JobKind::Gc,
                Trigger::Schedule,
                t("2026-01-01T03:00:00Z"),
                None,
                &serde_json::Value::Null,
            )
            .unwrap();
        history
            .finish(
                id,
                Status::Ok,
                t("2026-01-01T03:01:00Z"),
                &Outcome::default(),
            )
            .unwrap();
        assert!(
            digest(&history, &notifier, t("2026-01-01T06:59:00Z"))
                .await
                .is_none()
        );
        let d = digest(&history, &notifier, t("2026-01-01T07:00:00Z"))
            .await
            .unwrap();
        assert!(d.text.contains("gc"), "{}", d.text);
        assert!(
            digest(&history, &notifier, t("2026-01-01T12:00:00Z"))
                .await
                .is_none()
        );
        assert!(
            digest(&history, &notifier, t("2026-01-02T07:05:00Z"))
                .await
                .is_some()
        );
        assert_eq!(got.lock().unwrap().len(), 2);
    }

    #[test]
    fn notification_settings_are_checked() {
        let bad = [
            NotificationsSection {
                webhooks: vec!["ftp://x".into()],
                ..NotificationsSection::default()
            },
            NotificationsSection {
                events: Some(vec!["sometimes".into()]),
                ..NotificationsSection::default()
            },
            NotificationsSection {
                digest_at: Some("25:00".into()),
                ..NotificationsSection::default()
            },
        ];
        for b in bad {
            assert!(Notifier::new(b).is_err());
        }
    }
}
