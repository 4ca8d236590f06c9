//! Every property name our models read must exist on the Graph v1.0 type (CSDL subset copied
//! from the v1.0 type mappings into `tests/fixtures/graph-schema-subset.json`).

use super::*;
use serde::Serialize;
use serde_json::Value;

const SCHEMA: &str = include_str!("../../tests/fixtures/graph-schema-subset.json");

fn names(kind: &str, chain: &[&str]) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let mut out = Vec::new();
    for t in chain {
        let props = schema[kind][*t]
            .as_array()
            .unwrap_or_else(|| panic!("{t} missing from schema subset"));
        out.extend(props.iter().map(|p| p.as_str().unwrap().to_string()));
    }
    out
}

fn check<T: Serialize + Default>(what: &str, kind: &str, chain: &[&str]) {
    let allowed = names(kind, chain);
    let v = serde_json::to_value(T::default()).unwrap();
    for key in v.as_object().unwrap().keys() {
        if key.starts_with('@') {
            continue;
        }
        assert!(
            allowed.contains(key),
            "{what}.{key} is not a Graph v1.0 property of {chain:?}"
        );
    }
}

#[test]
fn model_property_names_exist_in_graph_v1_schema() {
    let e = "entities";
    check::<User>("User", e, &["user", "directoryObject", "entity"]);
    check::<Group>("Group", e, &["group", "directoryObject", "entity"]);
    check::<MailFolder>("MailFolder", e, &["mailFolder", "entity"]);
    check::<Message>("Message", e, &["message", "outlookItem", "entity"]);
    check::<Attachment>(
        "Attachment",
        e,
        &[
            "attachment",
            "fileAttachment",
            "itemAttachment",
            "referenceAttachment",
            "entity",
        ],
    );
    check::<Event>("Event", e, &["event", "outlookItem", "entity"]);
    check::<Contact>("Contact", e, &["contact", "outlookItem", "entity"]);
    check::<Drive>("Drive", e, &["drive", "baseItem", "entity"]);
    check::<DriveItem>("DriveItem", e, &["driveItem", "baseItem", "entity"]);
    check::<Site>("Site", e, &["site", "baseItem", "entity"]);
    check::<List>("List", e, &["list", "baseItem", "entity"]);
    check::<ListItem>("ListItem", e, &["listItem", "baseItem", "entity"]);
    check::<Team>("Team", e, &["team", "entity"]);
    check::<Channel>("Channel", e, &["channel", "entity"]);
    check::<ChatMessage>("ChatMessage", e, &["chatMessage", "entity"]);
    let c = "complex";
    check::<EmailAddress>("EmailAddress", c, &["emailAddress"]);
    check::<Recipient>("Recipient", c, &["recipient"]);
    check::<ItemBody>("ItemBody", c, &["itemBody"]);
    check::<DateTimeTimeZone>("DateTimeTimeZone", c, &["dateTimeTimeZone"]);
    check::<FollowupFlag>("FollowupFlag", c, &["followupFlag"]);
    check::<Identity>("Identity", c, &["identity"]);
    check::<IdentitySet>("IdentitySet", c, &["identitySet"]);
    check::<AssignedLicense>("AssignedLicense", c, &["assignedLicense"]);
    check::<Location>("Location", c, &["location"]);
    check::<Attendee>("Attendee", c, &["attendee", "attendeeBase", "recipient"]);
    check::<Quota>("Quota", c, &["quota"]);
    check::<ItemReference>("ItemReference", c, &["itemReference"]);
    check::<Hashes>("Hashes", c, &["hashes"]);
    check::<FileFacet>("FileFacet", c, &["file"]);
    check::<FolderFacet>("FolderFacet", c, &["folder"]);
    check::<FileSystemInfo>("FileSystemInfo", c, &["fileSystemInfo"]);
    check::<DeletedFacet>("DeletedFacet", c, &["deleted"]);
}

#[test]
fn models_tolerate_unknown_fields_nulls_and_keep_raw_json() {
    let text = r#"{"@odata.etag":"W/\"CQAAAB\"","id":"AAMk1","subject":"Hi","isRead":false,
        "categories":null,"toRecipients":[{"emailAddress":{"name":"A","address":"a@x.test"}}],
        "receivedDateTime":"2024-03-01T10:00:00Z","futureProperty":{"x":1}}"#;
    let m: crate::WithRaw<Message> = serde_json::from_str(text).unwrap();
    assert_eq!(m.value.id, "AAMk1");
    assert_eq!(m.value.etag.as_deref(), Some("W/\"CQAAAB\""));
    assert!(m.value.categories.is_empty());
    assert_eq!(
        m.value.to_recipients[0]
            .email_address
            .as_ref()
            .unwrap()
            .address
            .as_deref(),
        Some("a@x.test")
    );
    assert_eq!(m.raw.get(), text, "raw JSON must be byte-identical");
    let a: Attachment = serde_json::from_str(
        r##"{"@odata.type":"#microsoft.graph.referenceAttachment","id":"r1","name":"link","size":10}"##,
    )
    .unwrap();
    assert_eq!(a.kind(), AttachmentKind::Reference);
}
