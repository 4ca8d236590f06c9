//! Attachments: list, get, `$value` (405 for reference attachments), small POST, and upload
//! sessions (3–150 MB) on a separate pre-authenticated URL.

use super::access::{self, can_read, can_write, json_body};
use super::ids::{ExId, message_id};
use super::json::{attachment_json, attachment_json_with_id};
use super::messages::MsgPath;
use super::spec::{AttKind, AttSpec};
use crate::auth::Caller;
use crate::error::GraphError;
use crate::odata::{ODataQuery, apply_select, collection};
use crate::respond;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest attachment accepted by a single POST.
pub const SMALL_LIMIT: usize = 3 * 1024 * 1024;
/// Largest attachment accepted by an upload session.
pub const SESSION_LIMIT: usize = 150 * 1024 * 1024;
/// Largest chunk per PUT.
pub const CHUNK_LIMIT: usize = 4 * 1024 * 1024;

const ATTACHMENT_PROPS: &[&str] = &[
    "id",
    "name",
    "contentType",
    "size",
    "isInline",
    "lastModifiedDateTime",
    "contentBytes",
    "contentId",
    "contentLocation",
    "item",
];

/// Parse an attachment from Graph JSON.
pub(crate) fn attachment_from_json(a: &Value, now: DateTime<Utc>) -> Result<AttSpec, GraphError> {
    let bad = |m: &str| GraphError::bad_request("RequestBodyRead", m.to_string());
    let t = a
        .get("@odata.type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("The attachment needs an '@odata.type'."))?;
    let name = a
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    match t.trim_start_matches('#') {
        "microsoft.graph.fileAttachment" => {
            let b64 = a
                .get("contentBytes")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("contentBytes is required for a file attachment."))?;
            let data = STANDARD.decode(b64).map_err(|_| {
                GraphError::bad_request("ErrorInvalidRequest", "contentBytes is not valid base64.")
            })?;
            if data.len() > SMALL_LIMIT {
                return Err(GraphError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "ErrorRequestEntityTooLarge",
                    "The attachment exceeds the 3 MB limit of a single request; use an upload session.",
                ));
            }
            let is_inline = a.get("isInline").and_then(Value::as_bool).unwrap_or(false);
            let cid = a
                .get("contentId")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(AttSpec {
                name: if name.is_empty() {
                    "attachment".into()
                } else {
                    name
                },
                content_type: a
                    .get("contentType")
                    .and_then(Value::as_str)
                    .unwrap_or("application/octet-stream")
                    .to_string(),
                data: Arc::from(data),
                content_id: if is_inline {
                    cid.or_else(|| Some(format!("{}@emulator", uuid::Uuid::new_v4().simple())))
                } else {
                    None
                },
                kind: AttKind::File,
                modified: now,
            })
        }
        "microsoft.graph.itemAttachment" => {
            let item = a
                .get("item")
                .ok_or_else(|| bad("item is required for an item attachment."))?;
            let mut item = item.clone();
            if let Value::Object(m) = &mut item {
                m.remove("@odata.type");
            }
            let spec = super::write::spec_from_json(&item, now)?;
            Ok(AttSpec {
                name: if name.is_empty() {
                    spec.subject.clone()
                } else {
                    name
                },
                content_type: "message/rfc822".into(),
                data: Arc::from(Vec::new()),
                content_id: None,
                kind: AttKind::Item(Box::new(super::spec::MessageSpec {
                    is_draft: false,
                    ..spec
                })),
                modified: now,
            })
        }
        other => Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            format!("Attachment type '{other}' cannot be created."),
        )),
    }
}

fn expand_item(q: &ODataQuery) -> bool {
    q.expand.as_deref().is_some_and(|e| {
        e.to_ascii_lowercase()
            .replace(' ', "")
            .contains("itemattachment/item")
    })
}

