//! Calendars and events: `calendarView/delta` (window required, occurrences and exceptions
//! expanded), event GET/list/create/delete, event attachments, calendars.

use super::access::{self, json_body};
use super::generate::Person;
use super::ids::ExId;
use super::json::change_key;
use super::pim::{
    CREATED_BIT, Instance, OCCURRENCES, SERIES_BASE, SERIES_PER_MAILBOX, StoredEvent,
    generated_event, instances,
};
use super::round::{self, Kinds};
use super::store::Mailbox;
use crate::auth::{Caller, Workload};
use crate::clock::iso;
use crate::error::GraphError;
use crate::odata::{ODataQuery, Prefer, collection};
use crate::respond;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

const READ: &[&str] = &["Calendars.Read", "Calendars.ReadWrite"];
const WRITE: &[&str] = &["Calendars.ReadWrite"];

/// Generated recurring series per mailbox (none when no events are generated, e.g. loaded tenants).
fn series_count(state: &AppState) -> u32 {
    if state.mail.knobs.events_per_mailbox == 0 {
        0
    } else {
        SERIES_PER_MAILBOX
    }
}

/// All live event numbers of a mailbox.
fn event_numbers(state: &AppState, mb: &Mailbox) -> Vec<u32> {
    let mut v: Vec<u32> = (0..state.mail.knobs.events_per_mailbox).collect();
    v.extend((0..series_count(state)).map(|s| SERIES_BASE + s));
    v.extend((0..mb.pim.created_events.len() as u32).map(|i| CREATED_BIT | i));
    v.retain(|n| !mb.pim.deleted_events.contains(n));
    v
}

/// The stored event `n`, if it exists and isn't deleted.
pub(crate) fn event(state: &AppState, mb: &Mailbox, n: u32) -> Option<StoredEvent> {
    if mb.pim.deleted_events.contains(&n) {
        return None;
    }
    any_event(state, mb, n)
}

/// Event `n` as it was last, deleted or not (to report the removal of all its instances).
pub(crate) fn any_event(state: &AppState, mb: &Mailbox, n: u32) -> Option<StoredEvent> {
    if n & CREATED_BIT != 0 {
        return mb
            .pim
            .created_events
            .get((n & !CREATED_BIT) as usize)
            .cloned();
    }
    let valid = n < state.mail.knobs.events_per_mailbox
        || (SERIES_BASE..SERIES_BASE + series_count(state)).contains(&n);
    if !valid {
        return None;
    }
    let owner = &state.mail.owners[mb.user as usize].person;
    Some(generated_event(
        state.mail.seed,
        mb.user,
        owner,
        &state.mail.people,
        n,
    ))
}

fn dt(t: DateTime<Utc>) -> Value {
    json!({"dateTime": format!("{}.0000000", t.format("%Y-%m-%dT%H:%M:%S")), "timeZone": "UTC"})
}

fn person(p: &Person) -> Value {
    json!({"emailAddress": {"name": p.name, "address": p.address}})
}

