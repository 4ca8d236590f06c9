//! Delta rounds as async streams: upserts and removals, ending with the `@odata.deltaLink`
//! to store for the next round.

use crate::client::GraphClient;
use crate::error::{GraphError, Result};
use crate::paging::{ListOptions, Page, follow};
use futures::stream::{BoxStream, Stream, StreamExt};
use parking_lot::Mutex;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// One change reported by a delta round.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaEvent<T> {
    /// The item was created or changed (changed items may carry only some properties).
    Upsert(T),
    /// The item left this collection (`@removed`, or a drive item's `deleted` facet).
    Removed {
        /// Item id.
        id: String,
        /// `deleted` or `changed`.
        reason: String,
    },
}

/// A delta round: a stream of [`DeltaEvent`]s; when it has ended without error,
/// [`DeltaRound::finish`] gives the deltaLink for the next round.
pub struct DeltaRound<T> {
    stream: BoxStream<'static, Result<DeltaEvent<T>>>,
    link: Arc<Mutex<Option<String>>>,
    pages: Arc<Mutex<u64>>,
}

impl<T> std::fmt::Debug for DeltaRound<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaRound")
            .field("pages", &*self.pages.lock())
            .field("finished", &self.link.lock().is_some())
            .finish()
    }
}

impl<T> Stream for DeltaRound<T> {
    type Item = Result<DeltaEvent<T>>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.stream.as_mut().poll_next(cx)
    }
}

impl<T> DeltaRound<T> {
    /// The deltaLink, once the whole round has been read.
    pub fn delta_link(&self) -> Option<String> {
        self.link.lock().clone()
    }

    /// Pages fetched so far.
    pub fn pages(&self) -> u64 {
        *self.pages.lock()
    }

    /// Ends the round, yielding the deltaLink; an error if the stream was not read to its end.
    pub fn finish(self) -> Result<String> {
        self.delta_link().ok_or_else(|| {
            GraphError::InvalidRequest("delta round not read to its end: no deltaLink yet".into())
        })
    }

    /// Reads the whole round.
    pub async fn collect_all(mut self) -> Result<(Vec<DeltaEvent<T>>, String)> {
        let mut events = Vec::new();
        while let Some(e) = self.next().await {
            events.push(e?);
        }
        Ok((events, self.finish()?))
    }
}

struct RoundState {
    client: GraphClient,
    options: ListOptions,
    next: Result<Option<String>>,
    buf: VecDeque<Box<RawValue>>,
    current: String,
    pending_link: Option<String>,
    link: Arc<Mutex<Option<String>>>,
    pages: Arc<Mutex<u64>>,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    id: Option<String>,
    #[serde(rename = "@removed", default)]
    removed: Option<Removed>,
    #[serde(default)]
    deleted: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Removed {
    #[serde(default)]
    reason: Option<String>,
}

/// Turns one delta item into an event.
fn event<T: DeserializeOwned>(raw: &RawValue, url: &str) -> Result<DeltaEvent<T>> {
    let corrupt = |detail: String| GraphError::Corrupt {
        url: crate::secret::redact_url(url),
        detail,
    };
    let probe: Probe =
        serde_json::from_str(raw.get()).map_err(|e| corrupt(format!("delta item: {e}")))?;
    let removed_reason = match (&probe.removed, &probe.deleted) {
        (Some(r), _) => Some(r.reason.clone().unwrap_or_else(|| "deleted".into())),
        (None, Some(d)) if d.is_object() => Some("deleted".into()),
        _ => None,
    };
    if let Some(reason) = removed_reason {
        let id = probe
            .id
            .ok_or_else(|| corrupt("removed delta item without an id".into()))?;
        return Ok(DeltaEvent::Removed { id, reason });
    }
    serde_json::from_str(raw.get())
        .map(DeltaEvent::Upsert)
        .map_err(|e| {
            corrupt(format!(
                "delta item {}: {e}",
                probe.id.as_deref().unwrap_or("?")
            ))
        })
}

impl GraphClient {
    /// A delta round from a delta URL (first round) or a saved deltaLink (later rounds).
    /// A 410 ends the stream with [`GraphError::SyncStateNotFound`] (Outlook: restart
    /// without a token) or [`GraphError::ResyncRequired`] (drives: restart at `location`).
    pub fn delta<T: DeserializeOwned + Send + 'static>(
        &self,
        url_or_delta_link: &str,
    ) -> DeltaRound<T> {
        self.delta_with(url_or_delta_link, ListOptions::default())
    }

    /// Like [`GraphClient::delta`] with `Prefer: odata.maxpagesize` / `IdType="ImmutableId"`.
    pub fn delta_with<T: DeserializeOwned + Send + 'static>(
        &self,
        url_or_delta_link: &str,
        options: ListOptions,
    ) -> DeltaRound<T> {
        let link = Arc::new(Mutex::new(None));
        let pages = Arc::new(Mutex::new(0));
        let start = self.url(url_or_delta_link);
        let state = RoundState {
            client: self.clone(),
            options,
            next: start.map(Some),
            buf: VecDeque::new(),
            current: String::new(),
            pending_link: None,
            link: link.clone(),
            pages: pages.clone(),
        };
        let stream = futures::stream::try_unfold(state, |mut st| async move {
            loop {
                if let Some(raw) = st.buf.pop_front() {
                    let ev = event::<T>(&raw, &st.current)?;
                    return Ok(Some((ev, st)));
                }
                let Some(url) = std::mem::replace(&mut st.next, Ok(None))? else {
                    // Every item was read: now the deltaLink may be used.
                    *st.link.lock() = st.pending_link.take();
                    return Ok(None);
                };
                let page: Page<Box<RawValue>> = st.client.get_page(&url, &st.options).await?;
                *st.pages.lock() += 1;
                match (&page.next_link, &page.delta_link) {
                    (Some(_), _) => {
                        st.next = follow(
                            &st.client,
                            &url,
                            page.next_link.as_deref(),
                            page.value.is_empty(),
                        );
                    }
                    (None, Some(d)) => match follow(&st.client, &url, Some(d), false) {
                        Ok(d) => st.pending_link = d,
                        Err(e) => st.next = Err(e),
                    },
                    (None, None) => {
                        return Err(GraphError::Corrupt {
                            url: crate::secret::redact_url(&url),
                            detail: "delta page has neither @odata.nextLink nor @odata.deltaLink"
                                .into(),
                        });
                    }
                }
                st.current = url;
                st.buf.extend(page.value);
            }
        })
        .boxed();
        DeltaRound {
            stream,
            link,
            pages,
        }
    }
}
