//! All drives and SharePoint sites of the tenant, with their lookups.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

use super::model::{Drive, Ident};

/// A SharePoint list item (generic lists).
#[derive(Debug, Clone)]
pub struct ListItem {
    /// Numeric id (served as a string).
    pub id: u32,
    /// Column values (`fields`).
    pub fields: Map<String, Value>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Modification time.
    pub modified: DateTime<Utc>,
    /// Author.
    pub created_by: Arc<Ident>,
    /// Last editor.
    pub modified_by: Arc<Ident>,
    /// eTag counter.
    pub etag_n: u32,
    /// GUID for eTag / sharepointIds.
    pub guid: String,
}

/// A SharePoint list or document library.
#[derive(Debug, Clone)]
pub struct SpList {
    /// GUID id.
    pub id: String,
    /// URL name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// `list.template`: `genericList`, `documentLibrary`, …
    pub template: &'static str,
    /// Backing drive for libraries.
    pub drive_id: Option<String>,
    /// Items of generic lists.
    pub items: Vec<ListItem>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Modification time.
    pub modified: DateTime<Utc>,
    /// Web URL.
    pub web_url: String,
    /// Creator.
    pub created_by: Arc<Ident>,
    /// Writable custom columns (internal names) of a generic list; empty = not declared
    /// (any field name accepted).
    pub columns: Vec<String>,
}

/// A SharePoint site (team site, communication site, or a user's personal OneDrive site).
#[derive(Debug, Clone)]
pub struct Site {
    /// `{hostname},{siteCollectionGuid},{webGuid}`.
    pub id: String,
    /// Host name.
    pub hostname: String,
    /// Site collection GUID.
    pub collection_guid: String,
    /// Web GUID.
    pub web_guid: String,
    /// URL name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Web URL.
    pub web_url: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Modification time.
    pub modified: DateTime<Utc>,
    /// A OneDrive's personal site.
    pub personal: bool,
    /// The tenant's root site.
    pub is_root: bool,
    /// Drive ids (document libraries), the default library first.
    pub drive_ids: Vec<String>,
    /// Lists, including the libraries' lists.
    pub lists: Vec<SpList>,
    /// Backing Microsoft 365 group, for team sites.
    pub group_id: Option<String>,
    /// Removed (departed user's OneDrive after retention, deleted site).
    pub removed: bool,
}

/// Every drive and site.
#[derive(Debug, Default)]
pub struct DriveStore {
    drives: HashMap<String, Drive>,
    /// User id → OneDrive id.
    pub user_drive: HashMap<String, String>,
    /// Group id → default library drive id.
    pub group_drive: HashMap<String, String>,
    /// Sites in creation order.
    pub sites: Vec<Site>,
    site_by_id: HashMap<String, usize>,
    /// Tenant host name (`contoso.sharepoint.com`).
    pub hostname: String,
}

impl DriveStore {
    /// An empty store for `hostname`.
    pub fn new(hostname: String) -> Self {
        Self {
            hostname,
            ..Default::default()
        }
    }

    /// Adds a site; returns its index.
    pub fn add_site(&mut self, site: Site) -> usize {
        let idx = self.sites.len();
        self.site_by_id.insert(site.id.to_ascii_lowercase(), idx);
        self.sites.push(site);
        idx
    }

    /// Adds a drive to its site.
    pub fn add_drive(&mut self, drive: Drive) {
        let site = drive.site;
        self.sites[site].drive_ids.push(drive.id.clone());
        self.drives.insert(drive.id.clone(), drive);
    }

    /// Live drive by id.
    pub fn drive(&self, id: &str) -> Option<&Drive> {
        self.drives.get(id).filter(|d| !self.sites[d.site].removed)
    }

    /// Live drive by id, mutable.
    pub fn drive_mut(&mut self, id: &str) -> Option<&mut Drive> {
        let site_removed = |d: &Drive, sites: &[Site]| sites[d.site].removed;
        match self.drives.get_mut(id) {
            Some(d) if !site_removed(d, &self.sites) => Some(d),
            _ => None,
        }
    }

    /// All live drives.
    pub fn drives(&self) -> impl Iterator<Item = &Drive> {
        self.drives.values().filter(|d| !self.sites[d.site].removed)
    }

    /// Live site by id (case-insensitive; also accepts the bare host name for the root site).
    pub fn site(&self, id: &str) -> Option<usize> {
        let lower = id.to_ascii_lowercase();
        let idx = self.site_by_id.get(&lower).copied().or_else(|| {
            if lower == self.hostname || lower == "root" {
                self.sites.iter().position(|s| s.is_root)
            } else {
                None
            }
        })?;
        (!self.sites[idx].removed).then_some(idx)
    }

    /// A user's OneDrive id, if it exists.
    pub fn user_drive_id(&self, user_id: &str) -> Option<&str> {
        let id = self.user_drive.get(user_id)?;
        self.drive(id).map(|d| d.id.as_str())
    }

    /// Removes a user's OneDrive (departure after retention). Returns whether one existed.
    pub fn remove_user_drive(&mut self, user_id: &str) -> bool {
        let Some(id) = self.user_drive.get(user_id) else {
            return false;
        };
        let Some(site) = self.drives.get(id).map(|d| d.site) else {
            return false;
        };
        let was = !self.sites[site].removed;
        self.sites[site].removed = true;
        was
    }

    /// Total item count over live drives (for stats and memory estimates).
    pub fn item_count(&self) -> usize {
        self.drives().map(|d| d.items.len()).sum()
    }
}
