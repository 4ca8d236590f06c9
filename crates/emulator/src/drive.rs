//! OneDrive and SharePoint: drives, driveItems, delta, content download, uploads,
//! versions, permissions, sites, lists and drive scenarios.
//!
//! Graph addresses drive items with OData path syntax (`root:/a/b.txt:/content`,
//! `delta(token='…')`) that a router cannot express, so every drive URL goes to one
//! dispatcher ([`api`]) that parses it with [`route`]. Pre-authenticated download and upload
//! URLs live outside `/v1.0` at `/_content/drive/{token}` and `/_upload/drive/{token}`.

pub mod config;
pub mod content;
pub mod delta;
pub mod generate;
pub mod json;
pub mod loader;
pub mod model;
pub mod names;
pub mod route;
pub mod store;

pub(crate) mod api;
pub(crate) mod attacks;
pub(crate) mod download;
pub(crate) mod list_write;
pub(crate) mod scenarios;
pub(crate) mod share;
pub(crate) mod sites;
pub(crate) mod state;
pub(crate) mod upload;
pub(crate) mod write;

pub use config::DriveConfig;
pub use state::{DriveState, drive_state};

use crate::state::AppState;
use axum::Router;
use axum::routing::{any, get, post};

/// Graph routes (relative to `/v1.0`).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/drives/{*rest}", any(api::drive_entry))
        .route("/users/{user}/drive", any(api::drive_entry))
        .route("/users/{user}/drive/{*rest}", any(api::drive_entry))
        .route("/users/{user}/drives", any(api::drive_entry))
        .route("/groups/{group}/drive", any(api::drive_entry))
        .route("/groups/{group}/drive/{*rest}", any(api::drive_entry))
        .route("/groups/{group}/drives", any(api::drive_entry))
        .route("/groups/{group}/sites/{*rest}", any(sites::sites_entry))
        .route("/sites", any(sites::sites_entry))
        .route("/sites/{*rest}", any(sites::sites_entry))
}

/// Routes outside `/v1.0`: pre-authenticated content and upload URLs, admin scenarios.
pub(crate) fn root_routes() -> Router<AppState> {
    Router::new()
        .route("/_content/drive/{token}", get(download::download))
        .route("/_upload/drive/{token}", any(upload::upload_url))
        .route("/_emulator/drive/activity", post(scenarios::activity))
        .route("/_emulator/drive/ransomware", post(scenarios::ransomware))
        .route("/_emulator/drive/purge", post(scenarios::purge))
        .route("/_emulator/drive/photos", post(attacks::photos))
        .route("/_emulator/drive/reorganize", post(attacks::reorganize))
        .route("/_emulator/drive/cleanup", post(attacks::cleanup))
        .route(
            "/_emulator/drive/encrypt-in-place",
            post(attacks::encrypt_in_place),
        )
        .route(
            "/_emulator/drive/remove-onedrive",
            post(scenarios::remove_onedrive),
        )
        .route(
            "/_emulator/drive/expire-delta",
            post(scenarios::expire_delta),
        )
        .route("/_emulator/drive/summary", get(scenarios::summary))
}
