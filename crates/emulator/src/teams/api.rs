//! Teams endpoints: teams, channels, channel messages (+ replies, hosted contents, delta),
//! chats and chat messages, with Graph's `$top` caps and the protected-API 403.

use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

use super::model::{Channel, Chat, Message, Team};
use super::{TeamsState, teams_state};
use crate::auth::{Caller, Workload};
use crate::clock::iso;
use crate::error::GraphError;
use crate::odata::{ODataQuery, SkipState, collection};
use crate::state::AppState;

const PROTECTED_MSG: &str = "Invoked API requires Protected API access in application-only context when not using Resource Specific Consent. Visit https://docs.microsoft.com/en-us/graph/teams-protected-apis for more details.";
const DELTA_KIND: &str = "teams.delta";

#[derive(Debug, Serialize, Deserialize)]
struct DeltaState {
    /// Changes after this seq.
    s: u64,
    /// Snapshot seq of the round.
    n: u64,
    /// Offset within the round.
    o: usize,
    /// Team/channel the token belongs to.
    c: String,
}

fn not_found() -> GraphError {
    GraphError::new(StatusCode::NOT_FOUND, "NotFound", "Resource not found.")
}

fn protected(st: &AppState) -> Result<(), GraphError> {
    if teams_state(st).approved.load(Ordering::Relaxed) {
        Ok(())
    } else {
        Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            PROTECTED_MSG,
        ))
    }
}

fn page_size(q: &ODataQuery, default: usize) -> Result<usize, GraphError> {
    match q.top {
        None => Ok(default),
        Some(n) if (1..=50).contains(&n) => Ok(n),
        Some(n) => Err(GraphError::bad_request(
            "BadRequest",
            format!("Invalid page size specified: '{n}'. Must be between 1 and 50 inclusive."),
        )),
    }
}

