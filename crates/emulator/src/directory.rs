//! Directory endpoints: `/users`, `/users/{id|upn}`, `/groups`, `/groups/{id}/members`,
//! `/directory/deletedItems/microsoft.graph.user`, `/organization`.

use crate::auth::{Caller, Workload};
use crate::error::GraphError;
use crate::model::tenant::{Group, SKU_E3, User};
use crate::odata::{ODataQuery, SkipState, apply_select, collection};
use crate::respond;
use crate::schema_props;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

/// Directory routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", get(list_users))
        .route("/users/{user}", get(get_user))
        .route("/groups", get(list_groups))
        .route("/groups/{group}", get(get_group))
        .route("/groups/{group}/members", get(group_members))
        .route(
            "/directory/deletedItems/microsoft.graph.user",
            get(deleted_users),
        )
        .route("/organization", get(organization))
}

const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "id",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
];

/// Properties only available on single-user GET (Graph answers 501 on the collection).
const USER_SINGLE_ONLY: &[&str] = &[
    "mailboxSettings",
    "aboutMe",
    "skills",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
];

const READ_USERS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];
const READ_GROUPS: &[&str] = &[
    "Group.Read.All",
    "Group.ReadWrite.All",
    "Directory.Read.All",
    "GroupMember.Read.All",
];

/// Full JSON of a user (all properties the emulator knows).
pub(crate) fn user_json(u: &User, domain: &str) -> Value {
    let licenses: Vec<Value> = if u.licensed() {
        vec![json!({"disabledPlans": [], "skuId": SKU_E3})]
    } else {
        vec![]
    };
    let nick = u.upn.split('@').next().unwrap_or("").to_string();
    json!({
        "id": u.id,
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": u.given_name,
        "jobTitle": u.job_title,
        "mail": u.mail,
        "mobilePhone": null,
        "officeLocation": null,
        "preferredLanguage": "en-US",
        "surname": u.surname,
        "userPrincipalName": u.upn,
        "accountEnabled": u.account_enabled(),
        "userType": u.user_type(),
        "assignedLicenses": licenses,
        "mailNickname": nick,
        "proxyAddresses": u.mail.iter().map(|m| format!("SMTP:{m}")).chain(std::iter::once(format!("smtp:{nick}@{domain}"))).collect::<Vec<_>>(),
        "department": u.department,
        "createdDateTime": crate::clock::iso(u.created),
        "deletedDateTime": u.deleted.map(crate::clock::iso),
        "onPremisesSyncEnabled": null,
        "usageLocation": "US",
    })
}

fn default_view(mut v: Value, q: &ODataQuery) -> Value {
    if q.select.is_none()
        && let Value::Object(m) = &mut v
    {
        m.retain(|k, _| USER_DEFAULT.contains(&k.as_str()));
    }
    v
}

fn page_size(q: &ODataQuery, default: usize, max: usize) -> Result<usize, GraphError> {
    match q.top {
        Some(0) => Err(GraphError::bad_request(
            "Request_BadRequest",
            "Invalid value specified for property 'top' of resource 'Query'.",
        )),
        Some(n) if n > max => Err(GraphError::bad_request(
            "Request_BadRequest",
            format!("Invalid page size specified: '{n}'. Must be between 1 and {max} inclusive."),
        )),
        Some(n) => Ok(n),
        None => Ok(default),
    }
}

/// Page a fully materialised list with `$skiptoken` and an absolute nextLink that keeps the
/// other query options.
pub(crate) fn paged(
    state: &AppState,
    path: &str,
    context: &str,
    q: &ODataQuery,
    items: Vec<Value>,
    size: usize,
) -> Result<Response, GraphError> {
    let offset = match &q.skiptoken {
        Some(t) => state
            .tokens
            .decode::<SkipState>("skip", t)
            .ok_or_else(|| GraphError::bad_request("Request_BadRequest", "The specified page token value has expired and can no longer be included in your request."))?
            .offset,
        None => 0,
    };
    let total = items.len();
    let page: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let next = (offset + size < total).then(|| {
        let tok = state.tokens.encode(
            "skip",
            &SkipState {
                offset: offset + size,
            },
        );
        let frozen = q.frozen();
        let mut ser = url::form_urlencoded::Serializer::new(frozen);
        ser.append_pair("$skiptoken", &tok);
        state.graph_url(&format!("{path}?{}", ser.finish()))
    });
    let mut body = collection(&state.context(context), page, next, None);
    if q.count.as_deref() == Some("true") && q.skiptoken.is_none() {
        body["@odata.count"] = json!(total);
    }
    Ok(respond::ok(&body))
}

