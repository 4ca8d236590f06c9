//! Message endpoints: list, get (`$select`, `$expand=attachments`), `$value` (MIME), PATCH,
//! DELETE (to Recoverable Items), move and copy.

use super::access::{self, can_read, can_write, json_body};
use super::ids::message_id;
use super::json::{ViewOpts, attachment_json, effective, message_json};
use super::store::{Created, Mailbox, MsgKey, RECOVERABLE};
use crate::auth::Caller;
use crate::error::GraphError;
use crate::odata::{ODataQuery, Prefer, apply_select, collection};
use crate::respond;
use crate::schema_props::MESSAGE;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Path of a message: `/users/{u}/messages/{m}` or `/users/{u}/mailFolders/{f}/messages/{m}`.
#[derive(serde::Deserialize)]
pub(crate) struct MsgPath {
    user: String,
    folder: Option<String>,
    msg: String,
}

/// Resolve the message, checking the folder when the path names one.
pub(crate) fn locate(mb: &Mailbox, p: &MsgPathRef) -> Result<(MsgKey, u32), GraphError> {
    let (key, f) = access::message(mb, p.msg)?;
    if let Some(folder) = p.folder {
        let fi = access::folder(mb, folder)?;
        if fi != f {
            return Err(GraphError::item_not_found());
        }
    }
    Ok((key, f))
}

/// Borrowed message path.
pub(crate) struct MsgPathRef<'a> {
    pub(crate) folder: Option<&'a str>,
    pub(crate) msg: &'a str,
}

impl MsgPath {
    pub(crate) fn r(&self) -> MsgPathRef<'_> {
        MsgPathRef {
            folder: self.folder.as_deref(),
            msg: &self.msg,
        }
    }
    pub(crate) fn user(&self) -> &str {
        &self.user
    }
}

fn wants_headers(q: &ODataQuery) -> bool {
    q.select.as_ref().is_some_and(|s| {
        s.iter().any(|x| {
            x.eq_ignore_ascii_case("internetMessageHeaders") || x.eq_ignore_ascii_case("uniqueBody")
        })
    })
}

fn expand_attachments(q: &ODataQuery) -> Result<bool, GraphError> {
    match q.expand.as_deref() {
        None => Ok(false),
        Some(e)
            if e.split('(')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("attachments") =>
        {
            Ok(true)
        }
        Some(e)
            if e.trim()
                .eq_ignore_ascii_case("singleValueExtendedProperties")
                || e.trim().starts_with("singleValueExtendedProperties(") =>
        {
            Ok(false)
        }
        Some(e) => Err(GraphError::bad_request(
            "BadRequest",
            format!("Could not find a property named '{e}' on type 'microsoft.graph.message'."),
        )),
    }
}

/// Message JSON honouring `$select`/`$expand`.
pub(crate) fn render_message(
    state: &AppState,
    mb: &Mailbox,
    key: MsgKey,
    folder: u32,
    q: &ODataQuery,
    opts: ViewOpts,
) -> Result<Value, GraphError> {
    let spec = state
        .mail
        .spec(mb, key)
        .ok_or_else(GraphError::item_not_found)?;
    let v = message_json(mb, key, folder, &spec, opts, wants_headers(q));
    let mut v = apply_select(v, q.select.as_deref(), MESSAGE, "message")?;
    if expand_attachments(q)? {
        let atts: Vec<Value> = spec
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| attachment_json(mb, key, i, a, true, false))
            .collect();
        v["attachments"] = Value::Array(atts);
    }
    Ok(v)
}

fn check_list_query(q: &ODataQuery) -> Result<(), GraphError> {
    if let Some(sel) = &q.select {
        crate::odata::check_select(sel, MESSAGE, "message")?;
    }
    if let Some(o) = &q.orderby {
        let o = o.trim().to_ascii_lowercase();
        if !matches!(
            o.as_str(),
            "receiveddatetime desc" | "receiveddatetime asc" | "receiveddatetime"
        ) {
            return Err(GraphError::bad_request(
                "ErrorInvalidProperty",
                format!("The property in $orderby '{o}' is not supported."),
            ));
        }
    }
    Ok(())
}

