//! Raw content downloads as byte streams: MIME `$value`, attachment `$value`, and drive
//! `/content` (following the 302 to the pre-authenticated URL without the Authorization
//! header). A connection dropped mid-body resumes with `Range` from the last byte received.

use crate::client::{GraphClient, ReadMode, Response, Spec};
use crate::error::{GraphError, Result};
use crate::secret::redact_url;
use bytes::{Bytes, BytesMut};
use futures::stream::{BoxStream, Stream, StreamExt};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::OwnedSemaphorePermit;

const MAX_REDIRECTS: u32 = 5;

/// A download in progress: a stream of byte chunks (resumed transparently after drops).
pub struct ByteStream {
    inner: BoxStream<'static, Result<Bytes>>,
    content_length: Option<u64>,
    content_type: Option<String>,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("content_length", &self.content_length)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl Stream for ByteStream {
    type Item = Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl ByteStream {
    /// Total size, when the server said.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// The `Content-Type` of the first response.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// Reads everything into memory.
    pub async fn collect_bytes(mut self) -> Result<Bytes> {
        let mut buf =
            BytesMut::with_capacity(self.content_length.unwrap_or(0).min(64 << 20) as usize);
        while let Some(chunk) = self.next().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }
}

struct Download {
    client: GraphClient,
    original: String,
    /// Where bytes come from now: the original URL (authenticated) or a redirect target.
    source: Option<String>,
    resp: Option<reqwest::Response>,
    _permits: Vec<OwnedSemaphorePermit>,
    received: u64,
    total: Option<u64>,
    skip: u64,
    resumes: u32,
}

impl Download {
    /// Opens (or re-opens at `self.received`) the body.
    async fn open(&mut self) -> Result<(Option<String>, Option<u64>)> {
        let mut redirects = 0;
        loop {
            let (url, authed) = match &self.source {
                Some(u) => (u.clone(), false),
                None => (self.original.clone(), true),
            };
            let mut headers = HeaderMap::new();
            headers.insert(
                reqwest::header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
            if self.received > 0 {
                let range = format!("bytes={}-", self.received);
                headers.insert(
                    reqwest::header::RANGE,
                    HeaderValue::from_str(&range).expect("ascii"),
                );
            }
            let spec = Spec {
                method: Method::GET,
                url: url.clone(),
                headers,
                body: None,
                authed,
                read: ReadMode::Stream,
                cost: 1,
                idempotent: true,
            };
            let resp = match self.client.execute(&spec).await {
                Ok(r) => r,
                Err(e)
                    if !authed
                        && matches!(e.status(), Some(401 | 403 | 404 | 410))
                        && redirects == 0 =>
                {
                    // The pre-authenticated URL expired: start over from the Graph URL.
                    tracing::debug!("download URL rejected ({e}); asking Graph for a new one");
                    self.source = None;
                    redirects += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if (300..400).contains(&resp.status) {
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(GraphError::Corrupt {
                        url: redact_url(&url),
                        detail: "too many redirects".into(),
                    });
                }
                let loc = resp.header("location").ok_or_else(|| GraphError::Corrupt {
                    url: redact_url(&url),
                    detail: format!("HTTP {} without Location", resp.status),
                })?;
                let target = url::Url::parse(&url)
                    .and_then(|base| base.join(loc))
                    .map_err(|e| GraphError::Corrupt {
                        url: redact_url(&url),
                        detail: format!("bad Location: {e}"),
                    })?;
                tracing::debug!(target = %redact_url(target.as_str()), "following download redirect without Authorization");
                self.source = Some(target.to_string());
                continue;
            }
            return self.accept(resp);
        }
    }

    fn accept(&mut self, mut resp: Response) -> Result<(Option<String>, Option<u64>)> {
        let content_type = resp.header("content-type").map(str::to_string);
        let length = resp
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok());
        if resp.status == 206 {
            let range = resp.header("content-range").unwrap_or_default().to_string();
            let (start, total) =
                parse_content_range(&range).ok_or_else(|| GraphError::Corrupt {
                    url: resp.url.clone(),
                    detail: format!("bad Content-Range {range:?}"),
                })?;
            if start > self.received {
                return Err(GraphError::Corrupt {
                    url: resp.url.clone(),
                    detail: format!(
                        "asked for bytes from {} but got from {start}",
                        self.received
                    ),
                });
            }
            self.skip = self.received - start;
            if total.is_some() {
                self.total = total;
            }
        } else {
            // A full body (the server ignored Range): skip what we already have.
            self.skip = self.received;
            if length.is_some() {
                self.total = length;
            }
        }
        self.resp = resp.stream.take();
        self._permits = std::mem::take(&mut resp.permits);
        Ok((content_type, self.total))
    }

    async fn resume_or_fail(&mut self, detail: String) -> Result<()> {
        self.resp = None;
        self._permits.clear();
        self.resumes += 1;
        let metrics = &self.client.inner.metrics;
        metrics.transport_errors.inc();
        let policy = &self.client.inner.retry;
        if self.resumes >= policy.max_attempts {
            return Err(GraphError::Transport {
                url: redact_url(&self.original),
                attempts: self.resumes,
                detail,
            });
        }
        metrics.retries.inc();
        tracing::debug!(received = self.received, %detail, "download interrupted; resuming with Range");
        self.client
            .inner
            .clock
            .sleep(policy.backoff(self.resumes - 1))
            .await;
        self.open().await.map(|_| ())
    }

    async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            let Some(resp) = self.resp.as_mut() else {
                return Ok(None);
            };
            match resp.chunk().await {
                Ok(Some(mut b)) => {
                    if self.skip > 0 {
                        let n = (self.skip as usize).min(b.len());
                        self.skip -= n as u64;
                        b = b.slice(n..);
                    }
                    if b.is_empty() {
                        continue;
                    }
                    self.received += b.len() as u64;
                    self.client.inner.metrics.bytes_received.add(b.len() as u64);
                    return Ok(Some(b));
                }
                Ok(None) => {
                    if let Some(total) = self.total
                        && self.received < total
                    {
                        let detail = format!("body ended at {} of {total} bytes", self.received);
                        self.resume_or_fail(detail).await?;
                        continue;
                    }
                    self.resp = None;
                    self._permits.clear();
                    return Ok(None);
                }
                Err(e) => {
                    self.resume_or_fail(format!("connection lost: {e}")).await?;
                }
            }
        }
    }
}

/// Parses `bytes a-b/total` (total may be `*`).
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    Some((start.parse().ok()?, total))
}

