//! `tenantvault-emulator`: run a Graph-compatible tenant, or drive a running one's scenarios.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use tenantvault_emulator::{
    Emulator, EmulatorConfig, EndpointClass, FaultConfig, FaultKind, GeneratorConfig,
    ThrottleConfig,
};

#[derive(Parser)]
#[command(
    name = "tenantvault-emulator",
    version,
    about = "A Graph-compatible Microsoft 365 tenant emulator"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve a tenant; prints one JSON line (URL, tenant, credentials) on stdout, then logs to stderr.
    Serve(ServeArgs),
    /// Call a running emulator's admin API (`/_emulator/...`).
    Admin {
        /// Base URL of the running emulator (http://127.0.0.1:PORT).
        #[arg(long, env = "TENANTVAULT_EMULATOR_URL")]
        url: String,
        #[command(subcommand)]
        action: AdminCmd,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 50)]
    users: usize,
    #[arg(long, default_value_t = 0)]
    port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Mean messages per mailbox.
    #[arg(long, default_value_t = 40)]
    messages: u32,
    /// User folders per mailbox.
    #[arg(long, default_value_t = 3)]
    folders: u32,
    /// Share of attachments reusing shared documents (0–1).
    #[arg(long, default_value_t = 0.5)]
    attachment_reuse: f64,
    #[arg(long, default_value_t = 8)]
    events: u32,
    #[arg(long, default_value_t = 6)]
    contacts: u32,
    #[arg(long, default_value_t = 3)]
    groups: u32,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 3599)]
    token_lifetime: u64,
    /// Turn throttling off.
    #[arg(long)]
    no_throttle: bool,
    /// Throttle windows pass this many times faster.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Fault rate (0–1).
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Outlook delta tokens expire after this many simulated seconds.
    #[arg(long)]
    delta_ttl: Option<u64>,
    /// Build mailboxes from DIR/<user>/mail/<folder>/*.eml (and mbox), calendar/*.ics, contacts/*.vcf.
    #[arg(long)]
    from_dir: Option<PathBuf>,
    /// Mean files per OneDrive / document library (E2).
    #[arg(long, default_value_t = 24)]
    files_per_drive: u32,
    /// Large lazily generated files in the tenant (E2).
    #[arg(long, default_value_t = 1)]
    large_files: u32,
    /// Size of each large file in MiB (E2).
    #[arg(long, default_value_t = 300)]
    large_file_mb: u64,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Print request counters.
    Stats,
    /// Advance the simulated clock.
    Advance {
        #[arg(long, default_value_t = 0)]
        days: u64,
        #[arg(long, default_value_t = 0)]
        seconds: u64,
    },
    /// Simulate user activity over days.
    Activity {
        #[arg(long, default_value_t = 1)]
        days: u32,
        #[arg(long)]
        user: Option<String>,
    },
    /// Insider mass deletion in a mailbox (optionally purging recoverable items).
    Insider {
        #[arg(long)]
        user: String,
        #[arg(long)]
        purge: bool,
    },
    /// A user leaves: account deleted, mailbox gone after N simulated days.
    Departure {
        #[arg(long)]
        user: String,
        #[arg(long, default_value_t = 30)]
        mailbox_days: u32,
    },
    /// Expire all Outlook delta tokens issued so far.
    ExpireDelta {
        #[arg(long)]
        user: Option<String>,
    },
    /// Set the fault rate (and optionally classes, comma-separated).
    Faults {
        #[arg(long)]
        rate: f64,
        #[arg(long)]
        classes: Option<String>,
    },
    /// Turn throttling on or off.
    Throttling {
        #[arg(long)]
        enabled: bool,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Serve(a) => serve(a).await,
        Cmd::Admin { url, action } => admin(&url, action).await,
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn serve(a: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = EmulatorConfig {
        seed: a.seed,
        users: a.users,
        port: a.port,
        host: a.host,
        generator: GeneratorConfig {
            messages_per_mailbox: a.messages,
            user_folders: a.folders,
            attachment_reuse: a.attachment_reuse,
            events_per_mailbox: a.events,
            contacts_per_mailbox: a.contacts,
            groups: a.groups,
            ..Default::default()
        },
        token_lifetime: Duration::from_secs(a.token_lifetime),
        throttling: ThrottleConfig {
            enabled: !a.no_throttle,
            time_scale: a.time_scale,
            ..Default::default()
        },
        faults: FaultConfig {
            rate: a.fault_rate,
            ..Default::default()
        },
        delta_token_ttl: a.delta_ttl.map(Duration::from_secs),
        from_dir: a.from_dir,
        drive: tenantvault_emulator::drive::DriveConfig {
            files_per_drive: a.files_per_drive,
            large_files: a.large_files,
            large_file_size: a.large_file_mb * 1024 * 1024,
            ..Default::default()
        },
    };
    let emu = Emulator::start(config)
        .await
        .context("starting the emulator")?;
    println!("{}", emu.info());
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    emu.shutdown().await;
    Ok(())
}

async fn admin(url: &str, action: AdminCmd) -> Result<()> {
    let base = url.trim_end_matches('/');
    let client = reqwest::Client::new();
    let (path, body) = match action {
        AdminCmd::Stats => {
            let r = client.get(format!("{base}/_emulator/stats")).send().await?;
            println!("{}", r.text().await?);
            return Ok(());
        }
        AdminCmd::Advance { days, seconds } => (
            "clock/advance",
            serde_json::json!({"seconds": days * 86_400 + seconds}),
        ),
        AdminCmd::Activity { days, user } => (
            "scenarios/activity",
            serde_json::json!({"days": days, "user": user}),
        ),
        AdminCmd::Insider { user, purge } => (
            "scenarios/insider",
            serde_json::json!({"user": user, "purgeRecoverable": purge}),
        ),
        AdminCmd::Departure { user, mailbox_days } => (
            "scenarios/departure",
            serde_json::json!({"user": user, "mailboxRetentionDays": mailbox_days}),
        ),
        AdminCmd::ExpireDelta { user } => ("delta/expire", serde_json::json!({"user": user})),
        AdminCmd::Faults { rate, classes } => {
            let classes: Vec<EndpointClass> = match classes {
                Some(c) => c
                    .split(',')
                    .map(|s| {
                        EndpointClass::parse(s.trim()).with_context(|| format!("unknown class {s}"))
                    })
                    .collect::<Result<_>>()?,
                None => vec![],
            };
            let _ = FaultKind::ALL;
            (
                "faults",
                serde_json::json!({"rate": rate, "classes": classes}),
            )
        }
        AdminCmd::Throttling { enabled } => ("throttling", serde_json::json!({"enabled": enabled})),
    };
    let r = client
        .post(format!("{base}/_emulator/{path}"))
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let text = r.text().await?;
    println!("{text}");
    if !status.is_success() {
        bail!("admin call failed with {status}");
    }
    Ok(())
}
