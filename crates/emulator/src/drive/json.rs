//! Graph JSON for drives, driveItems, versions, permissions, sites, lists and list items.
//!
//! Only property names that exist in the v1.0 schema for each type are emitted (the schema
//! test checks this). Delta renders items without `parentReference.path`, and deleted items
//! without `name` and `cTag`, as OneDrive for Business does.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::model::{Drive, Ident, Item, ItemIdx, Kind, Permission};
use super::store::{ListItem, Site, SpList};
use crate::clock::iso;
use crate::odata::TokenCodec;

/// Token kind of pre-authenticated download URLs.
pub const DOWNLOAD_KIND: &str = "drive.download";

/// Payload of a download URL token.
#[derive(Debug, Serialize, Deserialize)]
pub struct DownloadState {
    /// Drive id.
    pub d: String,
    /// Item id.
    pub i: String,
    /// Version label (the item's current version when minted).
    pub v: u32,
    /// Expiry (unix seconds, simulated clock).
    pub x: i64,
}

/// What rendering needs besides the model.
#[derive(Debug, Clone, Copy)]
pub struct Render<'a> {
    /// `http://127.0.0.1:PORT`.
    pub base: &'a str,
    /// Token codec for download URLs.
    pub codec: &'a TokenCodec,
    /// Simulated now.
    pub now: DateTime<Utc>,
    /// Download URL lifetime.
    pub url_ttl: std::time::Duration,
    /// Tenant id (sharepointIds).
    pub tenant_id: &'a str,
}

/// driveItem property names (driveItem + baseItem + entity + navigations), for `$select`.
pub const DRIVE_ITEM_PROPS: &[&str] = &[
    "id",
    "audio",
    "bundle",
    "content",
    "cTag",
    "deleted",
    "file",
    "fileSystemInfo",
    "folder",
    "image",
    "location",
    "malware",
    "package",
    "pendingOperations",
    "photo",
    "publication",
    "remoteItem",
    "root",
    "searchResult",
    "shared",
    "sharepointIds",
    "size",
    "specialFolder",
    "video",
    "webDavUrl",
    "createdBy",
    "createdDateTime",
    "description",
    "eTag",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "name",
    "parentReference",
    "webUrl",
    "children",
    "listItem",
    "permissions",
    "thumbnails",
    "versions",
    "analytics",
    "createdByUser",
    "lastModifiedByUser",
    "@microsoft.graph.downloadUrl",
];

/// drive property names, for `$select`.
pub const DRIVE_PROPS: &[&str] = &[
    "id",
    "driveType",
    "owner",
    "quota",
    "sharePointIds",
    "system",
    "createdBy",
    "createdDateTime",
    "description",
    "eTag",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "name",
    "parentReference",
    "webUrl",
    "items",
    "list",
    "root",
    "special",
];

/// site property names, for `$select`.
pub const SITE_PROPS: &[&str] = &[
    "id",
    "displayName",
    "error",
    "isPersonalSite",
    "root",
    "sharepointIds",
    "siteCollection",
    "createdBy",
    "createdDateTime",
    "description",
    "eTag",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "name",
    "parentReference",
    "webUrl",
    "drive",
    "drives",
    "lists",
    "sites",
];

/// `{"user":{"id","displayName"}}`; an app (no e-mail) as `{"application":…,"user":…}` the way
/// SharePoint shows app-only writes.
pub fn identity_set(who: &Ident) -> Value {
    if who.email.is_empty() {
        json!({"application": {"id": who.id, "displayName": who.display_name}, "user": {"displayName": "SharePoint App"}})
    } else {
        json!({"user": {"id": who.id, "displayName": who.display_name}})
    }
}

/// Pre-authenticated download URL for an item version.
pub fn download_url(r: &Render<'_>, drive: &Drive, item: &Item, version: u32) -> String {
    let exp = r.now + chrono::Duration::from_std(r.url_ttl).unwrap_or_default();
    let tok = r.codec.encode(
        DOWNLOAD_KIND,
        &DownloadState {
            d: drive.id.clone(),
            i: item.id.clone(),
            v: version,
            x: exp.timestamp(),
        },
    );
    format!("{}/_content/drive/{tok}", r.base)
}

fn folder_size(drive: &Drive, idx: ItemIdx) -> u64 {
    let mut total = 0;
    let mut stack = vec![idx];
    while let Some(i) = stack.pop() {
        let it = drive.item(i);
        if let Some(c) = it.content() {
            total += c.len();
        }
        stack.extend(drive.live_children(i));
    }
    total
}

fn web_url(drive: &Drive, idx: ItemIdx) -> String {
    let p = drive.path_of(idx);
    format!("{}{}", drive.web_url, p.replace(' ', "%20"))
}

