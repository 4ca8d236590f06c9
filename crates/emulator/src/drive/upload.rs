//! Resumable upload sessions (`createUploadSession`) and their pre-authenticated URLs
//! (`/_upload/drive/{token}`), with Graph's rules: fragments in order, each a multiple of
//! 320 KiB except the last, < 60 MiB, the same total in every `Content-Range`; 202 with
//! `nextExpectedRanges` until complete, then 201/200 with the driveItem; 416 on overlap;
//! 409 `nameAlreadyExists` at commit with `conflictBehavior=fail`; an `Authorization`
//! header on the upload URL answers 401.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

use super::api::{json_status, model_err, not_found, resolve_item};
use super::content::Content;
use super::model::{Conflict, FsTimes, Ident};
use super::route::ItemAddr;
use super::state::{DriveState, drive_state};
use super::write::{check_if_match, conflict_of, fs_times, item_response, parent_and_name};
use crate::clock::iso;
use crate::error::GraphError;
use crate::odata::ODataQuery;
use crate::state::AppState;

/// Fragment granularity.
pub const FRAGMENT_UNIT: u64 = 320 * 1024;
/// Largest fragment per request.
pub const MAX_FRAGMENT: u64 = 60 * 1024 * 1024;
const UPLOAD_KIND: &str = "drive.upload";

#[derive(Debug, Serialize, Deserialize)]
struct UploadToken {
    s: u64,
}

/// Where the finished upload goes.
#[derive(Debug, Clone)]
enum Target {
    /// A new (or, by conflict behaviour, replaced) file `name` in folder `parent`.
    New {
        parent: String,
        name: String,
        conflict: Conflict,
    },
    /// New content for an existing file.
    Existing { item: String },
}

/// One open session.
#[derive(Debug)]
pub struct Session {
    drive: String,
    target: Target,
    total: Option<u64>,
    data: Vec<u8>,
    expires: DateTime<Utc>,
    defer_commit: bool,
    fs: Option<FsTimes>,
    by: Arc<Ident>,
}

/// Open sessions.
#[derive(Debug, Default)]
pub struct Uploads {
    next: u64,
    sessions: HashMap<u64, Session>,
}

impl Uploads {
    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

fn session_body(s: &Session) -> Value {
    let next = if s.total.is_some_and(|t| s.data.len() as u64 >= t) {
        vec![]
    } else {
        vec![format!("{}-", s.data.len())]
    };
    json!({"expirationDateTime": iso(s.expires), "nextExpectedRanges": next})
}

/// `POST …/createUploadSession`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn create_session(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    addr: &ItemAddr,
    body: &Value,
    q: &ODataQuery,
    headers: &HeaderMap,
    by: Arc<Ident>,
    now: DateTime<Utc>,
) -> Result<Response, GraphError> {
    let item = body.get("item").cloned().unwrap_or_else(|| json!({}));
    let conflict = conflict_of(q, Some(&item), Conflict::Fail)?;
    let total = item.get("fileSize").and_then(Value::as_u64);
    let fs = fs_times(&item)?;
    let defer_commit = body
        .get("deferCommit")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let target = {
        let mut store = ds.store.write();
        let d = store.drive_mut(drive_id).ok_or_else(not_found)?;
        match &addr.path {
            Some(path) => {
                if let Some(n) = item.get("name").and_then(Value::as_str)
                    && path.rsplit('/').next() != Some(n)
                {
                    return Err(GraphError::bad_request(
                        "invalidRequest",
                        "The name in the request body does not match the name in the URL.",
                    ));
                }
                let base = resolve_item(
                    d,
                    &ItemAddr {
                        id: addr.id.clone(),
                        path: None,
                    },
                )?;
                if let Some(existing) = d.resolve_path(base, path) {
                    check_if_match(headers, &d.item(existing).etag(), &d.item(existing).ctag())?;
                }
                let (parent, name) = parent_and_name(d, base, path, &by, now)?;
                super::model::validate_name(&name).map_err(model_err)?;
                Target::New {
                    parent: d.item(parent).id.clone(),
                    name,
                    conflict,
                }
            }
            None => {
                let idx = resolve_item(d, addr)?;
                if d.item(idx).is_folder() {
                    return Err(GraphError::bad_request(
                        "invalidRequest",
                        "An upload session needs a file name below the folder.",
                    ));
                }
                check_if_match(headers, &d.item(idx).etag(), &d.item(idx).ctag())?;
                Target::Existing {
                    item: d.item(idx).id.clone(),
                }
            }
        }
    };
    let ttl = ds.cfg.read().upload_session_ttl;
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or_default();
    let mut ups = ds.uploads.lock();
    ups.next += 1;
    let id = ups.next;
    let s = Session {
        drive: drive_id.to_string(),
        target,
        total,
        data: Vec::new(),
        expires,
        defer_commit,
        fs,
        by,
    };
    let mut v = session_body(&s);
    ups.sessions.insert(id, s);
    let token = st.tokens.encode(UPLOAD_KIND, &UploadToken { s: id });
    v["uploadUrl"] = json!(format!("{}/_upload/drive/{token}", st.base_url));
    v["@odata.context"] = json!(st.context("microsoft.graph.uploadSession"));
    Ok(crate::respond::ok(&v))
}

