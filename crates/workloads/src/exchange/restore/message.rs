//! A stored message (MIME content + Graph JSON) → the JSON that creates it again through
//! `POST /users/{u}/mailFolders/{f}/messages`, plus the attachments to add afterwards.
//!
//! Graph creates a message from MIME only as a draft, and MIME cannot carry read state, flags or
//! categories. So the message is created from JSON (graph-facts §4.5): the body and attachments
//! come from the stored MIME (what Graph served), the envelope and MAPI-ish state from the stored
//! JSON, and `singleValueExtendedProperties` set `PidTagMessageFlags` (`Integer 0x0E07`: read bit,
//! unsent bit only for real drafts), the delivery time (`SystemTime 0x0E06`) and the submit time
//! (`SystemTime 0x0039`), so the restored message is not a draft and keeps its dates.

use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde_json::{Map, Value, json};

/// `PidTagMessageFlags` bits.
const MSGFLAG_READ: i64 = 0x1;
const MSGFLAG_UNSENT: i64 = 0x8;

/// Properties copied verbatim from the stored JSON when present (all writable at creation).
const COPIED: &[&str] = &[
    "subject",
    "importance",
    "isRead",
    "categories",
    "from",
    "sender",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "internetMessageId",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "inferenceClassification",
];

/// One attachment taken from the MIME.
#[derive(Debug, Clone, PartialEq)]
pub struct MimeAttachment {
    /// File name (a nested message gets `<subject>.eml`).
    pub name: String,
    /// `type/subtype`.
    pub content_type: String,
    /// Decoded bytes.
    pub data: Vec<u8>,
    /// `Content-ID` without angle brackets, for inline parts.
    pub content_id: Option<String>,
    /// Shown inline in the body.
    pub is_inline: bool,
    /// For a nested message (`message/rfc822`) that has no attachments of its own: the Graph
    /// `message` JSON that recreates it as a real `itemAttachment` (Outlook shows it as an
    /// embedded message, not a file). `None` for files, and for nested messages carrying
    /// attachments: Graph cannot create those inside an item attachment, so they stay an `.eml`
    /// file attachment holding the exact bytes (nothing is lost).
    pub item: Option<Value>,
}

impl MimeAttachment {
    /// The Graph `fileAttachment` JSON (POST body, or an element of `attachments` at creation).
    pub fn file_attachment_json(&self) -> Value {
        let mut v = json!({
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": self.name,
            "contentType": self.content_type,
            "contentBytes": base64::engine::general_purpose::STANDARD.encode(&self.data),
            "isInline": self.is_inline,
        });
        if let Some(cid) = &self.content_id {
            v["contentId"] = json!(cid);
        }
        v
    }

    /// The attachment's create JSON: an `itemAttachment` for a nested message that can be one
    /// (see [`MimeAttachment::item`]), else the `fileAttachment`.
    pub fn attachment_json(&self) -> Value {
        match &self.item {
            Some(item) => json!({
                "@odata.type": "#microsoft.graph.itemAttachment",
                "name": self.name,
                "item": item,
            }),
            None => self.file_attachment_json(),
        }
    }

    /// The `createUploadSession` body for a large attachment.
    pub fn upload_session_json(&self) -> Value {
        let mut item = json!({
            "attachmentType": "file",
            "name": self.name,
            "size": self.data.len(),
            "contentType": self.content_type,
            "isInline": self.is_inline,
        });
        if let Some(cid) = &self.content_id {
            item["contentId"] = json!(cid);
        }
        json!({ "AttachmentItem": item })
    }
}

/// What the stored MIME yields: the body as Graph's `itemBody` and the attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct MimeParts {
    /// `{"contentType":"html"|"text","content":…}`, if the MIME has a body.
    pub body: Option<Value>,
    /// Attachments in MIME order.
    pub attachments: Vec<MimeAttachment>,
}

