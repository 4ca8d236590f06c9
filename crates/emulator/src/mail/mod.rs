//! Exchange: mail folders, messages (JSON and MIME), attachments, delta queries, restore writes,
//! calendars and contacts.

pub mod generate;
pub mod loader;
pub mod mime;
pub mod pim;
pub mod spec;
pub mod store;

pub use store::MailStore;

use crate::state::AppState;
use axum::Router;

/// Graph routes (relative to `/v1.0`).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}

/// Pre-authenticated routes (upload sessions).
pub(crate) fn raw_routes() -> Router<AppState> {
    Router::new()
}

/// Admin/scenario routes under `/_emulator`.
pub(crate) fn admin_routes() -> Router<AppState> {
    Router::new()
}
