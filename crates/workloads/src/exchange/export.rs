//! Export of an Exchange snapshot to files: EML per message (byte-identical to the MIME Graph
//! served), mboxrd per folder, one iCalendar file for the calendar, one vCard file for contacts,
//! optionally packed into one ZIP.
//!
//! Layout under the target (every component passes through [`names::sanitize_component`], so
//! hostile subjects and folder names never leave the target; renamed ones are reported):
//!
//! ```text
//! <mailbox>/mail/<folder>/<sub folder>/<subject>_<tag>.eml
//! <mailbox>/mbox/<folder>/<sub folder>.mbox
//! <mailbox>/calendar.ics
//! <mailbox>/contacts.vcf
//! ```
//!
//! ```no_run
//! # async fn demo(repo: tenantvault_repo::Repository) -> Result<(), Box<dyn std::error::Error>> {
//! use tenantvault_workloads::exchange::export::{self, ExportOptions};
//! let snap = repo.snapshot("3fa4").await?;
//! let report = export::export(&repo, &snap, std::path::Path::new("/tmp/out"), &ExportOptions::default()).await?;
//! println!("{} messages, {} renamed names", report.messages, report.renamed.len());
//! # Ok(()) }
//! ```

pub mod ics;
pub mod mbox;
pub mod names;
mod text;
pub mod tz;
pub mod vcf;
mod write;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use serde::Serialize;
use serde_json::Value;
use tenantvault_repo::{ItemRecord, Repository, Snapshot};

use super::filter::ItemFilter;
use super::folders::unescape_segment;
use super::layout::{WORKLOAD, attr, kind};
use super::state::MailboxState;
use names::{sanitize_component, short_tag};
use write::Sink;

/// What to write.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    /// Items to export (default: all).
    pub filter: ItemFilter,
    /// One `.eml` per message.
    pub eml: bool,
    /// One mboxrd file per folder.
    pub mbox: bool,
    /// `calendar.ics`.
    pub ics: bool,
    /// `contacts.vcf`.
    pub vcf: bool,
    /// Write one ZIP file at the target path instead of a directory tree.
    pub zip: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            filter: ItemFilter::default(),
            eml: true,
            mbox: true,
            ics: true,
            vcf: true,
            zip: false,
        }
    }
}

/// Errors that stop an export (per-item read failures are listed in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// Not an Exchange snapshot.
    #[error("snapshot {0} is not an Exchange snapshot (workload {1})")]
    NotExchange(String, String),
    /// The snapshot's state is unreadable.
    #[error(transparent)]
    State(#[from] super::state::StateError),
    /// Writing the output failed.
    #[error("writing {path}: {source}")]
    Io {
        /// Path being written.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The target is unusable (a symlink on the way, a file where a directory is needed, …).
    #[error("unsafe target: {0}")]
    Unsafe(String),
}

/// A name that had to change to be a safe file name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    /// As in the mailbox.
    pub original: String,
    /// As written.
    pub written: String,
}

/// An item that could not be exported.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportFailure {
    /// Item id.
    pub item_id: String,
    /// Why.
    pub reason: String,
}

/// What the export wrote.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    /// The directory or ZIP file written.
    pub target: PathBuf,
    /// Mailbox (UPN) of the snapshot.
    pub mailbox: String,
    /// Messages exported.
    pub messages: u64,
    /// EML files written.
    pub eml_files: u64,
    /// mbox files written (relative paths).
    pub mbox_files: Vec<String>,
    /// Events in `calendar.ics`.
    pub events: u64,
    /// Contacts in `contacts.vcf`.
    pub contacts: u64,
    /// Bytes written (before ZIP compression).
    pub bytes: u64,
    /// Names changed to be safe.
    pub renamed: Vec<Renamed>,
    /// Items that failed.
    pub failures: Vec<ExportFailure>,
}

/// Folder paths → safe relative components, unique per original path.
#[derive(Default)]
struct Paths {
    by_path: HashMap<String, Vec<String>>,
    taken: HashMap<Vec<String>, String>,
    renamed: Vec<Renamed>,
    seen: HashSet<String>,
}

impl Paths {
    fn note(&mut self, original: &str, written: &str) {
        if original != written && self.seen.insert(original.to_string()) {
            self.renamed.push(Renamed {
                original: original.to_string(),
                written: written.to_string(),
            });
        }
    }

    fn folder(&mut self, path: &str) -> Vec<String> {
        if let Some(c) = self.by_path.get(path) {
            return c.clone();
        }
        let mut comps: Vec<String> = Vec::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            let name = unescape_segment(seg);
            let safe = sanitize_component(&name);
            self.note(&name, &safe);
            comps.push(safe);
        }
        if comps.is_empty() {
            comps.push("_unfiled".to_string());
        }
        if let Some(other) = self.taken.get(&comps)
            && other != path
        {
            // Two folders with the same safe name: keep them apart.
            let last = comps.last_mut().expect("non-empty");
            *last = format!("{last}_{}", short_tag(path));
        }
        self.taken.insert(comps.clone(), path.to_string());
        self.by_path.insert(path.to_string(), comps.clone());
        comps
    }
}

async fn content(repo: &Repository, rec: &ItemRecord) -> Result<Vec<u8>, tenantvault_repo::Error> {
    let parts: Vec<bytes::Bytes> = repo.content_stream(rec).try_collect().await?;
    Ok(parts.concat())
}

