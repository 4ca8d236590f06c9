//! The production [`Runner`]: backups, maintenance, restores and exports, in-process against
//! the open repository and one shared Graph client (so every job draws on the same tenant-wide
//! Graph budget).

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use tenantvault_graph::GraphClient;
use tenantvault_repo::retention::PolicySet;
use tenantvault_repo::{AuditRecord, CheckOptions, GcOptions, Repository};
use tenantvault_workloads::{detect, drive, exchange};

use super::clock::Clock;
use super::history::Status;

use super::history::{JobFailure, Outcome};
use super::runner::{JobSpec, RunResult, Runner};
use super::settings::JobKind;

/// Runs jobs against a repository (and Graph, for backups and restores).
#[derive(Clone)]
pub struct RepoRunner {
    pub repo: Repository,
    /// `None` when no Graph credentials are configured: backup and restore runs then fail with
    /// a clear message, maintenance and export runs still work.
    pub graph: Option<GraphClient>,
    /// Exports write only below this directory.
    pub export_root: Option<PathBuf>,
    /// The `[retention]` policies (groups resolved at start-up); `None`: none configured.
    pub retention: Option<PolicySet>,
    /// "Now" for retention and lock maintenance.
    pub clock: Arc<dyn Clock>,
}

/// Parameters of an API-started export.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// Snapshot id (or unique prefix).
    pub snapshot: String,
    /// Directory below `[serve] export_root` (relative, no `..`).
    pub target: String,
    /// Drive snapshots: only this folder.
    #[serde(default)]
    pub folder: Option<String>,
}

/// Parameters of an API-started restore.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreParams {
    /// Snapshot id (or unique prefix).
    pub snapshot: String,
    /// Exchange: only these item ids (default: everything in the snapshot).
    #[serde(default)]
    pub items: Vec<String>,
    /// Exchange: restore into another mailbox.
    #[serde(default)]
    pub to_mailbox: Option<String>,
    /// Drive: only this path.
    #[serde(default)]
    pub path: Option<String>,
}

/// Checks an export target: relative, no `..`, and an export root configured.
pub fn export_target(root: Option<&Path>, target: &str) -> Result<PathBuf, String> {
    let root = root.ok_or("exports through the API need `[serve] export_root`")?;
    let rel = Path::new(target);
    if target.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "export target {target:?} must be a relative path below the export root without `..`"
        ));
    }
    Ok(root.join(rel))
}

impl Runner for RepoRunner {
    /// The workloads' futures are not provably `Send` (a rustc limitation with higher-ranked
    /// closures inside them), so each run is driven on its own thread by the service's runtime.
    /// Dropping the returned future drops the run there too (stop = cancel or shutdown).
    fn run<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, RunResult> {
        let me = self.clone();
        let job = job.clone();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name(format!("job-{}", job.name))
            .spawn(move || {
                let r = handle.block_on(async move {
                    let r = tokio::select! {
                        r = me.run_here(&job) => Some(r),
                        _ = stop_rx => None,
                    };
                    if let Some(r) = &r {
                        me.audit(&job, r).await;
                    }
                    r
                });
                if let Some(r) = r {
                    let _ = done_tx.send(r);
                }
            });
        async move {
            if let Err(e) = spawned {
                return RunResult::failed(format!("cannot start a job thread: {e}"));
            }
            let _stop = stop_tx; // dropped with this future: stops the run
            done_rx
                .await
                .unwrap_or_else(|_| RunResult::failed("the job thread ended without a result"))
        }
        .boxed()
    }
}

impl RepoRunner {
    async fn run_here(&self, job: &JobSpec) -> RunResult {
        let mut result = match job.kind {
            JobKind::Exchange => self.exchange(job).await,
            JobKind::Onedrive | JobKind::Sharepoint => self.drive(job).await,
            JobKind::Gc => self.gc(job).await,
            JobKind::Retention => self.retention().await,
            JobKind::Locks => self.locks(job).await,
            JobKind::Check => self.check().await,
            JobKind::Export => self.export(job).await,
            JobKind::Restore => self.restore(job).await,
        };
        if job.kind.is_backup() && !result.outcome.snapshots.is_empty() {
            // the workloads analyse every committed snapshot; alerts raised for this run's
            // snapshots are its anomalies
            match detect::alerts_for_snapshots(&self.repo, &result.outcome.snapshots).await {
                Ok(alerts) => {
                    result.outcome.anomalies = alerts
                        .iter()
                        .map(|a| {
                            format!(
                                "alert {} ({} {}, score {}): {}",
                                a.id,
                                a.workload,
                                if a.owner_name.is_empty() {
                                    &a.owner
                                } else {
                                    &a.owner_name
                                },
                                a.score,
                                a.explanation
                            )
                        })
                        .collect()
                }
                Err(e) => tracing::warn!(error = %e, "cannot read the alerts of this run"),
            }
        }
        result
    }

