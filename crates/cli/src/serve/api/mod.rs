//! The REST API (JSON) and `/metrics`, served by axum. Every route is listed once in
//! [`ROUTES`] with the permission it needs; `docs/openapi.yaml` documents exactly these
//! routes (a test compares the two). Every call that reaches a route is recorded in the
//! service's audit trail (`GET /api/v1/audit`) with its actor (token name) and answer status.

pub mod auth;
mod governance;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use auth::{Permission, Tokens};

use super::history::ApiCall;
use super::jobs::RepoRunner;
use super::queue::Service;

/// Method, path (axum syntax) and permission of every route.
pub const ROUTES: &[(&str, &str, Permission)] = &[
    ("GET", "/health", Permission::Public),
    ("GET", "/metrics", Permission::Read),
    ("GET", "/api/v1/jobs", Permission::Read),
    ("POST", "/api/v1/jobs/{name}/start", Permission::Operate),
    ("GET", "/api/v1/runs", Permission::Read),
    ("GET", "/api/v1/runs/{id}", Permission::Read),
    ("POST", "/api/v1/runs/{id}/cancel", Permission::Operate),
    ("GET", "/api/v1/owners", Permission::Read),
    ("GET", "/api/v1/snapshots", Permission::Read),
    ("GET", "/api/v1/snapshots/{id}", Permission::Read),
    ("GET", "/api/v1/snapshots/{id}/items", Permission::Browse),
    ("POST", "/api/v1/restores", Permission::Operate),
    ("POST", "/api/v1/exports", Permission::Operate),
    ("GET", "/api/v1/holds", Permission::Read),
    ("POST", "/api/v1/holds", Permission::Admin),
    ("POST", "/api/v1/holds/{id}/release", Permission::Admin),
    ("GET", "/api/v1/policies", Permission::Read),
    ("GET", "/api/v1/alerts", Permission::Read),
    ("GET", "/api/v1/audit", Permission::Audit),
    ("GET", "/api/v1/audit/calls", Permission::Audit),
];

/// What the handlers share.
pub struct Api {
    pub service: Arc<Service>,
    pub runner: Arc<RepoRunner>,
    pub tokens: Tokens,
    /// Repository size and last success per owner for `/metrics`, recomputed at most every
    /// [`REPO_FIGURES_TTL`] (listing a large repository on every scrape would be costly).
    pub repo_figures: tokio::sync::Mutex<Option<(std::time::Instant, RepoFigures)>>,
}

/// How long `/metrics` reuses the repository figures.
pub const REPO_FIGURES_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// Figures `/metrics` reads from the repository.
#[derive(Debug, Clone, Default)]
pub struct RepoFigures {
    pub bytes: Option<u64>,
    pub owner_last_success:
        std::collections::BTreeMap<(String, String), chrono::DateTime<chrono::Utc>>,
}

/// The caller, as the guard found it.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// A JSON error answer.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// The router over `api`.
pub fn router(api: Arc<Api>) -> Router {
    use routes::*;
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/jobs/{name}/start", post(start_job))
        .route("/api/v1/runs", get(runs))
        .route("/api/v1/runs/{id}", get(run))
        .route("/api/v1/runs/{id}/cancel", post(cancel_run))
        .route("/api/v1/owners", get(owners))
        .route("/api/v1/snapshots", get(snapshots))
        .route("/api/v1/snapshots/{id}", get(snapshot))
        .route("/api/v1/snapshots/{id}/items", get(items))
        .route("/api/v1/restores", post(restore))
        .route("/api/v1/exports", post(export))
        .route(
            "/api/v1/holds",
            get(governance::holds).post(governance::create_hold),
        )
        .route("/api/v1/holds/{id}/release", post(governance::release_hold))
        .route("/api/v1/policies", get(governance::policies))
        .route("/api/v1/alerts", get(governance::alerts))
        .route("/api/v1/audit", get(governance::audit))
        .route("/api/v1/audit/calls", get(governance::calls))
        .route_layer(middleware::from_fn_with_state(api.clone(), guard))
        .with_state(api)
}

