//! Teams resources.

use super::common::*;
use super::null_as_empty;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `team`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    /// Team id (= group id).
    pub id: String,
    /// Name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `public`/`private`.
    pub visibility: Option<String>,
    /// Archived.
    pub is_archived: Option<bool>,
    /// Internal id.
    pub internal_id: Option<String>,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// URL.
    pub web_url: Option<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Specialization.
    pub specialization: Option<String>,
}

/// `channel`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// `19:…@thread.tacv2`.
    pub id: String,
    /// Name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Channel e-mail address.
    pub email: Option<String>,
    /// `standard`/`private`/`shared`.
    pub membership_type: Option<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Archived.
    pub is_archived: Option<bool>,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// URL.
    pub web_url: Option<String>,
}

/// `chatMessage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatMessage {
    /// Message id (epoch milliseconds as text).
    pub id: String,
    /// Parent message of a reply.
    pub reply_to_id: Option<String>,
    /// Version.
    pub etag: Option<String>,
    /// `message`/`chatEvent`/…
    pub message_type: Option<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// Last edited.
    pub last_edited_date_time: Option<DateTime<Utc>>,
    /// Deleted.
    pub deleted_date_time: Option<DateTime<Utc>>,
    /// Subject.
    pub subject: Option<String>,
    /// Summary.
    pub summary: Option<String>,
    /// Chat id (chats).
    pub chat_id: Option<String>,
    /// Importance.
    pub importance: Option<String>,
    /// Locale.
    pub locale: Option<String>,
    /// URL.
    pub web_url: Option<String>,
    /// Sender (`chatMessageFromIdentitySet`, kept as JSON).
    pub from: Option<serde_json::Value>,
    /// Body.
    pub body: Option<ItemBody>,
    /// Team and channel (channel messages).
    pub channel_identity: Option<serde_json::Value>,
    /// Attachments.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attachments: Vec<serde_json::Value>,
    /// Mentions.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub mentions: Vec<serde_json::Value>,
    /// Reactions.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub reactions: Vec<serde_json::Value>,
}
