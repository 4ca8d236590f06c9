//! OneDrive and SharePoint commands: `backup onedrive|sharepoint`,
//! `restore onedrive|sharepoint` and `export onedrive|sharepoint`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use tenantvault_graph::{Drive, GraphClient};
use tenantvault_repo::{Repository, Snapshot, SnapshotFilter};
use tenantvault_workloads::drive::{
    self, Conflict, DriveBackupConfig, DriveBackupReport, DriveKind, DriveSelection, DriveState,
    ExportOptions, RestoreOptions, RestoreTarget,
};

use crate::{GlobalArgs, context, exit, output};

/// `backup onedrive` / `backup sharepoint`.
#[derive(Debug, Args)]
pub struct BackupDriveArgs {
    /// Only this user's OneDrive (UPN, mail or id); repeatable.
    #[arg(long = "user", value_name = "UPN")]
    pub users: Vec<String>,
    /// Only this site's libraries (id, name, display name or URL); repeatable.
    #[arg(long = "site", value_name = "SITE")]
    pub sites: Vec<String>,
    /// Graph settings file (`[graph]` table); `AZURE_*` variables override it.
    #[arg(long, value_name = "FILE", env = "TENANTVAULT_GRAPH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Drives backed up at once.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel: usize,
    /// Small files (up to 1 MiB) downloaded at once within each drive.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub parallel_downloads: usize,
    /// Keep this many earlier versions of each file.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub versions: u32,
    /// Do not read sharing permissions (saves 5 resource units per changed item).
    #[arg(long)]
    pub no_permissions: bool,
    /// Delta page size.
    #[arg(long, default_value_t = 500, value_name = "N", hide = true)]
    pub page_size: u32,
    /// Write a checkpoint (resume point) after at least this many items; the interval grows to
    /// 25 % of the items already saved (a checkpoint re-writes the whole item list), and one
    /// is also written every 5 minutes.
    #[arg(long, default_value_t = 500, value_name = "N", hide = true)]
    pub checkpoint_items: u64,
}

/// Which drive snapshot a restore or export reads.
#[derive(Debug, Args)]
pub struct DriveSnapshotArgs {
    /// Snapshot id (or unique prefix), or `latest` with `--drive`, `--user` or `--site`.
    #[arg(default_value = "latest")]
    pub snapshot: String,
    /// The drive (id) whose latest snapshot to use.
    #[arg(long)]
    pub drive: Option<String>,
    /// The user (UPN or id) whose OneDrive's latest snapshot to use.
    #[arg(long)]
    pub user: Option<String>,
    /// The site (id or name) whose library's latest snapshot to use (with `--library` if it has several).
    #[arg(long)]
    pub site: Option<String>,
    /// Library name within `--site`.
    #[arg(long)]
    pub library: Option<String>,
    /// Only this file or folder (path in the snapshot, `/`-separated).
    #[arg(long)]
    pub path: Option<String>,
}

/// `restore onedrive|sharepoint`.
#[derive(Debug, Args)]
pub struct RestoreDriveArgs {
    #[command(flatten)]
    pub snap: DriveSnapshotArgs,
    /// Put items back at their original paths instead of into a new folder.
    #[arg(long, conflicts_with = "folder")]
    pub original: bool,
    /// Name of the new folder (default `Restored <date time>`).
    #[arg(long)]
    pub folder: Option<String>,
    /// Restore into this user's OneDrive instead.
    #[arg(long, value_name = "UPN", conflicts_with_all = ["to_site", "original"])]
    pub to_user: Option<String>,
    /// Restore into this site's default library instead.
    #[arg(long, value_name = "SITE", conflicts_with = "original")]
    pub to_site: Option<String>,
    /// When a file of the same name exists: skip, replace or rename.
    #[arg(long, default_value = "skip")]
    pub conflict: Conflict,
    /// Also re-create the stored sharing permissions (user grants by invite, links by
    /// createLink; best effort, what fails is reported).
    #[arg(long)]
    pub permissions: bool,
    /// SharePoint only: restore list items from the site's lists snapshot instead of files.
    #[arg(long)]
    pub lists: bool,
    /// With --lists: only this list (display name or id).
    #[arg(long, value_name = "NAME", requires = "lists")]
    pub list: Option<String>,
    /// With --lists: only this item id (with --list when the site has several lists).
    #[arg(long, value_name = "ID", requires = "lists")]
    pub item: Option<String>,
    /// With --lists: name of the new list (default `<list> (restored <time>)`); with
    /// --original the items go back into the list they came from.
    #[arg(
        long,
        value_name = "NAME",
        requires = "lists",
        conflicts_with = "original"
    )]
    pub new_list: Option<String>,
    /// Graph settings file.
    #[arg(long, value_name = "FILE", env = "TENANTVAULT_GRAPH_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `export onedrive|sharepoint`.
