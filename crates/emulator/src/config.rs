//! Configuration of an emulated tenant: size knobs, auth, throttling and faults.

use std::path::PathBuf;
use std::time::Duration;

/// Everything needed to start an [`crate::Emulator`].
///
/// `EmulatorConfig { seed: 42, users: 5, ..Default::default() }` is the usual form.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Seed of the deterministic generator (same seed → same tenant).
    pub seed: u64,
    /// Number of generated users (some shared mailboxes, some disabled).
    pub users: usize,
    /// TCP port on 127.0.0.1 (0 = pick a free one).
    pub port: u16,
    /// Host to bind (default `127.0.0.1`).
    pub host: String,
    /// Size knobs of the mail/calendar/contact generator.
    pub generator: GeneratorConfig,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// Exchange throttling.
    pub throttling: ThrottleConfig,
    /// Fault injection.
    pub faults: FaultConfig,
    /// Outlook delta tokens older than this (simulated time) answer 410 `SyncStateNotFound`.
    /// `None` = never expire by age.
    pub delta_token_ttl: Option<Duration>,
    /// Build mailboxes from a directory of `.eml`/mbox/`.ics`/`.vcf` files instead of generating them.
    pub from_dir: Option<PathBuf>,
    /// OneDrive/SharePoint/Teams knobs (E2).
    pub drive: crate::drive::DriveConfig,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            users: 5,
            port: 0,
            host: "127.0.0.1".into(),
            generator: GeneratorConfig::default(),
            token_lifetime: Duration::from_secs(3599),
            throttling: ThrottleConfig::default(),
            faults: FaultConfig::default(),
            delta_token_ttl: None,
            from_dir: None,
            drive: crate::drive::DriveConfig::default(),
        }
    }
}

/// Size knobs of the generator. Counts are per mailbox and drawn deterministically from the seed.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Mean number of messages per licensed mailbox (spread over folders; actual counts vary ±50%).
    pub messages_per_mailbox: u32,
    /// Number of nested user folders per mailbox (under Inbox and Archive).
    pub user_folders: u32,
    /// Share of attachments that reuse one of a few shared documents (identical bytes across
    /// mailboxes), 0.0–1.0. The rest are unique per message.
    pub attachment_reuse: f64,
    /// Share of messages carrying attachments, 0.0–1.0.
    pub attachment_rate: f64,
    /// Events per mailbox (single instances; a few recurring series are added on top).
    pub events_per_mailbox: u32,
    /// Contacts per mailbox.
    pub contacts_per_mailbox: u32,
    /// Groups in the tenant.
    pub groups: u32,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            messages_per_mailbox: 40,
            user_folders: 3,
            attachment_reuse: 0.5,
            attachment_rate: 0.25,
            events_per_mailbox: 8,
            contacts_per_mailbox: 6,
            groups: 3,
        }
    }
}

/// Microsoft's documented Outlook limits, with a time-scale knob.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Master switch.
    pub enabled: bool,
    /// Concurrent requests per app per mailbox (Graph: 4).
    pub mailbox_concurrency: u32,
    /// Requests per app per mailbox per window (Graph: 10,000).
    pub mailbox_requests_per_window: u32,
    /// Window length in simulated seconds (Graph: 600).
    pub window_secs: u64,
    /// Real time runs this many times faster for throttle windows (1.0 = real time).
    pub time_scale: f64,
    /// Share (0.0–1.0) of 429 answers whose `Retry-After` is an HTTP date instead of seconds.
    pub http_date_share: f64,
    /// SharePoint/OneDrive resource units per app per minute (Graph: 1,200 for small tenants).
    pub sharepoint_ru_per_minute: u32,
    /// Share (0.0–1.0) of SharePoint/OneDrive throttle answers given as 503
    /// `serviceNotAvailable` + `Retry-After` instead of 429 (Graph answers either). Which ones is
    /// drawn from the tenant seed and the throttle sequence number. Default 0.0 (all 429).
    pub sharepoint_503_share: f64,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            mailbox_concurrency: 4,
            mailbox_requests_per_window: 10_000,
            window_secs: 600,
            time_scale: 1.0,
            http_date_share: 0.0,
            sharepoint_ru_per_minute: 1_200,
            sharepoint_503_share: 0.0,
        }
    }
}

/// Deterministic fault injection: each request of an enabled class fails with probability `rate`,
/// decided by hashing (seed, request sequence number), so a run with the same request order
/// sees the same faults.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Probability (0.0–1.0) that a request gets a fault.
    pub rate: f64,
    /// Endpoint classes affected (empty = all).
    pub classes: Vec<crate::EndpointClass>,
    /// Fault kinds to choose from (empty = all kinds).
    pub kinds: Vec<crate::FaultKind>,
}
