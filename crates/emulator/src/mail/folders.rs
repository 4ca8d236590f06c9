//! Mail folder endpoints: list, get, child folders, create, rename, move, delete, and
//! `mailFolders/delta`.

use super::access::{self, can_read, can_write, json_body};
use super::ids::folder_id;
use super::json::folder_json;
use super::round::{self, Kinds};
use super::store::{Folder, Mailbox, ROOT};
use crate::auth::Caller;
use crate::error::GraphError;
use crate::odata::{ODataQuery, Prefer, apply_select, collection};
use crate::respond;
use crate::schema_props::MAIL_FOLDER;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Counts for a folder: (total, unread, visible children).
pub(crate) fn counts(state: &AppState, mb: &Mailbox, idx: u32) -> (usize, usize, usize) {
    let keys = mb.folder_keys(idx);
    let f = &mb.folders[idx as usize];
    let mut unread = 0;
    for k in &keys {
        let read = match mb.overlays.get(k).and_then(|o| o.is_read) {
            Some(r) => r,
            None => match (k.origin(), k.created_index()) {
                (Some((of, i)), _) => {
                    let role = mb.folders[of as usize].role;
                    super::generate::generated_is_read(state.mail.seed, mb.user, of, role, i)
                }
                (_, Some(n)) => mb.created[n].spec.is_read,
                _ => true,
            },
        };
        if !read {
            unread += 1;
        }
    }
    let _ = f;
    let children = mb
        .folders
        .iter()
        .filter(|c| c.parent == Some(idx) && !c.deleted && !c.hidden)
        .count();
    (keys.len(), unread, children)
}

fn view(state: &AppState, mb: &Mailbox, idx: u32) -> Value {
    let (t, u, c) = counts(state, mb, idx);
    folder_json(mb, idx, &mb.folders[idx as usize], t, u, c)
}

fn list_children(state: &AppState, mb: &Mailbox, parent: u32, include_hidden: bool) -> Vec<Value> {
    mb.folders
        .iter()
        .enumerate()
        .filter(|(_, f)| f.parent == Some(parent) && !f.deleted && (include_hidden || !f.hidden))
        .map(|(i, _)| view(state, mb, i as u32))
        .collect()
}

fn page(
    state: &AppState,
    path: &str,
    context: &str,
    q: &ODataQuery,
    items: Vec<Value>,
) -> Result<Response, GraphError> {
    let size = q.top.unwrap_or(10).clamp(1, 1000);
    let skip: usize = q
        .skip
        .as_deref()
        .map(|s| {
            s.parse()
                .map_err(|_| GraphError::bad_request("BadRequest", "Invalid $skip"))
        })
        .transpose()?
        .unwrap_or(0);
    let total = items.len();
    let mut out = Vec::new();
    for v in items.into_iter().skip(skip).take(size) {
        out.push(apply_select(
            v,
            q.select.as_deref(),
            MAIL_FOLDER,
            "mailFolder",
        )?);
    }
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
    Ok(respond::ok(&collection(
        &state.context(context),
        out,
        next,
        None,
    )))
}

/// `GET /users/{u}/mailFolders`.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let hidden = q.param("includeHiddenFolders") == Some("true");
    let items = list_children(&state, &mb.lock(), ROOT, hidden);
    page(
        &state,
        &format!("/users/{user}/mailFolders"),
        &format!("users('{user}')/mailFolders"),
        &q,
        items,
    )
}

/// `GET /users/{u}/mailFolders/{f}/childFolders`.
pub(crate) async fn children(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, folder)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let idx = access::folder(&mb, &folder)?;
    let hidden = q.param("includeHiddenFolders") == Some("true");
    let items = list_children(&state, &mb, idx, hidden);
    drop(mb);
    page(
        &state,
        &format!("/users/{user}/mailFolders/{folder}/childFolders"),
        &format!("users('{user}')/mailFolders('{folder}')/childFolders"),
        &q,
        items,
    )
}

/// `GET /users/{u}/mailFolders/{f}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, folder)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let idx = access::folder(&mb, &folder)?;
    let mut v = apply_select(
        view(&state, &mb, idx),
        q.select.as_deref(),
        MAIL_FOLDER,
        "mailFolder",
    )?;
    v["@odata.context"] = json!(state.context(&format!("users('{user}')/mailFolders/$entity")));
    Ok(respond::ok(&v))
}

