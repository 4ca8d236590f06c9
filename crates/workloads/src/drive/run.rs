//! A whole drive backup run: find the selected OneDrives and SharePoint document libraries,
//! then back them up in parallel under the tenant's SharePoint resource-unit budget.

use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use tenantvault_graph::{Drive, GraphClient, GraphError, Site, User};
use tenantvault_repo::Repository;

use super::backup::backup_drive;
use super::config::{DriveBackupConfig, DriveSelection};
use super::lists::backup_site_lists;
use super::report::{DriveBackupReport, DriveProgress, DriveReport, NoDriveProgress};
use super::state::{DriveInfo, DriveKind};

/// Errors that stop a run before any drive is backed up.
#[derive(Debug, thiserror::Error)]
pub enum DriveRunError {
    /// Listing users or sites failed.
    #[error("listing the tenant's {what}: {source}")]
    Listing {
        /// `users` or `sites`.
        what: &'static str,
        /// Cause.
        #[source]
        source: GraphError,
    },
    /// `--user` values that match no user.
    #[error("no such user: {}", .0.join(", "))]
    UnknownUser(Vec<String>),
    /// `--site` values that match no site.
    #[error("no such site: {}", .0.join(", "))]
    UnknownSite(Vec<String>),
    /// Nothing selected.
    #[error("nothing to back up: select OneDrive and/or SharePoint")]
    EmptySelection,
}

fn drive_info(d: &Drive, kind: DriveKind) -> DriveInfo {
    DriveInfo {
        drive_id: d.id.clone(),
        kind,
        name: d.name.clone().unwrap_or_default(),
        drive_type: d.drive_type.clone().unwrap_or_default(),
        web_url: d.web_url.clone().unwrap_or_default(),
        ..DriveInfo::default()
    }
}

/// The OneDrives of the selected users (users without a OneDrive are skipped, unless named).
pub async fn onedrives(
    graph: &GraphClient,
    sel: &DriveSelection,
) -> Result<(Vec<DriveInfo>, Vec<DriveReport>), DriveRunError> {
    let users: Vec<User> = graph
        .pages::<User>("users?$select=id,userPrincipalName,displayName,mail")
        .try_collect()
        .await
        .map_err(|source| DriveRunError::Listing {
            what: "users",
            source,
        })?;
    let wanted = |u: &User| {
        sel.users.is_empty()
            || sel.users.iter().any(|w| {
                w.eq_ignore_ascii_case(&u.id)
                    || u.user_principal_name
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(w))
                    || u.mail.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(w))
            })
    };
    let unknown: Vec<String> = sel
        .users
        .iter()
        .filter(|w| {
            !users.iter().any(|u| {
                u.id.eq_ignore_ascii_case(w)
                    || u.user_principal_name
                        .as_deref()
                        .is_some_and(|p| p.eq_ignore_ascii_case(w))
                    || u.mail.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(w))
            })
        })
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(DriveRunError::UnknownUser(unknown));
    }
    let sp = graph.sharepoint();
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for u in users.iter().filter(|u| wanted(u)) {
        match sp.get::<Drive>(&format!("users/{}/drive", u.id)).await {
            Ok(d) => {
                let mut info = drive_info(&d, DriveKind::Onedrive);
                info.user_id = Some(u.id.clone());
                info.user_principal_name = u.user_principal_name.clone();
                out.push(info);
            }
            Err(e) if e.status() == Some(404) && sel.users.is_empty() => {
                tracing::debug!(user = %u.id, "no OneDrive");
            }
            Err(e) => failed.push(DriveReport {
                drive: DriveInfo {
                    kind: DriveKind::Onedrive,
                    user_id: Some(u.id.clone()),
                    user_principal_name: u.user_principal_name.clone(),
                    ..DriveInfo::default()
                },
                error: Some(format!("reading the user's OneDrive: {e}")),
                ..DriveReport::default()
            }),
        }
    }
    Ok((out, failed))
}

fn site_matches(s: &Site, w: &str) -> bool {
    [
        Some(&s.id),
        s.name.as_ref(),
        s.display_name.as_ref(),
        s.web_url.as_ref(),
    ]
    .into_iter()
    .flatten()
    .any(|v| v.eq_ignore_ascii_case(w))
}

