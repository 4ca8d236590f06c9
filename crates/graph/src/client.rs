//! The Graph client: every request goes through [`GraphClient::execute`], which applies the
//! budgets, attaches the token and request ids, and retries what [`crate::retry::classify`]
//! says is transient.

use crate::auth::TokenProvider;
use crate::budget::{Budgets, Limiter, resource_unit_cost};
use crate::clock::{Clock, SystemClock};
use crate::config::GraphConfig;
use crate::error::{ErrorInfo, GraphError, Result};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::retry::{self, Decision, Failure, RetryPolicy, TransportKind};
use crate::secret::redact_url;
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) auth: TokenProvider,
    pub(crate) base: url::Url,
    pub(crate) retry: RetryPolicy,
    pub(crate) budgets: Budgets,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Arc<dyn Clock>,
}

#[derive(Clone)]
pub(crate) enum Scope {
    Tenant,
    Mailbox(Arc<Limiter>),
    SharePoint,
}

/// A Microsoft Graph client. Cheap to clone; clones share the token cache, budgets and
/// counters. [`GraphClient::mailbox`] and [`GraphClient::sharepoint`] return handles whose
/// requests also go through that owner's budget.
#[derive(Clone)]
pub struct GraphClient {
    pub(crate) inner: Arc<Inner>,
    pub(crate) scope: Scope,
}

impl std::fmt::Debug for GraphClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphClient")
            .field("base", &self.inner.base.as_str())
            .finish_non_exhaustive()
    }
}

/// How the body of a successful response is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Read fully and check it is complete JSON (an empty body is allowed).
    Json,
    /// Hand the open response to the caller; redirects are returned, not followed.
    Stream,
}

/// A request before it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    pub(crate) authed: bool,
    pub(crate) read: ReadMode,
    /// Cost in the mailbox window (a `$batch` costs one per inner request).
    pub(crate) cost: u64,
    /// May be sent twice without harm (everything but POST, unless told otherwise).
    pub(crate) idempotent: bool,
}

/// A successful (2xx, or 3xx in stream mode) response.
#[derive(Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body (empty in stream mode).
    pub body: Bytes,
    /// Redacted request URL, for error messages.
    pub url: String,
    pub(crate) stream: Option<reqwest::Response>,
    pub(crate) permits: Vec<OwnedSemaphorePermit>,
}

