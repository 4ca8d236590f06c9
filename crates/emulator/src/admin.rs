//! The admin API under `/_emulator/…` (JSON, unauthenticated, loopback only). Every endpoint is
//! documented in the crate's README.

use crate::EndpointClass;
use crate::config::FaultConfig;
use crate::faults::FaultKind;
use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::Duration;

/// Admin routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/info", get(info))
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/stats/reset", post(stats_reset))
        .route("/_emulator/clock", get(clock))
        .route("/_emulator/clock/advance", post(clock_advance))
        .route("/_emulator/faults", get(faults_get).post(faults_set))
        .route(
            "/_emulator/throttling",
            get(throttling_get).post(throttling_set),
        )
        .merge(crate::mail::admin_routes())
}

/// The summary the binary prints on its first line.
pub fn info_json(state: &AppState) -> Value {
    let apps = state.auth.apps.read().clone();
    let dir = state.directory.read();
    json!({
        "url": state.base_url,
        "graphUrl": format!("{}/v1.0", state.base_url),
        "tenantId": dir.tenant_id,
        "domain": dir.domain,
        "tokenUrl": format!("{}/{}/oauth2/v2.0/token", state.base_url, dir.tenant_id),
        "seed": state.seed(),
        "users": dir.users.len(),
        "apps": apps.iter().map(|a| json!({
            "name": a.name,
            "clientId": a.client_id,
            "clientSecret": a.secrets.first(),
            "certificate": (!a.certs.is_empty()).then_some(crate::auth::TEST_CERT_PEM),
            "privateKey": (!a.certs.is_empty()).then_some(crate::auth::TEST_KEY_PEM),
            "roles": a.roles,
        })).collect::<Vec<_>>(),
        "clientId": apps[0].client_id,
        "clientSecret": apps[0].secrets.first(),
    })
}

fn admin_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

async fn info(State(state): State<AppState>) -> Response {
    Json(info_json(&state)).into_response()
}

async fn stats(State(state): State<AppState>) -> Response {
    let totals: serde_json::Map<String, Value> = state
        .stats
        .totals()
        .into_iter()
        .map(|(k, v)| {
            (
                serde_json::to_value(k)
                    .ok()
                    .and_then(|s| s.as_str().map(str::to_string))
                    .unwrap_or_default(),
                json!(v),
            )
        })
        .collect();
    Json(json!({"totals": totals, "rows": state.stats.rows()})).into_response()
}

async fn stats_reset(State(state): State<AppState>) -> Response {
    state.stats.reset();
    Json(json!({"reset": true})).into_response()
}

async fn clock(State(state): State<AppState>) -> Response {
    Json(json!({"now": crate::clock::iso(state.clock.now()), "advancedSeconds": state.clock.advanced().as_secs()})).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    seconds: u64,
    #[serde(default)]
    days: u64,
}

async fn clock_advance(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let a: Advance = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
    };
    let total = a.seconds + a.days * 86_400;
    if total == 0 {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "give a positive 'seconds' or 'days'",
        );
    }
    state.clock.advance(Duration::from_secs(total));
    state.mail.on_clock_advanced(&state);
    clock(State(state)).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FaultsBody {
    rate: f64,
    #[serde(default)]
    classes: Vec<EndpointClass>,
    #[serde(default)]
    kinds: Vec<FaultKind>,
    stall_ms: Option<u64>,
    latency_ms: Option<u64>,
}

async fn faults_get(State(state): State<AppState>) -> Response {
    let c = state.faults.config();
    Json(json!({
        "rate": c.rate, "classes": c.classes, "kinds": c.kinds,
        "stallMs": state.faults.stall.read().as_millis() as u64,
        "latencyMs": state.faults.latency.read().as_millis() as u64,
    }))
    .into_response()
}

async fn faults_set(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let b: FaultsBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
    };
    if !(0.0..=1.0).contains(&b.rate) {
        return admin_error(StatusCode::BAD_REQUEST, "rate must be within 0..=1");
    }
    if let Some(ms) = b.stall_ms {
        *state.faults.stall.write() = Duration::from_millis(ms);
    }
    if let Some(ms) = b.latency_ms {
        *state.faults.latency.write() = Duration::from_millis(ms);
    }
    state.faults.set(FaultConfig {
        rate: b.rate,
        classes: b.classes,
        kinds: b.kinds,
    });
    faults_get(State(state)).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ThrottleBody {
    enabled: Option<bool>,
    mailbox_concurrency: Option<u32>,
    mailbox_requests_per_window: Option<u32>,
    window_secs: Option<u64>,
    time_scale: Option<f64>,
    http_date_share: Option<f64>,
    sharepoint_ru_per_minute: Option<u32>,
    #[serde(rename = "sharepoint503Share")]
    sharepoint_503_share: Option<f64>,
    #[serde(default)]
    reset: bool,
}

async fn throttling_get(State(state): State<AppState>) -> Response {
    let c = state.throttle.config();
    Json(json!({
        "enabled": c.enabled, "mailboxConcurrency": c.mailbox_concurrency,
        "mailboxRequestsPerWindow": c.mailbox_requests_per_window, "windowSecs": c.window_secs,
        "timeScale": c.time_scale, "httpDateShare": c.http_date_share,
        "sharepointRuPerMinute": c.sharepoint_ru_per_minute,
        "sharepoint503Share": c.sharepoint_503_share,
    }))
    .into_response()
}

async fn throttling_set(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let b: ThrottleBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("invalid body: {e}")),
    };
    let mut c = state.throttle.config();
    if let Some(v) = b.time_scale {
        if v <= 0.0 {
            return admin_error(StatusCode::BAD_REQUEST, "timeScale must be positive");
        }
        c.time_scale = v;
    }
    if let Some(v) = b.http_date_share {
        if !(0.0..=1.0).contains(&v) {
            return admin_error(
                StatusCode::BAD_REQUEST,
                "httpDateShare must be within 0..=1",
            );
        }
        c.http_date_share = v;
    }
    if let Some(v) = b.sharepoint_503_share {
        if !(0.0..=1.0).contains(&v) {
            return admin_error(
                StatusCode::BAD_REQUEST,
                "sharepoint503Share must be within 0..=1",
            );
        }
        c.sharepoint_503_share = v;
    }
    if let Some(v) = b.enabled {
        c.enabled = v;
    }
    if let Some(v) = b.mailbox_concurrency {
        c.mailbox_concurrency = v;
    }
    if let Some(v) = b.mailbox_requests_per_window {
        c.mailbox_requests_per_window = v;
    }
    if let Some(v) = b.window_secs {
        c.window_secs = v;
    }
    if let Some(v) = b.sharepoint_ru_per_minute {
        c.sharepoint_ru_per_minute = v;
    }
    state.throttle.set_config(c);
    if b.reset {
        state.throttle.reset();
    }
    throttling_get(State(state)).await
}
