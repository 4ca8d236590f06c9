//! Snapshot retention rules (grandfather-father-son) and the age type policies use.

use chrono::{DateTime, Datelike, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// A calendar age such as `7y`, `18m` (months), `4w`, `30d` or `12h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Age {
    Years(u32),
    Months(u32),
    Weeks(u32),
    Days(u32),
    Hours(u32),
}

impl Age {
    /// The instant this age before `now` (calendar arithmetic for years and months; clamps
    /// to the end of shorter months).
    pub fn before(self, now: DateTime<Utc>) -> DateTime<Utc> {
        let r = match self {
            Age::Years(n) => now.checked_sub_months(Months::new(n.saturating_mul(12))),
            Age::Months(n) => now.checked_sub_months(Months::new(n)),
            Age::Weeks(n) => now.checked_sub_signed(Duration::weeks(n.into())),
            Age::Days(n) => now.checked_sub_signed(Duration::days(n.into())),
            Age::Hours(n) => now.checked_sub_signed(Duration::hours(n.into())),
        };
        r.unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The instant this age after `t`.
    pub fn after(self, t: DateTime<Utc>) -> DateTime<Utc> {
        let r = match self {
            Age::Years(n) => t.checked_add_months(Months::new(n.saturating_mul(12))),
            Age::Months(n) => t.checked_add_months(Months::new(n)),
            Age::Weeks(n) => t.checked_add_signed(Duration::weeks(n.into())),
            Age::Days(n) => t.checked_add_signed(Duration::days(n.into())),
            Age::Hours(n) => t.checked_add_signed(Duration::hours(n.into())),
        };
        r.unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Age::Years(n) => write!(f, "{n}y"),
            Age::Months(n) => write!(f, "{n}m"),
            Age::Weeks(n) => write!(f, "{n}w"),
            Age::Days(n) => write!(f, "{n}d"),
            Age::Hours(n) => write!(f, "{n}h"),
        }
    }
}

impl FromStr for Age {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let bad = || {
            format!(
                "invalid age {s:?}: expected a number and a unit y, m, w, d or h (e.g. 7y, 30d)"
            )
        };
        let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
        let n: u32 = num.parse().map_err(|_| bad())?;
        if n == 0 {
            return Err(format!("invalid age {s:?}: must be more than zero"));
        }
        Ok(match unit {
            "y" => Age::Years(n),
            "m" => Age::Months(n),
            "w" => Age::Weeks(n),
            "d" => Age::Days(n),
            "h" => Age::Hours(n),
            _ => return Err(bad()),
        })
    }
}

impl Serialize for Age {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Age {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which snapshots of one owner+workload to keep. A snapshot is kept if any rule keeps it;
/// a rule with no field set keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GfsRule {
    /// The N newest snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// The newest snapshot of each of the N most recent days (UTC) that have snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<u32>,
    /// … of each of the N most recent ISO weeks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<u32>,
    /// … of each of the N most recent calendar months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<u32>,
    /// … of each of the N most recent calendar years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yearly: Option<u32>,
    /// Every snapshot younger than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Age>,
}

impl GfsRule {
    /// True when no rule is set (everything is kept).
    pub fn is_empty(&self) -> bool {
        self == &GfsRule::default()
    }

