//! SharePoint lists and list items (not document libraries: those are drives).
//!
//! One snapshot per site and run: `OwnerRef { workload: "sitelists", owner: <site id> }`,
//! state [`ListsState`]. Records:
//!
//! | item id | kind | path | name | version | content | metadata | attrs |
//! |---|---|---|---|---|---|---|---|
//! | `l:<list id>` | `list` | `""` | list display name | eTag | none | list JSON | `listId`, `template` |
//! | `i:<list id>:<item id>` | `listItem` | list display name | item id | eTag | listItem JSON with `fields` | none | `listId`, `itemId` |
//!
//! Every run lists each list's items with `$expand=fields` (Graph has no delta for list
//! items in v1.0 that covers every list template); an item whose eTag is unchanged keeps its
//! stored record (no new content), so an unchanged list costs its listing pages only. A list
//! whose items cannot be read keeps its previous records and is reported as failed.

use std::collections::BTreeMap;
use std::path::Path;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenantvault_graph::{GraphClient, Site};
use tenantvault_repo::{
    BackupMode, BackupOptions, BackupSession, ItemMeta, ItemRecord, OwnerRef, ParentSelect,
    Repository, Snapshot,
};

use super::export::safe_name;
use super::report::DriveItemFailure;

/// Workload name of list snapshots.
pub const LISTS_WORKLOAD: &str = "sitelists";
/// Kind of a list record.
pub const KIND_LIST: &str = "list";
/// Kind of a list item record.
pub const KIND_LIST_ITEM: &str = "listItem";

/// Snapshot state of a site's lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListsState {
    /// Format version (1).
    pub version: u32,
    /// Site id.
    pub site_id: String,
    /// Site display name.
    #[serde(default)]
    pub site_name: String,
    /// Site URL.
    #[serde(default)]
    pub web_url: String,
}

impl ListsState {
    /// Parses a snapshot state; `None` if it is not a lists state.
    pub fn from_json(v: &Value) -> Option<Self> {
        serde_json::from_value(v.clone())
            .ok()
            .filter(|s: &ListsState| s.version == 1)
    }
}

/// Outcome of one site's lists.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListsReport {
    /// Site id.
    pub site_id: String,
    /// Site display name.
    pub site_name: String,
    /// Snapshot written.
    pub snapshot: Option<String>,
    /// Lists backed up (document libraries excluded).
    pub lists: u64,
    /// Items stored with new content in this run.
    pub items_stored: u64,
    /// Items unchanged since the previous snapshot.
    pub items_unchanged: u64,
    /// Lists or items that could not be read.
    pub failures: Vec<DriveItemFailure>,
    /// Why the site failed as a whole.
    pub error: Option<String>,
}

