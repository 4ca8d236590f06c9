//! The drive endpoints: one dispatcher that parses Graph's drive URLs (see `route`) and
//! serves reads here; writes live in `write`, content transfer in `download`/`upload`.

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::content::Content;
use super::delta::{self, TokenError};
use super::json::{self as dj, Render};
use super::model::{Drive, DriveError, ItemIdx, Kind};
use super::route::{self, DriveSel, DriveUrl, ItemAddr, Op};
use super::state::{DriveState, drive_state};
use super::store::DriveStore;
use crate::auth::{Caller, Workload};
use crate::error::GraphError;
use crate::odata::{ODataQuery, SkipState, apply_select, collection};
use crate::state::AppState;

/// Roles that allow reading drives.
pub(crate) const READ_ROLES: &[&str] = &[
    "Files.Read.All",
    "Files.ReadWrite.All",
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.FullControl.All",
];
/// Roles that allow writing drives.
pub(crate) const WRITE_ROLES: &[&str] = &[
    "Files.ReadWrite.All",
    "Sites.ReadWrite.All",
    "Sites.FullControl.All",
];

/// Default page size of `children`.
const CHILDREN_PAGE: usize = 200;

/// Graph error for a model error.
pub(crate) fn model_err(e: DriveError) -> GraphError {
    let (code, status) = e.code_status();
    GraphError::new(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        code,
        e.to_string(),
    )
}

/// 404 `itemNotFound`.
pub(crate) fn not_found() -> GraphError {
    model_err(DriveError::NotFound)
}

/// Rendering context for this request.
pub(crate) fn render_ctx<'a>(st: &'a AppState, ds: &DriveState, tenant: &'a str) -> Render<'a> {
    Render {
        base: &st.base_url,
        codec: &st.tokens,
        now: st.clock.now(),
        url_ttl: ds.cfg.read().download_url_ttl,
        tenant_id: tenant,
    }
}

/// Resolves the drive a URL selects to its id.
pub(crate) fn resolve_drive(
    st: &AppState,
    store: &DriveStore,
    sel: &DriveSel,
) -> Result<String, GraphError> {
    match sel {
        DriveSel::Id(id) => {
            let d = store.drive(id).ok_or_else(not_found)?;
            if d.drive_type == super::model::DriveType::Business && owner_gone(st, &d.owner.id) {
                return Err(not_found());
            }
            Ok(d.id.clone())
        }
        DriveSel::User(u) => {
            let user_id = st
                .directory
                .read()
                .user(u)
                .map(|u| u.id.clone())
                .ok_or_else(|| GraphError::directory_not_found(u))?;
            store
                .user_drive_id(&user_id)
                .map(str::to_string)
                .ok_or_else(|| {
                    GraphError::new(
                        StatusCode::NOT_FOUND,
                        "ResourceNotFound",
                        "User's mysite not found.",
                    )
                })
        }
        DriveSel::Group(g) => store
            .group_drive
            .get(g.as_str())
            .and_then(|id| store.drive(id))
            .map(|d| d.id.clone())
            .ok_or_else(|| GraphError::directory_not_found(g)),
        DriveSel::Site(s) => {
            let idx = store.site(s).ok_or_else(not_found)?;
            store.sites[idx]
                .drive_ids
                .first()
                .cloned()
                .ok_or_else(not_found)
        }
    }
}

/// Whether a OneDrive owner was deleted longer ago than the retention period.
fn owner_gone(st: &AppState, user_id: &str) -> bool {
    let days = drive_state(st).cfg.read().onedrive_retention_days;
    let deleted = st
        .directory
        .read()
        .users
        .iter()
        .find(|u| u.id == user_id)
        .and_then(|u| u.deleted);
    deleted.is_some_and(|d| st.clock.now() - d > chrono::Duration::days(i64::from(days)))
}