fn list_filter(q: &ODataQuery) -> Result<Option<(String, String, String)>, GraphError> {
    let Some(f) = &q.filter else { return Ok(None) };
    let parts: Vec<&str> = f.split_whitespace().collect();
    let bad = || {
        GraphError::bad_request(
            "ErrorInvalidUrlQueryFilter",
            format!("The query filter '{f}' is invalid or unsupported."),
        )
    };
    if parts.len() != 3 {
        return Err(bad());
    }
    let prop = parts[0].to_string();
    if !["isRead", "receivedDateTime", "hasAttachments", "isDraft"]
        .iter()
        .any(|p| p.eq_ignore_ascii_case(&prop))
    {
        return Err(bad());
    }
    if !["eq", "ne", "ge", "gt", "le", "lt"].contains(&parts[1]) {
        return Err(bad());
    }
    Ok(Some((
        prop,
        parts[1].to_string(),
        parts[2].trim_matches('\'').to_string(),
    )))
}

fn matches_filter(v: &Value, f: &Option<(String, String, String)>) -> bool {
    let Some((prop, op, rhs)) = f else {
        return true;
    };
    let Some(actual) = v.as_object().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(prop))
            .map(|(_, v)| v)
    }) else {
        return false;
    };
    let ord = match actual {
        Value::Bool(b) => b.to_string().cmp(rhs),
        Value::String(s) => s.as_str().cmp(rhs.as_str()),
        _ => return false,
    };
    match op.as_str() {
        "eq" => ord.is_eq(),
        "ne" => !ord.is_eq(),
        "ge" => ord.is_ge(),
        "gt" => ord.is_gt(),
        "le" => ord.is_le(),
        "lt" => ord.is_lt(),
        _ => false,
    }
}

/// `GET /users/{u}/mailFolders/{f}/messages` and `GET /users/{u}/messages` (all visible folders).
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<std::collections::HashMap<String, String>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    check_list_query(&q)?;
    let filter = list_filter(&q)?;
    let prefer = Prefer::from_headers(&headers);
    let opts = ViewOpts {
        immutable: prefer.immutable_id,
        body_text: prefer.body_text,
    };
    let user = p.get("user").cloned().unwrap_or_default();
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let folders: Vec<u32> = match p.get("folder") {
        Some(f) => vec![access::folder(&mb, f)?],
        None => (0..mb.folders.len() as u32)
            .filter(|i| !mb.folders[*i as usize].deleted && !mb.folders[*i as usize].hidden)
            .collect(),
    };
    let size = q.top.or(prefer.max_page_size).unwrap_or(10).clamp(1, 1000);
    let skip: usize = q
        .skip
        .as_deref()
        .map(|s| {
            s.parse()
                .map_err(|_| GraphError::bad_request("BadRequest", "Invalid $skip value."))
        })
        .transpose()?
        .unwrap_or(0);
    // Order by receivedDateTime desc (Graph's default) unless asc was asked for.
    let mut keyed: Vec<(i64, MsgKey, u32)> = Vec::new();
    for f in folders {
        for k in mb.folder_keys(f) {
            let spec = state
                .mail
                .spec(&mb, k)
                .ok_or_else(GraphError::item_not_found)?;
            keyed.push((spec.received.timestamp(), k, f));
        }
    }
    let asc = q.orderby.as_deref().is_some_and(|o| {
        o.trim().to_ascii_lowercase().ends_with("asc")
            || o.trim().eq_ignore_ascii_case("receivedDateTime")
    });
    keyed.sort_by(|a, b| {
        if asc {
            a.0.cmp(&b.0).then(a.1.cmp(&b.1))
        } else {
            b.0.cmp(&a.0).then(b.1.cmp(&a.1))
        }
    });
    let mut matching = Vec::new();
    for (_, k, f) in keyed {
        if filter.is_some() {
            let spec = state
                .mail
                .spec(&mb, k)
                .ok_or_else(GraphError::item_not_found)?;
            let full = message_json(&mb, k, f, &spec, opts, false);
            if !matches_filter(&full, &filter) {
                continue;
            }
        }
        matching.push((k, f));
    }
    let total = matching.len();
    let mut out = Vec::new();
    for (k, f) in matching.iter().skip(skip).take(size) {
        out.push(render_message(&state, &mb, *k, *f, &q, opts)?);
    }
    drop(mb);
    let path = match p.get("folder") {
        Some(f) => format!("/users/{user}/mailFolders/{f}/messages"),
        None => format!("/users/{user}/messages"),
    };
    let next = (skip + size < total).then(|| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.pairs {
            if k != "$skip" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("$skip", &(skip + size).to_string());
        state.graph_url(&format!("{path}?{}", ser.finish()))
    });
    let body = collection(
        &state.context(&format!("users('{user}')/messages")),
        out,
        next,
        None,
    );
    Ok(respond::with_preference(
        respond::ok(&body),
        prefer.applied(false),
    ))
}

