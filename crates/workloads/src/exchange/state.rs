//! The workload state stored in every Exchange snapshot (`Snapshot::state`): who the mailbox
//! belongs to, the folder tree, and the delta links that make the next run incremental.
//!
//! JSON shape (format 1):
//! ```json
//! {
//!   "format": 1,
//!   "mailbox": {"id": "…", "upn": "ann@contoso.com", "displayName": "Ann", "kind": "user"},
//!   "complete": true,
//!   "foldersDeltaLink": "https://graph…/mailFolders/delta?$deltatoken=…",
//!   "folders": {
//!     "<folder id>": {"displayName": "Inbox", "parentId": "<id>", "path": "Inbox",
//!                     "wellKnown": "inbox", "deltaLink": "…", "resumeLink": null}
//!   },
//!   "events": {"deltaLink": "…", "resumeLink": null, "windowStart": "…", "windowEnd": "…",
//!              "pendingSeries": ["<master id>"]},
//!   "contacts": {"deltaLink": "…", "resumeLink": null},
//!   "departed": null
//! }
//! ```
//! `resumeLink` is set only in checkpoint (partial) snapshots: the Graph page URL from which an
//! interrupted enumeration continues. `deltaLink` is the link of the last *completed* round.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Current state format.
pub const STATE_FORMAT: u32 = 1;

/// Kind of mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum MailboxKind {
    /// A licensed user's mailbox.
    #[default]
    User,
    /// A shared mailbox (an unlicensed, sign-in-disabled user object with a mailbox).
    Shared,
}

/// Who the mailbox is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct MailboxInfo {
    /// Entra user id (the snapshot owner).
    pub id: String,
    /// `userPrincipalName`.
    pub upn: String,
    /// `displayName`.
    #[serde(default)]
    pub display_name: String,
    /// `mail`.
    #[serde(default)]
    pub mail: Option<String>,
    /// User or shared mailbox.
    #[serde(default)]
    pub kind: MailboxKind,
}

/// Per mail folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct FolderState {
    /// `displayName`.
    pub display_name: String,
    /// `parentFolderId` (None for folders whose parent is outside the backed-up tree).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Display-name path from the top of the mailbox, `/`-separated (`Inbox/Projects`).
    pub path: String,
    /// Well-known name when the folder is one (`inbox`, `recoverableitemsdeletions`, …).
    #[serde(default)]
    pub well_known: Option<String>,
    /// Messages delta link of the last completed round.
    #[serde(default)]
    pub delta_link: Option<String>,
    /// Page to continue an interrupted round from (checkpoints only).
    #[serde(default)]
    pub resume_link: Option<String>,
}

/// A delta-tracked collection (events, contacts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct CollectionState {
    /// Delta link of the last completed round.
    #[serde(default)]
    pub delta_link: Option<String>,
    /// Page to continue an interrupted round from (checkpoints only).
    #[serde(default)]
    pub resume_link: Option<String>,
    /// calendarView window start (events only).
    #[serde(default)]
    pub window_start: Option<DateTime<Utc>>,
    /// calendarView window end (events only).
    #[serde(default)]
    pub window_end: Option<DateTime<Utc>>,
    /// Series masters (Graph ids) whose occurrences changed and that are not yet fetched
    /// again (events only; kept in checkpoints so a resumed run still fetches them).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub pending_series: BTreeSet<String>,
}

/// A departed mailbox: the user was deleted from the tenant (or lost its mailbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Departure {
    /// When a backup run first noticed it.
    pub noticed_at: DateTime<Utc>,
    /// `deletedDateTime` from the directory's deleted items, when known.
    #[serde(default)]
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The whole state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailboxState {
    /// [`STATE_FORMAT`].
    pub format: u32,
    /// Whose mailbox.
    pub mailbox: MailboxInfo,
    /// False in checkpoint snapshots of an unfinished run.
    #[serde(default)]
    pub complete: bool,
    /// mailFolders delta link.
    #[serde(default)]
    pub folders_delta_link: Option<String>,
    /// Folders by Graph id.
    #[serde(default)]
    pub folders: BTreeMap<String, FolderState>,
    /// Events (primary calendar's calendarView delta).
    #[serde(default)]
    pub events: CollectionState,
    /// Contacts (default contacts folder delta).
    #[serde(default)]
    pub contacts: CollectionState,
    /// Set once the mailbox's user is gone from the tenant.
    #[serde(default)]
    pub departed: Option<Departure>,
}

/// Errors reading a state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The JSON is not an Exchange mailbox state.
    #[error("snapshot state is not an Exchange mailbox state: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a newer tenantvault.
    #[error("Exchange state format {found} is newer than this build understands ({STATE_FORMAT})")]
    UnsupportedFormat {
        /// The format found.
        found: u32,
    },
}

impl MailboxState {
    /// A fresh state for a mailbox never backed up.
    pub fn new(mailbox: MailboxInfo) -> MailboxState {
        MailboxState {
            format: STATE_FORMAT,
            mailbox,
            complete: false,
            folders_delta_link: None,
            folders: BTreeMap::new(),
            events: CollectionState::default(),
            contacts: CollectionState::default(),
            departed: None,
        }
    }

    /// Parse a snapshot's state JSON.
    pub fn from_json(v: &serde_json::Value) -> Result<MailboxState, StateError> {
        let s: MailboxState = serde_json::from_value(v.clone())?;
        if s.format > STATE_FORMAT {
            return Err(StateError::UnsupportedFormat { found: s.format });
        }
        Ok(s)
    }

    /// Serialize for `BackupSession::commit` / `checkpoint`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("state serializes")
    }

    /// The folder path of a folder id ("" when unknown).
    pub fn folder_path(&self, folder_id: &str) -> &str {
        self.folders
            .get(folder_id)
            .map(|f| f.path.as_str())
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_camel_case() {
        let mut s = MailboxState::new(MailboxInfo {
            id: "u1".into(),
            upn: "ann@x".into(),
            display_name: "Ann".into(),
            mail: Some("ann@x".into()),
            kind: MailboxKind::Shared,
        });
        s.folders.insert(
            "f1".into(),
            FolderState {
                display_name: "Inbox".into(),
                path: "Inbox".into(),
                delta_link: Some("http://d".into()),
                ..Default::default()
            },
        );
        let j = s.to_json();
        assert_eq!(j["mailbox"]["kind"], "shared");
        assert_eq!(j["folders"]["f1"]["deltaLink"], "http://d");
        assert_eq!(MailboxState::from_json(&j).unwrap(), s);
        assert_eq!(s.folder_path("f1"), "Inbox");
    }

    #[test]
    fn newer_format_refused() {
        let mut j = MailboxState::new(MailboxInfo::default()).to_json();
        j["format"] = 99.into();
        assert!(matches!(
            MailboxState::from_json(&j),
            Err(StateError::UnsupportedFormat { found: 99 })
        ));
        assert!(MailboxState::from_json(&serde_json::json!({"x":1})).is_err());
    }
}
