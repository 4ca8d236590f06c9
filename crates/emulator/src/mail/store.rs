//! Mailbox state: folders, generated message ranges, and an overlay of mutations with a change
//! log per folder. Memory is proportional to folders and mutations, not to messages.

use super::generate::{FolderRole, GenCtx, Person, generate};
use super::spec::MessageSpec;
use crate::config::GeneratorConfig;
use crate::model::names::FOLDER_NAMES;
use crate::model::tenant::{Directory, UserKind};
use crate::rng::rng_for;
use chrono::{DateTime, Utc};
use parking_lot::{Mutex, RwLock};
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;

/// Identifies a message inside one mailbox: generated `(origin folder << 32) | index`, or
/// created `1 << 63 | n`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct MsgKey(pub u64);

impl MsgKey {
    const CREATED: u64 = 1 << 63;
    /// A generated message.
    pub fn generated(folder: u32, index: u32) -> Self {
        Self(((folder as u64) << 32) | index as u64)
    }
    /// A created message.
    pub fn created(n: u32) -> Self {
        Self(Self::CREATED | n as u64)
    }
    /// `Some(n)` for created messages.
    pub fn created_index(self) -> Option<usize> {
        (self.0 & Self::CREATED != 0).then_some((self.0 & 0xFFFF_FFFF) as usize)
    }
    /// `(origin folder, index)` for generated messages.
    pub fn origin(self) -> Option<(u32, u32)> {
        (self.0 & Self::CREATED == 0).then_some(((self.0 >> 32) as u32, self.0 as u32))
    }
}

/// Well-known folders in creation order: (name, display name, role, hidden, share of mail).
const WELL_KNOWN: &[(&str, &str, FolderRole, bool, u32)] = &[
    (
        "msgfolderroot",
        "Top of Information Store",
        FolderRole::Incoming,
        true,
        0,
    ),
    ("inbox", "Inbox", FolderRole::Incoming, false, 45),
    ("sentitems", "Sent Items", FolderRole::Sent, false, 20),
    ("drafts", "Drafts", FolderRole::Drafts, false, 2),
    (
        "deleteditems",
        "Deleted Items",
        FolderRole::Incoming,
        false,
        5,
    ),
    ("junkemail", "Junk Email", FolderRole::Incoming, false, 3),
    ("archive", "Archive", FolderRole::Incoming, false, 8),
    ("outbox", "Outbox", FolderRole::Sent, false, 0),
    (
        "conversationhistory",
        "Conversation History",
        FolderRole::Incoming,
        false,
        0,
    ),
    (
        "recoverableitemsdeletions",
        "Deletions",
        FolderRole::Incoming,
        true,
        2,
    ),
];

/// Folder index of a well-known name.
pub fn well_known_index(name: &str) -> Option<u32> {
    WELL_KNOWN
        .iter()
        .position(|w| w.0.eq_ignore_ascii_case(name))
        .map(|i| i as u32)
}

/// Index of msgfolderroot.
pub const ROOT: u32 = 0;
/// Index of Inbox.
pub const INBOX: u32 = 1;
/// Index of Drafts.
pub const DRAFTS: u32 = 3;
/// Index of Deleted Items.
pub const DELETED_ITEMS: u32 = 4;
/// Index of Archive.
pub const ARCHIVE: u32 = 6;
/// Index of Recoverable Items / Deletions.
pub const RECOVERABLE: u32 = 9;

/// A mail folder.
#[derive(Debug, Clone)]
pub struct Folder {
    /// Display name.
    pub name: String,
    /// Parent folder index (`None` for msgfolderroot and recoverable items).
    pub parent: Option<u32>,
    /// Well-known name.
    pub well_known: Option<&'static str>,
    /// Hidden (not listed, not in mailFolders delta).
    pub hidden: bool,
    /// Generated messages originating here (`0..generated`).
    pub generated: u32,
    /// Content role.
    pub role: FolderRole,
    /// Deleted folder.
    pub deleted: bool,
    /// Messages here that did not originate here (append-only; presence via the overlay).
    pub extras: Vec<MsgKey>,
    /// Change log `(seq, message)`.
    pub log: Vec<(u64, MsgKey)>,
    /// Bumped on rename/move (changeKey).
    pub version: u32,
}