/// The document libraries of the selected sites.
pub async fn site_libraries(
    graph: &GraphClient,
    sel: &DriveSelection,
) -> Result<(Vec<DriveInfo>, Vec<DriveReport>), DriveRunError> {
    let sites = selected_sites(graph, sel).await?;
    Ok(libraries_of(graph, &sites).await)
}

/// The selected SharePoint sites (personal OneDrive sites excluded).
pub async fn selected_sites(
    graph: &GraphClient,
    sel: &DriveSelection,
) -> Result<Vec<Site>, DriveRunError> {
    let sp = graph.sharepoint();
    let sites: Vec<Site> = sp
        .pages::<Site>("sites/getAllSites")
        .try_collect()
        .await
        .map_err(|source| DriveRunError::Listing {
            what: "sites",
            source,
        })?;
    let unknown: Vec<String> = sel
        .sites
        .iter()
        .filter(|w| !sites.iter().any(|s| site_matches(s, w)))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(DriveRunError::UnknownSite(unknown));
    }
    Ok(sites
        .into_iter()
        .filter(|s| s.is_personal_site != Some(true))
        .filter(|s| sel.sites.is_empty() || sel.sites.iter().any(|w| site_matches(s, w)))
        .collect())
}

async fn libraries_of(graph: &GraphClient, sites: &[Site]) -> (Vec<DriveInfo>, Vec<DriveReport>) {
    let sp = graph.sharepoint();
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for s in sites {
        let drives: Result<Vec<Drive>, GraphError> = sp
            .pages::<Drive>(&format!("sites/{}/drives", s.id))
            .try_collect()
            .await;
        match drives {
            Ok(ds) => out.extend(ds.iter().map(|d| {
                let mut info = drive_info(d, DriveKind::Sharepoint);
                info.site_id = Some(s.id.clone());
                info.site_name = s.display_name.clone().or_else(|| s.name.clone());
                info
            })),
            Err(e) => failed.push(DriveReport {
                drive: DriveInfo {
                    kind: DriveKind::Sharepoint,
                    site_id: Some(s.id.clone()),
                    site_name: s.display_name.clone(),
                    ..DriveInfo::default()
                },
                error: Some(format!("listing the site's libraries: {e}")),
                ..DriveReport::default()
            }),
        }
    }
    (out, failed)
}

/// Backs up the selected drives. Item and drive failures are in the report; only a bad
/// selection or an unreadable tenant listing is an error, raised before anything is written.
pub async fn backup(
    repo: &Repository,
    graph: &GraphClient,
    cfg: &DriveBackupConfig,
    sel: &DriveSelection,
    progress: Option<&dyn DriveProgress>,
) -> Result<DriveBackupReport, DriveRunError> {
    let progress: &dyn DriveProgress = progress.unwrap_or(&NoDriveProgress);
    if !sel.onedrive && !sel.sharepoint {
        return Err(DriveRunError::EmptySelection);
    }
    let started = Instant::now();
    let before = graph.metrics();
    let mut drives = Vec::new();
    let mut reports = Vec::new();
    if sel.onedrive {
        let (d, f) = onedrives(graph, sel).await?;
        drives.extend(d);
        reports.extend(f);
    }
    let mut sites = Vec::new();
    if sel.sharepoint {
        sites = selected_sites(graph, sel).await?;
        let (d, f) = libraries_of(graph, &sites).await;
        drives.extend(d);
        reports.extend(f);
    }
    progress.planned(drives.len());
    let sp = graph.sharepoint();
    let mut done: Vec<(usize, DriveReport)> = futures::stream::iter(drives.into_iter().enumerate())
        .map(|(i, info)| {
            let sp = &sp;
            async move { (i, backup_drive(repo, sp, cfg, info, progress).await) }
        })
        .buffer_unordered(cfg.parallel_drives.max(1))
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    reports.extend(done.into_iter().map(|(_, r)| r));
    let mut lists = Vec::new();
    if cfg.lists {
        for site in &sites {
            lists.push(backup_site_lists(repo, &sp, site).await);
        }
    }
    let after = graph.metrics();
    Ok(DriveBackupReport {
        drives: reports,
        lists,
        requests: after.requests.saturating_sub(before.requests),
        throttled: after.throttled.saturating_sub(before.throttled),
        elapsed: started.elapsed(),
    })
}
