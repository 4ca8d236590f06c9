//! Contacts: the default contact folder, contacts list/get/create/delete, `contactFolders/delta`
//! and per-folder `contacts/delta`.

use super::access::{self, json_body};
use super::ids::ExId;
use super::json::change_key;
use super::pim::{CREATED_BIT, generated_contact};
use super::round::{self, Kinds};
use super::store::Mailbox;
use crate::auth::{Caller, Workload};
use crate::clock::iso;
use crate::error::GraphError;
use crate::odata::{ODataQuery, Prefer, apply_select, collection};
use crate::respond;
use crate::schema_props::CONTACT;
use crate::state::AppState;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const READ: &[&str] = &["Contacts.Read", "Contacts.ReadWrite"];
const WRITE: &[&str] = &["Contacts.ReadWrite"];

fn numbers(state: &AppState, mb: &Mailbox) -> Vec<u32> {
    let mut v: Vec<u32> = (0..state.mail.knobs.contacts_per_mailbox).collect();
    v.extend((0..mb.pim.created_contacts.len() as u32).map(|i| CREATED_BIT | i));
    v.retain(|n| !mb.pim.deleted_contacts.contains(n));
    v
}

fn folder_id(user: u32) -> String {
    ExId::Container { user, which: 1 }.encode()
}

/// Contact JSON for number `n`, or `None` if absent.
fn contact(state: &AppState, mb: &Mailbox, n: u32) -> Option<Value> {
    if mb.pim.deleted_contacts.contains(&n) {
        return None;
    }
    let mut v = if n & CREATED_BIT != 0 {
        mb.pim
            .created_contacts
            .get((n & !CREATED_BIT) as usize)?
            .clone()
    } else if n < state.mail.knobs.contacts_per_mailbox {
        generated_contact(state.mail.seed, mb.user, n)
    } else {
        return None;
    };
    let ck = change_key(mb.user, n as u64 | (1 << 40), 0);
    let created = v
        .get("createdDateTime")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            iso(crate::model::tenant::content_anchor()
                - chrono::Duration::days((n & !CREATED_BIT) as i64 % 3650 + 10))
        });
    let o = v.as_object_mut()?;
    o.insert("@odata.etag".into(), json!(format!("W/\"{ck}\"")));
    o.insert(
        "id".into(),
        json!(ExId::Contact { user: mb.user, n }.encode()),
    );
    o.insert("createdDateTime".into(), json!(created));
    o.insert("lastModifiedDateTime".into(), json!(created));
    o.insert("changeKey".into(), json!(ck));
    o.insert("parentFolderId".into(), json!(folder_id(mb.user)));
    Some(v)
}

fn check_folder(mb: &Mailbox, id: &str) -> Result<(), GraphError> {
    if id.eq_ignore_ascii_case("contacts") {
        return Ok(());
    }
    match ExId::decode(id) {
        Some(ExId::Container { user, which: 1 }) if user == mb.user => Ok(()),
        Some(_) => Err(GraphError::item_not_found()),
        None => Err(access::malformed()),
    }
}

fn folder_json(mb: &Mailbox) -> Value {
    json!({"id": folder_id(mb.user), "displayName": "Contacts", "parentFolderId": super::ids::folder_id(mb.user, super::store::ROOT)})
}

/// `GET /users/{u}/contactFolders`.
pub(crate) async fn folders(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    Ok(respond::ok(&collection(
        &state.context(&format!("users('{user}')/contactFolders")),
        vec![folder_json(&mb)],
        None,
        None,
    )))
}

/// `GET /users/{u}/contactFolders/delta` (one folder; a single page).
pub(crate) async fn folders_delta(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    // The default folder never changes: the first round lists it, later rounds are empty.
    let items = if q.deltatoken.is_some() {
        vec![]
    } else {
        vec![folder_json(&mb)]
    };
    let tok = state.tokens.encode("cfdelta", &mb.user);
    if let Some(t) = &q.deltatoken
        && state.tokens.decode::<u32>("cfdelta", t) != Some(mb.user)
    {
        return Err(super::delta::bad_token());
    }
    let delta = state.graph_url(&format!(
        "/users/{user}/contactFolders/delta?$deltatoken={tok}"
    ));
    Ok(respond::ok(&collection(
        &state.context("Collection(contactFolder)"),
        items,
        None,
        Some(delta),
    )))
}

/// `GET /users/{u}/contacts` and `/contactFolders/{f}/contacts`.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<std::collections::HashMap<String, String>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let user = p.get("user").cloned().unwrap_or_default();
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    if let Some(f) = p.get("folder") {
        check_folder(&mb, f)?;
    }
    let mut items = Vec::new();
    for n in numbers(&state, &mb) {
        if let Some(c) = contact(&state, &mb, n) {
            items.push(apply_select(c, q.select.as_deref(), CONTACT, "contact")?);
        }
    }
    drop(mb);
    let size = q.top.unwrap_or(10).clamp(1, 1000);
    crate::directory::paged(
        &state,
        &format!("/users/{user}/contacts"),
        &format!("users('{user}')/contacts"),
        &q,
        items,
        size,
    )
}