    /// For snapshots given as `(time, key)`, the reasons each kept key is kept
    /// (e.g. `["daily", "monthly"]`); keys absent from the result are not kept.
    pub fn keep<K: Ord + Clone>(
        &self,
        snaps: &[(DateTime<Utc>, K)],
        now: DateTime<Utc>,
    ) -> BTreeMap<K, Vec<&'static str>> {
        let mut out: BTreeMap<K, Vec<&'static str>> = BTreeMap::new();
        if self.is_empty() {
            for (_, k) in snaps {
                out.insert(k.clone(), vec!["no snapshot rule"]);
            }
            return out;
        }
        let mut sorted: Vec<&(DateTime<Utc>, K)> = snaps.iter().collect();
        sorted.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
        if let Some(n) = self.keep_last {
            for (_, k) in sorted.iter().take(n as usize) {
                out.entry(k.clone()).or_default().push("last");
            }
        }
        type Bucket = fn(&DateTime<Utc>) -> (i32, u32, u32);
        let buckets: [(Option<u32>, &'static str, Bucket); 4] = [
            (self.daily, "daily", |t| (t.year(), t.ordinal(), 0)),
            (self.weekly, "weekly", |t| {
                let w = t.iso_week();
                (w.year(), w.week(), 0)
            }),
            (self.monthly, "monthly", |t| (t.year(), t.month(), 0)),
            (self.yearly, "yearly", |t| (t.year(), 0, 0)),
        ];
        for (n, name, bucket) in buckets {
            let Some(n) = n else { continue };
            let mut seen = BTreeSet::new();
            for (t, k) in &sorted {
                if seen.len() >= n as usize && !seen.contains(&bucket(t)) {
                    break;
                }
                if seen.insert(bucket(t)) {
                    out.entry(k.clone()).or_default().push(name);
                }
            }
        }
        if let Some(w) = self.within {
            let limit = w.before(now);
            for (t, k) in &sorted {
                if *t >= limit {
                    out.entry(k.clone()).or_default().push("within");
                }
            }
        }
        out
    }
}

impl fmt::Display for GfsRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("keep all snapshots");
        }
        let mut parts = Vec::new();
        for (name, v) in [
            ("last", self.keep_last),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ] {
            if let Some(n) = v {
                parts.push(format!("{name} {n}"));
            }
        }
        if let Some(w) = self.within {
            parts.push(format!("within {w}"));
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Naive model: kept if among the N newest, or the newest of its period while that period
    /// is among the N most recent periods with snapshots, or younger than `within`.
    fn model(rule: &GfsRule, times: &[DateTime<Utc>], i: usize, now: DateTime<Utc>) -> bool {
        let t = times[i];
        let newer = times
            .iter()
            .enumerate()
            .filter(|(j, u)| **u > t || (**u == t && *j > i))
            .count();
        if rule.keep_last.is_some_and(|n| newer < n as usize) {
            return true;
        }
        type Key = fn(&DateTime<Utc>) -> (i32, u32);
        let periods: [(Option<u32>, Key); 4] = [
            (rule.daily, |t| (t.year(), t.ordinal())),
            (rule.weekly, |t| (t.iso_week().year(), t.iso_week().week())),
            (rule.monthly, |t| (t.year(), t.month())),
            (rule.yearly, |t| (t.year(), 0)),
        ];
        for (n, key) in periods {
            let Some(n) = n else { continue };
            let mut all: Vec<(i32, u32)> = times.iter().map(key).collect();
            all.sort();
            all.dedup();
            let recent = &all[all.len().saturating_sub(n as usize)..];
            let newest_of_period = times
                .iter()
                .enumerate()
                .filter(|(_, u)| key(u) == key(&t))
                .all(|(j, u)| *u < t || (*u == t && j <= i));
            if recent.contains(&key(&t)) && newest_of_period {
                return true;
            }
        }
        rule.within.is_some_and(|w| t >= w.before(now))
    }

    proptest! {
        #[test]
        fn gfs_matches_the_naive_model(
            offsets in proptest::collection::vec(0i64..3_000 * 24, 0..60),
            keep_last in proptest::option::of(1u32..5),
            daily in proptest::option::of(1u32..10),
            weekly in proptest::option::of(1u32..6),
            monthly in proptest::option::of(1u32..13),
            yearly in proptest::option::of(1u32..4),
            within in proptest::option::of(1u32..400),
        ) {
            let now: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
            let times: Vec<DateTime<Utc>> = offsets.iter().map(|h| now - Duration::hours(*h)).collect();
            let rule = GfsRule { keep_last, daily, weekly, monthly, yearly, within: within.map(Age::Days) };
            let snaps: Vec<(DateTime<Utc>, usize)> = times.iter().copied().zip(0..).collect();
            let kept = rule.keep(&snaps, now);
            for i in 0..times.len() {
                let expect = rule.is_empty() || model(&rule, &times, i, now);
                prop_assert_eq!(kept.contains_key(&i), expect, "snapshot {} at {}", i, times[i]);
            }
        }
    }

    #[test]
    fn age_parse_and_calendar() {
        assert_eq!("7y".parse::<Age>().unwrap(), Age::Years(7));
        assert_eq!("30d".parse::<Age>().unwrap(), Age::Days(30));
        for bad in ["", "7", "y", "0d", "7x", "-1d", "1.5y"] {
            assert!(bad.parse::<Age>().is_err(), "{bad}");
        }
        let now: DateTime<Utc> = "2024-02-29T12:00:00Z".parse().unwrap();
        assert_eq!(
            Age::Years(1).before(now),
            "2023-02-28T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            Age::Days(1).after(now).to_rfc3339(),
            "2024-03-01T12:00:00+00:00"
        );
    }

    #[test]
    fn daily_keeps_newest_of_each_day() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let snaps = vec![
            (t("2024-01-01T08:00:00Z"), 1),
            (t("2024-01-01T20:00:00Z"), 2),
            (t("2024-01-02T08:00:00Z"), 3),
            (t("2024-01-03T08:00:00Z"), 4),
        ];
        let rule = GfsRule {
            daily: Some(2),
            ..Default::default()
        };
        let kept = rule.keep(&snaps, t("2024-01-04T00:00:00Z"));
        assert_eq!(kept.keys().copied().collect::<Vec<_>>(), vec![3, 4]);
        let rule = GfsRule {
            keep_last: Some(1),
            monthly: Some(1),
            within: Some(Age::Hours(48)),
            ..Default::default()
        };
        let kept = rule.keep(&snaps, t("2024-01-04T00:00:00Z"));
        assert_eq!(kept[&4], vec!["last", "monthly", "within"]);
        assert_eq!(kept[&3], vec!["within"]);
        assert!(!kept.contains_key(&1));
    }
}