    /// One record per run in the repository's audit log.
    async fn audit(&self, job: &JobSpec, r: &RunResult) {
        let outcome = match r.status {
            Status::Ok => "ok",
            Status::CompletedWithFailures => "partial",
            _ => "failed",
        };
        let mut rec = AuditRecord::new(
            self.clock.now(),
            format!("serve {}", job.kind.as_str()),
            job.actor
                .clone()
                .unwrap_or_else(|| format!("serve:{}", job.name)),
            outcome,
        );
        rec.details = serde_json::json!({
            "job": job.name,
            "items": r.outcome.items,
            "bytes": r.outcome.bytes,
            "owners": r.outcome.owners,
            "snapshots": r.outcome.snapshots,
            "failures": r.outcome.failures.len(),
            "anomalies": r.outcome.anomalies.len(),
            "error": r.outcome.error,
            "params": job.params,
        });
        if let Err(e) = self.repo.audit_append(&rec).await {
            tracing::warn!(error = %e, job = %job.name, "cannot append the run to the audit log");
        }
    }

    async fn retention(&self) -> RunResult {
        let Some(set) = &self.retention else {
            return RunResult::failed("no [retention] policies in the configuration");
        };
        match self.repo.apply_retention(set, self.clock.now()).await {
            Ok(r) => RunResult::finished(Outcome {
                items: r.items_removed,
                snapshots: Vec::new(),
                owners: r.snapshots_deleted + r.snapshots_rewritten,
                ..Outcome::default()
            }),
            Err(e) => RunResult::failed(format!("retention: {e}")),
        }
    }

    async fn locks(&self, job: &JobSpec) -> RunResult {
        let renew = job
            .def
            .renew_below
            .unwrap_or(std::time::Duration::from_secs(7 * 86_400));
        let renew = chrono::Duration::from_std(renew).unwrap_or(chrono::Duration::days(7));
        let now = self.clock.now();
        let report = match &self.retention {
            // what retention removes is left to expire (see Repository::maintain_locks_for)
            Some(set) => self.repo.maintain_locks_for(now, renew, false, set).await,
            None => self.repo.maintain_locks(now, renew, false).await,
        };
        match report {
            Ok(r) => RunResult::finished(Outcome {
                items: r.extended,
                failures: r
                    .failed
                    .iter()
                    .map(|o| JobFailure {
                        owner: String::new(),
                        item: Some(o.clone()),
                        reason: "lock not extended".into(),
                    })
                    .collect(),
                ..Outcome::default()
            }),
            Err(e) => RunResult::failed(format!("lock maintenance: {e}")),
        }
    }

    fn graph(&self) -> Result<&GraphClient, Box<RunResult>> {
        self.graph.as_ref().ok_or_else(|| {
            Box::new(RunResult::failed(
                "no Graph credentials: set `[serve] graph` or the AZURE_* variables",
            ))
        })
    }

    async fn exchange(&self, job: &JobSpec) -> RunResult {
        let graph = match self.graph() {
            Ok(g) => g,
            Err(r) => return *r,
        };
        let mut cfg = exchange::BackupConfig {
            parallel_mailboxes: job.def.parallel.unwrap_or(4),
            ..exchange::BackupConfig::default()
        };
        if let Some(n) = job.def.checkpoint_items {
            cfg.checkpoint_items = n.max(1);
        }
        if let Some(n) = job.def.page_size {
            cfg.page_size = n.max(1);
        }
        let sel = exchange::Selection {
            mailboxes: job.def.mailboxes.clone(),
            groups: job.def.groups.clone(),
        };
        let report = match exchange::backup(&self.repo, graph, &cfg, &sel, None).await {
            Ok(r) => r,
            Err(e) => return RunResult::failed(format!("exchange backup: {e}")),
        };
        let mut out = Outcome {
            graph_requests: report.requests,
            graph_throttled: report.throttled,
            ..Outcome::default()
        };
        for m in &report.mailboxes {
            let who = if m.mailbox.upn.is_empty() {
                m.mailbox.id.clone()
            } else {
                m.mailbox.upn.clone()
            };
            out.items += m.messages_downloaded + m.events + m.contacts;
            out.bytes += m.bytes_downloaded;
            out.add_owner(
                &who,
                m.snapshot.clone(),
                m.error.as_deref(),
                m.failures
                    .iter()
                    .map(|f| (f.item_id.clone(), f.reason.clone())),
            );
        }
        for n in &report.not_found {
            out.failures.push(JobFailure {
                owner: n.clone(),
                item: None,
                reason: "not found in the tenant".into(),
            });
        }
        RunResult::finished(out)
    }