/// Parse the stored MIME. `None` when the bytes are not a message at all.
pub fn parse_mime(mime: &[u8]) -> Option<MimeParts> {
    if mime.is_empty() {
        return None;
    }
    let msg = MessageParser::default().parse(mime)?;
    let body = match (msg.html_part(0), msg.text_part(0)) {
        (Some(p), _) if matches!(p.body, PartType::Html(_)) => {
            Some(json!({"contentType": "html", "content": p.text_contents().unwrap_or_default()}))
        }
        (_, Some(p)) if matches!(p.body, PartType::Text(_)) => {
            Some(json!({"contentType": "text", "content": p.text_contents().unwrap_or_default()}))
        }
        _ => None,
    };
    let mut attachments = Vec::new();
    for part in msg.attachments() {
        let mut item = None;
        let (name, data) = match &part.body {
            PartType::Message(inner) => {
                let subject = inner.subject().unwrap_or("message");
                // Upload sessions take files only: a big nested message stays an .eml file.
                if (inner.raw_message().len() as u64) < tenantvault_graph::OUTLOOK_SESSION_MIN {
                    item = embedded_message_json(inner);
                }
                let name = match (&item, part.attachment_name()) {
                    (_, Some(n)) => n.to_string(),
                    (Some(_), None) => subject.to_string(),
                    (None, None) => format!("{subject}.eml"),
                };
                (name, inner.raw_message().to_vec())
            }
            PartType::Multipart(_) => continue,
            _ => (
                part.attachment_name().unwrap_or("attachment").to_string(),
                part.contents().to_vec(),
            ),
        };
        let content_type = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(s) => format!("{}/{}", c.ctype(), s),
                None => c.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let content_id = part
            .content_id()
            .map(|s| s.trim_matches(|c| c == '<' || c == '>').to_string());
        let is_inline =
            part.content_disposition().is_some_and(|d| d.is_inline()) && content_id.is_some();
        attachments.push(MimeAttachment {
            name,
            content_type,
            data,
            content_id,
            is_inline,
            item,
        });
    }
    Some(MimeParts { body, attachments })
}

fn addr_json(a: &mail_parser::Addr<'_>) -> Option<Value> {
    let address = a.address()?;
    let mut ea = json!({ "address": address });
    if let Some(n) = a.name().filter(|n| !n.is_empty()) {
        ea["name"] = json!(n);
    }
    Some(json!({ "emailAddress": ea }))
}

fn addrs_json(list: Option<&mail_parser::Address<'_>>) -> Vec<Value> {
    list.map(|l| l.iter().filter_map(addr_json).collect())
        .unwrap_or_default()
}

/// The Graph `message` JSON of a nested message for an `itemAttachment`, or `None` when it
/// carries attachments of its own (kept as an `.eml` file instead, byte for byte).
fn embedded_message_json(inner: &mail_parser::Message<'_>) -> Option<Value> {
    if inner.attachment_count() > 0 {
        return None;
    }
    let mut m = Map::new();
    m.insert("@odata.type".into(), json!("#microsoft.graph.message"));
    m.insert("subject".into(), json!(inner.subject().unwrap_or("")));
    let body = match (inner.html_part(0), inner.text_part(0)) {
        (Some(p), _) if matches!(p.body, PartType::Html(_)) => {
            json!({"contentType": "html", "content": p.text_contents().unwrap_or_default()})
        }
        (_, Some(p)) => {
            json!({"contentType": "text", "content": p.text_contents().unwrap_or_default()})
        }
        _ => json!({"contentType": "text", "content": ""}),
    };
    m.insert("body".into(), body);
    if let Some(from) = inner.from().and_then(|f| f.first()).and_then(addr_json) {
        m.insert("from".into(), from);
    }
    for (key, list) in [("toRecipients", inner.to()), ("ccRecipients", inner.cc())] {
        let v = addrs_json(list);
        if !v.is_empty() {
            m.insert(key.into(), Value::Array(v));
        }
    }
    if let Some(id) = inner.message_id() {
        m.insert("internetMessageId".into(), json!(format!("<{id}>")));
    }
    // Not a draft, read, and dated as the nested message says (as for top-level messages).
    let mut props = vec![json!({"id": "Integer 0x0E07", "value": MSGFLAG_READ.to_string()})];
    if let Some(d) = inner.date() {
        let t = d.to_rfc3339();
        props.push(json!({"id": "SystemTime 0x0E06", "value": t}));
        props.push(json!({"id": "SystemTime 0x0039", "value": t}));
    }
    m.insert("singleValueExtendedProperties".into(), Value::Array(props));
    Some(Value::Object(m))
}