/// Resolves an item address to a live item.
pub(crate) fn resolve_item(drive: &Drive, addr: &ItemAddr) -> Result<ItemIdx, GraphError> {
    let base = match &addr.id {
        None => Drive::ROOT,
        Some(id) => drive.find(id).ok_or_else(not_found)?,
    };
    match &addr.path {
        None => Ok(base),
        Some(p) => drive.resolve_path(base, p).ok_or_else(not_found),
    }
}

/// Computes missing QuickXorHashes off the async runtime.
pub(crate) async fn ensure_hashes(contents: Vec<Content>) {
    let missing: Vec<Content> = contents
        .into_iter()
        .filter(|c| c.cached_hash().is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let _ = tokio::task::spawn_blocking(move || {
        for c in &missing {
            c.quick_xor_hash();
        }
    })
    .await;
}

fn contents_of(drive: &Drive, items: &[ItemIdx]) -> Vec<Content> {
    items
        .iter()
        .filter_map(|&i| {
            let it = drive.item(i);
            if it.deleted.is_some() {
                None
            } else {
                it.content().cloned()
            }
        })
        .collect()
}

fn decoded_path(uri: &axum::http::Uri) -> Result<String, GraphError> {
    let raw = uri.path();
    let rel = raw.strip_prefix("/v1.0").unwrap_or(raw);
    percent_encoding::percent_decode_str(rel)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| GraphError::bad_request("invalidRequest", "The URL is not valid UTF-8."))
}