/// Event JSON for an instance (or the series master when `inst` is `None`).
pub(crate) fn event_json(mb: &Mailbox, n: u32, e: &StoredEvent, inst: Option<&Instance>) -> Value {
    let occ = inst.map(|i| i.occ).unwrap_or(0);
    let id = ExId::Event {
        user: mb.user,
        n,
        occ,
    }
    .encode();
    let kind = match inst {
        Some(i) => i.kind,
        None if e.weekly_occurrences > 0 => "seriesMaster",
        None => "singleInstance",
    };
    let (start, end, subject) = match inst {
        Some(i) => (i.start, i.end, i.subject.clone()),
        None => (e.start, e.end, e.subject.clone()),
    };
    let ck = change_key(mb.user, n as u64, occ as u32 | (e.version << 16));
    let recurrence = (kind == "seriesMaster").then(|| {
        json!({
            "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0, "daysOfWeek": [e.start.format("%A").to_string().to_lowercase()], "firstDayOfWeek": "sunday", "index": "first"},
            "range": {"type": "numbered", "startDate": e.start.format("%Y-%m-%d").to_string(), "endDate": "0001-01-01", "recurrenceTimeZone": "UTC", "numberOfOccurrences": e.weekly_occurrences},
        })
    });
    let body_text: String = {
        let mut t = String::new();
        let mut tag = false;
        for c in e.body.chars() {
            match c {
                '<' => tag = true,
                '>' => tag = false,
                c if !tag => t.push(c),
                _ => {}
            }
        }
        t
    };
    json!({
        "@odata.etag": format!("W/\"{ck}\""),
        "id": id,
        "createdDateTime": iso(e.created),
        "lastModifiedDateTime": iso(e.created),
        "changeKey": ck,
        "categories": e.categories,
        "transactionId": null,
        "originalStartTimeZone": "UTC",
        "originalEndTimeZone": "UTC",
        "iCalUId": e.ical_uid,
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": true,
        "hasAttachments": !e.attachments.is_empty(),
        "subject": subject,
        "bodyPreview": body_text.chars().take(255).collect::<String>(),
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": e.all_day,
        "isCancelled": false,
        "isOrganizer": true,
        "responseRequested": true,
        "seriesMasterId": (occ > 0).then(|| ExId::Event { user: mb.user, n, occ: 0 }.encode()),
        "showAs": "busy",
        "type": kind,
        "webLink": format!("https://outlook.office365.com/owa/?itemid={}&exvsurl=1&path=/calendar/item", id),
        "onlineMeetingUrl": null,
        "isOnlineMeeting": false,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": true,
        "isDraft": false,
        "hideAttendees": false,
        "originalStart": inst.and_then(|i| i.original_start).map(iso),
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "body": {"contentType": "html", "content": e.body},
        "start": dt(start),
        "end": dt(end),
        "location": {"displayName": e.location, "locationType": "default", "uniqueIdType": "unknown"},
        "locations": [{"displayName": e.location, "locationType": "default", "uniqueIdType": "unknown"}],
        "recurrence": recurrence,
        "attendees": e.attendees.iter().map(|a| json!({"type": "required", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}, "emailAddress": {"name": a.name, "address": a.address}})).collect::<Vec<_>>(),
        "organizer": person(&e.organizer),
    })
}

pub(crate) fn parse_window(q: &ODataQuery) -> Result<(DateTime<Utc>, DateTime<Utc>), GraphError> {
    let get = |k: &str| -> Result<DateTime<Utc>, GraphError> {
        let v = q.param(k).ok_or_else(|| {
            GraphError::bad_request("ErrorInvalidParameter", format!("This request requires a time window specified by the query string parameters StartDateTime and EndDateTime. ('{k}' is missing)"))
        })?;
        DateTime::parse_from_rfc3339(v)
            .map(|d| d.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S%.f")
                    .map(|n| n.and_utc())
            })
            .map_err(|_| {
                GraphError::bad_request(
                    "ErrorInvalidParameter",
                    format!("The value '{v}' of parameter '{k}' is invalid."),
                )
            })
    };
    let (s, e) = (get("startDateTime")?, get("endDateTime")?);
    if e <= s {
        return Err(GraphError::bad_request(
            "ErrorInvalidParameter",
            "endDateTime must be after startDateTime.",
        ));
    }
    Ok((s, e))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CalTok {
    u: u32,
    s: i64,
    e: i64,
    start: u64,
    base: Option<u64>,
    upto: u64,
    cur: usize,
    issued: i64,
}

const KINDS: Kinds = Kinds {
    round: "cal",
    skip: "cal-skip",
};

round::round_token!(CalTok, start);

