//! Graph `event` JSON → iCalendar (RFC 5545): one VCALENDAR, a VEVENT per single event or series
//! (with RRULE from Graph's `recurrence`), exceptions as VEVENTs with RECURRENCE-ID, occurrences
//! covered by an exported series left out.
//!
//! Times in a zone other than UTC are written as `DTSTART;TZID=<IANA name>:…` with one
//! `VTIMEZONE` per zone used (see [`super::tz`]); a zone the table does not know is written as
//! UTC and the event gets a `COMMENT` saying so.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::text::{escape, html_to_text, push_line};
use super::tz::{self, Zone};

fn s<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
}

fn parse_local(dt: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(dt, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| DateTime::parse_from_rfc3339(dt).ok().map(|d| d.naive_utc()))
}

/// The zones a calendar's events use: known ones get a VTIMEZONE, unknown ones a note.
#[derive(Default)]
struct Zones {
    used: BTreeMap<&'static str, &'static Zone>,
    unknown: BTreeSet<String>,
}

/// `DTSTART`-style property from a Graph `dateTimeTimeZone`.
fn date_prop(name: &str, v: &Value, all_day: bool, zones: &mut Zones) -> Option<String> {
    let dt = parse_local(s(v, "/dateTime")?)?;
    let zone = s(v, "/timeZone").unwrap_or("UTC");
    Some(if all_day {
        format!("{name};VALUE=DATE:{}", dt.format("%Y%m%d"))
    } else if tz::is_utc(zone) {
        format!("{name}:{}", dt.format("%Y%m%dT%H%M%SZ"))
    } else if let Some(z) = tz::lookup(zone) {
        zones.used.insert(z.iana, z);
        format!("{name};TZID={}:{}", z.iana, dt.format("%Y%m%dT%H%M%S"))
    } else {
        tracing::warn!(zone, "unknown time zone in an event, exported as UTC");
        zones.unknown.insert(zone.to_string());
        format!("{name}:{}", dt.format("%Y%m%dT%H%M%SZ"))
    })
}

fn stamp(v: &Value, key: &str) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(s(v, &format!("/{key}"))?).ok()?;
    Some(t.with_timezone(&Utc).format("%Y%m%dT%H%M%SZ").to_string())
}

fn day_code(d: &str) -> Option<&'static str> {
    Some(match d.to_ascii_lowercase().as_str() {
        "monday" => "MO",
        "tuesday" => "TU",
        "wednesday" => "WE",
        "thursday" => "TH",
        "friday" => "FR",
        "saturday" => "SA",
        "sunday" => "SU",
        _ => return None,
    })
}

/// RRULE value from a Graph `patternedRecurrence`; `None` when the pattern is unknown.
pub fn rrule(recurrence: &Value) -> Option<String> {
    let p = recurrence.get("pattern")?;
    let days: Vec<&str> = p
        .get("daysOfWeek")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(day_code)
                .collect()
        })
        .unwrap_or_default();
    let setpos = match s(p, "/index") {
        Some("first") => "1",
        Some("second") => "2",
        Some("third") => "3",
        Some("fourth") => "4",
        Some("last") => "-1",
        _ => "1",
    };
    let num = |k: &str| p.get(k).and_then(Value::as_u64).filter(|n| *n > 0);
    let mut parts = Vec::new();
    match s(p, "/type")? {
        "daily" => parts.push("FREQ=DAILY".to_string()),
        "weekly" => {
            parts.push("FREQ=WEEKLY".into());
            if !days.is_empty() {
                parts.push(format!("BYDAY={}", days.join(",")));
            }
        }
        "absoluteMonthly" => {
            parts.push("FREQ=MONTHLY".into());
            parts.push(format!("BYMONTHDAY={}", num("dayOfMonth")?));
        }
        "relativeMonthly" => {
            parts.push("FREQ=MONTHLY".into());
            parts.push(format!("BYDAY={}", days.join(",")));
            parts.push(format!("BYSETPOS={setpos}"));
        }
        "absoluteYearly" => {
            parts.push("FREQ=YEARLY".into());
            parts.push(format!("BYMONTH={}", num("month")?));
            parts.push(format!("BYMONTHDAY={}", num("dayOfMonth")?));
        }
        "relativeYearly" => {
            parts.push("FREQ=YEARLY".into());
            parts.push(format!("BYMONTH={}", num("month")?));
            parts.push(format!("BYDAY={}", days.join(",")));
            parts.push(format!("BYSETPOS={setpos}"));
        }
        _ => return None,
    }
    if let Some(i) = num("interval").filter(|i| *i > 1) {
        parts.push(format!("INTERVAL={i}"));
    }
    if let Some(d) = s(p, "/firstDayOfWeek").and_then(day_code) {
        parts.push(format!("WKST={d}"));
    }
    let range = recurrence.get("range");
    match range.and_then(|r| s(r, "/type")) {
        Some("endDate") => {
            let end = NaiveDate::parse_from_str(s(range?, "/endDate")?, "%Y-%m-%d").ok()?;
            parts.push(format!("UNTIL={}T235959Z", end.format("%Y%m%d")));
        }
        Some("numbered") => {
            let n = range?.get("numberOfOccurrences").and_then(Value::as_u64)?;
            parts.push(format!("COUNT={n}"));
        }
        _ => {}
    }
    Some(parts.join(";"))
}