/// Entry for `/teams…`, `/chats…`, `/users/{id}/chats…`, `/users/{id}/joinedTeams`.
pub(crate) async fn teams_entry(
    State(st): State<AppState>,
    caller: Caller,
    OriginalUri(uri): OriginalUri,
    method: Method,
) -> Response {
    let raw = uri.path().strip_prefix("/v1.0").unwrap_or(uri.path());
    let path = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned();
    let result = (|| {
        if method != Method::GET {
            return Err(GraphError::method_not_allowed());
        }
        let q = ODataQuery::parse(uri.query())?;
        serve(&st, &caller, &path, &q)
    })();
    match result {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn strip_fn(s: &str) -> &str {
    s.strip_suffix("()").unwrap_or(s)
}

fn serve(
    st: &AppState,
    caller: &Caller,
    path: &str,
    q: &ODataQuery,
) -> Result<Response, GraphError> {
    let ts = teams_state(st);
    let segs: Vec<&str> = path.trim_matches('/').split('/').map(strip_fn).collect();
    let store = ts.store.read();
    let tenant = st.tenant_id();
    let team_roles = &[
        "Team.ReadBasic.All",
        "TeamSettings.Read.All",
        "Group.Read.All",
        "Directory.Read.All",
    ];
    let channel_roles = &[
        "Channel.ReadBasic.All",
        "ChannelSettings.Read.All",
        "Group.Read.All",
        "Directory.Read.All",
    ];
    let msg_roles = &["ChannelMessage.Read.All", "Group.Read.All"];
    let chat_roles = &["Chat.Read.All", "Chat.ReadBasic.All", "Chat.ReadWrite.All"];
    let chat_msg_roles = &["Chat.Read.All", "Chat.ReadWrite.All"];
    let team = |id: &str| store.team(id).ok_or_else(not_found);
    let channel = |t: &str, c: &str| -> Result<(&Team, &Channel), GraphError> {
        let t = team(t)?;
        Ok((t, t.channel(c).ok_or_else(not_found)?))
    };
    match segs.as_slice() {
        ["teams"] => {
            caller.require_any(team_roles, Workload::Teams)?;
            let all: Vec<Value> = store.teams.iter().map(|t| team_json(t, &tenant)).collect();
            paged(st, all, q, 100, "/teams", "teams")
        }
        ["users", u, "joinedTeams"] => {
            caller.require_any(team_roles, Workload::Teams)?;
            let uid = user_id(st, u)?;
            let all: Vec<Value> = store
                .teams
                .iter()
                .filter(|t| t.members.contains(&uid))
                .map(|t| team_json(t, &tenant))
                .collect();
            paged(st, all, q, 100, &format!("/users/{u}/joinedTeams"), "teams")
        }
        ["teams", t] => {
            caller.require_any(team_roles, Workload::Teams)?;
            entity(st, team_json(team(t)?, &tenant), "teams/$entity")
        }
        ["teams", t, "channels" | "allChannels"] => {
            caller.require_any(channel_roles, Workload::Teams)?;
            let tm = team(t)?;
            let v = tm
                .channels
                .iter()
                .map(|c| channel_json(tm, c, &tenant))
                .collect();
            Ok(crate::respond::ok(&collection(
                &st.context(&format!("teams('{t}')/channels")),
                v,
                None,
                None,
            )))
        }
        ["teams", t, "channels", c] => {
            caller.require_any(channel_roles, Workload::Teams)?;
            let (tm, ch) = channel(t, c)?;
            entity(st, channel_json(tm, ch, &tenant), "channels/$entity")
        }
        ["teams", t, "channels", c, "messages"] => {
            caller.require_any(msg_roles, Workload::Teams)?;
            protected(st)?;
            let (tm, ch) = channel(t, c)?;
            let top = page_size(q, 20)?;
            let expand = expands_replies(q);
            let mut roots: Vec<&Message> = ch.messages.iter().collect();
            roots.sort_by_key(|m| std::cmp::Reverse(m.created));
            let all: Vec<Value> = roots
                .iter()
                .map(|m| message_json(m, Ctx::Channel(tm, ch), expand))
                .collect();
            paged(
                st,
                all,
                q,
                top,
                &format!("/teams/{t}/channels/{c}/messages"),
                "chatMessages",
            )
        }
        ["teams", t, "channels", c, "messages", "delta"] => {
            caller.require_any(msg_roles, Workload::Teams)?;
            protected(st)?;
            let (tm, ch) = channel(t, c)?;
            channel_delta(st, tm, ch, q)
        }
        ["teams", t, "channels", c, "messages", m, rest @ ..] => {
            caller.require_any(msg_roles, Workload::Teams)?;
            protected(st)?;
            let (tm, ch) = channel(t, c)?;
            let root = ch
                .messages
                .iter()
                .find(|x| x.id == *m)
                .ok_or_else(not_found)?;
            message_tail(
                st,
                root,
                Ctx::Channel(tm, ch),
                rest,
                q,
                &format!("/teams/{t}/channels/{c}/messages/{m}"),
            )
        }
        ["chats"] => {
            caller.require_any(chat_roles, Workload::Teams)?;
            let all: Vec<Value> = store.chats.iter().map(|c| chat_json(c, &tenant)).collect();
            paged(st, all, q, 50, "/chats", "chats")
        }
        ["users", u, "chats"] => {
            caller.require_any(chat_roles, Workload::Teams)?;
            let uid = user_id(st, u)?;
            let all: Vec<Value> = store
                .chats
                .iter()
                .filter(|c| c.members.contains(&uid))
                .map(|c| chat_json(c, &tenant))
                .collect();
            paged(st, all, q, 50, &format!("/users/{u}/chats"), "chats")
        }
        ["chats", c] | ["users", _, "chats", c] => {
            caller.require_any(chat_roles, Workload::Teams)?;
            entity(
                st,
                chat_json(store.chat(c).ok_or_else(not_found)?, &tenant),
                "chats/$entity",
            )
        }
        ["chats", c, "messages"] | ["users", _, "chats", c, "messages"] => {
            caller.require_any(chat_msg_roles, Workload::Teams)?;
            protected(st)?;
            let chat = store.chat(c).ok_or_else(not_found)?;
            let top = page_size(q, 50)?;
            if let Some(o) = &q.orderby {
                let o = o.trim();
                if o != "lastModifiedDateTime desc" && o != "createdDateTime desc" {
                    return Err(GraphError::bad_request(
                        "BadRequest",
                        "$orderby supports only lastModifiedDateTime desc or createdDateTime desc.",
                    ));
                }
            }
            let mut msgs: Vec<&Message> = chat.messages.iter().collect();
            if q.orderby
                .as_deref()
                .is_some_and(|o| o.starts_with("createdDateTime"))
            {
                msgs.sort_by_key(|m| std::cmp::Reverse(m.created));
            } else {
                msgs.sort_by_key(|m| std::cmp::Reverse(m.modified));
            }
            let all: Vec<Value> = msgs
                .iter()
                .map(|m| message_json(m, Ctx::Chat(chat), false))
                .collect();
            paged(
                st,
                all,
                q,
                top,
                &format!("/chats/{c}/messages"),
                "chatMessages",
            )
        }
        ["chats", c, "messages", m, rest @ ..]
        | ["users", _, "chats", c, "messages", m, rest @ ..] => {
            caller.require_any(chat_msg_roles, Workload::Teams)?;
            protected(st)?;
            let chat = store.chat(c).ok_or_else(not_found)?;
            let msg = chat
                .messages
                .iter()
                .find(|x| x.id == *m)
                .ok_or_else(not_found)?;
            message_tail(
                st,
                msg,
                Ctx::Chat(chat),
                rest,
                q,
                &format!("/chats/{c}/messages/{m}"),
            )
        }
        _ => Err(GraphError::no_resource(segs.last().copied().unwrap_or(""))),
    }
}

fn user_id(st: &AppState, u: &str) -> Result<String, GraphError> {
    st.directory
        .read()
        .user(u)
        .map(|x| x.id.clone())
        .ok_or_else(|| GraphError::directory_not_found(u))
}

fn expands_replies(q: &ODataQuery) -> bool {
    q.expand
        .as_deref()
        .is_some_and(|e| e.split(',').any(|x| x.trim() == "replies"))
}

/// Replies, a reply, hosted contents and their bytes below a message.
fn message_tail(
    st: &AppState,
    msg: &Message,
    ctx: Ctx<'_>,
    rest: &[&str],
    q: &ODataQuery,
    base: &str,
) -> Result<Response, GraphError> {
    match rest {
        [] => entity(
            st,
            message_json(msg, ctx, expands_replies(q)),
            "chatMessages/$entity",
        ),
        ["replies"] => {
            let top = page_size(q, 20)?;
            let all: Vec<Value> = msg
                .replies
                .iter()
                .map(|r| message_json(r, ctx, false))
                .collect();
            paged(st, all, q, top, &format!("{base}/replies"), "chatMessages")
        }
        ["replies", r, more @ ..] => {
            let reply = msg
                .replies
                .iter()
                .find(|x| x.id == *r)
                .ok_or_else(not_found)?;
            message_tail(st, reply, ctx, more, q, &format!("{base}/replies/{r}"))
        }
        ["hostedContents"] => {
            let v = msg.hosted.iter().map(|h| json!({"id": h.id})).collect();
            Ok(crate::respond::ok(&collection(
                &st.context("chatMessageHostedContents"),
                v,
                None,
                None,
            )))
        }
        ["hostedContents", h] => {
            let hc = msg
                .hosted
                .iter()
                .find(|x| x.id == *h)
                .ok_or_else(not_found)?;
            entity(
                st,
                json!({"id": hc.id, "contentBytes": null, "contentType": null}),
                "chatMessageHostedContents/$entity",
            )
        }
        ["hostedContents", h, "$value"] => {
            let hc = msg
                .hosted
                .iter()
                .find(|x| x.id == *h)
                .ok_or_else(not_found)?;
            let a = &crate::drive::content::ASSETS[hc.asset as usize];
            let mut r = (StatusCode::OK, a.bytes).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
            Ok(r)
        }
        [other, ..] => Err(GraphError::no_resource(other)),
    }
}

fn channel_delta(
    st: &AppState,
    tm: &Team,
    ch: &Channel,
    q: &ODataQuery,
) -> Result<Response, GraphError> {
    let top = page_size(q, 20)?;
    let now = st.clock.now();
    let key = format!("{}|{}", tm.id, ch.id);
    let state = if let Some(t) = q.skiptoken.as_deref().or(q.deltatoken.as_deref()) {
        let s: DeltaState = st
            .tokens
            .decode(DELTA_KIND, t)
            .ok_or_else(|| GraphError::bad_request("BadRequest", "Invalid delta token."))?;
        if s.c != key {
            return Err(GraphError::bad_request(
                "BadRequest",
                "Invalid delta token.",
            ));
        }
        if q.deltatoken.is_some() {
            DeltaState {
                s: s.s,
                n: ch.seq,
                o: 0,
                c: key.clone(),
            }
        } else {
            s
        }
    } else {
        DeltaState {
            s: 0,
            n: ch.seq,
            o: 0,
            c: key.clone(),
        }
    };
    let since_filter: Option<DateTime<Utc>> = match q.filter.as_deref() {
        None => None,
        Some(f) => {
            let v = f
                .trim()
                .strip_prefix("lastModifiedDateTime gt ")
                .ok_or_else(|| {
                    GraphError::bad_request(
                        "BadRequest",
                        "Only '$filter=lastModifiedDateTime gt {dateTime}' is supported.",
                    )
                })?;
            Some(
                DateTime::parse_from_rfc3339(v.trim())
                    .map_err(|_| {
                        GraphError::bad_request("BadRequest", format!("Invalid dateTime '{v}'."))
                    })?
                    .with_timezone(&Utc),
            )
        }
    };
    let window = now - Duration::days(8 * 30);
    let round: Vec<&Message> = ch
        .messages
        .iter()
        .filter(|m| m.seq > state.s && m.modified >= window)
        .filter(|m| since_filter.is_none_or(|f| m.modified > f))
        .collect();
    let expand = expands_replies(q);
    let page: Vec<Value> = round
        .iter()
        .skip(state.o)
        .take(top)
        .map(|m| message_json(m, Ctx::Channel(tm, ch), expand))
        .collect();
    let path = format!("/teams/{}/channels/{}/messages/delta", tm.id, ch.id);
    let link = |param: &str, tok: &str| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.pairs {
            if k != "$skiptoken" && k != "$deltatoken" && k != "$filter" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair(param, tok);
        format!("{}?{}", st.graph_url(&path), ser.finish())
    };
    let (next, delta) = if state.o + top < round.len() {
        let t = st.tokens.encode(
            DELTA_KIND,
            &DeltaState {
                s: state.s,
                n: state.n,
                o: state.o + top,
                c: key,
            },
        );
        (Some(link("$skiptoken", &t)), None)
    } else {
        let t = st.tokens.encode(
            DELTA_KIND,
            &DeltaState {
                s: state.n,
                n: state.n,
                o: 0,
                c: key,
            },
        );
        (None, Some(link("$deltatoken", &t)))
    };
    Ok(crate::respond::ok(&collection(
        &st.context("Collection(chatMessage)"),
        page,
        next,
        delta,
    )))
}

fn paged(
    st: &AppState,
    all: Vec<Value>,
    q: &ODataQuery,
    top: usize,
    path: &str,
    ctx: &str,
) -> Result<Response, GraphError> {
    let top = q.top.unwrap_or(top).max(1);
    let offset = match &q.skiptoken {
        Some(t) => {
            st.tokens
                .decode::<SkipState>("teams.skip", t)
                .ok_or_else(|| GraphError::bad_request("BadRequest", "Invalid skip token."))?
                .offset
        }
        None => 0,
    };
    let total = all.len();
    let value: Vec<Value> = all.into_iter().skip(offset).take(top).collect();
    let next = (offset + top < total).then(|| {
        let tok = st.tokens.encode(
            "teams.skip",
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
        format!("{}?{}", st.graph_url(path), ser.finish())
    });
    Ok(crate::respond::ok(&collection(
        &st.context(ctx),
        value,
        next,
        None,
    )))
}

fn entity(st: &AppState, mut v: Value, ctx: &str) -> Result<Response, GraphError> {
    v["@odata.context"] = json!(st.context(ctx));
    Ok(crate::respond::ok(&v))
}

/// Where a message lives.
#[derive(Clone, Copy)]
pub(crate) enum Ctx<'a> {
    /// A channel of a team.
    Channel(&'a Team, &'a Channel),
    /// A chat.
    Chat(&'a Chat),
}

/// A team.
pub(crate) fn team_json(t: &Team, tenant: &str) -> Value {
    json!({
        "id": t.id, "displayName": t.display_name, "description": t.description,
        "createdDateTime": iso(t.created), "isArchived": false, "visibility": "private", "specialization": "none",
        "internalId": format!("19:{}@thread.tacv2", t.id.replace('-', "")), "tenantId": tenant, "classification": null,
        "webUrl": format!("https://teams.microsoft.com/l/team/19%3a{}%40thread.tacv2/conversations?groupId={}&tenantId={tenant}", t.id.replace('-', ""), t.id),
        "memberSettings": {"allowCreateUpdateChannels": true, "allowCreatePrivateChannels": true, "allowDeleteChannels": true, "allowAddRemoveApps": true, "allowCreateUpdateRemoveTabs": true, "allowCreateUpdateRemoveConnectors": true},
        "guestSettings": {"allowCreateUpdateChannels": false, "allowDeleteChannels": false},
        "messagingSettings": {"allowUserEditMessages": true, "allowUserDeleteMessages": true, "allowOwnerDeleteMessages": true, "allowTeamMentions": true, "allowChannelMentions": true},
        "funSettings": {"allowGiphy": true, "giphyContentRating": "moderate", "allowStickersAndMemes": true, "allowCustomMemes": true},
    })
}

/// A channel.
pub(crate) fn channel_json(t: &Team, c: &Channel, tenant: &str) -> Value {
    json!({
        "id": c.id, "displayName": c.display_name, "description": c.description, "createdDateTime": iso(c.created),
        "isFavoriteByDefault": c.display_name == "General", "email": "", "membershipType": c.membership,
        "isArchived": false, "tenantId": tenant,
        "webUrl": format!("https://teams.microsoft.com/l/channel/{}/{}?groupId={}&tenantId={tenant}", c.id.replace(':', "%3a").replace('@', "%40"), c.display_name.replace(' ', "%20"), t.id),
    })
}

/// A chat.
pub(crate) fn chat_json(c: &Chat, tenant: &str) -> Value {
    let last = c
        .messages
        .iter()
        .map(|m| m.modified)
        .max()
        .unwrap_or(c.created);
    json!({
        "id": c.id, "topic": c.topic, "chatType": c.chat_type, "createdDateTime": iso(c.created),
        "lastUpdatedDateTime": iso(last), "tenantId": tenant, "isHiddenForAllMembers": false, "onlineMeetingInfo": null,
        "webUrl": format!("https://teams.microsoft.com/l/chat/{}/0?tenantId={tenant}", c.id.replace(':', "%3a").replace('@', "%40")),
    })
}

/// A chatMessage.
pub(crate) fn message_json(m: &Message, ctx: Ctx<'_>, with_replies: bool) -> Value {
    let deleted = m.deleted.is_some();
    let mut v = json!({
        "id": m.id, "replyToId": m.reply_to, "etag": m.modified.timestamp_millis().to_string(), "messageType": "message",
        "createdDateTime": iso(m.created), "lastModifiedDateTime": iso(m.modified),
        "lastEditedDateTime": m.edited.map(iso), "deletedDateTime": m.deleted.map(iso),
        "subject": m.subject, "summary": null, "importance": m.importance, "locale": "en-us",
        "policyViolation": null, "eventDetail": null,
        "from": {"application": null, "device": null, "user": {"@odata.type": "#microsoft.graph.teamworkUserIdentity", "id": m.from.id, "displayName": m.from.display_name, "userIdentityType": "aadUser"}},
        "body": {"contentType": "html", "content": if deleted { String::new() } else { m.body.clone() }},
        "attachments": [], "mentions": [], "reactions": [], "messageHistory": [],
    });
    match ctx {
        Ctx::Channel(t, c) => {
            v["chatId"] = Value::Null;
            v["channelIdentity"] = json!({"teamId": t.id, "channelId": c.id});
            v["webUrl"] = json!(format!(
                "https://teams.microsoft.com/l/message/{}/{}?groupId={}",
                c.id.replace(':', "%3a").replace('@', "%40"),
                m.id,
                t.id
            ));
        }
        Ctx::Chat(c) => {
            v["chatId"] = json!(c.id);
            v["channelIdentity"] = Value::Null;
            v["webUrl"] = Value::Null;
        }
    }
    if with_replies {
        v["replies"] = Value::Array(
            m.replies
                .iter()
                .map(|r| message_json(r, ctx, false))
                .collect(),
        );
    }
    v
}

/// `POST /_emulator/teams/protected-api {"approved": bool}`.
pub(crate) async fn set_protected(
    State(st): State<AppState>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let Some(a) = body.get("approved").and_then(Value::as_bool) else {
        return GraphError::bad_request("invalidRequest", "give {\"approved\": true|false}")
            .into_response();
    };
    teams_state(&st).approved.store(a, Ordering::Relaxed);
    axum::Json(json!({"approved": a})).into_response()
}

/// `POST /_emulator/teams/activity {"messages": n, "replies": n, "edits": n, "deletes": n}`: new
/// posts, replies, edits and deletions in every channel (changes show in channel delta).
pub(crate) async fn activity(
    State(st): State<AppState>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let n = |k: &str, d: u64| body.get(k).and_then(Value::as_u64).unwrap_or(d) as usize;
    let (posts, replies, edits, deletes) = (
        n("messages", 1),
        n("replies", 1),
        n("edits", 0),
        n("deletes", 0),
    );
    let ts: std::sync::Arc<TeamsState> = teams_state(&st);
    let now = st.clock.now();
    let mut store = ts.store.write();
    let mut rng = crate::rng::rng_for(st.seed(), "teams.activity", &[store.counter]);
    let mut count = [0usize; 4];
    for ti in 0..store.teams.len() {
        for ci in 0..store.teams[ti].channels.len() {
            let from = {
                let members = &store.teams[ti].members;
                let dir = st.directory.read();
                let id = members.first().cloned().unwrap_or_default();
                dir.user(&id).map(|u| crate::drive::model::Ident {
                    id: u.id.clone(),
                    display_name: u.display_name.clone(),
                    email: u.upn.clone(),
                })
            };
            let Some(from) = from.map(std::sync::Arc::new) else {
                continue;
            };
            for _ in 0..posts {
                let m = store.message(
                    &mut rng,
                    now,
                    from.clone(),
                    None,
                    Some("Update".into()),
                    false,
                    &[],
                );
                let ch = &mut store.teams[ti].channels[ci];
                ch.seq = m.seq;
                ch.messages.push(m);
                count[0] += 1;
            }
            for k in 0..replies {
                let len = store.teams[ti].channels[ci].messages.len();
                if len == 0 {
                    break;
                }
                let root_idx = len - 1 - (k % len);
                let root_id = store.teams[ti].channels[ci].messages[root_idx].id.clone();
                let r = store.message(&mut rng, now, from.clone(), Some(root_id), None, false, &[]);
                let ch = &mut store.teams[ti].channels[ci];
                ch.seq = r.seq;
                let root = &mut ch.messages[root_idx];
                root.seq = r.seq;
                root.modified = now;
                root.replies.push(r);
                count[1] += 1;
            }
            for (k, kind) in (0..edits)
                .map(|k| (k, 2))
                .chain((0..deletes).map(|k| (k, 3)))
            {
                let len = store.teams[ti].channels[ci].messages.len();
                if len == 0 {
                    break;
                }
                let (_, seq) = store.next_id(now);
                let ch = &mut store.teams[ti].channels[ci];
                let m = &mut ch.messages[k % len];
                m.seq = seq;
                m.modified = now;
                if kind == 2 {
                    m.edited = Some(now);
                    m.body.push_str("<p>(edited)</p>");
                } else {
                    m.deleted = Some(now);
                }
                ch.seq = seq;
                count[kind] += 1;
            }
        }
    }
    axum::Json(
        json!({"messages": count[0], "replies": count[1], "edits": count[2], "deletes": count[3]}),
    )
    .into_response()
}
