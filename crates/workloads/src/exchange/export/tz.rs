//! Time zones for the ICS export: Graph names event zones the Windows way ("Pacific Standard
//! Time"); iCalendar readers want a `TZID` they can resolve, described by a `VTIMEZONE`. This is a
//! table of the common zones with their IANA names and their current daylight-saving rules
//! (written as yearly `RRULE`s from 1970, as Outlook and most servers do). A zone not in the table
//! is not guessed: the caller falls back to UTC and says so.

use chrono::{Datelike, NaiveDate, Weekday};

use super::text::push_line;

/// A yearly transition: the `week`-th (`-1` = last) `weekday` of `month`, at `hour` local time
/// (the local time in force before the transition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    month: u32,
    week: i8,
    weekday: Weekday,
    hour: u32,
}

/// One time zone.
#[derive(Debug, PartialEq, Eq)]
pub struct Zone {
    /// Windows name, as Graph serves it.
    pub windows: &'static str,
    /// IANA name, used as `TZID`.
    pub iana: &'static str,
    /// Standard offset from UTC, minutes.
    std: i32,
    /// Daylight offset, start of daylight time, end of daylight time.
    dst: Option<(i32, Rule, Rule)>,
}

const fn r(month: u32, week: i8, weekday: Weekday, hour: u32) -> Rule {
    Rule {
        month,
        week,
        weekday,
        hour,
    }
}

const US: (Rule, Rule) = (r(3, 2, Weekday::Sun, 2), r(11, 1, Weekday::Sun, 2));

const fn us(windows: &'static str, iana: &'static str, std_h: i32) -> Zone {
    Zone {
        windows,
        iana,
        std: std_h * 60,
        dst: Some((std_h * 60 + 60, US.0, US.1)),
    }
}

/// EU rule: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC.
const fn eu(windows: &'static str, iana: &'static str, std_h: i32) -> Zone {
    let h = (1 + std_h) as u32;
    Zone {
        windows,
        iana,
        std: std_h * 60,
        dst: Some((
            std_h * 60 + 60,
            r(3, -1, Weekday::Sun, h),
            r(10, -1, Weekday::Sun, h + 1),
        )),
    }
}

const fn fixed(windows: &'static str, iana: &'static str, minutes: i32) -> Zone {
    Zone {
        windows,
        iana,
        std: minutes,
        dst: None,
    }
}

/// The zones known to the export.
pub static ZONES: &[Zone] = &[
    us("Pacific Standard Time", "America/Los_Angeles", -8),
    us("Mountain Standard Time", "America/Denver", -7),
    us("Central Standard Time", "America/Chicago", -6),
    us("Eastern Standard Time", "America/New_York", -5),
    us("Alaskan Standard Time", "America/Anchorage", -9),
    us("Atlantic Standard Time", "America/Halifax", -4),
    fixed("US Mountain Standard Time", "America/Phoenix", -7 * 60),
    fixed("Hawaiian Standard Time", "Pacific/Honolulu", -10 * 60),
    fixed("Canada Central Standard Time", "America/Regina", -6 * 60),
    fixed("SA Pacific Standard Time", "America/Bogota", -5 * 60),
    fixed(
        "E. South America Standard Time",
        "America/Sao_Paulo",
        -3 * 60,
    ),
    fixed("Argentina Standard Time", "America/Buenos_Aires", -3 * 60),
    eu("GMT Standard Time", "Europe/London", 0),
    fixed("Greenwich Standard Time", "Atlantic/Reykjavik", 0),
    eu("W. Europe Standard Time", "Europe/Berlin", 1),
    eu("Romance Standard Time", "Europe/Paris", 1),
    eu("Central Europe Standard Time", "Europe/Budapest", 1),
    eu("Central European Standard Time", "Europe/Warsaw", 1),
    eu("FLE Standard Time", "Europe/Kiev", 2),
    eu("GTB Standard Time", "Europe/Bucharest", 2),
    fixed("Russian Standard Time", "Europe/Moscow", 3 * 60),
    fixed("Turkey Standard Time", "Europe/Istanbul", 3 * 60),
    fixed("South Africa Standard Time", "Africa/Johannesburg", 2 * 60),
    fixed("Arabian Standard Time", "Asia/Dubai", 4 * 60),
    fixed("India Standard Time", "Asia/Kolkata", 5 * 60 + 30),
    fixed("SE Asia Standard Time", "Asia/Bangkok", 7 * 60),
    fixed("China Standard Time", "Asia/Shanghai", 8 * 60),
    fixed("Singapore Standard Time", "Asia/Singapore", 8 * 60),
    fixed("W. Australia Standard Time", "Australia/Perth", 8 * 60),
    fixed("Tokyo Standard Time", "Asia/Tokyo", 9 * 60),
    fixed("Korea Standard Time", "Asia/Seoul", 9 * 60),
    fixed("E. Australia Standard Time", "Australia/Brisbane", 10 * 60),
    Zone {
        windows: "AUS Eastern Standard Time",
        iana: "Australia/Sydney",
        std: 10 * 60,
        dst: Some((11 * 60, r(10, 1, Weekday::Sun, 2), r(4, 1, Weekday::Sun, 3))),
    },
    Zone {
        windows: "New Zealand Standard Time",
        iana: "Pacific/Auckland",
        std: 12 * 60,
        dst: Some((13 * 60, r(9, -1, Weekday::Sun, 2), r(4, 1, Weekday::Sun, 3))),
    },
];

