//! Graph JSON for messages, folders and attachments, derived from the same [`MessageSpec`] the
//! MIME is rendered from.

use super::ids::{ExId, folder_id, message_id};
use super::spec::{Addr, AttKind, AttSpec, MessageSpec};
use super::store::{Folder, Mailbox, MsgKey, Overlay};
use crate::clock::iso;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

/// How the client asked to see items.
#[derive(Debug, Clone, Copy, Default)]
pub struct ViewOpts {
    /// `Prefer: IdType="ImmutableId"`.
    pub immutable: bool,
    /// `Prefer: outlook.body-content-type="text"`.
    pub body_text: bool,
}

fn addr_json(a: &Addr) -> Value {
    json!({"emailAddress": {"name": a.name, "address": a.address}})
}

/// `changeKey` for a version of an item.
pub fn change_key(user: u32, key: u64, version: u32) -> String {
    let mut b = Vec::with_capacity(16);
    b.extend_from_slice(&[0x09, 0, 0, 0, 0x16, 0, 0]);
    b.extend_from_slice(&user.to_be_bytes());
    b.extend_from_slice(&(key as u32 ^ (key >> 32) as u32).to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    STANDARD.encode(b)
}

/// Effective view of a message: spec with overlay applied.
pub fn effective(spec: &MessageSpec, o: Option<&Overlay>) -> MessageSpec {
    let mut s = spec.clone();
    if let Some(o) = o {
        if let Some(r) = o.is_read {
            s.is_read = r;
        }
        if let Some(f) = &o.flag {
            s.flag = f.clone();
        }
        if let Some(c) = &o.categories {
            s.categories = c.clone();
        }
        if let Some(i) = &o.importance {
            s.importance = i.clone();
        }
        if let Some(sub) = &o.subject {
            s.subject = sub.clone();
        }
    }
    s
}

/// Full message JSON (before `$select`).
pub fn message_json(
    mb: &Mailbox,
    key: MsgKey,
    folder: u32,
    spec: &MessageSpec,
    opts: ViewOpts,
    with_headers: bool,
) -> Value {
    let o = mb.overlays.get(&key);
    let s = effective(spec, o);
    let version = o.map(|o| o.version).unwrap_or(0);
    let ck = change_key(mb.user, key.0, version);
    let id = message_id(mb.user, key, folder, opts.immutable);
    let created = s.received;
    let modified = o.and_then(|o| o.modified).unwrap_or(s.received);
    let (ctype, content) = match (&s.html, opts.body_text) {
        (Some(h), false) => ("html", h.clone()),
        _ => ("text", s.text.clone()),
    };
    let mut conv_index = vec![0x01u8];
    conv_index.extend_from_slice(&s.conversation.to_be_bytes());
    conv_index.extend_from_slice(&[0u8; 13]);
    for r in &s.references {
        conv_index.extend_from_slice(&(r.len() as u32).to_be_bytes());
        conv_index.push(0);
    }
    let mut m = Map::new();
    m.insert("@odata.etag".into(), json!(format!("W/\"{ck}\"")));
    m.insert("id".into(), json!(id));
    m.insert("createdDateTime".into(), json!(iso(created)));
    m.insert("lastModifiedDateTime".into(), json!(iso(modified)));
    m.insert("changeKey".into(), json!(ck));
    m.insert("categories".into(), json!(s.categories));
    m.insert("receivedDateTime".into(), json!(iso(s.received)));
    m.insert("sentDateTime".into(), json!(iso(s.sent)));
    m.insert("hasAttachments".into(), json!(s.has_attachments()));
    m.insert("internetMessageId".into(), json!(s.message_id));
    m.insert("subject".into(), json!(s.subject));
    m.insert("bodyPreview".into(), json!(s.body_preview()));
    m.insert("importance".into(), json!(s.importance));
    m.insert("parentFolderId".into(), json!(folder_id(mb.user, folder)));
    m.insert(
        "conversationId".into(),
        json!(format!(
            "AAQkA{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.conversation.to_be_bytes())
        )),
    );
    m.insert(
        "conversationIndex".into(),
        json!(STANDARD.encode(&conv_index)),
    );
    m.insert("isDeliveryReceiptRequested".into(), json!(false));
    m.insert("isReadReceiptRequested".into(), json!(false));
    m.insert("isRead".into(), json!(s.is_read));
    m.insert("isDraft".into(), json!(s.is_draft));
    m.insert(
        "webLink".into(),
        json!(format!(
            "https://outlook.office365.com/owa/?ItemID={}&exvsurl=1&viewmodel=ReadMessageItem",
            percent_encoding::utf8_percent_encode(&id, percent_encoding::NON_ALPHANUMERIC)
        )),
    );
    m.insert("inferenceClassification".into(), json!("focused"));
    m.insert(
        "body".into(),
        json!({"contentType": ctype, "content": content}),
    );
    if let Some(f) = &s.from {
        m.insert("sender".into(), addr_json(f));
        m.insert("from".into(), addr_json(f));
    }
    m.insert(
        "toRecipients".into(),
        Value::Array(s.to.iter().map(addr_json).collect()),
    );
    m.insert(
        "ccRecipients".into(),
        Value::Array(s.cc.iter().map(addr_json).collect()),
    );
    m.insert(
        "bccRecipients".into(),
        Value::Array(s.bcc.iter().map(addr_json).collect()),
    );
    m.insert(
        "replyTo".into(),
        Value::Array(s.reply_to.iter().map(addr_json).collect()),
    );
    m.insert("flag".into(), json!({"flagStatus": s.flag}));
    if with_headers {
        m.insert(
            "internetMessageHeaders".into(),
            Value::Array(headers_of(&s)),
        );
        m.insert(
            "uniqueBody".into(),
            json!({"contentType": ctype, "content": content}),
        );
    }
    Value::Object(m)
}

fn headers_of(s: &MessageSpec) -> Vec<Value> {
    let raw = super::mime::render(&MessageSpec {
        attachments: vec![],
        ..s.clone()
    });
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let text = String::from_utf8_lossy(&raw[..end])
        .replace("\r\n\t", " ")
        .replace("\r\n ", " ");
    text.split("\r\n")
        .filter_map(|l| l.split_once(": "))
        .filter(|(k, _)| !k.eq_ignore_ascii_case("Content-Type"))
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect()
}

/// Size Graph reports for an attachment.
pub fn attachment_size(a: &AttSpec) -> usize {
    match &a.kind {
        AttKind::File => a.data.len() + 200,
        AttKind::Item(m) => super::mime::render(m).len(),
        AttKind::Reference { url } => url.len() + 150,
    }
}

/// JSON of attachment `n` of a message (`expand_item` includes the attached item).
pub fn attachment_json(
    mb: &Mailbox,
    key: MsgKey,
    n: usize,
    a: &AttSpec,
    with_bytes: bool,
    expand_item: bool,
) -> Value {
    let id = ExId::Attachment {
        user: mb.user,
        key,
        n: n as u16,
    }
    .encode();
    attachment_json_with_id(&id, a, with_bytes, expand_item, mb.user)
}

/// Attachment JSON given its id.
pub fn attachment_json_with_id(
    id: &str,
    a: &AttSpec,
    with_bytes: bool,
    expand_item: bool,
    user: u32,
) -> Value {
    let mut m = Map::new();
    match &a.kind {
        AttKind::File => {
            m.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.fileAttachment"),
            );
            m.insert("@odata.mediaContentType".into(), json!(a.content_type));
        }
        AttKind::Item(_) => {
            m.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.itemAttachment"),
            );
        }
        AttKind::Reference { .. } => {
            m.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.referenceAttachment"),
            );
        }
    }
    m.insert("id".into(), json!(id));
    m.insert("lastModifiedDateTime".into(), json!(iso(a.modified)));
    m.insert("name".into(), json!(a.name));
    m.insert(
        "contentType".into(),
        if matches!(a.kind, AttKind::Item(_)) {
            Value::Null
        } else {
            json!(a.content_type)
        },
    );
    m.insert("size".into(), json!(attachment_size(a)));
    m.insert("isInline".into(), json!(a.is_inline()));
    match &a.kind {
        AttKind::File => {
            m.insert("contentId".into(), json!(a.content_id));
            m.insert("contentLocation".into(), Value::Null);
            if with_bytes {
                m.insert("contentBytes".into(), json!(STANDARD.encode(&a.data)));
            }
        }
        AttKind::Item(inner) if expand_item => {
            let mut item = inner_message_json(inner, user);
            item["@odata.type"] = json!("#microsoft.graph.message");
            m.insert("item".into(), item);
        }
        _ => {}
    }
    Value::Object(m)
}

