//! Complex types shared by several resources.

use serde::{Deserialize, Serialize};

/// `emailAddress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailAddress {
    /// Display name.
    pub name: Option<String>,
    /// SMTP address.
    pub address: Option<String>,
}

/// `recipient`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// The address.
    pub email_address: Option<EmailAddress>,
}

/// `itemBody`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemBody {
    /// `text` or `html`.
    pub content_type: Option<String>,
    /// The body.
    pub content: Option<String>,
}

/// `dateTimeTimeZone` (local date-time text plus a zone name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DateTimeTimeZone {
    /// e.g. `2017-04-15T12:00:00.0000000`.
    pub date_time: Option<String>,
    /// e.g. `UTC`, `Pacific Standard Time`.
    pub time_zone: Option<String>,
}

/// `followupFlag`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FollowupFlag {
    /// `notFlagged`, `complete`, `flagged`.
    pub flag_status: Option<String>,
    /// Start.
    pub start_date_time: Option<DateTimeTimeZone>,
    /// Due.
    pub due_date_time: Option<DateTimeTimeZone>,
    /// Completed.
    pub completed_date_time: Option<DateTimeTimeZone>,
}

/// `identity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Id.
    pub id: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
}

/// `identitySet`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySet {
    /// User.
    pub user: Option<Identity>,
    /// Application.
    pub application: Option<Identity>,
    /// Device.
    pub device: Option<Identity>,
}