fn check_user_select(q: &ODataQuery, single: bool) -> Result<(), GraphError> {
    if let Some(sel) = &q.select {
        crate::odata::check_select(sel, schema_props::USER, "user")?;
        if !single
            && let Some(s) = sel
                .iter()
                .find(|s| USER_SINGLE_ONLY.iter().any(|x| x.eq_ignore_ascii_case(s)))
        {
            return Err(GraphError::new(
                axum::http::StatusCode::NOT_IMPLEMENTED,
                "NotImplemented",
                format!(
                    "This operation target is not yet supported. The property '{s}' is only available on a single user."
                ),
            ));
        }
    }
    Ok(())
}

/// `$filter` expressions supported on users/groups: `prop eq value` (string, bool, guid),
/// `startswith(prop,'x')`, joined by `and`.
fn filter_matches(obj: &Value, filter: &str) -> Result<bool, GraphError> {
    let bad = || {
        GraphError::bad_request(
            "Request_UnsupportedQuery",
            format!("Unsupported or invalid query filter clause specified: '{filter}'."),
        )
    };
    for clause in split_and(filter) {
        let c = clause.trim();
        if let Some(inner) = c
            .strip_prefix("startswith(")
            .and_then(|r| r.strip_suffix(')'))
        {
            let (prop, val) = inner.split_once(',').ok_or_else(bad)?;
            let val = unquote(val.trim()).ok_or_else(bad)?;
            let actual = lookup(obj, prop.trim()).ok_or_else(bad)?;
            let ok = actual
                .as_str()
                .is_some_and(|s| s.to_lowercase().starts_with(&val.to_lowercase()));
            if !ok {
                return Ok(false);
            }
            continue;
        }
        let parts: Vec<&str> = c.splitn(3, ' ').collect();
        if parts.len() != 3 || !parts[1].eq_ignore_ascii_case("eq") {
            return Err(bad());
        }
        let actual = lookup(obj, parts[0]).ok_or_else(bad)?;
        let rhs = parts[2].trim();
        let ok = match rhs {
            "true" => actual == &json!(true),
            "false" => actual == &json!(false),
            "null" => actual.is_null(),
            _ => {
                let v = unquote(rhs).ok_or_else(bad)?;
                actual.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&v))
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn split_and(f: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let words: Vec<&str> = f.split(' ').collect();
    for w in words {
        if !in_q && w.eq_ignore_ascii_case("and") {
            out.push(std::mem::take(&mut cur));
            continue;
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
        in_q ^= w.matches('\'').count() % 2 == 1;
    }
    out.push(cur);
    out
}

fn unquote(s: &str) -> Option<String> {
    let s = s.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(s.replace("''", "'"))
}

fn lookup<'a>(obj: &'a Value, prop: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(prop))
        .map(|(_, v)| v)
}

async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    caller.require_any(READ_USERS, Workload::Directory)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    if q.skip.is_some() {
        return Err(GraphError::bad_request(
            "Request_BadRequest",
            "'$skip' is not supported by the service.",
        ));
    }
    if q.search.is_some()
        && headers
            .get("consistencylevel")
            .is_none_or(|v| v != "eventual")
    {
        return Err(GraphError::bad_request(
            "Request_UnsupportedQuery",
            "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'",
        ));
    }
    check_user_select(&q, false)?;
    let size = page_size(&q, 100, 999)?;
    let dir = state.directory.read();
    let mut items = Vec::new();
    for u in dir.live_users() {
        let full = user_json(u, &dir.domain);
        if let Some(f) = &q.filter
            && !filter_matches(&full, f)?
        {
            continue;
        }
        if let Some(s) = &q.search {
            let needle = s
                .trim_matches('"')
                .split(':')
                .next_back()
                .unwrap_or("")
                .to_lowercase();
            if !u.display_name.to_lowercase().contains(&needle)
                && !u.upn.to_lowercase().contains(&needle)
            {
                continue;
            }
        }
        let v = apply_select(full, q.select.as_deref(), schema_props::USER, "user")?;
        items.push(default_view(v, &q));
    }
    drop(dir);
    paged(&state, "/users", "users", &q, items, size)
}

async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ_USERS, Workload::Directory)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    check_user_select(&q, true)?;
    let dir = state.directory.read();
    let u = dir
        .user(&user)
        .ok_or_else(|| GraphError::directory_not_found(&user))?;
    let v = apply_select(
        user_json(u, &dir.domain),
        q.select.as_deref(),
        schema_props::USER,
        "user",
    )?;
    let mut v = default_view(v, &q);
    v["@odata.context"] = json!(state.context("users/$entity"));
    Ok(respond::ok(&v))
}

async fn deleted_users(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ_USERS, Workload::Directory)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    check_user_select(&q, false)?;
    let size = page_size(&q, 100, 999)?;
    let dir = state.directory.read();
    let mut items = Vec::new();
    for u in dir
        .users
        .iter()
        .filter(|u| u.deleted.is_some() && !u.hard_deleted)
    {
        let mut v = apply_select(
            user_json(u, &dir.domain),
            q.select.as_deref(),
            schema_props::USER,
            "user",
        )?;
        v["@odata.type"] = json!("#microsoft.graph.user");
        items.push(v);
    }
    drop(dir);
    paged(
        &state,
        "/directory/deletedItems/microsoft.graph.user",
        "directory/deletedItems/microsoft.graph.user",
        &q,
        items,
        size,
    )
}

