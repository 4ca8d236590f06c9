//! The Exchange item layout inside a mailbox snapshot: item ids, kinds, attribute names, and the
//! extraction of the fields we index from Graph's JSON.
//!
//! See the module documentation of [`crate::exchange`] for the full description; this file is the
//! single place that spells the names.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// `OwnerRef::workload` of every Exchange snapshot.
pub const WORKLOAD: &str = "exchange";

/// Item kinds used in Exchange snapshots.
pub mod kind {
    /// A mail folder (Graph `mailFolder` JSON as metadata, no content).
    pub const MAIL_FOLDER: &str = "mailFolder";
    /// A message: content = MIME from `$value`, metadata = Graph `message` JSON.
    pub const MESSAGE: &str = "message";
    /// A calendar event: metadata = Graph `event` JSON; content = the event's attachments collection JSON.
    pub const EVENT: &str = "event";
    /// A contact: metadata = Graph `contact` JSON, no content.
    pub const CONTACT: &str = "contact";
}

/// Item-id prefixes. Ids are `<prefix><Graph id>`; the Graph id is the immutable id for messages,
/// events and contacts (requested with `Prefer: IdType="ImmutableId"`) and the folder id for folders.
pub mod prefix {
    /// `folder:<mailFolder id>`
    pub const FOLDER: &str = "folder:";
    /// `msg:<immutable message id>`
    pub const MESSAGE: &str = "msg:";
    /// `event:<immutable event id>`
    pub const EVENT: &str = "event:";
    /// `contact:<immutable contact id>`
    pub const CONTACT: &str = "contact:";
}

/// Attribute names (`ItemRecord::attrs`), kept inline in the item list so browsing never reads blobs.
pub mod attr {
    /// Graph id of the folder holding the item (messages, folders: their parent).
    pub const FOLDER_ID: &str = "folderId";
    /// Sender address (`from`, else `sender`), lower-cased.
    pub const FROM: &str = "from";
    /// Sender display name.
    pub const FROM_NAME: &str = "fromName";
    /// All recipients (to, cc, bcc) as `name <address>` joined with `; `.
    pub const RECIPIENTS: &str = "recipients";
    /// `true` / `false`.
    pub const IS_READ: &str = "isRead";
    /// `true` / `false`.
    pub const IS_DRAFT: &str = "isDraft";
    /// `true` / `false`.
    pub const HAS_ATTACHMENTS: &str = "hasAttachments";
    /// RFC 5322 Message-ID.
    pub const INTERNET_MESSAGE_ID: &str = "internetMessageId";
    /// Well-known folder name (`inbox`, `deleteditems`, `recoverableitemsdeletions`, …) when known.
    pub const WELL_KNOWN: &str = "wellKnownName";
    /// Folder display name (folders only; `name` holds it too).
    pub const DISPLAY_NAME: &str = "displayName";
    /// Event start (`start.dateTime` + zone as served).
    pub const START: &str = "start";
    /// Event end.
    pub const END: &str = "end";
    /// Event type (`singleInstance|occurrence|exception|seriesMaster`).
    pub const EVENT_TYPE: &str = "type";
    /// Graph id of the series master of an occurrence or exception.
    pub const SERIES_MASTER_ID: &str = "seriesMasterId";
    /// Original start of an occurrence or exception (`originalStart` as served, UTC).
    pub const ORIGINAL_START: &str = "originalStart";
    /// Primary e-mail address of a contact.
    pub const EMAIL: &str = "email";
}

/// Item id of a folder.
pub fn folder_item_id(folder_id: &str) -> String {
    format!("{}{folder_id}", prefix::FOLDER)
}

/// Item id of a message.
pub fn message_item_id(message_id: &str) -> String {
    format!("{}{message_id}", prefix::MESSAGE)
}

/// Item id of an event.
pub fn event_item_id(event_id: &str) -> String {
    format!("{}{event_id}", prefix::EVENT)
}

/// Item id of a contact.
pub fn contact_item_id(contact_id: &str) -> String {
    format!("{}{contact_id}", prefix::CONTACT)
}

