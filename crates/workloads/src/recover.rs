//! One-command recovery after an attack: every item the attack changed or deleted goes back to
//! its last clean version; items created or changed legitimately after the clean point and not
//! touched by the attack are left alone.
//!
//! The owner's complete snapshots after the clean point are walked step by step. A step whose
//! stored statistics were suspect or showed ransomware indicators is an *attack step*; in it,
//! an item counts as attacked when its content went from structured to random-looking, when an
//! extension was appended or a known ransomware extension given, or — when deletions were part
//! of the verdict (library wipe, mailbox purge) — when it was deleted or moved to the trash.
//! Its last clean version is its record in the snapshot just before the first attack step that
//! hit it. An attacked item changed again after the attack (someone already repaired it) is left
//! alone and reported.
//!
//! Drives: each file is uploaded back to its path (in place, replacing; the encrypted copy the
//! attacker renamed is deleted into the recycle bin) or below a separate folder. Mailboxes:
//! messages are restored into their original folders or a separate folder. Work is parallel
//! (bounded; the Graph client honours throttling) and resumable: every finished item is
//! journalled (`recover/<owner key id>/<run id>/…`) and skipped by a re-run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use tenantvault_graph::GraphClient;
use tenantvault_repo::{ItemRecord, Repository, Snapshot, SnapshotFilter, SnapshotSummary};

use crate::detect::entropy::looks_encrypted;
use crate::detect::names::{appended_extension, extension, is_known_ransom_extension};
use crate::detect::score::has_indicators;
use crate::detect::stats::sample;
use crate::detect::{self, DetectError, StatsDoc};
use crate::drive::layout::full_path;

/// Prefix of the recovery journal.
pub const RECOVER_PREFIX: &str = "recover/";

/// Where the clean state is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanPoint {
    /// The clean snapshot of the owner's latest open alert.
    Alert,
    /// The last complete snapshot taken before this time.
    Before(DateTime<Utc>),
    /// This snapshot (id or unique prefix).
    Snapshot(String),
}

/// What to recover.
#[derive(Debug, Clone)]
pub struct RecoverRequest {
    /// Snapshot owner (drive id, user id) or a UPN / site name found in snapshot states.
    pub owner: String,
    /// Clean point.
    pub clean: CleanPoint,
    /// Restore below this folder instead of in place.
    pub target_folder: Option<String>,
    /// Items restored at once.
    pub parallel: usize,
    /// Clock (folder names).
    pub now: DateTime<Utc>,
}

/// How the attack touched an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Damage {
    /// Content rewritten (encrypted) and/or renamed by the attack.
    Encrypted,
    /// Deleted (or, for mail, moved to the trash or purged) by the attack.
    Deleted,
}

/// One item to put back.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverItem {
    /// Item id (`f:…`, `msg:…`).
    pub item_id: String,
    /// Path of the clean version (`Folder/name.docx`, or the message's folder).
    pub path: String,
    /// Name of the clean version.
    pub name: String,
    /// What happened.
    pub damage: Damage,
    /// Snapshot holding the clean version.
    pub clean_snapshot: String,
    /// The item's name now, if it still exists under another name (`a.docx.locked`).
    pub current_name: Option<String>,
}

/// The plan for one owner and workload.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverPlan {
    /// `drive` / `exchange`.
    pub workload: String,
    /// Snapshot owner.
    pub owner: String,
    /// The clean point.
    pub clean_snapshot: String,
    /// Its time.
    pub clean_time: DateTime<Utc>,
    /// The newest snapshot (the state recovered from).
    pub latest_snapshot: String,
    /// Snapshots judged to be attack steps.
    pub attack_snapshots: Vec<String>,
    /// Items to put back.
    pub items: Vec<RecoverItem>,
    /// Attacked items changed again after the attack (left alone).
    pub changed_since: Vec<String>,
    /// Items changed after the clean point but not by the attack (left alone).
    pub left_alone: u64,
    /// Attacked items whose clean version is back in place in the newest snapshot (an earlier
    /// recovery, or the user, put them back): not restored again.
    pub already_present: u64,
}

/// The outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoverReport {
    /// The plan executed.
    pub plan: RecoverPlan,
    /// Items restored in this run.
    pub restored: u64,
    /// Items a previous, interrupted run had already restored.
    pub already_done: u64,
    /// Items that failed, with the reason.
    pub failed: Vec<(String, String)>,
}

/// Errors that stop recovery before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// Repository failure.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// Detection data failure.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// Bad request (unknown owner, no clean point …).
    #[error("{0}")]
    Invalid(String),
    /// Drive restore failed as a whole.
    #[error("drive restore: {0}")]
    Drive(String),
    /// Mailbox restore failed as a whole.
    #[error("mailbox restore: {0}")]
    Mailbox(String),
}

