//! `ls SNAPSHOT [PATH]`: the items of a snapshot, optionally under one path, filtered by name
//! (glob) and by creation/modification time (any workload: the item records' `name`,
//! `created` and `modified`).

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use futures::TryStreamExt;
use serde::Serialize;
use tenantvault_repo::ItemRecord;

use super::{SnapshotSelect, item_path, path_selected};
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub select: SnapshotSelect,
    /// Only items at or under this path (`/`-separated).
    pub path: Option<String>,
    /// Show kind, size and modification time.
    #[arg(long, short)]
    pub long: bool,
    /// Only items whose name matches this glob (`*` any run, `?` one character;
    /// case-insensitive), e.g. `*.docx`.
    #[arg(long, value_name = "GLOB")]
    pub name: Option<String>,
    /// Only items modified at or after this time (RFC 3339, or YYYY-MM-DD = 00:00 UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub modified_after: Option<DateTime<Utc>>,
    /// Only items modified before this time (RFC 3339, or YYYY-MM-DD = 00:00 UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub modified_before: Option<DateTime<Utc>>,
    /// Only items created at or after this time (RFC 3339, or YYYY-MM-DD = 00:00 UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub created_after: Option<DateTime<Utc>>,
    /// Only items created before this time (RFC 3339, or YYYY-MM-DD = 00:00 UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub created_before: Option<DateTime<Utc>>,
}

/// An RFC 3339 time, or a date (its 00:00 UTC).
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
        .map_err(|_| format!("{s:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"))
}

/// Case-insensitive glob match: `*` matches any run of characters, `?` exactly one.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let n: Vec<char> = name.to_lowercase().chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

impl LsArgs {
    fn any_filter(&self) -> bool {
        self.name.is_some()
            || self.modified_after.is_some()
            || self.modified_before.is_some()
            || self.created_after.is_some()
            || self.created_before.is_some()
    }

    /// Whether an item passes the name and time filters (an item without the time a time
    /// filter asks about does not).
    fn keeps(&self, item: &ItemRecord) -> bool {
        let within = |t: Option<DateTime<Utc>>,
                      after: Option<DateTime<Utc>>,
                      before: Option<DateTime<Utc>>| {
            if after.is_none() && before.is_none() {
                return true;
            }
            t.is_some_and(|t| after.is_none_or(|a| t >= a) && before.is_none_or(|b| t < b))
        };
        self.name.as_ref().is_none_or(|g| glob_match(g, &item.name))
            && within(item.modified, self.modified_after, self.modified_before)
            && within(item.created, self.created_after, self.created_before)
    }
}

/// The JSON shape of one item in `ls --json`.
#[derive(Debug, Serialize)]
pub struct ItemJson<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    /// Full path: folder path and name.
    pub path: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    pub version: &'a str,
    pub blobs: usize,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub attrs: &'a std::collections::BTreeMap<String, String>,
}

impl<'a> From<&'a ItemRecord> for ItemJson<'a> {
    fn from(i: &'a ItemRecord) -> Self {
        ItemJson {
            id: &i.id,
            kind: &i.kind,
            path: item_path(i),
            size: i.size,
            created: i.created.map(|t| t.to_rfc3339()),
            modified: i.modified.map(|t| t.to_rfc3339()),
            received: i.received.map(|t| t.to_rfc3339()),
            version: &i.version,
            blobs: i.content.len(),
            attrs: &i.attrs,
        }
    }
}

pub async fn run(g: &GlobalArgs, args: LsArgs) -> Result<u8> {
    args.select.validate()?;
    for (what, a, b) in [
        ("modified", args.modified_after, args.modified_before),
        ("created", args.created_after, args.created_before),
    ] {
        if let (Some(a), Some(b)) = (a, b)
            && a >= b
        {
            return Err(exit::usage(format!(
                "--{what}-after {} is not before --{what}-before {}",
                a.to_rfc3339(),
                b.to_rfc3339()
            )));
        }
    }
    let repo = context::open(g).await?;
    let snap = args.select.open(&repo).await?;
    let filter = args.path.as_deref();
    let mut items = Box::pin(snap.items());
    let mut json_items: Vec<serde_json::Value> = Vec::new();
    let mut count = 0u64;
    while let Some(item) = items.try_next().await? {
        let path = item_path(&item);
        if !path_selected(&path, filter) || !args.keeps(&item) {
            continue;
        }
        count += 1;
        if g.json {
            json_items.push(serde_json::to_value(ItemJson::from(&item))?);
        } else if args.long {
            let mtime = item
                .modified
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default();
            let mode = item.attrs.get("mode").map(String::as_str).unwrap_or("");
            println!(
                "{:<8} {:>7} {:>11} {:<19} {}",
                item.kind, mode, item.size, mtime, path
            );
        } else {
            println!("{path}");
        }
    }
    if g.json {
        output::print_json(&json_items)?;
    }
    if count == 0 && filter.is_some() && !args.any_filter() {
        return Err(exit::not_found(format!(
            "no item at or under {:?} in snapshot {}",
            filter.unwrap_or_default(),
            snap.id().short()
        )));
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_times() {
        assert!(glob_match("*.docx", "Report.DOCX"));
        assert!(glob_match("r?port*", "report 2.txt"));
        assert!(!glob_match("*.docx", "a.docx.txt"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
        assert_eq!(
            parse_time("2026-03-04").unwrap().to_rfc3339(),
            "2026-03-04T00:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-03-04T10:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2026-03-04T08:00:00+00:00"
        );
        assert!(parse_time("03/04/2026").is_err());
    }
}
