//! Restoring a recurring series: the master is created with its recurrence (`POST events`, in
//! [`super::run`]); then the series' instances are listed
//! (`GET /events/{id}/instances?startDateTime&endDateTime`) and matched to the backed-up
//! occurrences and exceptions by `originalStart`:
//!
//! * an exception → `PATCH` of that instance with the exception's writable properties (its new
//!   time, subject, …);
//! * a plain occurrence → nothing (the recurrence recreated it);
//! * an instance the backup does not have although its original start lies inside the window
//!   the backup enumerated → it was cancelled: `DELETE` of that instance.
//!
//! The members of a series are taken from the whole snapshot, not only from the restore
//! selection, so a restored series is the series as it was even when a filter selected only
//! its master.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use serde_json::Value;
use tenantvault_graph::GraphClient;
use tenantvault_repo::{Repository, Snapshot};

use super::pim::event_body;
use super::run::ItemError;
use super::target::seg;
use crate::exchange::graph_io;
use crate::exchange::layout::{self, attr, kind};

/// One backed-up occurrence or exception of a series.
#[derive(Debug, Clone)]
pub(super) struct Member {
    /// Item id (`event:<id>`).
    pub item_id: String,
    /// Its original start (UTC).
    pub original_start: DateTime<Utc>,
    /// The stored JSON of an exception (`None` for a plain occurrence).
    pub exception: Option<Value>,
}

/// What applying a series' exceptions and cancellations did.
#[derive(Default)]
pub(super) struct Applied {
    /// Exception item id → the instance id it was applied to, or why not.
    pub exceptions: HashMap<String, Result<String, ItemError>>,
    /// Instances deleted as cancelled.
    pub cancelled: usize,
}

fn original_start(v: &Value) -> Option<DateTime<Utc>> {
    v.get("originalStart")
        .and_then(Value::as_str)
        .and_then(layout::parse_graph_time)
}

/// The members of the series whose masters are `masters` (Graph ids), from the snapshot.
pub(super) async fn members(
    repo: &Repository,
    snapshot: &Snapshot,
    masters: &HashSet<String>,
) -> Result<HashMap<String, Vec<Member>>, ItemError> {
    let mut out: HashMap<String, Vec<Member>> = HashMap::new();
    let items = snapshot.items();
    futures::pin_mut!(items);
    while let Some(rec) = items.try_next().await? {
        if rec.kind != kind::EVENT {
            continue;
        }
        let t = rec.attrs.get(attr::EVENT_TYPE).map(String::as_str);
        if !matches!(t, Some("occurrence" | "exception")) {
            continue;
        }
        // Snapshots written before the attribute existed: read the JSON.
        let json = if rec.attrs.contains_key(attr::SERIES_MASTER_ID) && t == Some("occurrence") {
            None
        } else {
            let raw = repo.item_metadata(&rec).await?.unwrap_or_default();
            serde_json::from_slice::<Value>(&raw).ok()
        };
        let master = rec.attrs.get(attr::SERIES_MASTER_ID).cloned().or_else(|| {
            json.as_ref()
                .and_then(|j| j.get("seriesMasterId"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let Some(master) = master.filter(|m| masters.contains(m)) else {
            continue;
        };
        let start = rec
            .attrs
            .get(attr::ORIGINAL_START)
            .and_then(|s| layout::parse_graph_time(s))
            .or_else(|| json.as_ref().and_then(original_start));
        let Some(original_start) = start else {
            tracing::warn!(item = %rec.id, "series member without originalStart, left out");
            continue;
        };
        out.entry(master).or_default().push(Member {
            item_id: rec.id.clone(),
            original_start,
            exception: json.filter(|_| t == Some("exception")),
        });
    }
    Ok(out)
}

/// Apply the backed-up exceptions and cancellations to the series just created as `new_id`.
/// `window` is the calendarView window the backup enumerated (cancellations are only inferred
/// inside it); without one, the span of the backed-up members is used.
pub(super) async fn apply(
    graph: &GraphClient,
    user: &str,
    new_id: &str,
    members: &[Member],
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
) -> Result<Applied, ItemError> {
    let mut applied = Applied::default();
    let span = members.iter().map(|m| m.original_start).fold(
        None,
        |acc: Option<(DateTime<Utc>, DateTime<Utc>)>, t| {
            Some(acc.map_or((t, t), |(a, b)| (a.min(t), b.max(t))))
        },
    );
    let Some((seen_from, seen_to)) = window.or(span.map(|(a, b)| (a, b + Duration::seconds(1))))
    else {
        return Ok(applied);
    };
    // Moved exceptions may now lie outside the window: list a little wider.
    let (from, to) = match span {
        Some((a, b)) => (
            seen_from.min(a) - Duration::days(2),
            seen_to.max(b) + Duration::days(2),
        ),
        None => (seen_from - Duration::days(2), seen_to + Duration::days(2)),
    };
    let base = format!("users/{user}/events/{}", seg(new_id));
    let mut url = Some(format!(
        "{base}/instances?startDateTime={}&endDateTime={}",
        from.format("%Y-%m-%dT%H:%M:%SZ"),
        to.format("%Y-%m-%dT%H:%M:%SZ")
    ));
    let mut instances: Vec<(String, DateTime<Utc>)> = Vec::new();
    while let Some(u) = url.take() {
        let page = graph_io::get_page(graph, &u, 100).await?;
        for raw in page.items {
            let v: Value = serde_json::from_str(raw.get())
                .map_err(|e| ItemError::new(format!("malformed instance: {e}")))?;
            if let (Some(id), Some(start)) =
                (v.get("id").and_then(Value::as_str), original_start(&v))
            {
                instances.push((id.to_string(), start));
            }
        }
        url = page.next_link;
    }
    let by_start: HashMap<DateTime<Utc>, &Member> =
        members.iter().map(|m| (m.original_start, m)).collect();
    let mut matched: HashSet<&str> = HashSet::new();
    for (id, start) in &instances {
        match by_start.get(start) {
            Some(m) => {
                matched.insert(m.item_id.as_str());
                if let Some(stored) = &m.exception {
                    let r = graph
                        .patch_json::<Value>(
                            &format!("users/{user}/events/{}", seg(id)),
                            &event_body(stored, false),
                        )
                        .await
                        .map(|_| id.clone())
                        .map_err(ItemError::from);
                    applied.exceptions.insert(m.item_id.clone(), r);
                }
            }
            None if *start >= seen_from && *start < seen_to => {
                graph
                    .delete(&format!("users/{user}/events/{}", seg(id)))
                    .await?;
                applied.cancelled += 1;
            }
            None => {}
        }
    }
    for m in members.iter().filter(|m| m.exception.is_some()) {
        if !matched.contains(m.item_id.as_str()) {
            applied.exceptions.insert(
                m.item_id.clone(),
                Err(ItemError::new(format!(
                    "the restored series has no instance starting originally at {}",
                    m.original_start.to_rfc3339()
                ))),
            );
        }
    }
    Ok(applied)
}
