//! Item ids, paths and records of drive snapshots (the contract export and restore build on;
//! the table is in the [`crate::drive`] module doc).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tenantvault_graph::DriveItem;
use tenantvault_repo::{ItemMeta, ItemRecord};

/// Workload name of drive snapshots (OneDrive and SharePoint document libraries).
pub const WORKLOAD: &str = "drive";
/// Item kind of folders (including the drive root).
pub const KIND_FOLDER: &str = "folder";
/// Item kind of files.
pub const KIND_FILE: &str = "file";
/// Item kind of earlier versions of a file.
pub const KIND_VERSION: &str = "fileVersion";

/// Prefix of folder item ids (sorts before files, so folders can be read first).
pub const FOLDER_PREFIX: &str = "d:";
/// Prefix of file item ids.
pub const FILE_PREFIX: &str = "f:";
/// Prefix of version item ids.
pub const VERSION_PREFIX: &str = "v:";

/// Attribute: Graph id of the parent folder.
pub const ATTR_PARENT: &str = "parentId";
/// Attribute: the drive item id (for versions: the file's id).
pub const ATTR_ITEM: &str = "itemId";
/// Attribute: `"true"` on the drive root.
pub const ATTR_ROOT: &str = "root";
/// Attribute: eTag.
pub const ATTR_ETAG: &str = "eTag";
/// Attribute: cTag.
pub const ATTR_CTAG: &str = "cTag";
/// Attribute: base64 QuickXorHash of the stored content (verified on download).
pub const ATTR_QXH: &str = "quickXorHash";
/// Attribute: MIME type.
pub const ATTR_MIME: &str = "mimeType";
/// Attribute: comma-separated ids of the stored earlier versions.
pub const ATTR_VERSIONS: &str = "versions";
/// Attribute: version id (on version items).
pub const ATTR_VERSION_ID: &str = "versionId";
/// Attribute: `fileSystemInfo.createdDateTime` (RFC 3339), restored on upload.
pub const ATTR_FS_CREATED: &str = "fsCreated";
/// Attribute: `fileSystemInfo.lastModifiedDateTime` (RFC 3339), restored on upload.
pub const ATTR_FS_MODIFIED: &str = "fsModified";

/// Item id of a folder.
pub fn folder_id(graph_id: &str) -> String {
    format!("{FOLDER_PREFIX}{graph_id}")
}

/// Item id of a file.
pub fn file_id(graph_id: &str) -> String {
    format!("{FILE_PREFIX}{graph_id}")
}

/// Item id of an earlier version of a file.
pub fn version_id(file_graph_id: &str, version: &str) -> String {
    format!("{VERSION_PREFIX}{file_graph_id}:{version}")
}

/// Escapes a name for use as one path segment (`%` → `%25`, `/` → `%2F`).
pub fn escape_segment(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

/// Reverses [`escape_segment`].
pub fn unescape_segment(seg: &str) -> String {
    seg.replace("%2F", "/").replace("%25", "%")
}

/// Joins a folder path and an (unescaped) name.
pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        escape_segment(name)
    } else {
        format!("{path}/{}", escape_segment(name))
    }
}

/// Full path of an item record (its folder path plus its own name); the root is `""`.
pub fn full_path(rec: &ItemRecord) -> String {
    if rec.attrs.get(ATTR_ROOT).is_some_and(|v| v == "true") {
        return String::new();
    }
    join(&rec.path, &rec.name)
}

/// What kind of entry a delta item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// The drive root.
    Root,
    /// A folder (or a package such as a OneNote notebook, which has children).
    Folder,
    /// A file with content.
    File,
}

/// Classifies a driveItem.
pub fn entry_of(item: &DriveItem) -> Entry {
    if item.root.is_some() {
        Entry::Root
    } else if item.file.is_some() {
        Entry::File
    } else {
        Entry::Folder
    }
}

