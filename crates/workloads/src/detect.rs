//! Ransomware and insider detection during every backup, and the response.
//!
//! After each drive or mailbox snapshot is committed, [`after_backup`] compares it with the
//! owner's previous complete snapshot ([`ChangeStats`]: created, modified, deleted, moved,
//! renamed, bytes changed, extension changes incl. known ransomware extensions and the
//! "extension appended to many files" pattern, ransom-note-like new files, the entropy change
//! of sampled rewritten files, mail purges incl. Recoverable Items), scores it against the
//! owner's own history (up to [`BASELINE_SNAPSHOTS`] earlier snapshots), and when the score
//! reaches [`ALERT_SCORE`] stores an [`Alert`] (`alerts/`) and pins the last clean snapshot
//! with a hold (case `alert:<id>`) that retention and GC honour until the alert is cleared.
//!
//! ```no_run
//! # async fn demo(repo: tenantvault_repo::Repository) -> Result<(), tenantvault_workloads::detect::DetectError> {
//! use tenantvault_workloads::detect;
//! for a in detect::list_alerts(&repo).await?.iter().filter(|a| a.is_open()) {
//!     println!("{} {} score {}: {}", a.id, a.owner_name, a.score, a.explanation);
//! }
//! # Ok(()) }
//! ```

mod alert;
pub mod entropy;
mod forget;
pub mod names;
mod run;
pub mod score;
pub mod stats;

pub use alert::{
    ALERT_PREFIX, Alert, Clearance, alert, alerts_for_snapshots, clear_alert, list_alerts,
};
pub(crate) use forget::journal_owner_dir;
pub use forget::{Forgotten, OwnerDocuments, forget_owner, owner_documents};
pub use run::{Analysis, STATS_PREFIX, StatsDoc, after_backup, analyze, history};
pub use score::{ALERT_SCORE, BASELINE_SNAPSHOTS, Verdict};
pub use stats::ChangeStats;

/// Errors of detection and alert handling.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// A stored document does not decode.
    #[error("corrupt {object}: {detail}")]
    Corrupt {
        /// Object key.
        object: String,
        /// What is wrong.
        detail: String,
    },
    /// No alert with this id or prefix.
    #[error("no alert {0}")]
    NoSuchAlert(String),
    /// Bad request.
    #[error("{0}")]
    Invalid(String),
}