fn owner_matches(s: &Snapshot, who: &str) -> bool {
    let st = s.state();
    let fields = [
        st.pointer("/drive/userPrincipalName"),
        st.pointer("/drive/userId"),
        st.pointer("/drive/siteName"),
        st.pointer("/mailbox/userPrincipalName"),
        st.pointer("/mailbox/upn"),
        st.pointer("/mailbox/id"),
    ];
    fields
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str())
        .any(|v| v.eq_ignore_ascii_case(who))
}

/// The (workload, owner) pairs `who` names.
async fn owners(repo: &Repository, who: &str) -> Result<Vec<(String, String)>, RecoverError> {
    let all = repo.list_snapshots(SnapshotFilter::default()).await?;
    let mut latest: BTreeMap<(String, String), &SnapshotSummary> = BTreeMap::new();
    for s in &all {
        latest.insert((s.owner.workload.clone(), s.owner.owner.clone()), s);
    }
    let exact: Vec<(String, String)> = latest.keys().filter(|k| k.1 == who).cloned().collect();
    if !exact.is_empty() {
        return Ok(exact);
    }
    let mut out = Vec::new();
    for (k, s) in &latest {
        if matches!(k.0.as_str(), "drive" | "exchange")
            && owner_matches(&repo.snapshot(&s.id.0).await?, who)
        {
            out.push(k.clone());
        }
    }
    if out.is_empty() {
        return Err(RecoverError::Invalid(format!(
            "no drive or mailbox snapshots of owner {who:?}"
        )));
    }
    Ok(out)
}

type Items = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<ItemRecord, tenantvault_repo::Error>> + Send>,
>;

fn relevant(r: &ItemRecord) -> bool {
    r.kind == "file" || r.kind == "message"
}