/// The driveItem JSON kept as metadata: Graph's JSON without the short-lived download URL,
/// plus the permissions when they were read.
pub fn metadata_json(raw: &str, permissions: Option<&Value>) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(raw).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("@microsoft.graph.downloadUrl");
        m.remove("@odata.context");
        if let Some(p) = permissions {
            m.insert("permissions".into(), p.clone());
        }
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The change detector of an item: content hash for files (cTag is not served by delta on
/// ODB/SPO), eTag for folders.
pub fn version_of(item: &DriveItem) -> String {
    let hash = item
        .file
        .as_ref()
        .and_then(|f| f.hashes.as_ref())
        .and_then(|h| h.quick_xor_hash.clone());
    hash.or_else(|| item.c_tag.clone())
        .or_else(|| item.e_tag.clone())
        .unwrap_or_default()
}

fn rfc3339(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// The record fields of a drive item at `path` (its folder's path).
pub fn item_meta(item: &DriveItem, path: &str, metadata: Vec<u8>) -> ItemMeta {
    let entry = entry_of(item);
    let (id, kind) = match entry {
        Entry::File => (file_id(&item.id), KIND_FILE),
        _ => (folder_id(&item.id), KIND_FOLDER),
    };
    let fs = item.file_system_info.clone().unwrap_or_default();
    let mut attrs = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            attrs.insert(k.to_string(), v);
        }
    };
    put(ATTR_ITEM, Some(item.id.clone()));
    put(
        ATTR_PARENT,
        item.parent_reference.as_ref().and_then(|p| p.id.clone()),
    );
    put(ATTR_ETAG, item.e_tag.clone());
    put(ATTR_CTAG, item.c_tag.clone());
    put(ATTR_FS_CREATED, rfc3339(fs.created_date_time));
    put(ATTR_FS_MODIFIED, rfc3339(fs.last_modified_date_time));
    if entry == Entry::Root {
        put(ATTR_ROOT, Some("true".into()));
    }
    if let Some(f) = &item.file {
        put(ATTR_MIME, f.mime_type.clone());
        put(
            ATTR_QXH,
            f.hashes.as_ref().and_then(|h| h.quick_xor_hash.clone()),
        );
    }
    ItemMeta {
        id,
        kind: kind.to_string(),
        path: if entry == Entry::Root {
            String::new()
        } else {
            path.to_string()
        },
        name: if entry == Entry::Root {
            String::new()
        } else {
            item.name.clone().unwrap_or_default()
        },
        created: fs.created_date_time.or(item.created_date_time),
        modified: fs.last_modified_date_time.or(item.last_modified_date_time),
        received: None,
        size_hint: item.size.unwrap_or(0).max(0) as u64,
        version: version_of(item),
        metadata: Some(metadata),
        attrs,
    }
}

/// An [`ItemMeta`] that repeats a stored record with another path (content reused).
pub fn moved_meta(rec: &ItemRecord, metadata: Option<Vec<u8>>, path: &str) -> ItemMeta {
    ItemMeta {
        id: rec.id.clone(),
        kind: rec.kind.clone(),
        path: path.to_string(),
        name: rec.name.clone(),
        created: rec.created,
        modified: rec.modified,
        received: rec.received,
        size_hint: rec.size,
        version: rec.version.clone(),
        metadata,
        attrs: rec.attrs.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_folders_first_and_paths_escape() {
        assert!(folder_id("Z") < file_id("A"));
        assert!(file_id("Z") < version_id("A", "1.0"));
        assert_eq!(join("", "a/b%"), "a%2Fb%25");
        assert_eq!(join("x", "y"), "x/y");
        assert_eq!(unescape_segment("a%2Fb%25"), "a/b%");
    }

    #[test]
    fn metadata_drops_the_download_url() {
        let raw = r#"{"id":"1","name":"a","@microsoft.graph.downloadUrl":"https://x/secret"}"#;
        let m = metadata_json(raw, Some(&serde_json::json!([{"id":"p"}])));
        let v: Value = serde_json::from_slice(&m).unwrap();
        assert!(v.get("@microsoft.graph.downloadUrl").is_none());
        assert_eq!(v["permissions"][0]["id"], "p");
    }
}
