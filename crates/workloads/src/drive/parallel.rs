//! Parallel downloads of small files within one drive.
//!
//! Latency, not bandwidth, bounds a drive of many small files: one download at a time leaves
//! the connection idle while the repository encodes and the next request travels. Files up to
//! [`PREPARE_MAX`] are therefore downloaded on their own tasks, read through the verifying
//! reader into memory and encoded ([`Preparer::prepare`]); the backup task adds the finished
//! items to the session. At most `limit` are in flight (memory: `limit` × 1 MiB plus encoded
//! blobs), and every request still goes through the drive's SharePoint resource-unit budget.
//! Larger files keep streaming on the backup task.

use std::collections::HashSet;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tenantvault_graph::GraphClient;
use tenantvault_repo::{ItemMeta, PREPARE_MAX, PreparedItem, Preparer};
use tokio::task::JoinHandle;

use super::fetch::verifying;

/// Largest file downloaded in parallel (bigger ones stream on the backup task).
pub(crate) const PARALLEL_MAX: u64 = PREPARE_MAX as u64;

/// How one parallel download ended.
pub(crate) enum Finished {
    /// Downloaded, verified and encoded: add it to the session.
    Ready {
        /// The encoded item.
        item: PreparedItem,
        /// Bytes downloaded.
        bytes: u64,
    },
    /// The item failed (download error, hash or size mismatch): record the failure.
    Failed {
        /// Item id.
        id: String,
        /// Why.
        reason: String,
    },
    /// The repository failed while encoding.
    Repo(tenantvault_repo::Error),
}

/// The downloads in flight for one drive.
pub(crate) struct Downloads {
    limit: usize,
    running: FuturesUnordered<JoinHandle<Finished>>,
    ids: HashSet<String>,
}

impl Downloads {
    /// At most `limit` at once (`limit` ≤ 1 disables parallel downloads).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            running: FuturesUnordered::new(),
            ids: HashSet::new(),
        }
    }

    /// True when a file of this size should go through [`Self::start`].
    pub(crate) fn wants(&self, size: Option<u64>) -> bool {
        self.limit > 1 && size.is_some_and(|s| s <= PARALLEL_MAX)
    }

    /// True when no more may start before one finishes.
    pub(crate) fn full(&self) -> bool {
        self.running.len() >= self.limit
    }

    /// True when nothing is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// True when this item id is in flight.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Starts downloading `url` into a prepared item.
    pub(crate) fn start(
        &mut self,
        graph: &GraphClient,
        preparer: Preparer,
        url: String,
        size: Option<u64>,
        hash: Option<String>,
        meta: ItemMeta,
    ) {
        self.ids.insert(meta.id.clone());
        let graph = graph.clone();
        self.running.push(tokio::spawn(async move {
            let id = meta.id.clone();
            let stream = match graph.get_bytes_stream(&url).await {
                Ok(s) => s,
                Err(e) => {
                    let reason = match e.request_id() {
                        Some(r) => format!("download failed: {e} (request-id {r})"),
                        None => format!("download failed: {e}"),
                    };
                    return Finished::Failed { id, reason };
                }
            };
            let (reader, outcome) = verifying(stream, size, hash);
            match preparer.prepare(meta, reader).await {
                Ok(Some(item)) => {
                    let bytes = outcome.lock().bytes;
                    Finished::Ready { item, bytes }
                }
                Ok(None) => Finished::Failed {
                    id,
                    reason: format!(
                        "size mismatch: Graph published {} bytes, more than {PARALLEL_MAX} arrived",
                        size.unwrap_or_default()
                    ),
                },
                Err(e) => match outcome.lock().error.clone() {
                    Some(f) => Finished::Failed {
                        id,
                        reason: f.to_string(),
                    },
                    None => Finished::Repo(e),
                },
            }
        }));
    }

    /// The next download to finish; `None` when none is in flight.
    pub(crate) async fn next(&mut self) -> Option<Finished> {
        let done = self.running.next().await?;
        let finished = match done {
            Ok(f) => f,
            Err(e) => Finished::Repo(tenantvault_repo::Error::Io {
                context: "drive download task".into(),
                source: std::io::Error::other(e.to_string()),
            }),
        };
        match &finished {
            Finished::Ready { item, .. } => self.ids.remove(item.id()),
            Finished::Failed { id, .. } => self.ids.remove(id),
            Finished::Repo(_) => false,
        };
        Some(finished)
    }
}

impl Drop for Downloads {
    fn drop(&mut self) {
        for h in self.running.iter() {
            h.abort();
        }
    }
}
