//! Collections as async streams, following absolute `@odata.nextLink`s. Each page is one
//! retried request, so a transient failure re-fetches that page (nextLinks are idempotent)
//! and no item is lost or repeated.

use crate::client::GraphClient;
use crate::error::{GraphError, Result};
use futures::stream::{BoxStream, StreamExt};
use reqwest::Method;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::collections::VecDeque;

/// Options for paged and delta requests; sent on every page (Graph does not carry headers
/// into nextLinks).
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `Prefer: odata.maxpagesize=N`.
    pub max_page_size: Option<u32>,
    /// `Prefer: IdType="ImmutableId"` (Outlook ids that survive moves).
    pub immutable_ids: bool,
    /// More headers (e.g. `ConsistencyLevel: eventual`).
    pub headers: Vec<(String, String)>,
}

impl ListOptions {
    /// `Prefer: odata.maxpagesize=n`.
    pub fn max_page_size(mut self, n: u32) -> Self {
        self.max_page_size = Some(n);
        self
    }
    /// `Prefer: IdType="ImmutableId"`.
    pub fn immutable_ids(mut self) -> Self {
        self.immutable_ids = true;
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One page of a collection.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// Items of this page (may be empty).
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    /// More pages follow at this absolute URL.
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
    /// Delta round complete: save this link for the next round.
    #[serde(rename = "@odata.deltaLink", default)]
    pub delta_link: Option<String>,
}

/// A typed item plus the exact JSON Graph sent for it (for storing Graph's JSON verbatim).
#[derive(Debug, Clone)]
pub struct WithRaw<T> {
    /// The typed view.
    pub value: T,
    /// Graph's JSON for the item, byte for byte.
    pub raw: Box<RawValue>,
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for WithRaw<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let value = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        Ok(WithRaw { value, raw })
    }
}

impl GraphClient {
    /// GETs one page with `options`' headers.
    pub async fn get_page<T: DeserializeOwned>(
        &self,
        url: &str,
        options: &ListOptions,
    ) -> Result<Page<T>> {
        let mut req = self.request(Method::GET, url);
        for p in preferences(options) {
            req = req.prefer(&p);
        }
        for (k, v) in &options.headers {
            req = req.header(k, v);
        }
        req.send_json().await
    }

    /// All items of a collection, page after page.
    pub fn pages<T: DeserializeOwned + Send + 'static>(
        &self,
        path_or_url: &str,
    ) -> BoxStream<'static, Result<T>> {
        self.pages_with(path_or_url, ListOptions::default())
    }

    /// Like [`GraphClient::pages`] with options (page size, headers).
    pub fn pages_with<T: DeserializeOwned + Send + 'static>(
        &self,
        path_or_url: &str,
        options: ListOptions,
    ) -> BoxStream<'static, Result<T>> {
        let start = self.url(path_or_url);
        let state = (self.clone(), options, start.map(Some), VecDeque::<T>::new());
        futures::stream::try_unfold(state, |(client, options, mut next, mut buf)| async move {
            loop {
                // Items already received are yielded before a bad link is reported.
                if let Some(item) = buf.pop_front() {
                    return Ok(Some((item, (client, options, next, buf))));
                }
                let Some(url) = next? else {
                    return Ok(None);
                };
                let page: Page<T> = client.get_page(&url, &options).await?;
                next = follow(
                    &client,
                    &url,
                    page.next_link.as_deref(),
                    page.value.is_empty(),
                );
                buf.extend(page.value);
            }
        })
        .boxed()
    }
}

/// The `Prefer` values for `options`.
pub(crate) fn preferences(options: &ListOptions) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(n) = options.max_page_size {
        out.push(format!("odata.maxpagesize={n}"));
    }
    if options.immutable_ids {
        out.push("IdType=\"ImmutableId\"".to_string());
    }
    out
}

/// Validates a link before following it: same origin as Graph, and not the page just read
/// when that page was empty (a loop that would never end).
pub(crate) fn follow(
    client: &GraphClient,
    current: &str,
    link: Option<&str>,
    empty: bool,
) -> Result<Option<String>> {
    let Some(link) = link else { return Ok(None) };
    if !(link.starts_with("https://") || link.starts_with("http://")) {
        return Err(GraphError::Corrupt {
            url: crate::secret::redact_url(current),
            detail: format!("link is not an absolute URL: {link:?}"),
        });
    }
    let link = client.url(link).map_err(|e| GraphError::Corrupt {
        url: crate::secret::redact_url(current),
        detail: e.to_string(),
    })?;
    if empty && link == current {
        return Err(GraphError::Corrupt {
            url: crate::secret::redact_url(current),
            detail: "empty page links to itself".into(),
        });
    }
    Ok(Some(link))
}
