//! Calendar and contacts of a mailbox: generated items (pure functions of the seed) plus items
//! created through the API, deletions, and a change log for delta rounds.

use super::generate::Person;
use crate::model::names::*;
use crate::rng::rng_for;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

/// Created items have this bit set in their number.
pub const CREATED_BIT: u32 = 0x8000_0000;
/// Series masters of generated recurring meetings are numbered from here.
pub const SERIES_BASE: u32 = 100_000;
/// Generated recurring series per mailbox.
pub const SERIES_PER_MAILBOX: u32 = 2;
/// Occurrences per generated series.
pub const OCCURRENCES: u32 = 12;

/// Calendar/contacts mutations of one mailbox.
#[derive(Debug, Default)]
pub struct PimState {
    /// Events created through the API (event JSON as stored, without id).
    pub created_events: Vec<StoredEvent>,
    /// Contacts created through the API.
    pub created_contacts: Vec<Value>,
    /// Deleted event numbers.
    pub deleted_events: Vec<u32>,
    /// Deleted contact numbers.
    pub deleted_contacts: Vec<u32>,
    /// Change log `(seq, event number)`.
    pub event_log: Vec<(u64, u32)>,
    /// Change log `(seq, contact number)`.
    pub contact_log: Vec<(u64, u32)>,
}

/// One event as the calendar knows it (generated or created).
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Subject.
    pub subject: String,
    /// HTML body.
    pub body: String,
    /// Start (UTC).
    pub start: DateTime<Utc>,
    /// End (UTC).
    pub end: DateTime<Utc>,
    /// All-day.
    pub all_day: bool,
    /// Location display name.
    pub location: String,
    /// Organizer.
    pub organizer: Person,
    /// Attendees.
    pub attendees: Vec<Person>,
    /// Weekly recurrence: number of occurrences (0 = single instance).
    pub weekly_occurrences: u32,
    /// Occurrence index → (start shift minutes, new subject) for exceptions.
    pub exceptions: Vec<(u32, i64, String)>,
    /// Cancelled occurrence indexes.
    pub cancelled: Vec<u32>,
    /// Attachments (name, content type, bytes).
    pub attachments: Vec<(String, String, std::sync::Arc<[u8]>)>,
    /// Categories.
    pub categories: Vec<String>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// iCalendar UID.
    pub ical_uid: String,
    /// Bumped by every change made through the API (part of the change keys).
    pub version: u32,
}

/// Generate event `n` (single instances `0..count`, series masters from [`SERIES_BASE`]).
pub fn generated_event(
    seed: u64,
    user: u32,
    owner: &Person,
    people: &[Person],
    n: u32,
) -> StoredEvent {
    let mut rng = rng_for(seed, "pim.event", &[user as u64, n as u64]);
    let anchor = crate::model::tenant::content_anchor();
    let series = n >= SERIES_BASE;
    let start = if series {
        anchor - Duration::days(28)
            + Duration::days((n - SERIES_BASE) as i64)
            + Duration::hours(rng.gen_range(0..6))
    } else {
        let day = rng.gen_range(-60i64..60);
        anchor
            + Duration::days(day)
            + Duration::hours(rng.gen_range(-1..8))
            + Duration::minutes(30 * rng.gen_range(0..2))
    };
    let all_day = !series && rng.gen_bool(0.1);
    let (start, end) = if all_day {
        let d = start
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc();
        (d, d + Duration::days(1))
    } else {
        (start, start + Duration::minutes(30 * rng.gen_range(1..4)))
    };
    let mut attendees = Vec::new();
    for _ in 0..rng.gen_range(1..4) {
        if let Some(p) = people.choose(&mut rng)
            && p.address != owner.address
        {
            attendees.push(p.clone());
        }
    }
    let topic = SUBJECT_TOPICS.choose(&mut rng).expect("topics");
    let subject = if series {
        format!("Weekly sync: {topic}")
    } else {
        format!("Meeting: {topic}")
    };
    let attachments = if rng.gen_bool(0.2) {
        let a = super::generate::assets().choose(&mut rng).expect("assets");
        vec![(
            a.name.to_string(),
            a.content_type.to_string(),
            a.data.clone(),
        )]
    } else {
        vec![]
    };
    let moved = format!("{subject} (moved)");
    StoredEvent {
        subject,
        body: format!(
            "<html><body><p>{}</p></body></html>",
            super::generate::html_escape(SENTENCES.choose(&mut rng).expect("s"))
        ),
        start,
        end,
        all_day,
        location: LOCATIONS.choose(&mut rng).expect("l").to_string(),
        organizer: owner.clone(),
        attendees,
        weekly_occurrences: if series { OCCURRENCES } else { 0 },
        exceptions: if series { vec![(3, 60, moved)] } else { vec![] },
        cancelled: if series { vec![5] } else { vec![] },
        attachments,
        categories: if rng.gen_bool(0.2) {
            vec![CATEGORIES.choose(&mut rng).expect("c").to_string()]
        } else {
            vec![]
        },
        created: start - Duration::days(rng.gen_range(1..30)),
        ical_uid: format!(
            "040000008200E00074C5B7101A82E008{:016X}{:08X}",
            crate::rng::stable_u64(seed, "pim.uid", &[user as u64, n as u64]),
            n
        ),
        version: 0,
    }
}

