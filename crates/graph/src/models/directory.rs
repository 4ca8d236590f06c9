//! Users and groups.

use super::null_as_empty;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `assignedLicense`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    /// License SKU.
    pub sku_id: Option<String>,
    /// Plans turned off.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub disabled_plans: Vec<String>,
}

/// `user` (select `accountEnabled,userType,assignedLicenses,…` explicitly; the default set
/// is small).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// UPN.
    pub user_principal_name: Option<String>,
    /// Primary SMTP address (absent without a mailbox).
    pub mail: Option<String>,
    /// Mail alias.
    pub mail_nickname: Option<String>,
    /// Sign-in allowed.
    pub account_enabled: Option<bool>,
    /// `Member` or `Guest`.
    pub user_type: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Licenses.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub assigned_licenses: Vec<AssignedLicense>,
    /// `SMTP:`/`smtp:` addresses.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub proxy_addresses: Vec<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Set for deleted users.
    pub deleted_date_time: Option<DateTime<Utc>>,
}

/// `group`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Object id.
    pub id: String,
    /// Display name.
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// `Unified` for Microsoft 365 groups.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub group_types: Vec<String>,
    /// SMTP address.
    pub mail: Option<String>,
    /// Mail-enabled.
    pub mail_enabled: Option<bool>,
    /// Alias.
    pub mail_nickname: Option<String>,
    /// Security group.
    pub security_enabled: Option<bool>,
    /// `Public`/`Private`/…
    pub visibility: Option<String>,
    /// Contains `Team` for teams.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub resource_provisioning_options: Vec<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
}
