//! Microsoft Teams: teams, standard and private channels, channel messages with replies and
//! hosted content, channel-messages delta, 1:1 and group chats and their messages.
//!
//! Message endpoints are Graph "protected APIs": unless the app is approved (config
//! `DriveConfig::teams_protected_api_approved`, admin `POST /_emulator/teams/protected-api`)
//! they answer 403 with Graph's message.

pub mod model;

pub(crate) mod api;

use axum::Router;
use axum::routing::{any, post};
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::state::{AppState, Shared};
use model::{TeamSpec, TeamsStore};

/// Teams state (stored via `Shared::ext`).
#[derive(Debug)]
pub struct TeamsState {
    /// Teams and chats.
    pub store: RwLock<TeamsStore>,
    /// Protected-API approval.
    pub approved: AtomicBool,
}

impl TeamsState {
    fn build(s: &Shared) -> Self {
        let (users, _, _) = crate::drive::state::drive_owners(s);
        let teams: Vec<TeamSpec> = s
            .directory
            .read()
            .groups
            .iter()
            .filter(|g| g.team)
            .map(|g| TeamSpec {
                id: g.id.clone(),
                display_name: g.display_name.clone(),
                description: g.description.clone(),
                members: g.members.clone(),
            })
            .collect();
        let cfg = &s.config.drive;
        let store = TeamsStore::generate(
            s.seed(),
            cfg,
            &teams,
            &users,
            crate::model::tenant::content_anchor(),
        );
        Self {
            store: RwLock::new(store),
            approved: AtomicBool::new(cfg.teams_protected_api_approved),
        }
    }
}

/// The Teams state of an emulator (generated on first use).
pub fn teams_state(s: &AppState) -> Arc<TeamsState> {
    s.ext(TeamsState::build)
}

/// Graph routes (relative to `/v1.0`).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/teams", any(api::teams_entry))
        .route("/teams/{*rest}", any(api::teams_entry))
        .route("/chats", any(api::teams_entry))
        .route("/chats/{*rest}", any(api::teams_entry))
        .route("/users/{user}/chats", any(api::teams_entry))
        .route("/users/{user}/chats/{*rest}", any(api::teams_entry))
        .route("/users/{user}/joinedTeams", any(api::teams_entry))
}

/// Admin routes.
pub(crate) fn root_routes() -> Router<AppState> {
    Router::new()
        .route("/_emulator/teams/protected-api", post(api::set_protected))
        .route("/_emulator/teams/activity", post(api::activity))
}
