//! Job history in SQLite (beside the repository cache): one row per job run, plus the
//! scheduler's last fired slot per job so that a run missed while the service was down is
//! caught up at start-up.
//!
//! Every state change is one committed SQLite transaction (WAL mode), so `kill -9` loses at
//! most the change in flight; a row left `running` by a killed service is found at the next
//! start ([`History::interrupted`]) and its job is queued again.

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::settings::JobKind;

/// Errors of the history store.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("job history database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("job history database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("job history: stored value is invalid: {0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, HistoryError>;

/// How a job ended (or where it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    /// Everything worked.
    Ok,
    /// Finished; some items or owners failed (listed in `failures`).
    CompletedWithFailures,
    /// Did not finish.
    Failed,
    /// Cancelled through the API.
    Cancelled,
    /// The service stopped while the job ran; it is queued again at the next start.
    Interrupted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Ok => "ok",
            Status::CompletedWithFailures => "completed_with_failures",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Result<Status> {
        Ok(match s {
            "queued" => Status::Queued,
            "running" => Status::Running,
            "ok" => Status::Ok,
            "completed_with_failures" => Status::CompletedWithFailures,
            "failed" => Status::Failed,
            "cancelled" => Status::Cancelled,
            "interrupted" => Status::Interrupted,
            other => return Err(HistoryError::Invalid(format!("status {other:?}"))),
        })
    }
}

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    /// A slot missed while the service was down.
    CatchUp,
    /// Started through the API.
    Manual,
    /// Re-queued after an interruption.
    Resume,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::CatchUp => "catch_up",
            Trigger::Manual => "manual",
            Trigger::Resume => "resume",
        }
    }
    fn parse(s: &str) -> Result<Trigger> {
        Ok(match s {
            "schedule" => Trigger::Schedule,
            "catch_up" => Trigger::CatchUp,
            "manual" => Trigger::Manual,
            "resume" => Trigger::Resume,
            other => return Err(HistoryError::Invalid(format!("trigger {other:?}"))),
        })
    }
}

/// A failed item or owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub owner: String,
    pub item: Option<String>,
    pub reason: String,
}

/// The outcome figures of a finished job.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outcome {
    pub items: u64,
    pub bytes: u64,
    pub owners: u64,
    pub snapshots: Vec<String>,
    pub failures: Vec<JobFailure>,
    pub anomalies: Vec<String>,
    pub graph_requests: u64,
    pub graph_throttled: u64,
    pub error: Option<String>,
}

impl Outcome {
    /// Adds one owner's result: its snapshot, an error that stopped the whole owner, and the
    /// `(item id, reason)` of each item that failed.
    pub fn add_owner(
        &mut self,
        who: &str,
        snapshot: Option<String>,
        error: Option<&str>,
        failures: impl IntoIterator<Item = (String, String)>,
    ) {
        self.owners += 1;
        self.snapshots.extend(snapshot);
        if let Some(e) = error {
            self.failures.push(JobFailure {
                owner: who.to_owned(),
                item: None,
                reason: e.to_owned(),
            });
        }
        for (item, reason) in failures {
            self.failures.push(JobFailure {
                owner: who.to_owned(),
                item: Some(item),
                reason,
            });
        }
    }
}

/// One row of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: i64,
    /// The job definition's name (or `api:<kind>` for API-started work).
    pub name: String,
    pub kind: JobKind,
    pub trigger: Trigger,
    pub status: Status,
    pub queued: DateTime<Utc>,
    pub started: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
    /// Who asked (token name) for manual runs.
    pub requested_by: Option<String>,
    /// Parameters of API-started work (restore/export requests).
    pub params: serde_json::Value,
    pub outcome: Outcome,
}

/// The history database.
pub struct History {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    queued TEXT NOT NULL,
    started TEXT,
    ended TEXT,
    requested_by TEXT,
    params TEXT NOT NULL DEFAULT 'null',
    outcome TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS jobs_name ON jobs(name, id);
CREATE TABLE IF NOT EXISTS schedule (name TEXT PRIMARY KEY, last_slot TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notified (key TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL
);
";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| HistoryError::Invalid(format!("time {s:?}: {e}")))
}

impl History {
    /// Opens (creating) the database at `path`.
    pub fn open(path: &Path) -> Result<History> {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| HistoryError::Open {
            path: path.display().to_string(),
            source,
        })?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(History {
            conn: Mutex::new(conn),
        })
    }