/// Mutable state of one message.
#[derive(Debug, Clone, Default)]
pub struct Overlay {
    /// Current folder if different from the origin.
    pub folder: Option<u32>,
    /// Permanently deleted (purged).
    pub purged: bool,
    /// Read state override.
    pub is_read: Option<bool>,
    /// Flag override.
    pub flag: Option<String>,
    /// Categories override.
    pub categories: Option<Vec<String>>,
    /// Importance override.
    pub importance: Option<String>,
    /// Subject override (drafts).
    pub subject: Option<String>,
    /// Number of changes (changeKey).
    pub version: u32,
    /// Number of folder moves (REST ids change on move).
    pub moves: u32,
    /// Last modification.
    pub modified: Option<DateTime<Utc>>,
    /// Seq when it arrived in its current folder.
    pub arrived: u64,
    /// Attachments added through the API (after the generated ones).
    pub added_attachments: Vec<super::spec::AttSpec>,
}

/// A message created through the API (restore) or loaded from disk.
#[derive(Debug, Clone)]
pub struct Created {
    /// Content.
    pub spec: MessageSpec,
    /// Original MIME when created from MIME.
    pub raw: Option<Arc<[u8]>>,
    /// Creation time.
    pub created: DateTime<Utc>,
}

/// One mailbox.
#[derive(Debug)]
pub struct Mailbox {
    /// Owner's user index.
    pub user: u32,
    /// Folders by index.
    pub folders: Vec<Folder>,
    /// Change sequence.
    pub seq: u64,
    /// Folder change log `(seq, folder)`.
    pub folder_log: Vec<(u64, u32)>,
    /// Message overlays.
    pub overlays: HashMap<MsgKey, Overlay>,
    /// Created messages.
    pub created: Vec<Created>,
    /// Delta tokens whose round started before this seq are expired.
    pub token_floor: u64,
    /// Calendar and contacts state.
    pub pim: super::pim::PimState,
}

impl Mailbox {
    /// Folder index holding `key` now, or `None` if purged.
    pub fn location(&self, key: MsgKey) -> Option<u32> {
        let o = self.overlays.get(&key);
        if o.is_some_and(|o| o.purged) {
            return None;
        }
        match (o.and_then(|o| o.folder), key.origin()) {
            (Some(f), _) => Some(f),
            (None, Some((f, _))) => Some(f),
            (None, None) => None,
        }
    }

