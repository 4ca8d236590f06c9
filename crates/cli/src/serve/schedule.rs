//! When a job runs: cron syntax or simple words, plus a per-job jitter.
//!
//! | text | meaning |
//! |---|---|
//! | `daily` | every day at 02:00 UTC (the default) |
//! | `daily at 21:30` | every day at that time (UTC) |
//! | `hourly` | at minute 0 of every hour |
//! | `weekly on sunday at 03:00` | once a week (`on …` and `at …` optional: Sunday, 02:00) |
//! | `every 4h`, `every 30m`, `every 1d` | fixed interval from the previous run |
//! | `15 2 * * 1-5` | any five-field cron expression (UTC) |
//!
//! Calendar schedules fire at their slots; interval schedules fire `interval` after the
//! previous slot. A job's jitter shifts every slot by a fixed offset in `[0, jitter)` derived
//! from the job's name, so that jobs of one tenant do not all start in the same second and a
//! job's slots stay evenly spaced.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::cron::Cron;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Calendar slots.
    Cron(Cron),
    /// Every `interval` after the previous slot.
    Every(Duration),
}

/// The schedule a job has when its definition names none.
pub const DEFAULT: &str = "daily";

impl Schedule {
    /// Parses words (`daily at 02:00`, `every 4h`, …) or a cron expression.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let lower = text.trim().to_ascii_lowercase();
        let words: Vec<&str> = lower.split_whitespace().collect();
        let cron = |e: String| Cron::parse(&e).map(Schedule::Cron);
        match words.as_slice() {
            [] => Err("empty schedule".into()),
            ["daily"] => cron("0 2 * * *".into()),
            ["daily", "at", time] => {
                let (h, m) = hh_mm(time)?;
                cron(format!("{m} {h} * * *"))
            }
            ["hourly"] => cron("0 * * * *".into()),
            ["weekly", rest @ ..] => {
                let mut day = "sun".to_string();
                let mut time = (2, 0);
                let mut it = rest.iter();
                while let Some(w) = it.next() {
                    match (*w, it.next()) {
                        ("on", Some(d)) => day = weekday(d)?,
                        ("at", Some(t)) => time = hh_mm(t)?,
                        _ => {
                            return Err(format!(
                                "cannot read schedule {text:?}: use `weekly on sunday at 03:00`"
                            ));
                        }
                    }
                }
                cron(format!("{} {} * * {day}", time.1, time.0))
            }
            ["every", amount] => {
                let d = humantime::parse_duration(amount)
                    .map_err(|e| format!("bad interval {amount:?} in schedule {text:?}: {e}"))?;
                if d < Duration::from_secs(60) {
                    return Err(format!(
                        "schedule {text:?}: the interval must be at least 1 minute"
                    ));
                }
                Ok(Schedule::Every(d))
            }
            _ if words.len() == 5 => cron(lower.clone()),
            _ => Err(format!(
                "cannot read schedule {text:?}: use `daily`, `daily at HH:MM`, `hourly`, \
                 `weekly on DAY at HH:MM`, `every 4h` or a 5-field cron expression"
            )),
        }
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron(c) => c.next_after(after),
            Schedule::Every(d) => Some(after + chrono::Duration::from_std(*d).ok()?),
        }
    }
}

fn hh_mm(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("bad time {s:?}: use HH:MM (24-hour, UTC)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok((h, m))
}

fn weekday(s: &str) -> Result<String, String> {
    const DAYS: [&str; 7] = [
        "sunday",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
    ];
    DAYS.iter()
        .find(|d| d.starts_with(s) && s.len() >= 3)
        .map(|d| d[..3].to_string())
        .ok_or_else(|| format!("bad weekday {s:?}"))
}

/// A fixed offset in `[0, jitter)` for the job `name` (FNV-1a of the name), so restarts keep
/// the same offsets.
pub fn jitter_offset(name: &str, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return Duration::ZERO;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let secs = jitter.as_secs().max(1);
    Duration::from_secs(h % secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn words_and_cron_give_the_expected_slots() {
        let at = t("2026-03-10T12:00:00Z"); // a Tuesday
        let next = |s: &str| Schedule::parse(s).unwrap().next_after(at).unwrap();
        assert_eq!(next("daily"), t("2026-03-11T02:00:00Z"));
        assert_eq!(next("daily at 21:30"), t("2026-03-10T21:30:00Z"));
        assert_eq!(next("Daily at 02:00"), t("2026-03-11T02:00:00Z"));
        assert_eq!(next("hourly"), t("2026-03-10T13:00:00Z"));
        assert_eq!(next("every 4h"), t("2026-03-10T16:00:00Z"));
        assert_eq!(next("every 30m"), t("2026-03-10T12:30:00Z"));
        assert_eq!(next("weekly"), t("2026-03-15T02:00:00Z"));
        assert_eq!(next("weekly on wed at 03:15"), t("2026-03-11T03:15:00Z"));
        assert_eq!(next("0 */6 * * *"), t("2026-03-10T18:00:00Z"));
    }

    #[test]
    fn bad_schedules_are_errors() {
        for s in [
            "",
            "daily at 25:00",
            "daily at noon",
            "every 10s",
            "every soon",
            "weekly on funday",
            "sometimes",
            "0 0 * *",
        ] {
            assert!(Schedule::parse(s).is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn jitter_is_stable_and_bounded() {
        let j = Duration::from_secs(600);
        let a = jitter_offset("mail-all", j);
        assert_eq!(a, jitter_offset("mail-all", j));
        assert!(a < j);
        assert_eq!(jitter_offset("x", Duration::ZERO), Duration::ZERO);
        let spread: std::collections::HashSet<_> = (0..20)
            .map(|i| jitter_offset(&format!("job{i}"), j))
            .collect();
        assert!(spread.len() > 10, "offsets not spread: {spread:?}");
    }
}