impl Response {
    /// Decodes the body as JSON; failures name the URL.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| GraphError::Corrupt {
            url: self.url.clone(),
            detail: format!("unexpected JSON: {e}"),
        })
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl GraphClient {
    /// Builds a client from a configuration (no network access yet: the first request
    /// fetches the token).
    pub fn new(config: GraphConfig) -> Result<Self> {
        Self::with_clock(config, Arc::new(SystemClock::default()))
    }

    /// Like [`GraphClient::new`] with a replaceable clock (tests).
    pub fn with_clock(config: GraphConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        config.validate()?;
        let base = url::Url::parse(&format!("{}/", config.graph_base.trim_end_matches('/')))
            .map_err(|e| GraphError::Config(format!("graph_base: {e}")))?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(config.user_agent.clone())
            .gzip(true)
            .build()
            .map_err(|e| GraphError::Config(format!("HTTP client: {e}")))?;
        let metrics = Arc::new(Metrics::default());
        let auth = TokenProvider::new(&config, http.clone(), clock.clone(), metrics.clone())?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                auth,
                base,
                retry: config.retry.clone(),
                budgets: Budgets::new(&config.limits),
                metrics,
                clock,
            }),
            scope: Scope::Tenant,
        })
    }

    /// A handle whose requests also go through the Exchange limits of `mailbox` (user id or
    /// UPN): 4 concurrent requests and 10,000 per 10 minutes by default.
    pub fn mailbox(&self, mailbox: &str) -> GraphClient {
        GraphClient {
            inner: self.inner.clone(),
            scope: Scope::Mailbox(self.inner.budgets.mailbox(mailbox)),
        }
    }

    /// A handle whose requests are charged to the tenant's SharePoint/OneDrive
    /// resource-unit budget (1/2/5 units by request kind).
    pub fn sharepoint(&self) -> GraphClient {
        GraphClient {
            inner: self.inner.clone(),
            scope: Scope::SharePoint,
        }
    }

    /// The counters so far.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// The Graph base URL (ending in `/`).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Resolves `path` (`users/x/messages` or `/users/...`) against the base URL; absolute
    /// URLs must be on the Graph origin (the token is never sent elsewhere).
    pub fn url(&self, path: &str) -> Result<String> {
        if path.starts_with("http://") || path.starts_with("https://") {
            let u = url::Url::parse(path).map_err(|e| {
                GraphError::InvalidRequest(format!("bad URL {}: {e}", redact_url(path)))
            })?;
            if u.origin() != self.inner.base.origin() {
                return Err(GraphError::InvalidRequest(format!(
                    "refusing to send the Graph token to a foreign origin: {}",
                    redact_url(path)
                )));
            }
            return Ok(path.to_string());
        }
        Ok(format!(
            "{}{}",
            self.inner.base,
            path.trim_start_matches('/')
        ))
    }

    /// Starts a request to a Graph path or URL.
    pub fn request(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        let spec = self.url(path_or_url).map(|url| Spec {
            method: method.clone(),
            url,
            headers: HeaderMap::new(),
            body: None,
            authed: true,
            read: ReadMode::Json,
            cost: 1,
            idempotent: method != Method::POST,
        });
        RequestBuilder {
            client: self.clone(),
            spec,
        }
    }

    /// GET and decode JSON.
    pub async fn get<T: DeserializeOwned>(&self, path_or_url: &str) -> Result<T> {
        self.request(Method::GET, path_or_url).send_json().await
    }

    /// GET and return the JSON body exactly as Graph sent it.
    pub async fn get_raw(&self, path_or_url: &str) -> Result<Bytes> {
        Ok(self.request(Method::GET, path_or_url).send().await?.body)
    }

    /// POST a JSON body and decode the JSON answer.
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path_or_url: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        self.request(Method::POST, path_or_url)
            .json(body)?
            .send_json()
            .await
    }

    /// PATCH a JSON body and decode the JSON answer.
    pub async fn patch_json<T: DeserializeOwned>(
        &self,
        path_or_url: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        self.request(Method::PATCH, path_or_url)
            .json(body)?
            .send_json()
            .await
    }

    /// PUT raw bytes (e.g. a small file's content) and decode the JSON answer.
    pub async fn put_bytes<T: DeserializeOwned>(
        &self,
        path_or_url: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<T> {
        self.request(Method::PUT, path_or_url)
            .body(body, content_type)?
            .send_json()
            .await
    }

    /// DELETE.
    pub async fn delete(&self, path_or_url: &str) -> Result<()> {
        self.request(Method::DELETE, path_or_url)
            .send()
            .await
            .map(|_| ())
    }

    fn scope_limiter(&self) -> Option<&Limiter> {
        match &self.scope {
            Scope::Tenant => None,
            Scope::Mailbox(l) => Some(l),
            Scope::SharePoint => Some(&self.inner.budgets.sharepoint),
        }
    }

    /// Sends `spec`, retrying transient failures; the single place requests leave the crate.
    pub(crate) async fn execute(&self, spec: &Spec) -> Result<Response> {
        let inner = &*self.inner;
        let clock = &*inner.clock;
        let started = clock.now();
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let shown_url = redact_url(&spec.url);
        let span = tracing::debug_span!("graph", method = %spec.method, url = %shown_url, %client_request_id);
        let _enter = span.enter();
        let mut attempts = 0u32;
        let mut refreshed = false;
        loop {
            attempts += 1;
            let mut permits = Vec::new();
            permits.push(
                inner
                    .budgets
                    .tenant
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("open semaphore"),
            );
            match &self.scope {
                Scope::Tenant => {}
                Scope::Mailbox(l) => permits.extend(l.acquire(clock, spec.cost).await),
                // Pre-authenticated download/upload URLs are not Graph calls: no resource units.
                Scope::SharePoint if !spec.authed => {}
                Scope::SharePoint => {
                    let cost = resource_unit_cost(&spec.method, &spec.url) * spec.cost;
                    permits.extend(inner.budgets.sharepoint.acquire(clock, cost).await);
                }
            }
            inner.budgets.tenant_pause.acquire(clock, 0).await;
            let token = if spec.authed {
                Some(inner.auth.token().await?)
            } else {
                None
            };
            let mut req = inner
                .http
                .request(spec.method.clone(), &spec.url)
                .headers(spec.headers.clone())
                .header("client-request-id", &client_request_id)
                .header("return-client-request-id", "true");
            if let Some(t) = &token {
                req = req.bearer_auth(t.expose_secret());
            }
            if let Some(b) = &spec.body {
                inner.metrics.bytes_sent.add(b.len() as u64);
                req = req.body(b.clone());
            } else if matches!(spec.method, Method::POST | Method::PUT | Method::PATCH) {
                req = req.header(reqwest::header::CONTENT_LENGTH, "0");
            }
            inner.metrics.requests.inc();
            if attempts > 1 {
                inner.metrics.retries.inc();
            }
            let (failure, info) = match req.send().await {
                Err(e) => {
                    inner.metrics.transport_errors.inc();
                    let kind = if e.is_timeout() {
                        TransportKind::Timeout
                    } else if e.is_connect() {
                        TransportKind::Connect
                    } else {
                        TransportKind::Reset
                    };
                    tracing::debug!(attempt = attempts, error = %e, "request failed");
                    (Failure::Transport(kind), None)
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let headers = resp.headers().clone();
                    self.note_rate_limit(&headers);
                    let ok = (200..300).contains(&status)
                        || (spec.read == ReadMode::Stream && (300..400).contains(&status));
                    if ok {
                        if spec.read == ReadMode::Stream {
                            return Ok(Response {
                                status,
                                headers,
                                body: Bytes::new(),
                                url: shown_url,
                                stream: Some(resp),
                                permits,
                            });
                        }
                        match resp.bytes().await {
                            Ok(body) => {
                                inner.metrics.bytes_received.add(body.len() as u64);
                                match check_body(spec.read, &body) {
                                    Ok(()) => {
                                        return Ok(Response {
                                            status,
                                            headers,
                                            body,
                                            url: shown_url,
                                            stream: None,
                                            permits: Vec::new(),
                                        });
                                    }
                                    Err(BodyProblem::Truncated) => {
                                        inner.metrics.transport_errors.inc();
                                        (Failure::Transport(TransportKind::Truncated), None)
                                    }
                                    Err(BodyProblem::Malformed(detail)) => {
                                        return Err(GraphError::Corrupt {
                                            url: shown_url,
                                            detail,
                                        });
                                    }
                                }
                            }
                            Err(e) => {
                                inner.metrics.transport_errors.inc();
                                tracing::debug!(attempt = attempts, error = %e, "body cut short");
                                (Failure::Transport(TransportKind::Truncated), None)
                            }
                        }
                    } else {
                        let body = resp.bytes().await.unwrap_or_default();
                        inner.metrics.bytes_received.add(body.len() as u64);
                        let retry_after = headers
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| retry::parse_retry_after(v, clock.wall()));
                        if status == 429 {
                            inner.metrics.throttled.inc();
                            if let Some(d) = retry_after {
                                match self.scope_limiter() {
                                    Some(l) => l.pause_for(clock, d),
                                    None => inner.budgets.tenant_pause.pause_for(clock, d),
                                }
                            }
                        } else if status >= 500 {
                            inner.metrics.server_errors.inc();
                        }
                        let info =
                            error_info(status, &headers, &body, &shown_url, &client_request_id);
                        tracing::debug!(attempt = attempts, status, code = %info.code, "Graph error");
                        (
                            Failure::Status {
                                status,
                                retry_after,
                            },
                            Some((info, headers, retry_after)),
                        )
                    }
                }
            };
            drop(permits);
            let decision = retry::classify(&failure, refreshed, spec.idempotent);
            if decision == Decision::RefreshToken {
                refreshed = true;
                if let Some(t) = &token {
                    inner.auth.invalidate(t).await;
                }
            }
            let elapsed = clock.now().saturating_sub(started);
            match inner
                .retry
                .wait_for(decision, attempts, elapsed, attempts - 1)
            {
                Some(wait) => {
                    tracing::debug!(?wait, ?failure, "retrying");
                    clock.sleep(wait).await;
                }
                None => {
                    return Err(match info {
                        Some((info, headers, retry_after)) => {
                            status_error(info, &headers, retry_after)
                        }
                        None => GraphError::Transport {
                            url: shown_url,
                            attempts,
                            detail: match failure {
                                Failure::Transport(k) => format!("{k:?}"),
                                Failure::Status { status, .. } => format!("HTTP {status}"),
                            },
                        },
                    });
                }
            }
        }
    }

    /// `RateLimit-Remaining`/`RateLimit-Reset` (SharePoint, from 80 % use): slow down before
    /// being throttled by spreading the remaining budget over the reset time.
    fn note_rate_limit(&self, headers: &HeaderMap) {
        let num = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let (Some(remaining), Some(reset)) = (num("ratelimit-remaining"), num("ratelimit-reset"))
        else {
            return;
        };
        let limit = num("ratelimit-limit").unwrap_or(0);
        let pause = if remaining == 0 {
            Duration::from_secs(reset)
        } else if limit > 0 && remaining * 10 < limit {
            Duration::from_secs_f64(reset as f64 / remaining as f64)
        } else {
            return;
        };
        tracing::debug!(remaining, reset, ?pause, "RateLimit headers: slowing down");
        let clock = &*self.inner.clock;
        match self.scope_limiter() {
            Some(l) => l.pause_for(clock, pause),
            None => self.inner.budgets.tenant_pause.pause_for(clock, pause),
        }
    }
}

