//! `repo init | info | key add|remove|list`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use tenantvault_repo::{InitOptions, KdfParams, Repository};

use crate::snapshot_ref::parse_size;
use crate::{GlobalArgs, context, exit, output, password};

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Create a new, empty repository at --repo.
    Init(InitArgs),
    /// Show the repository's id, format version and parameters.
    Info,
    /// Manage key slots (passphrases).
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Target pack file size (e.g. 16MiB; tests use small sizes like 128KiB).
    #[arg(long, value_name = "SIZE", default_value = "16MiB")]
    pub pack_size: String,
    /// zstd compression level (1-19).
    #[arg(long, default_value_t = tenantvault_repo::InitOptions::default().zstd_level, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub zstd_level: i32,
    #[command(flatten)]
    pub kdf: KdfArgs,
    /// S3 only: write every object with an Object Lock retain-until date in this mode
    /// (the bucket must have Object Lock enabled). Needs --lock-days.
    #[arg(long, value_name = "MODE", value_parser = ["compliance", "governance"])]
    pub object_lock: Option<String>,
    /// Retention of each new object in days (extended by `maintain locks` while referenced).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub lock_days: Option<u32>,
}

/// Argon2id cost of a new key slot. Lower only for tests: it protects the passphrase.
#[derive(Debug, Args)]
pub struct KdfArgs {
    /// Argon2id memory cost (e.g. 64MiB).
    #[arg(long, value_name = "SIZE", default_value = "64MiB")]
    pub kdf_memory: String,
    /// Argon2id passes.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub kdf_iterations: u32,
}

