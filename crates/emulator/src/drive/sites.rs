//! SharePoint sites, lists and list items: `/sites/getAllSites`, `/sites?search=`,
//! `/sites/{id}`, `/sites/root`, `/sites/{host}:/sites/{name}`, `/sites/{id}/lists[/{id}[/items[/{id}]]]`
//! (`$expand=fields`), `/groups/{id}/sites/root`. Drive URLs below a site are handed to the
//! drive dispatcher.

use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::not_found;
use super::json::{self as dj, SITE_PROPS};
use super::state::drive_state;
use super::store::DriveStore;
use crate::auth::{Caller, Workload};
use crate::error::GraphError;
use crate::odata::{ODataQuery, SkipState, apply_select, collection};
use crate::state::AppState;

/// Roles that allow reading sites.
const SITE_READ: &[&str] = &[
    "Sites.Read.All",
    "Sites.ReadWrite.All",
    "Sites.FullControl.All",
];
const SITE_PAGE: usize = 200;

/// Entry for `/sites…` and `/groups/{id}/sites…`.
pub(crate) async fn sites_entry(
    state: State<AppState>,
    caller: Caller,
    uri: OriginalUri,
    method: Method,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri
        .0
        .path()
        .strip_prefix("/v1.0")
        .unwrap_or(uri.0.path())
        .to_string();
    let decoded = percent_encoding::percent_decode_str(&path)
        .decode_utf8_lossy()
        .into_owned();
    if let Ok(Some(_)) = super::route::parse(&decoded) {
        return super::api::drive_entry(state, caller, uri, method, headers, body).await;
    }
    if decoded.trim_matches('/').ends_with("/drives") {
        return super::api::drive_entry(state, caller, uri, method, headers, body).await;
    }
    let State(st) = state;
    if method == Method::POST {
        let segs: Vec<&str> = decoded.trim_matches('/').split('/').collect();
        let result = match axum::body::to_bytes(body, 4 * 1024 * 1024).await {
            Ok(b) => super::list_write::post(&st, &caller, &segs, &b),
            Err(_) => Err(GraphError::bad_request(
                "invalidRequest",
                "The request body is too large or unreadable.",
            )),
        };
        return result.unwrap_or_else(|e| e.into_response());
    }
    let result = (|| {
        if method != Method::GET {
            return Err(GraphError::method_not_allowed());
        }
        caller.require_any(SITE_READ, Workload::Files)?;
        let q = ODataQuery::parse(uri.0.query())?;
        serve(&st, &decoded, &q)
    })();
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn resolve_site(st: &AppState, store: &DriveStore, seg: &str) -> Result<usize, GraphError> {
    // `{host}:/sites/{name}:` path addressing.
    if let Some((host, path)) = seg.split_once(":/") {
        let path = path.trim_end_matches(':').trim_matches('/');
        let url = format!("https://{host}/{path}");
        return store
            .sites
            .iter()
            .position(|s| !s.removed && s.web_url.eq_ignore_ascii_case(&url))
            .ok_or_else(not_found);
    }
    let _ = st;
    store.site(seg).ok_or_else(not_found)
}

fn page<T>(
    st: &AppState,
    all: Vec<T>,
    q: &ODataQuery,
    kind: &str,
    link_path: &str,
) -> Result<(Vec<T>, Option<String>), GraphError> {
    let top = q.top.unwrap_or(SITE_PAGE).clamp(1, 999);
    let offset = match &q.skiptoken {
        Some(t) => {
            st.tokens
                .decode::<SkipState>(kind, t)
                .ok_or_else(|| GraphError::bad_request("invalidRequest", "Invalid skip token."))?
                .offset
        }
        None => 0,
    };
    let total = all.len();
    let items: Vec<T> = all.into_iter().skip(offset).take(top).collect();
    let next = (offset + top < total).then(|| {
        let tok = st.tokens.encode(
            kind,
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
        format!("{}?{}", st.graph_url(link_path), ser.finish())
    });
    Ok((items, next))
}

fn serve(st: &AppState, path: &str, q: &ODataQuery) -> Result<Response, GraphError> {
    let ds = drive_state(st);
    let store = ds.store.read();
    let tenant = st.tenant_id();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let site_value = |i: usize| {
        apply_select(
            dj::site_json(&store.sites[i], &tenant),
            q.select.as_deref(),
            SITE_PROPS,
            "site",
        )
    };
    match segs.as_slice() {
        ["sites"]
        | [
            "sites",
            "getAllSites"
            | "getAllSites()"
            | "microsoft.graph.getAllSites"
            | "microsoft.graph.getAllSites()",
        ] => {
            let search = q
                .search
                .clone()
                .or_else(|| q.param("search").map(str::to_string));
            if segs.len() == 1 && search.is_none() {
                return Err(GraphError::bad_request(
                    "invalidRequest",
                    "Listing sites requires ?search= or getAllSites.",
                ));
            }
            let needle = search.unwrap_or_default().trim_matches('"').to_lowercase();
            let all: Vec<usize> = (0..store.sites.len())
                .filter(|&i| !store.sites[i].removed)
                .filter(|&i| {
                    needle.is_empty()
                        || needle == "*"
                        || store.sites[i].display_name.to_lowercase().contains(&needle)
                        || store.sites[i].name.to_lowercase().contains(&needle)
                })
                .collect();
            let link = if segs.len() == 1 {
                "/sites"
            } else {
                "/sites/getAllSites"
            };
            let (items, next) = page(st, all, q, "sites.list", link)?;
            let value = items
                .into_iter()
                .map(site_value)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(crate::respond::ok(&collection(
                &st.context("sites"),
                value,
                next,
                None,
            )))
        }
        ["groups", g, "sites", "root"] => {
            let i = store
                .sites
                .iter()
                .position(|s| !s.removed && s.group_id.as_deref() == Some(*g))
                .ok_or_else(not_found)?;
            ok_entity(st, site_value(i)?, "sites/$entity")
        }
        ["sites", s] => {
            let i = resolve_site(st, &store, s)?;
            ok_entity(st, site_value(i)?, "sites/$entity")
        }
        ["sites", s, "sites"] => {
            resolve_site(st, &store, s)?;
            Ok(crate::respond::ok(&collection(
                &st.context("sites"),
                vec![],
                None,
                None,
            )))
        }
        ["sites", s, "lists"] => {
            let i = resolve_site(st, &store, s)?;
            let site = &store.sites[i];
            let all: Vec<Value> = site
                .lists
                .iter()
                .map(|l| with_columns(dj::list_json(site, l, &tenant), l, q))
                .collect();
            let (items, next) = page(
                st,
                all,
                q,
                "sites.lists",
                &format!("/sites/{}/lists", site.id),
            )?;
            Ok(crate::respond::ok(&collection(
                &st.context("lists"),
                items,
                next,
                None,
            )))
        }
        ["sites", s, "lists", l] => {
            let i = resolve_site(st, &store, s)?;
            let site = &store.sites[i];
            let list = site
                .lists
                .iter()
                .find(|x| x.id.eq_ignore_ascii_case(l) || x.display_name.eq_ignore_ascii_case(l))
                .ok_or_else(not_found)?;
            ok_entity(
                st,
                with_columns(dj::list_json(site, list, &tenant), list, q),
                "lists/$entity",
            )
        }
        ["sites", s, "lists", l, "items"] => {
            let i = resolve_site(st, &store, s)?;
            let site = &store.sites[i];
            let list = site
                .lists
                .iter()
                .find(|x| x.id.eq_ignore_ascii_case(l) || x.display_name.eq_ignore_ascii_case(l))
                .ok_or_else(not_found)?;
            let fields = q
                .expand
                .as_deref()
                .is_some_and(|e| e.trim_start().starts_with("fields"));
            let all: Vec<Value> = list
                .items
                .iter()
                .map(|it| dj::list_item_json(site, list, it, fields))
                .collect();
            let (items, next) = page(
                st,
                all,
                q,
                "sites.items",
                &format!("/sites/{}/lists/{}/items", site.id, list.id),
            )?;
            Ok(crate::respond::ok(&collection(
                &st.context("listItems"),
                items,
                next,
                None,
            )))
        }
        ["sites", s, "lists", l, "items", id] | ["sites", s, "lists", l, "items", id, "fields"] => {
            let i = resolve_site(st, &store, s)?;
            let site = &store.sites[i];
            let list = site
                .lists
                .iter()
                .find(|x| x.id.eq_ignore_ascii_case(l) || x.display_name.eq_ignore_ascii_case(l))
                .ok_or_else(not_found)?;
            let item = list
                .items
                .iter()
                .find(|x| x.id.to_string() == *id)
                .ok_or_else(not_found)?;
            if segs.len() == 7 {
                return ok_entity(
                    st,
                    Value::Object(item.fields.clone()),
                    "fieldValueSet/$entity",
                );
            }
            let fields = q
                .expand
                .as_deref()
                .is_some_and(|e| e.trim_start().starts_with("fields"));
            ok_entity(
                st,
                dj::list_item_json(site, list, item, fields),
                "listItems/$entity",
            )
        }
        _ => Err(GraphError::no_resource(segs.last().copied().unwrap_or(""))),
    }
}

/// Adds `columns` (the list's writable columns, then the read-only system ones) when the
/// query asks for `$expand=columns`.
fn with_columns(mut v: Value, list: &super::store::SpList, q: &ODataQuery) -> Value {
    let want = q
        .expand
        .as_deref()
        .is_some_and(|e| e.split(',').any(|x| x.trim().starts_with("columns")));
    if !want {
        return v;
    }
    let mut cols: Vec<Value> = list
        .columns
        .iter()
        .map(|c| json!({"name": c, "displayName": c, "readOnly": false, "hidden": false, "text": {}}))
        .collect();
    for c in [
        "ID",
        "Created",
        "Modified",
        "Author",
        "Editor",
        "ContentType",
        "Attachments",
    ] {
        cols.push(json!({"name": c, "displayName": c, "readOnly": true, "hidden": false}));
    }
    v["columns"] = Value::Array(cols);
    v
}

fn ok_entity(st: &AppState, mut v: Value, ctx: &str) -> Result<Response, GraphError> {
    v["@odata.context"] = json!(st.context(ctx));
    Ok(crate::respond::ok(&v))
}