    async fn drive(&self, job: &JobSpec) -> RunResult {
        let graph = match self.graph() {
            Ok(g) => g,
            Err(r) => return *r,
        };
        let mut cfg = drive::DriveBackupConfig {
            parallel_drives: job.def.parallel.unwrap_or(4),
            ..drive::DriveBackupConfig::default()
        };
        if let Some(n) = job.def.page_size {
            cfg.page_size = n.max(1);
        }
        let sel = drive::DriveSelection {
            onedrive: job.kind == JobKind::Onedrive,
            sharepoint: job.kind == JobKind::Sharepoint,
            users: job.def.users.clone(),
            sites: job.def.sites.clone(),
        };
        let report = match drive::backup(&self.repo, graph, &cfg, &sel, None).await {
            Ok(r) => r,
            Err(e) => return RunResult::failed(format!("{} backup: {e}", job.kind.as_str())),
        };
        let mut out = Outcome {
            graph_requests: report.requests,
            graph_throttled: report.throttled,
            ..Outcome::default()
        };
        for d in &report.drives {
            let who = d
                .drive
                .user_principal_name
                .clone()
                .or_else(|| d.drive.site_name.clone())
                .unwrap_or_else(|| d.drive.drive_id.clone());
            out.items += d.files_downloaded;
            out.bytes += d.bytes_downloaded;
            out.add_owner(
                &who,
                d.snapshot.clone(),
                d.error.as_deref(),
                d.failures
                    .iter()
                    .map(|f| (f.item_id.clone(), f.reason.clone())),
            );
        }
        RunResult::finished(out)
    }

    async fn gc(&self, job: &JobSpec) -> RunResult {
        let mut opts = GcOptions::default();
        if let Some(g) = job.def.grace {
            opts.grace = g;
        }
        match self.repo.gc(opts).await {
            Ok(r) => RunResult::finished(Outcome {
                items: r.packs_deleted,
                bytes: r.bytes_freed,
                ..Outcome::default()
            }),
            Err(e) => RunResult::failed(format!("gc: {e}")),
        }
    }

    async fn check(&self) -> RunResult {
        match self.repo.check(CheckOptions::default()).await {
            Ok(r) => {
                let failures = r
                    .damaged
                    .iter()
                    .map(|d| JobFailure {
                        owner: String::new(),
                        item: Some(d.object.clone()),
                        reason: d.detail.clone(),
                    })
                    .collect();
                RunResult::finished(Outcome {
                    failures,
                    ..Outcome::default()
                })
            }
            Err(e) => RunResult::failed(format!("check: {e}")),
        }
    }

