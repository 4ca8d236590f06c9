//! The drive data model: drives, their item trees, versions, permissions and the change
//! sequence that delta queries read.
//!
//! Each drive keeps its items in a `Vec` indexed by [`ItemIdx`]; deleted items stay as
//! tombstones so delta can report them. Every change bumps the drive's sequence number and
//! stamps the changed item (`seq`) and its ancestors (`tree_seq`, Graph reports changed
//! items' parent chain in delta unless `deltaExcludeParent` is sent).

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

use super::content::Content;
use super::names::numbered;
pub use super::names::validate_name;

/// Index of an item inside its drive.
pub type ItemIdx = u32;

/// A user (or app) as shown in `createdBy`/`lastModifiedBy`/`owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    /// Directory object id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Mail / UPN (used for permissions' `loginName`-like fields).
    pub email: String,
}

/// `driveType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveType {
    /// A user's OneDrive for Business.
    Business,
    /// A SharePoint document library.
    DocumentLibrary,
}

impl DriveType {
    /// Graph's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DriveType::Business => "business",
            DriveType::DocumentLibrary => "documentLibrary",
        }
    }
}

/// Errors of drive operations; each maps to one Graph error code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DriveError {
    /// Unknown or deleted item.
    #[error("The resource could not be found.")]
    NotFound,
    /// Name clash with `conflictBehavior=fail`.
    #[error("An item with the same name already exists under the parent")]
    NameExists,
    /// Illegal file name.
    #[error("The provided name contains invalid characters or is reserved: {0}")]
    InvalidName(String),
    /// The operation does not apply to this kind of item.
    #[error("{0}")]
    InvalidRequest(String),
}

impl DriveError {
    /// Graph error code and HTTP status.
    pub fn code_status(&self) -> (&'static str, u16) {
        match self {
            DriveError::NotFound => ("itemNotFound", 404),
            DriveError::NameExists => ("nameAlreadyExists", 409),
            DriveError::InvalidName(_) | DriveError::InvalidRequest(_) => ("invalidRequest", 400),
        }
    }
}

/// What to do when a name is taken (`@microsoft.graph.conflictBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// 409 `nameAlreadyExists`.
    Fail,
    /// Replace the existing file's content (new version).
    Replace,
    /// Pick a free name (`name 1.ext`).
    Rename,
}

impl Conflict {
    /// Parses Graph's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fail" => Some(Conflict::Fail),
            "replace" => Some(Conflict::Replace),
            "rename" => Some(Conflict::Rename),
            _ => None,
        }
    }
}

/// An earlier version of a file.
#[derive(Debug, Clone)]
pub struct Version {
    /// Version label (`"1.0"`, `"2.0"`, …).
    pub label: u32,
    /// Its bytes.
    pub content: Content,
    /// When it was written.
    pub modified: DateTime<Utc>,
    /// Who wrote it.
    pub by: Arc<Ident>,
}

/// A sharing permission.
#[derive(Debug, Clone)]
pub struct Permission {
    /// Permission id.
    pub id: String,
    /// `read`, `write` or `owner`.
    pub roles: Vec<&'static str>,
    /// Granted to this user (direct share).
    pub granted_to: Option<Arc<Ident>>,
    /// Or a sharing link: (`type` view|edit, `scope` anonymous|organization|users).
    pub link: Option<(&'static str, &'static str)>,
}

/// File or folder specifics.
#[derive(Debug, Clone)]
pub enum Kind {
    /// The drive's root folder.
    Root,
    /// A folder.
    Folder,
    /// A file with its current content and earlier versions (oldest first).
    File {
        /// Current content.
        content: Content,
        /// `file.mimeType`.
        mime: &'static str,
        /// Current version label.
        version: u32,
        /// Earlier versions, oldest first.
        history: Vec<Version>,
    },
}

