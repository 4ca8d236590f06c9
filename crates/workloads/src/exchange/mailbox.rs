//! One mailbox's backup run: open a session on the latest snapshot (complete or checkpoint),
//! sync the folder tree, run a delta round per folder, then events and contacts, checkpointing
//! as it goes, and commit.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use serde_json::value::RawValue;
use tenantvault_graph::{GraphClient, GraphError};
use tenantvault_repo::{
    BackupMode, BackupOptions, BackupSession, OwnerRef, ParentSelect, Repository,
};

use super::config::BackupConfig;
use super::decide::Placements;
use super::folders::{RECOVERABLE_ITEMS as RECOVERABLE, recompute_paths};
use super::graph_io::{self, enc};
use super::items::{folder_meta, prev_info};
use super::layout::{self, WORKLOAD, attr, kind};
use super::prepare::{Collection, PrepareCtx, Step, StepKind, describe};
use super::report::{ItemFailure, MailboxReport, Progress};
use super::state::{FolderState, MailboxInfo, MailboxState};

mod series;

/// Why a mailbox run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    /// Graph refused or failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The repository failed (fatal for the mailbox).
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
}

pub(crate) struct MailboxRun<'a> {
    cfg: &'a BackupConfig,
    ctx: PrepareCtx,
    session: BackupSession,
    state: MailboxState,
    prev_state: Option<MailboxState>,
    placements: Placements,
    report: MailboxReport,
    progress: &'a dyn Progress,
    items_since_checkpoint: u64,
    last_checkpoint: Instant,
    current_page: Option<Arc<str>>,
    /// The running round re-enumerates a collection the parent holds (its resume point is the
    /// old delta link, so a resumed run enumerates again and still finds what disappeared).
    reset_mode: bool,
    /// Items deleted in this run (a later put of the same id is a move, not a removal).
    deleted_now: HashSet<String>,
}

/// Back up one mailbox. Never panics on Graph or repository errors: they end up in the report.
pub(crate) async fn backup_mailbox(
    repo: &Repository,
    graph: &GraphClient,
    cfg: &BackupConfig,
    mailbox: MailboxInfo,
    progress: &dyn Progress,
) -> MailboxReport {
    let started = Instant::now();
    progress.mailbox_started(&mailbox);
    let mut report = match run(repo, graph, cfg, mailbox.clone(), progress).await {
        Ok(r) => r,
        Err((mut r, e)) => {
            tracing::error!(mailbox = %mailbox.upn, "mailbox backup failed: {e}");
            r.error = Some(match &e {
                RoundError::Graph(g) => describe(g),
                RoundError::Repo(r) => r.to_string(),
            });
            r
        }
    };
    report.mailbox = mailbox;
    report.elapsed = started.elapsed();
    progress.mailbox_finished(&report);
    report
}

type RunResult = Result<MailboxReport, (MailboxReport, RoundError)>;

async fn run(
    repo: &Repository,
    graph: &GraphClient,
    cfg: &BackupConfig,
    mailbox: MailboxInfo,
    progress: &dyn Progress,
) -> RunResult {
    let fail = |e: RoundError| (MailboxReport::default(), e);
    let session = repo
        .begin_backup(
            OwnerRef::new(WORKLOAD, mailbox.id.clone()),
            BackupOptions {
                parent: ParentSelect::Latest,
                mode: BackupMode::Incremental,
                ..BackupOptions::default()
            },
        )
        .await
        .map_err(|e| fail(e.into()))?;
    // Delta lists a folder's messages in no id order: keep more of the parent's lists decoded
    // (as drive backups do), or each lookup in a big folder decodes a whole item list.
    if let Some(p) = session.parent() {
        p.set_list_cache_bytes(tenantvault_repo::RANDOM_LOOKUP_CACHE_BYTES);
    }
    let parent = session.parent().cloned().map(Arc::new);
    let prev_state = parent.as_ref().and_then(|p| {
        MailboxState::from_json(p.state())
            .map_err(|e| tracing::warn!(mailbox = %mailbox.upn, "ignoring previous state: {e}"))
            .ok()
    });
    let mut state = prev_state
        .clone()
        .unwrap_or_else(|| MailboxState::new(mailbox.clone()));
    state.mailbox = mailbox.clone();
    state.departed = None;
    state.complete = false;
    let report = MailboxReport {
        resumed: parent.as_ref().is_some_and(|p| !p.summary().complete),
        ..MailboxReport::default()
    };
    let mut run = MailboxRun {
        cfg,
        ctx: PrepareCtx {
            graph: graph.mailbox(&mailbox.id),
            repo: repo.clone(),
            parent,
            user_id: mailbox.id.clone(),
            spool_threshold: cfg.spool_threshold,
        },
        session,
        state,
        prev_state,
        placements: Placements::default(),
        report,
        progress,
        items_since_checkpoint: 0,
        last_checkpoint: Instant::now(),
        current_page: None,
        reset_mode: false,
        deleted_now: HashSet::new(),
    };
    match run.body().await {
        Ok(()) => {}
        Err(e) => return Err((run.report, e)),
    }
    run.state.complete = true;
    let MailboxRun {
        session,
        state,
        mut report,
        ..
    } = run;
    match session.commit(state.to_json()).await {
        Ok(summary) => {
            crate::detect::after_backup(repo, &summary.id.0).await;
            report.snapshot = Some(summary.id.0);
            Ok(report)
        }
        Err(e) => Err((report, e.into())),
    }
}

