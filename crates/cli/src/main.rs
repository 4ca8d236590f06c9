//! `tenantvault`: the command-line front of the tenantvault libraries.
//!
//! This crate only parses arguments, asks for passphrases, draws progress and prints results;
//! the work lives in `tenantvault-repo` (and later the workload crates). Exit codes are
//! documented in [`exit`].
//!
//! ```text
//! TENANTVAULT_PASSWORD=… tenantvault --repo /backup/repo repo init
//! tenantvault --repo /backup/repo backup dir /srv/share --owner share
//! tenantvault --repo /backup/repo snapshots --owner share
//! tenantvault --repo /backup/repo restore latest --owner share --target /tmp/restore
//! ```

mod audit_note;
mod clock;
mod commands;
mod config;
mod context;
mod demo;
mod drive;
mod exchange;
mod exchange_restore;
mod exit;
mod output;
mod password;
mod progress;
mod serve;
mod snapshot_ref;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Independent, encrypted, deduplicated backup of Microsoft 365 tenants.
#[derive(Debug, Parser)]
#[command(name = "tenantvault", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Repository location: a local directory or `s3://bucket/prefix`.
    #[arg(long, global = true, env = "TENANTVAULT_REPO", value_name = "PATH")]
    pub repo: Option<PathBuf>,
    /// S3-compatible endpoint URL (MinIO, Ceph, …); default AWS.
    #[arg(
        long,
        global = true,
        env = "TENANTVAULT_S3_ENDPOINT",
        value_name = "URL"
    )]
    pub s3_endpoint: Option<String>,
    /// S3 region (default: AWS_REGION / profile, else us-east-1).
    #[arg(
        long,
        global = true,
        env = "TENANTVAULT_S3_REGION",
        value_name = "REGION"
    )]
    pub s3_region: Option<String>,
    /// Path-style S3 addressing (endpoint/bucket), needed by most S3-compatible servers.
    #[arg(long, global = true, env = "TENANTVAULT_S3_PATH_STYLE")]
    pub s3_path_style: bool,
    /// Read the passphrase from the first line of this file (else `TENANTVAULT_PASSWORD`,
    /// else an interactive prompt on a terminal).
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Configuration file (TOML: retention policies, alerts, schedules …); see `config.rs`.
    #[arg(long, global = true, env = "TENANTVAULT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the local index cache (default: the platform cache directory).
    #[arg(long, global = true, env = "TENANTVAULT_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Machine-readable JSON on stdout (implies no progress bars).
    #[arg(long, global = true)]
    pub json: bool,
    /// No progress bars and no summary lines on stderr.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); `RUST_LOG` overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Top-level commands. Other workloads add their variants here.
// Parsed once per process; the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or inspect a repository and manage its key slots.
    #[command(subcommand)]
    Repo(commands::repo::RepoCommand),
    /// Back up a source into a new snapshot.
    #[command(subcommand)]
    Backup(commands::backup::BackupCommand),
    /// List snapshots.
    Snapshots(commands::snapshots::SnapshotsArgs),
    /// List the items of a snapshot.
    Ls(commands::ls::LsArgs),
    /// Restore items of a snapshot into a directory (or `restore onedrive|sharepoint` through Graph).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Restore(commands::restore::RestoreArgs),
    /// Write the content of one item to stdout.
    Dump(commands::dump::DumpArgs),
    /// Verify the repository structure (and with --read-data every blob).
    Check(commands::check::CheckArgs),
    /// Remove data that no snapshot references (two-phase, safe beside running backups).
    Gc(commands::gc::GcArgs),
    /// Storage upkeep: extend Object Lock retention, clean interrupted uploads.
    #[command(subcommand)]
    Maintain(commands::maintain::MaintainCommand),
    /// Export a snapshot: Exchange as EML/mbox/ICS/VCF (or one ZIP), OneDrive/SharePoint as a directory tree.
    #[command(subcommand)]
    Export(exchange_restore::ExportCommand),
    /// Find items of an Exchange snapshot by folder, subject, sender, recipient and date.
    Find(exchange::FindArgs),
    /// Run the whole story on a simulated tenant: back up, change, back up, find a deleted message.
    Demo(demo::DemoArgs),
    /// Run the service: scheduled backups and maintenance, job history, REST API, metrics, notifications.
    Serve(commands::serve::ServeArgs),
    /// Show or verify the tamper-evident audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// Erase an owner's data (GDPR article 17) by crypto-shredding.
    Erase(commands::erase::EraseArgs),
    /// Reports (compliance).
    #[command(subcommand)]
    Report(commands::report::ReportCommand),
    /// Legal holds: create, list, show, release (held data survives retention, GC and erasure).
    #[command(subcommand)]
    Hold(commands::hold::HoldCommand),
    /// Show the retention policies of the configuration file.
    #[command(subcommand)]
    Policy(commands::policy::PolicyCommand),
    /// Plan or apply retention (what the policies remove, and why).
    #[command(subcommand)]
    Retention(commands::retention::RetentionCommand),
    /// Ransomware and insider alerts: list, show, clear (clearing releases the pinned clean snapshot).
    #[command(subcommand)]
    Alerts(commands::alerts::AlertsCommand),
    /// Put back every item an attack changed or deleted, from its last clean version.
    Recover(commands::recover::RecoverArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::init_tracing(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    // `serve` handles Ctrl-C itself (graceful shutdown); other commands stop at once
    let serving = matches!(cli.command, Command::Serve(_));
    let result = runtime.block_on(async {
        tokio::select! {
            r = commands::run(cli) => r,
            _ = tokio::signal::ctrl_c(), if !serving => Err(exit::CliError {
                code: exit::INTERRUPTED,
                message: "interrupted; an unfinished backup leaves only unreferenced data, which the next run reuses".into(),
            }
            .into()),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit::code_for(&err))
        }
    }
}