fn inner_message_json(s: &MessageSpec, _user: u32) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(""));
    m.insert("createdDateTime".into(), json!(iso(s.received)));
    m.insert("lastModifiedDateTime".into(), json!(iso(s.received)));
    m.insert("receivedDateTime".into(), json!(iso(s.received)));
    m.insert("sentDateTime".into(), json!(iso(s.sent)));
    m.insert("hasAttachments".into(), json!(s.has_attachments()));
    m.insert("internetMessageId".into(), json!(s.message_id));
    m.insert("subject".into(), json!(s.subject));
    m.insert("bodyPreview".into(), json!(s.body_preview()));
    m.insert("importance".into(), json!(s.importance));
    m.insert("isRead".into(), json!(true));
    m.insert("isDraft".into(), json!(false));
    m.insert("body".into(), json!({"contentType": if s.html.is_some() {"html"} else {"text"}, "content": s.html.clone().unwrap_or_else(|| s.text.clone())}));
    if let Some(f) = &s.from {
        m.insert("from".into(), addr_json(f));
        m.insert("sender".into(), addr_json(f));
    }
    m.insert(
        "toRecipients".into(),
        Value::Array(s.to.iter().map(addr_json).collect()),
    );
    m.insert(
        "ccRecipients".into(),
        Value::Array(s.cc.iter().map(addr_json).collect()),
    );
    Value::Object(m)
}

/// Folder JSON.
pub fn folder_json(
    mb: &Mailbox,
    idx: u32,
    f: &Folder,
    total: usize,
    unread: usize,
    child_count: usize,
) -> Value {
    let parent = f.parent.map(|p| folder_id(mb.user, p)).unwrap_or_else(|| {
        // Recoverable Items' parent is the (unlisted) recoverable items root.
        ExId::Folder {
            user: mb.user,
            folder: u32::MAX,
        }
        .encode()
    });
    json!({
        "id": folder_id(mb.user, idx),
        "displayName": f.name,
        "parentFolderId": parent,
        "childFolderCount": child_count,
        "unreadItemCount": unread,
        "totalItemCount": total,
        "isHidden": f.hidden,
    })
}