fn permission(method: &str, path: &str) -> Option<Permission> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map(|(_, _, perm)| *perm)
}

async fn guard(
    State(api): State<Arc<Api>>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let perm = matched
        .as_ref()
        .and_then(|m| permission(&method, m.as_str()))
        .unwrap_or(Permission::Admin); // unreachable: every route is in ROUTES
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let token = bearer.and_then(|b| api.tokens.find(b)).cloned();
    let actor = token
        .as_ref()
        .map(|t| t.name.clone())
        .unwrap_or_else(|| "anonymous".into());
    let answer = if perm == Permission::Public {
        req.extensions_mut().insert(Actor(actor.clone()));
        next.run(req).await
    } else {
        match &token {
            None => {
                let mut r = ApiError(
                    StatusCode::UNAUTHORIZED,
                    "a valid API token is required (Authorization: Bearer …)".into(),
                )
                .into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                r
            }
            Some(t) if !t.role.allows(perm) => ApiError(
                StatusCode::FORBIDDEN,
                format!(
                    "token {:?} (role {}) may not {method} {path}",
                    t.name,
                    serde_json::to_value(t.role)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                ),
            )
            .into_response(),
            Some(_) => {
                req.extensions_mut().insert(Actor(actor.clone()));
                next.run(req).await
            }
        }
    };
    let call = ApiCall {
        id: 0,
        at: api.service.clock.now(),
        actor,
        method,
        path,
        status: answer.status().as_u16(),
    };
    if let Err(e) = api.service.history.audit(&call) {
        tracing::error!(error = %e, "cannot record an API call in the audit trail");
    }
    // changes and refusals also go to the repository's tamper-evident audit log
    if call.method != "GET" || matches!(call.status, 401 | 403) {
        let outcome = match call.status {
            200..=299 => "ok",
            401 | 403 => "refused",
            _ => "failed",
        };
        let route = matched
            .as_ref()
            .map(|m| m.as_str().to_string())
            .unwrap_or_else(|| call.path.clone());
        let mut rec = tenantvault_repo::AuditRecord::new(
            call.at,
            format!("api {} {route}", call.method),
            call.actor.clone(),
            outcome,
        );
        rec.details = serde_json::json!({ "path": call.path, "status": call.status });
        if let Err(e) = api.runner.repo.audit_append(&rec).await {
            tracing::error!(error = %e, "cannot append an API call to the repository audit log");
        }
    }
    answer
}

/// `(METHOD, path)` pairs documented in an OpenAPI file (paths at two spaces, methods at four).
#[cfg(test)]
pub fn documented_routes(yaml: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_paths = false;
    let mut path = None;
    for line in yaml.lines() {
        if !line.starts_with(' ') {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            path = Some(format!("/{}", p.trim_end().trim_end_matches(':')));
        } else if let Some(m) = line.strip_prefix("    ")
            && !m.starts_with(' ')
            && let Some(p) = &path
        {
            let m = m.trim_end().trim_end_matches(':');
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                out.push((m.to_uppercase(), p.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_file_documents_exactly_the_served_routes() {
        let yaml = include_str!("../../../../../docs/openapi.yaml");
        let mut documented = documented_routes(yaml);
        documented.sort();
        let mut served: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p, _)| (m.to_string(), p.to_string()))
            .collect();
        served.sort();
        assert_eq!(documented, served);
    }

    #[test]
    fn every_route_but_health_needs_a_token() {
        for (m, p, perm) in ROUTES {
            assert_eq!(
                *perm == Permission::Public,
                *p == "/health",
                "{m} {p} has permission {perm:?}"
            );
        }
        assert_eq!(
            permission("POST", "/api/v1/restores"),
            Some(Permission::Operate)
        );
        assert!(!auth::Role::ReadOnly.allows(permission("POST", "/api/v1/restores").unwrap()));
    }
}
