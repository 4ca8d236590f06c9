//! Alerts: a suspect snapshot, the clean snapshot pinned for it (a hold with case
//! `alert:<id>`), the score and its explanation. Stored as sealed write-once documents:
//! `alerts/<id>` and, once an admin clears it, `alerts/<id>.cleared`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tenantvault_repo::Repository;

use super::DetectError;
use super::stats::ChangeStats;

/// Prefix of alert documents.
pub const ALERT_PREFIX: &str = "alerts/";
const CLEARED: &str = ".cleared";

/// An admin's clearance of an alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Clearance {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub by: String,
    /// Why ("restored with recover; false alarm: …").
    pub reason: String,
}

/// A ransomware / insider alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `YYYYMMDDTHHMMSSZ-<snapshot id prefix>`.
    pub id: String,
    /// When it was raised (the suspect snapshot's time).
    pub created: DateTime<Utc>,
    /// `drive`, `exchange`, …
    pub workload: String,
    /// Snapshot owner (drive id, user id).
    pub owner: String,
    /// UPN or site name when the snapshot state names one.
    #[serde(default)]
    pub owner_name: String,
    /// The suspect snapshot.
    pub snapshot: String,
    /// The last snapshot before the attack began (pinned), if there is one.
    pub clean_snapshot: Option<String>,
    /// Its time.
    pub clean_time: Option<DateTime<Utc>>,
    /// 0–100.
    pub score: u32,
    /// The reasons as one line.
    pub explanation: String,
    /// The statistics that triggered it.
    pub stats: ChangeStats,
    /// The hold pinning the clean snapshot.
    pub hold: Option<String>,
    /// Set once cleared.
    #[serde(default)]
    pub cleared: Option<Clearance>,
}

impl Alert {
    /// Not cleared yet.
    pub fn is_open(&self) -> bool {
        self.cleared.is_none()
    }

    /// The hold case name of an alert id.
    pub fn case(id: &str) -> String {
        format!("alert:{id}")
    }

    /// The JSON sent to webhooks and printed by `alerts show --json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Stores a new alert (idempotent: the id is derived from the snapshot).
pub(crate) async fn store(repo: &Repository, alert: &Alert) -> Result<(), DetectError> {
    let mut doc = alert.clone();
    doc.cleared = None;
    repo.put_sealed(
        &format!("{ALERT_PREFIX}{}", alert.id),
        &serde_json::to_value(&doc).map_err(|e| DetectError::Invalid(e.to_string()))?,
    )
    .await?;
    Ok(())
}

/// Every alert, oldest first, with its clearance.
pub async fn list_alerts(repo: &Repository) -> Result<Vec<Alert>, DetectError> {
    let keys = repo.list_sealed(ALERT_PREFIX).await?;
    let mut out = Vec::new();
    for k in keys.iter().filter(|k| !k.ends_with(CLEARED)) {
        let Some(v) = repo.get_sealed(k).await? else {
            continue;
        };
        let mut a: Alert = serde_json::from_value(v).map_err(|e| DetectError::Corrupt {
            object: k.clone(),
            detail: e.to_string(),
        })?;
        let ck = format!("{k}{CLEARED}");
        if keys.binary_search(&ck).is_ok()
            && let Some(c) = repo.get_sealed(&ck).await?
        {
            a.cleared = Some(serde_json::from_value(c).map_err(|e| DetectError::Corrupt {
                object: ck.clone(),
                detail: e.to_string(),
            })?);
        }
        out.push(a);
    }
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// One alert by id or unique prefix.
pub async fn alert(repo: &Repository, id_or_prefix: &str) -> Result<Alert, DetectError> {
    let all = list_alerts(repo).await?;
    if let Some(a) = all.iter().find(|a| a.id == id_or_prefix) {
        return Ok(a.clone());
    }
    let hits: Vec<&Alert> = all
        .iter()
        .filter(|a| !id_or_prefix.is_empty() && a.id.starts_with(id_or_prefix))
        .collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(DetectError::NoSuchAlert(id_or_prefix.to_string())),
        _ => Err(DetectError::Invalid(format!(
            "alert prefix {id_or_prefix:?} is ambiguous ({} alerts)",
            hits.len()
        ))),
    }
}

/// Alerts raised for any of these snapshots.
pub async fn alerts_for_snapshots(
    repo: &Repository,
    snapshots: &[String],
) -> Result<Vec<Alert>, DetectError> {
    Ok(list_alerts(repo)
        .await?
        .into_iter()
        .filter(|a| snapshots.contains(&a.snapshot))
        .collect())
}

/// Clears an alert: writes the clearance and releases the hold pinning its clean snapshot
/// (retention and GC may then remove it as policy says).
pub async fn clear_alert(
    repo: &Repository,
    id_or_prefix: &str,
    by: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Alert, DetectError> {
    if reason.trim().is_empty() || by.trim().is_empty() {
        return Err(DetectError::Invalid(
            "clearing an alert needs a reason and who clears it".into(),
        ));
    }
    let mut a = alert(repo, id_or_prefix).await?;
    if let Some(c) = &a.cleared {
        return Err(DetectError::Invalid(format!(
            "alert {} was already cleared on {} by {}",
            a.id, c.at, c.by
        )));
    }
    let c = Clearance {
        at: now,
        by: by.trim().to_string(),
        reason: reason.trim().to_string(),
    };
    if let Some(h) = &a.hold {
        let hold = repo.hold(h).await?;
        if hold.is_active() {
            repo.release_hold(h, by, &format!("alert {} cleared: {}", a.id, c.reason), now)
                .await?;
        }
    }
    repo.put_sealed(
        &format!("{ALERT_PREFIX}{}{CLEARED}", a.id),
        &serde_json::to_value(&c).map_err(|e| DetectError::Invalid(e.to_string()))?,
    )
    .await?;
    a.cleared = Some(c);
    Ok(a)
}
