//! Session markers (`sessions/<uuid>-<seq>`), refreshed by a background task (FORMAT.md §8).

use crate::crypto::PackId;
use crate::error::Result;
use crate::repository::Repository;
use chrono::{DateTime, Utc};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Content of a marker object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MarkerDoc {
    pub session: String,
    pub started: DateTime<Utc>,
    pub refreshed: DateTime<Utc>,
    pub oid: String,
}

pub(crate) struct MarkerTask {
    repo: Repository,
    session: String,
    handle: Option<tokio::task::JoinHandle<()>>,
    current: Arc<RwLock<String>>,
}

async fn write(repo: &Repository, doc: &MarkerDoc, seq: u64) -> Result<String> {
    let key = format!("sessions/{}-{seq:08}", doc.session);
    repo.storage()
        .put_if_absent(&key, serde_json::to_vec(doc).expect("serializable").into())
        .await?;
    Ok(key)
}

impl MarkerTask {
    /// Write the first marker and start refreshing it every `every`.
    pub async fn start(
        repo: Repository,
        oid: String,
        every: Duration,
        candidates: Arc<RwLock<HashSet<PackId>>>,
    ) -> Result<Self> {
        let session = uuid::Uuid::new_v4().simple().to_string();
        let started = Utc::now();
        let mut doc = MarkerDoc {
            session: session.clone(),
            started,
            refreshed: started,
            oid,
        };
        let first = write(&repo, &doc, 0).await?;
        let current = Arc::new(RwLock::new(first));
        let (r, cur) = (repo.clone(), current.clone());
        let handle = tokio::spawn(async move {
            let mut seq = 0u64;
            loop {
                tokio::time::sleep(every.max(Duration::from_millis(10))).await;
                seq += 1;
                doc.refreshed = Utc::now();
                match write(&r, &doc, seq).await {
                    Ok(k) => {
                        let old = std::mem::replace(&mut *cur.write(), k);
                        let _ = r.storage().delete(&old).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "could not refresh session marker"),
                }
                match crate::gc::load_candidates(&r).await {
                    Ok(c) => *candidates.write() = c,
                    Err(e) => tracing::warn!(error = %e, "could not re-read gc candidate lists"),
                }
            }
        });
        Ok(MarkerTask {
            repo,
            session,
            handle: Some(handle),
            current,
        })
    }

    /// Stop refreshing and delete this session's markers.
    pub async fn finish(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
            let _ = h.await;
        }
        let prefix = format!("sessions/{}-", self.session);
        if let Ok(list) = self.repo.storage().list(&prefix).await {
            for (k, _) in list {
                let _ = self.repo.storage().delete(&k).await;
            }
        }
        let _ = &self.current;
    }
}

impl Drop for MarkerTask {
    fn drop(&mut self) {
        // An abandoned session stops refreshing; its marker goes stale and GC ignores it later.
        if let Some(h) = self.handle.take() {
            h.abort();
            // Best effort: remove our markers so gc need not wait for them to go stale.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                let repo = self.repo.clone();
                let prefix = format!("sessions/{}-", self.session);
                rt.spawn(async move {
                    if let Ok(list) = repo.storage().list(&prefix).await {
                        for (k, _) in list {
                            let _ = repo.storage().delete(&k).await;
                        }
                    }
                });
            }
        }
    }
}