async fn json(repo: &Repository, rec: &ItemRecord) -> Result<Value, String> {
    let raw = repo
        .item_metadata(rec)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no Graph JSON stored".to_string())?;
    serde_json::from_slice(&raw).map_err(|e| format!("stored JSON unreadable: {e}"))
}

/// Export the items of `snap` matching `opts.filter` under `target` (a directory, created if
/// needed; or, with `opts.zip`, the ZIP file to write).
pub async fn export(
    repo: &Repository,
    snap: &Snapshot,
    target: &Path,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let summary = snap.summary();
    if summary.owner.workload != WORKLOAD {
        return Err(ExportError::NotExchange(
            summary.id.0.clone(),
            summary.owner.workload.clone(),
        ));
    }
    let state = MailboxState::from_json(snap.state())?;
    let mb_name = if state.mailbox.upn.is_empty() {
        state.mailbox.id.clone()
    } else {
        state.mailbox.upn.clone()
    };
    let mut sink = Sink::open(target, opts.zip).await?;
    let mut paths = Paths::default();
    let mb_dir = sanitize_component(&mb_name);
    paths.note(&mb_name, &mb_dir);
    let mut report = ExportReport {
        target: target.to_path_buf(),
        mailbox: mb_name.clone(),
        ..ExportReport::default()
    };
    let mut events = Vec::new();
    let mut vcards = String::new();
    let mut mboxes: Vec<String> = Vec::new();
    let mut file_names: HashSet<Vec<String>> = HashSet::new();
    let mut stream = std::pin::pin!(snap.items());
    while let Some(rec) = stream.try_next().await? {
        if !opts.filter.matches(&rec) {
            continue;
        }
        match rec.kind.as_str() {
            kind::MESSAGE if opts.eml || opts.mbox => {
                let mime = match content(repo, &rec).await {
                    Ok(m) => m,
                    Err(e) => {
                        report.failures.push(ExportFailure {
                            item_id: rec.id.clone(),
                            reason: e.to_string(),
                        });
                        continue;
                    }
                };
                let folder = paths.folder(&rec.path);
                if opts.eml {
                    let subject = if rec.name.trim().is_empty() {
                        "(no subject)"
                    } else {
                        rec.name.as_str()
                    };
                    let mut base = sanitize_component(subject);
                    if base.len() > 80 {
                        base = sanitize_component(&base[..base.floor_char_boundary(80)]);
                    }
                    paths.note(subject, &base);
                    let mut rel = vec![mb_dir.clone(), "mail".to_string()];
                    rel.extend(folder.iter().cloned());
                    let mut file = format!("{base}_{}.eml", short_tag(&rec.id));
                    let mut n = 1;
                    while file_names.contains(&[rel.clone(), vec![file.clone()]].concat()) {
                        n += 1;
                        file = format!("{base}_{}_{n}.eml", short_tag(&rec.id));
                    }
                    rel.push(file);
                    file_names.insert(rel.clone());
                    sink.write(&rel, &mime, false).await?;
                    report.eml_files += 1;
                    report.bytes += mime.len() as u64;
                }
                if opts.mbox {
                    let mut rel = vec![mb_dir.clone(), "mbox".to_string()];
                    rel.extend(folder.iter().cloned());
                    let last = rel.pop().expect("folder has a component");
                    rel.push(format!("{last}.mbox"));
                    let key = rel.join("/");
                    let first = !mboxes.contains(&key);
                    if first {
                        mboxes.push(key);
                    }
                    let mut entry = Vec::with_capacity(mime.len() + 128);
                    let sender = rec.attrs.get(attr::FROM).map(String::as_str).unwrap_or("");
                    let date = rec.received.or(rec.created).unwrap_or(summary.time);
                    mbox::append(&mut entry, sender, date, &mime);
                    sink.write(&rel, &entry, !first).await?;
                    report.bytes += entry.len() as u64;
                }
                report.messages += 1;
            }
            kind::EVENT if opts.ics => match json(repo, &rec).await {
                Ok(v) => events.push(v),
                Err(reason) => report.failures.push(ExportFailure {
                    item_id: rec.id.clone(),
                    reason,
                }),
            },
            kind::CONTACT if opts.vcf => match json(repo, &rec).await {
                Ok(v) => {
                    vcards.push_str(&vcf::vcard(&v));
                    report.contacts += 1;
                }
                Err(reason) => report.failures.push(ExportFailure {
                    item_id: rec.id.clone(),
                    reason,
                }),
            },
            _ => {}
        }
    }
    if opts.ics && !events.is_empty() {
        let cal = ics::calendar(&events);
        sink.write(
            &[mb_dir.clone(), "calendar.ics".into()],
            cal.as_bytes(),
            false,
        )
        .await?;
        report.events = events.len() as u64;
        report.bytes += cal.len() as u64;
    }
    if opts.vcf && !vcards.is_empty() {
        sink.write(
            &[mb_dir.clone(), "contacts.vcf".into()],
            vcards.as_bytes(),
            false,
        )
        .await?;
        report.bytes += vcards.len() as u64;
    }
    sink.finish().await?;
    report.mbox_files = mboxes;
    report.renamed = paths.renamed;
    for f in &report.failures {
        tracing::warn!(item = %f.item_id, reason = %f.reason, "export failed");
    }
    Ok(report)
}
