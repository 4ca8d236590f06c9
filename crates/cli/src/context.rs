//! Opening the repository named by the global options.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use tenantvault_repo::{
    LocalStorage, OpenOptions, Repository, RetryStorage, Storage, StorageError,
};
use tenantvault_s3::{S3Location, S3Options, S3Storage};

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

/// Where `--repo` points: a local directory or `s3://bucket/prefix`.
#[derive(Debug, Clone)]
pub enum RepoLocation {
    Local(PathBuf),
    S3(S3Location),
}

/// Parse `--repo` / `TENANTVAULT_REPO`; a malformed `s3://` URL is a usage error.
pub fn location(global: &GlobalArgs) -> Result<RepoLocation> {
    let raw = repo_path(global)?;
    match raw.to_str() {
        Some(s) if s.starts_with("s3://") => S3Location::parse(s)
            .map(RepoLocation::S3)
            .map_err(|e| exit::usage(e.to_string())),
        _ => Ok(RepoLocation::Local(raw.to_path_buf())),
    }
}

/// S3 client options from `--s3-endpoint`, `--s3-region`, `--s3-path-style` (or their
/// `TENANTVAULT_S3_*` variables). Credentials: the standard AWS variables and profiles.
pub fn s3_options(global: &GlobalArgs) -> S3Options {
    S3Options {
        endpoint: global.s3_endpoint.clone(),
        region: global.s3_region.clone(),
        path_style: global.s3_path_style,
        ..S3Options::default()
    }
}

/// Connect to the bucket of an `s3://` location.
pub async fn s3_storage(global: &GlobalArgs, loc: &S3Location) -> Result<S3Storage> {
    S3Storage::open(loc.clone(), s3_options(global))
        .await
        .with_context(|| format!("cannot use {loc} as a repository"))
}

/// The storage stack of `--repo` (S3 or local) behind the retry wrapper, and whether a
/// repository (`config`) exists there (a local location without one is exit 6 at once).
pub async fn open_storage(global: &GlobalArgs) -> Result<(Arc<dyn Storage>, bool)> {
    match location(global)? {
        RepoLocation::Local(path) => {
            // Looked up before `storage()`, which creates the directory: a mistyped --repo
            // must not leave an empty directory behind.
            let exists = repo_exists(&path);
            if !exists {
                return Err(exit::not_found(format!(
                    "no repository at {} (create one with `tenantvault repo init`)",
                    path.display()
                )));
            }
            Ok((storage(&path)?, exists))
        }
        RepoLocation::S3(loc) => {
            let st: Arc<dyn Storage> =
                Arc::new(RetryStorage::new(Arc::new(s3_storage(global, &loc).await?)));
            let exists = match st.get("config").await {
                Ok(_) => true,
                Err(StorageError::NotFound { .. }) => false,
                Err(e) => return Err(anyhow::Error::new(e).context(format!("cannot read {loc}"))),
            };
            Ok((st, exists))
        }
    }
}

/// Opens the repository: checks it exists (exit 6 otherwise), obtains the passphrase, unlocks.
pub async fn open(global: &GlobalArgs) -> Result<Repository> {
    let path = repo_path(global)?;
    let (store, exists) = open_storage(global).await?;
    if !exists {
        return Err(exit::not_found(format!(
            "no repository at {} (create one with `tenantvault repo init`)",
            path.display()
        )));
    }
    let pass = password::repository_passphrase(global.password_file.as_deref(), false)?;
    let opts = OpenOptions {
        cache_dir: cache_dir(global),
    };
    let repo = Repository::open(store, &pass, opts)
        .await
        .with_context(|| format!("cannot open the repository at {}", path.display()))?;
    crate::audit_note::opened(&repo);
    Ok(repo)
}

fn cache_dir(global: &GlobalArgs) -> Option<PathBuf> {
    global.cache_dir.clone()
}