impl KdfArgs {
    fn params(&self) -> Result<KdfParams> {
        let kib = parse_size(&self.kdf_memory)? / 1024;
        // The repository refuses key slots beyond 1 GiB (FORMAT §2): say so before anything runs.
        if !(8..=1024 * 1024).contains(&kib) {
            return Err(exit::usage("--kdf-memory must be between 8KiB and 1GiB"));
        }
        Ok(KdfParams {
            m_kib: kib as u32,
            t: self.kdf_iterations,
            p: 1,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Add a key slot with a new passphrase (from --new-password-file, TENANTVAULT_NEW_PASSWORD or a prompt).
    Add {
        #[arg(long, value_name = "FILE")]
        new_password_file: Option<PathBuf>,
        #[command(flatten)]
        kdf: KdfArgs,
    },
    /// Remove a key slot (the last one cannot be removed).
    Remove {
        /// Key slot id (see `repo key list`).
        id: String,
    },
    /// List key slots.
    List,
}

pub async fn run(g: &GlobalArgs, cmd: RepoCommand) -> Result<u8> {
    match cmd {
        RepoCommand::Init(args) => init(g, args).await,
        RepoCommand::Info => info(g).await,
        RepoCommand::Key(k) => key(g, k).await,
    }
}

async fn init(g: &GlobalArgs, args: InitArgs) -> Result<u8> {
    let path = context::repo_path(g)?;
    let pack_target = parse_size(&args.pack_size)?;
    let kdf = args.kdf.params()?;
    let lock = lock_policy(&args)?;
    let location = context::location(g)?;
    if let context::RepoLocation::S3(loc) = location {
        let opts = InitOptions {
            kdf,
            pack_target,
            zstd_level: args.zstd_level,
            cache_dir: g.cache_dir.clone(),
            ..InitOptions::default()
        };
        return crate::commands::repo_s3::init(g, loc, lock, opts).await;
    }
    if lock.is_some() {
        return Err(exit::usage(
            "--object-lock needs an s3:// repository on a bucket with Object Lock",
        ));
    }
    if context::repo_exists(path) {
        return Err(exit::usage(format!(
            "a repository already exists at {}",
            path.display()
        )));
    }
    let pass = password::repository_passphrase(g.password_file.as_deref(), true)?;
    let created_dir = !path.exists();
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    let opts = InitOptions {
        kdf,
        pack_target,
        zstd_level: args.zstd_level,
        cache_dir: g.cache_dir.clone(),
        ..InitOptions::default()
    };
    let repo = match Repository::init(context::storage(path)?, &pass, opts).await {
        Ok(repo) => repo,
        Err(e) => {
            if created_dir {
                // bad input must leave nothing behind; only remove what we created, and only if empty
                let _ = std::fs::remove_dir(path);
            }
            return Err(anyhow::Error::new(e)
                .context(format!("cannot create a repository at {}", path.display())));
        }
    };
    crate::audit_note::opened(&repo);
    let info = repo.info();
    if g.json {
        output::print_json(&info)?;
    } else if !g.quiet {
        println!(
            "created repository {} (format version {}) at {}",
            info.id,
            info.version,
            path.display()
        );
        println!("keep the passphrase safe: without it the data cannot be read");
    }
    Ok(exit::OK)
}

/// The lock policy of `--object-lock` / `--lock-days` (both or neither).
fn lock_policy(args: &InitArgs) -> Result<Option<tenantvault_repo::storage::LockPolicy>> {
    match (&args.object_lock, args.lock_days) {
        (None, None) => Ok(None),
        (Some(mode), Some(days)) => Ok(Some(tenantvault_repo::storage::LockPolicy {
            mode: mode.parse().map_err(exit::usage)?,
            days,
        })),
        (Some(_), None) => Err(exit::usage("--object-lock needs --lock-days N")),
        (None, Some(_)) => Err(exit::usage("--lock-days needs --object-lock MODE")),
    }
}

async fn info(g: &GlobalArgs) -> Result<u8> {
    let repo = context::open(g).await?;
    let info = repo.info();
    let keys = repo.list_keys().await?;
    if g.json {
        output::print_json(&json!({ "repository": info, "keys": keys }))?;
    } else {
        println!("repository   {}", info.id);
        println!("location     {}", context::repo_path(g)?.display());
        println!("format       version {}", info.version);
        println!("created      {}", info.created.to_rfc3339());
        println!("pack target  {}", output::bytes(info.pack_target));
        println!("zstd level   {}", info.zstd_level);
        println!("chunker      {}", serde_json::to_string(&info.chunker)?);
        println!("key slots    {} (opened with {})", keys.len(), info.key_id);
        println!("index cache  {}", info.cache_path.display());
    }
    Ok(exit::OK)
}

async fn key(g: &GlobalArgs, cmd: KeyCommand) -> Result<u8> {
    match cmd {
        KeyCommand::Add {
            new_password_file,
            kdf,
        } => {
            let params = kdf.params()?;
            let repo = context::open(g).await?;
            let new = password::new_passphrase(new_password_file.as_deref())?;
            let id = repo
                .add_key_with(&new, params)
                .await
                .context("cannot add the key slot")?;
            crate::audit_note::set("key_added", &id);
            if g.json {
                output::print_json(&json!({ "id": id }))?;
            } else {
                println!("added key slot {id}");
            }
        }
        KeyCommand::Remove { id } => {
            let repo = context::open(g).await?;
            repo.remove_key(&id)
                .await
                .with_context(|| format!("cannot remove key slot {id}"))?;
            crate::audit_note::set("key_removed", &id);
            if g.json {
                output::print_json(&json!({ "removed": id }))?;
            } else {
                println!("removed key slot {id}");
            }
        }
        KeyCommand::List => {
            let repo = context::open(g).await?;
            let keys = repo.list_keys().await?;
            if g.json {
                output::print_json(&keys)?;
            } else {
                println!("{:<34} {:<26} current", "ID", "CREATED");
                for k in keys {
                    println!(
                        "{:<34} {:<26} {}",
                        k.id,
                        k.created.to_rfc3339(),
                        if k.current { "*" } else { "" }
                    );
                }
            }
        }
    }
    Ok(exit::OK)
}