/// `GET .../messages/{m}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<MsgPath>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    if let Some(sel) = &q.select {
        crate::odata::check_select(sel, MESSAGE, "message")?;
    }
    let prefer = Prefer::from_headers(&headers);
    let opts = ViewOpts {
        immutable: prefer.immutable_id,
        body_text: prefer.body_text,
    };
    let (_, mb) = access::mailbox(&state, p.user())?;
    let mb = mb.lock();
    let (key, f) = locate(&mb, &p.r())?;
    let mut v = render_message(&state, &mb, key, f, &q, opts)?;
    v["@odata.context"] = json!(state.context(&format!("users('{}')/messages/$entity", p.user())));
    Ok(respond::with_preference(
        respond::ok(&v),
        prefer.applied(false),
    ))
}

/// `GET .../messages/{m}/$value`.
pub(crate) async fn value(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<MsgPath>,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let (_, mb) = access::mailbox(&state, p.user())?;
    let mb = mb.lock();
    let (key, _) = locate(&mb, &p.r())?;
    // Take what is needed under the lock; render outside it (big messages render in parallel).
    let raw = state.mail.raw(&mb, key);
    let spec = match raw {
        Some(_) => None,
        None => Some(effective(
            &state
                .mail
                .spec(&mb, key)
                .ok_or_else(GraphError::item_not_found)?,
            mb.overlays.get(&key),
        )),
    };
    drop(mb);
    let bytes = match (raw, spec) {
        (Some(raw), _) => raw.to_vec(),
        (None, Some(spec)) => super::mime::render(&spec),
        (None, None) => return Err(GraphError::item_not_found()),
    };
    let mut r = (StatusCode::OK, bytes).into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    Ok(r)
}

const PATCHABLE: &[&str] = &[
    "isRead",
    "flag",
    "categories",
    "importance",
    "subject",
    "inferenceClassification",
    "body",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
];

