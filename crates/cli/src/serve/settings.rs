//! The `[serve]`, `[notifications]` and `[api]` sections of the configuration file.
//!
//! ```toml
//! [serve]
//! listen = "127.0.0.1:8420"
//! concurrency = 2          # jobs at once, tenant-wide
//! jitter = "10m"
//! rpo = "36h"
//!
//! [[serve.jobs]]
//! name = "mail"
//! kind = "exchange"
//! schedule = "daily at 01:00"
//! groups = ["Finance"]
//!
//! [notifications]
//! webhooks = ["https://hooks.example/tenantvault"]
//!
//! [[api.tokens]]
//! name = "console"
//! role = "operator"
//! sha256 = "…"             # `tenantvault serve hash-token`
//! ```

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::schedule::{self, Schedule};

/// `[serve]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeSection {
    /// Address of the REST API and `/metrics`.
    pub listen: String,
    /// Job history database (default: `serve.sqlite` in the repository's cache directory).
    pub history: Option<PathBuf>,
    /// Graph settings file (a `[graph]` table); `AZURE_*` variables override it.
    pub graph: Option<PathBuf>,
    /// Jobs running at once in the whole tenant.
    pub concurrency: usize,
    /// Graph requests in flight at once for all jobs together (the Graph client's tenant budget).
    pub graph_concurrency: Option<usize>,
    /// Maximum start delay added to every slot (a fixed per-job offset).
    #[serde(with = "humantime_serde_opt")]
    pub jitter: Duration,
    /// Default recovery-point objective: alert when an owner has no successful backup for longer.
    #[serde(with = "humantime_serde_opt")]
    pub rpo: Duration,
    /// How long a shutdown waits for running jobs before stopping them (they resume on restart).
    #[serde(with = "humantime_serde_opt")]
    pub shutdown_grace: Duration,
    /// Directory restore/export jobs started through the API may write into (exports only below it).
    pub export_root: Option<PathBuf>,
    /// Scheduled jobs.
    pub jobs: Vec<JobDef>,
}

impl Default for ServeSection {
    fn default() -> Self {
        ServeSection {
            listen: "127.0.0.1:8420".into(),
            history: None,
            graph: None,
            concurrency: 2,
            graph_concurrency: None,
            jitter: Duration::from_secs(600),
            rpo: Duration::from_secs(36 * 3600),
            shutdown_grace: Duration::from_secs(30),
            export_root: None,
            jobs: Vec::new(),
        }
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// Back up Exchange mailboxes.
    Exchange,
    /// Back up OneDrives.
    Onedrive,
    /// Back up SharePoint document libraries.
    Sharepoint,
    /// Remove unreferenced data and stale session markers.
    Gc,
    /// Apply the `[retention]` policies (holds and the minimum retention respected).
    Retention,
    /// Extend the Object Lock of every referenced object (S3 repositories with a lock policy).
    Locks,
    /// Verify the repository structure.
    Check,
    /// Export a snapshot into a directory (API-started only).
    Export,
    /// Restore a snapshot through Graph (API-started only).
    Restore,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Exchange => "exchange",
            JobKind::Onedrive => "onedrive",
            JobKind::Sharepoint => "sharepoint",
            JobKind::Gc => "gc",
            JobKind::Retention => "retention",
            JobKind::Locks => "locks",
            JobKind::Check => "check",
            JobKind::Export => "export",
            JobKind::Restore => "restore",
        }
    }

    /// Backups read the tenant; their owners must not be backed up twice at once.
    pub fn is_backup(self) -> bool {
        matches!(
            self,
            JobKind::Exchange | JobKind::Onedrive | JobKind::Sharepoint
        )
    }
}

