//! Executing a [`RestorePlan`]: folders first (sequentially, so nothing is created twice), then
//! messages, events and contacts with bounded parallelism; every item ends in an [`ItemOutcome`].

use std::collections::{BTreeSet, HashMap, HashSet};

use base64::Engine;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::Value;
use tenantvault_graph::{GraphClient, GraphError, OUTLOOK_SESSION_MIN, UploadTarget};
use tenantvault_repo::{ItemRecord, Repository};

use super::message::{MimeAttachment, create_body, parse_mime};
use super::pim::{EventType, contact_body, event_attachments, event_body, event_type};
use super::series;
use super::target::{FolderResolver, seg};
use super::{ConflictPolicy, ItemOutcome, RestoreError, RestorePlan, RestoreReport, Status};
use crate::exchange::layout::{attr, kind};

/// Attachments whose total raw size stays under this go inside the create request (one request
/// instead of one per attachment). Graph takes 4 MB per request after base64; we stay well
/// below so one create request is never large.
const INLINE_BUDGET: usize = 1024 * 1024;

/// Upload-session chunk: Graph allows up to 4 MB; 6 × 320 KiB keeps each PUT under 2 MiB, the
/// body limit of common proxies (and of the emulator).
pub const UPLOAD_CHUNK: usize = 6 * 320 * 1024;

#[derive(Debug, Deserialize)]
struct Created {
    id: String,
}

/// A failure while restoring one item.
pub(super) struct ItemError {
    pub(super) reason: String,
    pub(super) code: Option<String>,
}

impl From<GraphError> for ItemError {
    fn from(e: GraphError) -> Self {
        ItemError {
            code: e.code().map(str::to_string),
            reason: e.to_string(),
        }
    }
}

impl From<tenantvault_repo::Error> for ItemError {
    fn from(e: tenantvault_repo::Error) -> Self {
        ItemError {
            reason: format!("reading the backup: {e}"),
            code: None,
        }
    }
}

impl ItemError {
    pub(super) fn new(reason: impl Into<String>) -> Self {
        ItemError {
            reason: reason.into(),
            code: None,
        }
    }
}

/// An event's type and its series master id.
type EventInfo = (EventType, Option<String>);

struct Ctx<'a> {
    repo: &'a Repository,
    graph: GraphClient,
    user: String,
    conflict: ConflictPolicy,
}

fn outcome(rec: &ItemRecord, target_path: String) -> ItemOutcome {
    ItemOutcome {
        item_id: rec.id.clone(),
        kind: rec.kind.clone(),
        name: rec.name.clone(),
        source_path: rec.path.clone(),
        target_path,
        status: Status::Restored,
        new_id: None,
        reason: None,
        code: None,
        attachments: 0,
    }
}

fn failed(mut o: ItemOutcome, e: ItemError) -> ItemOutcome {
    o.status = Status::Failed;
    o.reason = Some(e.reason);
    o.code = e.code;
    o
}

async fn content(repo: &Repository, rec: &ItemRecord) -> Result<Vec<u8>, ItemError> {
    let parts: Vec<Bytes> = repo.content_stream(rec).try_collect().await?;
    Ok(parts.concat())
}

async fn metadata(repo: &Repository, rec: &ItemRecord) -> Result<Value, ItemError> {
    let raw = repo
        .item_metadata(rec)
        .await?
        .ok_or_else(|| ItemError::new("the backup holds no Graph JSON for this item"))?;
    serde_json::from_slice(&raw)
        .map_err(|e| ItemError::new(format!("stored Graph JSON unreadable: {e}")))
}

/// Add one attachment to an item (`base` = `users/{u}/messages/{id}` or `…/events/{id}`):
/// a POST under 3 MB, an upload session above.
async fn add_attachment(
    graph: &GraphClient,
    base: &str,
    att: &MimeAttachment,
) -> Result<(), GraphError> {
    if (att.data.len() as u64) < OUTLOOK_SESSION_MIN {
        let _: Value = graph
            .post_json(&format!("{base}/attachments"), &att.attachment_json())
            .await?;
        return Ok(());
    }
    let session = graph
        .create_upload_session(
            &format!("{base}/attachments/createUploadSession"),
            &att.upload_session_json(),
        )
        .await?;
    let mut source = Bytes::from(att.data.clone());
    graph
        .upload_to_session(
            &session,
            UploadTarget::OutlookAttachment,
            &mut source,
            Some(UPLOAD_CHUNK),
        )
        .await?;
    Ok(())
}