#[derive(Debug, Args)]
pub struct ExportDriveArgs {
    #[command(flatten)]
    pub snap: DriveSnapshotArgs,
    /// New or empty directory to write into. Names are made safe; nothing is written outside it.
    #[arg(
        long,
        value_name = "DIR",
        required_unless_present = "zip",
        conflicts_with = "zip"
    )]
    pub target: Option<PathBuf>,
    /// Write one new ZIP file instead of a directory (same safe names; entries are never
    /// absolute and never hold `..`).
    #[arg(long, value_name = "FILE", conflicts_with = "lists")]
    pub zip: Option<PathBuf>,
    /// SharePoint only: export the site's lists (one JSON file per item) instead of a library.
    #[arg(long)]
    pub lists: bool,
}

/// `export …` workloads.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// A OneDrive snapshot as a directory tree.
    Onedrive(ExportDriveArgs),
    /// A SharePoint library snapshot as a directory tree.
    Sharepoint(ExportDriveArgs),
}

/// `restore onedrive|sharepoint`.
#[derive(Debug, Subcommand)]
pub enum RestoreDriveCommand {
    /// Restore files or folders of a OneDrive snapshot through Graph.
    Onedrive(RestoreDriveArgs),
    /// Restore files or folders of a SharePoint library snapshot through Graph.
    Sharepoint(RestoreDriveArgs),
}

/// A Graph client from `--config` / the environment (see [`crate::exchange::graph_config`]).
fn client(config: Option<&std::path::Path>) -> Result<GraphClient> {
    let cfg = crate::exchange::graph_config(config)?;
    GraphClient::new(cfg).map_err(|e| anyhow::anyhow!("Graph client: {e}"))
}

/// `backup onedrive|sharepoint`.
pub async fn backup(g: &GlobalArgs, kind: DriveKind, args: BackupDriveArgs) -> Result<u8> {
    if kind == DriveKind::Onedrive && !args.sites.is_empty() {
        return Err(exit::usage(
            "--site selects SharePoint sites; use `backup sharepoint`",
        ));
    }
    if kind == DriveKind::Sharepoint && !args.users.is_empty() {
        return Err(exit::usage(
            "--user selects OneDrives; use `backup onedrive`",
        ));
    }
    let graph = client(args.config.as_deref())?;
    let repo = context::open(g).await?;
    let cfg = DriveBackupConfig {
        page_size: args.page_size.max(1),
        parallel_drives: args.parallel.max(1),
        parallel_downloads: args.parallel_downloads.max(1),
        versions: args.versions,
        permissions: !args.no_permissions,
        checkpoint_items: args.checkpoint_items.max(1),
        ..DriveBackupConfig::default()
    };
    let sel_all = args.users.is_empty() && args.sites.is_empty();
    let sel = DriveSelection {
        onedrive: kind == DriveKind::Onedrive,
        sharepoint: kind == DriveKind::Sharepoint,
        users: args.users,
        sites: args.sites,
    };
    let report = drive::backup(&repo, &graph, &cfg, &sel, None)
        .await
        .map_err(|e| match e {
            drive::DriveRunError::UnknownUser(_) | drive::DriveRunError::UnknownSite(_) => {
                exit::not_found(e.to_string())
            }
            e => anyhow::Error::new(e).context("drive backup"),
        })?;
    // retention: OneDrives of users gone from the tenant get the departed policy (issue 6)
    if kind == DriveKind::Onedrive && sel_all {
        crate::commands::retention::record_drive_departures(&repo, &report).await?;
    }
    print_backup(g, &report)?;
    let code = if report.failures() == 0 {
        exit::OK
    } else {
        exit::PARTIAL
    };
    let snaps = report.drives.iter().filter_map(|d| d.snapshot.clone());
    crate::commands::alerts::after_backup(g, &repo, snaps.collect(), code).await
}