/// Entry point for every drive URL.
pub(crate) async fn drive_entry(
    State(st): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match dispatch(&st, &caller, &uri, &method, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    st: &AppState,
    caller: &Caller,
    uri: &axum::http::Uri,
    method: &Method,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, GraphError> {
    let path = decoded_path(uri)?;
    let q = ODataQuery::parse(uri.query())?;
    if path.trim_matches('/').ends_with("/drives") {
        caller.require_any(READ_ROLES, Workload::Files)?;
        return list_drives(st, &path, &q);
    }
    let Some(url) = route::parse(&path)? else {
        return Err(GraphError::no_resource(
            path.rsplit('/').next().unwrap_or(""),
        ));
    };
    let write = *method != Method::GET && *method != Method::HEAD;
    caller.require_any(
        if write { WRITE_ROLES } else { READ_ROLES },
        Workload::Files,
    )?;
    match (method.clone(), url) {
        (Method::GET, DriveUrl::Drive(sel)) => get_drive(st, &sel, &q),
        (Method::GET, DriveUrl::Item(sel, addr, op)) => {
            get_item_op(st, &sel, &addr, op, &q, headers).await
        }
        (m, DriveUrl::Item(sel, addr, op)) => {
            super::write::write_op(st, caller, m, &sel, &addr, op, &q, headers, body).await
        }
        _ => Err(GraphError::method_not_allowed()),
    }
}

fn list_drives(st: &AppState, path: &str, q: &ODataQuery) -> Result<Response, GraphError> {
    let ds = drive_state(st);
    let store = ds.store.read();
    let tenant = st.tenant_id();
    let r = render_ctx(st, &ds, &tenant);
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let ids: Vec<String> = match segs.as_slice() {
        ["users", u, "drives"] => vec![resolve_drive(st, &store, &DriveSel::User(u.to_string()))?],
        ["groups", g, "drives"] => {
            vec![resolve_drive(st, &store, &DriveSel::Group(g.to_string()))?]
        }
        ["sites", s, "drives"] => {
            let idx = store.site(s).ok_or_else(not_found)?;
            store.sites[idx].drive_ids.clone()
        }
        _ => return Err(GraphError::no_resource("drives")),
    };
    let mut value = Vec::new();
    for id in ids {
        let d = store.drive(&id).ok_or_else(not_found)?;
        let v = dj::drive_json(&r, d, &store.sites[d.site]);
        value.push(apply_select(
            v,
            q.select.as_deref(),
            dj::DRIVE_PROPS,
            "drive",
        )?);
    }
    Ok(crate::respond::ok(&collection(
        &st.context("drives"),
        value,
        None,
        None,
    )))
}

fn get_drive(st: &AppState, sel: &DriveSel, q: &ODataQuery) -> Result<Response, GraphError> {
    let ds = drive_state(st);
    let store = ds.store.read();
    let id = resolve_drive(st, &store, sel)?;
    let d = store.drive(&id).ok_or_else(not_found)?;
    let tenant = st.tenant_id();
    let r = render_ctx(st, &ds, &tenant);
    let mut v = dj::drive_json(&r, d, &store.sites[d.site]);
    v["@odata.context"] = json!(st.context("drives/$entity"));
    Ok(crate::respond::ok(&apply_select(
        v,
        q.select.as_deref(),
        dj::DRIVE_PROPS,
        "drive",
    )?))
}

async fn get_item_op(
    st: &AppState,
    sel: &DriveSel,
    addr: &ItemAddr,
    op: Op,
    q: &ODataQuery,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    let ds = drive_state(st);
    let drive_id = resolve_drive(st, &ds.store.read(), sel)?;
    match op {
        Op::Item => {
            let want_children = q
                .expand
                .as_deref()
                .is_some_and(|e| e.split(',').any(|x| x.trim() == "children"));
            let pre = {
                let store = ds.store.read();
                let d = store.drive(&drive_id).ok_or_else(not_found)?;
                let idx = resolve_item(d, addr)?;
                let mut list = vec![idx];
                if want_children {
                    list.extend(d.live_children(idx));
                }
                contents_of(d, &list)
            };
            ensure_hashes(pre).await;
            let store = ds.store.read();
            let d = store.drive(&drive_id).ok_or_else(not_found)?;
            let idx = resolve_item(d, addr)?;
            let tenant = st.tenant_id();
            let r = render_ctx(st, &ds, &tenant);
            let site = &store.sites[d.site];
            let mut v = dj::item_json(&r, d, site, idx, false);
            if want_children {
                let kids: Vec<Value> = d
                    .live_children(idx)
                    .map(|c| dj::item_json(&r, d, site, c, false))
                    .collect();
                v["children"] = Value::Array(kids);
            }
            let mut v = apply_select(v, q.select.as_deref(), dj::DRIVE_ITEM_PROPS, "driveItem")?;
            v["@odata.context"] =
                json!(st.context(&format!("drives('{}')/items/$entity", drive_id)));
            Ok(crate::respond::ok(&v))
        }
        Op::Children => children(st, &ds, &drive_id, addr, q).await,
        Op::Content => super::download::content_redirect(st, &ds, &drive_id, addr, None, headers),
        Op::VersionContent(v) => {
            super::download::content_redirect(st, &ds, &drive_id, addr, Some(&v), headers)
        }
        Op::Delta(tok) => delta_page(st, &ds, &drive_id, addr, tok, q, headers).await,
        Op::Versions | Op::Version(_) => versions(st, &ds, &drive_id, addr, op),
        Op::Permissions | Op::Permission(_) => permissions(st, &ds, &drive_id, addr, op),
        Op::CreateUploadSession | Op::RestoreVersion(_) | Op::Invite | Op::CreateLink => {
            Err(GraphError::method_not_allowed())
        }
    }
}

async fn children(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    addr: &ItemAddr,
    q: &ODataQuery,
) -> Result<Response, GraphError> {
    let top = q.top.unwrap_or(CHILDREN_PAGE).clamp(1, 999);
    let offset = match &q.skiptoken {
        Some(t) => {
            st.tokens
                .decode::<SkipState>("drive.children", t)
                .ok_or_else(|| GraphError::bad_request("invalidRequest", "Invalid skip token."))?
                .offset
        }
        None => 0,
    };
    let page: Vec<ItemIdx> = {
        let store = ds.store.read();
        let d = store.drive(drive_id).ok_or_else(not_found)?;
        let idx = resolve_item(d, addr)?;
        if !d.item(idx).is_folder() {
            return Ok(crate::respond::ok(&collection(
                &st.context("Collection(driveItem)"),
                vec![],
                None,
                None,
            )));
        }
        d.live_children(idx).skip(offset).take(top + 1).collect()
    };
    let pre = {
        let store = ds.store.read();
        let d = store.drive(drive_id).ok_or_else(not_found)?;
        contents_of(d, &page[..page.len().min(top)])
    };
    ensure_hashes(pre).await;
    let store = ds.store.read();
    let d = store.drive(drive_id).ok_or_else(not_found)?;
    let tenant = st.tenant_id();
    let r = render_ctx(st, ds, &tenant);
    let site = &store.sites[d.site];
    let mut value = Vec::new();
    for &i in page.iter().take(top) {
        let v = dj::item_json(&r, d, site, i, false);
        value.push(apply_select(
            v,
            q.select.as_deref(),
            dj::DRIVE_ITEM_PROPS,
            "driveItem",
        )?);
    }
    let next = (page.len() > top).then(|| {
        let tok = st.tokens.encode(
            "drive.children",
            &SkipState {
                offset: offset + top,
            },
        );
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.pairs {
            if k != "$skiptoken" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("$skiptoken", &tok);
        format!(
            "{}?{}",
            st.graph_url(&request_path_for(drive_id, addr, "children")),
            ser.finish()
        )
    });
    Ok(crate::respond::ok(&collection(
        &st.context("Collection(driveItem)"),
        value,
        next,
        None,
    )))
}

fn request_path_for(drive_id: &str, addr: &ItemAddr, op: &str) -> String {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let base = match &addr.id {
        None => format!("/drives/{}/root", enc(drive_id)),
        Some(id) => format!("/drives/{}/items/{}", enc(drive_id), enc(id)),
    };
    let path = addr
        .path
        .as_ref()
        .map(|p| format!(":/{}:", p.split('/').map(enc).collect::<Vec<_>>().join("/")))
        .unwrap_or_default();
    format!("{base}{path}/{op}")
}

async fn delta_page(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    addr: &ItemAddr,
    fn_token: Option<String>,
    q: &ODataQuery,
    headers: &HeaderMap,
) -> Result<Response, GraphError> {
    let token = fn_token.or_else(|| q.param("token").map(str::to_string));
    let now = st.clock.now();
    let ttl = ds.cfg.read().delta_token_ttl;
    let exclude = headers
        .get("deltaexcludeparent")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let page_size = q.top.unwrap_or(delta::DEFAULT_PAGE);
    let restart = st.graph_url(&format!("/drives/{drive_id}/root/delta"));
    let resync = || {
        GraphError::new(StatusCode::GONE, "resyncRequired", "Resync required. Replace any local items with the server's version (including deletes) if you're sure that the service was up to date with your local changes when you last sync'd. Upload any local changes that the server doesn't know about.")
            .with_inner("code", json!("resyncChangesApplyDifferences"))
            .with_header(header::LOCATION, &restart)
    };
    let page = {
        let store = ds.store.read();
        let d = store.drive(drive_id).ok_or_else(not_found)?;
        if resolve_item(d, addr)? != Drive::ROOT {
            return Err(GraphError::bad_request(
                "invalidRequest",
                "Delta is only supported on the root of a drive.",
            ));
        }
        let start =
            delta::parse_start(&st.tokens, d, token.as_deref(), now, ttl).map_err(|e| match e {
                TokenError::Resync => resync(),
                TokenError::Malformed => {
                    GraphError::bad_request("invalidRequest", "Invalid token.")
                }
            })?;
        let mut cursors = ds.cursors.lock();
        cursors
            .page(&st.tokens, d, start, page_size, exclude, now)
            .map_err(|_| resync())?
    };
    let pre = {
        let store = ds.store.read();
        let d = store.drive(drive_id).ok_or_else(not_found)?;
        contents_of(d, &page.items)
    };
    ensure_hashes(pre).await;
    let store = ds.store.read();
    let d = store.drive(drive_id).ok_or_else(not_found)?;
    let tenant = st.tenant_id();
    let r = render_ctx(st, ds, &tenant);
    let site = &store.sites[d.site];
    let mut value = Vec::with_capacity(page.items.len());
    for &i in &page.items {
        let v = dj::item_json(&r, d, site, i, true);
        value.push(apply_select(
            v,
            q.select.as_deref(),
            dj::DRIVE_ITEM_PROPS,
            "driveItem",
        )?);
    }
    let link = |tok: &str| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.pairs {
            if k != "token" && k != "$skiptoken" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("token", tok);
        format!("{restart}?{}", ser.finish())
    };
    let next = page.next.as_deref().map(link);
    let delta = page.delta.as_deref().map(link);
    Ok(crate::respond::ok(&collection(
        &st.context("Collection(driveItem)"),
        value,
        next,
        delta,
    )))
}

fn versions(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    addr: &ItemAddr,
    op: Op,
) -> Result<Response, GraphError> {
    let store = ds.store.read();
    let d = store.drive(drive_id).ok_or_else(not_found)?;
    let idx = resolve_item(d, addr)?;
    let it = d.item(idx);
    let Kind::File {
        content,
        version,
        history,
        ..
    } = &it.kind
    else {
        return Err(GraphError::bad_request(
            "invalidRequest",
            "Versions are only available for files.",
        ));
    };
    let mut all = vec![dj::version_json(
        *version,
        content.len(),
        it.modified,
        &it.modified_by,
    )];
    for v in history.iter().rev() {
        all.push(dj::version_json(
            v.label,
            v.content.len(),
            v.modified,
            &v.by,
        ));
    }
    match op {
        Op::Version(label) => {
            let want = label.trim_end_matches(".0");
            let mut v = all
                .into_iter()
                .find(|v| {
                    v["id"]
                        .as_str()
                        .is_some_and(|id| id.trim_end_matches(".0") == want)
                })
                .ok_or_else(not_found)?;
            v["@odata.context"] = json!(st.context("driveItemVersion/$entity"));
            Ok(crate::respond::ok(&v))
        }
        _ => Ok(crate::respond::ok(&collection(
            &st.context("Collection(driveItemVersion)"),
            all,
            None,
            None,
        ))),
    }
}

fn permissions(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    addr: &ItemAddr,
    op: Op,
) -> Result<Response, GraphError> {
    let store = ds.store.read();
    let d = store.drive(drive_id).ok_or_else(not_found)?;
    let idx = resolve_item(d, addr)?;
    let url = dj::item_web_url(d, idx);
    // Inherited owner permission from the root, then the item's own.
    let mut perms: Vec<Value> = Vec::new();
    if idx != Drive::ROOT {
        for p in &d.item(Drive::ROOT).permissions {
            let mut v = dj::permission_json(p, &url);
            v["inheritedFrom"] = json!({"driveId": d.id, "id": d.item(Drive::ROOT).id, "path": format!("/drives/{}/root:", d.id)});
            perms.push(v);
        }
    }
    perms.extend(
        d.item(idx)
            .permissions
            .iter()
            .map(|p| dj::permission_json(p, &url)),
    );
    match op {
        Op::Permission(pid) => {
            let v = perms
                .into_iter()
                .find(|v| v["id"] == json!(pid))
                .ok_or_else(not_found)?;
            Ok(crate::respond::ok(&v))
        }
        _ => Ok(crate::respond::ok(&collection(
            &st.context("Collection(permission)"),
            perms,
            None,
            None,
        ))),
    }
}

/// A JSON response with a status and an optional `Location`.
pub(crate) fn json_status(status: StatusCode, v: &Value, location: Option<&str>) -> Response {
    let mut r = crate::respond::json(status, v);
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}
