//! JSON batching (`POST /$batch`): up to 20 requests per call; inner 429/503/5xx answers are
//! retried individually after their own `Retry-After`, together with dependents that failed
//! with 424 because of them.

use crate::client::GraphClient;
use crate::error::{GraphError, Result};
use crate::retry::{self, Decision, Failure};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Graph's limit of requests per batch.
pub const MAX_BATCH: usize = 20;

/// One request inside a batch.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BatchRequest {
    /// Unique id within the batch.
    pub id: String,
    /// HTTP method.
    pub method: String,
    /// URL relative to the version root (e.g. `/users/x/messages/y`).
    pub url: String,
    /// Headers (must include `Content-Type` when there is a body).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// JSON body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Ids that must succeed first.
    #[serde(rename = "dependsOn", skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

impl BatchRequest {
    /// A GET of `url` (relative to the version root).
    pub fn get(id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            method: "GET".into(),
            url: url.into(),
            headers: BTreeMap::new(),
            body: None,
            depends_on: Vec::new(),
        }
    }

    /// A request with a JSON body.
    pub fn with_json(
        id: impl Into<String>,
        method: &str,
        url: impl Into<String>,
        body: serde_json::Value,
    ) -> Self {
        let mut r = Self::get(id, url);
        r.method = method.to_string();
        r.headers
            .insert("Content-Type".into(), "application/json".into());
        r.body = Some(body);
        r
    }

    /// Runs after `id` succeeds.
    pub fn depends_on(mut self, id: impl Into<String>) -> Self {
        self.depends_on.push(id.into());
        self
    }
}

/// One answer of a batch.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct BatchResponse {
    /// The request id.
    pub id: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Its body (JSON, or a base64 string for binary bodies).
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

impl BatchResponse {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Serialize)]
struct BatchBody<'a> {
    requests: Vec<&'a BatchRequest>,
}

#[derive(Deserialize)]
struct BatchAnswer {
    responses: Vec<BatchResponse>,
}

impl GraphClient {
    /// Runs `requests` as `$batch` calls and returns one response per request, in request
    /// order. More than 20 requests are split into several batches (only when no request
    /// has `dependsOn`, which must stay within one batch). Ids must be unique.
    pub async fn batch(&self, requests: Vec<BatchRequest>) -> Result<Vec<BatchResponse>> {
        let mut seen = HashSet::new();
        for r in &requests {
            if !seen.insert(r.id.to_ascii_lowercase()) {
                return Err(GraphError::InvalidRequest(format!(
                    "duplicate batch id {:?}",
                    r.id
                )));
            }
        }
        for r in &requests {
            for d in &r.depends_on {
                if !seen.contains(&d.to_ascii_lowercase()) {
                    return Err(GraphError::InvalidRequest(format!(
                        "batch request {:?} depends on unknown id {d:?}",
                        r.id
                    )));
                }
            }
        }
        if requests.len() > MAX_BATCH && requests.iter().any(|r| !r.depends_on.is_empty()) {
            return Err(GraphError::InvalidRequest(format!(
                "a batch with dependsOn may hold at most {MAX_BATCH} requests"
            )));
        }
        let mut out = Vec::with_capacity(requests.len());
        for chunk in requests.chunks(MAX_BATCH) {
            out.extend(self.batch_chunk(chunk).await?);
        }
        Ok(out)
    }

    async fn batch_chunk(&self, requests: &[BatchRequest]) -> Result<Vec<BatchResponse>> {
        let clock = self.inner.clock.clone();
        let started = clock.now();
        let mut done: HashMap<String, BatchResponse> = HashMap::new();
        let mut pending: Vec<&BatchRequest> = requests.iter().collect();
        let mut round = 0u32;
        loop {
            round += 1;
            let pending_ids: HashSet<&str> = pending.iter().map(|r| r.id.as_str()).collect();
            // Dependencies already satisfied in an earlier round are dropped from dependsOn.
            let to_send: Vec<BatchRequest> = pending
                .iter()
                .map(|r| {
                    let mut r = (*r).clone();
                    r.depends_on.retain(|d| pending_ids.contains(d.as_str()));
                    r
                })
                .collect();
            let body = BatchBody {
                requests: to_send.iter().collect(),
            };
            let (client, spec) = self
                .request(Method::POST, "$batch")
                .json(&body)?
                .into_parts();
            let mut spec = spec?;
            spec.cost = to_send.len() as u64;
            self.inner.metrics.batch_requests.add(to_send.len() as u64);
            let answer: BatchAnswer = client.execute(&spec).await?.json()?;
            let mut retry_ids = HashSet::new();
            let mut wait = Duration::ZERO;
            let mut any_backoff = false;
            for resp in answer.responses {
                if !pending_ids.contains(resp.id.as_str()) {
                    return Err(GraphError::Corrupt {
                        url: spec.url.clone(),
                        detail: format!("batch answered unknown id {:?}", resp.id),
                    });
                }
                let retry_after = resp
                    .header("Retry-After")
                    .and_then(|v| retry::parse_retry_after(v, clock.wall()));
                if resp.status == 429 {
                    self.inner.metrics.throttled.inc();
                }
                let method = pending
                    .iter()
                    .find(|r| r.id == resp.id)
                    .map(|r| r.method.as_str())
                    .unwrap_or("POST");
                let decision = retry::classify(
                    &Failure::Status {
                        status: resp.status,
                        retry_after,
                    },
                    true,
                    !method.eq_ignore_ascii_case("POST"),
                );
                match decision {
                    Decision::After(d) => {
                        wait = wait.max(d);
                        retry_ids.insert(resp.id.clone());
                    }
                    Decision::Backoff => {
                        any_backoff = true;
                        retry_ids.insert(resp.id.clone());
                    }
                    _ => {}
                }
                done.insert(resp.id.clone(), resp);
            }
            // Dependents that failed only because a retried request failed go again too.
            let mut grew = true;
            while grew {
                grew = false;
                for r in &pending {
                    if !retry_ids.contains(&r.id)
                        && done.get(&r.id).is_some_and(|x| x.status == 424)
                        && r.depends_on.iter().any(|d| retry_ids.contains(d))
                    {
                        retry_ids.insert(r.id.clone());
                        grew = true;
                    }
                }
            }
            if retry_ids.is_empty() {
                break;
            }
            if any_backoff {
                wait = wait.max(self.inner.retry.backoff(round - 1));
            }
            let elapsed = clock.now().saturating_sub(started);
            if round >= self.inner.retry.max_attempts
                || elapsed + wait > self.inner.retry.max_elapsed
            {
                tracing::warn!(
                    left = retry_ids.len(),
                    "batch retries exhausted; returning last answers"
                );
                break;
            }
            tracing::debug!(
                count = retry_ids.len(),
                ?wait,
                "retrying throttled batch members"
            );
            self.inner.metrics.retries.add(retry_ids.len() as u64);
            clock.sleep(wait).await;
            pending.retain(|r| retry_ids.contains(&r.id));
        }
        requests
            .iter()
            .map(|r| {
                done.remove(&r.id).ok_or_else(|| GraphError::Corrupt {
                    url: self.base_url().to_string() + "$batch",
                    detail: format!("batch answer lacks id {:?}", r.id),
                })
            })
            .collect()
    }
}
