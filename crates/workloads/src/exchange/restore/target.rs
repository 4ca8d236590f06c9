//! Where restored items land in the target mailbox: folder paths of the snapshot → folder ids,
//! creating what is missing, and the messages already there (for conflict detection).

use std::collections::{BTreeMap, HashMap};

use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;
use tenantvault_graph::{GraphClient, GraphError, ListOptions};

use crate::exchange::folders::{RECOVERABLE_ITEMS, unescape_segment};
use crate::exchange::state::MailboxState;

/// Percent-encode one URL path segment (Graph ids hold `=`, `+`, `/` in some forms).
pub fn seg(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'@');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FolderRow {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageRow {
    id: String,
    #[serde(default)]
    internet_message_id: Option<String>,
}

/// A folder of the snapshot, by path.
#[derive(Debug, Clone)]
struct SourceFolder {
    id: String,
    well_known: Option<String>,
}

/// Maps snapshot folder paths to folder ids in the target mailbox.
pub struct FolderResolver {
    graph: GraphClient,
    user: String,
    /// Folder under which paths are recreated (`Restored …`), or `None`: the mailbox root, with
    /// well-known folders mapped by name.
    container: Option<String>,
    /// Same mailbox as the snapshot: original folder ids are tried first.
    same_mailbox: bool,
    source: BTreeMap<String, SourceFolder>,
    resolved: HashMap<String, String>,
    children: HashMap<String, Vec<FolderRow>>,
    /// Folders this restore created (names), for the report.
    pub created: Vec<String>,
    created_ids: std::collections::HashSet<String>,
}

impl FolderResolver {
    /// A resolver for `user` (`graph` should be that mailbox's handle).
    pub fn new(graph: GraphClient, user: &str, state: &MailboxState, same_mailbox: bool) -> Self {
        let source = state
            .folders
            .iter()
            .map(|(id, f)| {
                (
                    f.path.clone(),
                    SourceFolder {
                        id: id.clone(),
                        well_known: f.well_known.clone(),
                    },
                )
            })
            .collect();
        FolderResolver {
            graph,
            user: seg(user),
            container: None,
            same_mailbox,
            source,
            resolved: HashMap::new(),
            children: HashMap::new(),
            created: Vec::new(),
            created_ids: std::collections::HashSet::new(),
        }
    }

    /// Recreate paths under a top-level folder named `name` (found or created). Returns its id.
    pub async fn use_container(&mut self, name: &str) -> Result<String, GraphError> {
        let id = self.child(Some("msgfolderroot"), name).await?;
        self.container = Some(id.clone());
        Ok(id)
    }

    fn folders_url(&self, parent: Option<&str>) -> String {
        match parent {
            Some(p) => format!("users/{}/mailFolders/{}/childFolders", self.user, seg(p)),
            None => format!("users/{}/mailFolders", self.user),
        }
    }

    async fn list_children(&mut self, parent: &str) -> Result<&Vec<FolderRow>, GraphError> {
        if !self.children.contains_key(parent) {
            let url = format!(
                "{}?$select=id,displayName&includeHiddenFolders=true",
                self.folders_url(Some(parent))
            );
            let rows: Vec<FolderRow> = self
                .graph
                .pages_with(&url, ListOptions::default().max_page_size(250))
                .try_collect()
                .await?;
            self.children.insert(parent.to_string(), rows);
        }
        Ok(&self.children[parent])
    }

    /// The id of child `name` of `parent`, created when missing.
    async fn child(&mut self, parent: Option<&str>, name: &str) -> Result<String, GraphError> {
        let parent = parent.unwrap_or("msgfolderroot").to_string();
        let find = |rows: &Vec<FolderRow>| {
            rows.iter()
                .find(|r| {
                    r.display_name
                        .as_deref()
                        .is_some_and(|d| d.eq_ignore_ascii_case(name))
                })
                .map(|r| r.id.clone())
        };
        if let Some(id) = find(self.list_children(&parent).await?) {
            return Ok(id);
        }
        let url = self.folders_url(Some(&parent));
        let created: Result<FolderRow, GraphError> = self
            .graph
            .post_json(&url, &json!({ "displayName": name }))
            .await;
        match created {
            Ok(row) => {
                let id = row.id.clone();
                self.children.entry(parent).or_default().push(FolderRow {
                    id: row.id,
                    display_name: Some(name.to_string()),
                });
                self.created.push(name.to_string());
                self.created_ids.insert(id.clone());
                Ok(id)
            }
            Err(e) if e.status() == Some(409) || e.code() == Some("ErrorFolderExists") => {
                // Someone created it meanwhile: list again.
                self.children.remove(&parent);
                find(self.list_children(&parent).await?).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The id of a well-known folder (`inbox`, `deleteditems`, …) in the target mailbox.
    async fn well_known(&mut self, name: &str) -> Result<String, GraphError> {
        let url = format!("users/{}/mailFolders/{}?$select=id", self.user, seg(name));
        let row: FolderRow = self.graph.get(&url).await?;
        Ok(row.id)
    }

    /// Folder id for a snapshot folder path (`Inbox/Projects`), creating missing folders.
    pub async fn resolve(&mut self, path: &str) -> Result<String, GraphError> {
        if let Some(id) = self.resolved.get(path) {
            return Ok(id.clone());
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut parent: Option<String> = self.container.clone();
        for i in 0..segments.len() {
            let prefix = segments[..=i].join("/");
            if let Some(id) = self.resolved.get(&prefix) {
                parent = Some(id.clone());
                continue;
            }
            let id = self
                .resolve_one(&prefix, segments[i], parent.as_deref())
                .await?;
            self.resolved.insert(prefix, id.clone());
            parent = Some(id);
        }
        let id = match parent {
            Some(id) => id,
            // An empty path: the container, or the Inbox when restoring in place.
            None => self.well_known("inbox").await?,
        };
        self.resolved.insert(path.to_string(), id.clone());
        Ok(id)
    }

    async fn resolve_one(
        &mut self,
        prefix: &str,
        segment: &str,
        parent: Option<&str>,
    ) -> Result<String, GraphError> {
        let source = self.source.get(prefix).cloned();
        if self.container.is_none() {
            if self.same_mailbox
                && let Some(src) = &source
            {
                let url = format!(
                    "users/{}/mailFolders/{}?$select=id",
                    self.user,
                    seg(&src.id)
                );
                match self.graph.get::<FolderRow>(&url).await {
                    Ok(row) => return Ok(row.id),
                    Err(e) if matches!(e.status(), Some(404)) => {}
                    Err(e) => return Err(e),
                }
            }
            if let Some(wk) = source.as_ref().and_then(|s| s.well_known.as_deref()) {
                // Soft-deleted items go back to Deleted Items, as Outlook's recovery does.
                let wk = if wk == RECOVERABLE_ITEMS {
                    "deleteditems"
                } else {
                    wk
                };
                return self.well_known(wk).await;
            }
            if parent.is_none() && segment == "Recoverable Items" {
                return self.well_known("deleteditems").await;
            }
        }
        let name = unescape_segment(segment);
        self.child(parent, &name).await
    }

    /// Whether this restore created the folder (then it holds nothing to conflict with).
    pub fn created_here(&self, folder_id: &str) -> bool {
        self.created_ids.contains(folder_id)
    }

    /// Ids of the messages in `folder_id` with this `internetMessageId` (one filtered query;
    /// cheaper than [`Self::existing_messages`] for a few messages in a large folder).
    pub async fn find_by_message_id(
        &self,
        folder_id: &str,
        internet_message_id: &str,
    ) -> Result<Vec<String>, GraphError> {
        let literal = internet_message_id.replace('\'', "''");
        let expr = format!("internetMessageId eq '{literal}'");
        let filter =
            percent_encoding::utf8_percent_encode(&expr, percent_encoding::NON_ALPHANUMERIC);
        let url = format!(
            "users/{}/mailFolders/{}/messages?$filter={filter}&$select=id,internetMessageId",
            self.user,
            seg(folder_id)
        );
        let rows: Vec<MessageRow> = self
            .graph
            .pages_with(&url, ListOptions::default().immutable_ids())
            .try_collect()
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.internet_message_id.as_deref() == Some(internet_message_id))
            .map(|r| r.id)
            .collect())
    }

    /// Messages in folder `folder_id` by `internetMessageId` → their ids.
    pub async fn existing_messages(
        &self,
        folder_id: &str,
    ) -> Result<HashMap<String, Vec<String>>, GraphError> {
        let url = format!(
            "users/{}/mailFolders/{}/messages?$select=id,internetMessageId",
            self.user,
            seg(folder_id)
        );
        let rows: Vec<MessageRow> = self
            .graph
            .pages_with(
                &url,
                ListOptions::default().max_page_size(500).immutable_ids(),
            )
            .try_collect()
            .await?;
        let mut out: HashMap<String, Vec<String>> = HashMap::new();
        for r in rows {
            if let Some(mid) = r.internet_message_id {
                out.entry(mid).or_default().push(r.id);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("AAMk+a/b=="), "AAMk%2Ba%2Fb%3D%3D");
        assert_eq!(seg("ann@x.org"), "ann@x.org");
    }
}
