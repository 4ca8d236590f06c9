//! The snapshot `state` of a drive snapshot: who the drive belongs to and where the next
//! incremental run continues (the delta link).

use serde::{Deserialize, Serialize};

/// OneDrive of a user or a SharePoint document library.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriveKind {
    /// A user's OneDrive.
    #[default]
    Onedrive,
    /// A document library of a SharePoint site.
    Sharepoint,
}

impl DriveKind {
    /// `onedrive` / `sharepoint`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriveKind::Onedrive => "onedrive",
            DriveKind::Sharepoint => "sharepoint",
        }
    }
}

/// Identity of a backed-up drive.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveInfo {
    /// Graph drive id (`b!…`), also the snapshot owner.
    pub drive_id: String,
    /// OneDrive or SharePoint.
    pub kind: DriveKind,
    /// Drive name (`OneDrive`, `Documents`, …).
    #[serde(default)]
    pub name: String,
    /// `business` / `documentLibrary`.
    #[serde(default)]
    pub drive_type: String,
    /// Web URL.
    #[serde(default)]
    pub web_url: String,
    /// OneDrive: the user's Entra id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// OneDrive: the user's UPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_principal_name: Option<String>,
    /// SharePoint: the site id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    /// SharePoint: the site's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
}

/// Saved at every commit and checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveState {
    /// Format version of this state (1).
    pub version: u32,
    /// The drive.
    pub drive: DriveInfo,
    /// Delta link to continue from; on a checkpoint, the link the interrupted round started
    /// from (items already stored are recognised and not downloaded again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_link: Option<String>,
    /// A checkpoint written while folder paths were changing: the next run re-checks every
    /// item's path against the folder tree.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_path_check: bool,
    /// Earlier versions kept per file (`--versions`).
    #[serde(default)]
    pub versions_kept: u32,
}

impl DriveState {
    /// Parses a snapshot state; `None` if it is not a drive state.
    pub fn from_json(v: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(v.clone())
            .ok()
            .filter(|s: &DriveState| s.version == 1)
    }

    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