    /// Next change sequence number.
    pub fn bump(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Messages currently in `folder`, in stable enumeration order.
    pub fn folder_keys(&self, folder: u32) -> Vec<MsgKey> {
        let f = &self.folders[folder as usize];
        let mut out = Vec::with_capacity(f.generated as usize + f.extras.len());
        for i in 0..f.generated {
            let k = MsgKey::generated(folder, i);
            if self.location(k) == Some(folder) {
                out.push(k);
            }
        }
        for k in &f.extras {
            if self.location(*k) == Some(folder) {
                out.push(*k);
            }
        }
        out
    }

    /// Record a change of `key` in `folders`.
    pub fn log_change(&mut self, key: MsgKey, folders: &[u32], now: DateTime<Utc>) {
        let seq = self.bump();
        for f in folders {
            if let Some(folder) = self.folders.get_mut(*f as usize) {
                folder.log.push((seq, key));
            }
        }
        let o = self.overlays.entry(key).or_default();
        o.version += 1;
        o.modified = Some(now);
    }

    /// Move `key` to `target` (logs both folders; bumps the move counter).
    pub fn move_to(&mut self, key: MsgKey, target: u32, now: DateTime<Utc>) -> Option<u32> {
        let from = self.location(key)?;
        if from == target {
            return Some(from);
        }
        let origin = key.origin().map(|(f, _)| f);
        {
            let seq_next = self.seq + 1;
            let o = self.overlays.entry(key).or_default();
            o.folder = if origin == Some(target) {
                None
            } else {
                Some(target)
            };
            o.moves += 1;
            o.arrived = seq_next;
        }
        if origin != Some(target) && !self.folders[target as usize].extras.contains(&key) {
            self.folders[target as usize].extras.push(key);
        }
        self.log_change(key, &[from, target], now);
        Some(target)
    }

    /// Purge `key` permanently.
    pub fn purge(&mut self, key: MsgKey, now: DateTime<Utc>) {
        if let Some(from) = self.location(key) {
            self.overlays.entry(key).or_default().purged = true;
            self.log_change(key, &[from], now);
        }
    }

    /// Record a folder change.
    pub fn log_folder(&mut self, folder: u32) {
        let seq = self.bump();
        self.folder_log.push((seq, folder));
        if let Some(f) = self.folders.get_mut(folder as usize) {
            f.version += 1;
        }
    }
}

/// Everything the store needs to know about a mailbox owner.
#[derive(Debug, Clone)]
pub struct Owner {
    /// Person.
    pub person: Person,
    /// Has a mailbox at start.
    pub has_mailbox: bool,
    /// Shared mailbox.
    pub shared: bool,
}

/// All mailboxes of the tenant (built lazily per mailbox).
#[derive(Debug)]
pub struct MailStore {
    /// Seed.
    pub seed: u64,
    /// Knobs.
    pub knobs: GeneratorConfig,
    /// People by user index.
    pub people: Arc<Vec<Person>>,
    /// Owners by user index.
    pub owners: Vec<Owner>,
    boxes: RwLock<HashMap<u32, Arc<Mutex<Mailbox>>>>,
    /// Mailboxes built by the loader (not generated).
    pub(crate) preloaded: Mutex<HashMap<u32, Mailbox>>,
}

impl MailStore {
    /// A store for `dir`'s users.
    pub fn new(seed: u64, knobs: GeneratorConfig, dir: &Directory) -> Self {
        let people: Vec<Person> = dir
            .users
            .iter()
            .map(|u| Person {
                name: u.display_name.clone(),
                address: u.mail.clone().unwrap_or_else(|| u.upn.clone()),
            })
            .collect();
        let owners = dir
            .users
            .iter()
            .zip(people.iter())
            .map(|(u, p)| Owner {
                person: p.clone(),
                has_mailbox: u.mailbox_enabled(),
                shared: u.kind == UserKind::Shared,
            })
            .collect();
        Self {
            seed,
            knobs,
            people: Arc::new(people),
            owners,
            boxes: RwLock::new(HashMap::new()),
            preloaded: Mutex::new(HashMap::new()),
        }
    }

    /// The mailbox of user `idx` (built on first use).
    pub fn mailbox(&self, idx: u32) -> Arc<Mutex<Mailbox>> {
        if let Some(b) = self.boxes.read().get(&idx) {
            return b.clone();
        }
        let built = self
            .preloaded
            .lock()
            .remove(&idx)
            .unwrap_or_else(|| self.build(idx));
        self.boxes
            .write()
            .entry(idx)
            .or_insert_with(|| Arc::new(Mutex::new(built)))
            .clone()
    }

    /// Number of mailboxes materialised so far.
    pub fn materialised(&self) -> usize {
        self.boxes.read().len()
    }

    /// Hook when simulated time jumps: departed users' mailboxes disappear when their retention
    /// runs out (token TTLs are checked on use).
    pub fn on_clock_advanced(&self, state: &crate::state::AppState) {
        super::scenarios::apply_departures(state);
    }

    /// The folder skeleton with message counts for user `idx`.
    pub fn build(&self, idx: u32) -> Mailbox {
        let mut rng = rng_for(self.seed, "mailbox", &[idx as u64]);
        let owner = &self.owners[idx as usize];
        let mean = self.knobs.messages_per_mailbox as f64;
        let total = if owner.has_mailbox {
            (mean * rng.gen_range(0.5..1.5)).round() as u32
        } else {
            0
        };
        let mut folders: Vec<Folder> = WELL_KNOWN
            .iter()
            .enumerate()
            .map(|(i, (wk, name, role, hidden, share))| Folder {
                name: name.to_string(),
                parent: if i == ROOT as usize || i == RECOVERABLE as usize {
                    None
                } else {
                    Some(ROOT)
                },
                well_known: Some(wk),
                hidden: *hidden,
                generated: if owner.shared && *wk != "inbox" {
                    0
                } else {
                    total * share / 100
                },
                role: *role,
                deleted: false,
                extras: vec![],
                log: vec![],
                version: 0,
            })
            .collect();
        if owner.shared {
            folders[INBOX as usize].generated = total * 85 / 100;
        }
        let user_folders = if owner.shared {
            0
        } else {
            self.knobs.user_folders
        };
        let per = (total * 15 / 100).checked_div(user_folders).unwrap_or(0);
        for k in 0..user_folders {
            let name = FOLDER_NAMES[(k as usize + idx as usize) % FOLDER_NAMES.len()].to_string();
            // Every third user folder nests under the previous user folder (two levels).
            let parent = if k % 3 == 2 && folders.len() > WELL_KNOWN.len() {
                folders.len() as u32 - 1
            } else if k % 2 == 0 {
                INBOX
            } else {
                ARCHIVE
            };
            folders.push(Folder {
                name,
                parent: Some(parent),
                well_known: None,
                hidden: false,
                generated: per,
                role: FolderRole::Incoming,
                deleted: false,
                extras: vec![],
                log: vec![],
                version: 0,
            });
        }
        Mailbox {
            user: idx,
            folders,
            seq: 1,
            folder_log: vec![],
            overlays: HashMap::new(),
            created: vec![],
            token_floor: 0,
            pim: super::pim::PimState::default(),
        }
    }

