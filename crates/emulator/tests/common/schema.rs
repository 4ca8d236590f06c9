//! Check that every property name the emulator serves exists in Microsoft's v1.0 schema for
//! that type (including base types), recursing into known complex-typed properties.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

struct Schema {
    props: HashMap<String, HashSet<String>>,
    base: HashMap<String, String>,
}

fn schema() -> &'static Schema {
    static S: OnceLock<Schema> = OnceLock::new();
    S.get_or_init(|| {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schema/");
        let mut props: HashMap<String, HashSet<String>> = HashMap::new();
        for f in ["v1.0-entity-types.json", "v1.0-complex-types.json"] {
            let v: Value = serde_json::from_str(
                &std::fs::read_to_string(format!("{dir}{f}")).expect("schema file"),
            )
            .expect("json");
            for (name, t) in v["microsoft.graph"].as_object().expect("namespace") {
                let e = props.entry(name.clone()).or_default();
                for k in ["properties", "navigationProperties"] {
                    for p in t[k].as_array().into_iter().flatten() {
                        e.insert(p.as_str().expect("name").to_string());
                    }
                }
            }
        }
        let base: HashMap<String, String> = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}v1.0-base-types.json")).expect("bases"),
        )
        .expect("json");
        Schema { props, base }
    })
}

/// All property names of `type_name` including base types.
pub fn properties(type_name: &str) -> HashSet<String> {
    let s = schema();
    let mut out = HashSet::new();
    let mut t = Some(type_name.to_string());
    while let Some(name) = t {
        if let Some(p) = s.props.get(&name) {
            out.extend(p.iter().cloned());
        }
        if name == "entity" {
            out.insert("id".into());
        }
        t = s.base.get(&name).cloned();
    }
    out
}

/// The complex (or entity) type of a nested property, for recursion.
fn nested(type_name: &str, prop: &str) -> Option<&'static str> {
    Some(match (type_name, prop) {
        (_, "body" | "uniqueBody") => "itemBody",
        (
            _,
            "from" | "sender" | "toRecipients" | "ccRecipients" | "bccRecipients" | "replyTo"
            | "organizer",
        ) => "recipient",
        ("recipient" | "attendee", "emailAddress") => "emailAddress",
        ("contact", "emailAddresses") => "emailAddress",
        ("calendar", "owner") => "emailAddress",
        ("message", "flag") => "followupFlag",
        ("message", "internetMessageHeaders") => "internetMessageHeader",
        ("message", "attachments") => "attachment",
        ("event", "start" | "end") => "dateTimeTimeZone",
        ("event", "location" | "locations") => "location",
        ("event", "recurrence") => "patternedRecurrence",
        ("patternedRecurrence", "pattern") => "recurrencePattern",
        ("patternedRecurrence", "range") => "recurrenceRange",
        ("event", "attendees") => "attendee",
        ("attendee", "status") | ("event", "responseStatus") => "responseStatus",
        ("contact", "businessAddress" | "homeAddress" | "otherAddress") => "physicalAddress",
        ("user", "assignedLicenses") => "assignedLicense",
        ("itemAttachment", "item") => "message",
        ("organization", "verifiedDomains") => "verifiedDomain",
        _ => return None,
    })
}

fn type_of(declared: &str, v: &Value) -> String {
    match v.get("@odata.type").and_then(Value::as_str) {
        Some(t) => t.trim_start_matches("#microsoft.graph.").to_string(),
        None => declared.to_string(),
    }
}

/// Assert every property of `v` (an object of `type_name`) exists in the schema; recurse.
/// Returns the number of objects checked.
pub fn check(type_name: &str, v: &Value) -> usize {
    let Some(obj) = v.as_object() else { return 0 };
    let t = type_of(type_name, v);
    let known = properties(&t);
    assert!(!known.is_empty(), "unknown type {t}");
    let mut n = 1;
    for (k, val) in obj {
        if k.starts_with('@') {
            continue;
        }
        assert!(
            known.contains(k),
            "property '{k}' is not in the v1.0 schema of '{t}' (object: {v})"
        );
        if let Some(sub) = nested(&t, k) {
            match val {
                Value::Array(items) => {
                    for i in items {
                        n += check(sub, i);
                    }
                }
                Value::Object(_) => n += check(sub, val),
                _ => {}
            }
        }
    }
    n
}
