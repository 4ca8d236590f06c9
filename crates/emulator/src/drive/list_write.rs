//! SharePoint list writes: `POST /sites/{id}/lists` (create a generic list, optionally with
//! `columns`) and `POST /sites/{id}/lists/{id}/items` (create an item from `fields`).
//!
//! As on SharePoint, system columns are read-only: a create that names one (`ID`, `Created`,
//! `Modified`, `Author`, `Editor`, `ContentType`, `Attachments`, `@odata.etag`, …) is a 400
//! `invalidRequest` naming the field; so is a field the list has no column for when the list
//! declares its columns.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::api::{WRITE_ROLES, json_status, not_found};
use super::json as dj;
use super::state::drive_state;
use super::store::{ListItem, SpList};
use crate::auth::{Caller, Workload};
use crate::error::GraphError;
use crate::state::AppState;

/// Field names SharePoint computes itself (never writable through Graph).
pub const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "ID",
    "ContentType",
    "ContentTypeId",
    "Created",
    "Modified",
    "Author",
    "Editor",
    "AuthorLookupId",
    "EditorLookupId",
    "Attachments",
    "Edit",
    "LinkTitle",
    "LinkTitleNoMenu",
    "DocIcon",
    "ItemChildCount",
    "FolderChildCount",
    "_UIVersionString",
    "AppAuthorLookupId",
    "AppEditorLookupId",
];

fn bad(msg: impl Into<String>) -> GraphError {
    GraphError::bad_request("invalidRequest", msg)
}

/// Whether a field name is computed by SharePoint (system column or OData annotation).
pub fn is_read_only(name: &str) -> bool {
    READ_ONLY_FIELDS.contains(&name) || name.starts_with('@') || name.starts_with('_')
}

/// `POST` below `/sites/{id}/lists…`.
pub(crate) fn post(
    st: &AppState,
    caller: &Caller,
    segs: &[&str],
    body: &[u8],
) -> Result<Response, GraphError> {
    caller.require_any(WRITE_ROLES, Workload::Files)?;
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| bad("The request body is not valid JSON."))?
    };
    match segs {
        ["sites", s, "lists"] => create_list(st, caller, s, &v),
        ["sites", s, "lists", l, "items"] => create_item(st, caller, s, l, &v),
        _ => Err(GraphError::method_not_allowed()),
    }
}

fn create_list(
    st: &AppState,
    caller: &Caller,
    site: &str,
    v: &Value,
) -> Result<Response, GraphError> {
    let display = v["displayName"]
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| bad("Property 'displayName' is required."))?
        .to_string();
    let template = match v.pointer("/list/template").and_then(Value::as_str) {
        None | Some("genericList") => "genericList",
        Some(other) => {
            return Err(bad(format!(
                "Only genericList lists can be created here, not '{other}'."
            )));
        }
    };
    let columns: Vec<String> = v["columns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let ds = drive_state(st);
    let mut store = ds.store.write();
    let si = store.site(site).ok_or_else(not_found)?;
    let now = st.clock.now();
    let tenant = st.tenant_id();
    let s = &mut store.sites[si];
    if s.lists
        .iter()
        .any(|l| l.display_name.eq_ignore_ascii_case(&display))
    {
        return Err(GraphError::new(
            StatusCode::CONFLICT,
            "nameAlreadyExists",
            format!(
                "A list, survey, discussion board, or document library with the specified title '{display}' already exists in this Web site."
            ),
        ));
    }
    let url_name: String = display
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let by = super::write::writer(caller);
    let list = SpList {
        id: uuid::Uuid::new_v4().to_string(),
        name: url_name.clone(),
        display_name: display,
        template,
        drive_id: None,
        items: Vec::new(),
        created: now,
        modified: now,
        web_url: format!("{}/Lists/{url_name}", s.web_url),
        created_by: by,
        columns,
    };
    let mut out = dj::list_json(s, &list, &tenant);
    s.lists.push(list);
    out["@odata.context"] = json!(st.context("lists/$entity"));
    Ok(json_status(StatusCode::CREATED, &out, None))
}

fn create_item(
    st: &AppState,
    caller: &Caller,
    site: &str,
    list: &str,
    v: &Value,
) -> Result<Response, GraphError> {
    let fields: Map<String, Value> = match v.get("fields") {
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(bad("Property 'fields' must be an object.")),
        None => Map::new(),
    };
    if let Some(k) = fields.keys().find(|k| is_read_only(k)) {
        return Err(bad(format!("Field '{k}' is read-only")));
    }
    let ds = drive_state(st);
    let mut store = ds.store.write();
    let si = store.site(site).ok_or_else(not_found)?;
    let now = st.clock.now();
    let by = super::write::writer(caller);
    let s = &mut store.sites[si];
    let li = s
        .lists
        .iter()
        .position(|x| x.id.eq_ignore_ascii_case(list) || x.display_name.eq_ignore_ascii_case(list))
        .ok_or_else(not_found)?;
    let l = &s.lists[li];
    if l.template == "documentLibrary" {
        return Err(bad(
            "Items of a document library are created by uploading files to its drive.",
        ));
    }
    if !l.columns.is_empty()
        && let Some(k) = fields
            .keys()
            .find(|k| k.as_str() != "Title" && !l.columns.iter().any(|c| c == *k))
    {
        return Err(bad(format!("Field '{k}' is not recognized")));
    }
    let id = l.items.iter().map(|i| i.id).max().unwrap_or(0) + 1;
    let item_guid = uuid::Uuid::new_v4().to_string();
    let mut all = fields;
    all.insert("@odata.etag".into(), json!(format!("\"{item_guid},1\"")));
    all.insert("id".into(), json!(id.to_string()));
    all.insert("ContentType".into(), json!("Item"));
    all.insert("Created".into(), json!(crate::clock::iso(now)));
    all.insert("Modified".into(), json!(crate::clock::iso(now)));
    all.insert("Attachments".into(), json!(false));
    let item = ListItem {
        id,
        fields: all,
        created: now,
        modified: now,
        created_by: by.clone(),
        modified_by: by,
        etag_n: 1,
        guid: item_guid,
    };
    let l = &mut s.lists[li];
    l.items.push(item);
    l.modified = now;
    let (s, l) = (&store.sites[si], &store.sites[si].lists[li]);
    let mut out = dj::list_item_json(s, l, l.items.last().expect("just pushed"), true);
    out["@odata.context"] = json!(st.context("listItems/$entity"));
    Ok(json_status(StatusCode::CREATED, &out, None))
}
