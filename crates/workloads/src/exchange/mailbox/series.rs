//! Series masters. calendarView delta serves the occurrences and exceptions of a recurring
//! series but not its master, the event that carries the `recurrence`. Every occurrence stored
//! or removed by the events round names its master (`seriesMasterId`); after the round each such
//! master is fetched (`GET /users/{u}/events/{id}`) and stored as its own event item. An
//! unchanged `changeKey` keeps the stored master (nothing downloaded again), a 404 (the series
//! was deleted) removes it. An unchanged calendar names no master, so it costs no request.
//!
//! The pending masters live in the state (`events.pendingSeries`), so a checkpoint taken during
//! the round keeps them and a resumed run still fetches them; a master whose fetch fails stays
//! pending for the next run and is reported as an item failure.

use futures::TryStreamExt;
use serde_json::Value;
use serde_json::value::RawValue;
use tenantvault_graph::GraphError;

use super::{MailboxRun, RoundError};
use crate::exchange::graph_io::{self, enc};
use crate::exchange::layout::{self, attr, kind};
use crate::exchange::prepare::{StepKind, describe};

/// The `type` of a series master event.
pub(crate) const SERIES_MASTER: &str = "seriesMaster";

impl MailboxRun<'_> {
    /// Fetch the pending series masters. `recheck_all` (after a fresh enumeration of a calendar
    /// the parent held, where unchanged occurrences name no master) adds every master the parent
    /// holds, so deleted series still disappear.
    pub(super) async fn sync_series(&mut self, recheck_all: bool) -> Result<(), RoundError> {
        let mut ids = self.state.events.pending_series.clone();
        if recheck_all && let Some(parent) = self.ctx.parent.clone() {
            let items = parent.items();
            futures::pin_mut!(items);
            while let Some(rec) = items.try_next().await? {
                if rec.kind == kind::EVENT
                    && rec.attrs.get(attr::EVENT_TYPE).map(String::as_str) == Some(SERIES_MASTER)
                    && let Some(g) = layout::graph_id(&rec.id)
                {
                    ids.insert(g.to_string());
                }
            }
        }
        for gid in ids {
            match self.sync_master(&gid).await {
                Ok(()) => {
                    self.state.events.pending_series.remove(&gid);
                }
                Err(RoundError::Graph(e)) => {
                    self.state.events.pending_series.insert(gid.clone());
                    self.fail_item(
                        &layout::event_item_id(&gid),
                        format!("series master: {}", describe(&e)),
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn sync_master(&mut self, gid: &str) -> Result<(), RoundError> {
        let item_id = layout::event_item_id(gid);
        let url = format!("{}/events/{}", self.user_path(), enc(gid));
        let bytes = match graph_io::get_object(&self.ctx.graph, &url).await {
            Ok(b) => b,
            Err(GraphError::NotFound(_)) => {
                // The whole series is gone.
                return self.removal(&item_id, None).await;
            }
            Err(e) => return Err(e.into()),
        };
        let corrupt = |detail: String| GraphError::Corrupt {
            url: url.clone(),
            detail,
        };
        let raw: Box<RawValue> = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt(format!("malformed series master: {e}")))?;
        let value: Value = serde_json::from_str(raw.get())
            .map_err(|e| corrupt(format!("malformed series master: {e}")))?;
        if value.get("id").and_then(Value::as_str) != Some(gid) {
            return Err(corrupt("series master answered with another id".into()).into());
        }
        let prev = match &self.ctx.parent {
            Some(p) => p.item(&item_id).await?,
            None => None,
        };
        match self.ctx.prepare_event(&item_id, &raw, &value, prev).await? {
            StepKind::Put { meta, body, .. } => {
                let bytes = body.len();
                self.session.put_item(meta, body.into_reader()).await?;
                self.report.events += 1;
                self.report.bytes_downloaded += bytes;
                self.progress.items(1, bytes);
            }
            StepKind::Failed { item_id, reason } => self.fail_item(&item_id, reason),
            StepKind::Keep { .. } | StepKind::Reuse { .. } | StepKind::Removed { .. } => {}
            StepKind::Skip => {}
        }
        Ok(())
    }
}