async fn next(s: &mut Items) -> Result<Option<ItemRecord>, tenantvault_repo::Error> {
    while let Some(r) = s.next().await {
        let r = r?;
        if relevant(&r) {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// The changes of one step, each as (old, new) records.
async fn step_changes(
    prev: &Snapshot,
    next_snap: &Snapshot,
) -> Result<Vec<(Option<ItemRecord>, Option<ItemRecord>)>, tenantvault_repo::Error> {
    let mut a: Items = Box::pin(prev.items());
    let mut b: Items = Box::pin(next_snap.items());
    let (mut pa, mut pb) = (next(&mut a).await?, next(&mut b).await?);
    let mut out = Vec::new();
    loop {
        let ord = match (&pa, &pb) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some(x), Some(y)) => x.id.cmp(&y.id),
        };
        match ord {
            std::cmp::Ordering::Less => {
                out.push((pa.take(), None));
                pa = next(&mut a).await?;
            }
            std::cmp::Ordering::Greater => {
                out.push((None, pb.take()));
                pb = next(&mut b).await?;
            }
            std::cmp::Ordering::Equal => {
                let (x, y) = (pa.take().expect("x"), pb.take().expect("y"));
                if x.version != y.version
                    || x.path != y.path
                    || x.name != y.name
                    || x.size != y.size
                {
                    out.push((Some(x), Some(y)));
                }
                pa = next(&mut a).await?;
                pb = next(&mut b).await?;
            }
        }
    }
    Ok(out)
}

fn is_trash(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.starts_with("deleted items") || p.starts_with("recoverable items")
}

/// Builds the recovery plan(s) for `req.owner` (one per workload the name matches).
pub async fn plan(
    repo: &Repository,
    req: &RecoverRequest,
) -> Result<Vec<RecoverPlan>, RecoverError> {
    let mut plans = Vec::new();
    for (workload, owner) in owners(repo, &req.owner).await? {
        plans.push(plan_one(repo, &workload, &owner, &req.clean).await?);
    }
    Ok(plans)
}

async fn plan_one(
    repo: &Repository,
    workload: &str,
    owner: &str,
    clean: &CleanPoint,
) -> Result<RecoverPlan, RecoverError> {
    let chain = repo
        .list_snapshots(SnapshotFilter {
            workload: Some(workload.to_string()),
            owner: Some(owner.to_string()),
            include_partial: false,
        })
        .await?;
    let clean_id = match clean {
        CleanPoint::Snapshot(id) => repo.resolve_snapshot(id).await?.0,
        CleanPoint::Before(t) => chain
            .iter()
            .rfind(|s| s.time < *t)
            .map(|s| s.id.0.clone())
            .ok_or_else(|| RecoverError::Invalid(format!("no snapshot of {owner} before {t}")))?,
        CleanPoint::Alert => detect::list_alerts(repo)
            .await?
            .into_iter()
            .rfind(|a| a.is_open() && a.owner == owner && a.workload == workload)
            .and_then(|a| a.clean_snapshot)
            .ok_or_else(|| {
                RecoverError::Invalid(format!(
                    "no open alert with a clean snapshot for {owner}: give --before or --snapshot"
                ))
            })?,
    };
    let pos = chain
        .iter()
        .position(|s| s.id.0 == clean_id)
        .ok_or_else(|| {
            RecoverError::Invalid(format!(
                "snapshot {clean_id} is not a complete {workload} snapshot of {owner}"
            ))
        })?;
    let steps = &chain[pos..];
    let stats: BTreeMap<String, StatsDoc> = detect::history(repo, &chain[pos].owner)
        .await?
        .into_iter()
        .map(|d| (d.stats.snapshot.clone(), d))
        .collect();
    let alerted: Vec<String> = detect::list_alerts(repo)
        .await?
        .into_iter()
        .filter(|a| a.owner == owner)
        .map(|a| a.snapshot)
        .collect();
    let mut plan = RecoverPlan {
        workload: workload.to_string(),
        owner: owner.to_string(),
        clean_snapshot: clean_id.clone(),
        clean_time: chain[pos].time,
        latest_snapshot: steps.last().map(|s| s.id.0.clone()).unwrap_or_default(),
        attack_snapshots: Vec::new(),
        items: Vec::new(),
        changed_since: Vec::new(),
        left_alone: 0,
        already_present: 0,
    };
    // Per attacked item: (the clean record, its snapshot, damage, record right after the attack).
    let mut hit: BTreeMap<String, (ItemRecord, String, Damage, Option<ItemRecord>)> =
        BTreeMap::new();
    let mut touched_legitimately: std::collections::BTreeSet<String> = Default::default();
    for w in steps.windows(2) {
        let (p, n) = (
            repo.snapshot(&w[0].id.0).await?,
            repo.snapshot(&w[1].id.0).await?,
        );
        let doc = stats.get(&w[1].id.0);
        let attack = alerted.contains(&w[1].id.0)
            || doc.is_some_and(|d| d.verdict.suspect || has_indicators(&d.stats));
        let destructive = doc.is_some_and(|d| d.verdict.destructive());
        if attack {
            plan.attack_snapshots.push(w[1].id.0.clone());
        }
        for (old, new) in step_changes(&p, &n).await? {
            let id = old
                .as_ref()
                .or(new.as_ref())
                .map(|r| r.id.clone())
                .unwrap_or_default();
            if let Some((_, _, _, after)) = hit.get_mut(&id) {
                // Changed again after the attack: whoever did it, it is no longer the attack's state.
                if !attack {
                    plan.changed_since.push(id.clone());
                    hit.remove(&id);
                } else {
                    *after = new.clone();
                }
                continue;
            }
            let damage = match (&old, &new) {
                (Some(o), None) if attack && destructive => Some(Damage::Deleted),
                (Some(o), Some(x)) if attack && o.kind == "message" => {
                    (destructive && is_trash(&x.path) && !is_trash(&o.path))
                        .then_some(Damage::Deleted)
                }
                (Some(o), Some(x)) if attack => {
                    let renamed = appended_extension(&o.name, &x.name).is_some()
                        || (o.name != x.name
                            && extension(&x.name).is_some_and(|e| is_known_ransom_extension(&e)));
                    let content = o.version != x.version || o.size != x.size;
                    let encrypted = content
                        && o.size > 0
                        && matches!(
                            (sample(repo, o).await, sample(repo, x).await),
                            (Ok(a), Ok(b)) if looks_encrypted(&a, &b)
                        );
                    (encrypted || (content && renamed)).then_some(Damage::Encrypted)
                }
                _ => None,
            };
            match (damage, old) {
                (Some(d), Some(o)) => {
                    hit.insert(id, (o, w[0].id.0.clone(), d, new));
                }
                _ => {
                    touched_legitimately.insert(id);
                }
            }
        }
    }
    plan.left_alone = touched_legitimately.len() as u64;
    let present = match steps.last() {
        Some(last) if !hit.is_empty() => Present::of(&repo.snapshot(&last.id.0).await?).await?,
        _ => Present::default(),
    };
    for (id, (rec, snap, damage, after)) in hit {
        if present.contains(&rec) {
            plan.already_present += 1;
            continue;
        }
        let path = if rec.kind == "file" {
            full_path(&rec)
        } else {
            rec.path.clone()
        };
        plan.items.push(RecoverItem {
            item_id: id,
            path,
            name: rec.name.clone(),
            damage,
            clean_snapshot: snap,
            current_name: after.map(|a| a.name).filter(|n| *n != rec.name),
        });
    }
    Ok(plan)
}

/// What the newest snapshot holds, keyed by what a restored copy keeps (a restored item gets a
/// new id): files by path and content hash, messages by folder and `internetMessageId`.
#[derive(Default)]
struct Present {
    files: std::collections::BTreeSet<(String, String)>,
    messages: std::collections::BTreeSet<(String, String)>,
}

impl Present {
    fn file_key(r: &ItemRecord) -> Option<(String, String)> {
        let hash = match r.attrs.get(crate::drive::layout::ATTR_QXH) {
            Some(h) if !h.is_empty() => format!("qxh:{h}"),
            _ => format!(
                "refs:{}:{}",
                r.size,
                serde_json::to_string(&r.content).ok()?
            ),
        };
        Some((full_path(r).to_lowercase(), hash))
    }

    fn message_key(r: &ItemRecord) -> Option<(String, String)> {
        let mid = r
            .attrs
            .get(crate::exchange::layout::attr::INTERNET_MESSAGE_ID)?;
        Some((r.path.to_lowercase(), mid.clone()))
    }

    async fn of(snap: &Snapshot) -> Result<Self, tenantvault_repo::Error> {
        let mut p = Present::default();
        let mut items: Items = Box::pin(snap.items());
        while let Some(r) = next(&mut items).await? {
            match r.kind.as_str() {
                "file" => p.files.extend(Self::file_key(&r)),
                "message" => p.messages.extend(Self::message_key(&r)),
                _ => {}
            }
        }
        Ok(p)
    }

    fn contains(&self, r: &ItemRecord) -> bool {
        match r.kind.as_str() {
            "file" => Self::file_key(r).is_some_and(|k| self.files.contains(&k)),
            "message" => Self::message_key(r).is_some_and(|k| self.messages.contains(&k)),
            _ => false,
        }
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The run directory name of a journal: a hash of what the run recovers.
pub(crate) fn journal_run_name(
    workload: &str,
    owner: &str,
    clean: &str,
    latest: &str,
    target: Option<&str>,
) -> String {
    let key = format!(
        "{workload}|{owner}|{clean}|{latest}|{}",
        target.unwrap_or("")
    );
    format!("{:016x}", fnv(&key))
}

/// The journal of a run: `recover/<owner key id>/<run>/` (per owner, so that erasing the
/// owner finds it), and where runs before that layout kept it, `recover/<run>/`.
fn journal_dirs(repo: &Repository, plan: &RecoverPlan, target: Option<&str>) -> (String, String) {
    let run = journal_run_name(
        &plan.workload,
        &plan.owner,
        &plan.clean_snapshot,
        &plan.latest_snapshot,
        target,
    );
    let owner = tenantvault_repo::OwnerRef::new(plan.workload.clone(), plan.owner.clone());
    (
        format!("{}{run}/", crate::detect::journal_owner_dir(repo, &owner)),
        format!("{RECOVER_PREFIX}{run}/"),
    )
}

fn journal_key(dir: &str, item: &str) -> String {
    format!("{dir}{:016x}", fnv(item))
}

/// Executes a plan (see the module doc). Items already journalled by an interrupted run are
/// skipped.
pub async fn run(
    repo: &Repository,
    graph: &GraphClient,
    plan: &RecoverPlan,
    req: &RecoverRequest,
) -> Result<RecoverReport, RecoverError> {
    let (dir, legacy) = journal_dirs(repo, plan, req.target_folder.as_deref());
    let mut done: std::collections::BTreeSet<String> =
        repo.list_sealed(&dir).await?.into_iter().collect();
    // an interrupted run journalled in the earlier layout resumes too
    done.extend(
        repo.list_sealed(&legacy)
            .await?
            .into_iter()
            .map(|k| format!("{dir}{}", &k[legacy.len()..])),
    );
    let mut report = RecoverReport {
        plan: plan.clone(),
        restored: 0,
        already_done: 0,
        failed: Vec::new(),
    };
    let todo: Vec<&RecoverItem> = plan
        .items
        .iter()
        .filter(|i| {
            let d = done.contains(&journal_key(&dir, &i.item_id));
            if d {
                report.already_done += 1;
            }
            !d
        })
        .collect();
    match plan.workload.as_str() {
        "drive" => {
            let results: Vec<(String, Result<(), String>)> = futures::stream::iter(todo)
                .map(|it| async move {
                    (
                        it.item_id.clone(),
                        restore_file(repo, graph, plan, req, it).await,
                    )
                })
                .buffer_unordered(req.parallel.clamp(1, 16))
                .collect()
                .await;
            for (id, r) in results {
                match r {
                    Ok(()) => {
                        repo.put_sealed(
                            &journal_key(&dir, &id),
                            &serde_json::json!({"item": id, "at": req.now}),
                        )
                        .await?;
                        report.restored += 1;
                    }
                    Err(e) => report.failed.push((id, e)),
                }
            }
        }
        "exchange" => {
            let mut by_snap: BTreeMap<&str, Vec<&RecoverItem>> = BTreeMap::new();
            for it in todo {
                by_snap
                    .entry(it.clean_snapshot.as_str())
                    .or_default()
                    .push(it);
            }
            for (snap_id, items) in by_snap {
                let snap = repo.snapshot(snap_id).await?;
                let request = crate::exchange::restore::RestoreRequest {
                    item_ids: items.iter().map(|i| i.item_id.clone()).collect(),
                    destination: match &req.target_folder {
                        Some(f) => crate::exchange::restore::Destination::Folder(f.clone()),
                        None => crate::exchange::restore::Destination::InPlace,
                    },
                    conflict: crate::exchange::restore::ConflictPolicy::Skip,
                    parallel: req.parallel.max(1),
                    now: req.now,
                    ..Default::default()
                };
                let p = crate::exchange::restore::plan(&snap, &request)
                    .await
                    .map_err(|e| RecoverError::Mailbox(e.to_string()))?;
                let r = crate::exchange::restore::run(repo, graph, &p)
                    .await
                    .map_err(|e| RecoverError::Mailbox(e.to_string()))?;
                for o in r.items {
                    if !matches!(o.status, crate::exchange::restore::Status::Failed) {
                        repo.put_sealed(
                            &journal_key(&dir, &o.item_id),
                            &serde_json::json!({"item": o.item_id, "at": req.now}),
                        )
                        .await?;
                        report.restored += 1;
                    } else {
                        report
                            .failed
                            .push((o.item_id, o.reason.unwrap_or_default()));
                    }
                }
            }
        }
        other => {
            return Err(RecoverError::Invalid(format!(
                "recovery of {other} snapshots is not supported"
            )));
        }
    }
    Ok(report)
}

async fn restore_file(
    repo: &Repository,
    graph: &GraphClient,
    plan: &RecoverPlan,
    req: &RecoverRequest,
    it: &RecoverItem,
) -> Result<(), String> {
    use crate::drive::{Conflict, RestoreOptions, RestoreTarget};
    let snap = repo
        .snapshot(&it.clean_snapshot)
        .await
        .map_err(|e| e.to_string())?;
    let opts = RestoreOptions {
        path: it.path.clone(),
        target: match &req.target_folder {
            Some(f) => RestoreTarget::NewFolder(Some(f.clone())),
            None => RestoreTarget::Original,
        },
        conflict: Conflict::Replace,
        ..RestoreOptions::default()
    };
    let r = crate::drive::restore(repo, graph, &snap, &opts)
        .await
        .map_err(|e| e.to_string())?;
    if let Some((_, why)) = r.failed.first() {
        return Err(why.clone());
    }
    if r.files != 1 {
        return Err(format!("{} files restored for one item", r.files));
    }
    // In place: the attacker's renamed copy goes to the recycle bin.
    if req.target_folder.is_none() && it.current_name.is_some() {
        let gid = it.item_id.trim_start_matches("f:");
        let url = format!("drives/{}/items/{gid}", plan.owner);
        match graph.sharepoint().delete(&url).await {
            Ok(()) => {}
            Err(e) if e.status() == Some(404) => {}
            Err(e) => return Err(format!("deleting the encrypted copy: {e}")),
        }
    }
    Ok(())
}

/// Dry run helper: the plan's items as lines (`path  damage  (now: name)`).
pub fn describe(plan: &RecoverPlan) -> Vec<String> {
    plan.items
        .iter()
        .map(|i| {
            let now = i
                .current_name
                .as_ref()
                .map(|n| format!(" (now {n})"))
                .unwrap_or_default();
            let what = match i.damage {
                Damage::Encrypted => "encrypted",
                Damage::Deleted => "deleted",
            };
            format!(
                "{}\t{what}{now}",
                if i.path.is_empty() { &i.name } else { &i.path }
            )
        })
        .collect()
}