/// Whether `name` means UTC.
pub fn is_utc(name: &str) -> bool {
    let n = name.trim();
    [
        "UTC",
        "Etc/UTC",
        "Etc/GMT",
        "GMT",
        "Z",
        "Coordinated Universal Time",
        "UTC+00:00",
        "tzone://Microsoft/Utc",
    ]
    .iter()
    .any(|u| n.eq_ignore_ascii_case(u))
}

/// The zone for a Graph `timeZone` value (Windows or IANA name).
pub fn lookup(name: &str) -> Option<&'static Zone> {
    let n = name.trim();
    ZONES
        .iter()
        .find(|z| z.windows.eq_ignore_ascii_case(n) || z.iana.eq_ignore_ascii_case(n))
}

fn offset(minutes: i32) -> String {
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("{sign}{:02}{:02}", m / 60, m % 60)
}

fn day_code(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "MO",
        Weekday::Tue => "TU",
        Weekday::Wed => "WE",
        Weekday::Thu => "TH",
        Weekday::Fri => "FR",
        Weekday::Sat => "SA",
        Weekday::Sun => "SU",
    }
}

/// The day the rule falls on in `year`.
fn onset(rule: Rule, year: i32) -> NaiveDate {
    if rule.week > 0
        && let Some(d) =
            NaiveDate::from_weekday_of_month_opt(year, rule.month, rule.weekday, rule.week as u8)
    {
        return d;
    }
    (1..=5u8)
        .rev()
        .find_map(|n| NaiveDate::from_weekday_of_month_opt(year, rule.month, rule.weekday, n))
        .expect("every month has a last weekday")
}

fn observance(out: &mut String, kind: &str, rule: Rule, from: i32, to: i32) {
    let day = onset(rule, 1970);
    push_line(out, &format!("BEGIN:{kind}"));
    push_line(
        out,
        &format!(
            "DTSTART:{:04}{:02}{:02}T{:02}0000",
            day.year(),
            day.month(),
            day.day(),
            rule.hour
        ),
    );
    push_line(
        out,
        &format!(
            "RRULE:FREQ=YEARLY;BYMONTH={};BYDAY={}{}",
            rule.month,
            rule.week,
            day_code(rule.weekday)
        ),
    );
    push_line(out, &format!("TZOFFSETFROM:{}", offset(from)));
    push_line(out, &format!("TZOFFSETTO:{}", offset(to)));
    push_line(out, &format!("END:{kind}"));
}

/// Append the `VTIMEZONE` component of `zone`.
pub fn vtimezone(out: &mut String, zone: &Zone) {
    push_line(out, "BEGIN:VTIMEZONE");
    push_line(out, &format!("TZID:{}", zone.iana));
    push_line(out, &format!("X-MICROSOFT-CDO-TZNAME:{}", zone.windows));
    match zone.dst {
        None => {
            push_line(out, "BEGIN:STANDARD");
            push_line(out, "DTSTART:19700101T000000");
            push_line(out, &format!("TZOFFSETFROM:{}", offset(zone.std)));
            push_line(out, &format!("TZOFFSETTO:{}", offset(zone.std)));
            push_line(out, "END:STANDARD");
        }
        Some((dst, start, end)) => {
            observance(out, "STANDARD", end, dst, zone.std);
            observance(out, "DAYLIGHT", start, zone.std, dst);
        }
    }
    push_line(out, "END:VTIMEZONE");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_by_windows_or_iana_name() {
        assert_eq!(
            lookup("Pacific Standard Time").unwrap().iana,
            "America/Los_Angeles"
        );
        assert_eq!(
            lookup("europe/berlin").unwrap().windows,
            "W. Europe Standard Time"
        );
        assert!(lookup("Mars Standard Time").is_none());
        assert!(
            is_utc("tzone://Microsoft/Utc") && is_utc("UTC") && !is_utc("Pacific Standard Time")
        );
    }

    #[test]
    fn vtimezone_rules() {
        let mut s = String::new();
        vtimezone(&mut s, lookup("Pacific Standard Time").unwrap());
        assert!(s.contains("TZID:America/Los_Angeles\r\n"));
        // First Sunday of November 1970 was the 1st; second Sunday of March the 8th.
        assert!(s.contains("BEGIN:STANDARD\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0700\r\nTZOFFSETTO:-0800\r\n"));
        assert!(s.contains("BEGIN:DAYLIGHT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nTZOFFSETFROM:-0800\r\nTZOFFSETTO:-0700\r\n"));
        let mut s = String::new();
        vtimezone(&mut s, lookup("GMT Standard Time").unwrap());
        // Last Sunday of March 1970: the 29th, 01:00 local; of October: the 25th, 02:00 local.
        assert!(s.contains("DTSTART:19700329T010000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"));
        assert!(s.contains("DTSTART:19701025T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"));
        let mut s = String::new();
        vtimezone(&mut s, lookup("India Standard Time").unwrap());
        assert!(s.contains("TZOFFSETTO:+0530\r\n") && !s.contains("DAYLIGHT"));
    }
}
