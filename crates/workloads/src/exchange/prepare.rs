//! The concurrent half of a delta round: each entry of a page becomes a [`Step`] — decided
//! against the previous snapshot and, when needed, downloaded — before the mailbox's single
//! writer applies it to the backup session in order.

use std::sync::Arc;

use serde_json::Value;
use serde_json::value::RawValue;
use tenantvault_graph::{GraphClient, GraphError};
use tenantvault_repo::{ItemMeta, ItemRecord, Repository, Snapshot};

use super::body::Body;
use super::decide::{Upsert, decide_upsert};
use super::graph_io;
use super::items::{contact_meta, event_meta, message_meta, prev_info};
use super::layout::{self, MessageFields, is_partial_message, merge_update};

/// Which collection a round walks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collection {
    /// Messages of one mail folder.
    Folder {
        /// Graph folder id.
        id: String,
        /// Its display-name path.
        path: String,
    },
    /// Events of the primary calendar (calendarView delta).
    Events,
    /// Contacts of the default contacts folder.
    Contacts,
}

impl Collection {
    /// Item id for a Graph id of this collection.
    pub fn item_id(&self, graph_id: &str) -> String {
        match self {
            Collection::Folder { .. } => layout::message_item_id(graph_id),
            Collection::Events => layout::event_item_id(graph_id),
            Collection::Contacts => layout::contact_item_id(graph_id),
        }
    }

    /// Short label for logs and failure reasons.
    pub fn label(&self) -> String {
        match self {
            Collection::Folder { path, .. } => format!("folder '{path}'"),
            Collection::Events => "calendar".to_string(),
            Collection::Contacts => "contacts".to_string(),
        }
    }
}

/// What the writer does with one delta entry.
#[derive(Debug)]
pub enum StepKind {
    /// Store new content.
    Put {
        /// Item metadata.
        meta: ItemMeta,
        /// Downloaded content.
        body: Body,
        /// The previous snapshot had it in another folder (a move).
        moved: bool,
    },
    /// New JSON / path, same content as `prev`.
    Reuse {
        /// Item metadata (with the new JSON).
        meta: ItemMeta,
        /// The previous record whose content is reused.
        prev: ItemRecord,
        /// The previous snapshot had it in another folder (a move).
        moved: bool,
    },
    /// Unchanged; the incremental session carries it over.
    Keep {
        /// Item id.
        item_id: String,
    },
    /// `@removed`.
    Removed {
        /// Item id.
        item_id: String,
    },
    /// Could not be backed up.
    Failed {
        /// Item id.
        item_id: String,
        /// Why.
        reason: String,
    },
    /// Nothing to do (vanished between the delta page and the download, or an out-of-window
    /// event removal); the next round reports it properly.
    Skip,
}

/// A step and the page it came from (the resume point if the run stops after it).
#[derive(Debug)]
pub struct Step {
    /// The page URL whose entries include this one.
    pub page: Arc<str>,
    /// What to do.
    pub kind: StepKind,
}

/// Everything a preparation needs; cheap to clone into each concurrent future.
#[derive(Clone)]
pub struct PrepareCtx {
    /// Mailbox-scoped Graph handle.
    pub graph: GraphClient,
    /// The repository (to read previous metadata when merging partial updates).
    pub repo: Repository,
    /// The snapshot this run is incremental to.
    pub parent: Option<Arc<Snapshot>>,
    /// Entra user id.
    pub user_id: String,
    /// Spool to disk above this size.
    pub spool_threshold: usize,
}

pub(crate) fn describe(e: &GraphError) -> String {
    let mut s = e.to_string();
    if let Some(rid) = e.request_id()
        && !s.contains(rid)
    {
        s.push_str(&format!(" (request-id {rid})"));
    }
    s
}

impl PrepareCtx {
    async fn previous(&self, item_id: &str) -> Result<Option<ItemRecord>, String> {
        match &self.parent {
            None => Ok(None),
            Some(p) => p
                .item(item_id)
                .await
                .map_err(|e| format!("reading the previous snapshot: {e}")),
        }
    }

