//! The request pipeline around every handler: request ids and common headers, stats, bearer-token
//! authentication for Graph paths, fault injection and throttling.

use crate::EndpointClass;
use crate::auth::{Caller, unauthenticated};
use crate::classify::classify;
use crate::error::GraphError;
use crate::faults::FaultKind;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::BodyExt;
use std::sync::Arc;

/// Marker in response extensions: the server closes the connection instead of answering.
#[derive(Debug, Clone, Copy)]
pub struct ResetConnection;

/// Marker in response extensions: a throttle answer (429, or SharePoint's 503).
#[derive(Debug, Clone, Copy)]
struct ThrottleAnswer;

/// Request-scoped metadata shared between the layers.
#[derive(Debug, Default)]
pub(crate) struct RequestMeta {
    pub(crate) app: parking_lot::Mutex<Option<String>>,
}

/// Outermost layer: ids, common headers, stats, faults, throttling.
pub(crate) async fn pipeline(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let client_request_id = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| request_id.clone());
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    let (class, owner) = classify(&path);
    let owner_for_stats = owner.clone();
    let bytes_in = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let meta = Arc::new(RequestMeta::default());
    req.extensions_mut().insert(meta.clone());
    let meta_after = meta.clone();

    let ids = (request_id.clone(), client_request_id.clone());
    let st = state.clone();
    let mut resp = crate::context::with_ids(ids, async move {
        // Authentication first (Graph authenticates before it throttles).
        if path.starts_with("/v1.0/") || path == "/v1.0" || path.starts_with("/beta/") {
            match authenticate(&st, &req) {
                Ok(caller) => {
                    *meta.app.lock() = Some(caller.app_id.clone());
                    req.extensions_mut().insert(caller);
                }
                Err(e) => return e.into_response(),
            }
        }
        let app = meta.app.lock().clone().unwrap_or_else(|| "-".into());
        let fault = st.faults.decide(class);
        match fault {
            Some(FaultKind::Status500) => {
                return GraphError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "generalException",
                    "An internal server error occurred.",
                )
                .into_response();
            }
            Some(FaultKind::Status502) => {
                return GraphError::new(StatusCode::BAD_GATEWAY, "BadGateway", "Bad Gateway")
                    .into_response();
            }
            Some(FaultKind::Status503) => {
                return GraphError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "serviceNotAvailable",
                    "The service is temporarily unavailable. Please retry later.",
                )
                .with_header(HeaderName::from_static("retry-after"), "2")
                .into_response();
            }
            Some(FaultKind::Status504) => {
                return GraphError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "GatewayTimeout",
                    "Gateway Timeout",
                )
                .into_response();
            }
            Some(FaultKind::Reset) => {
                let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                r.extensions_mut().insert(ResetConnection);
                return r;
            }
            Some(FaultKind::Stall) => {
                let d = *st.faults.stall.read();
                tokio::time::sleep(d).await;
            }
            _ => {}
        }
        // Throttling.
        let mut extra_headers = Vec::new();
        let _permit = if class.is_outlook() && app != "-" {
            let mailbox = owner
                .as_deref()
                .map(|o| canonical_user(&st, o))
                .unwrap_or_else(|| "-".into());
            match st.throttle.outlook(&app, &mailbox) {
                Ok(p) => {
                    extra_headers.extend(p.rate_headers.clone());
                    Some(p)
                }
                Err(e) => return e.into_response(),
            }
        } else {
            None
        };
        if matches!(class, EndpointClass::Drive | EndpointClass::Sites) && app != "-" {
            let cost = crate::throttle::sharepoint_cost(&method, &path, &query);
            match st.throttle.sharepoint(&app, cost) {
                Ok(h) => extra_headers.extend(h),
                Err(e) => {
                    // A 503 here is throttling, not an injected fault: count it as throttled.
                    let mut r = e.into_response();
                    r.extensions_mut().insert(ThrottleAnswer);
                    return r;
                }
            }
        }
        let latency = *st.faults.latency.read();
        if !latency.is_zero() && class != EndpointClass::Admin && class != EndpointClass::Auth {
            tokio::time::sleep(latency).await;
        }
        let mut resp = next.run(req).await;
        for (k, v) in extra_headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        if fault == Some(FaultKind::Truncate) {
            resp = truncate(resp).await;
        }
        resp
    })
    .await;

    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(HeaderName::from_static("request-id"), v);
    }
    if let Ok(v) = HeaderValue::from_str(&client_request_id) {
        h.insert(HeaderName::from_static("client-request-id"), v);
    }
    h.insert(
        HeaderName::from_static("x-ms-ags-diagnostic"),
        HeaderValue::from_static(r#"{"ServerInfo":{"DataCenter":"Emulator","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"tenantvault-emulator"}}"#),
    );
    let app = meta_after
        .app
        .lock()
        .clone()
        .unwrap_or_else(|| "-".to_string());
    let status = resp.status();
    let throttle_answer = status == StatusCode::TOO_MANY_REQUESTS
        || resp.extensions().get::<ThrottleAnswer>().is_some();
    let is_fault = !throttle_answer
        && (resp.extensions().get::<ResetConnection>().is_some()
            || matches!(status.as_u16(), 500 | 502 | 504)
            || (status == StatusCode::SERVICE_UNAVAILABLE && class != EndpointClass::Other));
    // Exact body size when known (buffered bodies), else the declared Content-Length.
    let size = axum::body::HttpBody::size_hint(resp.body())
        .exact()
        .or_else(|| {
            resp.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    state.stats.record(
        class,
        &app,
        owner_for_stats.as_deref().unwrap_or("-"),
        |c| {
            c.requests += 1;
            c.bytes += size;
            c.bytes_in += bytes_in;
            if throttle_answer {
                c.throttled += 1;
            }
            if is_fault {
                c.faults += 1;
            }
        },
    );
    resp
}

/// Map a user id or UPN to the canonical user id (throttling is per mailbox, not per spelling).
fn canonical_user(state: &AppState, key: &str) -> String {
    let key = key.split('(').next().unwrap_or(key);
    state
        .directory
        .read()
        .user_any(key)
        .map(|u| u.id.clone())
        .unwrap_or_else(|| key.to_ascii_lowercase())
}

fn authenticate(state: &AppState, req: &Request) -> Result<Caller, GraphError> {
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthenticated("Access token is empty."))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| unauthenticated("Access token validation failure. Invalid audience."))?
        .trim();
    let claims = state
        .auth
        .verify(token, &state.tenant_id(), state.clock.now())?;
    Ok(Caller {
        app_id: claims.appid,
        roles: claims.roles,
    })
}

/// Send headers and half of the body, then fail the body so the connection is cut.
async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(collected) = body.collect().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let full: Bytes = collected.to_bytes();
    let half = full.slice(0..full.len() / 2);
    parts.headers.insert(
        axum::http::header::CONTENT_LENGTH,
        HeaderValue::from_str(&full.len().max(1).to_string()).expect("digits"),
    );
    // Yield the first half, let it reach the socket, then fail the body (hyper then aborts the
    // connection, so the client sees fewer bytes than Content-Length promised).
    let stream = futures::stream::unfold(0u8, move |step| {
        let half = half.clone();
        async move {
            match step {
                0 => Some((Ok::<Bytes, std::io::Error>(half), 1)),
                1 => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected truncation",
                        )),
                        2,
                    ))
                }
                _ => None,
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