    /// An in-memory database (tests).
    #[cfg(test)]
    pub fn in_memory() -> History {
        let conn = Connection::open_in_memory().expect("sqlite in memory");
        conn.execute_batch(SCHEMA).expect("schema");
        History {
            conn: Mutex::new(conn),
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a queued run; returns its id.
    pub fn enqueue(
        &self,
        name: &str,
        kind: JobKind,
        trigger: Trigger,
        now: DateTime<Utc>,
        requested_by: Option<&str>,
        params: &serde_json::Value,
    ) -> Result<i64> {
        let c = self.conn();
        c.execute(
            "INSERT INTO jobs (name, kind, trigger, status, queued, requested_by, params) \
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6)",
            params![
                name,
                kind.as_str(),
                trigger.as_str(),
                ts(now),
                requested_by,
                params.to_string()
            ],
        )?;
        Ok(c.last_insert_rowid())
    }

    pub fn mark_running(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.conn().execute(
            "UPDATE jobs SET status = 'running', started = ?2 WHERE id = ?1",
            params![id, ts(now)],
        )?;
        Ok(())
    }

    /// Records the end of a run.
    pub fn finish(
        &self,
        id: i64,
        status: Status,
        now: DateTime<Utc>,
        outcome: &Outcome,
    ) -> Result<()> {
        let json = serde_json::to_string(outcome).expect("serializable outcome");
        self.conn().execute(
            "UPDATE jobs SET status = ?2, ended = ?3, outcome = ?4 WHERE id = ?1",
            params![id, status.as_str(), ts(now), json],
        )?;
        Ok(())
    }

    /// Rows left queued or running by a service that stopped: marks them interrupted and
    /// returns them (oldest first) so the caller can queue them again.
    pub fn interrupted(&self, now: DateTime<Utc>) -> Result<Vec<JobRecord>> {
        let rows = self.query(
            "SELECT * FROM jobs WHERE status IN ('queued', 'running') ORDER BY id",
            [],
        )?;
        let c = self.conn();
        for r in &rows {
            c.execute(
                "UPDATE jobs SET status = 'interrupted', ended = ?2 WHERE id = ?1",
                params![r.id, ts(now)],
            )?;
        }
        Ok(rows)
    }

    pub fn get(&self, id: i64) -> Result<Option<JobRecord>> {
        Ok(self
            .query("SELECT * FROM jobs WHERE id = ?1", [id])?
            .into_iter()
            .next())
    }

    /// Newest first; `name` filters to one job definition.
    pub fn list(&self, name: Option<&str>, limit: usize) -> Result<Vec<JobRecord>> {
        let limit = limit.clamp(1, 10_000) as i64;
        match name {
            Some(n) => self.query(
                "SELECT * FROM jobs WHERE name = ?1 ORDER BY id DESC LIMIT ?2",
                params![n, limit],
            ),
            None => self.query(
                "SELECT * FROM jobs ORDER BY id DESC LIMIT ?1",
                params![limit],
            ),
        }
    }

    /// Finished runs that ended at or after `since` (for the digest).
    pub fn ended_since(&self, since: DateTime<Utc>) -> Result<Vec<JobRecord>> {
        self.query(
            "SELECT * FROM jobs WHERE ended IS NOT NULL AND ended >= ?1 ORDER BY id",
            [ts(since)],
        )
    }

    fn query<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<JobRecord>> {
        let c = self.conn();
        let mut stmt = c.prepare(sql)?;
        let rows = stmt.query_map(p, |r| {
            Ok((
                r.get::<_, i64>("id")?,
                r.get::<_, String>("name")?,
                r.get::<_, String>("kind")?,
                r.get::<_, String>("trigger")?,
                r.get::<_, String>("status")?,
                r.get::<_, String>("queued")?,
                r.get::<_, Option<String>>("started")?,
                r.get::<_, Option<String>>("ended")?,
                r.get::<_, Option<String>>("requested_by")?,
                r.get::<_, String>("params")?,
                r.get::<_, String>("outcome")?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, kind, trigger, status, queued, started, ended, by, params, outcome) =
                row?;
            out.push(JobRecord {
                id,
                name,
                kind: serde_json::from_value(serde_json::Value::String(kind.clone()))
                    .map_err(|_| HistoryError::Invalid(format!("kind {kind:?}")))?,
                trigger: Trigger::parse(&trigger)?,
                status: Status::parse(&status)?,
                queued: parse_ts(&queued)?,
                started: started.as_deref().map(parse_ts).transpose()?,
                ended: ended.as_deref().map(parse_ts).transpose()?,
                requested_by: by,
                params: serde_json::from_str(&params)
                    .map_err(|e| HistoryError::Invalid(format!("params: {e}")))?,
                outcome: serde_json::from_str(&outcome)
                    .map_err(|e| HistoryError::Invalid(format!("outcome: {e}")))?,
            });
        }
        Ok(out)
    }

    /// The last slot the scheduler fired for `name`.
    pub fn last_slot(&self, name: &str) -> Result<Option<DateTime<Utc>>> {
        let s: Option<String> = self
            .conn()
            .query_row(
                "SELECT last_slot FROM schedule WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        s.as_deref().map(parse_ts).transpose()
    }

    pub fn set_last_slot(&self, name: &str, slot: DateTime<Utc>) -> Result<()> {
        self.conn().execute(
            "INSERT INTO schedule (name, last_slot) VALUES (?1, ?2) \
             ON CONFLICT(name) DO UPDATE SET last_slot = excluded.last_slot",
            params![name, ts(slot)],
        )?;
        Ok(())
    }

    /// A stored value (`first_start`, `last_digest`, …).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// When the notification `key` (e.g. `rpo:exchange:alice`) was last sent.
    pub fn notified(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        let s: Option<String> = self
            .conn()
            .query_row("SELECT at FROM notified WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?;
        s.as_deref().map(parse_ts).transpose()
    }

    pub fn set_notified(&self, key: &str, at: Option<DateTime<Utc>>) -> Result<()> {
        let c = self.conn();
        match at {
            Some(at) => c.execute(
                "INSERT INTO notified (key, at) VALUES (?1, ?2) \
                 ON CONFLICT(key) DO UPDATE SET at = excluded.at",
                params![key, ts(at)],
            )?,
            None => c.execute("DELETE FROM notified WHERE key = ?1", [key])?,
        };
        Ok(())
    }
}

/// One API call in the service's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCall {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// Token name, or `anonymous` when no valid token was given.
    pub actor: String,
    pub method: String,
    pub path: String,
    /// HTTP status of the answer.
    pub status: u16,
}

impl History {
    /// Appends one API call to the audit trail.
    pub fn audit(&self, call: &ApiCall) -> Result<()> {
        self.conn().execute(
            "INSERT INTO api_audit (at, actor, method, path, status) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ts(call.at), call.actor, call.method, call.path, call.status],
        )?;
        Ok(())
    }

    /// Newest first.
    pub fn audit_list(&self, limit: usize) -> Result<Vec<ApiCall>> {
        let c = self.conn();
        let mut stmt = c.prepare(
            "SELECT id, at, actor, method, path, status FROM api_audit ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit.clamp(1, 10_000) as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, u16>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, at, actor, method, path, status) = row?;
            out.push(ApiCall {
                id,
                at: parse_ts(&at)?,
                actor,
                method,
                path,
                status,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn runs_are_recorded_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let id;
        {
            let h = History::open(&path).unwrap();
            id = h
                .enqueue(
                    "mail",
                    JobKind::Exchange,
                    Trigger::Schedule,
                    t("2026-01-01T02:00:00Z"),
                    None,
                    &serde_json::Value::Null,
                )
                .unwrap();
            h.mark_running(id, t("2026-01-01T02:00:01Z")).unwrap();
            let outcome = Outcome {
                items: 10,
                bytes: 2048,
                failures: vec![JobFailure {
                    owner: "alice".into(),
                    item: Some("msg:1".into()),
                    reason: "gone".into(),
                }],
                ..Outcome::default()
            };
            h.finish(
                id,
                Status::CompletedWithFailures,
                t("2026-01-01T02:05:00Z"),
                &outcome,
            )
            .unwrap();
            h.set_last_slot("mail", t("2026-01-01T02:00:00Z")).unwrap();
            // a second run left running by a killed service
            let id2 = h
                .enqueue(
                    "mail",
                    JobKind::Exchange,
                    Trigger::Manual,
                    t("2026-01-01T03:00:00Z"),
                    Some("console"),
                    &serde_json::Value::Null,
                )
                .unwrap();
            h.mark_running(id2, t("2026-01-01T03:00:00Z")).unwrap();
        }
        let h = History::open(&path).unwrap();
        let r = h.get(id).unwrap().unwrap();
        assert_eq!(r.status, Status::CompletedWithFailures);
        assert_eq!(r.outcome.items, 10);
        assert_eq!(r.outcome.failures[0].owner, "alice");
        assert_eq!(r.ended, Some(t("2026-01-01T02:05:00Z")));
        assert_eq!(
            h.last_slot("mail").unwrap(),
            Some(t("2026-01-01T02:00:00Z"))
        );
        let left = h.interrupted(t("2026-01-01T04:00:00Z")).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].requested_by.as_deref(), Some("console"));
        assert_eq!(
            h.get(left[0].id).unwrap().unwrap().status,
            Status::Interrupted
        );
        assert!(h.interrupted(t("2026-01-01T04:00:00Z")).unwrap().is_empty());
        assert_eq!(h.list(Some("mail"), 10).unwrap().len(), 2);
        assert_eq!(h.list(None, 1).unwrap()[0].id, left[0].id);
    }
}