fn print_backup(g: &GlobalArgs, r: &DriveBackupReport) -> Result<()> {
    if g.json {
        return output::print_json(r);
    }
    if g.quiet {
        return Ok(());
    }
    for d in &r.drives {
        let who = d
            .drive
            .user_principal_name
            .clone()
            .or_else(|| d.drive.site_name.clone())
            .unwrap_or_default();
        match (&d.snapshot, &d.error) {
            (Some(s), _) => println!(
                "{} {} ({}): snapshot {} — {} downloaded ({}), {} updated, {} deleted{}",
                d.drive.kind.as_str(),
                who,
                d.drive.name,
                &s[..s.len().min(8)],
                d.files_downloaded,
                output::bytes(d.bytes_downloaded),
                d.items_updated,
                d.items_deleted,
                if d.resynced { ", full resync" } else { "" }
            ),
            (None, Some(e)) => println!("{} {who}: FAILED: {e}", d.drive.kind.as_str()),
            (None, None) => {}
        }
        for f in &d.failures {
            println!("    {}: {}", f.item_id, f.reason);
        }
    }
    for l in &r.lists {
        match (&l.snapshot, &l.error) {
            (Some(s), _) => println!(
                "lists of {}: snapshot {} — {} lists, {} items stored, {} unchanged",
                l.site_name,
                &s[..s.len().min(8)],
                l.lists,
                l.items_stored,
                l.items_unchanged
            ),
            (None, Some(e)) => println!("lists of {}: FAILED: {e}", l.site_name),
            (None, None) => {}
        }
        for f in &l.failures {
            println!("    {}: {}", f.item_id, f.reason);
        }
    }
    println!(
        "{} drives, {} requests, {} throttled, {}",
        r.drives.len(),
        r.requests,
        r.throttled,
        output::secs(r.elapsed)
    );
    Ok(())
}

/// Finds the snapshot a restore/export reads.
async fn pick(repo: &Repository, kind: DriveKind, a: &DriveSnapshotArgs) -> Result<Snapshot> {
    if a.snapshot != "latest" {
        let snap = repo
            .snapshot(&a.snapshot)
            .await
            .with_context(|| format!("snapshot {}", a.snapshot))?;
        let st = DriveState::from_json(snap.state()).ok_or_else(|| {
            exit::usage(format!("snapshot {} is not a drive snapshot", a.snapshot))
        })?;
        if st.drive.kind != kind {
            return Err(exit::usage(format!(
                "snapshot {} is a {} snapshot",
                a.snapshot,
                st.drive.kind.as_str()
            )));
        }
        return Ok(snap);
    }
    let snaps = repo
        .list_snapshots(SnapshotFilter {
            workload: Some(drive::layout::WORKLOAD.into()),
            owner: a.drive.clone(),
            include_partial: false,
        })
        .await?;
    let mut best = None;
    for s in snaps.iter().rev() {
        let snap = repo.snapshot(&s.id.0).await?;
        let Some(st) = DriveState::from_json(snap.state()) else {
            continue;
        };
        let d = &st.drive;
        let eq = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            _ => false,
        };
        let ok = d.kind == kind
            && (a.user.is_none() || eq(&a.user, &d.user_id) || eq(&a.user, &d.user_principal_name))
            && (a.site.is_none() || eq(&a.site, &d.site_id) || eq(&a.site, &d.site_name))
            && a.library
                .as_ref()
                .is_none_or(|l| l.eq_ignore_ascii_case(&d.name));
        if ok {
            best = Some(snap);
            break;
        }
    }
    if a.drive.is_none() && a.user.is_none() && a.site.is_none() {
        return Err(exit::usage("`latest` needs --drive, --user or --site"));
    }
    best.ok_or_else(|| exit::not_found("no matching drive snapshot"))
}