/// Best-effort removal of a half-restored item.
async fn discard(graph: &GraphClient, url: &str) {
    if let Err(e) = graph.delete(url).await {
        tracing::warn!(error = %e, "could not remove a partly restored item");
    }
}

async fn restore_message(
    ctx: &Ctx<'_>,
    rec: &ItemRecord,
    folder_id: &str,
    existing: &[String],
) -> Result<(Status, String, usize, Option<String>), ItemError> {
    if !existing.is_empty() && ctx.conflict == ConflictPolicy::Skip {
        return Ok((
            Status::Skipped,
            existing[0].clone(),
            0,
            Some(
                "a message with the same internetMessageId is already in the target folder".into(),
            ),
        ));
    }
    let stored = metadata(ctx.repo, rec).await?;
    let mime = content(ctx.repo, rec).await?;
    let parts = parse_mime(&mime);
    let mut body = create_body(&stored, parts.as_ref());
    let attachments = parts.map(|p| p.attachments).unwrap_or_default();
    let mut inline = Vec::new();
    let mut later = Vec::new();
    let mut budget = INLINE_BUDGET;
    for a in &attachments {
        if a.data.len() <= budget {
            budget -= a.data.len();
            inline.push(a.attachment_json());
        } else {
            later.push(a);
        }
    }
    if !inline.is_empty() {
        body["attachments"] = Value::Array(inline);
    }
    let url = format!("users/{}/mailFolders/{}/messages", ctx.user, seg(folder_id));
    let created: Created = ctx
        .graph
        .request(tenantvault_graph::Method::POST, &url)
        .prefer("IdType=\"ImmutableId\"")
        .json(&body)?
        .send_json()
        .await?;
    let base = format!("users/{}/messages/{}", ctx.user, seg(&created.id));
    for a in later {
        if let Err(e) = add_attachment(&ctx.graph, &base, a).await {
            discard(&ctx.graph, &base).await;
            let mut err = ItemError::from(e);
            err.reason = format!(
                "attachment {:?} ({} bytes): {}",
                a.name,
                a.data.len(),
                err.reason
            );
            return Err(err);
        }
    }
    let mut status = Status::Restored;
    let mut note = None;
    if ctx.conflict == ConflictPolicy::Replace && !existing.is_empty() {
        let mut errors = Vec::new();
        for old in existing {
            if let Err(e) = ctx
                .graph
                .delete(&format!("users/{}/messages/{}", ctx.user, seg(old)))
                .await
            {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            status = Status::Replaced;
        } else {
            note = Some(format!(
                "restored, but the existing copy was not deleted: {}",
                errors.join("; ")
            ));
        }
    }
    Ok((status, created.id, attachments.len(), note))
}

async fn restore_event(
    ctx: &Ctx<'_>,
    rec: &ItemRecord,
    keep_recurrence: bool,
) -> Result<(String, usize), ItemError> {
    let stored = metadata(ctx.repo, rec).await?;
    let atts = event_attachments(&content(ctx.repo, rec).await?)
        .map_err(|e| ItemError::new(format!("stored event attachments unreadable: {e}")))?;
    let body = event_body(&stored, keep_recurrence);
    let created: Created = ctx
        .graph
        .request(
            tenantvault_graph::Method::POST,
            &format!("users/{}/events", ctx.user),
        )
        .prefer("IdType=\"ImmutableId\"")
        .json(&body)?
        .send_json()
        .await?;
    let base = format!("users/{}/events/{}", ctx.user, seg(&created.id));
    for a in &atts {
        let data = a
            .get("contentBytes")
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_default();
        let att = MimeAttachment {
            name: a
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("attachment")
                .to_string(),
            content_type: a
                .get("contentType")
                .and_then(Value::as_str)
                .unwrap_or("application/octet-stream")
                .to_string(),
            data,
            content_id: a
                .get("contentId")
                .and_then(Value::as_str)
                .map(str::to_string),
            is_inline: a.get("isInline").and_then(Value::as_bool).unwrap_or(false),
            item: None,
        };
        if let Err(e) = add_attachment(&ctx.graph, &base, &att).await {
            discard(&ctx.graph, &base).await;
            let mut err = ItemError::from(e);
            err.reason = format!("attachment {:?}: {}", att.name, err.reason);
            return Err(err);
        }
    }
    Ok((created.id, atts.len()))
}

async fn restore_contact(ctx: &Ctx<'_>, rec: &ItemRecord) -> Result<String, ItemError> {
    let stored = metadata(ctx.repo, rec).await?;
    let created: Created = ctx
        .graph
        .request(
            tenantvault_graph::Method::POST,
            &format!("users/{}/contacts", ctx.user),
        )
        .prefer("IdType=\"ImmutableId\"")
        .json(&contact_body(&stored))?
        .send_json()
        .await?;
    Ok(created.id)
}

/// Few messages: one filtered query each (Graph's `$filter` on internetMessageId); many, or a
/// server refusing the filter: one listing of the folder.
async fn existing_in(
    resolver: &FolderResolver,
    folder_id: &str,
    mids: &[String],
) -> Result<HashMap<String, Vec<String>>, GraphError> {
    const FEW: usize = 20;
    if mids.len() <= FEW {
        let mut out = HashMap::new();
        let mut refused = false;
        for mid in mids.iter().filter(|m| !m.is_empty()) {
            match resolver.find_by_message_id(folder_id, mid).await {
                Ok(ids) => {
                    if !ids.is_empty() {
                        out.insert(mid.clone(), ids);
                    }
                }
                Err(e) if e.status() == Some(400) => {
                    refused = true;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if !refused {
            return Ok(out);
        }
    }
    resolver.existing_messages(folder_id).await
}

fn target_path(container: Option<&str>, path: &str) -> String {
    match container {
        Some(c) if path.is_empty() => c.to_string(),
        Some(c) => format!("{c}/{path}"),
        None => path.to_string(),
    }
}

/// Write the plan's items into the target mailbox and report each one.
pub async fn run(
    repo: &Repository,
    graph: &GraphClient,
    plan: &RestorePlan,
) -> Result<RestoreReport, RestoreError> {
    let mailbox = graph.mailbox(&plan.target_mailbox);
    let target_err = |source| RestoreError::Target {
        mailbox: plan.target_mailbox.clone(),
        source,
    };
    let mut resolver = FolderResolver::new(
        mailbox.clone(),
        &plan.target_mailbox,
        &plan.state,
        plan.same_mailbox,
    );
    if let Some(c) = &plan.container {
        resolver.use_container(c).await.map_err(target_err)?;
    }
    let container = plan.container.as_deref();
    let mut outcomes = Vec::new();

    // Folders: every path a folder item or a message needs, parents first.
    let paths: BTreeSet<&str> = plan
        .items
        .iter()
        .filter(|i| i.kind == kind::MAIL_FOLDER || i.kind == kind::MESSAGE)
        .map(|i| i.path.as_str())
        .collect();
    let mut folder_ids: HashMap<String, Result<String, (String, Option<String>)>> = HashMap::new();
    for p in paths {
        let r = resolver.resolve(p).await.map_err(|e| {
            (
                format!("target folder {:?}: {e}", target_path(container, p)),
                e.code().map(str::to_string),
            )
        });
        folder_ids.insert(p.to_string(), r);
    }
    for rec in plan.items.iter().filter(|i| i.kind == kind::MAIL_FOLDER) {
        let o = outcome(rec, target_path(container, &rec.path));
        outcomes.push(match &folder_ids[&rec.path] {
            Ok(id) => ItemOutcome {
                new_id: Some(id.clone()),
                ..o
            },
            Err((reason, code)) => failed(
                o,
                ItemError {
                    reason: reason.clone(),
                    code: code.clone(),
                },
            ),
        });
    }

    // Messages already in the target folders, for conflict detection: nothing in folders this
    // restore created; a filtered query per message when a folder gets few; else one listing.
    let mut wanted: HashMap<String, Vec<String>> = HashMap::new();
    for rec in plan.items.iter().filter(|i| i.kind == kind::MESSAGE) {
        if let Some(Ok(fid)) = folder_ids.get(&rec.path) {
            let mid = rec
                .attrs
                .get(attr::INTERNET_MESSAGE_ID)
                .cloned()
                .unwrap_or_default();
            wanted.entry(fid.clone()).or_default().push(mid);
        }
    }
    let mut existing: HashMap<String, Result<HashMap<String, Vec<String>>, String>> =
        HashMap::new();
    for (fid, mids) in &wanted {
        let r = if resolver.created_here(fid) {
            Ok(HashMap::new())
        } else {
            existing_in(&resolver, fid, mids)
                .await
                .map_err(|e| format!("cannot look into the target folder to detect conflicts: {e}"))
        };
        existing.insert(fid.clone(), r);
    }

    let ctx = Ctx {
        repo,
        graph: mailbox.clone(),
        user: seg(&plan.target_mailbox),
        conflict: plan.conflict,
    };
    let messages = futures::stream::iter(plan.items.iter().filter(|i| i.kind == kind::MESSAGE))
        .map(|rec| {
            let ctx = &ctx;
            let folder = folder_ids.get(&rec.path).cloned();
            let existing = &existing;
            async move {
                let o = outcome(rec, target_path(container, &rec.path));
                let fid = match folder {
                    Some(Ok(fid)) => fid,
                    Some(Err((reason, code))) => return failed(o, ItemError { reason, code }),
                    None => return failed(o, ItemError::new("no target folder")),
                };
                let same = match existing.get(&fid) {
                    Some(Ok(map)) => rec
                        .attrs
                        .get(attr::INTERNET_MESSAGE_ID)
                        .and_then(|mid| map.get(mid))
                        .cloned()
                        .unwrap_or_default(),
                    Some(Err(reason)) => return failed(o, ItemError::new(reason.clone())),
                    None => Vec::new(),
                };
                match restore_message(ctx, rec, &fid, &same).await {
                    Ok((status, id, atts, note)) => ItemOutcome {
                        status,
                        new_id: Some(id),
                        attachments: atts,
                        reason: note,
                        ..o
                    },
                    Err(e) => failed(o, e),
                }
            }
        })
        .buffer_unordered(plan.parallel.max(1))
        .collect::<Vec<_>>()
        .await;
    outcomes.extend(messages);

    // Events: series masters first; their occurrences are then covered by the recurrence.
    let events: Vec<(&ItemRecord, Option<EventInfo>)> = {
        let mut v = Vec::new();
        for rec in plan.items.iter().filter(|i| i.kind == kind::EVENT) {
            let info = match repo.item_metadata(rec).await {
                Ok(Some(raw)) => serde_json::from_slice::<Value>(&raw).ok().map(|j| {
                    (
                        event_type(&j),
                        j.get("seriesMasterId")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    )
                }),
                _ => None,
            };
            v.push((rec, info));
        }
        v
    };
    let mut masters_restored: HashSet<String> = HashSet::new();
    let master_ids: HashSet<String> = events
        .iter()
        .filter(|(_, i)| matches!(i, Some((EventType::SeriesMaster, _))))
        .filter_map(|(rec, _)| crate::exchange::layout::graph_id(&rec.id))
        .map(str::to_string)
        .collect();
    // Occurrences and exceptions of those series, from the whole snapshot.
    let members = if master_ids.is_empty() {
        Ok(HashMap::new())
    } else {
        series::members(repo, &plan.snapshot, &master_ids).await
    };
    let window = plan
        .state
        .events
        .window_start
        .zip(plan.state.events.window_end);
    let mut exception_results: HashMap<String, Result<String, ItemError>> = HashMap::new();
    for (rec, _) in events
        .iter()
        .filter(|(_, i)| matches!(i, Some((EventType::SeriesMaster, _))))
    {
        let o = outcome(rec, "Calendar".into());
        match restore_event(&ctx, rec, true).await {
            Ok((id, n)) => {
                let gid = crate::exchange::layout::graph_id(&rec.id).unwrap_or_default();
                masters_restored.insert(gid.to_string());
                let applied = match &members {
                    Ok(map) => {
                        let list = map.get(gid).map(Vec::as_slice).unwrap_or(&[]);
                        series::apply(&ctx.graph, &ctx.user, &id, list, window).await
                    }
                    Err(e) => Err(ItemError {
                        reason: e.reason.clone(),
                        code: e.code.clone(),
                    }),
                };
                let o = ItemOutcome {
                    new_id: Some(id),
                    attachments: n,
                    ..o
                };
                outcomes.push(match applied {
                    Ok(a) => {
                        let ok = a.exceptions.values().filter(|r| r.is_ok()).count();
                        let note = format!(
                            "series: {ok} of {} exception(s) applied, {} occurrence(s) cancelled",
                            a.exceptions.len(),
                            a.cancelled
                        );
                        exception_results.extend(a.exceptions);
                        ItemOutcome {
                            reason: Some(note),
                            ..o
                        }
                    }
                    Err(mut e) => {
                        e.reason = format!(
                            "series created, but its exceptions and cancellations were not applied: {}",
                            e.reason
                        );
                        failed(o, e)
                    }
                });
            }
            Err(e) => outcomes.push(failed(o, e)),
        }
    }
    let others = futures::stream::iter(
        events
            .iter()
            .filter(|(_, i)| !matches!(i, Some((EventType::SeriesMaster, _)))),
    )
    .map(|(rec, info)| {
        let ctx = &ctx;
        let masters = &masters_restored;
        let exception_results = &exception_results;
        async move {
            let o = outcome(rec, "Calendar".into());
            if let Some((t, Some(master))) = info
                && matches!(t, EventType::Occurrence | EventType::Exception)
                && masters.contains(master)
            {
                if *t == EventType::Occurrence {
                    return ItemOutcome {
                        status: Status::Skipped,
                        reason: Some(
                            "occurrence of a restored series (recreated by its recurrence)".into(),
                        ),
                        ..o
                    };
                }
                return match exception_results.get(&rec.id) {
                    Some(Ok(instance)) => ItemOutcome {
                        new_id: Some(instance.clone()),
                        reason: Some("exception applied to the restored series".into()),
                        ..o
                    },
                    Some(Err(e)) => failed(
                        o,
                        ItemError {
                            reason: e.reason.clone(),
                            code: e.code.clone(),
                        },
                    ),
                    None => failed(
                        o,
                        ItemError::new("exception of a restored series that was not applied to it"),
                    ),
                };
            }
            match restore_event(ctx, rec, false).await {
                Ok((id, n)) => ItemOutcome {
                    new_id: Some(id),
                    attachments: n,
                    ..o
                },
                Err(e) => failed(o, e),
            }
        }
    })
    .buffer_unordered(plan.parallel.max(1))
    .collect::<Vec<_>>()
    .await;
    outcomes.extend(others);

    let contacts = futures::stream::iter(plan.items.iter().filter(|i| i.kind == kind::CONTACT))
        .map(|rec| {
            let ctx = &ctx;
            async move {
                let o = outcome(rec, "Contacts".into());
                match restore_contact(ctx, rec).await {
                    Ok(id) => ItemOutcome {
                        new_id: Some(id),
                        ..o
                    },
                    Err(e) => failed(o, e),
                }
            }
        })
        .buffer_unordered(plan.parallel.max(1))
        .collect::<Vec<_>>()
        .await;
    outcomes.extend(contacts);

    outcomes.sort_by(|a, b| a.item_id.cmp(&b.item_id));
    for o in outcomes.iter().filter(|o| o.status == Status::Failed) {
        tracing::warn!(item = %o.item_id, reason = o.reason.as_deref().unwrap_or(""), "restore failed");
    }
    Ok(RestoreReport {
        snapshot: plan.snapshot.id().0.clone(),
        source_mailbox: plan.source.upn.clone(),
        target_mailbox: plan.target_mailbox.clone(),
        container: plan.container.clone(),
        folders_created: resolver.created.clone(),
        items: outcomes,
    })
}
