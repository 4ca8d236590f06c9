//! OneDrive / SharePoint resources.

use super::common::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `quota`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Total bytes.
    pub total: Option<i64>,
    /// Used bytes.
    pub used: Option<i64>,
    /// Remaining bytes.
    pub remaining: Option<i64>,
    /// Bytes in the recycle bin.
    pub deleted: Option<i64>,
    /// `normal`/`nearing`/`critical`/`exceeded`.
    pub state: Option<String>,
}

/// `drive`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Drive {
    /// Drive id (`b!…`).
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// `personal`/`business`/`documentLibrary`.
    pub drive_type: Option<String>,
    /// URL.
    pub web_url: Option<String>,
    /// Owner.
    pub owner: Option<IdentitySet>,
    /// Quota.
    pub quota: Option<Quota>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
}

/// `itemReference`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemReference {
    /// Drive id.
    pub drive_id: Option<String>,
    /// Drive type.
    pub drive_type: Option<String>,
    /// Parent item id.
    pub id: Option<String>,
    /// Parent name.
    pub name: Option<String>,
    /// Path (not populated in delta).
    pub path: Option<String>,
    /// Site id.
    pub site_id: Option<String>,
}

/// `hashes` (ODB/SPO give only `quickXorHash`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hashes {
    /// base64 QuickXorHash.
    pub quick_xor_hash: Option<String>,
    /// hex SHA-1.
    pub sha1_hash: Option<String>,
    /// hex SHA-256.
    pub sha256_hash: Option<String>,
    /// hex CRC32.
    pub crc32_hash: Option<String>,
}

/// `file` facet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileFacet {
    /// MIME type.
    pub mime_type: Option<String>,
    /// Hashes.
    pub hashes: Option<Hashes>,
}

/// `folder` facet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FolderFacet {
    /// Children.
    pub child_count: Option<i64>,
}

/// `fileSystemInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSystemInfo {
    /// Created on the client.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Modified on the client.
    pub last_modified_date_time: Option<DateTime<Utc>>,
}

/// `deleted` facet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletedFacet {
    /// State.
    pub state: Option<String>,
}

/// `driveItem`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriveItem {
    /// Item id.
    pub id: String,
    /// Name (absent on ODB/SPO deletes).
    pub name: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Entity tag.
    pub e_tag: Option<String>,
    /// Content tag.
    pub c_tag: Option<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// Created by.
    pub created_by: Option<IdentitySet>,
    /// Last modified by.
    pub last_modified_by: Option<IdentitySet>,
    /// Parent.
    pub parent_reference: Option<ItemReference>,
    /// File facet.
    pub file: Option<FileFacet>,
    /// Folder facet.
    pub folder: Option<FolderFacet>,
    /// Package facet (e.g. OneNote).
    pub package: Option<serde_json::Value>,
    /// Present on the drive root.
    pub root: Option<serde_json::Value>,
    /// Present on deleted items (delta).
    pub deleted: Option<DeletedFacet>,
    /// Malware detected.
    pub malware: Option<serde_json::Value>,
    /// Client timestamps.
    pub file_system_info: Option<FileSystemInfo>,
    /// URL.
    pub web_url: Option<String>,
    /// Short-lived pre-authenticated download URL.
    #[serde(rename = "@microsoft.graph.downloadUrl")]
    pub download_url: Option<String>,
}

/// `site`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    /// `{hostname},{siteCollectionGuid},{webGuid}`.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// URL.
    pub web_url: Option<String>,
    /// OneDrive site.
    pub is_personal_site: Option<bool>,
    /// Present on root sites.
    pub root: Option<serde_json::Value>,
    /// Site collection info.
    pub site_collection: Option<serde_json::Value>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
}

/// `list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct List {
    /// List id.
    pub id: String,
    /// Name.
    pub name: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// URL.
    pub web_url: Option<String>,
    /// `listInfo` (template, hidden, contentTypesEnabled).
    pub list: Option<serde_json::Value>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
}

/// `listItem`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListItem {
    /// Item id.
    pub id: String,
    /// Entity tag.
    pub e_tag: Option<String>,
    /// URL.
    pub web_url: Option<String>,
    /// Content type.
    pub content_type: Option<serde_json::Value>,
    /// Column values (`$expand=fields`).
    pub fields: Option<serde_json::Value>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
}