/// `GET /users/{u}/calendarView/delta` (and `/calendars/{id}/calendarView/delta`).
pub(crate) async fn calendar_view_delta(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<std::collections::HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    q.reject(&["$select", "$expand", "$filter", "$orderby", "$search"])?;
    let prefer = Prefer::from_headers(&headers);
    let size = prefer.max_page_size.unwrap_or(10).min(1000);
    let user = p.get("user").cloned().unwrap_or_default();
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    if let Some(c) = p.get("calendar") {
        check_calendar(&mb, c)?;
    }
    let now = state.clock.now().timestamp();
    let tok = round::token(&state, &q, &KINDS, uidx, mb.seq, || {
        let (s, e) = parse_window(&q)?;
        Ok(CalTok {
            u: uidx,
            s: s.timestamp(),
            e: e.timestamp(),
            start: mb.seq,
            base: None,
            upto: mb.seq,
            cur: 0,
            issued: now,
        })
    })?;
    super::delta::check_expiry(&state, &mb, tok.start, tok.issued)?;
    let from = DateTime::from_timestamp(tok.s, 0).unwrap_or_default();
    let to = DateTime::from_timestamp(tok.e, 0).unwrap_or_default();
    let mut all: Vec<Value> = Vec::new();
    match tok.base {
        None => {
            for n in event_numbers(&state, &mb) {
                if let Some(e) = event(&state, &mb, n) {
                    for i in instances(n, &e, from, to) {
                        all.push(event_json(&mb, n, &e, Some(&i)));
                    }
                }
            }
        }
        Some(base) => {
            for n in super::delta::changed_first(&mb.pim.event_log, base, tok.upto) {
                match event(&state, &mb, n) {
                    Some(e) => {
                        for i in instances(n, &e, from, to) {
                            all.push(event_json(&mb, n, &e, Some(&i)));
                        }
                        // Cancelled occurrences leave the view.
                        all.extend(super::series::removals(uidx, n, &e.cancelled));
                    }
                    None => {
                        let occs: Vec<u32> = match any_event(&state, &mb, n) {
                            Some(e) if e.weekly_occurrences > 0 => {
                                (0..e.weekly_occurrences).collect()
                            }
                            _ if n >= SERIES_BASE && n & CREATED_BIT == 0 => {
                                (0..OCCURRENCES).collect()
                            }
                            _ => vec![],
                        };
                        if occs.is_empty() {
                            all.push(json!({"@odata.type": "#microsoft.graph.event", "id": ExId::Event { user: uidx, n, occ: 0 }.encode(), "@removed": {"reason": "deleted"}}));
                        }
                        all.extend(super::series::removals(uidx, n, &occs));
                    }
                }
            }
        }
    }
    let path = match p.get("calendar") {
        Some(c) => format!("/users/{user}/calendars/{c}/calendarView/delta"),
        None => format!("/users/{user}/calendarView/delta"),
    };
    let page: Vec<Value> = all.iter().skip(tok.cur).take(size).cloned().collect();
    let end = round::end(&KINDS, tok, size, all.len(), now);
    let (next, delta) = super::page_links(&state, &path, end);
    drop(mb);
    let body = collection(&state.context("Collection(event)"), page, next, delta);
    Ok(respond::with_preference(
        respond::ok(&body),
        prefer.applied(prefer.max_page_size.is_some()),
    ))
}

fn check_calendar(mb: &Mailbox, id: &str) -> Result<(), GraphError> {
    match ExId::decode(id) {
        Some(ExId::Container { user, which: 0 }) if user == mb.user => Ok(()),
        Some(_) => Err(GraphError::item_not_found()),
        None => Err(access::malformed()),
    }
}

fn calendar_json(mb: &Mailbox, owner: &Person) -> Value {
    json!({
        "id": ExId::Container { user: mb.user, which: 0 }.encode(),
        "name": "Calendar",
        "color": "auto",
        "hexColor": "",
        "isDefaultCalendar": true,
        "changeKey": change_key(mb.user, 0, 0),
        "canShare": true,
        "canViewPrivateItems": true,
        "canEdit": true,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": true,
        "isRemovable": false,
        "owner": {"name": owner.name, "address": owner.address},
    })
}

/// `GET /users/{u}/calendars`.
pub(crate) async fn calendars(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let v = calendar_json(&mb, &state.mail.owners[uidx as usize].person);
    Ok(respond::ok(&collection(
        &state.context(&format!("users('{user}')/calendars")),
        vec![v],
        None,
        None,
    )))
}

/// `GET /users/{u}/calendar`.
pub(crate) async fn calendar(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    Ok(respond::ok(&calendar_json(
        &mb,
        &state.mail.owners[uidx as usize].person,
    )))
}