/// `GET /users/{u}/contacts/{id}`.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    let n = locate(&mb, &id)?;
    let c = contact(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    Ok(respond::ok(&apply_select(
        c,
        q.select.as_deref(),
        CONTACT,
        "contact",
    )?))
}

fn locate(mb: &Mailbox, id: &str) -> Result<u32, GraphError> {
    match ExId::decode(id) {
        Some(ExId::Contact { user, n }) if user == mb.user => Ok(n),
        Some(_) => Err(GraphError::item_not_found()),
        None => Err(access::malformed()),
    }
}

/// `POST /users/{u}/contacts` and `/contactFolders/{f}/contacts`.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    caller.require_any(WRITE, Workload::Exchange)?;
    let mut v = json_body(&body)?;
    let user = p.get("user").cloned().unwrap_or_default();
    let obj = v.as_object_mut().expect("object");
    for k in [
        "id",
        "@odata.etag",
        "changeKey",
        "parentFolderId",
        "createdDateTime",
        "lastModifiedDateTime",
        "@odata.context",
    ] {
        obj.remove(k);
    }
    for k in obj.keys() {
        if !CONTACT.contains(&k.as_str()) && !k.starts_with("@odata.") {
            return Err(GraphError::bad_request(
                "RequestBodyRead",
                format!("The property '{k}' does not exist on type 'microsoft.graph.contact'."),
            ));
        }
    }
    let (_, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    if let Some(f) = p.get("folder") {
        check_folder(&mb, f)?;
    }
    obj.insert("createdDateTime".into(), json!(iso(state.clock.now())));
    mb.pim.created_contacts.push(v);
    let n = CREATED_BIT | (mb.pim.created_contacts.len() as u32 - 1);
    let seq = mb.bump();
    mb.pim.contact_log.push((seq, n));
    let c = contact(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    Ok(respond::json(StatusCode::CREATED, &c))
}

/// `DELETE /users/{u}/contacts/{id}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, id)): Path<(String, String)>,
) -> Result<Response, GraphError> {
    caller.require_any(WRITE, Workload::Exchange)?;
    let (_, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let n = locate(&mb, &id)?;
    contact(&state, &mb, n).ok_or_else(GraphError::item_not_found)?;
    mb.pim.deleted_contacts.push(n);
    let seq = mb.bump();
    mb.pim.contact_log.push((seq, n));
    Ok(respond::no_content())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ContactTok {
    u: u32,
    start: u64,
    base: Option<u64>,
    upto: u64,
    cur: usize,
    sel: Option<Vec<String>>,
    issued: i64,
}

const KINDS: Kinds = Kinds {
    round: "cdelta",
    skip: "cdelta-skip",
};

round::round_token!(ContactTok, start);

/// `GET /users/{u}/contactFolders/{f}/contacts/delta`.
pub(crate) async fn delta(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, folder)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    caller.require_any(READ, Workload::Exchange)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    q.reject(&["$filter", "$orderby", "$search", "$expand"])?;
    if let Some(sel) = &q.select {
        crate::odata::check_select(sel, CONTACT, "contact")?;
    }
    let prefer = Prefer::from_headers(&headers);
    let size = prefer.max_page_size.unwrap_or(10).min(1000);
    let (uidx, mb) = access::mailbox(&state, &user)?;
    let mb = mb.lock();
    check_folder(&mb, &folder)?;
    let now = state.clock.now().timestamp();
    let tok = round::token(&state, &q, &KINDS, uidx, mb.seq, || {
        Ok(ContactTok {
            u: uidx,
            start: mb.seq,
            base: None,
            upto: mb.seq,
            cur: 0,
            sel: q.select.clone(),
            issued: now,
        })
    })?;
    super::delta::check_expiry(&state, &mb, tok.start, tok.issued)?;
    let list: Vec<u32> = match tok.base {
        None => numbers(&state, &mb),
        Some(base) => super::delta::changed_first(&mb.pim.contact_log, base, tok.upto),
    };
    let mut out = Vec::new();
    for n in list.iter().skip(tok.cur).take(size) {
        match contact(&state, &mb, *n) {
            Some(c) => out.push(apply_select(c, tok.sel.as_deref(), CONTACT, "contact")?),
            None => out.push(json!({"@odata.type": "#microsoft.graph.contact", "id": ExId::Contact { user: uidx, n: *n }.encode(), "@removed": {"reason": "deleted"}})),
        }
    }
    let path = format!("/users/{user}/contactFolders/{folder}/contacts/delta");
    let end = round::end(&KINDS, tok, size, list.len(), now);
    let (next, delta) = super::page_links(&state, &path, end);
    drop(mb);
    let body = collection(&state.context("Collection(contact)"), out, next, delta);
    Ok(respond::with_preference(
        respond::ok(&body),
        prefer.applied(prefer.max_page_size.is_some()),
    ))
}
