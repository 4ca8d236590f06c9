//! Route handlers.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tenantvault_repo::SnapshotFilter;

use super::{Actor, Api, ApiError};
use crate::serve::jobs::{ExportParams, RestoreParams, export_target};
use crate::serve::metrics::Live;
use crate::serve::queue::QueueError;
use crate::serve::settings::JobKind;

type Result<T> = std::result::Result<T, ApiError>;

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

fn repo_err(e: tenantvault_repo::Error) -> ApiError {
    match e {
        tenantvault_repo::Error::NotFound(_) => ApiError(StatusCode::NOT_FOUND, e.to_string()),
        tenantvault_repo::Error::Invalid(_) => ApiError(StatusCode::BAD_REQUEST, e.to_string()),
        e => internal(e),
    }
}

fn queue_err(e: QueueError) -> ApiError {
    match e {
        QueueError::UnknownJob(_) | QueueError::UnknownRun(_) => {
            ApiError(StatusCode::NOT_FOUND, e.to_string())
        }
        QueueError::AlreadyEnded(_) => ApiError(StatusCode::CONFLICT, e.to_string()),
        QueueError::ShuttingDown => ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        QueueError::History(h) => internal(h),
    }
}

pub async fn health(State(api): State<Arc<Api>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "running": api.service.running().len(),
        "queued": api.service.queued().len(),
    }))
}

pub async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let mut live = Live {
        queued: api.service.queued().len(),
        ..Live::default()
    };
    if let Some(g) = &api.runner.graph {
        let m = g.metrics();
        live.graph_requests = Some(m.requests);
        live.graph_throttled = Some(m.throttled);
        live.graph_retries = Some(m.retries);
    }
    let figures = {
        let mut cache = api.repo_figures.lock().await;
        match &*cache {
            Some((at, f)) if at.elapsed() < super::REPO_FIGURES_TTL => f.clone(),
            _ => {
                let mut f = super::RepoFigures::default();
                match api.runner.repo.storage().list("").await {
                    Ok(list) => f.bytes = Some(list.iter().map(|(_, n)| n).sum()),
                    Err(e) => tracing::warn!(error = %e, "metrics: cannot list the repository"),
                }
                match crate::serve::alerts::last_success(&api.runner.repo).await {
                    Ok(m) => f.owner_last_success = m,
                    Err(e) => tracing::warn!(error = %e, "metrics: cannot list snapshots"),
                }
                *cache = Some((std::time::Instant::now(), f.clone()));
                f
            }
        }
    };
    live.repository_bytes = figures.bytes;
    live.owner_last_success = figures.owner_last_success;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        api.service.metrics.render(&live),
    )
        .into_response()
}

pub async fn jobs(State(api): State<Arc<Api>>) -> Result<Json<Value>> {
    let s = &api.service;
    let mut out = Vec::new();
    for j in &s.settings.jobs {
        let last = s.history.list(Some(&j.name), 1).map_err(internal)?;
        out.push(json!({
            "name": j.name,
            "kind": j.kind(),
            "schedule": j.schedule.as_deref().unwrap_or(crate::serve::schedule::DEFAULT),
            "owners": j.lock_keys(),
            "rpoSeconds": s.settings.rpo_of(j).as_secs(),
            "nextDue": s.next_due_of(&j.name),
            "lastRun": last.first(),
        }));
    }
    Ok(Json(json!({
        "jobs": out,
        "running": s.running(),
        "queued": s.queued(),
    })))
}

pub async fn start_job(
    State(api): State<Arc<Api>>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<Response> {
    let (id, new) = api.service.start_now(&name, &actor.0).map_err(queue_err)?;
    let code = if new {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(json!({ "run": id, "queued": new }))).into_response())
}

#[derive(Deserialize)]
pub struct RunsQuery {
    job: Option<String>,
    limit: Option<usize>,
}

pub async fn runs(State(api): State<Arc<Api>>, Query(q): Query<RunsQuery>) -> Result<Json<Value>> {
    let list = api
        .service
        .history
        .list(q.job.as_deref(), q.limit.unwrap_or(100))
        .map_err(internal)?;
    Ok(Json(json!({ "runs": list })))
}

pub async fn run(State(api): State<Arc<Api>>, Path(id): Path<i64>) -> Result<Json<Value>> {
    match api.service.history.get(id).map_err(internal)? {
        Some(r) => Ok(Json(serde_json::to_value(r).map_err(internal)?)),
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no job run {id}"))),
    }
}

