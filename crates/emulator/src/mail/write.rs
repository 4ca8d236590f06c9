//! Restore writes: create a message from JSON (honouring `Integer 0x0E07` and the delivery/submit
//! time extended properties) or from base64 MIME (always a draft, as Graph).

use super::access::{self, can_write};
use super::json::ViewOpts;
use super::spec::{Addr, Charset, MessageSpec};
use super::store::{Created, DRAFTS, Mailbox, MsgKey};
use crate::auth::Caller;
use crate::error::GraphError;
use crate::odata::{ODataQuery, Prefer};
use crate::respond;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Store a created message in `folder`; returns its key.
pub(crate) fn insert_created(
    mb: &mut Mailbox,
    spec: MessageSpec,
    raw: Option<Arc<[u8]>>,
    folder: u32,
    now: DateTime<Utc>,
) -> MsgKey {
    mb.created.push(Created {
        spec,
        raw,
        created: now,
    });
    let key = MsgKey::created(mb.created.len() as u32 - 1);
    let seq_next = mb.seq + 1;
    let o = mb.overlays.entry(key).or_default();
    o.folder = Some(folder);
    o.arrived = seq_next;
    mb.folders[folder as usize].extras.push(key);
    mb.log_change(key, &[folder], now);
    key
}

fn bad(msg: impl Into<String>) -> GraphError {
    GraphError::bad_request("RequestBodyRead", msg)
}

fn parse_recipients(v: Option<&Value>, field: &str) -> Result<Vec<Addr>, GraphError> {
    let Some(v) = v else { return Ok(vec![]) };
    let arr = v
        .as_array()
        .ok_or_else(|| bad(format!("'{field}' must be an array of recipients.")))?;
    arr.iter()
        .map(|r| {
            let ea = r
                .get("emailAddress")
                .ok_or_else(|| bad(format!("A recipient in '{field}' has no emailAddress.")))?;
            let address = ea
                .get("address")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !address.contains('@') {
                return Err(GraphError::bad_request(
                    "ErrorInvalidRecipients",
                    "At least one recipient is not valid.",
                ));
            }
            Ok(Addr {
                name: ea
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                address,
            })
        })
        .collect()
}

fn parse_recipient(v: Option<&Value>, field: &str) -> Result<Option<Addr>, GraphError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(
            parse_recipients(Some(&Value::Array(vec![v.clone()])), field)?
                .into_iter()
                .next(),
        ),
    }
}

/// Apply subject/body/recipients of a draft update.
pub(crate) fn apply_draft_fields(
    spec: &mut MessageSpec,
    obj: &Map<String, Value>,
) -> Result<(), GraphError> {
    if let Some(s) = obj.get("subject") {
        spec.subject = s.as_str().unwrap_or("").to_string();
    }
    if let Some(b) = obj.get("body") {
        let ct = b
            .get("contentType")
            .and_then(Value::as_str)
            .unwrap_or("text");
        let content = b
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if ct.eq_ignore_ascii_case("html") {
            spec.text = strip_html(&content);
            spec.html = Some(content);
        } else {
            spec.text = content;
            spec.html = None;
        }
    }
    if obj.contains_key("toRecipients") {
        spec.to = parse_recipients(obj.get("toRecipients"), "toRecipients")?;
    }
    if obj.contains_key("ccRecipients") {
        spec.cc = parse_recipients(obj.get("ccRecipients"), "ccRecipients")?;
    }
    if obj.contains_key("bccRecipients") {
        spec.bcc = parse_recipients(obj.get("bccRecipients"), "bccRecipients")?;
    }
    Ok(())
}

fn strip_html(h: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in h.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
}

const CREATABLE: &[&str] = &[
    "subject",
    "body",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "importance",
    "isRead",
    "flag",
    "categories",
    "internetMessageId",
    "internetMessageHeaders",
    "singleValueExtendedProperties",
    "multiValueExtendedProperties",
    "attachments",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "inferenceClassification",
    "receivedDateTime",
    "sentDateTime",
    "@odata.type",
];