    async fn export(&self, job: &JobSpec) -> RunResult {
        let p: ExportParams = match serde_json::from_value(job.params.clone()) {
            Ok(p) => p,
            Err(e) => return RunResult::failed(format!("export parameters: {e}")),
        };
        let target = match export_target(self.export_root.as_deref(), &p.target) {
            Ok(t) => t,
            Err(e) => return RunResult::failed(e),
        };
        let snap = match self.repo.snapshot(&p.snapshot).await {
            Ok(s) => s,
            Err(e) => return RunResult::failed(format!("snapshot {}: {e}", p.snapshot)),
        };
        let owner = snap.summary().owner.owner.clone();
        if snap.summary().owner.workload == exchange::WORKLOAD {
            let opts = exchange::export::ExportOptions::default();
            match exchange::export::export(&self.repo, &snap, &target, &opts).await {
                Ok(r) => RunResult::finished(Outcome {
                    owners: 1,
                    items: r.messages + r.events + r.contacts,
                    bytes: r.bytes,
                    snapshots: vec![snap.id().0.clone()],
                    failures: r
                        .failures
                        .iter()
                        .map(|f| JobFailure {
                            owner: owner.clone(),
                            item: Some(f.item_id.clone()),
                            reason: f.reason.clone(),
                        })
                        .collect(),
                    ..Outcome::default()
                }),
                Err(e) => RunResult::failed(format!("export: {e}")),
            }
        } else if snap.summary().owner.workload == drive::layout::WORKLOAD {
            let opts = drive::ExportOptions {
                folder: p.folder.unwrap_or_default(),
            };
            match drive::export(&self.repo, &snap, &target, &opts).await {
                Ok(r) => RunResult::finished(Outcome {
                    owners: 1,
                    items: r.files,
                    bytes: r.bytes,
                    snapshots: vec![snap.id().0.clone()],
                    failures: r
                        .failed
                        .iter()
                        .map(|(i, why)| JobFailure {
                            owner: owner.clone(),
                            item: Some(i.clone()),
                            reason: why.clone(),
                        })
                        .collect(),
                    ..Outcome::default()
                }),
                Err(e) => RunResult::failed(format!("export: {e}")),
            }
        } else {
            RunResult::failed(format!(
                "snapshot {} is of workload {:?}, which the service cannot export",
                p.snapshot,
                snap.summary().owner.workload
            ))
        }
    }

    async fn restore(&self, job: &JobSpec) -> RunResult {
        let p: RestoreParams = match serde_json::from_value(job.params.clone()) {
            Ok(p) => p,
            Err(e) => return RunResult::failed(format!("restore parameters: {e}")),
        };
        let graph = match self.graph() {
            Ok(g) => g,
            Err(r) => return *r,
        };
        let snap = match self.repo.snapshot(&p.snapshot).await {
            Ok(s) => s,
            Err(e) => return RunResult::failed(format!("snapshot {}: {e}", p.snapshot)),
        };
        let owner = snap.summary().owner.owner.clone();
        let fail = |item: String, reason: String| JobFailure {
            owner: owner.clone(),
            item: Some(item),
            reason,
        };
        if snap.summary().owner.workload == exchange::WORKLOAD {
            let req = exchange::restore::RestoreRequest {
                item_ids: p.items,
                to_mailbox: p.to_mailbox,
                ..exchange::restore::RestoreRequest::default()
            };
            let plan = match exchange::restore::plan(&snap, &req).await {
                Ok(p) => p,
                Err(e) => return RunResult::failed(format!("restore: {e}")),
            };
            match exchange::restore::run(&self.repo, graph, &plan).await {
                Ok(r) => {
                    let failures = r
                        .items
                        .iter()
                        .filter(|o| o.status == exchange::restore::Status::Failed)
                        .map(|o| fail(o.item_id.clone(), o.reason.clone().unwrap_or_default()))
                        .collect();
                    RunResult::finished(Outcome {
                        owners: 1,
                        items: r.restored() as u64,
                        snapshots: vec![snap.id().0.clone()],
                        failures,
                        ..Outcome::default()
                    })
                }
                Err(e) => RunResult::failed(format!("restore: {e}")),
            }
        } else if snap.summary().owner.workload == drive::layout::WORKLOAD {
            let opts = drive::RestoreOptions {
                path: p.path.unwrap_or_default(),
                ..drive::RestoreOptions::default()
            };
            match drive::restore(&self.repo, graph, &snap, &opts).await {
                Ok(r) => RunResult::finished(Outcome {
                    owners: 1,
                    items: r.files,
                    bytes: r.bytes,
                    snapshots: vec![snap.id().0.clone()],
                    failures: r
                        .failed
                        .iter()
                        .map(|(i, why)| fail(i.clone(), why.clone()))
                        .collect(),
                    ..Outcome::default()
                }),
                Err(e) => RunResult::failed(format!("restore: {e}")),
            }
        } else {
            RunResult::failed(format!(
                "snapshot {} is of workload {:?}, which the service cannot restore",
                p.snapshot,
                snap.summary().owner.workload
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_targets_stay_below_the_root() {
        let root = Path::new("/srv/exports");
        assert_eq!(
            export_target(Some(root), "case-7/alice").unwrap(),
            root.join("case-7/alice")
        );
        for bad in ["", "../x", "/etc", "a/../../b", "./a"] {
            assert!(export_target(Some(root), bad).is_err(), "{bad:?}");
        }
        assert!(export_target(None, "a").is_err());
    }
}