/// `GET .../messages/{m}/attachments`.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<MsgPath>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    if let Some(sel) = &q.select {
        crate::odata::check_select(sel, ATTACHMENT_PROPS, "attachment")?;
    }
    let (_, mb) = access::mailbox(&state, p.user())?;
    let mb = mb.lock();
    let (key, _) = super::messages::locate(&mb, &p.r())?;
    let spec = state
        .mail
        .spec(&mb, key)
        .ok_or_else(GraphError::item_not_found)?;
    let mut out = Vec::new();
    for (i, a) in spec.attachments.iter().enumerate() {
        out.push(apply_select(
            attachment_json(&mb, key, i, a, true, expand_item(&q)),
            q.select.as_deref(),
            ATTACHMENT_PROPS,
            "attachment",
        )?);
    }
    drop(mb);
    Ok(respond::ok(&collection(
        &state.context(&format!("users('{}')/messages/attachments", p.user())),
        out,
        None,
        None,
    )))
}

/// Path with an attachment id.
#[derive(serde::Deserialize)]
pub(crate) struct AttPath {
    user: String,
    folder: Option<String>,
    msg: String,
    att: String,
}

fn find<'a>(
    mb: &super::store::Mailbox,
    spec: &'a super::spec::MessageSpec,
    key: super::store::MsgKey,
    att: &str,
) -> Result<(usize, &'a AttSpec), GraphError> {
    match ExId::decode(att) {
        Some(ExId::Attachment { user, key: k, n }) if user == mb.user && k == key => spec
            .attachments
            .get(n as usize)
            .map(|a| (n as usize, a))
            .ok_or_else(GraphError::item_not_found),
        Some(_) => Err(GraphError::item_not_found()),
        None => Err(access::malformed()),
    }
}

/// `GET .../attachments/{a}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<AttPath>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    if let Some(sel) = &q.select {
        crate::odata::check_select(sel, ATTACHMENT_PROPS, "attachment")?;
    }
    let (_, mb) = access::mailbox(&state, &p.user)?;
    let mb = mb.lock();
    let (key, _) = super::messages::locate(
        &mb,
        &super::messages::MsgPathRef {
            folder: p.folder.as_deref(),
            msg: &p.msg,
        },
    )?;
    let spec = state
        .mail
        .spec(&mb, key)
        .ok_or_else(GraphError::item_not_found)?;
    let (n, a) = find(&mb, &spec, key, &p.att)?;
    let mut v = apply_select(
        attachment_json(&mb, key, n, a, true, expand_item(&q)),
        q.select.as_deref(),
        ATTACHMENT_PROPS,
        "attachment",
    )?;
    v["@odata.context"] = json!(state.context(&format!(
        "users('{}')/messages('{}')/attachments/$entity",
        p.user, p.msg
    )));
    Ok(respond::ok(&v))
}

/// `GET .../attachments/{a}/$value`.
pub(crate) async fn value(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<AttPath>,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let (_, mb) = access::mailbox(&state, &p.user)?;
    let mb = mb.lock();
    let (key, _) = super::messages::locate(
        &mb,
        &super::messages::MsgPathRef {
            folder: p.folder.as_deref(),
            msg: &p.msg,
        },
    )?;
    let spec = state
        .mail
        .spec(&mb, key)
        .ok_or_else(GraphError::item_not_found)?;
    let (_, a) = find(&mb, &spec, key, &p.att)?;
    let (ct, bytes) = match &a.kind {
        AttKind::File => (a.content_type.clone(), a.data.to_vec()),
        AttKind::Item(m) => ("message/rfc822".to_string(), super::mime::render(m)),
        AttKind::Reference { .. } => {
            return Err(GraphError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "ErrorInvalidRequest",
                "The OData request is not supported on a reference attachment.",
            ));
        }
    };
    drop(mb);
    let mut r = (StatusCode::OK, bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&ct) {
        r.headers_mut().insert(axum::http::header::CONTENT_TYPE, v);
    }
    Ok(r)
}

fn add_attachment(
    state: &AppState,
    user: &str,
    folder: Option<&str>,
    msg: &str,
    att: AttSpec,
) -> Result<(String, Value), GraphError> {
    let (_, mb) = access::mailbox(state, user)?;
    let mut mb = mb.lock();
    let (key, f) = super::messages::locate(&mb, &super::messages::MsgPathRef { folder, msg })?;
    let now = state.clock.now();
    let count = state
        .mail
        .spec(&mb, key)
        .ok_or_else(GraphError::item_not_found)?
        .attachments
        .len();
    match key.created_index() {
        Some(n) => {
            mb.created[n].spec.attachments.push(att.clone());
            mb.created[n].raw = None;
        }
        None => mb
            .overlays
            .entry(key)
            .or_default()
            .added_attachments
            .push(att.clone()),
    }
    mb.log_change(key, &[f], now);
    let id = ExId::Attachment {
        user: mb.user,
        key,
        n: count as u16,
    }
    .encode();
    let v = attachment_json_with_id(&id, &att, true, false, mb.user);
    Ok((message_id(mb.user, key, f, false), v))
}

