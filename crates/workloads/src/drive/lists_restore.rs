//! Restore of SharePoint list items from a lists snapshot (see [`super::lists`]): every item is
//! created again with `POST /sites/{site}/lists/{list}/items` and its writable `fields`, into
//! the original list or into a new generic list created with the stored list's writable
//! columns.
//!
//! Field values SharePoint computes (`ID`, `Created`, `Modified`, `Author`, `Editor`,
//! `ContentType`, `Attachments`, annotations such as `@odata.etag`, and columns the stored
//! list marks `readOnly`) are left out of the request and reported once per name. The
//! restored items are new items: they get new ids, and their creation time and author are
//! the restore's (Graph v1.0 cannot set them). List item attachments are not in Graph v1.0
//! (no `attachments` relationship on `listItem`), so they were not backed up and are not
//! restored; only the `Attachments` flag field was stored.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tenantvault_graph::{GraphClient, GraphError};
use tenantvault_repo::{ItemRecord, Repository, Snapshot};

use super::lists::{KIND_LIST, KIND_LIST_ITEM, ListsState};

/// Fields SharePoint computes; never sent on create.
pub const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "ID",
    "ContentType",
    "ContentTypeId",
    "Created",
    "Modified",
    "Author",
    "Editor",
    "AuthorLookupId",
    "EditorLookupId",
    "Attachments",
    "Edit",
    "LinkTitle",
    "LinkTitleNoMenu",
    "DocIcon",
    "ItemChildCount",
    "FolderChildCount",
    "AppAuthorLookupId",
    "AppEditorLookupId",
];

/// Where the items go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListTarget {
    /// Into the list they came from (same list id on the snapshot's site).
    Original,
    /// Into a new generic list on the snapshot's site, named as given or
    /// `<list name> (restored <date time>)`; one new list per restored list.
    NewList(Option<String>),
}

/// What to restore.
#[derive(Debug, Clone)]
pub struct ListsRestoreOptions {
    /// Only this list (display name or id, case-insensitive); `None` = every list.
    pub list: Option<String>,
    /// Only this item id (needs `list` when the snapshot has several lists).
    pub item: Option<String>,
    /// Destination.
    pub target: ListTarget,
}

impl Default for ListsRestoreOptions {
    fn default() -> Self {
        Self {
            list: None,
            item: None,
            target: ListTarget::NewList(None),
        }
    }
}

/// One list restored.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoredList {
    /// List name in the snapshot.
    pub source: String,
    /// Destination list id.
    pub list_id: String,
    /// Destination list display name.
    pub list_name: String,
    /// Whether the destination list was created by this restore.
    pub created: bool,
    /// Items created: (snapshot item id, new item id).
    pub items: Vec<(String, String)>,
}

/// Outcome of a list restore.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListsRestoreReport {
    /// Site the lists live on.
    pub site_id: String,
    /// Lists written to.
    pub lists: Vec<RestoredList>,
    /// Items created in all lists.
    pub items: u64,
    /// Field names left out because SharePoint computes them or the list marks them read-only.
    pub skipped_fields: BTreeSet<String>,
    /// Items or lists that could not be restored: (`list` or `list/item`, reason).
    pub failed: Vec<(String, String)>,
}

/// Errors that stop a list restore before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum ListsRestoreError {
    /// Not a lists snapshot.
    #[error("snapshot {0} is not a SharePoint lists snapshot")]
    NotListsSnapshot(String),
    /// The selection matches nothing.
    #[error("{0}")]
    NotFound(String),
    /// Invalid options.
    #[error("{0}")]
    Invalid(String),
    /// Repository failure.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
}

