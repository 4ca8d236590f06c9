//! Graph's error envelope: `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Graph error answer. Handlers return `Result<Response, GraphError>`.
#[derive(Debug, Clone)]
pub struct GraphError {
    /// HTTP status.
    pub status: StatusCode,
    /// Graph's `error.code` (e.g. `ErrorItemNotFound`, `itemNotFound`, `Request_ResourceNotFound`).
    pub code: String,
    /// Graph's `error.message`.
    pub message: String,
    /// Extra response headers (e.g. `Retry-After`, `WWW-Authenticate`, `Location`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Extra fields inside `innerError` (e.g. a nested `code`).
    pub inner: Option<serde_json::Map<String, serde_json::Value>>,
}

impl GraphError {
    /// Any status/code/message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
            headers: Vec::new(),
            inner: None,
        }
    }
    /// Add a response header.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
    /// Add a field inside `innerError`.
    pub fn with_inner(mut self, key: &str, value: serde_json::Value) -> Self {
        self.inner
            .get_or_insert_with(Default::default)
            .insert(key.into(), value);
        self
    }
    /// 400 `BadRequest`-style error with Graph's generic code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    /// 404 for Exchange items (`ErrorItemNotFound`).
    pub fn item_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }
    /// 404 for directory objects.
    pub fn directory_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }
    /// 404 for an unknown URL segment.
    pub fn no_resource(path: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("Resource not found for the segment '{path}'."),
        )
    }
    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "ErrorInvalidRequest",
            "The OData request is not supported.",
        )
    }
}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for GraphError {}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let mut inner = self.inner.unwrap_or_default();
        inner.insert(
            "date".into(),
            json!(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()),
        );
        let (rid, crid) = crate::context::request_ids();
        inner.insert("request-id".into(), json!(rid));
        inner.insert("client-request-id".into(), json!(crid));
        let body =
            json!({"error": {"code": self.code, "message": self.message, "innerError": inner}});
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (k, v) in self.headers {
            headers.append(k, v);
        }
        (self.status, headers, body.to_string()).into_response()
    }
}
