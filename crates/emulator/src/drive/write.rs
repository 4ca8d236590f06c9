//! Drive writes used by restore: small PUT uploads, folder creation, PATCH (rename, move,
//! `fileSystemInfo`), DELETE, version restore, permission removal, and sharing grants
//! (`invite`, `createLink`, in `share.rs`).

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

use super::api::{
    ensure_hashes, json_status, model_err, not_found, render_ctx, resolve_drive, resolve_item,
};
use super::content::Content;
use super::json as dj;
use super::model::{Conflict, Drive, FsTimes, Ident, ItemIdx, Kind};
use super::route::{DriveSel, ItemAddr, Op};
use super::state::{DriveState, drive_state};
use crate::auth::Caller;
use crate::error::GraphError;
use crate::odata::ODataQuery;
use crate::state::AppState;

/// Largest simple upload (the current Graph documentation's limit).
pub(crate) const MAX_SIMPLE_UPLOAD: usize = 250 * 1024 * 1024;

/// The identity writes are attributed to (app-only: the application).
pub(crate) fn writer(caller: &Caller) -> Arc<Ident> {
    Arc::new(Ident {
        id: caller.app_id.clone(),
        display_name: "tenantvault".into(),
        email: String::new(),
    })
}

/// `@microsoft.graph.conflictBehavior` from the query or a JSON body.
pub(crate) fn conflict_of(
    q: &ODataQuery,
    body: Option<&Value>,
    default: Conflict,
) -> Result<Conflict, GraphError> {
    let raw = q
        .param("@microsoft.graph.conflictBehavior")
        .map(str::to_string)
        .or_else(|| {
            body.and_then(|b| {
                b["@microsoft.graph.conflictBehavior"]
                    .as_str()
                    .map(str::to_string)
            })
        });
    match raw {
        None => Ok(default),
        Some(s) => Conflict::parse(&s).ok_or_else(|| {
            GraphError::bad_request(
                "invalidRequest",
                format!("Invalid value '{s}' for @microsoft.graph.conflictBehavior."),
            )
        }),
    }
}

/// Parses `fileSystemInfo`.
pub(crate) fn fs_times(v: &Value) -> Result<Option<FsTimes>, GraphError> {
    let Some(fsi) = v.get("fileSystemInfo").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let parse = |k: &str| -> Result<Option<DateTime<Utc>>, GraphError> {
        match fsi.get(k).and_then(Value::as_str) {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(s)
                .map(|d| Some(d.with_timezone(&Utc)))
                .map_err(|_| {
                    GraphError::bad_request(
                        "invalidRequest",
                        format!("Invalid {k} in fileSystemInfo: '{s}'."),
                    )
                }),
        }
    };
    Ok(Some(FsTimes {
        created: parse("createdDateTime")?,
        modified: parse("lastModifiedDateTime")?,
    }))
}

/// 412 when `If-Match` does not name the item's current eTag or cTag.
pub(crate) fn check_if_match(
    headers: &HeaderMap,
    etag: &str,
    ctag: &str,
) -> Result<(), GraphError> {
    let Some(v) = headers.get("if-match").and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    // ODB tags contain commas inside their quotes, so match whole tags as substrings.
    if v.trim() == "*" || v.contains(etag) || v.contains(ctag) {
        Ok(())
    } else {
        Err(GraphError::new(
            StatusCode::PRECONDITION_FAILED,
            "resourceModified",
            "ETag does not match current item's value",
        ))
    }
}

async fn read_json(body: Body) -> Result<Value, GraphError> {
    let bytes = axum::body::to_bytes(body, 4 * 1024 * 1024)
        .await
        .map_err(|_| {
            GraphError::bad_request(
                "invalidRequest",
                "The request body is too large or unreadable.",
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| GraphError::bad_request("invalidRequest", format!("Invalid JSON body: {e}")))
}

/// Splits a target path into the parent folder (created if missing) and the final name.
pub(crate) fn parent_and_name(
    d: &mut Drive,
    base: ItemIdx,
    path: &str,
    by: &Arc<Ident>,
    now: DateTime<Utc>,
) -> Result<(ItemIdx, String), GraphError> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some((name, dirs)) = segs.split_last() else {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "A file name is required.",
        ));
    };
    let mut cur = base;
    for seg in dirs {
        cur = match d.child_by_name(cur, seg) {
            Some(c) if d.item(c).is_folder() => c,
            Some(_) => {
                return Err(GraphError::bad_request(
                    "invalidRequest",
                    format!("'{seg}' is a file, not a folder."),
                ));
            }
            None => d
                .create_folder(cur, seg, Conflict::Fail, by, now)
                .map_err(model_err)?,
        };
    }
    Ok((cur, name.to_string()))
}

