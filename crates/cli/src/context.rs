//! Opening the repository named by the global options.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use tenantvault_repo::{LocalStorage, OpenOptions, Repository, RetryStorage, Storage};

use crate::GlobalArgs;
use crate::{exit, password};

/// The repository path from `--repo` / `TENANTVAULT_REPO`.
pub fn repo_path(global: &GlobalArgs) -> Result<&Path> {
    global
        .repo
        .as_deref()
        .ok_or_else(|| exit::usage("no repository given: pass --repo PATH or set TENANTVAULT_REPO"))
}

/// The storage stack for a local repository directory: local files behind the retry wrapper.
pub fn storage(path: &Path) -> Result<Arc<dyn Storage>> {
    let local = LocalStorage::new(path)
        .with_context(|| format!("cannot use {} as a repository", path.display()))?;
    Ok(Arc::new(RetryStorage::new(Arc::new(local))))
}

/// Whether a repository (its `config` object) exists at `path`.
pub fn repo_exists(path: &Path) -> bool {
    path.join("config").is_file()
}

/// Opens the repository: checks it exists (exit 6 otherwise), obtains the passphrase, unlocks.
pub async fn open(global: &GlobalArgs) -> Result<Repository> {
    let path = repo_path(global)?;
    if !repo_exists(path) {
        return Err(exit::not_found(format!(
            "no repository at {} (create one with `tenantvault repo init`)",
            path.display()
        )));
    }
    let pass = password::repository_passphrase(global.password_file.as_deref(), false)?;
    let opts = OpenOptions {
        cache_dir: cache_dir(global),
    };
    let repo = Repository::open(storage(path)?, &pass, opts)
        .await
        .with_context(|| format!("cannot open the repository at {}", path.display()))?;
    crate::audit_note::opened(&repo);
    Ok(repo)
}

fn cache_dir(global: &GlobalArgs) -> Option<PathBuf> {
    global.cache_dir.clone()
}
