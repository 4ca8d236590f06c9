//! One module per command: arguments (clap) and the call into the libraries.

pub mod alerts;
pub mod audit;
pub mod backup;
pub mod check;
pub mod dump;
pub mod erase;
pub mod gc;
pub mod hold;
pub mod ls;
pub mod maintain;
pub mod policy;
pub mod recover;
pub mod repo;
pub mod repo_s3;
pub mod report;
pub mod restore;
pub mod retention;
pub mod serve;
pub mod snapshots;

use anyhow::Result;
use tenantvault_repo::{Repository, Snapshot, SnapshotFilter};

use crate::snapshot_ref::SnapshotRef;
use crate::{Cli, Command, exit};

/// Runs the parsed command; returns the exit code (errors are mapped by the caller).
pub async fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    let result = match cli.command {
        Command::Repo(cmd) => repo::run(g, cmd).await,
        Command::Backup(cmd) => backup::run(g, cmd).await,
        Command::Snapshots(args) => snapshots::run(g, args).await,
        Command::Ls(args) => ls::run(g, args).await,
        Command::Restore(args) => restore::run(g, args).await,
        Command::Dump(args) => dump::run(g, args).await,
        Command::Check(args) => check::run(g, args).await,
        Command::Gc(args) => gc::run(g, args).await,
        Command::Maintain(cmd) => maintain::run(g, cmd).await,
        Command::Export(cmd) => crate::exchange_restore::export(g, cmd).await,
        Command::Find(args) => crate::exchange::find(g, args).await,
        Command::Demo(args) => crate::demo::run(g, args).await,
        Command::Hold(cmd) => hold::run(g, cmd).await,
        Command::Policy(cmd) => policy::run(g, cmd).await,
        Command::Retention(cmd) => retention::run(g, cmd).await,
        Command::Audit(cmd) => audit::run(g, cmd).await,
        Command::Erase(args) => erase::run(g, args).await,
        Command::Report(cmd) => report::run(g, cmd).await,
        Command::Serve(args) => serve::run(g, args).await,
        Command::Alerts(cmd) => alerts::run(g, cmd).await,
        Command::Recover(args) => recover::run(g, args).await,
    };
    // the one audit hook: a record for every command that opened a repository
    crate::audit_note::record(&result).await;
    result
}

/// Which snapshot a command reads: `SNAPSHOT` (id, unique prefix or `latest`) plus the owner
/// filter that `latest` needs.
#[derive(Debug, clap::Args)]
pub struct SnapshotSelect {
    /// Snapshot id, a unique prefix of it (≥ 4 hex digits), or `latest` (needs --owner).
    #[arg(value_name = "SNAPSHOT")]
    pub snapshot: String,
    /// Owner whose newest complete snapshot `latest` means.
    #[arg(long)]
    pub owner: Option<String>,
    /// Workload of that owner (e.g. `dir`); any workload when absent.
    #[arg(long)]
    pub workload: Option<String>,
}

impl SnapshotSelect {
    /// Checks the syntax before anything is opened (so bad input costs no passphrase prompt).
    pub fn validate(&self) -> Result<SnapshotRef> {
        let r = SnapshotRef::parse(&self.snapshot)?;
        if r == SnapshotRef::Latest && self.owner.is_none() {
            return Err(exit::usage(
                "`latest` needs --owner NAME (the owner whose newest snapshot to use)",
            ));
        }
        Ok(r)
    }

    pub async fn open(&self, repo: &Repository) -> Result<Snapshot> {
        match self.validate()? {
            SnapshotRef::Id(id) => Ok(repo.snapshot(&id).await?),
            SnapshotRef::Latest => {
                let filter = SnapshotFilter {
                    owner: self.owner.clone(),
                    workload: self.workload.clone(),
                    include_partial: false,
                };
                let list = repo.list_snapshots(filter).await?;
                let newest = list.last().ok_or_else(|| {
                    exit::not_found(format!(
                        "no complete snapshot of owner {:?}{}",
                        self.owner.as_deref().unwrap_or_default(),
                        self.workload
                            .as_deref()
                            .map(|w| format!(" in workload {w:?}"))
                            .unwrap_or_default()
                    ))
                })?;
                Ok(repo.snapshot(&newest.id.0).await?)
            }
        }
    }
}

/// Full display path of an item: its folder path joined with its name.
pub fn item_path(item: &tenantvault_repo::ItemRecord) -> String {
    match (item.path.trim_matches('/'), item.name.as_str()) {
        ("", name) => name.to_owned(),
        (dir, "") => dir.to_owned(),
        (dir, name) => format!("{dir}/{name}"),
    }
}

/// Whether `path` is `filter` or inside it (`/`-separated, no partial component matches).
pub fn path_selected(path: &str, filter: Option<&str>) -> bool {
    match filter.map(|f| f.trim_matches('/')) {
        None | Some("") => true,
        Some(f) => {
            path == f || (path.starts_with(f) && path.as_bytes().get(f.len()) == Some(&b'/'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_filter_matches_whole_components_only() {
        assert!(path_selected("a/b/c", None));
        assert!(path_selected("a/b/c", Some("a/b")));
        assert!(path_selected("a/b", Some("a/b/")));
        assert!(path_selected("a/b", Some("/a/b")));
        assert!(!path_selected("a/bc", Some("a/b")));
        assert!(!path_selected("a", Some("a/b")));
    }
}
