//! Sharing writes on drive items: `POST …/invite` (grant roles to users) and
//! `POST …/createLink` (a sharing link). Both add a permission to the item, which
//! `GET …/permissions` then lists, so a restore of permissions can be checked.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::api::{json_status, not_found, resolve_item};
use super::json as dj;
use super::model::{Ident, Permission};
use super::route::ItemAddr;
use super::state::DriveState;
use crate::error::GraphError;
use crate::odata::collection;
use crate::state::AppState;

fn bad(msg: impl Into<String>) -> GraphError {
    GraphError::bad_request("invalidRequest", msg)
}

fn role(r: &str) -> Result<&'static str, GraphError> {
    match r {
        "read" => Ok("read"),
        "write" => Ok("write"),
        "owner" => Err(bad("The owner role cannot be granted by invite.")),
        other => Err(bad(format!("Invalid role '{other}'."))),
    }
}

/// A directory user named by a `driveRecipient` (`objectId`, `email` or `alias`).
fn recipient(st: &AppState, r: &Value) -> Result<Arc<Ident>, GraphError> {
    let dir = st.directory.read();
    let object_id = r["objectId"].as_str();
    let email = r["email"].as_str().or_else(|| r["alias"].as_str());
    let user = dir.users.iter().filter(|u| u.deleted.is_none()).find(|u| {
        object_id.is_some_and(|id| u.id.eq_ignore_ascii_case(id))
            || email.is_some_and(|e| {
                u.upn.eq_ignore_ascii_case(e)
                    || u.mail.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(e))
            })
    });
    match user {
        Some(u) => Ok(Arc::new(Ident {
            id: u.id.clone(),
            display_name: u.display_name.clone(),
            email: u.mail.clone().unwrap_or_else(|| u.upn.clone()),
        })),
        None => Err(GraphError::bad_request(
            "invalidRequest",
            format!(
                "One or more users could not be resolved: {}",
                object_id.or(email).unwrap_or("(no recipient)")
            ),
        )),
    }
}

fn new_perm_id(d: &super::model::Drive, idx: u32) -> String {
    let n = d.item(idx).permissions.len() + 1;
    format!("{}-grant{n}", d.item(idx).id)
}

/// `POST …/items/{id}/invite`: `{recipients: [driveRecipient], roles: [read|write],
/// requireSignIn, sendInvitation}` → 200 with the permissions created.
pub(crate) fn invite(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    addr: &ItemAddr,
    v: &Value,
) -> Result<Response, GraphError> {
    let recipients = v["recipients"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("Property 'recipients' is required."))?;
    let roles = v["roles"]
        .as_array()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("Property 'roles' is required."))?
        .iter()
        .map(|r| role(r.as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()?;
    let who = recipients
        .iter()
        .map(|r| recipient(st, r))
        .collect::<Result<Vec<_>, _>>()?;
    let mut store = ds.store.write();
    let d = store.drive_mut(drive_id).ok_or_else(not_found)?;
    let idx = resolve_item(d, addr)?;
    let url = dj::item_web_url(d, idx);
    let mut out = Vec::new();
    for w in who {
        let p = Permission {
            id: new_perm_id(d, idx),
            roles: roles.clone(),
            granted_to: Some(w),
            link: None,
        };
        out.push(dj::permission_json(&p, &url));
        d.add_permission(idx, p);
    }
    Ok(crate::respond::ok(&collection(
        &st.context("Collection(permission)"),
        out,
        None,
        None,
    )))
}

/// `POST …/items/{id}/createLink`: `{type: view|edit|embed, scope: anonymous|organization|users}`
/// → 201 with the link permission (an identical existing link answers 200 with it).
pub(crate) fn create_link(
    st: &AppState,
    ds: &DriveState,
    drive_id: &str,
    addr: &ItemAddr,
    v: &Value,
) -> Result<Response, GraphError> {
    let ty = match v["type"].as_str() {
        Some("view") => "view",
        Some("edit") => "edit",
        Some("embed") => "embed",
        Some(o) => return Err(bad(format!("Invalid link type '{o}'."))),
        None => return Err(bad("Property 'type' is required.")),
    };
    let scope = match v["scope"].as_str() {
        Some("anonymous") | None => "anonymous",
        Some("organization") => "organization",
        Some("users") => "users",
        Some(o) => return Err(bad(format!("Invalid link scope '{o}'."))),
    };
    let mut store = ds.store.write();
    let d = store.drive_mut(drive_id).ok_or_else(not_found)?;
    let idx = resolve_item(d, addr)?;
    let url = dj::item_web_url(d, idx);
    if let Some(p) = d
        .item(idx)
        .permissions
        .iter()
        .find(|p| p.link == Some((ty, scope)))
    {
        return Ok(crate::respond::ok(&dj::permission_json(p, &url)));
    }
    let p = Permission {
        id: new_perm_id(d, idx),
        roles: vec![if ty == "edit" { "write" } else { "read" }],
        granted_to: None,
        link: Some((ty, scope)),
    };
    let body = dj::permission_json(&p, &url);
    d.add_permission(idx, p);
    let mut body = body;
    body["@odata.context"] = json!(st.context("permission/$entity"));
    Ok(json_status(StatusCode::CREATED, &body, None))
}