/// `restore onedrive|sharepoint`.
pub async fn restore(g: &GlobalArgs, cmd: RestoreDriveCommand) -> Result<u8> {
    let (kind, args) = match cmd {
        RestoreDriveCommand::Onedrive(a) => (DriveKind::Onedrive, a),
        RestoreDriveCommand::Sharepoint(a) => (DriveKind::Sharepoint, a),
    };
    if args.lists {
        if kind != DriveKind::Sharepoint {
            return Err(exit::usage("--lists is for `restore sharepoint`"));
        }
        return restore_lists(g, &args).await;
    }
    let graph = client(args.config.as_deref())?;
    let repo = context::open(g).await?;
    let snap = pick(&repo, kind, &args.snap).await?;
    let sp = graph.sharepoint();
    let target = if args.original {
        RestoreTarget::Original
    } else if let Some(u) = &args.to_user {
        let d: Drive = sp
            .get(&format!("users/{u}/drive"))
            .await
            .map_err(|e| exit::not_found(format!("OneDrive of {u}: {e}")))?;
        RestoreTarget::Drive {
            drive_id: d.id,
            folder: args.folder.clone(),
        }
    } else if let Some(s) = &args.to_site {
        let d: Drive = sp
            .get(&format!("sites/{s}/drive"))
            .await
            .map_err(|e| exit::not_found(format!("library of site {s}: {e}")))?;
        RestoreTarget::Drive {
            drive_id: d.id,
            folder: args.folder.clone(),
        }
    } else {
        RestoreTarget::NewFolder(args.folder.clone())
    };
    let opts = RestoreOptions {
        path: args.snap.path.clone().unwrap_or_default(),
        target,
        conflict: args.conflict,
        permissions: args.permissions,
        ..RestoreOptions::default()
    };
    let report = drive::restore(&repo, &graph, &snap, &opts)
        .await
        .map_err(|e| match e {
            drive::RestoreError::NoSuchPath(_) => exit::not_found(e.to_string()),
            drive::RestoreError::Invalid(_) | drive::RestoreError::NotADriveSnapshot(_) => {
                exit::usage(e.to_string())
            }
            e => anyhow::Error::new(e).context("drive restore"),
        })?;
    if g.json {
        output::print_json(&report)?;
    } else if !g.quiet {
        println!(
            "restored {} files ({}, {} by upload session), {} folders created, {} skipped, into drive {} folder {:?}",
            report.files,
            output::bytes(report.bytes),
            report.large_files,
            report.folders_created,
            report.skipped.len(),
            report.drive_id,
            report.folder
        );
        if args.permissions {
            println!(
                "re-created {} sharing permissions, {} could not be",
                report.permissions_restored,
                report.permissions_failed.len()
            );
        }
    }
    let code = failed_exit(&report.failed);
    for (p, why) in &report.permissions_failed {
        eprintln!("  PERMISSION NOT RESTORED {p}: {why}");
    }
    Ok(code)
}

/// `export onedrive|sharepoint`.
pub async fn export(g: &GlobalArgs, cmd: ExportCommand) -> Result<u8> {
    let (kind, args) = match cmd {
        ExportCommand::Onedrive(a) => (DriveKind::Onedrive, a),
        ExportCommand::Sharepoint(a) => (DriveKind::Sharepoint, a),
    };
    if args.lists {
        if kind != DriveKind::Sharepoint {
            return Err(exit::usage("--lists is for `export sharepoint`"));
        }
        return export_lists(g, &args).await;
    }
    let repo = context::open(g).await?;
    let snap = pick(&repo, kind, &args.snap).await?;
    let opts = ExportOptions {
        folder: args.snap.path.clone().unwrap_or_default(),
    };
    let (result, dest) = match (&args.zip, &args.target) {
        (Some(z), _) => (drive::export_zip(&repo, &snap, z, &opts).await, z),
        (None, Some(t)) => (drive::export(&repo, &snap, t, &opts).await, t),
        (None, None) => return Err(exit::usage("--target DIR or --zip FILE is needed")),
    };
    let report = result.map_err(|e| match e {
        drive::ExportError::NoSuchFolder(_) => exit::not_found(e.to_string()),
        drive::ExportError::TargetNotEmpty(_) | drive::ExportError::ZipExists(_) => {
            exit::usage(e.to_string())
        }
        e => anyhow::Error::new(e).context("drive export"),
    })?;
    if g.json {
        output::print_json(&report)?;
    } else if !g.quiet {
        println!(
            "exported {} files ({}) and {} folders into {}",
            report.files,
            output::bytes(report.bytes),
            report.folders,
            dest.display()
        );
        for r in &report.renamed {
            println!("  renamed {:?} -> {}", r.original, r.written);
        }
    }
    Ok(failed_exit(&report.failed))
}

/// One `FAILED path: why` line on stderr per item a restore or export could not write; the
/// exit code is [`exit::PARTIAL`] when there is any, else [`exit::OK`].
fn failed_exit(failed: &[(String, String)]) -> u8 {
    for (p, why) in failed {
        eprintln!("  FAILED {p}: {why}");
    }
    if failed.is_empty() {
        exit::OK
    } else {
        exit::PARTIAL
    }
}

