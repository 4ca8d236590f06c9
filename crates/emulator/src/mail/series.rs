//! Recurring series through the API: `GET /users/{u}/events/{id}/instances` (occurrences and
//! exceptions of a series in a window), `PATCH /users/{u}/events/{id}` (an occurrence becomes an
//! exception; a master or single event changes subject, body or location), and cancelling one
//! occurrence (`DELETE` of an instance id, called from [`super::calendar::delete_event`]).
//!
//! Only events created through the API can change (generated ones are pure functions of the
//! seed), as for event attachments. Every change bumps the event's version, so its change keys
//! change and the next calendarView delta round reports it.

use super::access::{self, json_body};
use super::calendar::{event, event_json, locate, parse_dt, parse_window};
use super::ids::ExId;
use super::pim::{CREATED_BIT, StoredEvent, instances};
use super::store::Mailbox;
use crate::auth::{Caller, Workload};
use crate::error::GraphError;
use crate::odata::ODataQuery;
use crate::respond;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Duration;
use serde_json::{Value, json};

const READ: &[&str] = &["Calendars.Read", "Calendars.ReadWrite"];
const WRITE: &[&str] = &["Calendars.ReadWrite"];

/// `@removed` entries for occurrence indexes `occs` (0-based) of series `n`.
pub(crate) fn removals(user: u32, n: u32, occs: &[u32]) -> Vec<Value> {
    occs.iter()
        .map(|k| {
            json!({
                "@odata.type": "#microsoft.graph.event",
                "id": ExId::Event { user, n, occ: *k as u16 + 1 }.encode(),
                "@removed": {"reason": "deleted"},
            })
        })
        .collect()
}

/// `GET /users/{u}/events/{id}/instances?startDateTime=…&endDateTime=…`.
pub(crate) async fn list_instances(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let (from, to) = parse_window(&q)?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let (n, occ) = locate(&mb, &id)?;
    if occ != 0 {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "instances can only be listed on a series master or a single event.",
        ));
    }
    let e = event(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    let items: Vec<Value> = instances(n, &e, from, to)
        .iter()
        .map(|i| event_json(&mb, n, &e, Some(i)))
        .collect();
    drop(mb);
    let size = q.top.unwrap_or(10).clamp(1, 1000);
    crate::directory::paged(
        &state,
        &format!("/users/{user}/events/{id}/instances"),
        &format!("users('{user}')/events('{id}')/instances"),
        &q,
        items,
        size,
    )
}

/// The created event `n`, mutable; generated events cannot change.
fn created_mut(mb: &mut Mailbox, n: u32) -> Result<&mut StoredEvent, GraphError> {
    if mb.pim.deleted_events.contains(&n) {
        return Err(GraphError::item_not_found());
    }
    if n & CREATED_BIT == 0 {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Only events created through the API can be changed in the emulator.",
        ));
    }
    mb.pim
        .created_events
        .get_mut((n & !CREATED_BIT) as usize)
        .ok_or_else(GraphError::item_not_found)
}

/// The 0-based occurrence index of instance `occ` if it exists (not cancelled).
fn live_occurrence(e: &StoredEvent, occ: u16) -> Result<u32, GraphError> {
    let k = u32::from(occ) - 1;
    if k >= e.weekly_occurrences || e.cancelled.contains(&k) {
        return Err(GraphError::item_not_found());
    }
    Ok(k)
}

fn log_change(mb: &mut Mailbox, n: u32) {
    let seq = mb.bump();
    mb.pim.event_log.push((seq, n));
}

/// Cancel occurrence `occ` (1-based) of series `n`.
pub(crate) fn cancel_occurrence(
    state: &AppState,
    mb: &mut Mailbox,
    n: u32,
    occ: u16,
) -> Result<(), GraphError> {
    event(state, mb, n).ok_or_else(GraphError::item_not_found)?;
    let e = created_mut(mb, n)?;
    let k = live_occurrence(e, occ)?;
    e.cancelled.push(k);
    e.exceptions.retain(|x| x.0 != k);
    e.version += 1;
    log_change(mb, n);
    Ok(())
}

/// `PATCH /users/{u}/events/{id}`.
pub(crate) async fn update_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    caller.require_any(WRITE, Workload::Exchange)?;
    let v = json_body(&body)?;
    let subject = v.get("subject").and_then(Value::as_str).map(str::to_string);
    let start = v
        .get("start")
        .map(|_| parse_dt(v.get("start"), "start"))
        .transpose()?;
    let end = v
        .get("end")
        .map(|_| parse_dt(v.get("end"), "end"))
        .transpose()?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let (n, occ) = locate(&mb, &id)?;
    event(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    let e = created_mut(&mut mb, n)?;
    if occ == 0 {
        if let Some(s) = subject {
            e.subject = s;
        }
        if let Some(b) = v.pointer("/body/content").and_then(Value::as_str) {
            e.body = b.to_string();
        }
        if let Some(l) = v.pointer("/location/displayName").and_then(Value::as_str) {
            e.location = l.to_string();
        }
        if e.weekly_occurrences == 0 {
            let len = e.end - e.start;
            if let Some(s) = start {
                e.start = s;
                e.end = s + len;
            }
            if let Some(t) = end {
                e.end = t;
            }
            if e.end < e.start {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    "The end of the event is before its start.",
                ));
            }
        }
    } else {
        let k = live_occurrence(e, occ)?;
        let original = e.start + Duration::weeks(i64::from(k));
        let previous = e.exceptions.iter().find(|x| x.0 == k).cloned();
        let shift = match start {
            Some(s) => (s - original).num_minutes(),
            None => previous.as_ref().map(|x| x.1).unwrap_or(0),
        };
        if let (Some(s), Some(t)) = (start, end)
            && t - s != e.end - e.start
        {
            return Err(GraphError::bad_request(
                "ErrorInvalidRequest",
                "The emulator keeps an occurrence's duration; move start and end together.",
            ));
        }
        let subject = subject
            .or(previous.map(|x| x.2))
            .unwrap_or_else(|| e.subject.clone());
        e.exceptions.retain(|x| x.0 != k);
        e.exceptions.push((k, shift, subject));
    }
    e.version += 1;
    let e = e.clone();
    log_change(&mut mb, n);
    let v = if occ == 0 {
        event_json(&mb, n, &e, None)
    } else {
        let far = (
            chrono::DateTime::<chrono::Utc>::MIN_UTC,
            chrono::DateTime::<chrono::Utc>::MAX_UTC,
        );
        let inst = instances(n, &e, far.0, far.1)
            .into_iter()
            .find(|i| i.occ == occ)
            .ok_or_else(GraphError::item_not_found)?;
        event_json(&mb, n, &e, Some(&inst))
    };
    Ok(respond::ok(&v))
}