    /// Turn one raw delta entry into a step.
    pub async fn prepare(&self, collection: &Collection, raw: &RawValue) -> StepKind {
        let value: Value = match serde_json::from_str(raw.get()) {
            Ok(v) => v,
            Err(e) => {
                return StepKind::Failed {
                    item_id: format!("{}?", collection.item_id("")),
                    reason: format!("malformed delta entry in {}: {e}", collection.label()),
                };
            }
        };
        let Some(graph_id) = value.get("id").and_then(Value::as_str) else {
            return StepKind::Failed {
                item_id: format!("{}?", collection.item_id("")),
                reason: format!("delta entry without id in {}", collection.label()),
            };
        };
        let item_id = collection.item_id(graph_id);
        if value.get("@removed").is_some() {
            return StepKind::Removed { item_id };
        }
        let prev = match self.previous(&item_id).await {
            Ok(p) => p,
            Err(reason) => return StepKind::Failed { item_id, reason },
        };
        let result = match collection {
            Collection::Folder { id, path } => {
                self.prepare_message(id, path, &item_id, raw, &value, prev)
                    .await
            }
            Collection::Events => self.prepare_event(&item_id, raw, &value, prev).await,
            Collection::Contacts => Ok(prepare_contact(&item_id, raw, &value, prev)),
        };
        match result {
            Ok(step) => step,
            Err(e) if matches!(e, GraphError::NotFound(_)) => {
                tracing::debug!(item = %item_id, "item vanished before download: {e}");
                StepKind::Skip
            }
            Err(e) => StepKind::Failed {
                item_id,
                reason: describe(&e),
            },
        }
    }

    async fn prepare_message(
        &self,
        folder_id: &str,
        path: &str,
        item_id: &str,
        raw: &RawValue,
        value: &Value,
        prev: Option<ItemRecord>,
    ) -> Result<StepKind, GraphError> {
        let delta_fields = MessageFields::from_json(value);
        let info = prev.as_ref().map(prev_info);
        let moved = info
            .as_ref()
            .is_some_and(|p| p.folder_id.as_deref() != Some(folder_id));
        let decision = decide_upsert(
            info.as_ref(),
            delta_fields.change_key.as_deref(),
            delta_fields.is_draft,
            folder_id,
            path,
        );
        // The JSON to store: as served, or merged onto the previous JSON when the update carried
        // only some properties.
        let (json_bytes, fields) = match (&prev, is_partial_message(value)) {
            (Some(p), true) => {
                let prev_json = self
                    .repo
                    .item_metadata(p)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .unwrap_or(Value::Null);
                let merged = merge_update(&prev_json, value);
                let bytes = serde_json::to_vec(&merged).expect("JSON value serializes");
                (bytes, MessageFields::from_json(&merged))
            }
            _ => (raw.get().as_bytes().to_vec(), delta_fields),
        };
        match (decision, prev) {
            (Upsert::Keep, Some(_)) => Ok(StepKind::Keep {
                item_id: item_id.to_string(),
            }),
            (Upsert::UpdateMetadata, Some(prev)) => {
                let meta = message_meta(&fields, json_bytes, folder_id, path, prev.size);
                Ok(StepKind::Reuse { meta, prev, moved })
            }
            _ => {
                let body = graph_io::get_mime(
                    &self.graph,
                    &self.user_id,
                    &fields.id,
                    self.spool_threshold,
                )
                .await?;
                let meta = message_meta(&fields, json_bytes, folder_id, path, body.len());
                Ok(StepKind::Put { meta, body, moved })
            }
        }
    }

    pub(crate) async fn prepare_event(
        &self,
        item_id: &str,
        raw: &RawValue,
        value: &Value,
        prev: Option<ItemRecord>,
    ) -> Result<StepKind, GraphError> {
        let change_key = value.get("changeKey").and_then(Value::as_str);
        if let (Some(p), Some(ck)) = (&prev, change_key)
            && p.version == ck
        {
            return Ok(StepKind::Keep {
                item_id: item_id.to_string(),
            });
        }
        let has_attachments = value
            .get("hasAttachments")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let body = if has_attachments {
            let graph_id = layout::graph_id(item_id).unwrap_or_default();
            Body::Memory(
                graph_io::get_event_attachments(&self.graph, &self.user_id, graph_id).await?,
            )
        } else {
            Body::empty()
        };
        let meta = event_meta(value, raw.get().as_bytes().to_vec(), body.len());
        Ok(StepKind::Put {
            meta,
            body,
            moved: false,
        })
    }
}

fn prepare_contact(
    item_id: &str,
    raw: &RawValue,
    value: &Value,
    prev: Option<ItemRecord>,
) -> StepKind {
    let change_key = value.get("changeKey").and_then(Value::as_str);
    if let (Some(p), Some(ck)) = (&prev, change_key)
        && p.version == ck
    {
        return StepKind::Keep {
            item_id: item_id.to_string(),
        };
    }
    StepKind::Put {
        meta: contact_meta(value, raw.get().as_bytes().to_vec()),
        body: Body::empty(),
        moved: false,
    }
}