/// One `[[serve.jobs]]` entry: a workload and owner group with a schedule.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct JobDef {
    /// Unique name (history and API refer to it).
    pub name: String,
    pub kind: Option<JobKind>,
    /// Words or cron (default `daily`).
    pub schedule: Option<String>,
    /// Exchange: these mailboxes only (else all, or `groups`).
    pub mailboxes: Vec<String>,
    /// Exchange: members of these groups.
    pub groups: Vec<String>,
    /// OneDrive: these users only.
    pub users: Vec<String>,
    /// SharePoint: these sites only.
    pub sites: Vec<String>,
    /// Owners backed up at once inside the job.
    pub parallel: Option<usize>,
    /// This group's recovery-point objective (overrides `[serve] rpo`).
    #[serde(with = "humantime_serde_opt_opt")]
    pub rpo: Option<Duration>,
    /// Exchange: commit a checkpoint every N stored items (resume point; default 20000).
    pub checkpoint_items: Option<u64>,
    /// Delta page size (Exchange and drives).
    pub page_size: Option<u32>,
    /// Locks: extend locks that end sooner than this (default 7 days).
    #[serde(with = "humantime_serde_opt_opt")]
    pub renew_below: Option<Duration>,
    /// GC: how long unreferenced packs wait before deletion.
    #[serde(with = "humantime_serde_opt_opt")]
    pub grace: Option<Duration>,
}

impl JobDef {
    pub fn kind(&self) -> JobKind {
        self.kind.unwrap_or(JobKind::Exchange)
    }

    pub fn schedule(&self) -> Result<Schedule, String> {
        Schedule::parse(self.schedule.as_deref().unwrap_or(schedule::DEFAULT))
    }

    /// The owners this job touches, as lock keys: `kind:owner` for a named list, `kind:*` for all.
    pub fn lock_keys(&self) -> Vec<String> {
        let k = self.kind().as_str();
        let named: &[String] = match self.kind() {
            JobKind::Exchange if self.groups.is_empty() => &self.mailboxes,
            JobKind::Onedrive => &self.users,
            JobKind::Sharepoint => &self.sites,
            // group members are only known at run time: the job may touch any mailbox
            _ => &[],
        };
        if !self.kind().is_backup() {
            return vec![format!("repo:{k}")];
        }
        if named.is_empty() {
            vec![format!("{k}:*")]
        } else {
            named
                .iter()
                .map(|o| format!("{k}:{}", o.to_lowercase()))
                .collect()
        }
    }
}

impl ServeSection {
    /// Checks names, kinds and schedules before the service starts.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("[serve] concurrency must be at least 1".into());
        }
        if self.graph_concurrency == Some(0) {
            return Err("[serve] graph_concurrency must be at least 1".into());
        }
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| format!("[serve] listen {:?}: {e}", self.listen))?;
        let mut names = HashSet::new();
        for j in &self.jobs {
            if j.name.trim().is_empty() {
                return Err("[[serve.jobs]]: every job needs a name".into());
            }
            if !names.insert(j.name.as_str()) {
                return Err(format!("[[serve.jobs]]: job name {:?} used twice", j.name));
            }
            if j.kind.is_none() {
                return Err(format!(
                    "job {:?}: kind is required (exchange, onedrive, sharepoint, gc, check, retention or locks)",
                    j.name
                ));
            }
            if matches!(j.kind(), JobKind::Export | JobKind::Restore) {
                return Err(format!(
                    "job {:?}: {} jobs are started through the API, not scheduled",
                    j.name,
                    j.kind().as_str()
                ));
            }
            j.schedule().map_err(|e| format!("job {:?}: {e}", j.name))?;
            if j.parallel == Some(0) {
                return Err(format!("job {:?}: parallel must be at least 1", j.name));
            }
            let misplaced = match j.kind() {
                JobKind::Exchange => !j.users.is_empty() || !j.sites.is_empty(),
                JobKind::Onedrive => {
                    !j.mailboxes.is_empty() || !j.groups.is_empty() || !j.sites.is_empty()
                }
                JobKind::Sharepoint => {
                    !j.mailboxes.is_empty() || !j.groups.is_empty() || !j.users.is_empty()
                }
                _ => {
                    !j.mailboxes.is_empty()
                        || !j.groups.is_empty()
                        || !j.users.is_empty()
                        || !j.sites.is_empty()
                }
            };
            if misplaced {
                return Err(format!(
                    "job {:?}: owner lists must match the kind (exchange: mailboxes/groups, \
                     onedrive: users, sharepoint: sites)",
                    j.name
                ));
            }
        }
        Ok(())
    }

    /// The RPO of `job` (its own or the default).
    pub fn rpo_of(&self, job: &JobDef) -> Duration {
        job.rpo.unwrap_or(self.rpo)
    }
}

