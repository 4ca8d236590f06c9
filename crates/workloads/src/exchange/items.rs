//! Graph JSON → repository item metadata ([`ItemMeta`]), and repository records → the views the
//! incremental logic and the filters need.

use std::collections::BTreeMap;

use serde_json::Value;
use tenantvault_repo::{ItemMeta, ItemRecord};

use super::decide::PrevInfo;
use super::filter::FilterView;
use super::layout::{self, MessageFields, attr, kind};

fn attrs_map(pairs: Vec<(String, String)>) -> BTreeMap<String, String> {
    pairs.into_iter().collect()
}

/// Metadata of a message item.
pub fn message_meta(
    fields: &MessageFields,
    json: Vec<u8>,
    folder_id: &str,
    path: &str,
    size_hint: u64,
) -> ItemMeta {
    ItemMeta {
        id: layout::message_item_id(&fields.id),
        kind: kind::MESSAGE.to_string(),
        path: path.to_string(),
        name: fields.subject.clone().unwrap_or_default(),
        created: fields.created,
        modified: fields.modified,
        received: fields.received,
        size_hint,
        version: fields.change_key.clone().unwrap_or_default(),
        metadata: Some(json),
        attrs: attrs_map(fields.attrs(folder_id)),
    }
}

/// Metadata of a mail folder item.
pub fn folder_meta(
    folder_id: &str,
    json: &Value,
    raw: Vec<u8>,
    path: &str,
    well_known: Option<&str>,
) -> ItemMeta {
    let display = json
        .get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut attrs = BTreeMap::new();
    if let Some(p) = json.get("parentFolderId").and_then(Value::as_str) {
        attrs.insert(attr::FOLDER_ID.to_string(), p.to_string());
    }
    attrs.insert(attr::DISPLAY_NAME.to_string(), display.to_string());
    if let Some(w) = well_known {
        attrs.insert(attr::WELL_KNOWN.to_string(), w.to_string());
    }
    ItemMeta {
        id: layout::folder_item_id(folder_id),
        kind: kind::MAIL_FOLDER.to_string(),
        path: path.to_string(),
        name: display.to_string(),
        version: json
            .get("changeKey")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        metadata: Some(raw),
        attrs,
        ..ItemMeta::default()
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn time_of(v: &Value, k: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    str_of(v, k).and_then(layout::parse_graph_time)
}

/// Metadata of an event item.
pub fn event_meta(json: &Value, raw: Vec<u8>, size_hint: u64) -> ItemMeta {
    let id = str_of(json, "id").unwrap_or_default();
    let mut attrs = BTreeMap::new();
    for (key, field) in [(attr::START, "start"), (attr::END, "end")] {
        if let Some(dt) = json
            .get(field)
            .and_then(|s| s.get("dateTime"))
            .and_then(Value::as_str)
        {
            let tz = json
                .get(field)
                .and_then(|s| s.get("timeZone"))
                .and_then(Value::as_str)
                .unwrap_or("UTC");
            attrs.insert(key.to_string(), format!("{dt} {tz}"));
        }
    }
    for (key, field) in [
        (attr::EVENT_TYPE, "type"),
        (attr::SERIES_MASTER_ID, "seriesMasterId"),
        (attr::ORIGINAL_START, "originalStart"),
    ] {
        if let Some(t) = str_of(json, field) {
            attrs.insert(key.to_string(), t.to_string());
        }
    }
    ItemMeta {
        id: layout::event_item_id(id),
        kind: kind::EVENT.to_string(),
        path: "Calendar".to_string(),
        name: str_of(json, "subject").unwrap_or_default().to_string(),
        created: time_of(json, "createdDateTime"),
        modified: time_of(json, "lastModifiedDateTime"),
        received: None,
        size_hint,
        version: str_of(json, "changeKey").unwrap_or_default().to_string(),
        metadata: Some(raw),
        attrs,
    }
}

/// Metadata of a contact item.
pub fn contact_meta(json: &Value, raw: Vec<u8>) -> ItemMeta {
    let id = str_of(json, "id").unwrap_or_default();
    let mut attrs = BTreeMap::new();
    if let Some(addr) = json
        .get("emailAddresses")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(|e| str_of(e, "address"))
    {
        attrs.insert(attr::EMAIL.to_string(), addr.to_lowercase());
    }
    ItemMeta {
        id: layout::contact_item_id(id),
        kind: kind::CONTACT.to_string(),
        path: "Contacts".to_string(),
        name: str_of(json, "displayName").unwrap_or_default().to_string(),
        created: time_of(json, "createdDateTime"),
        modified: time_of(json, "lastModifiedDateTime"),
        version: str_of(json, "changeKey").unwrap_or_default().to_string(),
        metadata: Some(raw),
        attrs,
        ..ItemMeta::default()
    }
}

/// The incremental logic's view of a stored record.
pub fn prev_info(rec: &ItemRecord) -> PrevInfo {
    PrevInfo {
        version: Some(rec.version.clone()).filter(|v| !v.is_empty()),
        folder_id: rec.attrs.get(attr::FOLDER_ID).cloned(),
        path: rec.path.clone(),
        is_draft: rec.attrs.get(attr::IS_DRAFT).map(String::as_str) == Some("true"),
    }
}

/// The same record with a new path (a renamed or moved folder), everything else unchanged.
pub fn with_path(rec: &ItemRecord, path: &str) -> ItemMeta {
    ItemMeta {
        id: rec.id.clone(),
        kind: rec.kind.clone(),
        path: path.to_string(),
        name: rec.name.clone(),
        created: rec.created,
        modified: rec.modified,
        received: rec.received,
        size_hint: rec.size,
        version: rec.version.clone(),
        metadata: None,
        attrs: rec.attrs.clone(),
    }
}

impl FilterView for ItemRecord {
    fn kind(&self) -> &str {
        &self.kind
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn received(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.received
    }
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_meta_layout() {
        let j = json!({"id":"AAMk1","changeKey":"ck1","subject":"Hi","isDraft":false,
            "receivedDateTime":"2024-01-01T00:00:00Z","from":{"emailAddress":{"address":"a@b"}}});
        let f = MessageFields::from_json(&j);
        let m = message_meta(&f, b"{}".to_vec(), "fid", "Inbox", 10);
        assert_eq!(m.id, "msg:AAMk1");
        assert_eq!(m.kind, "message");
        assert_eq!(m.version, "ck1");
        assert_eq!(m.name, "Hi");
        assert_eq!(m.attrs["folderId"], "fid");
        assert_eq!(m.attrs["from"], "a@b");
        assert!(m.received.is_some());
    }

    #[test]
    fn event_and_contact_layout() {
        let e = json!({"id":"E1","subject":"Standup","changeKey":"c",
            "start":{"dateTime":"2024-01-01T09:00:00.0000000","timeZone":"UTC"},"type":"occurrence",
            "seriesMasterId":"M1","originalStart":"2024-01-01T09:00:00Z"});
        let m = event_meta(&e, vec![], 0);
        assert_eq!(m.attrs["seriesMasterId"], "M1");
        assert_eq!(m.attrs["originalStart"], "2024-01-01T09:00:00Z");
        assert_eq!(m.id, "event:E1");
        assert_eq!(m.attrs["start"], "2024-01-01T09:00:00.0000000 UTC");
        assert_eq!(m.attrs["type"], "occurrence");
        let c = json!({"id":"C1","displayName":"Zoe","emailAddresses":[{"address":"Zoe@X.org"}]});
        let m = contact_meta(&c, vec![]);
        assert_eq!(m.id, "contact:C1");
        assert_eq!(m.attrs["email"], "zoe@x.org");
    }
}
