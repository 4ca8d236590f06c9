//! Exchange: mail folders, messages (JSON and MIME), attachments, delta queries, restore writes,
//! calendars and contacts, and the mailbox scenarios of the admin API.

pub(crate) mod access;
pub(crate) mod attachments;
pub(crate) mod calendar;
pub(crate) mod contacts;
pub(crate) mod delta;
pub(crate) mod folders;
pub mod generate;
pub mod ids;
pub mod json;
pub mod loader;
pub(crate) mod messages;
pub mod mime;
pub mod parse;
pub mod pim;
pub(crate) mod round;
pub mod scenarios;
pub(crate) mod series;
pub mod spec;
pub mod store;
pub(crate) mod write;

pub use store::MailStore;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post, put};
use serde::Serialize;

/// Graph routes (relative to `/v1.0`).
pub(crate) fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route(
            "/users/{user}/mailFolders",
            get(folders::list).post(folders::create_top),
        )
        .route("/users/{user}/mailFolders/delta", get(folders::delta))
        .route(
            "/users/{user}/mailFolders/{folder}",
            get(folders::get)
                .patch(folders::update)
                .delete(folders::delete),
        )
        .route(
            "/users/{user}/mailFolders/{folder}/childFolders",
            get(folders::children).post(folders::create_child),
        )
        .route(
            "/users/{user}/mailFolders/{folder}/move",
            post(folders::move_folder),
        )
        .route(
            "/users/{user}/mailFolders/{folder}/messages/delta",
            get(delta::messages_delta),
        );
    for base in [
        "/users/{user}/messages",
        "/users/{user}/mailFolders/{folder}/messages",
    ] {
        r = r
            .route(base, get(messages::list).post(write::create))
            .route(
                &format!("{base}/{{msg}}"),
                get(messages::get)
                    .patch(messages::patch)
                    .delete(messages::delete),
            )
            .route(&format!("{base}/{{msg}}/$value"), get(messages::value))
            .route(
                &format!("{base}/{{msg}}/move"),
                post(messages::move_or_copy),
            )
            .route(
                &format!("{base}/{{msg}}/copy"),
                post(messages::move_or_copy),
            )
            .route(
                &format!("{base}/{{msg}}/attachments"),
                get(attachments::list).post(attachments::create),
            )
            .route(
                &format!("{base}/{{msg}}/attachments/createUploadSession"),
                post(attachments::create_session),
            )
            .route(
                &format!("{base}/{{msg}}/attachments/{{att}}"),
                get(attachments::get),
            )
            .route(
                &format!("{base}/{{msg}}/attachments/{{att}}/$value"),
                get(attachments::value),
            );
    }
    r.route(
        "/users/{user}/calendarView/delta",
        get(calendar::calendar_view_delta),
    )
    .route(
        "/users/{user}/calendars/{calendar}/calendarView/delta",
        get(calendar::calendar_view_delta),
    )
    .route("/users/{user}/calendars", get(calendar::calendars))
    .route("/users/{user}/calendar", get(calendar::calendar))
    .route(
        "/users/{user}/events",
        get(calendar::list_events).post(calendar::create_event),
    )
    .route(
        "/users/{user}/calendar/events",
        post(calendar::create_event),
    )
    .route(
        "/users/{user}/events/{id}",
        get(calendar::get_event)
            .patch(series::update_event)
            .delete(calendar::delete_event),
    )
    .route(
        "/users/{user}/events/{id}/instances",
        get(series::list_instances),
    )
    .route(
        "/users/{user}/events/{id}/attachments",
        get(calendar::event_attachments).post(calendar::add_event_attachment),
    )
    .route(
        "/users/{user}/events/{id}/attachments/{att}",
        get(calendar::event_attachment),
    )
    .route(
        "/users/{user}/events/{id}/attachments/{att}/$value",
        get(calendar::event_attachment),
    )
    .route("/users/{user}/contactFolders", get(contacts::folders))
    .route(
        "/users/{user}/contactFolders/delta",
        get(contacts::folders_delta),
    )
    .route(
        "/users/{user}/contactFolders/{folder}/contacts",
        get(contacts::list).post(contacts::create),
    )
    .route(
        "/users/{user}/contactFolders/{folder}/contacts/delta",
        get(contacts::delta),
    )
    .route(
        "/users/{user}/contacts",
        get(contacts::list).post(contacts::create),
    )
    .route(
        "/users/{user}/contacts/{id}",
        get(contacts::get).delete(contacts::delete),
    )
}

/// Pre-authenticated routes (attachment upload sessions).
pub(crate) fn raw_routes() -> Router<AppState> {
    Router::new().route(
        "/_upload/mail/{sid}",
        put(attachments::upload_put).delete(attachments::upload_delete),
    )
}

/// Admin/scenario routes under `/_emulator`.
pub(crate) fn admin_routes() -> Router<AppState> {
    scenarios::routes()
}

/// How a delta page ends: the round goes on (a `$skiptoken` nextLink) or it is complete (a
/// `$deltatoken` deltaLink for the next round). Each carries the token kind and payload.
pub(crate) enum PageEnd<'a, T> {
    Next(&'a str, T),
    Delta(&'a str, T),
}

/// The `(@odata.nextLink, @odata.deltaLink)` pair for a delta page on `path`.
pub(crate) fn page_links<T: Serialize>(
    state: &AppState,
    path: &str,
    end: PageEnd<'_, T>,
) -> (Option<String>, Option<String>) {
    match end {
        PageEnd::Next(kind, tok) => (
            Some(state.graph_url(&format!(
                "{path}?$skiptoken={}",
                state.tokens.encode(kind, &tok)
            ))),
            None,
        ),
        PageEnd::Delta(kind, tok) => (
            None,
            Some(state.graph_url(&format!(
                "{path}?$deltatoken={}",
                state.tokens.encode(kind, &tok)
            ))),
        ),
    }
}