pub(crate) fn locate(mb: &Mailbox, id: &str) -> Result<(u32, u16), GraphError> {
    match ExId::decode(id) {
        Some(ExId::Event { user, n, occ }) if user == mb.user => Ok((n, occ)),
        Some(_) => Err(GraphError::item_not_found()),
        None => Err(access::malformed()),
    }
}

/// `GET /users/{u}/events` (series masters and single instances).
pub(crate) async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let mut items = Vec::new();
    for n in event_numbers(&state, &mb) {
        if let Some(e) = event(&state, &mb, n) {
            items.push(event_json(&mb, n, &e, None));
        }
    }
    drop(mb);
    let size = q.top.unwrap_or(10).clamp(1, 1000);
    crate::directory::paged(
        &state,
        &format!("/users/{user}/events"),
        &format!("users('{user}')/events"),
        &q,
        items,
        size,
    )
}

/// `GET /users/{u}/events/{id}`.
pub(crate) async fn get_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let (n, occ) = locate(&mb, &id)?;
    let e = event(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    let v = if occ == 0 {
        event_json(&mb, n, &e, None)
    } else {
        let far = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let inst = instances(n, &e, far.0, far.1)
            .into_iter()
            .find(|i| i.occ == occ)
            .ok_or_else(GraphError::item_not_found)?;
        event_json(&mb, n, &e, Some(&inst))
    };
    Ok(respond::ok(&v))
}

pub(crate) fn parse_dt(v: Option<&Value>, field: &str) -> Result<DateTime<Utc>, GraphError> {
    let bad = || {
        GraphError::bad_request(
            "ErrorInvalidRequest",
            format!("'{field}' needs dateTime and timeZone."),
        )
    };
    let v = v.ok_or_else(bad)?;
    let s = v.get("dateTime").and_then(Value::as_str).ok_or_else(bad)?;
    let tz = v.get("timeZone").and_then(Value::as_str).unwrap_or("UTC");
    if !tz.eq_ignore_ascii_case("UTC") && !tz.eq_ignore_ascii_case("Etc/GMT") {
        return Err(GraphError::bad_request(
            "ErrorTimeZoneNotSupported",
            format!("Time zone '{tz}' is not supported by the emulator; send UTC."),
        ));
    }
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|n| n.and_utc())
        .or_else(|_| DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc)))
        .map_err(|_| bad())
}

