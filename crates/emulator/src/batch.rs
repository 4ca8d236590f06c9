//! `POST /v1.0/$batch`: up to 20 requests, `dependsOn` ordering, 424 for failed dependencies,
//! each inner request passing the full pipeline (so it is authenticated and throttled alone).

use crate::error::GraphError;
use crate::state::AppState;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use axum::routing::post;
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use tower::ServiceExt;

/// Batch route.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/$batch", post(batch))
}

/// The router inner requests are dispatched to (set once the app is built).
#[derive(Default)]
pub(crate) struct BatchRouter(pub(crate) parking_lot::Mutex<Option<Router>>);

fn bad(msg: impl Into<String>) -> GraphError {
    GraphError::bad_request("BadRequest", msg)
}

async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    let v: Value =
        serde_json::from_slice(&body).map_err(|_| bad("Invalid batch payload format."))?;
    let reqs = v
        .get("requests")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Invalid batch payload format."))?;
    if reqs.len() > 20 {
        return Err(GraphError::bad_request(
            "MaximumValueExceeded",
            "Number of batch request steps exceeds the maximum value of 20.",
        ));
    }
    let mut ids = HashSet::new();
    for r in reqs {
        let id = r
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Batch request step is missing the 'id' property."))?;
        if !ids.insert(id.to_ascii_lowercase()) {
            return Err(bad(format!("Batch request contains duplicate id '{id}'.")));
        }
        r.get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Batch request step is missing the 'method' property."))?;
        r.get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("Batch request step is missing the 'url' property."))?;
        if r.get("body").is_some_and(|b| !b.is_null())
            && !r
                .get("headers")
                .and_then(|h| h.as_object())
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type")))
        {
            return Err(bad(
                "Write request id : {id} does not contain Content-Type header or body."
                    .replace("{id}", id),
            ));
        }
    }
    for r in reqs {
        if let Some(deps) = r.get("dependsOn").and_then(Value::as_array) {
            for d in deps {
                let d = d.as_str().unwrap_or("");
                if !ids.contains(&d.to_ascii_lowercase()) {
                    return Err(bad(format!(
                        "Depends on request id '{d}' which is not present in the batch."
                    )));
                }
            }
        }
    }
    let router = state
        .ext(|_| BatchRouter::default())
        .0
        .lock()
        .clone()
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "Batch is not ready.",
            )
        })?;
    let auth = headers.get("authorization").cloned();
    let mut status_of: HashMap<String, u16> = HashMap::new();
    let mut responses: Vec<Value> = Vec::new();
    let mut pending: Vec<&Value> = reqs.iter().collect();
    while !pending.is_empty() {
        let (ready, rest): (Vec<&Value>, Vec<&Value>) = pending.into_iter().partition(|r| {
            deps_of(r)
                .iter()
                .all(|d| status_of.contains_key(&d.to_ascii_lowercase()))
        });
        if ready.is_empty() {
            return Err(bad("Batch request contains a dependency cycle."));
        }
        pending = rest;
        // Run the ready wave; at most 4 at a time (Graph's Outlook batch parallelism).
        let mut wave = Vec::new();
        for r in ready {
            let id = r["id"].as_str().unwrap_or("").to_string();
            let failed_dep = deps_of(r).iter().any(|d| {
                status_of
                    .get(&d.to_ascii_lowercase())
                    .is_some_and(|s| !(200..300).contains(s))
            });
            if failed_dep {
                status_of.insert(id.to_ascii_lowercase(), 424);
                responses.push(json!({"id": id, "status": 424, "headers": {"content-type": "application/json"},
                    "body": {"error": {"code": "FailedDependency", "message": "The request depends on a request that failed."}}}));
                continue;
            }
            wave.push((id, r.clone()));
        }
        let results = futures::stream::iter(wave.into_iter().map(|(id, r)| {
            let router = router.clone();
            let auth = auth.clone();
            async move { (id.clone(), run_one(router, auth, &r).await) }
        }))
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
        for (id, (status, hdrs, body)) in results {
            status_of.insert(id.to_ascii_lowercase(), status);
            let mut o = Map::new();
            o.insert("id".into(), json!(id));
            o.insert("status".into(), json!(status));
            o.insert("headers".into(), Value::Object(hdrs));
            if let Some(b) = body {
                o.insert("body".into(), b);
            }
            responses.push(Value::Object(o));
        }
    }
    Ok(crate::respond::ok(&json!({"responses": responses})))
}

use futures::StreamExt;

fn deps_of(r: &Value) -> Vec<String> {
    r.get("dependsOn")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn run_one(
    router: Router,
    auth: Option<axum::http::HeaderValue>,
    r: &Value,
) -> (u16, Map<String, Value>, Option<Value>) {
    let method = r["method"].as_str().unwrap_or("GET").to_ascii_uppercase();
    let url = r["url"].as_str().unwrap_or("");
    let url = url
        .strip_prefix("https://graph.microsoft.com/v1.0")
        .unwrap_or(url);
    let path = if url.starts_with('/') {
        format!("/v1.0{url}")
    } else {
        format!("/v1.0/{url}")
    };
    let uri = match path.split_once('?') {
        Some((p, q)) => crate::normalize::normalize_uri(p, Some(q)),
        None => crate::normalize::normalize_uri(&path, None),
    };
    let mut b = Request::builder().method(method.as_str()).uri(uri);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    let mut ct_json = true;
    if let Some(h) = r.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            if let Some(v) = v.as_str() {
                if k.eq_ignore_ascii_case("content-type")
                    && !v.to_ascii_lowercase().contains("json")
                {
                    ct_json = false;
                }
                b = b.header(k.as_str(), v);
            }
        }
    }
    let body = match r.get("body") {
        None | Some(Value::Null) => Body::empty(),
        Some(Value::String(s)) if !ct_json => {
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(bytes) => Body::from(bytes),
                Err(_) => Body::from(s.clone()),
            }
        }
        Some(v) => Body::from(v.to_string()),
    };
    let Ok(req) = b.body(body) else {
        return (
            400,
            Map::new(),
            Some(json!({"error": {"code": "BadRequest", "message": "Invalid request in batch."}})),
        );
    };
    let resp = match router.oneshot(req).await {
        Ok(r) => r,
        Err(e) => match e {},
    };
    let status = resp.status().as_u16();
    let mut hdrs = Map::new();
    let mut is_json = false;
    for (k, v) in resp.headers() {
        let name = k.as_str();
        if matches!(
            name,
            "content-type"
                | "retry-after"
                | "location"
                | "preference-applied"
                | "etag"
                | "odata-version"
                | "ratelimit-limit"
                | "ratelimit-remaining"
                | "ratelimit-reset"
        ) && let Ok(s) = v.to_str()
        {
            if name == "content-type" && s.contains("json") {
                is_json = true;
            }
            hdrs.insert(name.to_string(), json!(s));
        }
    }
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let body = if bytes.is_empty() {
        None
    } else if is_json {
        serde_json::from_slice(&bytes).ok()
    } else {
        Some(json!(
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        ))
    };
    (status, hdrs, body)
}