/// Build a spec from Graph message JSON. Returns (spec, explicit isRead).
pub(crate) fn spec_from_json(v: &Value, now: DateTime<Utc>) -> Result<MessageSpec, GraphError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad("The request body must be a JSON object."))?;
    for k in obj.keys() {
        if !CREATABLE.contains(&k.as_str()) {
            return Err(bad(format!(
                "The property '{k}' does not exist on type 'microsoft.graph.message'. Make sure to only use property names that are defined by the type."
            )));
        }
    }
    let mut spec = MessageSpec {
        message_id: obj
            .get("internetMessageId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("<{}@emulator.local>", uuid::Uuid::new_v4().simple())),
        subject: String::new(),
        from: parse_recipient(obj.get("from"), "from")?,
        to: vec![],
        cc: vec![],
        bcc: vec![],
        reply_to: parse_recipients(obj.get("replyTo"), "replyTo")?,
        sent: now,
        received: now,
        text: String::new(),
        html: None,
        charset: Charset::Utf8,
        attachments: vec![],
        in_reply_to: None,
        references: vec![],
        conversation: 0,
        importance: "normal".into(),
        is_read: true,
        is_draft: true,
        flag: "notFlagged".into(),
        categories: vec![],
        extra_headers: vec![],
    };
    apply_draft_fields(&mut spec, obj)?;
    if let Some(i) = obj.get("importance") {
        spec.importance = i
            .as_str()
            .filter(|s| matches!(*s, "low" | "normal" | "high"))
            .ok_or_else(|| bad("Invalid importance."))?
            .to_string();
    }
    if let Some(c) = obj.get("categories") {
        spec.categories = serde_json::from_value(c.clone())
            .map_err(|_| bad("categories must be an array of strings."))?;
    }
    if let Some(f) = obj.get("flag") {
        let s = f
            .get("flagStatus")
            .and_then(Value::as_str)
            .unwrap_or("notFlagged");
        if !matches!(s, "notFlagged" | "flagged" | "complete") {
            return Err(bad(format!("Invalid flagStatus '{s}'.")));
        }
        spec.flag = s.into();
    }
    let mut read_from_flags = None;
    if let Some(props) = obj.get("singleValueExtendedProperties") {
        let arr = props
            .as_array()
            .ok_or_else(|| bad("singleValueExtendedProperties must be an array."))?;
        for p in arr {
            let id = p
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("An extended property has no id."))?;
            let val = p
                .get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("An extended property has no string value."))?;
            let norm = id
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            match norm.as_str() {
                "integer 0x0e07" => {
                    let flags: i64 = val
                        .parse()
                        .map_err(|_| bad(format!("Invalid Integer value '{val}'.")))?;
                    // MSGFLAG_UNSENT (0x8) keeps it a draft; MSGFLAG_READ (0x1) marks it read.
                    spec.is_draft = flags & 0x8 != 0;
                    read_from_flags = Some(flags & 0x1 != 0);
                }
                "systemtime 0x0e06" => {
                    spec.received = DateTime::parse_from_rfc3339(val)
                        .map_err(|_| bad(format!("Invalid SystemTime value '{val}'.")))?
                        .with_timezone(&Utc);
                }
                "systemtime 0x0039" => {
                    spec.sent = DateTime::parse_from_rfc3339(val)
                        .map_err(|_| bad(format!("Invalid SystemTime value '{val}'.")))?
                        .with_timezone(&Utc);
                }
                _ => {}
            }
        }
    }
    spec.is_read = match obj.get("isRead") {
        Some(v) => v
            .as_bool()
            .ok_or_else(|| bad("isRead must be a boolean."))?,
        None => read_from_flags.unwrap_or(true),
    };
    if let Some(h) = obj.get("internetMessageHeaders") {
        let arr = h
            .as_array()
            .ok_or_else(|| bad("internetMessageHeaders must be an array."))?;
        for x in arr {
            let name = x.get("name").and_then(Value::as_str).unwrap_or("");
            if !name.to_ascii_lowercase().starts_with("x-") {
                return Err(GraphError::bad_request(
                    "InvalidInternetMessageHeader",
                    format!(
                        "The internet message header name '{name}' should start with 'x-' or 'X-'."
                    ),
                ));
            }
            spec.extra_headers.push((
                name.to_string(),
                x.get("value")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ));
        }
    }
    if let Some(atts) = obj.get("attachments") {
        for a in atts
            .as_array()
            .ok_or_else(|| bad("attachments must be an array."))?
        {
            spec.attachments
                .push(super::attachments::attachment_from_json(a, now)?);
        }
    }
    spec.conversation = spec.message_id.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    Ok(spec)
}

/// `POST /users/{u}/messages` (Drafts) and `POST /users/{u}/mailFolders/{f}/messages`.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(p): Path<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    can_write(&caller)?;
    let user = p.get("user").cloned().unwrap_or_default();
    let now = state.clock.now();
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (spec, raw) = if ct.starts_with("text/plain") {
        let text: String = String::from_utf8_lossy(&body).split_whitespace().collect();
        let mime = base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|_| {
                GraphError::bad_request(
                    "ErrorMimeContentInvalidBase64String",
                    "Invalid base64 string for MIME content.",
                )
            })?;
        let mut spec = super::parse::parse(&mime, now).ok_or_else(|| {
            GraphError::bad_request("ErrorMimeContentInvalid", "The MIME content is invalid.")
        })?;
        // MIME creation cannot set MAPI flags: always a draft, as Graph does.
        spec.is_draft = true;
        spec.received = now;
        (spec, Some(Arc::from(mime)))
    } else if ct.starts_with("application/json") {
        let v = access::json_body(&body)?;
        (spec_from_json(&v, now)?, None)
    } else {
        return Err(GraphError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "Content-Type must be application/json or text/plain (base64 MIME).",
        ));
    };
    let prefer = Prefer::from_headers(&headers);
    let (_, mb) = access::mailbox(&state, &user)?;
    let mut mb = mb.lock();
    let folder = match p.get("folder") {
        Some(f) => access::folder(&mb, f)?,
        None => DRAFTS,
    };
    let key = insert_created(&mut mb, spec, raw, folder, now);
    let mut v = super::messages::render_message(
        &state,
        &mb,
        key,
        folder,
        &ODataQuery::default(),
        ViewOpts {
            immutable: prefer.immutable_id,
            body_text: prefer.body_text,
        },
    )?;
    v["@odata.context"] = json!(state.context(&format!("users('{user}')/messages/$entity")));
    Ok(respond::json(StatusCode::CREATED, &v))
}