/// `POST /users/{u}/events` or `/users/{u}/calendar/events`.
pub(crate) async fn create_event(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    caller.require_any(WRITE, Workload::Exchange)?;
    let v = json_body(&body)?;
    let user = p.get("user").cloned().unwrap_or_default();
    let start = parse_dt(v.get("start"), "start")?;
    let end = parse_dt(v.get("end"), "end")?;
    if end < start {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "The end of the event is before its start.",
        ));
    }
    let weekly = match v.get("recurrence") {
        None | Some(Value::Null) => 0,
        Some(r) => {
            let t = r
                .pointer("/pattern/type")
                .and_then(Value::as_str)
                .unwrap_or("");
            if t != "weekly" {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRequest",
                    format!("The emulator supports weekly recurrences only (got '{t}')."),
                ));
            }
            r.pointer("/range/numberOfOccurrences")
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .unwrap_or(10)
                .min(520) as u32
        }
    };
    let people = |k: &str| -> Vec<Person> {
        v.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| {
                        let ea = x.get("emailAddress")?;
                        Some(Person {
                            name: ea.get("name").and_then(Value::as_str).unwrap_or("").into(),
                            address: ea.get("address").and_then(Value::as_str)?.into(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let now = state.clock.now();
    let e = StoredEvent {
        subject: v
            .get("subject")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        body: v
            .pointer("/body/content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        start,
        end,
        all_day: v.get("isAllDay").and_then(Value::as_bool).unwrap_or(false),
        location: v
            .pointer("/location/displayName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .into(),
        organizer: state.mail.owners[uidx as usize].person.clone(),
        attendees: people("attendees"),
        weekly_occurrences: weekly,
        exceptions: vec![],
        cancelled: vec![],
        attachments: vec![],
        categories: v
            .get("categories")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default(),
        created: now,
        ical_uid: format!(
            "040000008200E00074C5B7101A82E008{}",
            uuid::Uuid::new_v4().simple()
        ),
        version: 0,
    };
    mb.pim.created_events.push(e.clone());
    let n = CREATED_BIT | (mb.pim.created_events.len() as u32 - 1);
    let seq = mb.bump();
    mb.pim.event_log.push((seq, n));
    Ok(respond::json(
        StatusCode::CREATED,
        &event_json(&mb, n, &e, None),
    ))
}

/// `DELETE /users/{u}/events/{id}`.
pub(crate) async fn delete_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    caller.require_any(WRITE, Workload::Exchange)?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let (n, occ) = locate(&mb, &id)?;
    if occ != 0 {
        super::series::cancel_occurrence(&state, &mut mb, n, occ)?;
        return Ok(respond::no_content());
    }
    event(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    mb.pim.deleted_events.push(n);
    let seq = mb.bump();
    mb.pim.event_log.push((seq, n));
    Ok(respond::no_content())
}

fn att_json(
    user: u32,
    n: u32,
    a: usize,
    att: &(String, String, Arc<[u8]>),
    modified: DateTime<Utc>,
) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.fileAttachment",
        "@odata.mediaContentType": att.1,
        "id": ExId::EventAttachment { user, n, a: a as u16 }.encode(),
        "lastModifiedDateTime": iso(modified),
        "name": att.0,
        "contentType": att.1,
        "size": att.2.len() + 200,
        "isInline": false,
        "contentId": null,
        "contentLocation": null,
        "contentBytes": base64::engine::general_purpose::STANDARD.encode(&att.2),
    })
}

/// `GET /users/{u}/events/{id}/attachments`.
pub(crate) async fn event_attachments(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let (n, _) = locate(&mb, &id)?;
    let e = event(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    let items = e
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| att_json(uidx, n, i, a, e.created))
        .collect();
    Ok(respond::ok(&collection(
        &state.context("Collection(attachment)"),
        items,
        None,
        None,
    )))
}

/// `GET /users/{u}/events/{id}/attachments/{a}` and `/$value`.
pub(crate) async fn event_attachment(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id, att)): Path<(String, String, String)>,
    uri: axum::http::Uri,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let (n, _) = locate(&mb, &id)?;
    let e = event(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    let a = match ExId::decode(&att) {
        Some(ExId::EventAttachment { user: u, n: en, a }) if u == uidx && en == n => a as usize,
        Some(_) => return Err(GraphError::item_not_found()),
        None => return Err(access::malformed()),
    };
    let item = e
        .attachments
        .get(a)
        .ok_or_else(GraphError::item_not_found)?;
    if uri.path().ends_with("/$value") {
        let mut r = (StatusCode::OK, item.2.to_vec()).into_response();
        if let Ok(v) = HeaderValue::from_str(&item.1) {
            r.headers_mut().insert(axum::http::header::CONTENT_TYPE, v);
        }
        return Ok(r);
    }
    Ok(respond::ok(&att_json(uidx, n, a, item, e.created)))
}

/// `POST /users/{u}/events/{id}/attachments` (small file attachments).
pub(crate) async fn add_event_attachment(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    caller.require_any(WRITE, Workload::Exchange)?;
    let v = json_body(&body)?;
    let att = super::attachments::attachment_from_json(&v, state.clock.now())?;
    if !matches!(att.kind, super::spec::AttKind::File) {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "Only file attachments can be added to events by the emulator.",
        ));
    }
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let (n, _) = locate(&mb, &id)?;
    if n & CREATED_BIT == 0 {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Attachments can only be added to events created through the API.",
        ));
    }
    let e = mb
        .pim
        .created_events
        .get_mut((n & !CREATED_BIT) as usize)
        .ok_or_else(GraphError::item_not_found)?;
    e.attachments
        .push((att.name.clone(), att.content_type.clone(), att.data.clone()));
    let a = e.attachments.len() - 1;
    let item = e.attachments[a].clone();
    let created = e.created;
    let seq = mb.bump();
    mb.pim.event_log.push((seq, n));
    Ok(respond::json(
        StatusCode::CREATED,
        &att_json(uidx, n, a, &item, created),
    ))
}