pub(crate) fn group_json(g: &Group, domain: &str) -> Value {
    json!({
        "id": g.id,
        "displayName": g.display_name,
        "description": g.description,
        "groupTypes": if g.unified { vec!["Unified"] } else { vec![] },
        "mail": if g.unified { Some(format!("{}@{domain}", g.mail_nickname)) } else { None },
        "mailEnabled": g.unified,
        "mailNickname": g.mail_nickname,
        "securityEnabled": !g.unified,
        "visibility": if g.unified { Some("Private") } else { None },
        "resourceProvisioningOptions": if g.team { vec!["Team"] } else { vec![] },
        "resourceBehaviorOptions": [],
        "createdDateTime": crate::clock::iso(g.created),
    })
}

fn group_filter(obj: &Value, filter: &str) -> Result<bool, GraphError> {
    let compact: String = filter.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.eq_ignore_ascii_case("resourceProvisioningOptions/Any(x:xeq'Team')") {
        return Ok(obj["resourceProvisioningOptions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "Team")));
    }
    if compact.eq_ignore_ascii_case("groupTypes/any(c:ceq'Unified')") {
        return Ok(obj["groupTypes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "Unified")));
    }
    filter_matches(obj, filter)
}

async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ_GROUPS, Workload::Directory)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let size = page_size(&q, 100, 999)?;
    let dir = state.directory.read();
    let mut items = Vec::new();
    for g in &dir.groups {
        let full = group_json(g, &dir.domain);
        if let Some(f) = &q.filter
            && !group_filter(&full, f)?
        {
            continue;
        }
        items.push(apply_select(
            full,
            q.select.as_deref(),
            schema_props::GROUP,
            "group",
        )?);
    }
    drop(dir);
    paged(&state, "/groups", "groups", &q, items, size)
}

async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ_GROUPS, Workload::Directory)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let dir = state.directory.read();
    let g = dir
        .groups
        .iter()
        .find(|g| g.id.eq_ignore_ascii_case(&group))
        .ok_or_else(|| GraphError::directory_not_found(&group))?;
    let mut v = apply_select(
        group_json(g, &dir.domain),
        q.select.as_deref(),
        schema_props::GROUP,
        "group",
    )?;
    v["@odata.context"] = json!(state.context("groups/$entity"));
    Ok(respond::ok(&v))
}

async fn group_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(group): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require_any(READ_GROUPS, Workload::Directory)?;
    let q = ODataQuery::parse(raw.as_deref())?;
    let size = page_size(&q, 100, 999)?;
    let dir = state.directory.read();
    let g = dir
        .groups
        .iter()
        .find(|g| g.id.eq_ignore_ascii_case(&group))
        .ok_or_else(|| GraphError::directory_not_found(&group))?;
    let mut items = Vec::new();
    for id in &g.members {
        if let Some(u) = dir.user(id) {
            let mut v = apply_select(
                user_json(u, &dir.domain),
                q.select.as_deref(),
                schema_props::USER,
                "user",
            )?;
            if q.select.is_none()
                && let Value::Object(m) = &mut v
            {
                m.retain(|k, _| USER_DEFAULT.contains(&k.as_str()));
            }
            v["@odata.type"] = json!("#microsoft.graph.user");
            items.push(v);
        }
    }
    drop(dir);
    paged(
        &state,
        &format!("/groups/{group}/members"),
        "directoryObjects",
        &q,
        items,
        size,
    )
}

async fn organization(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, GraphError> {
    caller.require_any(READ_USERS, Workload::Directory)?;
    let dir = state.directory.read();
    let body = collection(
        &state.context("organization"),
        vec![json!({
            "id": dir.tenant_id,
            "displayName": format!("Emulated tenant {}", state.seed()),
            "verifiedDomains": [{"name": dir.domain, "isDefault": true, "isInitial": true, "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline"}],
        })],
        None,
        None,
    );
    Ok(respond::ok(&body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        let v = json!({"accountEnabled": true, "displayName": "Adele Vance", "userType": "Member"});
        assert!(filter_matches(&v, "accountEnabled eq true").expect("ok"));
        assert!(!filter_matches(&v, "accountEnabled eq false").expect("ok"));
        assert!(filter_matches(&v, "startswith(displayName,'ad')").expect("ok"));
        assert!(
            filter_matches(&v, "startswith(displayName,'Ad') and userType eq 'Member'")
                .expect("ok")
        );
        assert!(filter_matches(&v, "displayName gt 'a'").is_err());
        assert!(filter_matches(&v, "nosuch eq 'a'").is_err());
    }
}