/// The Graph id inside an item id (`msg:AAMk…` → `AAMk…`), if it has one of our prefixes.
pub fn graph_id(item_id: &str) -> Option<&str> {
    [
        prefix::FOLDER,
        prefix::MESSAGE,
        prefix::EVENT,
        prefix::CONTACT,
    ]
    .iter()
    .find_map(|p| item_id.strip_prefix(p))
}

/// Parse a Graph date-time (`2024-01-02T03:04:05Z`, with or without fraction / offset).
pub fn parse_graph_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Events use `dateTime` without a zone designator (`2024-01-02T03:04:05.0000000`) plus a
    // separate `timeZone`; we only read those for display, as UTC.
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn time_field(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    str_field(v, key).and_then(parse_graph_time)
}

fn bool_field(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

/// `{"emailAddress":{"name":..,"address":..}}` → (name, address).
fn email_address(v: &Value) -> Option<(String, String)> {
    let ea = v.get("emailAddress")?;
    let name = str_field(ea, "name").unwrap_or_default().to_string();
    let address = str_field(ea, "address").unwrap_or_default().to_string();
    if name.is_empty() && address.is_empty() {
        None
    } else {
        Some((name, address))
    }
}

fn format_address(name: &str, address: &str) -> String {
    match (name.is_empty(), address.is_empty()) {
        (true, _) => address.to_string(),
        (false, true) => name.to_string(),
        (false, false) => format!("{name} <{address}>"),
    }
}

/// The fields of a Graph `message` JSON that the backup and browse use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageFields {
    /// Graph id (immutable id when requested so).
    pub id: String,
    /// `changeKey`.
    pub change_key: Option<String>,
    /// `parentFolderId`.
    pub parent_folder_id: Option<String>,
    /// `subject`.
    pub subject: Option<String>,
    /// `from` (or `sender`) as (name, address).
    pub from: Option<(String, String)>,
    /// to + cc + bcc, formatted `name <address>`.
    pub recipients: Vec<String>,
    /// `receivedDateTime`.
    pub received: Option<DateTime<Utc>>,
    /// `createdDateTime`.
    pub created: Option<DateTime<Utc>>,
    /// `lastModifiedDateTime`.
    pub modified: Option<DateTime<Utc>>,
    /// `isDraft`.
    pub is_draft: Option<bool>,
    /// `isRead`.
    pub is_read: Option<bool>,
    /// `hasAttachments`.
    pub has_attachments: Option<bool>,
    /// `internetMessageId`.
    pub internet_message_id: Option<String>,
}

impl MessageFields {
    /// Read the fields from a message JSON object (missing fields stay `None`).
    pub fn from_json(v: &Value) -> MessageFields {
        let from = v
            .get("from")
            .and_then(email_address)
            .or_else(|| v.get("sender").and_then(email_address));
        let mut recipients = Vec::new();
        for key in ["toRecipients", "ccRecipients", "bccRecipients"] {
            if let Some(list) = v.get(key).and_then(Value::as_array) {
                recipients.extend(
                    list.iter()
                        .filter_map(email_address)
                        .map(|(n, a)| format_address(&n, &a)),
                );
            }
        }
        MessageFields {
            id: str_field(v, "id").unwrap_or_default().to_string(),
            change_key: str_field(v, "changeKey").map(str::to_string),
            parent_folder_id: str_field(v, "parentFolderId").map(str::to_string),
            subject: str_field(v, "subject").map(str::to_string),
            from,
            recipients,
            received: time_field(v, "receivedDateTime"),
            created: time_field(v, "createdDateTime"),
            modified: time_field(v, "lastModifiedDateTime"),
            is_draft: bool_field(v, "isDraft"),
            is_read: bool_field(v, "isRead"),
            has_attachments: bool_field(v, "hasAttachments"),
            internet_message_id: str_field(v, "internetMessageId").map(str::to_string),
        }
    }