/// A driveItem. `delta` = the delta shape (no `parentReference.path`; tombstones thin).
pub fn item_json(r: &Render<'_>, drive: &Drive, site: &Site, idx: ItemIdx, delta: bool) -> Value {
    let it = drive.item(idx);
    let mut m = Map::new();
    let mut parent = Map::new();
    parent.insert("driveType".into(), json!(drive.drive_type.as_str()));
    parent.insert("driveId".into(), json!(drive.id));
    if let Some(p) = it.parent {
        parent.insert("id".into(), json!(drive.item(p).id));
        if !delta {
            parent.insert(
                "name".into(),
                json!(if p == Drive::ROOT {
                    drive.name.clone()
                } else {
                    drive.item(p).name.clone()
                }),
            );
            let path = drive.path_of(p);
            parent.insert(
                "path".into(),
                json!(format!("/drives/{}/root:{}", drive.id, path)),
            );
        }
    }
    parent.insert("siteId".into(), json!(site.id));
    m.insert("id".into(), json!(it.id));
    if it.deleted.is_some() {
        m.insert("parentReference".into(), Value::Object(parent));
        m.insert("deleted".into(), json!({"state": "deleted"}));
        m.insert(
            "lastModifiedDateTime".into(),
            json!(iso(it.deleted.unwrap_or(it.modified))),
        );
        m.insert("createdDateTime".into(), json!(iso(it.created)));
        m.insert("eTag".into(), json!(it.etag()));
        if it.is_folder() {
            m.insert("folder".into(), json!({"childCount": 0}));
        } else {
            m.insert("file".into(), json!({}));
        }
        return Value::Object(m);
    }
    m.insert("name".into(), json!(it.name));
    m.insert("createdDateTime".into(), json!(iso(it.created)));
    m.insert("lastModifiedDateTime".into(), json!(iso(it.modified)));
    m.insert("eTag".into(), json!(it.etag()));
    m.insert("webUrl".into(), json!(web_url(drive, idx)));
    m.insert("createdBy".into(), identity_set(&it.created_by));
    m.insert("lastModifiedBy".into(), identity_set(&it.modified_by));
    if let Some(d) = &it.description {
        m.insert("description".into(), json!(d));
    }
    if it.parent.is_some() {
        m.insert("parentReference".into(), Value::Object(parent));
    } else {
        let mut pr = Map::new();
        pr.insert("driveType".into(), json!(drive.drive_type.as_str()));
        pr.insert("driveId".into(), json!(drive.id));
        m.insert("parentReference".into(), Value::Object(pr));
    }
    m.insert(
        "fileSystemInfo".into(),
        json!({"createdDateTime": iso(it.fs_created), "lastModifiedDateTime": iso(it.fs_modified)}),
    );
    m.insert(
        "sharepointIds".into(),
        json!({"listId": drive.list_id, "listItemUniqueId": it.guid().to_ascii_lowercase(), "siteId": site.collection_guid, "siteUrl": site.web_url, "tenantId": r.tenant_id, "webId": site.web_guid}),
    );
    if it.permissions.iter().any(|p| !p.roles.contains(&"owner")) {
        let scope = if it
            .permissions
            .iter()
            .any(|p| p.link.is_some_and(|l| l.1 == "anonymous"))
        {
            "anonymous"
        } else {
            "users"
        };
        m.insert("shared".into(), json!({"scope": scope}));
    }
    match &it.kind {
        Kind::Root | Kind::Folder => {
            if matches!(it.kind, Kind::Root) {
                m.insert("root".into(), json!({}));
            }
            m.insert(
                "folder".into(),
                json!({"childCount": drive.live_children(idx).count()}),
            );
            m.insert("size".into(), json!(folder_size(drive, idx)));
        }
        Kind::File {
            content,
            mime,
            version,
            ..
        } => {
            if !delta {
                m.insert("cTag".into(), json!(it.ctag()));
            }
            m.insert("size".into(), json!(content.len()));
            let mut file = Map::new();
            file.insert("mimeType".into(), json!(mime));
            if let Some(h) = content.cached_hash() {
                file.insert("hashes".into(), json!({"quickXorHash": h}));
            }
            m.insert("file".into(), Value::Object(file));
            m.insert(
                "@microsoft.graph.downloadUrl".into(),
                json!(download_url(r, drive, it, *version)),
            );
        }
    }
    Value::Object(m)
}