/// Renders one item (computing its hash first) as a response.
pub(crate) async fn item_response(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    item_id: &str,
    status: StatusCode,
) -> Result<Response, GraphError> {
    let pre = {
        let store = ds.store.read();
        let d = store.drive(drive_id).ok_or_else(not_found)?;
        let idx = d.find(item_id).ok_or_else(not_found)?;
        d.item(idx)
            .content()
            .cloned()
            .into_iter()
            .collect::<Vec<_>>()
    };
    ensure_hashes(pre).await;
    let store = ds.store.read();
    let d = store.drive(drive_id).ok_or_else(not_found)?;
    let idx = d.find(item_id).ok_or_else(not_found)?;
    let tenant = st.tenant_id();
    let r = render_ctx(st, ds, &tenant);
    let mut v = dj::item_json(&r, d, &store.sites[d.site], idx, false);
    v["@odata.context"] = json!(st.context(&format!("drives('{drive_id}')/items/$entity")));
    Ok(json_status(status, &v, None))
}

/// Dispatches a write.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_op(
    st: &AppState,
    caller: &Caller,
    method: Method,
    sel: &DriveSel,
    addr: &ItemAddr,
    op: Op,
    q: &ODataQuery,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    let ds = drive_state(st);
    let drive_id = resolve_drive(st, &ds.store.read(), sel)?;
    let by = writer(caller);
    let now = st.clock.now();
    match (method, op) {
        (Method::PUT, Op::Content) => {
            let bytes = axum::body::to_bytes(body, MAX_SIMPLE_UPLOAD + 1)
                .await
                .map_err(|_| GraphError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalidRequest", "The file exceeds the maximum size of a simple upload; use an upload session."))?;
            if bytes.len() > MAX_SIMPLE_UPLOAD {
                return Err(GraphError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "invalidRequest",
                    "The file exceeds the maximum size of a simple upload; use an upload session.",
                ));
            }
            let conflict = conflict_of(q, None, Conflict::Replace)?;
            let (item_id, created) = {
                let mut store = ds.store.write();
                let d = store.drive_mut(&drive_id).ok_or_else(not_found)?;
                match &addr.path {
                    Some(path) => {
                        let base = resolve_item(
                            d,
                            &ItemAddr {
                                id: addr.id.clone(),
                                path: None,
                            },
                        )?;
                        if let Some(existing) = d.resolve_path(base, path) {
                            check_if_match(
                                headers,
                                &d.item(existing).etag(),
                                &d.item(existing).ctag(),
                            )?;
                        }
                        let (parent, name) = parent_and_name(d, base, path, &by, now)?;
                        let (idx, created) = d
                            .put_file(
                                parent,
                                &name,
                                Content::stored(bytes),
                                conflict,
                                &by,
                                now,
                                None,
                            )
                            .map_err(model_err)?;
                        (d.item(idx).id.clone(), created)
                    }
                    None => {
                        let idx = resolve_item(d, addr)?;
                        check_if_match(headers, &d.item(idx).etag(), &d.item(idx).ctag())?;
                        d.replace_content(idx, Content::stored(bytes), &by, now, None)
                            .map_err(model_err)?;
                        (d.item(idx).id.clone(), false)
                    }
                }
            };
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            item_response(st, &ds, &drive_id, &item_id, status).await
        }
        (Method::POST, Op::Children) => {
            let v = read_json(body).await?;
            let name = v["name"].as_str().ok_or_else(|| {
                GraphError::bad_request("invalidRequest", "Property 'name' is required.")
            })?;
            if v.get("folder").is_none() {
                return Err(GraphError::bad_request(
                    "invalidRequest",
                    "Only folders can be created with POST children; upload files with PUT.",
                ));
            }
            let conflict = conflict_of(q, Some(&v), Conflict::Fail)?;
            let fs = fs_times(&v)?;
            let item_id = {
                let mut store = ds.store.write();
                let d = store.drive_mut(&drive_id).ok_or_else(not_found)?;
                let parent = resolve_item(d, addr)?;
                let idx = d
                    .create_folder(parent, name, conflict, &by, now)
                    .map_err(model_err)?;
                if fs.is_some() || v.get("description").is_some() {
                    let desc = v["description"].as_str().map(str::to_string);
                    d.update(idx, None, None, fs, desc, &by, now)
                        .map_err(model_err)?;
                }
                d.item(idx).id.clone()
            };
            item_response(st, &ds, &drive_id, &item_id, StatusCode::CREATED).await
        }
        (Method::POST, Op::CreateUploadSession) => {
            let v = read_json(body).await?;
            super::upload::create_session(st, &ds, &drive_id, addr, &v, q, headers, by, now)
        }
        (Method::POST, Op::Invite) => {
            let v = read_json(body).await?;
            super::share::invite(st, &ds, &drive_id, addr, &v)
        }
        (Method::POST, Op::CreateLink) => {
            let v = read_json(body).await?;
            super::share::create_link(st, &ds, &drive_id, addr, &v)
        }
        (Method::POST, Op::RestoreVersion(label)) => {
            let mut store = ds.store.write();
            let d = store.drive_mut(&drive_id).ok_or_else(not_found)?;
            let idx = resolve_item(d, addr)?;
            let n: u32 = label
                .trim_end_matches(".0")
                .parse()
                .map_err(|_| not_found())?;
            let old = match &d.item(idx).kind {
                Kind::File { history, .. } => history
                    .iter()
                    .find(|h| h.label == n)
                    .map(|h| h.content.clone())
                    .ok_or_else(not_found)?,
                _ => return Err(not_found()),
            };
            d.replace_content(idx, old, &by, now, None)
                .map_err(model_err)?;
            Ok(crate::respond::no_content())
        }
        (Method::PATCH, Op::Item) => {
            let v = read_json(body).await?;
            let fs = fs_times(&v)?;
            let item_id = {
                let mut store = ds.store.write();
                let d = store.drive_mut(&drive_id).ok_or_else(not_found)?;
                let idx = resolve_item(d, addr)?;
                check_if_match(headers, &d.item(idx).etag(), &d.item(idx).ctag())?;
                let new_parent = match v.get("parentReference") {
                    Some(pr) if !pr.is_null() => {
                        if let Some(pid) = pr["id"].as_str() {
                            Some(d.find(pid).ok_or_else(not_found)?)
                        } else if let Some(path) = pr["path"].as_str() {
                            let rel = path.split_once("root:").map(|x| x.1).unwrap_or(path);
                            Some(d.resolve_path(Drive::ROOT, rel).ok_or_else(not_found)?)
                        } else {
                            None
                        }
                    }
                    _ => None,
                };
                let name = v["name"].as_str();
                let desc = v["description"].as_str().map(str::to_string);
                d.update(idx, name, new_parent, fs, desc, &by, now)
                    .map_err(model_err)?;
                d.item(idx).id.clone()
            };
            item_response(st, &ds, &drive_id, &item_id, StatusCode::OK).await
        }
        (Method::DELETE, Op::Item) => {
            let mut store = ds.store.write();
            let d = store.drive_mut(&drive_id).ok_or_else(not_found)?;
            let idx = resolve_item(d, addr)?;
            check_if_match(headers, &d.item(idx).etag(), &d.item(idx).ctag())?;
            d.delete(idx, now).map_err(model_err)?;
            Ok(crate::respond::no_content())
        }
        (Method::DELETE, Op::Permission(pid)) => {
            let mut store = ds.store.write();
            let d = store.drive_mut(&drive_id).ok_or_else(not_found)?;
            let idx = resolve_item(d, addr)?;
            let perms = &mut d.items[idx as usize].permissions;
            let before = perms.len();
            perms.retain(|p| p.id != pid || p.roles.contains(&"owner"));
            if perms.len() == before {
                return Err(not_found());
            }
            Ok(crate::respond::no_content())
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}