/// One instance of an event in a calendar view.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Event number.
    pub n: u32,
    /// 0 for single instances, occurrence index + 1 for series instances.
    pub occ: u16,
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
    /// Subject (exceptions may differ).
    pub subject: String,
    /// `singleInstance` | `occurrence` | `exception`.
    pub kind: &'static str,
    /// Original start of an occurrence/exception.
    pub original_start: Option<DateTime<Utc>>,
}

/// Instances of `e` overlapping `[from, to)`.
pub fn instances(n: u32, e: &StoredEvent, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Instance> {
    let mut out = Vec::new();
    if e.weekly_occurrences == 0 {
        if e.start < to && e.end > from {
            out.push(Instance {
                n,
                occ: 0,
                start: e.start,
                end: e.end,
                subject: e.subject.clone(),
                kind: "singleInstance",
                original_start: None,
            });
        }
        return out;
    }
    let len = e.end - e.start;
    for k in 0..e.weekly_occurrences {
        if e.cancelled.contains(&k) {
            continue;
        }
        let orig = e.start + Duration::weeks(k as i64);
        let (start, subject, kind) = match e.exceptions.iter().find(|x| x.0 == k) {
            Some((_, shift, s)) => (orig + Duration::minutes(*shift), s.clone(), "exception"),
            None => (orig, e.subject.clone(), "occurrence"),
        };
        let end = start + len;
        if start < to && end > from {
            out.push(Instance {
                n,
                occ: k as u16 + 1,
                start,
                end,
                subject,
                kind,
                original_start: Some(orig),
            });
        }
    }
    out
}

/// Generate contact `n`.
pub fn generated_contact(seed: u64, user: u32, n: u32) -> Value {
    let mut rng = rng_for(seed, "pim.contact", &[user as u64, n as u64]);
    let given = GIVEN.choose(&mut rng).expect("g");
    let sur = SURNAMES.choose(&mut rng).expect("s");
    let dom = EXTERNAL_DOMAINS.choose(&mut rng).expect("d");
    let company = [
        "Fabrikam",
        "Northwind Traders",
        "Adatum",
        "Tailspin Toys",
        "Contoso Café",
    ]
    .choose(&mut rng)
    .expect("c");
    json!({
        "displayName": format!("{given} {sur}"),
        "givenName": given,
        "surname": sur,
        "fileAs": format!("{sur}, {given}"),
        "emailAddresses": [{"name": format!("{given} {sur}"), "address": format!("{}.{}@{dom}", ascii_fold(given), ascii_fold(sur))}],
        "businessPhones": [format!("+1 425 555 {:04}", rng.gen_range(0..10000))],
        "mobilePhone": if rng.gen_bool(0.5) { Some(format!("+44 7700 9{:05}", rng.gen_range(0..100000))) } else { None },
        "homePhones": [],
        "companyName": company,
        "jobTitle": JOBS.choose(&mut rng).expect("j"),
        "department": DEPARTMENTS.choose(&mut rng).expect("d"),
        "businessAddress": {"street": format!("{} Main St", rng.gen_range(1..999)), "city": "Redmond", "state": "WA", "countryOrRegion": "United States", "postalCode": "98052"},
        "homeAddress": {},
        "otherAddress": {},
        "personalNotes": if rng.gen_bool(0.3) { SENTENCES.choose(&mut rng).expect("s").to_string() } else { String::new() },
        "categories": [],
        "imAddresses": [],
        "children": [],
    })
}
