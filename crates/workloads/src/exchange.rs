//! Exchange Online: incremental-forever backup of mailboxes (mail, calendar, contacts) into the
//! repository, and browsing of what was backed up.
//!
//! # Snapshots
//!
//! One snapshot per mailbox and run: `OwnerRef { workload: "exchange", owner: <Entra user id> }`.
//! The snapshot `state` is a [`MailboxState`] (JSON, documented in [`state`]): the mailbox's
//! UPN / display name / kind, the folder tree, the per-folder messages delta links, the events and
//! contacts delta links, and — once the user is gone from the tenant — a `departed` marker.
//!
//! # Item layout (the contract restore and export build on)
//!
//! | item id | kind | path | name | dates | version | content | metadata | attrs |
//! |---|---|---|---|---|---|---|---|---|
//! | `folder:<folder id>` | `mailFolder` | the folder's own display-name path (`Inbox/Projects`) | display name | – | `changeKey` if served | none | Graph `mailFolder` JSON | `folderId` (= parent folder id), `displayName`, `wellKnownName` |
//! | `msg:<immutable id>` | `message` | path of the folder holding it | subject | received = `receivedDateTime`, created = `createdDateTime`, modified = `lastModifiedDateTime` | `changeKey` | exact MIME bytes from `GET …/messages/{id}/$value` | Graph `message` JSON as served by the delta round (merged with earlier JSON when an update carried only some properties) | `folderId`, `from`, `fromName`, `recipients`, `isRead`, `isDraft`, `hasAttachments`, `internetMessageId` |
//! | `event:<immutable id>` | `event` | `Calendar` | subject | created/modified | `changeKey` | the event's attachments as a JSON array (`GET …/events/{id}/attachments`, each element exactly as served, with `contentBytes`) when `hasAttachments`, else empty | Graph `event` JSON from calendarView delta (occurrences and exceptions are separate events) | `start`, `end`, `type`, and for occurrences/exceptions `seriesMasterId`, `originalStart` |
//! | `event:<immutable id>` of a series master | `event` | `Calendar` | subject | created/modified | `changeKey` | attachments as above | Graph `event` JSON from `GET /users/{id}/events/{masterId}` (carries `recurrence`; calendarView never serves masters) | `start`, `end`, `type` = `seriesMaster` |
//! | `contact:<immutable id>` | `contact` | `Contacts` | display name | created/modified | `changeKey` | none | Graph `contact` JSON | `email` |
//!
//! Paths are display names joined with `/`; a `/` or `%` inside a name is escaped as `%2F` / `%25`
//! (see [`folders`]). Recoverable Items deletions, when the app may read them, appear as the folder
//! `Recoverable Items Deletions` (well-known name `recoverableitemsdeletions`).
//! Ids are requested with `Prefer: IdType="ImmutableId"`, so a message keeps its item id when it
//! moves between folders; the move changes its `path` and `folderId`.
//!
//! # Incremental forever
//!
//! * Every folder is tracked with its own messages delta link. An unchanged mailbox costs one
//!   request per folder (plus one for the folder hierarchy, one for events, one for contacts).
//! * A new or changed message is fetched once. When only read state / flags / categories of a
//!   non-draft message change, its MIME is not downloaded again: the new record reuses the
//!   previous content blobs and carries the new JSON.
//! * A 410 `SyncStateNotFound` on a folder restarts that folder from scratch; messages whose id
//!   and `changeKey` match the previous snapshot are kept without any download, messages only the
//!   previous snapshot had are deleted from the new one.
//! * Series masters: every occurrence or exception stored or removed by the events round names
//!   its master; after the round each such master is fetched once (`GET …/events/{id}`) and kept
//!   without a new download when its `changeKey` is unchanged, or removed when the series is gone
//!   (404). An unchanged calendar names no master and costs no extra request. Restore creates
//!   the master with its recurrence, PATCHes the exceptions onto the matching instances (by
//!   `originalStart`) and deletes the instances the backup saw cancelled; plain occurrences are
//!   not recreated separately.
//! * Deleted users: a run over all mailboxes that finds an owner with Exchange snapshots missing
//!   from the directory writes one more snapshot for it: everything carried over, `departed` set
//!   in the state. Older snapshots stay restorable as always.
//!
//! # Resume
//!
//! Long runs commit a checkpoint (a partial snapshot) every few hundred items or minute; its state
//! holds a `resumeLink` per unfinished folder. The next run starts from the latest snapshot,
//! partial or not, and continues from those links; items already committed are found by
//! `previous()` and not downloaded again.

mod body;
pub mod browse;
mod config;
pub mod decide;
pub mod export;
pub mod filter;
pub mod folders;
mod graph_io;
pub mod index;
pub mod items;
pub mod layout;
mod mailbox;
mod prepare;
mod report;
pub mod restore;
mod run;
pub mod select;
pub mod state;

pub use browse::{MailboxSnapshot, find, mailbox_snapshots, resolve_snapshot};
pub use config::BackupConfig;
pub use filter::{FilterView, ItemFilter};
pub use layout::{MessageFields, WORKLOAD};
pub use report::{BackupReport, ItemFailure, MailboxReport, NoProgress, Progress};
pub use run::{ExchangeError, backup};
pub use select::{DirectoryUser, Plan, Selection};
pub use state::{MailboxInfo, MailboxKind, MailboxState};
