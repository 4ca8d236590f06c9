//! Object Lock vocabulary shared by backends and the repository: modes, policy, versions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// S3 Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockMode {
    /// Nobody, not even the account root, can shorten or remove the retention.
    Compliance,
    /// Principals with `s3:BypassGovernanceRetention` can; everyone else cannot.
    Governance,
}

impl LockMode {
    /// `compliance` / `governance`.
    pub fn as_str(self) -> &'static str {
        match self {
            LockMode::Compliance => "compliance",
            LockMode::Governance => "governance",
        }
    }
}

impl std::str::FromStr for LockMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "compliance" => Ok(LockMode::Compliance),
            "governance" => Ok(LockMode::Governance),
            other => Err(format!(
                "unknown object lock mode {other:?} (expected compliance or governance)"
            )),
        }
    }
}

/// How long new objects are retained, and in which mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockPolicy {
    pub mode: LockMode,
    /// Retention of a new object, in days from its write.
    pub days: u32,
}

impl LockPolicy {
    /// Whether objects under `key` are locked at all: `owners/` (erasure deletes those keys),
    /// `sessions/` markers and `gc/` candidate lists are deleted routinely and never locked.
    pub fn applies_to(key: &str) -> bool {
        !(key.starts_with("owners/") || key.starts_with("sessions/") || key.starts_with("gc/"))
    }

    /// Retain-until date for an object written at `now`.
    pub fn until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::days(i64::from(self.days))
    }
}

/// What a backend can do about immutability.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LockCapabilities {
    /// Objects can carry a retain-until date ([`super::Storage::extend_lock`] works).
    pub object_lock: bool,
    /// Objects can carry a legal-hold flag ([`super::Storage::set_legal_hold`] works).
    pub legal_hold: bool,
    /// Overwrites keep the earlier versions ([`super::Storage::get_original`] works).
    pub versioned: bool,
    /// The retention applied to new objects, if the repository was created with one.
    pub policy: Option<LockPolicy>,
}

/// One stored version of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub version_id: String,
    pub size: u64,
    pub modified: DateTime<Utc>,
    /// The version a plain read returns.
    pub latest: bool,
}