/// `export sharepoint --lists`: a site's lists snapshot as JSON files.
async fn export_lists(g: &GlobalArgs, args: &ExportDriveArgs) -> Result<u8> {
    let target = args
        .target
        .as_ref()
        .ok_or_else(|| exit::usage("--lists exports into --target DIR"))?;
    let repo = context::open(g).await?;
    let snap = pick_lists(&repo, &args.snap).await?;
    let report = drive::export_lists(&repo, &snap, target)
        .await
        .map_err(|e| match e {
            drive::lists::ListsError::NotListsSnapshot(_)
            | drive::lists::ListsError::TargetNotEmpty(_) => exit::usage(e.to_string()),
            e => anyhow::Error::new(e).context("lists export"),
        })?;
    if g.json {
        output::print_json(&report)?;
    } else if !g.quiet {
        println!(
            "exported {} lists, {} items into {}",
            report.lists,
            report.items,
            target.display()
        );
    }
    Ok(exit::OK)
}

/// `restore sharepoint --lists`: list items back into their list or into a new list.
async fn restore_lists(g: &GlobalArgs, args: &RestoreDriveArgs) -> Result<u8> {
    if args.to_user.is_some() || args.to_site.is_some() || args.folder.is_some() {
        return Err(exit::usage(
            "--lists restores on the snapshot's site: use --original or --new-list, not --to-user/--to-site/--folder",
        ));
    }
    let graph = client(args.config.as_deref())?;
    let repo = context::open(g).await?;
    let snap = pick_lists(&repo, &args.snap).await?;
    let opts = drive::ListsRestoreOptions {
        list: args.list.clone(),
        item: args.item.clone(),
        target: if args.original {
            drive::ListTarget::Original
        } else {
            drive::ListTarget::NewList(args.new_list.clone())
        },
    };
    let report = drive::restore_lists(&repo, &graph, &snap, &opts)
        .await
        .map_err(|e| match e {
            drive::ListsRestoreError::NotFound(_) => exit::not_found(e.to_string()),
            drive::ListsRestoreError::NotListsSnapshot(_)
            | drive::ListsRestoreError::Invalid(_) => exit::usage(e.to_string()),
            e => anyhow::Error::new(e).context("list restore"),
        })?;
    if g.json {
        output::print_json(&report)?;
    } else if !g.quiet {
        for l in &report.lists {
            println!(
                "{} -> {} ({}{}): {} items",
                l.source,
                l.list_name,
                l.list_id,
                if l.created { ", new list" } else { "" },
                l.items.len()
            );
        }
        if !report.skipped_fields.is_empty() {
            let names: Vec<&str> = report.skipped_fields.iter().map(String::as_str).collect();
            println!("read-only fields left out: {}", names.join(", "));
        }
    }
    Ok(failed_exit(&report.failed))
}

/// The lists snapshot a `--lists` command reads: an id, or the latest of `--site`.
async fn pick_lists(repo: &Repository, a: &DriveSnapshotArgs) -> Result<Snapshot> {
    let snap = if a.snapshot != "latest" {
        repo.snapshot(&a.snapshot)
            .await
            .with_context(|| format!("snapshot {}", a.snapshot))?
    } else {
        let site = a
            .site
            .as_ref()
            .ok_or_else(|| exit::usage("`latest` with --lists needs --site"))?;
        let snaps = repo
            .list_snapshots(SnapshotFilter {
                workload: Some(drive::lists::LISTS_WORKLOAD.into()),
                owner: None,
                include_partial: false,
            })
            .await?;
        let mut found = None;
        for s in snaps.iter().rev() {
            let snap = repo.snapshot(&s.id.0).await?;
            if drive::ListsState::from_json(snap.state()).is_some_and(|st| {
                st.site_id.eq_ignore_ascii_case(site) || st.site_name.eq_ignore_ascii_case(site)
            }) {
                found = Some(snap);
                break;
            }
        }
        found.ok_or_else(|| exit::not_found(format!("no lists snapshot of site {site}")))?
    };
    if drive::ListsState::from_json(snap.state()).is_none() {
        return Err(exit::usage(format!(
            "snapshot {} is not a SharePoint lists snapshot",
            a.snapshot
        )));
    }
    Ok(snap)
}
