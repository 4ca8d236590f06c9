//! The decisions of an incremental run, as pure functions: what to do with a message a delta
//! round reports, and whether a removal really removes it from the mailbox.

use std::collections::HashMap;

/// What the previous snapshot says about an item.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrevInfo {
    /// `changeKey` of the stored version.
    pub version: Option<String>,
    /// Folder it was in.
    pub folder_id: Option<String>,
    /// Its logical path.
    pub path: String,
    /// Whether it was a draft.
    pub is_draft: bool,
}

/// What a delta upsert of a message leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// Same version, same place: carry the previous record over untouched.
    Keep,
    /// Content unchanged (a non-draft message's MIME cannot change): reuse the previous content
    /// blobs, store the new JSON / path / attributes.
    UpdateMetadata,
    /// New message, or a draft whose content may have changed: download `$value`.
    Download,
}

/// Decide an upsert. `change_key`/`is_draft` are from the delta JSON (None when the update did
/// not carry them), `folder_id`/`path` are where the round found the message.
pub fn decide_upsert(
    prev: Option<&PrevInfo>,
    change_key: Option<&str>,
    is_draft: Option<bool>,
    folder_id: &str,
    path: &str,
) -> Upsert {
    let Some(prev) = prev else {
        return Upsert::Download;
    };
    let same_place = prev.folder_id.as_deref() == Some(folder_id) && prev.path == path;
    let same_version = change_key.is_some() && prev.version.as_deref() == change_key;
    if same_version && same_place {
        return Upsert::Keep;
    }
    if same_version {
        return Upsert::UpdateMetadata;
    }
    // A received (non-draft) message's MIME never changes through Graph: read state, flags,
    // categories, importance and moves only touch MAPI properties kept in the JSON.
    let now_draft = is_draft.unwrap_or(prev.is_draft);
    if !prev.is_draft && !now_draft {
        Upsert::UpdateMetadata
    } else {
        Upsert::Download
    }
}

/// Remembers, for the current run, the folder each item was last placed in by an upsert whose
/// folder differs from the previous snapshot's (moves and new items seen in incremental rounds).
/// Its size is proportional to the change, not to the mailbox.
#[derive(Debug, Default)]
pub struct Placements {
    moved: HashMap<String, String>,
}

impl Placements {
    /// Record that `item_id` was placed in `folder_id` this run (call when the folder differs
    /// from the previous snapshot's or the item is new).
    pub fn placed(&mut self, item_id: &str, folder_id: &str) {
        self.moved
            .insert(item_id.to_string(), folder_id.to_string());
    }

    /// Forget an item (after it was deleted).
    pub fn forget(&mut self, item_id: &str) {
        self.moved.remove(item_id);
    }

    /// Number of remembered placements.
    pub fn len(&self) -> usize {
        self.moved.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.moved.is_empty()
    }

    /// Does a removal of `item_id` reported by folder `folder_id` delete the item?
    ///
    /// * placed this run in another folder → no (it moved there; that folder's round already
    ///   put it, whichever order the folders ran in);
    /// * placed this run in this folder → yes (added then removed);
    /// * otherwise → yes if the previous snapshot had it in this folder (or had no folder for it).
    pub fn removal_deletes(&self, item_id: &str, folder_id: &str, prev: Option<&PrevInfo>) -> bool {
        if let Some(placed) = self.moved.get(item_id) {
            return placed == folder_id;
        }
        match prev {
            None => false,
            Some(p) => p.folder_id.as_deref().is_none_or(|f| f == folder_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prev(version: &str, folder: &str, draft: bool) -> PrevInfo {
        PrevInfo {
            version: Some(version.into()),
            folder_id: Some(folder.into()),
            path: format!("P/{folder}"),
            is_draft: draft,
        }
    }

    #[test]
    fn upserts() {
        let p = prev("v1", "f", false);
        assert_eq!(
            decide_upsert(None, Some("v1"), Some(false), "f", "P/f"),
            Upsert::Download
        );
        assert_eq!(
            decide_upsert(Some(&p), Some("v1"), None, "f", "P/f"),
            Upsert::Keep
        );
        // Renamed folder: same version, new path.
        assert_eq!(
            decide_upsert(Some(&p), Some("v1"), None, "f", "Q/f"),
            Upsert::UpdateMetadata
        );
        // Read/flag change on a received message.
        assert_eq!(
            decide_upsert(Some(&p), Some("v2"), Some(false), "f", "P/f"),
            Upsert::UpdateMetadata
        );
        // Moved.
        assert_eq!(
            decide_upsert(Some(&p), Some("v2"), None, "g", "P/g"),
            Upsert::UpdateMetadata
        );
        // Draft edited.
        let d = prev("v1", "drafts", true);
        assert_eq!(
            decide_upsert(Some(&d), Some("v2"), Some(true), "drafts", "P/drafts"),
            Upsert::Download
        );
        // Draft sent (now not a draft): content may differ.
        assert_eq!(
            decide_upsert(Some(&d), Some("v2"), Some(false), "sent", "P/sent"),
            Upsert::Download
        );
    }

    #[test]
    fn removals_and_moves_in_any_folder_order() {
        let p = prev("v1", "a", false);
        // Move a → b, b processed first.
        let mut pl = Placements::default();
        pl.placed("x", "b");
        assert!(!pl.removal_deletes("x", "a", Some(&p)));
        // Move a → b, a processed first: removal deletes, then b's upsert puts it back.
        let pl = Placements::default();
        assert!(pl.removal_deletes("x", "a", Some(&p)));
        // Plain delete.
        assert!(pl.removal_deletes("x", "a", Some(&p)));
        // Stale removal from a folder it was never in.
        assert!(!pl.removal_deletes("x", "c", Some(&p)));
        // Unknown item.
        assert!(!pl.removal_deletes("y", "a", None));
        // Added and removed in the same run.
        let mut pl = Placements::default();
        pl.placed("n", "a");
        assert!(pl.removal_deletes("n", "a", None));
    }
}
