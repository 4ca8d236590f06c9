//! A Graph-compatible Microsoft 365 tenant emulator for tests, demos and benchmarks.
//!
//! It serves Microsoft Graph v1.0 URLs and JSON on loopback: the identity token endpoint
//! (client secret and certificate assertions), the directory, Exchange mail/calendar/contacts
//! with delta queries and real MIME, `$batch`, Graph's throttling and injectable faults, plus
//! an admin API under `/_emulator/…` to drive scenarios (simulated days of user activity,
//! insider deletion, user departure, expired delta tokens). Tenant content is generated lazily
//! from a seed, so the same seed always gives the same tenant.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tenantvault_emulator::EmulatorError> {
//! use tenantvault_emulator::{Emulator, EmulatorConfig};
//! let emu = Emulator::start(EmulatorConfig { seed: 42, users: 5, ..Default::default() }).await?;
//! println!("Graph at {} for tenant {}", emu.graph_url(), emu.tenant_id());
//! println!("client {} / secret {}", emu.client_id(), emu.client_secret());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
#![recursion_limit = "256"]

pub mod admin;
pub mod auth;
mod batch;
pub mod classify;
pub mod clock;
pub mod config;
mod context;
mod directory;
pub mod drive;
pub mod error;
pub mod faults;
pub mod mail;
mod middleware;
pub mod model;
mod normalize;
pub mod odata;
pub mod quickxor;
pub mod respond;
pub mod rng;
mod router;
pub mod schema_props;
mod server;
pub mod state;
pub mod stats;
pub mod teams;
pub mod throttle;
mod util;

pub use classify::EndpointClass;
pub use config::{EmulatorConfig, FaultConfig, GeneratorConfig, ThrottleConfig};
pub use error::GraphError;
pub use faults::FaultKind;
pub use state::AppState;

use std::net::SocketAddr;
use tokio::sync::watch;

/// Errors starting an emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Could not bind the listening socket.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Requested address.
        addr: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The `--from-dir` tree could not be loaded.
    #[error("cannot load tenant from {path}: {detail}")]
    Load {
        /// Directory.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

/// A running emulator. Dropping it without [`Emulator::shutdown`] leaves the server task running
/// until the runtime ends.
pub struct Emulator {
    state: AppState,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Emulator {
    /// Generate (or load) the tenant and start serving on `config.host:config.port`.
    pub async fn start(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        let bind = format!("{}:{}", config.host, config.port);
        let listener = tokio::net::TcpListener::bind(&bind)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: bind.clone(),
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr: bind, source })?;
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        let base_url = format!("http://{host}:{}", addr.port());
        let (directory, mail) = match &config.from_dir {
            Some(dir) => {
                mail::loader::load(dir, &config).map_err(|detail| EmulatorError::Load {
                    path: dir.display().to_string(),
                    detail,
                })?
            }
            None => {
                let directory = model::tenant::Directory::generate(
                    config.seed,
                    config.users,
                    config.generator.groups,
                );
                let mail = mail::MailStore::new(config.seed, config.generator.clone(), &directory);
                (directory, mail)
            }
        };
        let state = AppState(std::sync::Arc::new(state::Shared::new(
            config, base_url, directory, mail,
        )));
        let router = router::build(state.clone());
        *state.ext(|_| batch::BatchRouter::default()).0.lock() = Some(router.clone());
        let (stop, rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, router, rx));
        tracing::info!(url = %state.base_url, "emulator listening");
        Ok(Self {
            state,
            addr,
            stop,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }
    /// `http://127.0.0.1:PORT/v1.0`.
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.state.base_url)
    }
    /// The token endpoint for this tenant.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.state.base_url,
            self.tenant_id()
        )
    }
    /// Socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// Tenant id (GUID).
    pub fn tenant_id(&self) -> String {
        self.state.tenant_id()
    }
    /// Initial domain (`m365x{seed}.onmicrosoft.com`).
    pub fn domain(&self) -> String {
        self.state.directory.read().domain.clone()
    }
    fn app(&self, i: usize) -> auth::App {
        self.state.auth.apps.read()[i].clone()
    }
    /// Client id of the full-permission app (client secret credential).
    pub fn client_id(&self) -> String {
        self.app(0).client_id
    }
    /// Secret of [`Self::client_id`].
    pub fn client_secret(&self) -> String {
        self.app(0).secrets[0].clone()
    }
    /// Client id of the full-permission app with a certificate credential.
    pub fn cert_client_id(&self) -> String {
        self.app(1).client_id
    }
    /// The registered certificate (PEM) of [`Self::cert_client_id`].
    pub fn cert_pem(&self) -> &'static str {
        auth::TEST_CERT_PEM
    }
    /// The certificate's private key (PKCS#8 PEM), for signing client assertions.
    pub fn cert_key_pem(&self) -> &'static str {
        auth::TEST_KEY_PEM
    }
    /// Client id of the read-only app (no `*.ReadWrite*` roles).
    pub fn readonly_client_id(&self) -> String {
        self.app(2).client_id
    }
    /// Secret of [`Self::readonly_client_id`].
    pub fn readonly_client_secret(&self) -> String {
        self.app(2).secrets[0].clone()
    }
    /// The shared state (for in-process inspection and scenario calls).
    pub fn state(&self) -> &AppState {
        &self.state
    }
    /// A JSON summary (URL, tenant, credentials), as the binary prints it.
    pub fn info(&self) -> serde_json::Value {
        admin::info_json(&self.state)
    }
    /// Stop accepting connections and close open ones.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        *self.state.ext(|_| batch::BatchRouter::default()).0.lock() = None;
        let _ = self.task.await;
    }
}
