//! Response helpers: Graph's JSON content type and OData headers.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Graph's JSON content type.
pub const JSON_CT: &str = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

/// A JSON response with Graph's headers.
pub fn json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CT),
    );
    h.insert(
        HeaderName::from_static("odata-version"),
        HeaderValue::from_static("4.0"),
    );
    r
}

/// 200 JSON.
pub fn ok(body: &Value) -> Response {
    json(StatusCode::OK, body)
}

/// A JSON response plus `Preference-Applied`, if any.
pub fn with_preference(mut r: Response, applied: Option<String>) -> Response {
    if let Some(a) = applied
        && let Ok(v) = HeaderValue::from_str(&a)
    {
        r.headers_mut()
            .insert(HeaderName::from_static("preference-applied"), v);
    }
    r
}

/// 204 No Content.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}
