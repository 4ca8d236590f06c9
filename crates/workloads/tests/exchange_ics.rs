//! The ICS export read back by a real iCalendar parser (`icalendar`, dev-dependency only):
//! events in Windows-named zones get `DTSTART;TZID=<IANA>` and one VTIMEZONE per zone, UTC stays
//! UTC, an unknown zone falls back to UTC with a COMMENT, and every line is folded at 75 octets.

use icalendar::parser::{Component, read_calendar, unfold};
use serde_json::{Value, json};
use tenantvault_workloads::exchange::export::ics;

fn event(id: &str, subject: &str, start: &str, end: &str, zone: &str) -> Value {
    json!({"id": id, "iCalUId": format!("uid-{id}"), "type": "singleInstance", "subject": subject,
           "start": {"dateTime": start, "timeZone": zone},
           "end": {"dateTime": end, "timeZone": zone}})
}

fn prop<'a>(c: &'a Component<'a>, name: &str) -> (&'a str, Vec<(String, String)>) {
    let p = c
        .find_prop(name)
        .unwrap_or_else(|| panic!("{name} missing"));
    let params = p
        .params
        .iter()
        .map(|x| {
            (
                x.key.as_str().to_string(),
                x.val
                    .as_ref()
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    (p.val.as_str(), params)
}

#[test]
fn zones_times_and_folding_survive_a_real_parser() {
    let long = "Quarterly planning — budget, hiring, roadmap; «déjà vu» review with the whole \
                department and the partners from Zürich and São Paulo";
    let mut pacific = event(
        "P",
        long,
        "2024-07-01T09:00:00.0000000",
        "2024-07-01T09:30:00.0000000",
        "Pacific Standard Time",
    );
    pacific["body"] = json!({"contentType": "text", "content": long.repeat(3)});
    let berlin = event(
        "B",
        "Standup",
        "2024-12-02T14:00:00.0000000",
        "2024-12-02T14:15:00.0000000",
        "W. Europe Standard Time",
    );
    let berlin_iana = event(
        "B2",
        "Retro",
        "2024-12-03T15:00:00.0000000",
        "2024-12-03T16:00:00.0000000",
        "Europe/Berlin",
    );
    let utc = event(
        "U",
        "Call",
        "2024-05-05T05:05:00.0000000",
        "2024-05-05T06:00:00.0000000",
        "UTC",
    );
    let mars = event(
        "M",
        "Rover sync",
        "2024-03-03T10:00:00.0000000",
        "2024-03-03T11:00:00.0000000",
        "Mars Standard Time",
    );
    let text = ics::calendar(&[pacific, berlin, berlin_iana, utc, mars]);

    for line in text.split("\r\n") {
        assert!(line.len() <= 75, "line of {} octets: {line:?}", line.len());
    }
    assert!(text.ends_with("END:VCALENDAR\r\n"));

    let unfolded = unfold(&text);
    let cal = read_calendar(&unfolded).expect("a real parser reads the export");
    let zones: Vec<&Component> = cal
        .components
        .iter()
        .filter(|c| c.name == "VTIMEZONE")
        .collect();
    let tzids: Vec<&str> = zones.iter().map(|z| prop(z, "TZID").0).collect();
    assert_eq!(tzids, vec!["America/Los_Angeles", "Europe/Berlin"]);
    for z in &zones {
        let kinds: Vec<&str> = z.components.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(kinds, vec!["STANDARD", "DAYLIGHT"]);
    }
    let la = zones[0]
        .components
        .iter()
        .find(|c| c.name == "DAYLIGHT")
        .unwrap();
    assert_eq!(prop(la, "TZOFFSETTO").0, "-0700");
    assert_eq!(prop(la, "RRULE").0, "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU");

    let events: Vec<&Component> = cal
        .components
        .iter()
        .filter(|c| c.name == "VEVENT")
        .collect();
    assert_eq!(events.len(), 5);
    let by_uid = |uid: &str| {
        *events
            .iter()
            .find(|e| prop(e, "UID").0 == uid)
            .unwrap_or_else(|| panic!("{uid}"))
    };
    let tzid = |v: &[(String, String)]| v.iter().find(|(k, _)| k == "TZID").map(|(_, v)| v.clone());

    let p = by_uid("uid-P");
    let (start, params) = prop(p, "DTSTART");
    assert_eq!(start, "20240701T090000");
    assert_eq!(tzid(&params).as_deref(), Some("America/Los_Angeles"));
    let (end, params) = prop(p, "DTEND");
    assert_eq!(end, "20240701T093000");
    assert_eq!(tzid(&params).as_deref(), Some("America/Los_Angeles"));
    assert_eq!(
        prop(p, "SUMMARY").0.replace("\\,", ",").replace("\\;", ";"),
        long
    );
    assert!(p.find_prop("COMMENT").is_none());

    for uid in ["uid-B", "uid-B2"] {
        let (_, params) = prop(by_uid(uid), "DTSTART");
        assert_eq!(tzid(&params).as_deref(), Some("Europe/Berlin"));
    }
    assert_eq!(prop(by_uid("uid-B"), "DTSTART").0, "20241202T140000");

    let (start, params) = prop(by_uid("uid-U"), "DTSTART");
    assert_eq!(start, "20240505T050500Z");
    assert!(tzid(&params).is_none());

    let m = by_uid("uid-M");
    let (start, params) = prop(m, "DTSTART");
    assert_eq!(start, "20240303T100000Z", "unknown zone falls back to UTC");
    assert!(tzid(&params).is_none());
    assert!(prop(m, "COMMENT").0.contains("Mars Standard Time"));
}
