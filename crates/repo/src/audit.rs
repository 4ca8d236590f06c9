//! The tamper-evident audit log (`audit/`, FORMAT.md §14): an append-only hash chain of
//! encrypted records with periodic MAC-signed checkpoints.
//!
//! * Record `audit/r/<seq:020>`: JSON `{"v":1,"seq","prev","sealed"}` where `sealed` is the
//!   record JSON under a key derived from the master material, authenticated together with
//!   `seq` and `prev` (the chain hash of record `seq-1`). Every record therefore commits to its
//!   predecessor; nobody without the master key can write one that verifies.
//! * Chain hash of record N = BLAKE3("tv1 audit-chain" ‖ N ‖ stored bytes of N).
//! * Checkpoint `audit/c/<seq:020>`: `(seq, chain hash, time)` with a keyed-BLAKE3 MAC.
//!   Written every [`CHECKPOINT_EVERY`] records and at the end of each CLI command, so removing
//!   the tail of the chain is detected as long as one checkpoint after it survives.
//! * A local witness (`audit-head.json` in the cache directory) remembers the newest head this
//!   machine saw, so a tail removed together with its checkpoints is still detected here.
//!
//! Appenders serialise through `put_if_absent` on the next sequence number: on a conflict the
//! winner's record is read, and the append moves on to the following number.

use crate::crypto::{b64, open, seal, unb64};
use crate::error::{Error, Result};
use crate::repository::Repository;
use crate::storage::{PutOutcome, StorageError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub(crate) const RECORDS: &str = "audit/r/";
pub(crate) const CHECKPOINTS: &str = "audit/c/";
/// A checkpoint is written automatically after every this many records.
pub const CHECKPOINT_EVERY: u64 = 100;
const MAX_APPEND_ATTEMPTS: usize = 10_000;

/// One audit record: what happened, when, by whom, to whose data, and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub time: DateTime<Utc>,
    /// Operation name, e.g. `backup exchange`, `restore`, `erase`, `hold create`.
    pub operation: String,
    /// Who: `user@host` for the CLI, or an API token name.
    pub actor: String,
    /// Owners whose data the operation touched (`workload:owner` or a bare owner name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owners: Vec<String>,
    /// `ok`, `failed`, `partial`, `refused`, …
    pub outcome: String,
    /// Counts, arguments (never secrets), exit code, error text.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl AuditRecord {
    /// A record with no owners and no details.
    pub fn new(
        time: DateTime<Utc>,
        operation: impl Into<String>,
        actor: impl Into<String>,
        outcome: impl Into<String>,
    ) -> Self {
        AuditRecord {
            time,
            operation: operation.into(),
            actor: actor.into(),
            owners: Vec::new(),
            outcome: outcome.into(),
            details: serde_json::Value::Null,
        }
    }

    /// Whether `owner` is one of this record's owners (exactly, or as the part after `workload:`).
    pub fn mentions_owner(&self, owner: &str) -> bool {
        self.owners
            .iter()
            .any(|o| o == owner || o.split_once(':').is_some_and(|(_, name)| name == owner))
    }
}

/// A record read back, with its place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub key: String,
    #[serde(flatten)]
    pub record: AuditRecord,
}

/// The end of the chain: the newest sequence number and its chain hash (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditHead {
    pub seq: u64,
    pub chain: String,
}

impl std::fmt::Display for AuditHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.chain)
    }
}

impl std::str::FromStr for AuditHead {
    type Err = Error;
    /// Parses `SEQ:CHAINHEX` (what `audit verify` prints as the head).
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Invalid(format!("audit head {s:?}: expected SEQ:CHAIN (64 hex)"));
        let (seq, chain) = s.split_once(':').ok_or_else(bad)?;
        let seq: u64 = seq.parse().map_err(|_| bad())?;
        if chain.len() != 64 || !chain.chars().all(|c| c.is_ascii_hexdigit()) || seq == 0 {
            return Err(bad());
        }
        Ok(AuditHead {
            seq,
            chain: chain.to_ascii_lowercase(),
        })
    }
}