fn mailto(v: &Value) -> Option<(String, String)> {
    let addr = s(v, "/emailAddress/address")?;
    let name = s(v, "/emailAddress/name").unwrap_or("");
    Some((name.replace(['"', ';', ':'], ""), addr.to_string()))
}

fn vevent(
    out: &mut String,
    zones: &mut Zones,
    e: &Value,
    uid: &str,
    recurrence_id: Option<&Value>,
    with_rrule: bool,
) {
    let all_day = e.get("isAllDay").and_then(Value::as_bool).unwrap_or(false);
    push_line(out, "BEGIN:VEVENT");
    push_line(out, &format!("UID:{}", escape(uid)));
    let now = Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    push_line(
        out,
        &format!(
            "DTSTAMP:{}",
            stamp(e, "lastModifiedDateTime").unwrap_or(now)
        ),
    );
    if let Some(c) = stamp(e, "createdDateTime") {
        push_line(out, &format!("CREATED:{c}"));
    }
    if let Some(c) = stamp(e, "lastModifiedDateTime") {
        push_line(out, &format!("LAST-MODIFIED:{c}"));
    }
    if let Some(p) = e
        .get("start")
        .and_then(|v| date_prop("DTSTART", v, all_day, zones))
    {
        push_line(out, &p);
    }
    if let Some(p) = e
        .get("end")
        .and_then(|v| date_prop("DTEND", v, all_day, zones))
    {
        push_line(out, &p);
    }
    if let Some(p) = recurrence_id.and_then(|v| date_prop("RECURRENCE-ID", v, all_day, zones)) {
        push_line(out, &p);
    }
    let start_zone = s(e, "/start/timeZone").unwrap_or("UTC");
    if !all_day && !tz::is_utc(start_zone) && tz::lookup(start_zone).is_none() {
        push_line(
            out,
            &format!(
                "COMMENT:{}",
                escape(&format!(
                    "time zone '{start_zone}' is unknown to tenantvault: times written as if it were UTC"
                ))
            ),
        );
    }
    if with_rrule && let Some(r) = e.get("recurrence").filter(|r| !r.is_null()).and_then(rrule) {
        push_line(out, &format!("RRULE:{r}"));
    }
    if let Some(t) = s(e, "/subject") {
        push_line(out, &format!("SUMMARY:{}", escape(t)));
    }
    if let Some(b) = s(e, "/body/content") {
        let text = if s(e, "/body/contentType") == Some("html") {
            html_to_text(b)
        } else {
            b.to_string()
        };
        if !text.is_empty() {
            push_line(out, &format!("DESCRIPTION:{}", escape(&text)));
        }
    }
    if let Some(l) = s(e, "/location/displayName") {
        push_line(out, &format!("LOCATION:{}", escape(l)));
    }
    if let Some((name, addr)) = e.get("organizer").and_then(mailto) {
        push_line(out, &format!("ORGANIZER;CN=\"{name}\":mailto:{addr}"));
    }
    for a in e
        .get("attendees")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some((name, addr)) = mailto(a) {
            let role = match s(a, "/type") {
                Some("optional") => "OPT-PARTICIPANT",
                Some("resource") => "NON-PARTICIPANT",
                _ => "REQ-PARTICIPANT",
            };
            let partstat = match s(a, "/status/response") {
                Some("accepted") => "ACCEPTED",
                Some("declined") => "DECLINED",
                Some("tentativelyAccepted") => "TENTATIVE",
                _ => "NEEDS-ACTION",
            };
            push_line(
                out,
                &format!("ATTENDEE;CN=\"{name}\";ROLE={role};PARTSTAT={partstat}:mailto:{addr}"),
            );
        }
    }
    let cats: Vec<String> = e
        .get("categories")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(escape).collect())
        .unwrap_or_default();
    if !cats.is_empty() {
        push_line(out, &format!("CATEGORIES:{}", cats.join(",")));
    }
    match s(e, "/sensitivity") {
        Some("private") => push_line(out, "CLASS:PRIVATE"),
        Some("confidential") => push_line(out, "CLASS:CONFIDENTIAL"),
        _ => {}
    }
    if s(e, "/showAs") == Some("free") {
        push_line(out, "TRANSP:TRANSPARENT");
    }
    if e.get("isCancelled").and_then(Value::as_bool) == Some(true) {
        push_line(out, "STATUS:CANCELLED");
    }
    push_line(out, "END:VEVENT");
}