/// Errors of a lists export.
#[derive(Debug, thiserror::Error)]
pub enum ListsError {
    /// Not a lists snapshot.
    #[error("snapshot {0} is not a SharePoint lists snapshot")]
    NotListsSnapshot(String),
    /// The target exists and is not an empty directory.
    #[error("target {0} exists and is not empty")]
    TargetNotEmpty(String),
    /// Repository failure.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// Writing the target failed.
    #[error("writing {path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

fn list_id(id: &str) -> String {
    format!("l:{id}")
}

fn item_id(list: &str, item: &str) -> String {
    format!("i:{list}:{item}")
}

fn text(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn time(v: &Value, k: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    v.get(k)
        .and_then(Value::as_str)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Backs up the lists of one site (never fails as a whole: errors are in the report).
pub async fn backup_site_lists(repo: &Repository, graph: &GraphClient, site: &Site) -> ListsReport {
    let mut report = ListsReport {
        site_id: site.id.clone(),
        site_name: site
            .display_name
            .clone()
            .or_else(|| site.name.clone())
            .unwrap_or_default(),
        ..ListsReport::default()
    };
    let result = async {
        let mut session = repo
            .begin_backup(
                OwnerRef::new(LISTS_WORKLOAD, &site.id),
                BackupOptions {
                    parent: ParentSelect::Latest,
                    mode: BackupMode::Full,
                    ..BackupOptions::default()
                },
            )
            .await?;
        let lists: Vec<Value> = match graph
            .pages::<Value>(&format!("sites/{}/lists?$expand=columns", site.id))
            .try_collect()
            .await
        {
            Ok(l) => l,
            Err(e) => {
                drop(session);
                return Err(ListsFailure::Listing(e.to_string()));
            }
        };
        for list in lists {
            let template = list
                .pointer("/list/template")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if template == "documentLibrary" {
                continue;
            }
            let lid = text(&list, "id");
            if lid.is_empty() {
                continue;
            }
            report.lists += 1;
            store_list(
                graph,
                &mut session,
                site,
                &list,
                &lid,
                &template,
                &mut report,
            )
            .await?;
        }
        let state = ListsState {
            version: 1,
            site_id: site.id.clone(),
            site_name: report.site_name.clone(),
            web_url: site.web_url.clone().unwrap_or_default(),
        };
        let summary = session
            .commit(serde_json::to_value(&state).unwrap_or_default())
            .await?;
        Ok::<_, ListsFailure>(summary.id.0)
    }
    .await;
    match result {
        Ok(id) => report.snapshot = Some(id),
        Err(e) => {
            tracing::warn!(site = %site.id, error = %e, "lists backup failed");
            report.error = Some(e.to_string());
        }
    }
    report
}

#[derive(Debug, thiserror::Error)]
enum ListsFailure {
    #[error("listing the site's lists: {0}")]
    Listing(String),
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
}

async fn store_list(
    graph: &GraphClient,
    session: &mut BackupSession,
    site: &Site,
    list: &Value,
    lid: &str,
    template: &str,
    report: &mut ListsReport,
) -> Result<(), tenantvault_repo::Error> {
    let name = text(list, "displayName");
    let mut attrs = BTreeMap::new();
    attrs.insert("listId".to_string(), lid.to_string());
    attrs.insert("template".to_string(), template.to_string());
    let meta = ItemMeta {
        id: list_id(lid),
        kind: KIND_LIST.into(),
        path: String::new(),
        name: name.clone(),
        created: time(list, "createdDateTime"),
        modified: time(list, "lastModifiedDateTime"),
        received: None,
        size_hint: 0,
        version: text(list, "eTag"),
        metadata: serde_json::to_vec(list).ok(),
        attrs,
    };
    session.put_item(meta, &b""[..]).await?;
    let url = format!(
        "sites/{}/lists/{lid}/items?$expand=fields&$top=200",
        site.id
    );
    let items: Result<Vec<Value>, _> = graph.pages::<Value>(&url).try_collect().await;
    let items = match items {
        Ok(i) => i,
        Err(e) => {
            let reason = format!("listing items of list {name}: {e}");
            session.record_failure(&list_id(lid), &reason);
            report.failures.push(DriveItemFailure {
                item_id: list_id(lid),
                reason,
            });
            keep_previous_items(session, lid).await?;
            return Ok(());
        }
    };
    for item in items {
        let iid = text(&item, "id");
        if iid.is_empty() {
            continue;
        }
        let id = item_id(lid, &iid);
        let version = text(&item, "eTag");
        if let Some(prev) = session.previous(&id).await?
            && !version.is_empty()
            && prev.version == version
            && prev.path == name
        {
            session.keep_item(prev).await?;
            report.items_unchanged += 1;
            continue;
        }
        let body = serde_json::to_vec_pretty(&item).unwrap_or_default();
        let mut attrs = BTreeMap::new();
        attrs.insert("listId".to_string(), lid.to_string());
        attrs.insert("itemId".to_string(), iid.clone());
        let meta = ItemMeta {
            id,
            kind: KIND_LIST_ITEM.into(),
            path: name.clone(),
            name: iid,
            created: time(&item, "createdDateTime"),
            modified: time(&item, "lastModifiedDateTime"),
            received: None,
            size_hint: body.len() as u64,
            version,
            metadata: None,
            attrs,
        };
        session.put_item(meta, &body[..]).await?;
        report.items_stored += 1;
    }
    Ok(())
}

/// A list whose items could not be read keeps what the previous snapshot had.
async fn keep_previous_items(
    session: &mut BackupSession,
    lid: &str,
) -> Result<(), tenantvault_repo::Error> {
    let Some(parent) = session.parent().cloned() else {
        return Ok(());
    };
    let prefix = format!("i:{lid}:");
    let mut items = Box::pin(parent.items());
    let mut keep: Vec<ItemRecord> = Vec::new();
    while let Some(rec) = items.next().await {
        let rec = rec?;
        if rec.id.starts_with(&prefix) {
            keep.push(rec);
        }
    }
    for rec in keep {
        session.keep_item(rec).await?;
    }
    Ok(())
}

/// What a lists export wrote.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListsExportReport {
    /// Lists written (one directory each, with `_list.json`).
    pub lists: u64,
    /// Items written (`<item id>.json`).
    pub items: u64,
}

/// Writes a lists snapshot into `target` (new or empty): one directory per list (name made
/// safe) holding `_list.json` and one `<item id>.json` per item.
pub async fn export_lists(
    repo: &Repository,
    snap: &Snapshot,
    target: &Path,
) -> Result<ListsExportReport, ListsError> {
    if ListsState::from_json(snap.state()).is_none() {
        return Err(ListsError::NotListsSnapshot(snap.summary().id.0.clone()));
    }
    let io = |path: &Path, source| ListsError::Io {
        path: path.display().to_string(),
        source,
    };
    if target.exists() {
        let mut rd = std::fs::read_dir(target).map_err(|e| io(target, e))?;
        if rd.next().is_some() {
            return Err(ListsError::TargetNotEmpty(target.display().to_string()));
        }
    }
    std::fs::create_dir_all(target).map_err(|e| io(target, e))?;
    let mut report = ListsExportReport::default();
    // List id → directory.
    let mut dirs: BTreeMap<String, std::path::PathBuf> = BTreeMap::new();
    let records: Vec<ItemRecord> = snap.items().try_collect().await?;
    for rec in records.iter().filter(|r| r.kind == KIND_LIST) {
        let lid = rec.attrs.get("listId").cloned().unwrap_or_default();
        let mut name = safe_name(&rec.name);
        while dirs.values().any(|d| d.file_name() == Some(name.as_ref())) {
            name.push('_');
        }
        let dir = target.join(&name);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let meta = snap.metadata(rec).await?.unwrap_or_default();
        let file = dir.join("_list.json");
        std::fs::write(&file, meta).map_err(|e| io(&file, e))?;
        dirs.insert(lid, dir);
        report.lists += 1;
    }
    for rec in records.iter().filter(|r| r.kind == KIND_LIST_ITEM) {
        let lid = rec.attrs.get("listId").cloned().unwrap_or_default();
        let Some(dir) = dirs.get(&lid) else {
            continue;
        };
        let file = dir.join(format!("{}.json", safe_name(&rec.name)));
        let parts: Vec<bytes::Bytes> = repo.content_stream(rec).try_collect().await?;
        std::fs::write(&file, parts.concat()).map_err(|e| io(&file, e))?;
        report.items += 1;
    }
    Ok(report)
}