fn session_not_found() -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "itemNotFound",
        "The upload session was not found.",
    )
    .with_inner("code", json!("uploadSessionNotFound"))
}

fn invalid_range(inner: &str, msg: &str) -> GraphError {
    GraphError::new(StatusCode::RANGE_NOT_SATISFIABLE, "invalidRange", msg)
        .with_inner("code", json!(inner))
}

fn parse_content_range(headers: &HeaderMap) -> Result<(u64, u64, u64), GraphError> {
    let bad = || {
        GraphError::bad_request(
            "invalidRequest",
            "Content-Range header is missing or malformed; expected 'bytes {start}-{end}/{total}'.",
        )
    };
    let v = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(bad)?;
    let spec = v.trim().strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, total) = spec.split_once('/').ok_or_else(bad)?;
    let (a, b) = range.split_once('-').ok_or_else(bad)?;
    let (a, b, t): (u64, u64, u64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
        total.trim().parse().map_err(|_| bad())?,
    );
    if b < a || b >= t {
        return Err(bad());
    }
    Ok((a, b, t))
}

/// `PUT|GET|DELETE|POST /_upload/drive/{token}`.
pub(crate) async fn upload_url(
    State(st): State<AppState>,
    Path(token): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match handle(&st, &token, method, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(
    st: &AppState,
    token: &str,
    method: Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Err(GraphError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The upload URL is pre-authenticated; do not send an Authorization header.",
        ));
    }
    let id = st
        .tokens
        .decode::<UploadToken>(UPLOAD_KIND, token)
        .ok_or_else(session_not_found)?
        .s;
    let ds = drive_state(st);
    let now = st.clock.now();
    {
        let mut ups = ds.uploads.lock();
        match ups.sessions.get(&id) {
            Some(s) if s.expires < now => {
                ups.sessions.remove(&id);
                return Err(session_not_found());
            }
            Some(_) => {}
            None => return Err(session_not_found()),
        }
    }
    match method {
        Method::GET => {
            let ups = ds.uploads.lock();
            let s = ups.sessions.get(&id).ok_or_else(session_not_found)?;
            Ok(crate::respond::ok(&session_body(s)))
        }
        Method::DELETE => {
            ds.uploads.lock().sessions.remove(&id);
            Ok(crate::respond::no_content())
        }
        Method::POST => {
            // Explicit commit of a deferCommit session (zero-length POST).
            let complete = {
                let ups = ds.uploads.lock();
                let s = ups.sessions.get(&id).ok_or_else(session_not_found)?;
                s.total.is_some_and(|t| s.data.len() as u64 == t)
            };
            if !complete {
                return Err(
                    GraphError::bad_request("invalidRequest", "The upload is incomplete.")
                        .with_inner("code", json!("uploadSessionIncomplete")),
                );
            }
            commit(st, &ds, id).await
        }
        Method::PUT => {
            let (a, b, t) = parse_content_range(headers)?;
            let len = b - a + 1;
            if len > MAX_FRAGMENT {
                return Err(GraphError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalidRequest",
                    "Fragments must be smaller than 60 MiB.",
                ));
            }
            if let Some(cl) = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                && cl != len
            {
                return Err(GraphError::bad_request(
                    "invalidRequest",
                    "Content-Length does not match Content-Range.",
                )
                .with_inner("code", json!("fragmentLengthMismatch")));
            }
            let bytes = axum::body::to_bytes(body, len as usize + 1)
                .await
                .map_err(|_| {
                    GraphError::bad_request(
                        "invalidRequest",
                        "The fragment is longer than its Content-Range.",
                    )
                    .with_inner("code", json!("fragmentLengthMismatch"))
                })?;
            if bytes.len() as u64 != len {
                return Err(GraphError::bad_request(
                    "invalidRequest",
                    "The fragment length does not match its Content-Range.",
                )
                .with_inner("code", json!("fragmentLengthMismatch")));
            }
            let done = {
                let mut ups = ds.uploads.lock();
                let s = ups.sessions.get_mut(&id).ok_or_else(session_not_found)?;
                if let Some(total) = s.total
                    && total != t
                {
                    return Err(GraphError::bad_request(
                        "invalidRequest",
                        "The total length in Content-Range differs from the session's file size.",
                    )
                    .with_inner("code", json!("fragmentLengthMismatch")));
                }
                let have = s.data.len() as u64;
                if a < have {
                    return Err(invalid_range(
                        "fragmentOverlap",
                        "Uploaded fragment overlaps with existing data.",
                    ));
                }
                if a > have {
                    return Err(invalid_range(
                        "fragmentOutOfOrder",
                        "Fragments must be uploaded in order.",
                    ));
                }
                let last = b + 1 == t;
                if !last && len % FRAGMENT_UNIT != 0 {
                    return Err(GraphError::bad_request(
                        "invalidRequest",
                        "Fragment size must be a multiple of 320 KiB (327,680 bytes), except for the last fragment.",
                    ));
                }
                s.total = Some(t);
                s.data.extend_from_slice(&bytes);
                if !last {
                    return Ok(json_status(StatusCode::ACCEPTED, &session_body(s), None));
                }
                !s.defer_commit
            };
            if done {
                commit(st, &ds, id).await
            } else {
                let ups = ds.uploads.lock();
                let s = ups.sessions.get(&id).ok_or_else(session_not_found)?;
                Ok(json_status(StatusCode::ACCEPTED, &session_body(s), None))
            }
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}

async fn commit(st: &AppState, ds: &DriveState, id: u64) -> Result<Response, GraphError> {
    let s = ds
        .uploads
        .lock()
        .sessions
        .remove(&id)
        .ok_or_else(session_not_found)?;
    let now = st.clock.now();
    let content = Content::stored(s.data);
    let (item_id, created) = {
        let mut store = ds.store.write();
        let d = store.drive_mut(&s.drive).ok_or_else(not_found)?;
        match &s.target {
            Target::New {
                parent,
                name,
                conflict,
            } => {
                let p = d.find(parent).ok_or_else(not_found)?;
                let (idx, created) = d
                    .put_file(p, name, content, *conflict, &s.by, now, s.fs)
                    .map_err(model_err)?;
                (d.item(idx).id.clone(), created)
            }
            Target::Existing { item } => {
                let idx = d.find(item).ok_or_else(not_found)?;
                d.replace_content(idx, content, &s.by, now, s.fs)
                    .map_err(model_err)?;
                (item.clone(), false)
            }
        }
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    item_response(st, ds, &s.drive, &item_id, status).await
}