impl GraphClient {
    /// Streams the bytes at a Graph URL (`…/messages/{id}/$value`, `…/items/{id}/content`,
    /// `…/attachments/{id}/$value`). Redirects are followed without the token; dropped
    /// connections resume with `Range`.
    pub async fn get_bytes_stream(&self, path_or_url: &str) -> Result<ByteStream> {
        let original = self.url(path_or_url)?;
        let mut dl = Download {
            client: self.clone(),
            original,
            source: None,
            resp: None,
            _permits: Vec::new(),
            received: 0,
            total: None,
            skip: 0,
            resumes: 0,
        };
        let (content_type, content_length) = dl.open().await?;
        let inner = futures::stream::try_unfold(dl, |mut dl| async move {
            Ok(dl.next_chunk().await?.map(|b| (b, dl)))
        })
        .boxed();
        Ok(ByteStream {
            inner,
            content_length,
            content_type,
        })
    }

    /// Downloads everything at a Graph URL into memory (small items, e.g. one message's MIME).
    pub async fn get_bytes(&self, path_or_url: &str) -> Result<Bytes> {
        self.get_bytes_stream(path_or_url)
            .await?
            .collect_bytes()
            .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_range_parsing() {
        use super::parse_content_range as p;
        assert_eq!(p("bytes 0-1023/2048"), Some((0, Some(2048))));
        assert_eq!(p("bytes 100-199/*"), Some((100, None)));
        assert_eq!(p("items 1-2/3"), None);
        assert_eq!(p("bytes x-1/2"), None);
    }
}