/// `POST .../messages/{m}/attachments`.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<MsgPath>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let v = json_body(&body)?;
    let att = attachment_from_json(&v, state.clock.now())?;
    let r = p.r();
    let (_, v) = add_attachment(&state, p.user(), r.folder, r.msg, att)?;
    Ok(respond::json(StatusCode::CREATED, &v))
}

/// One upload session.
#[derive(Debug)]
struct Session {
    user: String,
    folder: Option<String>,
    msg: String,
    name: String,
    content_type: String,
    size: usize,
    inline: bool,
    content_id: Option<String>,
    buf: Vec<u8>,
    expires: DateTime<Utc>,
}

/// Open upload sessions (per emulator).
#[derive(Debug, Default)]
pub(crate) struct Sessions(Mutex<HashMap<String, Session>>);

/// `POST .../messages/{m}/attachments/createUploadSession`.
pub(crate) async fn create_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<MsgPath>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let v = json_body(&body)?;
    let item = v.get("AttachmentItem").ok_or_else(|| {
        GraphError::bad_request("ErrorInvalidRequest", "AttachmentItem is required.")
    })?;
    let kind = item
        .get("attachmentType")
        .and_then(Value::as_str)
        .unwrap_or("file");
    if kind != "file" {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "Only file attachments can be uploaded in a session.",
        ));
    }
    let name = item
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            GraphError::bad_request("ErrorInvalidRequest", "AttachmentItem.name is required.")
        })?;
    let size = item.get("size").and_then(Value::as_u64).ok_or_else(|| {
        GraphError::bad_request("ErrorInvalidRequest", "AttachmentItem.size is required.")
    })? as usize;
    if size < SMALL_LIMIT {
        return Err(GraphError::bad_request(
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size must be greater than the minimum size.",
        ));
    }
    if size > SESSION_LIMIT {
        return Err(GraphError::bad_request(
            "ErrorAttachmentSizeShouldNotBeMoreThanMaximumSize",
            "Attachment size must be less than the maximum size of 150 MB.",
        ));
    }
    // The message must exist now.
    {
        let (_, mb) = access::mailbox(&state, p.user())?;
        let mb = mb.lock();
        super::messages::locate(&mb, &p.r())?;
    }
    let r = p.r();
    let sid = uuid::Uuid::new_v4().simple().to_string();
    let expires = state.clock.now() + chrono::Duration::hours(24);
    let auth = state.tokens.encode("att-upload", &sid);
    let sessions = state.ext(|_| Sessions::default());
    sessions.0.lock().insert(
        sid.clone(),
        Session {
            user: p.user().to_string(),
            folder: r.folder.map(str::to_string),
            msg: r.msg.to_string(),
            name: name.to_string(),
            content_type: item
                .get("contentType")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_string(),
            size,
            inline: item
                .get("isInline")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            content_id: item
                .get("contentId")
                .and_then(Value::as_str)
                .map(str::to_string),
            buf: Vec::new(),
            expires,
        },
    );
    let url = format!("{}/_upload/mail/{sid}?authtoken={auth}", state.base_url);
    let body = json!({
        "@odata.context": state.context("microsoft.graph.uploadSession"),
        "uploadUrl": url,
        "expirationDateTime": crate::clock::iso(expires),
        "nextExpectedRanges": ["0-"],
    });
    Ok(respond::json(StatusCode::CREATED, &body))
}

fn check_session_auth(
    state: &AppState,
    sid: &str,
    q: &ODataQuery,
    headers: &HeaderMap,
) -> Result<(), GraphError> {
    if headers.contains_key("authorization") {
        return Err(GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "An upload URL is pre-authenticated; do not send an Authorization header.",
        ));
    }
    let ok = q
        .param("authtoken")
        .and_then(|t| state.tokens.decode::<String>("att-upload", t))
        .is_some_and(|s| s == sid);
    if !ok {
        return Err(GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The upload session token is invalid.",
        ));
    }
    Ok(())
}

