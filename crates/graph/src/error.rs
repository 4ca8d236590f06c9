//! Typed errors: what Graph (or the network, or the identity platform) said, with Graph's
//! `code` and `request-id` kept so a failure can be traced on Microsoft's side.

use std::time::Duration;

/// What Graph's error envelope and headers said about a failed request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorInfo {
    /// HTTP status.
    pub status: u16,
    /// Graph's `error.code` (e.g. `ErrorItemNotFound`), empty when the body had none.
    pub code: String,
    /// Graph's `error.message` (human text, not stable).
    pub message: String,
    /// The `request-id` header (or `innerError.request-id`).
    pub request_id: Option<String>,
    /// The `client-request-id` this client sent.
    pub client_request_id: Option<String>,
    /// The request URL with any credential in its query removed.
    pub url: String,
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {} from {}", self.status, self.url)?;
        if !self.code.is_empty() {
            write!(f, ": {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, " ({})", self.message)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request-id {id}]")?;
        }
        Ok(())
    }
}

/// Failures of the token request (Microsoft identity platform).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// AADSTS7000215: the client secret is wrong.
    #[error("invalid client secret for application {client_id} in tenant {tenant_id} ({aadsts})")]
    InvalidClientSecret {
        /// Tenant the token was requested for.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// `AADSTS…` code.
        aadsts: String,
    },
    /// AADSTS7000222: the client secret has expired.
    #[error("the client secret of application {client_id} has expired ({aadsts})")]
    ExpiredClientSecret {
        /// Application (client) id.
        client_id: String,
        /// `AADSTS…` code.
        aadsts: String,
    },
    /// AADSTS90002 (or `invalid_tenant`): no such tenant.
    #[error("unknown tenant {tenant_id} ({aadsts})")]
    UnknownTenant {
        /// Tenant the token was requested for.
        tenant_id: String,
        /// `AADSTS…` code.
        aadsts: String,
    },
    /// AADSTS700016: the application is not registered in the tenant.
    #[error("application {client_id} is not registered in tenant {tenant_id} ({aadsts})")]
    UnknownClient {
        /// Tenant the token was requested for.
        tenant_id: String,
        /// Application (client) id.
        client_id: String,
        /// `AADSTS…` code.
        aadsts: String,
    },
    /// The certificate assertion was rejected (unknown certificate, bad signature, expired).
    #[error("certificate credential rejected for application {client_id}: {description}")]
    CertificateRejected {
        /// Application (client) id.
        client_id: String,
        /// First line of the identity platform's description.
        description: String,
    },
    /// Any other rejection by the token endpoint.
    #[error("token request rejected (HTTP {status}, {error}): {description}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// OAuth `error` (e.g. `invalid_scope`).
        error: String,
        /// First line of `error_description`.
        description: String,
    },
    /// The local certificate / key file could not be used.
    #[error("client certificate: {0}")]
    Certificate(String),
    /// Network failure talking to the token endpoint (after retries).
    #[error("token endpoint {url} unreachable: {detail}")]
    Transport {
        /// Token endpoint.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The token endpoint answered something that is not a token response.
    #[error("malformed token response from {url}: {detail}")]
    MalformedResponse {
        /// Token endpoint.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

/// Errors of Graph calls.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The configuration is incomplete or invalid.
    #[error("graph configuration: {0}")]
    Config(String),
    /// Getting a token failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Graph refused the token even after a fresh one was fetched (401).
    #[error("unauthorized: {0}")]
    Unauthorized(Box<ErrorInfo>),
    /// 404 (`itemNotFound`, `ErrorItemNotFound`, `MailboxNotEnabledForRESTAPI`, …).
    #[error("not found: {0}")]
    NotFound(Box<ErrorInfo>),
    /// 403 (missing permission, mailbox outside the app's scope, protected API).
    #[error("forbidden: {0}")]
    Forbidden(Box<ErrorInfo>),
    /// Still throttled (429/503) when the retry budget ran out.
    #[error("throttled (retry after {retry_after:?}): {info}")]
    Throttled {
        /// What Graph said last.
        info: Box<ErrorInfo>,
        /// The last `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// An Outlook delta/sync token is no longer known (410 `SyncStateNotFound`,
    /// `SyncStateInvalid`): restart the delta round without a token.
    #[error("delta state expired, restart without a token: {0}")]
    SyncStateNotFound(Box<ErrorInfo>),
    /// A drive delta must be restarted from `location` (410 + `Location`,
    /// `resyncRequired`/`resyncChangesApplyDifferences`/…).
    #[error("delta resync required (restart at {location:?}): {info}")]
    ResyncRequired {
        /// What Graph said.
        info: Box<ErrorInfo>,
        /// The `Location` header: a fresh enumeration URL, when given.
        location: Option<String>,
    },
    /// Any other HTTP error status.
    #[error("{0}")]
    Api(Box<ErrorInfo>),
    /// The response could not be decoded (malformed JSON, unexpected shape, bad link).
    #[error("malformed response from {url}: {detail}")]
    Corrupt {
        /// Redacted URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
    /// Network failure (connect, reset, timeout, truncated body) after all retries.
    #[error("network error on {url} after {attempts} attempt(s): {detail}")]
    Transport {
        /// Redacted URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What failed last.
        detail: String,
    },
    /// The caller asked for something this client cannot do (e.g. a foreign host in a link).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Reading a local upload source failed.
    #[error("reading upload source: {0}")]
    Io(#[from] std::io::Error),
}

impl GraphError {
    /// The Graph error details, when the error came from an HTTP response.
    pub fn info(&self) -> Option<&ErrorInfo> {
        match self {
            GraphError::Unauthorized(i)
            | GraphError::NotFound(i)
            | GraphError::Forbidden(i)
            | GraphError::SyncStateNotFound(i)
            | GraphError::Api(i) => Some(i.as_ref()),
            GraphError::Throttled { info, .. } | GraphError::ResyncRequired { info, .. } => {
                Some(info.as_ref())
            }
            _ => None,
        }
    }

    /// HTTP status, when there was a response.
    pub fn status(&self) -> Option<u16> {
        self.info().map(|i| i.status)
    }

    /// Graph's error `code`, when there was one.
    pub fn code(&self) -> Option<&str> {
        self.info()
            .map(|i| i.code.as_str())
            .filter(|c| !c.is_empty())
    }

    /// Graph's `request-id`, when known.
    pub fn request_id(&self) -> Option<&str> {
        self.info().and_then(|i| i.request_id.as_deref())
    }

    /// True for the two "delta token no longer valid" errors.
    pub fn is_delta_reset(&self) -> bool {
        matches!(
            self,
            GraphError::SyncStateNotFound(_) | GraphError::ResyncRequired { .. }
        )
    }
}

/// Crate result type.
pub type Result<T, E = GraphError> = std::result::Result<T, E>;