fn display_name(body: &Value) -> Result<String, GraphError> {
    let name = body
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            GraphError::bad_request(
                "ErrorInvalidFolderName",
                "The folder name is invalid or missing.",
            )
        })?;
    if name.chars().count() > 255 {
        return Err(GraphError::bad_request(
            "ErrorInvalidFolderName",
            "The folder name is too long.",
        ));
    }
    Ok(name.to_string())
}

fn name_clash(mb: &Mailbox, parent: u32, name: &str, except: Option<u32>) -> bool {
    mb.folders.iter().enumerate().any(|(i, f)| {
        Some(i as u32) != except
            && f.parent == Some(parent)
            && !f.deleted
            && f.name.eq_ignore_ascii_case(name)
    })
}

fn create_in(
    state: &AppState,
    user: &str,
    parent_key: Option<&str>,
    body: &[u8],
) -> Result<Response, GraphError> {
    let body = json_body(body)?;
    let name = display_name(&body)?;
    let (_, mb) = access::mailbox(state, user)?;
    let mut mb = mb.lock();
    let parent = match parent_key {
        Some(k) => access::folder(&mb, k)?,
        None => ROOT,
    };
    if name_clash(&mb, parent, &name, None) {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        ));
    }
    let hidden = body
        .get("isHidden")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    mb.folders.push(Folder {
        name,
        parent: Some(parent),
        well_known: None,
        hidden,
        generated: 0,
        role: super::generate::FolderRole::Incoming,
        deleted: false,
        extras: vec![],
        log: vec![],
        version: 0,
    });
    let idx = mb.folders.len() as u32 - 1;
    mb.log_folder(idx);
    mb.log_folder(parent);
    let mut v = view(state, &mb, idx);
    v["@odata.context"] = json!(state.context(&format!("users('{user}')/mailFolders/$entity")));
    Ok(respond::json(StatusCode::CREATED, &v))
}

/// `POST /users/{u}/mailFolders`.
pub(crate) async fn create_top(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    create_in(&state, &user, None, &body)
}

/// `POST /users/{u}/mailFolders/{f}/childFolders`.
pub(crate) async fn create_child(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, folder)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    create_in(&state, &user, Some(&folder), &body)
}

/// `PATCH /users/{u}/mailFolders/{f}` (rename).
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, folder)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let body = json_body(&body)?;
    let name = display_name(&body)?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let idx = access::folder(&mb, &folder)?;
    if mb.folders[idx as usize].well_known.is_some() {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorCannotRenameDistinguishedFolder",
            "Distinguished folders cannot be renamed.",
        ));
    }
    let parent = mb.folders[idx as usize].parent.unwrap_or(ROOT);
    if name_clash(&mb, parent, &name, Some(idx)) {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        ));
    }
    mb.folders[idx as usize].name = name;
    mb.log_folder(idx);
    Ok(respond::ok(&view(&state, &mb, idx)))
}

/// `POST /users/{u}/mailFolders/{f}/move` `{"destinationId": ...}`.
pub(crate) async fn move_folder(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, folder)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let body = json_body(&body)?;
    let dest = body
        .get("destinationId")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            GraphError::bad_request("ErrorInvalidRequest", "destinationId is required.")
        })?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let idx = access::folder(&mb, &folder)?;
    let target = access::folder(&mb, dest)?;
    if mb.folders[idx as usize].well_known.is_some() {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorCannotMoveDistinguishedFolder",
            "Distinguished folders cannot be moved.",
        ));
    }
    // No cycles: target must not be the folder or one of its descendants.
    let mut p = Some(target);
    while let Some(x) = p {
        if x == idx {
            return Err(GraphError::bad_request(
                "ErrorMoveCopyFailed",
                "The move or copy operation failed: a folder cannot be moved into itself.",
            ));
        }
        p = mb.folders[x as usize].parent;
    }
    let name = mb.folders[idx as usize].name.clone();
    if name_clash(&mb, target, &name, Some(idx)) {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        ));
    }
    let old = mb.folders[idx as usize].parent;
    mb.folders[idx as usize].parent = Some(target);
    mb.log_folder(idx);
    if let Some(o) = old {
        mb.log_folder(o);
    }
    mb.log_folder(target);
    Ok(respond::ok(&view(&state, &mb, idx)))
}

/// `DELETE /users/{u}/mailFolders/{f}` (the folder and its subtree disappear).
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, folder)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let idx = access::folder(&mb, &folder)?;
    if mb.folders[idx as usize].well_known.is_some() {
        return Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "ErrorDeleteDistinguishedFolder",
            "Distinguished folders cannot be deleted.",
        ));
    }
    delete_subtree(&mut mb, idx, state.clock.now());
    Ok(respond::no_content())
}

