//! `tenantvault serve`: the long-running service. A scheduler queues backup and maintenance
//! jobs ([`queue`]), runs them in-process ([`jobs`]) under a tenant-wide concurrency limit,
//! keeps their history in SQLite ([`history`]), notifies by webhook and e-mail ([`notify`],
//! [`alerts`]), and answers a REST API with `/metrics` ([`api`]).
//!
//! Shutdown (SIGTERM or Ctrl-C): no new runs start, running ones get `shutdown_grace` to end,
//! then stop; what they committed (checkpoints) stays and the next start resumes them.

pub mod alerts;
pub mod api;
pub mod clock;
pub mod cron;
pub mod history;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod runner;
pub mod schedule;
pub mod settings;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use clock::Clock;
use history::History;
use jobs::RepoRunner;
use notify::Notifier;
use queue::Service;
use settings::{ApiSection, NotificationsSection, ServeSection};

/// Everything the service needs, checked.
pub struct ServiceConfig {
    pub serve: ServeSection,
    pub notifications: NotificationsSection,
    pub api: ApiSection,
    pub history_path: PathBuf,
    pub clock: Arc<dyn Clock>,
    /// How often RPO and digest checks run.
    pub check_every: Duration,
}

/// Runs the service until `shutdown` completes. `on_listen` receives the bound address.
pub async fn run(
    cfg: ServiceConfig,
    runner: RepoRunner,
    on_listen: impl FnOnce(std::net::SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let notifier = Arc::new(Notifier::new(cfg.notifications).map_err(crate::exit::usage)?);
    let tokens = api::auth::Tokens::new(cfg.api.tokens).map_err(crate::exit::usage)?;
    if tokens.is_empty() {
        tracing::warn!("no [[api.tokens]] configured: only /health answers without 401");
    }
    let history = Arc::new(History::open(&cfg.history_path)?);
    let runner = Arc::new(runner);
    let metrics = Arc::new(metrics::Metrics::default());
    let grace = cfg.serve.shutdown_grace;
    let listen = cfg.serve.listen.clone();
    let (service, finished) = Service::new(
        cfg.serve,
        cfg.clock.clone(),
        history.clone(),
        runner.clone(),
        metrics,
    )
    .map_err(crate::exit::usage)?;
    tokio::spawn(alerts::forward(finished, notifier.clone()));

    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    // interrupted runs are re-queued before the API answers, so no client sees them `running`
    let queued = service.startup()?;
    if !queued.is_empty() {
        tracing::info!(runs = ?queued, "queued at start-up (resumed or caught up)");
    }
    let app = api::router(Arc::new(api::Api {
        service: service.clone(),
        runner: runner.clone(),
        tokens,
        repo_figures: Default::default(),
    }));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut server_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await
    });
    tracing::info!(%addr, "API listening");
    on_listen(addr);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut stop = stop_rx;
    let mut last_check = None;
    loop {
        let now = cfg.clock.now();
        if last_check.is_none_or(|t: chrono::DateTime<chrono::Utc>| {
            (now - t).to_std().unwrap_or_default() >= cfg.check_every
        }) {
            last_check = Some(now);
            alerts::rpo_check(&service.settings, &history, &runner.repo, &notifier, now).await;
            alerts::digest(&history, &notifier, now).await;
        }
        let wait = service
            .next_due()
            .map(|d| (d - now).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(60))
            .min(Duration::from_secs(60));
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(wait) => {}
            _ = service.changed.notified() => {}
        }
        service.tick()?;
    }
    tracing::info!("shutting down: waiting for running jobs");
    service.shutdown(grace).await;
    let _ = server.await;
    Ok(())
}

/// Default history location: `serve.sqlite` in the repository's cache directory.
pub fn default_history_path(cache_dir: Option<&std::path::Path>, repo_id: &str) -> PathBuf {
    let base = cache_dir.map(PathBuf::from).unwrap_or_else(|| {
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("tenantvault");
        }
        if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(h).join(".cache").join("tenantvault");
        }
        std::env::temp_dir().join("tenantvault-cache")
    });
    base.join(repo_id).join("serve.sqlite")
}