    /// The inline attributes stored on the item record.
    pub fn attrs(&self, folder_id: &str) -> Vec<(String, String)> {
        let mut out = vec![(attr::FOLDER_ID.to_string(), folder_id.to_string())];
        if let Some((name, address)) = &self.from {
            out.push((attr::FROM.to_string(), address.to_lowercase()));
            if !name.is_empty() {
                out.push((attr::FROM_NAME.to_string(), name.clone()));
            }
        }
        if !self.recipients.is_empty() {
            out.push((attr::RECIPIENTS.to_string(), self.recipients.join("; ")));
        }
        for (key, val) in [
            (attr::IS_READ, self.is_read),
            (attr::IS_DRAFT, self.is_draft),
            (attr::HAS_ATTACHMENTS, self.has_attachments),
        ] {
            if let Some(b) = val {
                out.push((key.to_string(), b.to_string()));
            }
        }
        if let Some(mid) = &self.internet_message_id {
            out.push((attr::INTERNET_MESSAGE_ID.to_string(), mid.clone()));
        }
        out
    }
}

/// Merge a (possibly partial) delta update into the previous JSON object: fields present in
/// `update` replace those in `prev`; everything else is kept. Non-objects: `update` wins.
pub fn merge_update(prev: &Value, update: &Value) -> Value {
    match (prev, update) {
        (Value::Object(p), Value::Object(u)) => {
            let mut out = p.clone();
            for (k, v) in u {
                out.insert(k.clone(), v.clone());
            }
            Value::Object(out)
        }
        _ => update.clone(),
    }
}

/// Whether a delta update carries the full message (as opposed to only some changed properties).
/// Graph may send only changed properties on update; we treat an object without `subject` and
/// `receivedDateTime` as partial.
pub fn is_partial_message(v: &Value) -> bool {
    v.get("subject").is_none() && v.get("receivedDateTime").is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_round_trip() {
        assert_eq!(graph_id(&message_item_id("AAMkX=")), Some("AAMkX="));
        assert_eq!(graph_id(&folder_item_id("F1")), Some("F1"));
        assert_eq!(graph_id(&event_item_id("E")), Some("E"));
        assert_eq!(graph_id(&contact_item_id("C")), Some("C"));
        assert_eq!(graph_id("other"), None);
    }

    #[test]
    fn message_fields_and_attrs() {
        let v = json!({
            "id": "m1", "changeKey": "ck", "parentFolderId": "inbox-id", "subject": "Hello",
            "from": {"emailAddress": {"name": "Ann", "address": "Ann@Example.com"}},
            "toRecipients": [{"emailAddress": {"name": "Bob", "address": "bob@x.org"}}],
            "ccRecipients": [{"emailAddress": {"address": "c@x.org"}}],
            "receivedDateTime": "2024-03-01T10:00:00Z", "isRead": false, "isDraft": false,
            "hasAttachments": true, "internetMessageId": "<a@b>"
        });
        let f = MessageFields::from_json(&v);
        assert_eq!(f.subject.as_deref(), Some("Hello"));
        assert_eq!(f.recipients, vec!["Bob <bob@x.org>", "c@x.org"]);
        assert_eq!(
            f.received.unwrap().to_rfc3339(),
            "2024-03-01T10:00:00+00:00"
        );
        let attrs = f.attrs("inbox-id");
        assert!(attrs.contains(&("from".into(), "ann@example.com".into())));
        assert!(attrs.contains(&("isRead".into(), "false".into())));
        assert!(attrs.contains(&("recipients".into(), "Bob <bob@x.org>; c@x.org".into())));
    }

    #[test]
    fn sender_used_when_from_missing() {
        let v = json!({"id":"m","sender":{"emailAddress":{"address":"s@x"}}});
        assert_eq!(
            MessageFields::from_json(&v).from,
            Some((String::new(), "s@x".to_string()))
        );
    }

    #[test]
    fn merge_keeps_unmentioned_fields() {
        let prev = json!({"id":"m","subject":"S","isRead":false,"categories":[]});
        let upd = json!({"id":"m","isRead":true,"categories":["Red"]});
        assert!(is_partial_message(&upd));
        let m = merge_update(&prev, &upd);
        assert_eq!(
            m,
            json!({"id":"m","subject":"S","isRead":true,"categories":["Red"]})
        );
    }

    #[test]
    fn event_times_without_zone_parse() {
        assert!(parse_graph_time("2024-01-02T03:04:05.0000000").is_some());
        assert!(parse_graph_time("2024-01-02T03:04:05.123+02:00").is_some());
        assert!(parse_graph_time("garbage").is_none());
    }
}