pub async fn cancel_run(State(api): State<Arc<Api>>, Path(id): Path<i64>) -> Result<Response> {
    api.service.cancel(id).map_err(queue_err)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "run": id, "cancelling": true })),
    )
        .into_response())
}

pub async fn owners(State(api): State<Arc<Api>>) -> Result<Json<Value>> {
    let list = api
        .runner
        .repo
        .list_snapshots(SnapshotFilter::default())
        .await
        .map_err(repo_err)?;
    let mut by: BTreeMap<(String, String), (usize, Value)> = BTreeMap::new();
    for s in list {
        let e = by
            .entry((s.owner.workload.clone(), s.owner.owner.clone()))
            .or_insert((0, Value::Null));
        e.0 += 1;
        e.1 = json!({ "id": s.id.0, "time": s.time, "stats": s.stats });
    }
    let owners: Vec<Value> = by
        .into_iter()
        .map(|((w, o), (n, last))| {
            json!({ "workload": w, "owner": o, "snapshots": n, "lastBackup": last })
        })
        .collect();
    Ok(Json(json!({ "owners": owners })))
}

#[derive(Deserialize)]
pub struct SnapshotsQuery {
    owner: Option<String>,
    workload: Option<String>,
    #[serde(default)]
    partial: bool,
}

pub async fn snapshots(
    State(api): State<Arc<Api>>,
    Query(q): Query<SnapshotsQuery>,
) -> Result<Json<Value>> {
    let list = api
        .runner
        .repo
        .list_snapshots(SnapshotFilter {
            owner: q.owner,
            workload: q.workload,
            include_partial: q.partial,
        })
        .await
        .map_err(repo_err)?;
    Ok(Json(json!({ "snapshots": list })))
}

pub async fn snapshot(State(api): State<Arc<Api>>, Path(id): Path<String>) -> Result<Json<Value>> {
    let snap = api.runner.repo.snapshot(&id).await.map_err(repo_err)?;
    Ok(Json(json!({
        "summary": snap.summary(),
        "failures": snap.failures(),
    })))
}

#[derive(Deserialize)]
pub struct ItemsQuery {
    path: Option<String>,
    kind: Option<String>,
    limit: Option<usize>,
}

pub async fn items(
    State(api): State<Arc<Api>>,
    Path(id): Path<String>,
    Query(q): Query<ItemsQuery>,
) -> Result<Json<Value>> {
    let snap = api.runner.repo.snapshot(&id).await.map_err(repo_err)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 100_000);
    let stream = snap.items();
    futures::pin_mut!(stream);
    let mut out = Vec::new();
    let mut truncated = false;
    while let Some(item) = stream.try_next().await.map_err(repo_err)? {
        let path = crate::commands::item_path(&item);
        if !crate::commands::path_selected(&path, q.path.as_deref())
            || q.kind.as_ref().is_some_and(|k| *k != item.kind)
        {
            continue;
        }
        if out.len() == limit {
            truncated = true;
            break;
        }
        out.push(item);
    }
    Ok(Json(json!({
        "snapshot": snap.id().0,
        "items": out,
        "truncated": truncated,
    })))
}

pub async fn restore(
    State(api): State<Arc<Api>>,
    Extension(actor): Extension<Actor>,
    body: std::result::Result<Json<RestoreParams>, axum::extract::rejection::JsonRejection>,
) -> Result<Response> {
    let Json(p) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    if api.runner.graph.is_none() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "restores need Graph credentials, and the service has none".into(),
        ));
    }
    // the snapshot must exist before anything is queued
    api.runner
        .repo
        .resolve_snapshot(&p.snapshot)
        .await
        .map_err(repo_err)?;
    let id = api
        .service
        .submit(
            JobKind::Restore,
            serde_json::to_value(&p).map_err(internal)?,
            &actor.0,
        )
        .map_err(queue_err)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run": id }))).into_response())
}

pub async fn export(
    State(api): State<Arc<Api>>,
    Extension(actor): Extension<Actor>,
    body: std::result::Result<Json<ExportParams>, axum::extract::rejection::JsonRejection>,
) -> Result<Response> {
    let Json(p) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    export_target(api.runner.export_root.as_deref(), &p.target)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    api.runner
        .repo
        .resolve_snapshot(&p.snapshot)
        .await
        .map_err(repo_err)?;
    let id = api
        .service
        .submit(
            JobKind::Export,
            serde_json::to_value(&p).map_err(internal)?,
            &actor.0,
        )
        .map_err(queue_err)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "run": id }))).into_response())
}
