//! Tuning knobs of an Exchange backup run.

use std::time::Duration;

/// How a run behaves. `BackupConfig::default()` is what the CLI uses.
#[derive(Debug, Clone)]
pub struct BackupConfig {
    /// Mailboxes backed up at the same time (each under its own per-mailbox Graph limits).
    pub parallel_mailboxes: usize,
    /// Requests in flight per mailbox for downloads (Exchange allows 4 concurrent per mailbox;
    /// the Graph client enforces that, this only decides how many we try to keep busy).
    pub fetch_concurrency: usize,
    /// `Prefer: odata.maxpagesize` for delta pages.
    pub page_size: u32,
    /// Commit a checkpoint after this many stored items …
    pub checkpoint_items: u64,
    /// … or after this long, whichever comes first.
    pub checkpoint_interval: Duration,
    /// Back up the primary calendar (calendarView delta).
    pub events: bool,
    /// Back up the default contacts folder.
    pub contacts: bool,
    /// Try to back up Recoverable Items deletions (skipped quietly when not readable).
    pub recoverable_items: bool,
    /// calendarView window: days before the first run.
    pub event_window_past_days: i64,
    /// calendarView window: days after the first run.
    pub event_window_future_days: i64,
    /// Downloads larger than this are spooled to a temporary file.
    pub spool_threshold: usize,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            parallel_mailboxes: 8,
            fetch_concurrency: 4,
            page_size: 250,
            checkpoint_items: 20_000,
            checkpoint_interval: Duration::from_secs(300),
            events: true,
            contacts: true,
            recoverable_items: true,
            event_window_past_days: 5 * 365,
            event_window_future_days: 2 * 365,
            spool_threshold: 8 << 20,
        }
    }
}