/// One driveItem.
#[derive(Debug, Clone)]
pub struct Item {
    /// Graph id.
    pub id: String,
    /// Name (the root is `root`).
    pub name: String,
    /// Parent folder; `None` for the root.
    pub parent: Option<ItemIdx>,
    /// Children (folders only; includes deleted tombstones, filtered by readers).
    pub children: Vec<ItemIdx>,
    /// File/folder.
    pub kind: Kind,
    /// Service-side creation time.
    pub created: DateTime<Utc>,
    /// Service-side modification time.
    pub modified: DateTime<Utc>,
    /// Client-side timestamps (`fileSystemInfo`).
    pub fs_created: DateTime<Utc>,
    /// Client-side modification time.
    pub fs_modified: DateTime<Utc>,
    /// Creator.
    pub created_by: Arc<Ident>,
    /// Last modifier.
    pub modified_by: Arc<Ident>,
    /// eTag counter: any change.
    pub etag_n: u32,
    /// cTag counter: content changes only.
    pub ctag_n: u32,
    /// Sequence number of the item's own last change.
    pub seq: u64,
    /// Sequence number of the last change in its subtree.
    pub tree_seq: u64,
    /// Deletion time, for tombstones.
    pub deleted: Option<DateTime<Utc>>,
    /// Sharing permissions.
    pub permissions: Vec<Permission>,
    /// Optional description.
    pub description: Option<String>,
    /// `(drive id seed, item number)`: the GUID used in eTag/cTag and sharepointIds is
    /// derived from it on demand (no per-item string).
    pub guid_key: (u64, u64),
}

impl Item {
    /// True for the root and folders.
    pub fn is_folder(&self) -> bool {
        !matches!(self.kind, Kind::File { .. })
    }

    /// Current content of a file.
    pub fn content(&self) -> Option<&Content> {
        match &self.kind {
            Kind::File { content, .. } => Some(content),
            _ => None,
        }
    }

    /// The item's GUID (upper-case, no braces).
    pub fn guid(&self) -> String {
        guid(self.guid_key.0, self.guid_key.1)
    }

    /// `eTag` as ODB/SPO write it.
    pub fn etag(&self) -> String {
        format!("\"{{{}}},{}\"", self.guid(), self.etag_n)
    }

    /// `cTag` as ODB/SPO write it.
    pub fn ctag(&self) -> String {
        format!("\"c:{{{}}},{}\"", self.guid(), self.ctag_n)
    }
}

/// A drive and its items.
#[derive(Debug, Clone)]
pub struct Drive {
    /// `b!…` id.
    pub id: String,
    /// Display name (`OneDrive`, `Documents`, …).
    pub name: String,
    /// Business or documentLibrary.
    pub drive_type: DriveType,
    /// Owner (user or group).
    pub owner: Arc<Ident>,
    /// Index of the site it belongs to.
    pub site: usize,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Web URL.
    pub web_url: String,
    /// Id of the backing list.
    pub list_id: String,
    /// Quota total in bytes.
    pub quota_total: u64,
    /// Items; index 0 is the root.
    pub items: Vec<Item>,
    by_id: HashMap<String, ItemIdx>,
    /// Change counter.
    pub seq: u64,
    /// Bumped to invalidate every delta token of this drive.
    pub token_epoch: u64,
    next_item: u64,
    id_seed: u64,
}

fn item_id(seed: u64, n: u64) -> String {
    format!(
        "01{:016X}{:016X}",
        super::content::mix(seed, n),
        super::content::mix(seed ^ 0xA5A5, n)
    )
}

