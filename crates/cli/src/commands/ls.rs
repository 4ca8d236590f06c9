//! `ls SNAPSHOT [PATH]`: the items of a snapshot, optionally under one path.

use anyhow::Result;
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
    let repo = context::open(g).await?;
    let snap = args.select.open(&repo).await?;
    let filter = args.path.as_deref();
    let mut items = Box::pin(snap.items());
    let mut json_items: Vec<serde_json::Value> = Vec::new();
    let mut count = 0u64;
    while let Some(item) = items.try_next().await? {
        let path = item_path(&item);
        if !path_selected(&path, filter) {
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
    if count == 0 && filter.is_some() {
        return Err(exit::not_found(format!(
            "no item at or under {:?} in snapshot {}",
            filter.unwrap_or_default(),
            snap.id().short()
        )));
    }
    Ok(exit::OK)
}