/// `[notifications]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsSection {
    /// URLs that receive a JSON POST per event.
    pub webhooks: Vec<String>,
    /// E-mail through SMTP.
    pub smtp: Option<SmtpSettings>,
    /// Events to send: `failed`, `partial`, `anomaly`, `rpo`, `digest` (default: all but digest
    /// unless `digest_at` is set).
    pub events: Option<Vec<String>>,
    /// Send a daily digest at this UTC time (`HH:MM`).
    pub digest_at: Option<String>,
}

/// `[notifications.smtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls` (implicit TLS, port 465) or `none` (local relays only).
    #[serde(default = "default_security")]
    pub security: String,
    pub username: Option<String>,
    /// Environment variable holding the SMTP password (never the password itself).
    pub password_env: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

fn default_smtp_port() -> u16 {
    587
}
fn default_security() -> String {
    "starttls".into()
}

/// `[api]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    pub tokens: Vec<TokenDef>,
}

/// One API token: its SHA-256 (hex), never the token itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenDef {
    pub name: String,
    pub role: super::api::auth::Role,
    pub sha256: String,
}

mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

mod humantime_serde_opt_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_full_configuration_parses_and_validates() {
        let c = Config::parse(
            r#"
[serve]
listen = "127.0.0.1:0"
concurrency = 3
jitter = "5m"
[[serve.jobs]]
name = "mail"
kind = "exchange"
schedule = "every 4h"
groups = ["Finance"]
rpo = "12h"
[[serve.jobs]]
name = "gc"
kind = "gc"
schedule = "weekly"
[notifications]
webhooks = ["http://127.0.0.1:9/x"]
[notifications.smtp]
host = "127.0.0.1"
port = 2525
security = "none"
from = "tv@example.com"
to = ["ops@example.com"]
[[api.tokens]]
name = "console"
role = "operator"
sha256 = "00"
"#,
            None,
        )
        .unwrap();
        let s: ServeSection = c.section("serve").unwrap();
        s.validate().unwrap();
        assert_eq!(s.concurrency, 3);
        assert_eq!(s.jobs[0].rpo, Some(Duration::from_secs(12 * 3600)));
        assert_eq!(s.rpo_of(&s.jobs[1]), Duration::from_secs(36 * 3600));
        assert_eq!(s.jobs[0].lock_keys(), vec!["exchange:*".to_string()]);
        let n: NotificationsSection = c.section("notifications").unwrap();
        assert_eq!(n.smtp.unwrap().port, 2525);
        let a: ApiSection = c.section("api").unwrap();
        assert_eq!(a.tokens.len(), 1);
    }

    #[test]
    fn invalid_definitions_are_rejected() {
        let bad = [
            "[[serve.jobs]]\nname = \"a\"\n",
            "[[serve.jobs]]\nname = \"a\"\nkind = \"exchange\"\nschedule = \"sometimes\"\n",
            "[[serve.jobs]]\nname = \"a\"\nkind = \"gc\"\n[[serve.jobs]]\nname = \"a\"\nkind = \"gc\"\n",
            "[[serve.jobs]]\nname = \"a\"\nkind = \"onedrive\"\nmailboxes = [\"x\"]\n",
            "[[serve.jobs]]\nname = \"a\"\nkind = \"export\"\n",
            "concurrency = 0\n",
            "listen = \"nowhere\"\n",
        ];
        for text in bad {
            let c = Config::parse(&format!("[serve]\n{text}"), None).unwrap();
            let s: ServeSection = match c.section("serve") {
                Ok(s) => s,
                Err(_) => continue,
            };
            assert!(s.validate().is_err(), "accepted: {text}");
        }
        let c = Config::parse("[serve]\nlisten_on = \"x\"\n", None).unwrap();
        assert!(c.section::<ServeSection>("serve").is_err());
    }
}