/// Filter for [`Repository::audit_records`]. Empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Matches the operation exactly or its first word (`backup` matches `backup exchange`).
    pub operation: Option<String>,
    pub owner: Option<String>,
}

impl AuditFilter {
    pub fn matches(&self, r: &AuditRecord) -> bool {
        self.since.is_none_or(|t| r.time >= t)
            && self.until.is_none_or(|t| r.time <= t)
            && self.operation.as_deref().is_none_or(|op| {
                r.operation == op || r.operation.split_whitespace().next() == Some(op)
            })
            && self.owner.as_deref().is_none_or(|o| r.mentions_owner(o))
    }
}

/// Stored form of a record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordDoc {
    pub v: u32,
    pub seq: u64,
    pub prev: String,
    pub sealed: String,
}

/// Stored form of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckpointDoc {
    pub v: u32,
    pub seq: u64,
    pub chain: String,
    pub time: DateTime<Utc>,
    pub mac: String,
}

pub(crate) fn record_key(seq: u64) -> String {
    format!("{RECORDS}{seq:020}")
}

pub(crate) fn checkpoint_key(seq: u64) -> String {
    format!("{CHECKPOINTS}{seq:020}")
}

/// Sequence number of a record or checkpoint key (`None` for anything else).
pub(crate) fn seq_of(key: &str, prefix: &str) -> Option<u64> {
    let s = key.strip_prefix(prefix)?;
    if s.len() != 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Chain hash of record `seq` from its stored bytes.
pub(crate) fn chain_hash(seq: u64, stored: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"tv1 audit-chain");
    h.update(&seq.to_le_bytes());
    h.update(stored);
    *h.finalize().as_bytes()
}

fn record_ad(seq: u64, prev: &str) -> Vec<u8> {
    let mut ad = b"tv1 audit ".to_vec();
    ad.extend_from_slice(&seq.to_le_bytes());
    ad.extend_from_slice(prev.as_bytes());
    ad
}

/// The two keys of the audit log, derived from the master material.
pub(crate) struct AuditKeys {
    pub record: crate::crypto::Key,
    pub mac: crate::crypto::Key,
}

impl AuditKeys {
    pub fn derive(repo: &Repository) -> Self {
        let m = &repo.keys().material;
        AuditKeys {
            record: crate::crypto::Key(blake3::derive_key("tenantvault v1 audit-record", m)),
            mac: crate::crypto::Key(blake3::derive_key("tenantvault v1 audit-checkpoint", m)),
        }
    }

    pub fn checkpoint_mac(&self, seq: u64, chain: &str, time: &DateTime<Utc>) -> String {
        let mut m = b"tv1 audit-checkpoint".to_vec();
        m.extend_from_slice(&seq.to_le_bytes());
        m.extend_from_slice(chain.as_bytes());
        m.extend_from_slice(time.to_rfc3339().as_bytes());
        hex::encode(blake3::keyed_hash(&self.mac.0, &m).as_bytes())
    }

    /// Decrypt a stored record; `Err(detail)` says why it does not verify.
    pub fn open_record(
        &self,
        stored: &[u8],
    ) -> std::result::Result<(RecordDoc, AuditRecord), String> {
        let doc: RecordDoc =
            serde_json::from_slice(stored).map_err(|e| format!("not a record: {e}"))?;
        if doc.v != 1 {
            return Err(format!("unknown record version {}", doc.v));
        }
        let sealed = unb64(&doc.sealed, "audit record").map_err(|e| e.to_string())?;
        let plain = open(
            &self.record,
            &record_ad(doc.seq, &doc.prev),
            &sealed,
            "audit record",
        )
        .map_err(|_| "authentication failed".to_string())?;
        let rec: AuditRecord =
            serde_json::from_slice(&plain).map_err(|e| format!("bad record body: {e}"))?;
        Ok((doc, rec))
    }

