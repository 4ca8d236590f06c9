//! The route table. Graph routes live under `/v1.0` and pass the auth middleware; identity,
//! admin and pre-authenticated content/upload URLs live at the root.

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// Graph v1.0 routes (paths relative to `/v1.0`).
fn graph_routes() -> Router<AppState> {
    Router::new()
        .merge(crate::directory::routes())
        .merge(crate::mail::routes())
        .merge(crate::batch::routes())
        .merge(crate::drive::routes())
        .merge(crate::teams::routes())
}

/// Routes outside `/v1.0` (no bearer token): token endpoint, discovery, admin, upload URLs.
fn root_routes() -> Router<AppState> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(crate::auth::token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(crate::auth::openid_configuration),
        )
        .merge(crate::admin::routes())
        .merge(crate::mail::raw_routes())
        .merge(crate::drive::root_routes())
        .merge(crate::teams::root_routes())
}

/// The whole application.
pub(crate) fn build(state: AppState) -> Router {
    Router::new()
        .nest("/v1.0", graph_routes().fallback(not_found))
        .merge(root_routes())
        .fallback(not_found)
        // Handlers enforce Graph's own size limits (4 MB chunks, 3 MB attachments, 60 MiB drive
        // fragments); axum's 2 MB default would reject legitimate uploads first.
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::pipeline,
        ))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> crate::error::GraphError {
    let seg = uri.path().rsplit('/').next().unwrap_or("").to_string();
    crate::error::GraphError::new(
        axum::http::StatusCode::BAD_REQUEST,
        "BadRequest",
        format!("Resource not found for the segment '{seg}'."),
    )
}
