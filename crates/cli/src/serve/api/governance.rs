//! Holds, retention policies, ransomware alerts and the audit log over the API (the libraries
//! of `tenantvault hold`, `retention`, `alerts` and `audit`).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use tenantvault_repo::{AuditFilter, HoldScope, NewHold};

use super::{Actor, Api, ApiError};

type Result<T> = std::result::Result<T, ApiError>;

fn repo_err(e: tenantvault_repo::Error) -> ApiError {
    match e {
        tenantvault_repo::Error::NotFound(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        tenantvault_repo::Error::Invalid(_) => ApiError(StatusCode::BAD_REQUEST, e.to_string()),
        e => ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn body<T>(b: std::result::Result<Json<T>, JsonRejection>) -> Result<T> {
    b.map(|Json(t)| t)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))
}

pub async fn holds(State(api): State<Arc<Api>>) -> Result<Json<Value>> {
    let holds = api.runner.repo.holds().await.map_err(repo_err)?;
    Ok(Json(json!({ "holds": holds })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    case: String,
    reason: String,
    #[serde(default)]
    scope: HoldScope,
}

pub async fn create_hold(
    State(api): State<Arc<Api>>,
    Extension(actor): Extension<Actor>,
    req: std::result::Result<Json<HoldRequest>, JsonRejection>,
) -> Result<Response> {
    let req = body(req)?;
    let hold = api
        .runner
        .repo
        .create_hold(
            NewHold {
                case: req.case,
                reason: req.reason,
                created_by: actor.0,
                scope: req.scope,
            },
            api.service.clock.now(),
        )
        .await
        .map_err(repo_err)?;
    Ok((StatusCode::CREATED, Json(json!(hold))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    reason: String,
}

pub async fn release_hold(
    State(api): State<Arc<Api>>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
    req: std::result::Result<Json<ReleaseRequest>, JsonRejection>,
) -> Result<Json<Value>> {
    let req = body(req)?;
    if req.reason.trim().is_empty() {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "releasing a hold needs a reason".into(),
        ));
    }
    let hold = api
        .runner
        .repo
        .release_hold(&id, &actor.0, &req.reason, api.service.clock.now())
        .await
        .map_err(repo_err)?;
    Ok(Json(json!(hold)))
}

pub async fn policies(State(api): State<Arc<Api>>) -> Result<Json<Value>> {
    let Some(set) = &api.runner.retention else {
        return Ok(Json(json!({ "policies": null, "plan": null })));
    };
    let plan = api
        .runner
        .repo
        .plan_retention(set, api.service.clock.now())
        .await
        .map_err(repo_err)?;
    let removals = plan.removals().count();
    Ok(Json(json!({
        "policies": set,
        "plan": {
            "removals": removals,
            "blocked": plan.entries.len() - removals,
            "snapshotsKept": plan.snapshots_kept,
            "ownersWithoutPolicy": plan.owners_without_policy,
        },
    })))
}

pub async fn alerts(State(api): State<Arc<Api>>) -> Result<Json<Value>> {
    let alerts = tenantvault_workloads::detect::list_alerts(&api.runner.repo)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({ "alerts": alerts })))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    operation: Option<String>,
    owner: Option<String>,
    limit: Option<usize>,
}

/// The repository's audit log (newest last), filtered.
pub async fn audit(
    State(api): State<Arc<Api>>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>> {
    let filter = AuditFilter {
        since: q.since,
        until: q.until,
        operation: q.operation,
        owner: q.owner,
    };
    let (mut records, _) = api
        .runner
        .repo
        .audit_records(&filter)
        .await
        .map_err(repo_err)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 100_000);
    if records.len() > limit {
        records.drain(..records.len() - limit);
    }
    Ok(Json(json!({ "records": records })))
}

#[derive(Deserialize)]
pub struct CallsQuery {
    limit: Option<usize>,
}

/// Every API call the service answered (including reads), newest first.
pub async fn calls(
    State(api): State<Arc<Api>>,
    Query(q): Query<CallsQuery>,
) -> Result<Json<Value>> {
    let calls = api
        .service
        .history
        .audit_list(q.limit.unwrap_or(200))
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(json!({ "calls": calls })))
}