/// `PUT {uploadUrl}`.
pub(crate) async fn upload_put(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    let q = ODataQuery::parse(raw.as_deref())?;
    check_session_auth(&state, &sid, &q, &headers)?;
    let range = headers
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            GraphError::bad_request("ErrorInvalidRequest", "Content-Range header is required.")
        })?;
    let (start, end, total) = parse_content_range(range).ok_or_else(|| {
        GraphError::bad_request(
            "ErrorInvalidRequest",
            format!("Invalid Content-Range '{range}'."),
        )
    })?;
    if end + 1 - start != body.len() {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            "The Content-Range does not match the body length.",
        ));
    }
    if body.len() > CHUNK_LIMIT {
        return Err(GraphError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "ErrorRequestEntityTooLarge",
            "Each chunk must be 4 MB or smaller.",
        ));
    }
    let sessions = state.ext(|_| Sessions::default());
    let mut map = sessions.0.lock();
    let s = map.get_mut(&sid).ok_or_else(|| {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The upload session was not found or has expired.",
        )
    })?;
    if state.clock.now() > s.expires {
        map.remove(&sid);
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The upload session has expired.",
        ));
    }
    if total != s.size {
        return Err(GraphError::bad_request(
            "ErrorInvalidRequest",
            format!(
                "The total size {total} does not match the session size {}.",
                s.size
            ),
        ));
    }
    if start != s.buf.len() {
        return Err(GraphError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "ErrorInvalidRange",
            format!(
                "Bytes must be sent in order; expected range starting at {}.",
                s.buf.len()
            ),
        ));
    }
    s.buf.extend_from_slice(&body);
    if s.buf.len() < s.size {
        let v = json!({
            "@odata.context": state.context("microsoft.graph.uploadSession"),
            "ExpirationDateTime": crate::clock::iso(s.expires),
            "nextExpectedRanges": [s.buf.len().to_string()],
        });
        return Ok(respond::ok(&v));
    }
    let s = map.remove(&sid).expect("present");
    drop(map);
    let now = state.clock.now();
    let att = AttSpec {
        name: s.name,
        content_type: s.content_type,
        data: Arc::from(s.buf),
        content_id: if s.inline {
            s.content_id.or_else(|| Some(format!("{sid}@emulator")))
        } else {
            None
        },
        kind: AttKind::File,
        modified: now,
    };
    let (msg_id, v) = add_attachment(&state, &s.user, s.folder.as_deref(), &s.msg, att)?;
    let att_id = v["id"].as_str().unwrap_or("").to_string();
    let user_id = state
        .directory
        .read()
        .user(&s.user)
        .map(|u| u.id.clone())
        .unwrap_or(s.user.clone());
    let location = format!(
        "{}/api/v2.0/Users('{user_id}')/Messages('{msg_id}')/Attachments('{att_id}')",
        state.base_url
    );
    let mut r = StatusCode::CREATED.into_response();
    if let Ok(l) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(axum::http::header::LOCATION, l);
    }
    Ok(r)
}

/// `DELETE {uploadUrl}` cancels the session.
pub(crate) async fn upload_delete(
    State(state): State<AppState>,
    Path(sid): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let q = ODataQuery::parse(raw.as_deref())?;
    check_session_auth(&state, &sid, &q, &headers)?;
    let sessions = state.ext(|_| Sessions::default());
    if sessions.0.lock().remove(&sid).is_none() {
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The upload session was not found.",
        ));
    }
    Ok(respond::no_content())
}

/// `bytes a-b/total` → (a, b, total).
pub(crate) fn parse_content_range(s: &str) -> Option<(usize, usize, usize)> {
    let r = s.trim().strip_prefix("bytes ")?;
    let (range, total) = r.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, t): (usize, usize, usize) = (
        a.trim().parse().ok()?,
        b.trim().parse().ok()?,
        total.trim().parse().ok()?,
    );
    (a <= b && b < t).then_some((a, b, t))
}