/// A drive.
pub fn drive_json(r: &Render<'_>, drive: &Drive, site: &Site) -> Value {
    let used = drive.used_bytes();
    let deleted: u64 = drive
        .items
        .iter()
        .filter(|i| i.deleted.is_some())
        .filter_map(|i| i.content())
        .map(|c| c.len())
        .sum();
    let owner = if site.group_id.is_some() || drive.drive_type == super::model::DriveType::Business
    {
        if let Some(g) = &site.group_id {
            json!({"group": {"id": g, "displayName": site.display_name}})
        } else {
            identity_set(&drive.owner)
        }
    } else {
        json!({"user": {"displayName": "System Account"}})
    };
    json!({
        "id": drive.id,
        "name": drive.name,
        "driveType": drive.drive_type.as_str(),
        "createdDateTime": iso(drive.created),
        "lastModifiedDateTime": iso(drive.items.iter().map(|i| i.modified).max().unwrap_or(drive.created)),
        "description": "",
        "webUrl": drive.web_url,
        "createdBy": identity_set(&drive.owner),
        "owner": owner,
        "quota": {
            "total": drive.quota_total,
            "used": used,
            "remaining": drive.quota_total.saturating_sub(used),
            "deleted": deleted,
            "state": "normal",
        },
        "sharePointIds": {"listId": drive.list_id, "siteId": site.collection_guid, "siteUrl": site.web_url, "tenantId": r.tenant_id, "webId": site.web_guid},
    })
}

/// A driveItemVersion.
pub fn version_json(label: u32, size: u64, modified: DateTime<Utc>, by: &Ident) -> Value {
    json!({
        "id": format!("{label}.0"),
        "lastModifiedDateTime": iso(modified),
        "size": size,
        "lastModifiedBy": identity_set(by),
    })
}

/// A permission.
pub fn permission_json(p: &Permission, item_web_url: &str) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(p.id));
    m.insert("roles".into(), json!(p.roles));
    if let Some(who) = &p.granted_to {
        m.insert("grantedToV2".into(), identity_set(who));
        m.insert("grantedTo".into(), identity_set(who));
    }
    if let Some((ty, scope)) = p.link {
        m.insert(
            "link".into(),
            json!({"type": ty, "scope": scope, "webUrl": format!("{item_web_url}?share={}", p.id), "preventsDownload": false}),
        );
        m.insert("shareId".into(), json!(format!("s!{}", p.id)));
        m.insert("hasPassword".into(), json!(false));
    }
    Value::Object(m)
}

/// Web URL of an item (for permissions).
pub fn item_web_url(drive: &Drive, idx: ItemIdx) -> String {
    web_url(drive, idx)
}

/// A site.
pub fn site_json(site: &Site, tenant_id: &str) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(site.id));
    m.insert("name".into(), json!(site.name));
    m.insert("displayName".into(), json!(site.display_name));
    m.insert("description".into(), json!(site.description));
    m.insert("webUrl".into(), json!(site.web_url));
    m.insert("createdDateTime".into(), json!(iso(site.created)));
    m.insert("lastModifiedDateTime".into(), json!(iso(site.modified)));
    m.insert("isPersonalSite".into(), json!(site.personal));
    let mut coll = Map::new();
    coll.insert("hostname".into(), json!(site.hostname));
    coll.insert("dataLocationCode".into(), json!("EUR"));
    if site.is_root {
        coll.insert("root".into(), json!({}));
        m.insert("root".into(), json!({}));
    }
    m.insert("siteCollection".into(), Value::Object(coll));
    m.insert(
        "sharepointIds".into(),
        json!({"siteId": site.collection_guid, "webId": site.web_guid, "siteUrl": site.web_url, "tenantId": tenant_id}),
    );
    Value::Object(m)
}

/// A list.
pub fn list_json(site: &Site, list: &SpList, tenant_id: &str) -> Value {
    json!({
        "id": list.id,
        "name": list.name,
        "displayName": list.display_name,
        "description": "",
        "webUrl": list.web_url,
        "createdDateTime": iso(list.created),
        "lastModifiedDateTime": iso(list.modified),
        "eTag": format!("\"{},1\"", list.id),
        "createdBy": identity_set(&list.created_by),
        "parentReference": {"siteId": site.id},
        "list": {"template": list.template, "hidden": false, "contentTypesEnabled": false},
        "sharepointIds": {"listId": list.id, "siteId": site.collection_guid, "siteUrl": site.web_url, "tenantId": tenant_id, "webId": site.web_guid},
    })
}

/// A listItem, with `fields` when `with_fields`.
pub fn list_item_json(site: &Site, list: &SpList, item: &ListItem, with_fields: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(item.id.to_string()));
    m.insert("createdDateTime".into(), json!(iso(item.created)));
    m.insert("lastModifiedDateTime".into(), json!(iso(item.modified)));
    m.insert(
        "eTag".into(),
        json!(format!("\"{},{}\"", item.guid, item.etag_n)),
    );
    m.insert(
        "webUrl".into(),
        json!(format!("{}/DispForm.aspx?ID={}", list.web_url, item.id)),
    );
    m.insert("createdBy".into(), identity_set(&item.created_by));
    m.insert("lastModifiedBy".into(), identity_set(&item.modified_by));
    m.insert(
        "parentReference".into(),
        json!({"id": list.id, "siteId": site.id}),
    );
    m.insert(
        "contentType".into(),
        json!({"id": "0x0100", "name": "Item"}),
    );
    if with_fields {
        m.insert("fields".into(), Value::Object(item.fields.clone()));
    }
    Value::Object(m)
}
