//! Resolving users, folders, messages and permissions for Exchange requests.

use super::ids::ExId;
use super::store::{Mailbox, MsgKey, well_known_index};
use crate::auth::{Caller, Workload};
use crate::error::GraphError;
use crate::state::AppState;
use axum::http::StatusCode;
use parking_lot::Mutex;
use std::sync::Arc;

/// Roles that allow reading mail.
pub const MAIL_READ: &[&str] = &["Mail.Read", "Mail.ReadWrite"];
/// Roles that allow writing mail.
pub const MAIL_WRITE: &[&str] = &["Mail.ReadWrite"];

/// Check read permission.
pub fn can_read(c: &Caller) -> Result<(), GraphError> {
    c.require_any(MAIL_READ, Workload::Exchange)
}

/// Check write permission.
pub fn can_write(c: &Caller) -> Result<(), GraphError> {
    c.require_any(MAIL_WRITE, Workload::Exchange)
}

/// The mailbox of `user` (id or UPN) or Graph's 404.
pub fn mailbox(state: &AppState, user: &str) -> Result<(u32, Arc<Mutex<Mailbox>>), GraphError> {
    let dir = state.directory.read();
    let u = dir.user(user).ok_or_else(|| {
        GraphError::new(
            StatusCode::NOT_FOUND,
            "ErrorInvalidUser",
            format!("The requested user '{user}' is invalid."),
        )
    })?;
    if !u.mailbox_enabled() {
        return Err(GraphError::new(
            StatusCode::NOT_FOUND,
            "MailboxNotEnabledForRESTAPI",
            "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
        ));
    }
    let idx = u.idx;
    drop(dir);
    Ok((idx, state.mail.mailbox(idx)))
}

/// Resolve a folder id or well-known name.
pub fn folder(mb: &Mailbox, key: &str) -> Result<u32, GraphError> {
    if let Some(i) = well_known_index(key) {
        return Ok(i);
    }
    match ExId::decode(key) {
        Some(ExId::Folder { user, folder }) if user == mb.user => {
            match mb.folders.get(folder as usize) {
                Some(f) if !f.deleted => Ok(folder),
                _ => Err(GraphError::item_not_found()),
            }
        }
        Some(_) => Err(GraphError::item_not_found()),
        None => Err(malformed()),
    }
}

/// Graph's 400 for ids it cannot parse.
pub fn malformed() -> GraphError {
    GraphError::bad_request("ErrorInvalidIdMalformed", "Id is malformed.")
}

/// Resolve a message id to (key, current folder).
pub fn message(mb: &Mailbox, id: &str) -> Result<(MsgKey, u32), GraphError> {
    match ExId::decode(id) {
        Some(ExId::Message { user, key, folder }) if user == mb.user => match mb.location(key) {
            Some(f) if f == folder && exists(mb, key) => Ok((key, f)),
            _ => Err(GraphError::item_not_found()),
        },
        Some(ExId::ImmutableMessage { user, key }) if user == mb.user => match mb.location(key) {
            Some(f) if exists(mb, key) => Ok((key, f)),
            _ => Err(GraphError::item_not_found()),
        },
        Some(_) => Err(GraphError::item_not_found()),
        None => Err(malformed()),
    }
}

fn exists(mb: &Mailbox, key: MsgKey) -> bool {
    match (key.origin(), key.created_index()) {
        (Some((f, i)), _) => mb.folders.get(f as usize).is_some_and(|x| i < x.generated),
        (_, Some(n)) => n < mb.created.len(),
        _ => false,
    }
}

/// Parse a JSON request body or answer Graph's 400.
pub fn json_body(body: &[u8]) -> Result<serde_json::Value, GraphError> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        GraphError::bad_request(
            "RequestBodyRead",
            format!("Invalid JSON in request body: {e}"),
        )
    })?;
    if !v.is_object() {
        return Err(GraphError::bad_request(
            "RequestBodyRead",
            "The request body must be a JSON object.",
        ));
    }
    Ok(v)
}