/// Delete a folder and its descendants (messages go to Recoverable Items).
pub(crate) fn delete_subtree(mb: &mut Mailbox, idx: u32, now: chrono::DateTime<chrono::Utc>) {
    let kids: Vec<u32> = mb
        .folders
        .iter()
        .enumerate()
        .filter(|(_, f)| f.parent == Some(idx) && !f.deleted)
        .map(|(i, _)| i as u32)
        .collect();
    for k in kids {
        delete_subtree(mb, k, now);
    }
    for key in mb.folder_keys(idx) {
        mb.move_to(key, super::store::RECOVERABLE, now);
    }
    mb.folders[idx as usize].deleted = true;
    mb.log_folder(idx);
    if let Some(p) = mb.folders[idx as usize].parent {
        mb.log_folder(p);
    }
}

/// Token of `mailFolders/delta` rounds.
#[derive(Debug, Serialize, Deserialize)]
struct FolderDeltaTok {
    u: u32,
    /// Changes after this seq are reported (`None` = initial full round).
    base: Option<u64>,
    /// Round snapshot seq.
    upto: u64,
    /// Position in the round's item list.
    cur: usize,
    sel: Option<Vec<String>>,
    issued: i64,
}

const KINDS: Kinds = Kinds {
    round: "fdelta",
    skip: "fdelta-skip",
};

round::round_token!(FolderDeltaTok);

/// `GET /users/{u}/mailFolders/delta`.
pub(crate) async fn delta(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    can_read(&caller)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    q.reject(&["$filter", "$orderby", "$search", "$expand"])?;
    if let Some(sel) = &q.select {
        crate::odata::check_select(sel, MAIL_FOLDER, "mailFolder")?;
    }
    let prefer = Prefer::from_headers(&headers);
    let size = prefer.max_page_size.unwrap_or(10).min(1000);
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let now = state.clock.now().timestamp();
    let tok = round::token(&state, &q, &KINDS, uidx, mb.seq, || {
        Ok(FolderDeltaTok {
            u: uidx,
            base: None,
            upto: mb.seq,
            cur: 0,
            sel: q.select.clone(),
            issued: now,
        })
    })?;
    super::delta::check_expiry(&state, &mb, tok.base.unwrap_or(tok.upto), tok.issued)?;
    let visible = |mb: &Mailbox, i: usize| {
        let f = &mb.folders[i];
        if f.deleted || f.hidden || i as u32 == ROOT || f.parent.is_none() {
            return false;
        }
        // Under a hidden/deleted ancestor → not visible.
        let mut p = f.parent;
        while let Some(x) = p {
            let pf = &mb.folders[x as usize];
            if x == ROOT {
                return true;
            }
            if pf.deleted || pf.hidden {
                return false;
            }
            p = pf.parent;
        }
        false
    };
    let list: Vec<(u32, bool)> = match tok.base {
        None => (0..mb.folders.len())
            .filter(|i| visible(&mb, *i))
            .map(|i| (i as u32, true))
            .collect(),
        Some(base) => {
            let mut seen: Vec<u32> = Vec::new();
            for (seq, f) in mb.folder_log.iter().rev() {
                if *seq > base && *seq <= tok.upto && !seen.contains(f) && *f != ROOT {
                    seen.push(*f);
                }
            }
            seen.reverse();
            seen.into_iter()
                .map(|f| (f, visible(&mb, f as usize)))
                .collect()
        }
    };
    let mut out = Vec::new();
    for (f, present) in list.iter().skip(tok.cur).take(size) {
        if *present {
            out.push(apply_select(
                view(&state, &mb, *f),
                tok.sel.as_deref(),
                MAIL_FOLDER,
                "mailFolder",
            )?);
        } else {
            out.push(json!({"@odata.type": "#microsoft.graph.mailFolder", "id": folder_id(uidx, *f), "@removed": {"reason": "deleted"}}));
        }
    }
    let path = format!("/users/{user}/mailFolders/delta");
    let end = round::end(&KINDS, tok, size, list.len(), now);
    let (next, delta) = super::page_links(&state, &path, end);
    drop(mb);
    let body = collection(&state.context("Collection(mailFolder)"), out, next, delta);
    Ok(respond::with_preference(
        respond::ok(&body),
        prefer.applied(true),
    ))
}
