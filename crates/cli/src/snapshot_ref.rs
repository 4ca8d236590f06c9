//! Parsing of user-given sizes, durations and snapshot references.

use anyhow::Result;

use crate::exit;

/// A snapshot as the user names it: `latest` (needs an owner) or an id / unique id prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotRef {
    Latest,
    Id(String),
}

impl SnapshotRef {
    pub fn parse(text: &str) -> Result<SnapshotRef> {
        if text.eq_ignore_ascii_case("latest") {
            return Ok(SnapshotRef::Latest);
        }
        if text.len() < 4 || !text.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(exit::usage(format!(
                "snapshot {text:?}: give `latest` or at least 4 hex digits of a snapshot id"
            )));
        }
        Ok(SnapshotRef::Id(text.to_ascii_lowercase()))
    }
}

/// `64KiB`, `16MiB`, `1G`, `4096` → bytes.
pub fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| {
        exit::usage(format!(
            "size {text:?}: expected a number with an optional unit"
        ))
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => {
            return Err(exit::usage(format!(
                "size {text:?}: unknown unit {other:?} (use KiB, MiB, GiB)"
            )));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| exit::usage(format!("size {text:?} is too large")))
}

/// `0s`, `90s`, `15m`, `2h`, `1day` → duration.
pub fn parse_duration(text: &str) -> Result<std::time::Duration> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        exit::usage(format!(
            "duration {text:?}: {e} (examples: 0s, 15m, 2h, 1day)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_refs() {
        assert_eq!(SnapshotRef::parse("latest").unwrap(), SnapshotRef::Latest);
        assert_eq!(
            SnapshotRef::parse("ABCD12").unwrap(),
            SnapshotRef::Id("abcd12".into())
        );
        assert!(SnapshotRef::parse("ab").is_err());
        assert!(SnapshotRef::parse("../etc").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert_eq!(parse_size("16 MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0s").unwrap(), std::time::Duration::ZERO);
        assert_eq!(parse_duration("2h").unwrap().as_secs(), 7200);
        assert!(parse_duration("soon").is_err());
    }
}