impl MailboxRun<'_> {
    fn user_path(&self) -> String {
        format!("users/{}", enc(&self.ctx.user_id))
    }

    async fn body(&mut self) -> Result<(), RoundError> {
        self.sync_folders().await?;
        self.report.folders = self.state.folders.len() as u64;
        let folder_ids: Vec<String> = self.state.folders.keys().cloned().collect();
        for id in folder_ids {
            let path = self.state.folder_path(&id).to_string();
            let coll = Collection::Folder {
                id: id.clone(),
                path,
            };
            self.collection(coll).await?;
        }
        if self.cfg.events {
            self.collection(Collection::Events).await?;
        }
        if self.cfg.contacts {
            self.collection(Collection::Contacts).await?;
        }
        Ok(())
    }

    fn fail_item(&mut self, item_id: &str, reason: String) {
        self.session.record_failure(item_id, &reason);
        self.report.failures.push(ItemFailure {
            item_id: item_id.to_string(),
            reason,
        });
    }

    /// Run one collection's round, handling an expired token and per-collection failures.
    async fn collection(&mut self, coll: Collection) -> Result<(), RoundError> {
        let links = self.links(&coll);
        // Whether the parent may hold items of this collection: it was enumerated before.
        let known_before = match (&coll, &self.prev_state) {
            (_, None) => false,
            (Collection::Folder { id, .. }, Some(p)) => p
                .folders
                .get(id)
                .is_some_and(|f| f.delta_link.is_some() || f.resume_link.is_some()),
            (Collection::Events, Some(p)) => {
                p.events.delta_link.is_some() || p.events.resume_link.is_some()
            }
            (Collection::Contacts, Some(p)) => {
                p.contacts.delta_link.is_some() || p.contacts.resume_link.is_some()
            }
        };
        let fresh_url = self.initial_url(&coll);
        let (mut url, mut fresh) = match links {
            (Some(resume), _) => (resume, false),
            (None, Some(delta)) => (delta, false),
            (None, None) => (fresh_url.clone(), true),
        };
        let mut reset = false;
        loop {
            // A fresh enumeration of a collection the previous snapshot already holds must
            // also find what disappeared: remember every id it reports.
            let mut seen = (fresh && known_before && self.ctx.parent.is_some()).then(HashSet::new);
            self.reset_mode = seen.is_some();
            self.current_page = None;
            let result = self.round(&coll, &url, seen.as_mut()).await;
            self.reset_mode = false;
            match result {
                Ok(delta_link) => {
                    let recheck = seen.is_some();
                    if let Some(seen) = seen {
                        self.delete_unseen(&coll, &seen).await?;
                    }
                    self.set_links(&coll, Some(delta_link), None);
                    if coll == Collection::Events {
                        self.sync_series(recheck).await?;
                    }
                    return Ok(());
                }
                Err(RoundError::Graph(e)) if e.is_delta_reset() && !reset => {
                    tracing::info!(mailbox = %self.state.mailbox.upn, "{}: delta state expired, enumerating again", coll.label());
                    self.report.delta_resets += 1;
                    reset = true;
                    fresh = true;
                    url = fresh_url.clone();
                    self.current_page = None;
                }
                Err(RoundError::Graph(e)) => {
                    // Keep what was applied; the next run continues from the last page reached.
                    let resume = self.current_page.take().map(|p| p.to_string());
                    if resume.is_some() && seen.is_none() {
                        let delta = self.links(&coll).1;
                        self.set_links(&coll, delta, resume);
                    }
                    let id = match &coll {
                        Collection::Folder { id, .. } => layout::folder_item_id(id),
                        Collection::Events => "calendar".to_string(),
                        Collection::Contacts => "contacts".to_string(),
                    };
                    self.fail_item(&id, format!("{}: {}", coll.label(), describe(&e)));
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn initial_url(&self, coll: &Collection) -> String {
        match coll {
            Collection::Folder { id, .. } => {
                format!(
                    "{}/mailFolders/{}/messages/delta",
                    self.user_path(),
                    enc(id)
                )
            }
            Collection::Events => {
                let now = chrono::Utc::now();
                let start = self
                    .state
                    .events
                    .window_start
                    .unwrap_or(now - chrono::Duration::days(self.cfg.event_window_past_days));
                let end = self
                    .state
                    .events
                    .window_end
                    .unwrap_or(now + chrono::Duration::days(self.cfg.event_window_future_days));
                format!(
                    "{}/calendarView/delta?startDateTime={}&endDateTime={}",
                    self.user_path(),
                    start.format("%Y-%m-%dT%H:%M:%SZ"),
                    end.format("%Y-%m-%dT%H:%M:%SZ")
                )
            }
            Collection::Contacts => format!(
                "{}/contactFolders/contacts/contacts/delta",
                self.user_path()
            ),
        }
    }

    fn links(&self, coll: &Collection) -> (Option<String>, Option<String>) {
        match coll {
            Collection::Folder { id, .. } => self
                .state
                .folders
                .get(id)
                .map(|f| (f.resume_link.clone(), f.delta_link.clone()))
                .unwrap_or_default(),
            Collection::Events => (
                self.state.events.resume_link.clone(),
                self.state.events.delta_link.clone(),
            ),
            Collection::Contacts => (
                self.state.contacts.resume_link.clone(),
                self.state.contacts.delta_link.clone(),
            ),
        }
    }

    fn set_links(&mut self, coll: &Collection, delta: Option<String>, resume: Option<String>) {
        match coll {
            Collection::Folder { id, .. } => {
                if let Some(f) = self.state.folders.get_mut(id) {
                    f.delta_link = delta;
                    f.resume_link = resume;
                }
            }
            Collection::Events => {
                if self.state.events.window_start.is_none() {
                    let now = chrono::Utc::now();
                    self.state.events.window_start =
                        Some(now - chrono::Duration::days(self.cfg.event_window_past_days));
                    self.state.events.window_end =
                        Some(now + chrono::Duration::days(self.cfg.event_window_future_days));
                }
                self.state.events.delta_link = delta;
                self.state.events.resume_link = resume;
            }
            Collection::Contacts => {
                self.state.contacts.delta_link = delta;
                self.state.contacts.resume_link = resume;
            }
        }
    }

    /// One delta round from `url` to its deltaLink: pages are fetched as the pipeline needs
    /// them, entries are prepared (looked up, downloaded) `fetch_concurrency` at a time, and
    /// applied to the session in order.
    async fn round(
        &mut self,
        coll: &Collection,
        url: &str,
        mut seen: Option<&mut HashSet<String>>,
    ) -> Result<String, RoundError> {
        let delta_out: Arc<Mutex<Option<String>>> = Arc::default();
        let graph = self.ctx.graph.clone();
        let page_size = self.cfg.page_size;
        let out = delta_out.clone();
        let pages = futures::stream::try_unfold(Some(url.to_string()), move |next| {
            let graph = graph.clone();
            let out = out.clone();
            async move {
                let Some(url) = next else {
                    return Ok::<_, GraphError>(None);
                };
                let page = graph_io::get_page(&graph, &url, page_size).await?;
                if page.next_link.is_none() {
                    *out.lock() = page.delta_link.clone();
                }
                Ok(Some(((Arc::<str>::from(url), page.items), page.next_link)))
            }
        });
        let entries = pages
            .map_ok(|(page, items)| {
                futures::stream::iter(items.into_iter().map(move |raw| Ok((page.clone(), raw))))
            })
            .try_flatten();
        let ctx = self.ctx.clone();
        let steps = entries
            .map(|entry: Result<(Arc<str>, Box<RawValue>), GraphError>| {
                let ctx = ctx.clone();
                let coll = coll.clone();
                async move {
                    let (page, raw) = entry?;
                    let kind = ctx.prepare(&coll, &raw).await;
                    Ok::<_, GraphError>(Step { page, kind })
                }
            })
            .buffered(self.cfg.fetch_concurrency.max(1));
        futures::pin_mut!(steps);
        while let Some(step) = steps.next().await {
            let step = step?;
            self.apply(coll, step, seen.as_deref_mut()).await?;
        }
        let link = delta_out.lock().take();
        link.ok_or_else(|| {
            RoundError::Graph(GraphError::Corrupt {
                url: url.to_string(),
                detail: "delta round ended without @odata.deltaLink".into(),
            })
        })
    }

    async fn apply(
        &mut self,
        coll: &Collection,
        step: Step,
        seen: Option<&mut HashSet<String>>,
    ) -> Result<(), RoundError> {
        self.current_page = Some(step.page);
        let folder_id = match coll {
            Collection::Folder { id, .. } => Some(id.as_str()),
            _ => None,
        };
        let mut stored = false;
        let put_id = match &step.kind {
            StepKind::Put { meta, .. } | StepKind::Reuse { meta, .. } => Some(meta.id.clone()),
            _ => None,
        };
        if let Some(id) = put_id
            && self.deleted_now.remove(&id)
        {
            self.report.items_deleted -= 1;
        }
        match step.kind {
            StepKind::Put { meta, body, moved } => {
                let id = meta.id.clone();
                let bytes = body.len();
                let kind = meta.kind.clone();
                if let Some(m) = meta.attrs.get(attr::SERIES_MASTER_ID) {
                    self.state.events.pending_series.insert(m.clone());
                }
                self.session.put_item(meta, body.into_reader()).await?;
                if let (true, Some(f)) = (moved, folder_id) {
                    self.placements.placed(&id, f);
                }
                match kind.as_str() {
                    kind::MESSAGE => self.report.messages_downloaded += 1,
                    kind::EVENT => self.report.events += 1,
                    kind::CONTACT => self.report.contacts += 1,
                    _ => {}
                }
                self.report.bytes_downloaded += bytes;
                self.progress.items(1, bytes);
                if let Some(s) = seen {
                    s.insert(id);
                }
                stored = true;
            }
            StepKind::Reuse { meta, prev, moved } => {
                let id = meta.id.clone();
                // The new JSON with the previous content blobs: nothing downloaded or re-read.
                self.session.put_item_reusing(meta, &prev).await?;
                if let (true, Some(f)) = (moved, folder_id) {
                    self.placements.placed(&id, f);
                }
                self.report.messages_updated += 1;
                self.progress.items(1, 0);
                if let Some(s) = seen {
                    s.insert(id);
                }
                stored = true;
            }
            StepKind::Keep { item_id } => {
                if let Some(s) = seen {
                    s.insert(item_id);
                }
            }
            StepKind::Removed { item_id } => self.removal(&item_id, folder_id).await?,
            StepKind::Failed { item_id, reason } => self.fail_item(&item_id, reason),
            StepKind::Skip => {}
        }
        if stored {
            self.items_since_checkpoint += 1;
            if self.items_since_checkpoint >= self.cfg.checkpoint_items
                || self.last_checkpoint.elapsed() >= self.cfg.checkpoint_interval
            {
                self.checkpoint(coll).await?;
            }
        }
        Ok(())
    }

    async fn removal(&mut self, item_id: &str, folder_id: Option<&str>) -> Result<(), RoundError> {
        let prev = match &self.ctx.parent {
            Some(p) => p.item(item_id).await?,
            None => None,
        };
        if let Some(m) = prev
            .as_ref()
            .and_then(|p| p.attrs.get(attr::SERIES_MASTER_ID))
        {
            self.state.events.pending_series.insert(m.clone());
        }
        let deletes = match folder_id {
            Some(f) => {
                self.placements
                    .removal_deletes(item_id, f, prev.as_ref().map(prev_info).as_ref())
            }
            None => prev.is_some(),
        };
        if deletes {
            self.session.delete_item(item_id).await?;
            self.placements.forget(item_id);
            self.report.items_deleted += 1;
            self.deleted_now.insert(item_id.to_string());
        }
        Ok(())
    }

    /// After a fresh enumeration: whatever the previous snapshot had in this collection and the
    /// enumeration did not report is gone.
    async fn delete_unseen(
        &mut self,
        coll: &Collection,
        seen: &HashSet<String>,
    ) -> Result<(), RoundError> {
        let Some(parent) = self.ctx.parent.clone() else {
            return Ok(());
        };
        let (want_kind, folder_id) = match coll {
            Collection::Folder { id, .. } => (kind::MESSAGE, Some(id.as_str())),
            Collection::Events => (kind::EVENT, None),
            Collection::Contacts => (kind::CONTACT, None),
        };
        let items = parent.items();
        futures::pin_mut!(items);
        while let Some(rec) = items.try_next().await? {
            if rec.kind != want_kind || seen.contains(&rec.id) {
                continue;
            }
            // Series masters are not in calendarView; `sync_series` decides about them.
            if rec.attrs.get(attr::EVENT_TYPE).map(String::as_str) == Some(series::SERIES_MASTER) {
                continue;
            }
            if let Some(f) = folder_id
                && rec.attrs.get(attr::FOLDER_ID).map(String::as_str) != Some(f)
            {
                continue;
            }
            self.removal(&rec.id, folder_id).await?;
        }
        Ok(())
    }

    async fn checkpoint(&mut self, coll: &Collection) -> Result<(), RoundError> {
        let mut st = self.state.clone();
        st.complete = false;
        let resume = self.current_page.as_ref().map(|p| p.to_string());
        match coll {
            // Keep the old links: a resumed run enumerates again (keeping what is stored).
            _ if self.reset_mode => {}
            Collection::Folder { id, .. } => {
                if let Some(f) = st.folders.get_mut(id) {
                    f.resume_link = resume;
                }
            }
            Collection::Events => st.events.resume_link = resume,
            Collection::Contacts => st.contacts.resume_link = resume,
        }
        let id = self.session.checkpoint(st.to_json()).await?;
        tracing::info!(mailbox = %self.state.mailbox.upn, checkpoint = %id, "checkpoint committed");
        self.report.checkpoints += 1;
        self.items_since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Sync the folder hierarchy (mailFolders delta), store folder items, and re-path or delete
    /// the messages of renamed, moved or deleted folders.
    async fn sync_folders(&mut self) -> Result<(), RoundError> {
        let fresh_url = format!("{}/mailFolders/delta", self.user_path());
        let (mut url, mut fresh) = match &self.state.folders_delta_link {
            Some(l) => (l.clone(), false),
            None => (fresh_url.clone(), true),
        };
        let (upserts, removed, link) = loop {
            match self.folder_pages(&url).await {
                Ok(r) => break r,
                Err(e) if e.is_delta_reset() && !fresh => {
                    self.report.delta_resets += 1;
                    fresh = true;
                    url = fresh_url.clone();
                }
                Err(e) => return Err(e.into()),
            }
        };
        let old = self.state.folders.clone();
        let mut folders: BTreeMap<String, FolderState> = if fresh {
            // A full enumeration lists every folder; keep only the ones we probe separately.
            old.iter()
                .filter(|(_, f)| f.well_known.as_deref() == Some(RECOVERABLE))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            old.clone()
        };
        for id in &removed {
            folders.remove(id);
        }
        let mut upserted: Vec<(String, Value, Vec<u8>)> = Vec::new();
        for raw in upserts {
            let v: Value = serde_json::from_str(raw.get()).map_err(|e| GraphError::Corrupt {
                url: url.clone(),
                detail: format!("malformed mailFolder: {e}"),
            })?;
            let Some(id) = v.get("id").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            let entry = folders.entry(id.clone()).or_default();
            if let Some(name) = v.get("displayName").and_then(Value::as_str) {
                entry.display_name = name.to_string();
            }
            entry.parent_id = v
                .get("parentFolderId")
                .and_then(Value::as_str)
                .map(str::to_string);
            upserted.push((id, v, raw.get().as_bytes().to_vec()));
        }
        if self.cfg.recoverable_items
            && !folders
                .values()
                .any(|f| f.well_known.as_deref() == Some(RECOVERABLE))
        {
            self.probe_recoverable(&mut folders, &mut upserted).await;
        }
        // Parents outside the tree (the mailbox root) end the path; keep them out of the map.
        let changed = recompute_paths(&mut folders);
        let gone: BTreeSet<String> = old
            .keys()
            .filter(|k| !folders.contains_key(*k))
            .cloned()
            .collect();
        let upserted_ids: BTreeSet<String> = upserted.iter().map(|(id, ..)| id.clone()).collect();
        for (id, v, raw) in upserted {
            let f = &folders[&id];
            let meta = folder_meta(&id, &v, raw, &f.path, f.well_known.as_deref());
            self.session.put_item(meta, &[][..]).await?;
        }
        for id in &gone {
            self.session
                .delete_item(&layout::folder_item_id(id))
                .await?;
        }
        let repath: BTreeSet<String> = changed
            .iter()
            .filter(|id| old.contains_key(*id))
            .cloned()
            .collect();
        if (!gone.is_empty() || !repath.is_empty())
            && let Some(parent) = self.ctx.parent.clone()
        {
            let items = parent.items();
            futures::pin_mut!(items);
            while let Some(mut rec) = items.try_next().await? {
                match rec.kind.as_str() {
                    kind::MESSAGE => {
                        let Some(fid) = rec.attrs.get(attr::FOLDER_ID).cloned() else {
                            continue;
                        };
                        if gone.contains(&fid) {
                            self.session.delete_item(&rec.id).await?;
                            self.report.items_deleted += 1;
                            self.deleted_now.insert(rec.id.clone());
                        } else if repath.contains(&fid) {
                            rec.path = folders[&fid].path.clone();
                            self.session.keep_item(rec).await?;
                            self.report.messages_updated += 1;
                        }
                    }
                    kind::MAIL_FOLDER => {
                        let fid = layout::graph_id(&rec.id).unwrap_or_default().to_string();
                        if repath.contains(&fid) && !upserted_ids.contains(&fid) {
                            rec.path = folders[&fid].path.clone();
                            self.session.keep_item(rec).await?;
                        }
                    }
                    _ => {}
                }
            }
        }
        self.state.folders = folders;
        self.state.folders_delta_link = Some(link);
        Ok(())
    }

    async fn folder_pages(
        &self,
        first: &str,
    ) -> Result<(Vec<Box<RawValue>>, Vec<String>, String), GraphError> {
        let mut upserts = Vec::new();
        let mut removed = Vec::new();
        let mut url = first.to_string();
        loop {
            let page = graph_io::get_page(&self.ctx.graph, &url, self.cfg.page_size).await?;
            for raw in page.items {
                let v: Value =
                    serde_json::from_str(raw.get()).map_err(|e| GraphError::Corrupt {
                        url: url.clone(),
                        detail: format!("malformed mailFolder: {e}"),
                    })?;
                if v.get("@removed").is_some() {
                    if let Some(id) = v.get("id").and_then(Value::as_str) {
                        removed.push(id.to_string());
                    }
                } else {
                    upserts.push(raw);
                }
            }
            match (page.next_link, page.delta_link) {
                (Some(next), _) => url = next,
                (None, Some(delta)) => return Ok((upserts, removed, delta)),
                (None, None) => {
                    return Err(GraphError::Corrupt {
                        url,
                        detail: "mailFolders delta ended without @odata.deltaLink".into(),
                    });
                }
            }
        }
    }

    /// Add the Recoverable Items deletions folder when the app may read it.
    async fn probe_recoverable(
        &mut self,
        folders: &mut BTreeMap<String, FolderState>,
        upserted: &mut Vec<(String, Value, Vec<u8>)>,
    ) {
        let url = format!("{}/mailFolders/{RECOVERABLE}", self.user_path());
        match graph_io::get_object(&self.ctx.graph, &url).await {
            Ok(bytes) => {
                let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
                    return;
                };
                let Some(id) = v.get("id").and_then(Value::as_str).map(str::to_string) else {
                    return;
                };
                let name = v
                    .get("displayName")
                    .and_then(Value::as_str)
                    .unwrap_or("Recoverable Items Deletions");
                folders.insert(
                    id.clone(),
                    FolderState {
                        display_name: name.to_string(),
                        // Its parent (the hidden Recoverable Items root) is not in the tree.
                        parent_id: None,
                        well_known: Some(RECOVERABLE.to_string()),
                        ..FolderState::default()
                    },
                );
                upserted.push((id, v, bytes.to_vec()));
            }
            Err(e) => {
                tracing::info!(mailbox = %self.state.mailbox.upn, "recoverable items not readable, skipped: {e}");
            }
        }
    }
}