    fn seal_record(&self, seq: u64, prev: &str, rec: &AuditRecord) -> Vec<u8> {
        let sealed = seal(
            &self.record,
            &record_ad(seq, prev),
            &serde_json::to_vec(rec).expect("serializable"),
        );
        let doc = RecordDoc {
            v: 1,
            seq,
            prev: prev.to_string(),
            sealed: b64(&sealed),
        };
        serde_json::to_vec(&doc).expect("serializable")
    }
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Repository {
    /// Append one record to the audit log; returns the new head. Safe with concurrent
    /// appenders (each sequence number is written once). Writes a checkpoint after every
    /// [`CHECKPOINT_EVERY`] records.
    pub async fn audit_append(&self, record: &AuditRecord) -> Result<AuditHead> {
        let keys = AuditKeys::derive(self);
        let mut tail = self.audit_tail().await?;
        for _ in 0..MAX_APPEND_ATTEMPTS {
            let (seq, prev) = match &tail {
                Some(h) => (h.seq + 1, h.chain.clone()),
                None => (1, GENESIS.to_string()),
            };
            let bytes = keys.seal_record(seq, &prev, record);
            let key = record_key(seq);
            match self
                .storage()
                .put_if_absent(&key, bytes.clone().into())
                .await?
            {
                PutOutcome::Created => {
                    let head = AuditHead {
                        seq,
                        chain: hex::encode(chain_hash(seq, &bytes)),
                    };
                    self.save_witness(&head);
                    if seq % CHECKPOINT_EVERY == 0 {
                        self.write_checkpoint(&keys, &head, record.time).await?;
                    }
                    tracing::debug!(seq, operation = %record.operation, "audit record appended");
                    return Ok(head);
                }
                PutOutcome::AlreadyExists => {
                    let theirs = self.storage().get(&key).await?;
                    tail = Some(AuditHead {
                        seq,
                        chain: hex::encode(chain_hash(seq, &theirs)),
                    });
                }
            }
        }
        Err(Error::Invalid(
            "audit log: too many concurrent appenders, giving up".into(),
        ))
    }

    /// Write a signed checkpoint over the current head (no-op for an empty log or when the
    /// head already has one). Returns the head it covers.
    pub async fn audit_checkpoint(&self, now: DateTime<Utc>) -> Result<Option<AuditHead>> {
        let Some(head) = self.audit_tail().await? else {
            return Ok(None);
        };
        self.write_checkpoint(&AuditKeys::derive(self), &head, now)
            .await?;
        self.save_witness(&head);
        Ok(Some(head))
    }

    async fn write_checkpoint(
        &self,
        keys: &AuditKeys,
        head: &AuditHead,
        time: DateTime<Utc>,
    ) -> Result<()> {
        let doc = CheckpointDoc {
            v: 1,
            seq: head.seq,
            chain: head.chain.clone(),
            time,
            mac: keys.checkpoint_mac(head.seq, &head.chain, &time),
        };
        let bytes = serde_json::to_vec(&doc).expect("serializable");
        self.storage()
            .put_if_absent(&checkpoint_key(head.seq), bytes.into())
            .await?;
        Ok(())
    }

    /// The current head of the chain as stored (`None` if the log is empty). Starts from the
    /// local witness and probes forward; lists `audit/r/` only when the witness is unusable.
    pub async fn audit_tail(&self) -> Result<Option<AuditHead>> {
        let mut cur: Option<AuditHead> = None;
        if let Some(w) = self.load_witness() {
            match self.storage().get(&record_key(w.seq)).await {
                Ok(b) => {
                    cur = Some(AuditHead {
                        seq: w.seq,
                        chain: hex::encode(chain_hash(w.seq, &b)),
                    })
                }
                Err(StorageError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if cur.is_none() {
            let last = self
                .storage()
                .list(RECORDS)
                .await?
                .into_iter()
                .filter_map(|(k, _)| seq_of(&k, RECORDS))
                .max();
            if let Some(seq) = last {
                let b = self.storage().get(&record_key(seq)).await?;
                cur = Some(AuditHead {
                    seq,
                    chain: hex::encode(chain_hash(seq, &b)),
                });
            }
        }
        let Some(mut head) = cur else {
            return Ok(None);
        };
        loop {
            match self.storage().get(&record_key(head.seq + 1)).await {
                Ok(b) => {
                    head = AuditHead {
                        seq: head.seq + 1,
                        chain: hex::encode(chain_hash(head.seq + 1, &b)),
                    }
                }
                Err(StorageError::NotFound { .. }) => return Ok(Some(head)),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Records matching `filter`, in sequence order, plus the number of records that could
    /// not be read (damaged or forged; `audit_verify` says which).
    pub async fn audit_records(&self, filter: &AuditFilter) -> Result<(Vec<AuditEntry>, u64)> {
        let keys = AuditKeys::derive(self);
        let mut out = Vec::new();
        let mut unreadable = 0;
        for (k, _) in self.storage().list(RECORDS).await? {
            let Some(seq) = seq_of(&k, RECORDS) else {
                unreadable += 1;
                continue;
            };
            let bytes = match self.storage().get(&k).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            match keys.open_record(&bytes) {
                Ok((doc, rec)) if doc.seq == seq => {
                    if filter.matches(&rec) {
                        out.push(AuditEntry {
                            seq,
                            key: k,
                            record: rec,
                        });
                    }
                }
                Ok(_) | Err(_) => {
                    tracing::warn!(object = %k, "audit record does not verify");
                    unreadable += 1;
                }
            }
        }
        Ok((out, unreadable))
    }

    fn witness_path(&self) -> Option<PathBuf> {
        let redb = self.inner.cache.path();
        let mut dir = redb.parent()?.to_path_buf();
        if dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("private-"))
        {
            dir = dir.parent()?.to_path_buf();
        }
        Some(dir.join("audit-head.json"))
    }

    /// The newest head this machine has seen (local witness), if any.
    pub fn audit_witness(&self) -> Option<AuditHead> {
        self.load_witness()
    }

    fn load_witness(&self) -> Option<AuditHead> {
        let b = std::fs::read(self.witness_path()?).ok()?;
        serde_json::from_slice(&b).ok()
    }

    /// Remember `head` locally unless a newer one is already remembered. Best effort: a
    /// failure only weakens truncation detection on this machine.
    fn save_witness(&self, head: &AuditHead) {
        let Some(path) = self.witness_path() else {
            return;
        };
        if self.load_witness().is_some_and(|w| w.seq > head.seq) {
            return;
        }
        let tmp = path.with_extension(format!("tmp-{}", crate::crypto::random_hex(4)));
        let r = std::fs::write(&tmp, serde_json::to_vec(head).expect("serializable"))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(error = %e, path = %path.display(), "cannot save the audit witness");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_heads_parse() {
        assert_eq!(seq_of(&record_key(42), RECORDS), Some(42));
        assert_eq!(seq_of("audit/r/42", RECORDS), None);
        assert_eq!(seq_of(&checkpoint_key(7), RECORDS), None);
        let h: AuditHead = format!("12:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(h.seq, 12);
        assert_eq!(h.to_string().parse::<AuditHead>().unwrap(), h);
        assert!("12:abc".parse::<AuditHead>().is_err());
        assert!(
            format!("0:{}", "ab".repeat(32))
                .parse::<AuditHead>()
                .is_err()
        );
    }

    #[test]
    fn filter_matches_operation_word_owner_and_time() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .to_utc();
        let mut r = AuditRecord::new(t, "backup exchange", "me@host", "ok");
        r.owners.push("exchange:alice@x.com".into());
        let f = |op: Option<&str>, owner: Option<&str>| AuditFilter {
            operation: op.map(Into::into),
            owner: owner.map(Into::into),
            ..Default::default()
        };
        assert!(f(Some("backup"), None).matches(&r));
        assert!(f(Some("backup exchange"), Some("alice@x.com")).matches(&r));
        assert!(f(None, Some("exchange:alice@x.com")).matches(&r));
        assert!(!f(Some("back"), None).matches(&r));
        assert!(!f(None, Some("bob@x.com")).matches(&r));
        let since = AuditFilter {
            since: Some(t + chrono::Duration::seconds(1)),
            ..Default::default()
        };
        assert!(!since.matches(&r));
        let until = AuditFilter {
            until: Some(t),
            ..Default::default()
        };
        assert!(until.matches(&r));
    }
}
