//! `tenantvault serve`: run the scheduler, REST API and metrics until SIGTERM / Ctrl-C;
//! `tenantvault serve hash-token`: make an API token and the hash the configuration stores.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use tenantvault_graph::GraphClient;

use crate::config::Config;
use crate::serve::settings::{ApiSection, JobKind, NotificationsSection, ServeSection};
use crate::serve::{self, ServiceConfig, clock::SystemClock, jobs::RepoRunner};
use crate::{GlobalArgs, context, exit, output};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
    /// Listen on this address instead of `[serve] listen`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// Print a new random API token and its SHA-256 for `[[api.tokens]] sha256`.
    HashToken {
        /// Hash this token instead of making a new one.
        #[arg(long)]
        token: Option<String>,
    },
}

pub async fn run(g: &GlobalArgs, args: ServeArgs) -> Result<u8> {
    if let Some(ServeCommand::HashToken { token }) = args.command {
        let (token, hash) = match token {
            Some(t) => {
                let h = serve::api::auth::hash_token(&t);
                (t, h)
            }
            None => serve::api::auth::new_token(),
        };
        if g.json {
            output::print_json(&serde_json::json!({ "token": token, "sha256": hash }))?;
        } else {
            println!("token:  {token}\nsha256: {hash}");
        }
        return Ok(exit::OK);
    }
    // everything is checked before the repository is opened
    let cfg = Config::load(g.config.as_deref())?;
    let mut srv: ServeSection = cfg.section("serve")?;
    if let Some(l) = args.listen {
        srv.listen = l;
    }
    srv.validate().map_err(exit::usage)?;
    let notifications: NotificationsSection = cfg.section("notifications")?;
    serve::notify::Notifier::new(notifications.clone()).map_err(exit::usage)?;
    let api: ApiSection = cfg.section("api")?;
    serve::api::auth::Tokens::new(api.tokens.clone()).map_err(exit::usage)?;

    let retention = crate::commands::policy::RetentionSection::load(g)?;
    if srv.jobs.iter().any(|j| j.kind() == JobKind::Retention) && retention.policies.is_empty() {
        return Err(exit::usage(
            "a retention job needs [retention] policies in the configuration file",
        ));
    }
    let graph = graph_client(&srv)?;
    // Graph groups in [[retention.assign]] are resolved once, at start-up
    let retention = if retention.policies.is_empty() {
        None
    } else {
        Some(retention.resolve(g).await?)
    };
    let repo = context::open(g).await?;
    let history_path = srv
        .history
        .clone()
        .unwrap_or_else(|| serve::default_history_path(g.cache_dir.as_deref(), &repo.info().id));
    let clock: Arc<dyn serve::clock::Clock> = Arc::new(SystemClock);
    let runner = RepoRunner {
        repo,
        graph,
        export_root: srv.export_root.clone(),
        retention,
        clock: clock.clone(),
    };
    let json = g.json;
    serve::run(
        ServiceConfig {
            serve: srv,
            notifications,
            api,
            history_path,
            clock,
            check_every: Duration::from_secs(300),
        },
        runner,
        move |addr| {
            // the first stdout line tells scripts (and tests) where the API is
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "listening": format!("http://{addr}") })
                );
            } else {
                println!("listening on http://{addr}");
            }
        },
        shutdown_signal(),
    )
    .await?;
    Ok(exit::OK)
}

/// Graph client from `[serve] graph` (or `AZURE_*` alone); `None` when neither is configured.
fn graph_client(srv: &ServeSection) -> Result<Option<GraphClient>> {
    let have_env = std::env::var_os("AZURE_CLIENT_ID").is_some();
    if srv.graph.is_none() && !have_env {
        tracing::warn!(
            "no Graph credentials ([serve] graph or AZURE_*): backup and restore jobs will fail"
        );
        return Ok(None);
    }
    let mut cfg = crate::exchange::graph_config(srv.graph.as_deref())?;
    if let Some(n) = srv.graph_concurrency {
        cfg.limits.tenant_concurrency = n;
    }
    Ok(Some(
        GraphClient::new(cfg).map_err(|e| anyhow::anyhow!("Graph client: {e}"))?,
    ))
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received"),
    }
}