/// The writable part of a stored item's `fields`: system fields, annotations (`@…`),
/// internal (`_…`) fields and the list's read-only columns left out (their names go to
/// `skipped`).
pub fn writable_fields(
    fields: &Map<String, Value>,
    read_only: &BTreeSet<String>,
    skipped: &mut BTreeSet<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in fields {
        if SYSTEM_FIELDS.contains(&k.as_str())
            || k.starts_with('@')
            || k.starts_with('_')
            || read_only.contains(k)
        {
            skipped.insert(k.clone());
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// Read-only column names and the create body of the writable columns of a stored list JSON
/// (from `$expand=columns`; empty when the backup did not have them).
fn columns_of(list: &Value) -> (BTreeSet<String>, Vec<Value>) {
    let mut ro = BTreeSet::new();
    let mut create = Vec::new();
    for c in list["columns"].as_array().into_iter().flatten() {
        let Some(name) = c["name"].as_str() else {
            continue;
        };
        if c["readOnly"].as_bool().unwrap_or(false) {
            ro.insert(name.to_string());
            continue;
        }
        if name == "Title" || SYSTEM_FIELDS.contains(&name) || c["sealed"].as_bool() == Some(true) {
            continue;
        }
        // The column definition minus server-assigned properties.
        let mut def = c.clone();
        if let Value::Object(m) = &mut def {
            m.retain(|k, _| !matches!(k.as_str(), "id" | "columnGroup" | "@odata.etag"));
        }
        create.push(def);
    }
    (ro, create)
}

/// Restores list items of `snap` (a lists snapshot) on its site.
pub async fn restore_lists(
    repo: &Repository,
    graph: &GraphClient,
    snap: &Snapshot,
    opts: &ListsRestoreOptions,
) -> Result<ListsRestoreReport, ListsRestoreError> {
    let state = ListsState::from_json(snap.state())
        .ok_or_else(|| ListsRestoreError::NotListsSnapshot(snap.id().0.clone()))?;
    let records: Vec<ItemRecord> = snap.items().try_collect().await?;
    let lists: Vec<&ItemRecord> = records
        .iter()
        .filter(|r| r.kind == KIND_LIST)
        .filter(|r| {
            opts.list.as_ref().is_none_or(|want| {
                r.name.eq_ignore_ascii_case(want)
                    || r.attrs
                        .get("listId")
                        .is_some_and(|id| id.eq_ignore_ascii_case(want))
            })
        })
        .collect();
    if lists.is_empty() {
        return Err(ListsRestoreError::NotFound(match &opts.list {
            Some(l) => format!("no list {l:?} in snapshot {}", snap.id().short()),
            None => format!("snapshot {} has no lists", snap.id().short()),
        }));
    }
    if opts.item.is_some() && lists.len() > 1 {
        return Err(ListsRestoreError::Invalid(
            "--item needs --list when the snapshot has several lists".into(),
        ));
    }
    // Items per list id, in id order (numeric).
    let mut items: BTreeMap<String, Vec<(u64, &ItemRecord)>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.kind == KIND_LIST_ITEM) {
        let lid = r.attrs.get("listId").cloned().unwrap_or_default();
        let iid = r.attrs.get("itemId").cloned().unwrap_or_default();
        if opts.item.as_ref().is_some_and(|want| *want != iid) {
            continue;
        }
        items
            .entry(lid)
            .or_default()
            .push((iid.parse().unwrap_or(u64::MAX), r));
    }
    if let Some(want) = &opts.item {
        let lid = lists[0].attrs.get("listId").cloned().unwrap_or_default();
        if items.get(&lid).is_none_or(Vec::is_empty) {
            return Err(ListsRestoreError::NotFound(format!(
                "no item {want} in list {:?}",
                lists[0].name
            )));
        }
    }
    let sp = graph.sharepoint();
    let mut report = ListsRestoreReport {
        site_id: state.site_id.clone(),
        ..ListsRestoreReport::default()
    };
    for list in lists {
        let lid = list.attrs.get("listId").cloned().unwrap_or_default();
        let list_json: Value = snap
            .metadata(list)
            .await?
            .and_then(|m| serde_json::from_slice(&m).ok())
            .unwrap_or(Value::Null);
        let (read_only, columns) = columns_of(&list_json);
        let dest = match destination(&sp, &state.site_id, list, &lid, &columns, &opts.target).await
        {
            Ok(d) => d,
            Err(e) => {
                report.failed.push((list.name.clone(), e.to_string()));
                continue;
            }
        };
        let mut done = dest;
        let mut mine = items.remove(&lid).unwrap_or_default();
        mine.sort_by_key(|(n, r)| (*n, r.id.clone()));
        for (_, rec) in mine {
            let iid = rec.attrs.get("itemId").cloned().unwrap_or_default();
            let stored: Value = match read_json(repo, rec).await {
                Ok(v) => v,
                Err(e) => {
                    report
                        .failed
                        .push((format!("{}/{iid}", list.name), e.to_string()));
                    continue;
                }
            };
            let fields = stored["fields"].as_object().cloned().unwrap_or_default();
            let body = json!({
                "fields": writable_fields(&fields, &read_only, &mut report.skipped_fields)
            });
            let url = format!("sites/{}/lists/{}/items", state.site_id, done.list_id);
            match sp.post_json::<Value>(&url, &body).await {
                Ok(created) => {
                    let new_id = created["id"].as_str().unwrap_or_default().to_string();
                    done.items.push((iid, new_id));
                    report.items += 1;
                }
                Err(e) => report
                    .failed
                    .push((format!("{}/{iid}", list.name), e.to_string())),
            }
        }
        report.lists.push(done);
    }
    Ok(report)
}

async fn read_json(repo: &Repository, rec: &ItemRecord) -> Result<Value, String> {
    let chunks: Vec<bytes::Bytes> = repo
        .content_stream(rec)
        .try_collect()
        .await
        .map_err(|e| format!("reading the backup: {e}"))?;
    serde_json::from_slice(&chunks.concat()).map_err(|e| format!("stored item is not JSON: {e}"))
}

async fn destination(
    sp: &GraphClient,
    site: &str,
    list: &ItemRecord,
    lid: &str,
    columns: &[Value],
    target: &ListTarget,
) -> Result<RestoredList, GraphError> {
    match target {
        ListTarget::Original => {
            let found: Value = sp.get(&format!("sites/{site}/lists/{lid}")).await?;
            Ok(RestoredList {
                source: list.name.clone(),
                list_id: lid.to_string(),
                list_name: found["displayName"]
                    .as_str()
                    .unwrap_or(&list.name)
                    .to_string(),
                created: false,
                items: Vec::new(),
            })
        }
        ListTarget::NewList(name) => {
            let name = name.clone().unwrap_or_else(|| {
                format!(
                    "{} (restored {})",
                    list.name,
                    chrono::Utc::now().format("%Y-%m-%d %H-%M-%S")
                )
            });
            let mut body = json!({"displayName": name, "list": {"template": "genericList"}});
            if !columns.is_empty() {
                body["columns"] = Value::Array(columns.to_vec());
            }
            let created: Value = sp.post_json(&format!("sites/{site}/lists"), &body).await?;
            Ok(RestoredList {
                source: list.name.clone(),
                list_id: created["id"].as_str().unwrap_or_default().to_string(),
                list_name: created["displayName"].as_str().unwrap_or(&name).to_string(),
                created: true,
                items: Vec::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_and_read_only_fields_are_left_out() {
        let fields: Map<String, Value> = serde_json::from_value(json!({
            "@odata.etag": "\"x,1\"", "id": "3", "Title": "T", "Status": "Done",
            "Created": "2026-01-01T00:00:00Z", "Attachments": false, "_UIVersionString": "1.0",
            "Computed": "c"
        }))
        .unwrap();
        let ro: BTreeSet<String> = ["Computed".to_string()].into();
        let mut skipped = BTreeSet::new();
        let w = writable_fields(&fields, &ro, &mut skipped);
        assert_eq!(
            w.keys().cloned().collect::<Vec<_>>(),
            vec!["Status".to_string(), "Title".to_string()]
        );
        assert!(skipped.contains("@odata.etag") && skipped.contains("Computed"));
        assert_eq!(skipped.len(), 6);
    }

    #[test]
    fn columns_split_into_read_only_and_creatable() {
        let list = json!({"columns": [
            {"id": "1", "name": "Title", "readOnly": false},
            {"id": "2", "name": "Status", "readOnly": false, "choice": {"choices": ["A"]}},
            {"id": "3", "name": "ID", "readOnly": true},
            {"id": "4", "name": "Calc", "readOnly": true}
        ]});
        let (ro, create) = columns_of(&list);
        assert_eq!(ro, ["Calc".to_string(), "ID".to_string()].into());
        assert_eq!(
            create,
            vec![json!({"name": "Status", "readOnly": false, "choice": {"choices": ["A"]}})]
        );
    }
}