/// One VCALENDAR for `events` (Graph event JSON objects).
pub fn calendar(events: &[Value]) -> String {
    let mut out = String::new();
    let mut zones = Zones::default();
    let masters: HashSet<&str> = events
        .iter()
        .filter(|e| s(e, "/type") == Some("seriesMaster"))
        .filter_map(|e| s(e, "/id"))
        .collect();
    let uid_of = |id: &str| {
        events
            .iter()
            .find(|e| s(e, "/id") == Some(id))
            .and_then(|m| s(m, "/iCalUId").or(s(m, "/id")))
            .map(str::to_string)
    };
    for e in events {
        let own_uid = s(e, "/iCalUId")
            .or(s(e, "/id"))
            .unwrap_or("unknown")
            .to_string();
        let master = s(e, "/seriesMasterId").filter(|m| masters.contains(m));
        match (s(e, "/type"), master) {
            // Covered by the master's RRULE.
            (Some("occurrence"), Some(_)) => {}
            (Some("exception"), Some(m)) => {
                let uid = uid_of(m).unwrap_or(own_uid);
                let rid = e.get("originalStart").map(|o| match o {
                    Value::String(t) => serde_json::json!({"dateTime": t, "timeZone": "UTC"}),
                    other => other.clone(),
                });
                vevent(&mut out, &mut zones, e, &uid, rid.as_ref(), false);
            }
            (Some("seriesMaster"), _) => vevent(&mut out, &mut zones, e, &own_uid, None, true),
            // A single event, or an occurrence whose series is not in the export: stands alone.
            _ => {
                let uid = match s(e, "/type") {
                    Some("occurrence" | "exception") => s(e, "/id").unwrap_or(&own_uid).to_string(),
                    _ => own_uid,
                };
                vevent(&mut out, &mut zones, e, &uid, None, false);
            }
        }
    }
    let mut cal = String::with_capacity(out.len() + 1024);
    push_line(&mut cal, "BEGIN:VCALENDAR");
    push_line(&mut cal, "VERSION:2.0");
    push_line(&mut cal, "PRODID:-//tenantvault//Exchange export//EN");
    for z in zones.used.values() {
        tz::vtimezone(&mut cal, z);
    }
    cal.push_str(&out);
    push_line(&mut cal, "END:VCALENDAR");
    cal
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn series_exception_and_single() {
        let master = json!({"id":"M","iCalUId":"uid-m","type":"seriesMaster","subject":"Weekly sync",
            "start":{"dateTime":"2024-01-01T09:00:00.0000000","timeZone":"UTC"},
            "end":{"dateTime":"2024-01-01T09:30:00.0000000","timeZone":"UTC"},
            "recurrence":{"pattern":{"type":"weekly","interval":2,"daysOfWeek":["monday","wednesday"],"firstDayOfWeek":"sunday"},
                          "range":{"type":"numbered","numberOfOccurrences":10}}});
        let occ =
            json!({"id":"O1","type":"occurrence","seriesMasterId":"M","subject":"Weekly sync"});
        let exc = json!({"id":"X1","type":"exception","seriesMasterId":"M","subject":"Moved; sync",
            "originalStart":"2024-01-08T09:00:00Z",
            "start":{"dateTime":"2024-01-08T10:00:00.0000000","timeZone":"UTC"}});
        let single = json!({"id":"S","iCalUId":"uid-s","type":"singleInstance","subject":"Lunch, team",
            "isAllDay":true,"start":{"dateTime":"2024-02-01T00:00:00.0000000","timeZone":"UTC"},
            "body":{"contentType":"html","content":"<p>Bring food</p>"},"categories":["Red"],
            "organizer":{"emailAddress":{"name":"Ann","address":"ann@x.org"}}});
        let ics = calendar(&[master, occ, exc, single]);
        assert_eq!(ics.matches("BEGIN:VEVENT").count(), 3);
        assert!(ics.contains("RRULE:FREQ=WEEKLY;BYDAY=MO,WE;INTERVAL=2;WKST=SU;COUNT=10\r\n"));
        assert!(ics.contains("RECURRENCE-ID:20240108T090000Z\r\n"));
        assert_eq!(ics.matches("UID:uid-m").count(), 2);
        assert!(ics.contains("SUMMARY:Moved\\; sync"));
        assert!(ics.contains("DTSTART;VALUE=DATE:20240201"));
        assert!(ics.contains("SUMMARY:Lunch\\, team"));
        assert!(ics.contains("DESCRIPTION:Bring food"));
        assert!(ics.contains("ORGANIZER;CN=\"Ann\":mailto:ann@x.org"));
        assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.ends_with("END:VCALENDAR\r\n"));
    }

    #[test]
    fn rrule_patterns() {
        let r = |p: Value, range: Value| rrule(&json!({"pattern": p, "range": range}));
        assert_eq!(
            r(
                json!({"type":"daily","interval":1}),
                json!({"type":"noEnd"})
            )
            .unwrap(),
            "FREQ=DAILY"
        );
        assert_eq!(
            r(
                json!({"type":"relativeMonthly","daysOfWeek":["friday"],"index":"last"}),
                json!({"type":"endDate","endDate":"2024-12-31"})
            )
            .unwrap(),
            "FREQ=MONTHLY;BYDAY=FR;BYSETPOS=-1;UNTIL=20241231T235959Z"
        );
        assert_eq!(
            r(
                json!({"type":"absoluteYearly","month":3,"dayOfMonth":15}),
                json!({})
            )
            .unwrap(),
            "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=15"
        );
        assert!(r(json!({"type":"lunar"}), json!({})).is_none());
    }
}
