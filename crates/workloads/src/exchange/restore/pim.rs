//! Stored event and contact JSON → create bodies (`POST /users/{u}/events`, `/contacts`).
//!
//! Only writable properties are sent; server-assigned ones (ids, change keys, timestamps, web
//! links, response state) are dropped, as Graph rejects or ignores them.

use serde_json::{Map, Value};

/// Writable event properties.
const EVENT_WRITABLE: &[&str] = &[
    "subject",
    "body",
    "start",
    "end",
    "isAllDay",
    "location",
    "locations",
    "attendees",
    "categories",
    "importance",
    "isReminderOn",
    "reminderMinutesBeforeStart",
    "sensitivity",
    "showAs",
    "recurrence",
    "responseRequested",
    "allowNewTimeProposals",
    "hideAttendees",
    "isOnlineMeeting",
    "onlineMeetingProvider",
];

/// Properties of a contact that the server assigns.
const CONTACT_READ_ONLY: &[&str] = &[
    "id",
    "changeKey",
    "parentFolderId",
    "createdDateTime",
    "lastModifiedDateTime",
];

/// The kind of calendar item, from `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// A plain event.
    Single,
    /// The master of a recurring series (carries `recurrence`).
    SeriesMaster,
    /// A regular occurrence of a series.
    Occurrence,
    /// A modified occurrence of a series.
    Exception,
}

/// The event's type (`singleInstance` when missing or unknown).
pub fn event_type(v: &Value) -> EventType {
    match v.get("type").and_then(Value::as_str) {
        Some("seriesMaster") => EventType::SeriesMaster,
        Some("occurrence") => EventType::Occurrence,
        Some("exception") => EventType::Exception,
        _ => EventType::Single,
    }
}

/// Create body of an event. `keep_recurrence` is false when an occurrence is restored on its
/// own (its series is not part of the restore).
pub fn event_body(stored: &Value, keep_recurrence: bool) -> Value {
    let mut out = Map::new();
    for key in EVENT_WRITABLE {
        if *key == "recurrence" && !keep_recurrence {
            continue;
        }
        if let Some(v) = stored.get(*key).filter(|v| !v.is_null()) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// Create body of a contact.
pub fn contact_body(stored: &Value) -> Value {
    let mut out = Map::new();
    if let Some(obj) = stored.as_object() {
        for (k, v) in obj {
            if k.starts_with('@') || CONTACT_READ_ONLY.contains(&k.as_str()) || v.is_null() {
                continue;
            }
            out.insert(k.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// The file attachments of an event from its stored content (`{"value":[…]}`), ready to POST.
pub fn event_attachments(content: &[u8]) -> Result<Vec<Value>, serde_json::Error> {
    if content.is_empty() {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_slice(content)?;
    let mut out = Vec::new();
    for a in v
        .get("value")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let t = a.get("@odata.type").and_then(Value::as_str).unwrap_or("");
        if !t.ends_with("fileAttachment") {
            continue;
        }
        let mut m = Map::new();
        m.insert(
            "@odata.type".into(),
            Value::from("#microsoft.graph.fileAttachment"),
        );
        for k in [
            "name",
            "contentType",
            "contentBytes",
            "isInline",
            "contentId",
        ] {
            if let Some(x) = a.get(k).filter(|x| !x.is_null()) {
                m.insert(k.into(), x.clone());
            }
        }
        out.push(Value::Object(m));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_body_drops_server_fields() {
        let e = json!({"id":"E","changeKey":"c","subject":"S","type":"seriesMaster",
            "start":{"dateTime":"2024-01-01T09:00:00","timeZone":"UTC"},
            "recurrence":{"pattern":{"type":"weekly"}},"webLink":"x","iCalUId":"u","location":null});
        let b = event_body(&e, true);
        assert_eq!(b["subject"], "S");
        assert!(b.get("id").is_none() && b.get("webLink").is_none() && b.get("location").is_none());
        assert!(b.get("recurrence").is_some());
        assert!(event_body(&e, false).get("recurrence").is_none());
        assert_eq!(event_type(&e), EventType::SeriesMaster);
        assert_eq!(event_type(&json!({})), EventType::Single);
    }

    #[test]
    fn contact_body_and_attachments() {
        let c = json!({"id":"C","@odata.etag":"e","displayName":"Zoe","parentFolderId":"p","nickName":null});
        assert_eq!(contact_body(&c), json!({"displayName":"Zoe"}));
        let atts = br##"{"value":[{"@odata.type":"#microsoft.graph.fileAttachment","id":"A","name":"a.txt","contentBytes":"aGk=","size":2},
            {"@odata.type":"#microsoft.graph.referenceAttachment","name":"link"}]}"##;
        let a = event_attachments(atts).unwrap();
        assert_eq!(a.len(), 1);
        assert!(a[0].get("id").is_none());
        assert_eq!(a[0]["contentBytes"], "aGk=");
        assert!(event_attachments(b"").unwrap().is_empty());
    }
}