enum BodyProblem {
    Truncated,
    Malformed(String),
}

fn check_body(mode: ReadMode, body: &[u8]) -> std::result::Result<(), BodyProblem> {
    if mode != ReadMode::Json || body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
        Ok(_) => Ok(()),
        Err(e) if e.is_eof() => Err(BodyProblem::Truncated),
        Err(e) => Err(BodyProblem::Malformed(format!("invalid JSON: {e}"))),
    }
}

/// Reads Graph's error envelope `{"error":{"code","message","innerError":{…}}}`.
pub(crate) fn error_info(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    url: &str,
    client_request_id: &str,
) -> ErrorInfo {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let err = &v["error"];
    let inner = if err["innerError"].is_object() {
        &err["innerError"]
    } else {
        &err["innererror"]
    };
    let request_id = headers
        .get("request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| inner["request-id"].as_str().map(str::to_string));
    let mut message = err["message"].as_str().unwrap_or_default().to_string();
    if message.is_empty() && !body.is_empty() && v.is_null() {
        message = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    }
    ErrorInfo {
        status,
        code: err["code"].as_str().unwrap_or_default().to_string(),
        message,
        request_id,
        client_request_id: Some(client_request_id.to_string()),
        url: url.to_string(),
    }
}

/// Maps a final error status to the typed error.
pub(crate) fn status_error(
    info: ErrorInfo,
    headers: &HeaderMap,
    retry_after: Option<Duration>,
) -> GraphError {
    match info.status {
        401 => GraphError::Unauthorized(Box::new(info)),
        403 => GraphError::Forbidden(Box::new(info)),
        404 => GraphError::NotFound(Box::new(info)),
        410 => {
            let location = headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let code = info.code.to_ascii_lowercase();
            if location.is_some() || code.starts_with("resync") {
                GraphError::ResyncRequired {
                    info: Box::new(info),
                    location,
                }
            } else {
                GraphError::SyncStateNotFound(Box::new(info))
            }
        }
        429 | 503 => GraphError::Throttled {
            info: Box::new(info),
            retry_after,
        },
        _ => GraphError::Api(Box::new(info)),
    }
}

/// A request being built; see [`GraphClient::request`].
#[derive(Debug)]
pub struct RequestBuilder {
    client: GraphClient,
    spec: Result<Spec>,
}

impl RequestBuilder {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let Ok(spec) = &mut self.spec {
            match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                (Ok(n), Ok(v)) => {
                    spec.headers.append(n, v);
                }
                _ => self.spec = Err(GraphError::InvalidRequest(format!("invalid header {name}"))),
            }
        }
        self
    }

    /// Adds a `Prefer` preference (e.g. `odata.maxpagesize=50`, `IdType="ImmutableId"`).
    /// Several preferences are joined into one `Prefer` header (RFC 7240).
    pub fn prefer(mut self, preference: &str) -> Self {
        let existing = match &mut self.spec {
            Ok(spec) => spec
                .headers
                .remove(reqwest::header::HeaderName::from_static("prefer"))
                .and_then(|v| v.to_str().ok().map(str::to_string)),
            Err(_) => None,
        };
        match existing {
            Some(e) => self.header("Prefer", &format!("{e}, {preference}")),
            None => self.header("Prefer", preference),
        }
    }

    /// Sets a JSON body.
    pub fn json(self, body: &impl Serialize) -> Result<Self> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| GraphError::InvalidRequest(format!("cannot encode JSON body: {e}")))?;
        self.body(Bytes::from(bytes), "application/json")
    }

    /// Sets a raw body with its content type.
    pub fn body(mut self, body: Bytes, content_type: &str) -> Result<Self> {
        self = self.header("Content-Type", content_type);
        let spec = self
            .spec
            .as_mut()
            .map_err(|e| GraphError::InvalidRequest(e.to_string()))?;
        spec.body = Some(body);
        Ok(self)
    }

    /// Declares whether the request may be repeated after an ambiguous failure (reset,
    /// timeout, 504). Default: everything but POST.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        if let Ok(spec) = &mut self.spec {
            spec.idempotent = idempotent;
        }
        self
    }

    /// Sends and returns the response (errors for non-2xx after retries).
    pub async fn send(self) -> Result<Response> {
        let spec = self.spec?;
        self.client.execute(&spec).await
    }

    /// Sends and decodes the JSON answer.
    pub async fn send_json<T: DeserializeOwned>(self) -> Result<T> {
        self.send().await?.json()
    }

    pub(crate) fn into_parts(self) -> (GraphClient, Result<Spec>) {
        (self.client, self.spec)
    }
}