fn guid(seed: u64, n: u64) -> String {
    let a = super::content::mix(seed, n.wrapping_add(1 << 40));
    let b = super::content::mix(seed, n.wrapping_add(2 << 40));
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

impl Drive {
    /// A drive with only its root folder.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        name: String,
        drive_type: DriveType,
        owner: Arc<Ident>,
        site: usize,
        created: DateTime<Utc>,
        web_url: String,
        id_seed: u64,
    ) -> Self {
        let root = Item {
            id: item_id(id_seed, 0),
            name: "root".into(),
            parent: None,
            children: Vec::new(),
            kind: Kind::Root,
            created,
            modified: created,
            fs_created: created,
            fs_modified: created,
            created_by: owner.clone(),
            modified_by: owner.clone(),
            etag_n: 1,
            ctag_n: 1,
            seq: 1,
            tree_seq: 1,
            deleted: None,
            permissions: vec![Permission {
                id: "aTowIy5mfG1lbWJlcnNoaXA".into(),
                roles: vec!["owner"],
                granted_to: Some(owner.clone()),
                link: None,
            }],
            description: None,
            guid_key: (id_seed, 0),
        };
        let mut by_id = HashMap::new();
        by_id.insert(root.id.clone(), 0);
        Self {
            id,
            name,
            drive_type,
            owner,
            site,
            created,
            web_url,
            list_id: guid(id_seed, u64::MAX).to_ascii_lowercase(),
            quota_total: 1024 * 1024 * 1024 * 1024,
            items: vec![root],
            by_id,
            seq: 1,
            token_epoch: 0,
            next_item: 1,
            id_seed,
        }
    }

    /// The root folder.
    pub const ROOT: ItemIdx = 0;

    /// Item by index.
    pub fn item(&self, idx: ItemIdx) -> &Item {
        &self.items[idx as usize]
    }

    /// Live (not deleted) item by Graph id; `root` is accepted as an alias.
    pub fn find(&self, id: &str) -> Option<ItemIdx> {
        if id == "root" {
            return Some(Self::ROOT);
        }
        self.by_id
            .get(id)
            .copied()
            .filter(|&i| self.item(i).deleted.is_none())
    }

    /// Any item (also tombstones) by Graph id.
    pub fn find_any(&self, id: &str) -> Option<ItemIdx> {
        self.by_id.get(id).copied()
    }

    /// Live children of a folder.
    pub fn live_children(&self, folder: ItemIdx) -> impl Iterator<Item = ItemIdx> + '_ {
        self.item(folder)
            .children
            .iter()
            .copied()
            .filter(|&c| self.item(c).deleted.is_none())
    }

    /// Live child with this name (case-insensitive, as SharePoint).
    pub fn child_by_name(&self, folder: ItemIdx, name: &str) -> Option<ItemIdx> {
        self.live_children(folder)
            .find(|&c| same_name(&self.item(c).name, name))
    }

    /// Resolves a `/`-separated path below `from` (live items only).
    pub fn resolve_path(&self, from: ItemIdx, path: &str) -> Option<ItemIdx> {
        let mut cur = from;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            cur = self.child_by_name(cur, seg)?;
        }
        Some(cur)
    }

    /// Path of the item's folder chain, e.g. `/Documents/Reports` for the root-relative parent path.
    pub fn path_of(&self, idx: ItemIdx) -> String {
        let mut parts = Vec::new();
        let mut cur = idx;
        while let Some(p) = self.item(cur).parent {
            parts.push(self.item(cur).name.as_str());
            cur = p;
        }
        parts.reverse();
        let mut s = String::new();
        for p in parts {
            s.push('/');
            s.push_str(p);
        }
        s
    }

    /// Depth below the root (root = 0).
    pub fn depth(&self, idx: ItemIdx) -> usize {
        let mut d = 0;
        let mut cur = idx;
        while let Some(p) = self.item(cur).parent {
            d += 1;
            cur = p;
        }
        d
    }

    /// Total bytes of live files' current content.
    pub fn used_bytes(&self) -> u64 {
        self.items
            .iter()
            .filter(|i| i.deleted.is_none())
            .filter_map(|i| i.content())
            .map(Content::len)
            .sum()
    }

    fn stamp(&mut self, idx: ItemIdx, content_changed: bool) {
        self.seq += 1;
        let seq = self.seq;
        let it = &mut self.items[idx as usize];
        it.seq = seq;
        it.tree_seq = seq;
        it.etag_n += 1;
        if content_changed {
            it.ctag_n += 1;
        }
        let mut cur = it.parent;
        while let Some(p) = cur {
            let pi = &mut self.items[p as usize];
            pi.tree_seq = seq;
            cur = pi.parent;
        }
    }

    fn check_folder(&self, parent: ItemIdx) -> Result<(), DriveError> {
        let p = self
            .items
            .get(parent as usize)
            .ok_or(DriveError::NotFound)?;
        if p.deleted.is_some() {
            return Err(DriveError::NotFound);
        }
        if !p.is_folder() {
            return Err(DriveError::InvalidRequest(
                "The parent item is not a folder.".into(),
            ));
        }
        Ok(())
    }

    /// Resolves a name clash: `Ok(Some(existing))` when the caller should replace, `Ok(None)`
    /// when `name` (possibly rewritten) is free.
    fn settle_name(
        &self,
        parent: ItemIdx,
        name: &mut String,
        conflict: Conflict,
        for_file: bool,
    ) -> Result<Option<ItemIdx>, DriveError> {
        validate_name(name)?;
        let Some(existing) = self.child_by_name(parent, name) else {
            return Ok(None);
        };
        match conflict {
            Conflict::Fail => Err(DriveError::NameExists),
            Conflict::Replace if for_file && !self.item(existing).is_folder() => Ok(Some(existing)),
            Conflict::Replace => Err(DriveError::NameExists),
            Conflict::Rename => {
                let mut n = 1;
                loop {
                    let cand = numbered(name, n);
                    if self.child_by_name(parent, &cand).is_none() {
                        *name = cand;
                        return Ok(None);
                    }
                    n += 1;
                }
            }
        }
    }

    fn push_item(
        &mut self,
        parent: ItemIdx,
        name: String,
        kind: Kind,
        by: &Arc<Ident>,
        now: DateTime<Utc>,
    ) -> ItemIdx {
        let n = self.next_item;
        self.next_item += 1;
        let item = Item {
            id: item_id(self.id_seed, n),
            name,
            parent: Some(parent),
            children: Vec::new(),
            kind,
            created: now,
            modified: now,
            fs_created: now,
            fs_modified: now,
            created_by: by.clone(),
            modified_by: by.clone(),
            etag_n: 0,
            ctag_n: 0,
            seq: 0,
            tree_seq: 0,
            deleted: None,
            permissions: Vec::new(),
            description: None,
            guid_key: (self.id_seed, n),
        };
        let idx = self.items.len() as ItemIdx;
        self.by_id.insert(item.id.clone(), idx);
        self.items.push(item);
        self.items[parent as usize].children.push(idx);
        self.stamp(idx, true);
        idx
    }

    /// Creates a folder.
    pub fn create_folder(
        &mut self,
        parent: ItemIdx,
        name: &str,
        conflict: Conflict,
        by: &Arc<Ident>,
        now: DateTime<Utc>,
    ) -> Result<ItemIdx, DriveError> {
        self.check_folder(parent)?;
        let mut name = name.to_string();
        self.settle_name(parent, &mut name, conflict, false)?;
        Ok(self.push_item(parent, name, Kind::Folder, by, now))
    }

    /// Creates a file, or with `Conflict::Replace` adds a version to the existing one.
    /// Returns the item and whether it was newly created.
    #[allow(clippy::too_many_arguments)]
    pub fn put_file(
        &mut self,
        parent: ItemIdx,
        name: &str,
        content: Content,
        conflict: Conflict,
        by: &Arc<Ident>,
        now: DateTime<Utc>,
        fs: Option<FsTimes>,
    ) -> Result<(ItemIdx, bool), DriveError> {
        self.check_folder(parent)?;
        let mut name = name.to_string();
        if let Some(existing) = self.settle_name(parent, &mut name, conflict, true)? {
            self.replace_content(existing, content, by, now, fs)?;
            return Ok((existing, false));
        }
        let mime = super::content::mime_for(&name);
        let idx = self.push_item(
            parent,
            name,
            Kind::File {
                content,
                mime,
                version: 1,
                history: Vec::new(),
            },
            by,
            now,
        );
        if let Some(fs) = fs {
            self.apply_fs(idx, fs);
        }
        Ok((idx, true))
    }

    fn apply_fs(&mut self, idx: ItemIdx, fs: FsTimes) {
        let it = &mut self.items[idx as usize];
        if let Some(c) = fs.created {
            it.fs_created = c;
        }
        if let Some(m) = fs.modified {
            it.fs_modified = m;
        }
    }

    /// Writes new content to a file, keeping the old content as a version.
    pub fn replace_content(
        &mut self,
        idx: ItemIdx,
        new: Content,
        by: &Arc<Ident>,
        now: DateTime<Utc>,
        fs: Option<FsTimes>,
    ) -> Result<(), DriveError> {
        let it = self
            .items
            .get_mut(idx as usize)
            .ok_or(DriveError::NotFound)?;
        if it.deleted.is_some() {
            return Err(DriveError::NotFound);
        }
        let (prev_modified, prev_by) = (it.modified, it.modified_by.clone());
        let Kind::File {
            content,
            version,
            history,
            ..
        } = &mut it.kind
        else {
            return Err(DriveError::InvalidRequest(
                "Cannot write content to a folder.".into(),
            ));
        };
        let old = std::mem::replace(content, new);
        history.push(Version {
            label: *version,
            content: old,
            modified: prev_modified,
            by: prev_by,
        });
        *version += 1;
        it.modified = now;
        it.fs_modified = now;
        it.modified_by = by.clone();
        if let Some(fs) = fs {
            self.apply_fs(idx, fs);
        }
        self.stamp(idx, true);
        Ok(())
    }

    /// Renames and/or moves an item.
    #[allow(clippy::too_many_arguments)]
    pub fn update(
        &mut self,
        idx: ItemIdx,
        new_name: Option<&str>,
        new_parent: Option<ItemIdx>,
        fs: Option<FsTimes>,
        description: Option<String>,
        by: &Arc<Ident>,
        now: DateTime<Utc>,
    ) -> Result<(), DriveError> {
        if self
            .items
            .get(idx as usize)
            .is_none_or(|i| i.deleted.is_some())
        {
            return Err(DriveError::NotFound);
        }
        if idx == Self::ROOT && (new_name.is_some() || new_parent.is_some()) {
            return Err(DriveError::InvalidRequest(
                "The root cannot be renamed or moved.".into(),
            ));
        }
        let cur_parent = self.item(idx).parent.unwrap_or(Self::ROOT);
        let target = new_parent.unwrap_or(cur_parent);
        self.check_folder(target)?;
        // A folder cannot move below itself.
        let mut a = Some(target);
        while let Some(x) = a {
            if x == idx {
                return Err(DriveError::InvalidRequest(
                    "Cannot move a folder into itself or one of its descendants.".into(),
                ));
            }
            a = self.item(x).parent;
        }
        let name = new_name.unwrap_or(&self.item(idx).name).to_string();
        validate_name(&name)?;
        if self
            .child_by_name(target, &name)
            .is_some_and(|other| other != idx)
        {
            return Err(DriveError::NameExists);
        }
        if target != cur_parent {
            self.items[cur_parent as usize]
                .children
                .retain(|&c| c != idx);
            self.items[target as usize].children.push(idx);
            // The old parent's subtree changed too.
            self.stamp_tree(cur_parent);
        }
        let it = &mut self.items[idx as usize];
        it.parent = Some(target);
        it.name = name;
        if description.is_some() {
            it.description = description;
        }
        it.modified = now;
        it.modified_by = by.clone();
        if let Some(fs) = fs {
            self.apply_fs(idx, fs);
        }
        self.stamp(idx, false);
        Ok(())
    }

    fn stamp_tree(&mut self, idx: ItemIdx) {
        self.seq += 1;
        let seq = self.seq;
        let mut cur = Some(idx);
        while let Some(p) = cur {
            let pi = &mut self.items[p as usize];
            pi.tree_seq = seq;
            cur = pi.parent;
        }
    }

    /// Deletes an item and (for folders) everything below it.
    pub fn delete(&mut self, idx: ItemIdx, now: DateTime<Utc>) -> Result<usize, DriveError> {
        if idx == Self::ROOT {
            return Err(DriveError::InvalidRequest(
                "The root cannot be deleted.".into(),
            ));
        }
        if self
            .items
            .get(idx as usize)
            .is_none_or(|i| i.deleted.is_some())
        {
            return Err(DriveError::NotFound);
        }
        let mut stack = vec![idx];
        let mut order = Vec::new();
        while let Some(i) = stack.pop() {
            if self.item(i).deleted.is_some() {
                continue;
            }
            order.push(i);
            stack.extend(self.item(i).children.iter().copied());
        }
        for &i in order.iter().rev() {
            self.items[i as usize].deleted = Some(now);
            self.stamp(i, false);
        }
        Ok(order.len())
    }

    /// Empties the recycle bin: deleted items lose their content and versions for good.
    pub fn purge_deleted(&mut self) -> usize {
        let mut n = 0;
        for it in &mut self.items {
            if it.deleted.is_some()
                && let Kind::File {
                    content, history, ..
                } = &mut it.kind
            {
                *content = Content::stored(bytes::Bytes::new());
                history.clear();
                n += 1;
            }
        }
        n
    }

    /// Adds a permission to an item.
    pub fn add_permission(&mut self, idx: ItemIdx, p: Permission) {
        self.items[idx as usize].permissions.push(p);
    }

    /// Number of live items (excluding the root).
    pub fn live_count(&self) -> usize {
        self.items
            .iter()
            .skip(1)
            .filter(|i| i.deleted.is_none())
            .count()
    }
}

/// Client-side timestamps sent with `fileSystemInfo`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsTimes {
    /// `fileSystemInfo.createdDateTime`.
    pub created: Option<DateTime<Utc>>,
    /// `fileSystemInfo.lastModifiedDateTime`.
    pub modified: Option<DateTime<Utc>>,
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;

/// Case-insensitive name equality without allocating (generating a drive of 500,000 files
/// compares every new name with its folder's children; `to_lowercase` per comparison made that
/// take many minutes).
fn same_name(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}
