//! `repo init` on an `s3://bucket/prefix` location, optionally with an Object Lock policy.

use std::sync::Arc;

use anyhow::{Context, Result};
use tenantvault_repo::storage::LockPolicy;
use tenantvault_repo::{InitOptions, Repository, RetryStorage, Storage};
use tenantvault_s3::S3Location;

use crate::{GlobalArgs, context, exit, output, password};

/// Create a repository in a bucket. Refuses a prefix that already holds objects, and a lock
/// policy on a bucket without Object Lock, before anything is written.
pub async fn init(
    g: &GlobalArgs,
    loc: S3Location,
    lock: Option<LockPolicy>,
    opts: InitOptions,
) -> Result<u8> {
    let mut s3 = context::s3_storage(g, &loc).await?;
    if !s3.list("").await?.is_empty() || s3.lock_capabilities().policy.is_some() {
        return Err(exit::usage(format!(
            "{loc} is not empty; refusing to create a repository there"
        )));
    }
    if lock.is_some() && !s3.lock_capabilities().object_lock {
        return Err(exit::usage(format!(
            "bucket {} has no Object Lock; create the bucket with Object Lock enabled",
            loc.bucket
        )));
    }
    let pass = password::repository_passphrase(g.password_file.as_deref(), true)?;
    if let Some(policy) = lock {
        s3.init_lock_policy(policy)
            .await
            .with_context(|| format!("cannot set the lock policy on {loc}"))?;
    }
    let storage: Arc<dyn Storage> = Arc::new(RetryStorage::new(Arc::new(s3)));
    let repo = Repository::init(storage, &pass, opts)
        .await
        .with_context(|| format!("cannot create a repository at {loc}"))?;
    let info = repo.info();
    if g.json {
        let mut v = serde_json::to_value(&info)?;
        v["object_lock"] = serde_json::to_value(lock)?;
        output::print_json(&v)?;
    } else if !g.quiet {
        println!(
            "created repository {} (format version {}) at {loc}",
            info.id, info.version
        );
        if let Some(p) = lock {
            println!(
                "object lock: {} mode, {} days per object (run `tenantvault maintain locks` daily)",
                p.mode.as_str(),
                p.days
            );
        }
        println!("keep the passphrase safe: without it the data cannot be read");
    }
    Ok(exit::OK)
}
