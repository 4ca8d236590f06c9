//! Five-field cron expressions (`minute hour day-of-month month day-of-week`), evaluated in UTC.
//!
//! Each field accepts `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, and comma lists of
//! those. Months accept `jan`…`dec`, weekdays `sun`…`sat` (0 and 7 are both Sunday). As in
//! Vixie cron, when both day-of-month and day-of-week are restricted a day matching either runs.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_any: bool,
    weekdays_any: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses five whitespace-separated fields.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [mi, h, dom, mon, dow] = fields.as_slice() else {
            return Err(format!(
                "cron expression {text:?} must have 5 fields (minute hour day month weekday), found {}",
                fields.len()
            ));
        };
        let mut weekdays = field(dow, 0, 7, &WEEKDAYS, 0, "day of week")?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Cron {
            minutes: field(mi, 0, 59, &[], 0, "minute")?,
            hours: field(h, 0, 23, &[], 0, "hour")?,
            days: field(dom, 1, 31, &[], 1, "day of month")?,
            months: field(mon, 1, 12, &MONTHS, 1, "month")?,
            weekdays,
            days_any: dom.starts_with('*'),
            weekdays_any: dow.starts_with('*'),
        })
    }

    fn day_matches(&self, t: &DateTime<Utc>) -> bool {
        let dom = self.days & (1 << t.day()) != 0;
        let dow = self.weekdays & (1 << t.weekday().num_days_from_sunday()) != 0;
        match (self.days_any, self.weekdays_any) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// The first matching minute strictly after `after`, or `None` if nothing matches within
    /// five years (e.g. `0 0 31 2 *`).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let mut t = start;
        let limit = start + Duration::days(366 * 5);
        while t < limit {
            if self.months & (1 << t.month()) == 0 {
                let (y, m) = if t.month() == 12 {
                    (t.year() + 1, 1)
                } else {
                    (t.year(), t.month() + 1)
                };
                t = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single()?;
                continue;
            }
            if !self.day_matches(&t) {
                t = (t + Duration::days(1)).with_hour(0)?.with_minute(0)?;
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = (t + Duration::hours(1)).with_minute(0)?;
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t += Duration::minutes(1);
                continue;
            }
            return Some(t);
        }
        None
    }
}

fn value(s: &str, names: &[&str], base: u32, what: &str) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + base);
    }
    s.parse()
        .map_err(|_| format!("bad {what} {s:?} in cron expression"))
}

fn field(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    base: u32,
    what: &str,
) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("bad step {s:?} in {what} field {text:?}"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, base, what)?, value(b, names, base, what)?)
        } else {
            let v = value(range, names, base, what)?;
            // `5/15` means from 5 to the end in steps of 15
            (v, if step > 1 { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!(
                "{what} field {text:?} is outside {min}-{max} (or its range is reversed)"
            ));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn next_matches_of_common_expressions() {
        let c = Cron::parse("30 2 * * *").unwrap();
        assert_eq!(
            c.next_after(t("2026-01-01T02:29:59Z")),
            Some(t("2026-01-01T02:30:00Z"))
        );
        assert_eq!(
            c.next_after(t("2026-01-01T02:30:00Z")),
            Some(t("2026-01-02T02:30:00Z"))
        );
        let every15 = Cron::parse("*/15 * * * *").unwrap();
        assert_eq!(
            every15.next_after(t("2026-01-01T10:07:00Z")),
            Some(t("2026-01-01T10:15:00Z"))
        );
        // Sundays at 03:00 (7 and sun are Sunday too); 2026-01-04 is a Sunday
        for e in ["0 3 * * 0", "0 3 * * 7", "0 3 * * SUN"] {
            assert_eq!(
                Cron::parse(e)
                    .unwrap()
                    .next_after(t("2026-01-01T00:00:00Z")),
                Some(t("2026-01-04T03:00:00Z")),
                "{e}"
            );
        }
        // first of the month, across a year end
        assert_eq!(
            Cron::parse("0 0 1 * *")
                .unwrap()
                .next_after(t("2026-12-15T00:00:00Z")),
            Some(t("2027-01-01T00:00:00Z"))
        );
        // both day fields restricted: either matches (the 10th, or a Monday)
        assert_eq!(
            Cron::parse("0 0 10 * mon")
                .unwrap()
                .next_after(t("2026-01-01T00:00:00Z")),
            Some(t("2026-01-05T00:00:00Z"))
        );
        assert_eq!(
            Cron::parse("0 0 31 2 *")
                .unwrap()
                .next_after(t("2026-01-01T00:00:00Z")),
            None
        );
    }

    #[test]
    fn bad_expressions_are_rejected_with_the_field_named() {
        for (e, word) in [
            ("* * * *", "5 fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("*/0 * * * *", "step"),
            ("5-1 * * * *", "reversed"),
            ("x * * * *", "minute"),
        ] {
            let err = Cron::parse(e).unwrap_err();
            assert!(err.contains(word), "{e}: {err}");
        }
    }
}
