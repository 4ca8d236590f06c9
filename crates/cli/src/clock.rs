//! The command line's clock: the one place that reads `TENANTVAULT_NOW`.
//!
//! Policies that depend on time (retention, holds, departures, alerts) take `now` from
//! [`now`]. Tests set `TENANTVAULT_NOW` (RFC 3339, e.g. `2031-05-01T12:00:00Z`) to run the
//! binary at a simulated time; unset, it is the system clock.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::exit;

/// Environment variable that overrides the clock (tests only).
pub const NOW_ENV: &str = "TENANTVAULT_NOW";

/// The current time, or `TENANTVAULT_NOW` when set. A malformed value is a usage error.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var(NOW_ENV) {
        Ok(v) if !v.trim().is_empty() => parse(&v),
        _ => Ok(Utc::now()),
    }
}

fn parse(v: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| exit::usage(format!("{NOW_ENV}={v:?} is not an RFC 3339 time: {e}")))
}

/// Parses a date argument: RFC 3339 (`2024-03-01T12:00:00Z`) or a day (`2024-03-01`, the
/// start of that day in UTC; with `end_of_day` its last second).
pub fn parse_date(arg: &str, what: &str, end_of_day: bool) -> Result<DateTime<Utc>> {
    let s = arg.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
        exit::usage(format!(
            "{what} {arg:?}: expected a date (2024-03-01) or an RFC 3339 time"
        ))
    })?;
    let t = if end_of_day {
        day.and_hms_opt(23, 59, 59).expect("valid time")
    } else {
        day.and_hms_opt(0, 0, 0).expect("valid time")
    };
    Ok(t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times_and_days() {
        assert_eq!(
            parse("2031-05-01T12:00:00Z").unwrap().to_rfc3339(),
            "2031-05-01T12:00:00+00:00"
        );
        assert!(parse("yesterday").is_err());
        assert_eq!(
            parse_date("2024-03-01", "--from", false)
                .unwrap()
                .to_rfc3339(),
            "2024-03-01T00:00:00+00:00"
        );
        assert_eq!(
            parse_date("2024-03-01", "--to", true).unwrap().to_rfc3339(),
            "2024-03-01T23:59:59+00:00"
        );
        assert!(parse_date("03/01/2024", "--from", false).is_err());
    }
}