/// `PATCH .../messages/{m}`.
pub(crate) async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<MsgPath>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let body = json_body(&body)?;
    let prefer = Prefer::from_headers(&headers);
    let (_, mb) = access::mailbox(&state, p.user())?;
    let mut mb = mb.lock();
    let (key, f) = locate(&mb, &p.r())?;
    let spec = state
        .mail
        .spec(&mb, key)
        .ok_or_else(GraphError::item_not_found)?;
    let obj = body.as_object().expect("json_body checks object");
    for k in obj.keys() {
        if !PATCHABLE.contains(&k.as_str()) {
            if MESSAGE.contains(&k.as_str()) {
                return Err(GraphError::bad_request(
                    "ErrorInvalidPropertyUpdateSentMessage",
                    format!("The property '{k}' can't be updated."),
                ));
            }
            return Err(GraphError::bad_request(
                "RequestBodyRead",
                format!("The property '{k}' does not exist on type 'microsoft.graph.message'."),
            ));
        }
    }
    let draft_only = [
        "subject",
        "body",
        "toRecipients",
        "ccRecipients",
        "bccRecipients",
    ];
    if !spec.is_draft && obj.keys().any(|k| draft_only.contains(&k.as_str())) {
        return Err(GraphError::bad_request(
            "ErrorInvalidPropertyUpdateSentMessage",
            "Update operation is not supported for this property on a sent message.",
        ));
    }
    let mut o = mb.overlays.get(&key).cloned().unwrap_or_default();
    if let Some(v) = obj.get("isRead") {
        o.is_read = Some(v.as_bool().ok_or_else(|| {
            GraphError::bad_request("RequestBodyRead", "isRead must be a boolean.")
        })?);
    }
    if let Some(v) = obj.get("flag") {
        let s = v.get("flagStatus").and_then(Value::as_str).ok_or_else(|| {
            GraphError::bad_request("RequestBodyRead", "flag.flagStatus is required.")
        })?;
        if !matches!(s, "notFlagged" | "flagged" | "complete") {
            return Err(GraphError::bad_request(
                "RequestBodyRead",
                format!("Invalid flagStatus '{s}'."),
            ));
        }
        o.flag = Some(s.into());
    }
    if let Some(v) = obj.get("categories") {
        let c: Vec<String> = serde_json::from_value(v.clone()).map_err(|_| {
            GraphError::bad_request("RequestBodyRead", "categories must be an array of strings.")
        })?;
        o.categories = Some(c);
    }
    if let Some(v) = obj.get("importance") {
        let s = v
            .as_str()
            .filter(|s| matches!(*s, "low" | "normal" | "high"))
            .ok_or_else(|| GraphError::bad_request("RequestBodyRead", "Invalid importance."))?;
        o.importance = Some(s.into());
    }
    if let Some(v) = obj.get("subject") {
        o.subject = Some(v.as_str().unwrap_or("").to_string());
    }
    if let Some(n) = key.created_index()
        && spec.is_draft
    {
        let c: &mut Created = &mut mb.created[n];
        super::write::apply_draft_fields(&mut c.spec, obj)?;
        c.raw = None;
    }
    mb.overlays.insert(key, o);
    mb.log_change(key, &[f], state.clock.now());
    let q = ODataQuery::default();
    let v = render_message(
        &state,
        &mb,
        key,
        f,
        &q,
        ViewOpts {
            immutable: prefer.immutable_id,
            body_text: prefer.body_text,
        },
    )?;
    Ok(respond::ok(&v))
}

/// `DELETE .../messages/{m}`: soft delete into Recoverable Items (Deletions); deleting there purges.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<MsgPath>,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let (_, mb) = access::mailbox(&state, p.user())?;
    let mut mb = mb.lock();
    let (key, f) = locate(&mb, &p.r())?;
    let now = state.clock.now();
    if f == RECOVERABLE {
        mb.purge(key, now);
    } else {
        mb.move_to(key, RECOVERABLE, now);
    }
    Ok(respond::no_content())
}

/// `POST .../messages/{m}/move` and `/copy` `{"destinationId": ...}`.
pub(crate) async fn move_or_copy(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<MsgPath>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let copy = uri.path().ends_with("/copy");
    let body = json_body(&body)?;
    let dest = body
        .get("destinationId")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            GraphError::bad_request("ErrorInvalidRequest", "destinationId is required.")
        })?;
    let prefer = Prefer::from_headers(&headers);
    let (_, mb) = access::mailbox(&state, p.user())?;
    let mut mb = mb.lock();
    let (key, _) = locate(&mb, &p.r())?;
    let target = access::folder(&mb, dest)?;
    let now = state.clock.now();
    let new_key = if copy {
        let spec = effective(
            &state
                .mail
                .spec(&mb, key)
                .ok_or_else(GraphError::item_not_found)?,
            mb.overlays.get(&key),
        );
        super::write::insert_created(&mut mb, spec, None, target, now)
    } else {
        mb.move_to(key, target, now);
        key
    };
    let v = render_message(
        &state,
        &mb,
        new_key,
        target,
        &ODataQuery::default(),
        ViewOpts {
            immutable: prefer.immutable_id,
            body_text: prefer.body_text,
        },
    )?;
    let _ = message_id;
    Ok(respond::json(StatusCode::CREATED, &v))
}