    /// Content of `key` (generated or created), before overlay.
    pub fn spec(&self, mb: &Mailbox, key: MsgKey) -> Option<MessageSpec> {
        let mut spec = self.base_spec(mb, key)?;
        if let Some(o) = mb.overlays.get(&key) {
            spec.attachments.extend(o.added_attachments.iter().cloned());
        }
        Some(spec)
    }

    fn base_spec(&self, mb: &Mailbox, key: MsgKey) -> Option<MessageSpec> {
        if let Some(n) = key.created_index() {
            return mb.created.get(n).map(|c| c.spec.clone());
        }
        let (folder, index) = key.origin()?;
        let f = mb.folders.get(folder as usize)?;
        if index >= f.generated {
            return None;
        }
        let ctx = GenCtx {
            seed: self.seed,
            user: mb.user,
            owner: &self.owners[mb.user as usize].person,
            people: &self.people,
            folder,
            role: f.role,
            count: f.generated,
            attachment_rate: self.knobs.attachment_rate,
            attachment_reuse: self.knobs.attachment_reuse,
        };
        Some(generate(&ctx, index))
    }

    /// Raw MIME kept for messages created from MIME.
    pub fn raw(&self, mb: &Mailbox, key: MsgKey) -> Option<Arc<[u8]>> {
        key.created_index()
            .and_then(|n| mb.created.get(n))
            .and_then(|c| c.raw.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> MailStore {
        let dir = Directory::generate(3, 4, 1);
        MailStore::new(
            3,
            GeneratorConfig {
                messages_per_mailbox: 50,
                ..Default::default()
            },
            &dir,
        )
    }

    #[test]
    fn moves_and_purges_update_locations_and_logs() {
        let s = store();
        let mb = s.mailbox(0);
        let mut mb = mb.lock();
        let inbox = mb.folder_keys(INBOX);
        assert!(!inbox.is_empty());
        let k = inbox[0];
        let now = Utc::now();
        mb.move_to(k, ARCHIVE, now);
        assert_eq!(mb.location(k), Some(ARCHIVE));
        assert!(!mb.folder_keys(INBOX).contains(&k));
        assert!(mb.folder_keys(ARCHIVE).contains(&k));
        mb.move_to(k, INBOX, now);
        assert!(mb.folder_keys(INBOX).contains(&k));
        assert!(!mb.folder_keys(ARCHIVE).contains(&k));
        mb.purge(k, now);
        assert_eq!(mb.location(k), None);
        assert!(mb.folders[INBOX as usize].log.len() >= 3);
    }

    #[test]
    fn generation_is_deterministic() {
        let a = store();
        let b = store();
        let ma = a.mailbox(1);
        let mb_ = b.mailbox(1);
        let (ma, mb_) = (ma.lock(), mb_.lock());
        let ka = ma.folder_keys(INBOX);
        assert_eq!(ka, mb_.folder_keys(INBOX));
        for k in ka.iter().take(5) {
            let x = super::super::mime::render(&a.spec(&ma, *k).expect("spec"));
            let y = super::super::mime::render(&b.spec(&mb_, *k).expect("spec"));
            assert_eq!(x, y);
        }
    }
}
