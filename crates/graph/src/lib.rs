//! # tenantvault-graph
//!
//! A Microsoft Graph client for backing up and restoring Microsoft 365 tenants: OAuth2
//! client credentials (secret or certificate), one retry policy that honours `Retry-After`
//! (seconds and HTTP dates) and backs off on 5xx and network failures, client-side budgets
//! that keep many mailboxes and sites in parallel under Graph's limits (Exchange: 4
//! concurrent and 10,000 requests per 10 minutes per mailbox; SharePoint resource units),
//! paging and delta rounds as async streams, `$batch`, resumable downloads and upload
//! sessions, typed models, and counters for requests-per-item figures.
//!
//! It knows nothing about repositories; the workloads crate turns its items into backups.
//!
//! ```no_run
//! use futures::StreamExt;
//! use tenantvault_graph::{DeltaEvent, GraphClient, GraphConfig, ListOptions, MailFolder, Message, WithRaw};
//!
//! # async fn run() -> Result<(), tenantvault_graph::GraphError> {
//! let client = GraphClient::new(GraphConfig::from_env()?)?;
//! let user = "adele@contoso.onmicrosoft.com";
//! let mailbox = client.mailbox(user); // requests count against this mailbox's limits
//! let mut folders = mailbox.pages::<MailFolder>(&format!("users/{user}/mailFolders"));
//! while let Some(folder) = folders.next().await {
//!     let folder = folder?;
//!     let url = format!("users/{user}/mailFolders/{}/messages/delta", folder.id);
//!     let mut round = mailbox.delta_with::<WithRaw<Message>>(&url, ListOptions::default().max_page_size(100).immutable_ids());
//!     while let Some(event) = round.next().await {
//!         match event? {
//!             DeltaEvent::Upsert(m) => {
//!                 let mime = mailbox.get_bytes(&format!("users/{user}/messages/{}/$value", m.value.id)).await?;
//!                 println!("{} {} bytes", m.value.id, mime.len());
//!             }
//!             DeltaEvent::Removed { id, .. } => println!("removed {id}"),
//!         }
//!     }
//!     let delta_link = round.finish()?; // store for the next incremental round
//!     # let _ = delta_link;
//! }
//! println!("{:?}", client.metrics());
//! # Ok(()) }
//! ```

mod assertion;
mod auth;
mod batch;
mod budget;
mod client;
mod clock;
mod config;
mod content;
mod delta;
mod error;
mod metrics;
mod models;
mod paging;
mod quickxor;
mod retry;
mod secret;
mod upload;

pub use assertion::ClientCertificate;
pub use batch::{BatchRequest, BatchResponse, MAX_BATCH};
pub use client::{GraphClient, RequestBuilder, Response};
pub use clock::{Clock, ManualClock, Sleep, SystemClock};
pub use config::{
    AssertionAlgorithm, Credential, DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_BASE, GRAPH_SCOPE,
    GraphConfig, Limits,
};
pub use content::ByteStream;
pub use delta::{DeltaEvent, DeltaRound};
pub use error::{AuthError, ErrorInfo, GraphError, Result};
pub use metrics::MetricsSnapshot;
pub use models::*;
pub use paging::{ListOptions, Page, WithRaw};
pub use quickxor::QuickXorHash;
pub use reqwest::Method;
pub use retry::{Decision, Failure, RetryPolicy, TransportKind, classify, parse_retry_after};
pub use secret::SecretString;
pub use upload::{
    DRIVE_FRAGMENT_UNIT, FileSource, OUTLOOK_SESSION_MAX, OUTLOOK_SESSION_MIN, UploadOutcome,
    UploadSession, UploadSource, UploadTarget,
};