fn non_null(v: &Value) -> Option<&Value> {
    Some(v).filter(|v| !v.is_null())
}

/// The create body for a message from its stored JSON and parsed MIME (attachments excluded:
/// the caller decides which go inline).
pub fn create_body(stored: &Value, mime: Option<&MimeParts>) -> Value {
    let mut out = Map::new();
    for key in COPIED {
        if let Some(v) = stored.get(*key).and_then(non_null) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    if let Some(flag) = stored.get("flag").and_then(Value::as_object) {
        let f: Map<String, Value> = flag
            .iter()
            .filter(|(k, v)| !v.is_null() && !k.starts_with('@'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !f.is_empty() {
            out.insert("flag".into(), Value::Object(f));
        }
    }
    let body = mime
        .and_then(|m| m.body.clone())
        .or_else(|| stored.get("body").and_then(non_null).cloned());
    if let Some(b) = body {
        out.insert("body".into(), b);
    }
    let is_read = stored
        .get("isRead")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let is_draft = stored
        .get("isDraft")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut flags = 0;
    if is_read {
        flags |= MSGFLAG_READ;
    }
    if is_draft {
        flags |= MSGFLAG_UNSENT;
    }
    let mut props = vec![json!({"id": "Integer 0x0E07", "value": flags.to_string()})];
    if let Some(t) = stored.get("receivedDateTime").and_then(Value::as_str) {
        props.push(json!({"id": "SystemTime 0x0E06", "value": t}));
    }
    if let Some(t) = stored.get("sentDateTime").and_then(Value::as_str) {
        props.push(json!({"id": "SystemTime 0x0039", "value": t}));
    }
    out.insert("singleValueExtendedProperties".into(), Value::Array(props));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIME: &[u8] = b"From: Ann <ann@x.org>\r\nTo: bob@x.org\r\nSubject: Hi\r\nMessage-ID: <m1@x>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\nplain body\r\n\
--b2\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n--b2--\r\n--b1\r\n\
Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1\r\nContent-Type: image/png\r\n\
Content-Disposition: inline; filename=\"i.png\"\r\nContent-ID: <img1@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n--b1--\r\n";

    #[test]
    fn mime_body_and_attachments() {
        let p = parse_mime(MIME).expect("parses");
        assert_eq!(p.body.as_ref().unwrap()["contentType"], "html");
        assert!(
            p.body.as_ref().unwrap()["content"]
                .as_str()
                .unwrap()
                .contains("html body")
        );
        assert_eq!(p.attachments.len(), 2);
        assert_eq!(p.attachments[0].name, "r.pdf");
        assert_eq!(p.attachments[0].data, b"%PDF-1.4\n");
        assert!(!p.attachments[0].is_inline);
        assert_eq!(p.attachments[1].content_id.as_deref(), Some("img1@x"));
        assert!(p.attachments[1].is_inline);
        assert_eq!(p.attachments[1].content_type, "image/png");
    }

    const NESTED: &[u8] = b"From: a@x.org\r\nTo: b@x.org\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n\
--o\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n\
From: Carl <carl@y.org>\r\nTo: Dee <dee@y.org>, eve@y.org\r\nCc: fay@y.org\r\nSubject: Plain inner\r\n\
Date: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <inner1@y>\r\nContent-Type: text/html\r\n\r\n<p>inner body</p>\r\n\
--o\r\nContent-Type: message/rfc822\r\n\r\n\
From: g@y.org\r\nSubject: With file\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"i\"\r\n\r\n\
--i\r\nContent-Type: text/plain\r\n\r\nhas a file\r\n--i\r\nContent-Type: application/pdf; name=\"f.pdf\"\r\n\
Content-Disposition: attachment; filename=\"f.pdf\"\r\n\r\nPDF\r\n--i--\r\n--o--\r\n";

    #[test]
    fn nested_messages_become_item_attachments_unless_they_carry_files() {
        let p = parse_mime(NESTED).expect("parses");
        assert_eq!(p.attachments.len(), 2);
        let plain = &p.attachments[0];
        assert_eq!(plain.name, "Plain inner");
        let item = plain.item.as_ref().expect("an itemAttachment");
        assert_eq!(item["subject"], "Plain inner");
        assert_eq!(item["body"]["contentType"], "html");
        assert!(
            item["body"]["content"]
                .as_str()
                .unwrap()
                .contains("inner body")
        );
        assert_eq!(item["from"]["emailAddress"]["address"], "carl@y.org");
        assert_eq!(item["from"]["emailAddress"]["name"], "Carl");
        assert_eq!(item["toRecipients"].as_array().unwrap().len(), 2);
        assert_eq!(
            item["ccRecipients"][0]["emailAddress"]["address"],
            "fay@y.org"
        );
        assert_eq!(item["internetMessageId"], "<inner1@y>");
        let props = item["singleValueExtendedProperties"].as_array().unwrap();
        assert_eq!(props[0], json!({"id": "Integer 0x0E07", "value": "1"}));
        assert!(
            props[1]["value"]
                .as_str()
                .unwrap()
                .starts_with("2024-01-02T03:04:05")
        );
        let j = plain.attachment_json();
        assert_eq!(j["@odata.type"], "#microsoft.graph.itemAttachment");
        assert_eq!(j["item"]["@odata.type"], "#microsoft.graph.message");

        // The inner message with a file of its own stays an .eml file attachment, bytes intact.
        let with_file = &p.attachments[1];
        assert!(with_file.item.is_none());
        assert_eq!(with_file.name, "With file.eml");
        assert!(with_file.data.starts_with(b"From: g@y.org"));
        assert_eq!(
            with_file.attachment_json()["@odata.type"],
            "#microsoft.graph.fileAttachment"
        );
    }

    #[test]
    fn text_only_body_stays_text() {
        let p = parse_mime(b"Subject: t\r\n\r\nhello\r\n").unwrap();
        assert_eq!(p.body.unwrap()["contentType"], "text");
        assert!(parse_mime(b"").is_none());
    }

    #[test]
    fn create_body_is_not_a_draft_and_keeps_state() {
        let stored = json!({
            "id": "x", "subject": "S", "isRead": false, "isDraft": false, "importance": "high",
            "categories": ["Red"], "flag": {"flagStatus": "flagged", "dueDateTime": null},
            "receivedDateTime": "2024-01-02T03:04:05Z", "sentDateTime": "2024-01-02T03:00:00Z",
            "changeKey": "ck", "parentFolderId": "f", "body": {"contentType": "text", "content": "json body"}
        });
        let b = create_body(&stored, None);
        assert_eq!(b["subject"], "S");
        assert_eq!(b["flag"], json!({"flagStatus": "flagged"}));
        assert_eq!(b["body"]["content"], "json body");
        assert!(
            b.get("id").is_none()
                && b.get("changeKey").is_none()
                && b.get("parentFolderId").is_none()
        );
        let props = b["singleValueExtendedProperties"].as_array().unwrap();
        assert_eq!(props[0], json!({"id": "Integer 0x0E07", "value": "0"}));
        assert_eq!(props[1]["value"], "2024-01-02T03:04:05Z");
        assert_eq!(props[2]["id"], "SystemTime 0x0039");

        let draft = json!({"isRead": true, "isDraft": true});
        assert_eq!(
            create_body(&draft, None)["singleValueExtendedProperties"][0]["value"],
            "9"
        );
        let mime = parse_mime(MIME).unwrap();
        assert_eq!(
            create_body(&stored, Some(&mime))["body"]["contentType"],
            "html"
        );
    }
}
