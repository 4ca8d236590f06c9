//! `audit verify`: walk the audit chain and its checkpoints and say where it was tampered with.

use crate::audit::{
    AuditHead, AuditKeys, CHECKPOINTS, CheckpointDoc, RECORDS, chain_hash, record_key, seq_of,
};
use crate::error::Result;
use crate::repository::Repository;
use crate::storage::StorageError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What kind of tampering (or damage) a problem shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditProblemKind {
    /// The record's bytes do not authenticate (changed, or forged without the key).
    Altered,
    /// Sequence numbers are missing: records were removed.
    Removed,
    /// A record is stored under another record's sequence number (moved or reordered).
    Reordered,
    /// The record authenticates but does not follow its predecessor: a record was inserted or
    /// the chain was spliced from different histories.
    ChainBroken,
    /// Records a signed checkpoint (or this machine's witness) vouches for are gone.
    Truncated,
    /// A checkpoint whose MAC does not verify, or whose hash differs from the chain.
    BadCheckpoint,
    /// An object under `audit/` that is not a record or a checkpoint.
    Unexpected,
}

/// One finding of [`Repository::audit_verify`], with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditProblem {
    pub kind: AuditProblemKind,
    /// Sequence number concerned (first one of a range).
    pub seq: Option<u64>,
    /// Storage key concerned.
    pub key: String,
    pub detail: String,
}

/// Result of [`Repository::audit_verify`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerifyReport {
    /// Record objects found.
    pub records: u64,
    /// Checkpoints found (valid or not).
    pub checkpoints: u64,
    /// Newest record and its chain hash.
    pub head: Option<AuditHead>,
    /// Newest valid checkpoint's sequence number.
    pub last_checkpoint: Option<u64>,
    /// Records after the newest valid checkpoint (protected by the chain and the witness only).
    pub unsealed_tail: u64,
    /// The head this machine remembered, if it was compared.
    pub witness: Option<AuditHead>,
    pub problems: Vec<AuditProblem>,
}

impl AuditVerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn problem(kind: AuditProblemKind, seq: Option<u64>, key: &str, detail: String) -> AuditProblem {
    AuditProblem {
        kind,
        seq,
        key: key.to_string(),
        detail,
    }
}

impl Repository {
    /// Verify the whole audit log: every record authenticates and sits under its own sequence
    /// number, each commits to its predecessor, no number is missing, every checkpoint's MAC
    /// verifies and matches the chain, and the chain reaches the newest checkpoint, the local
    /// witness and `expect` (a head recorded elsewhere, e.g. in a SIEM). Read-only.
    pub async fn audit_verify(&self, expect: Option<&AuditHead>) -> Result<AuditVerifyReport> {
        use AuditProblemKind::*;
        let keys = AuditKeys::derive(self);
        let mut rep = AuditVerifyReport::default();
        let mut seqs = Vec::new();
        for (k, _) in self.storage().list("audit/").await? {
            if let Some(s) = seq_of(&k, RECORDS) {
                seqs.push(s);
            } else if seq_of(&k, CHECKPOINTS).is_none() {
                rep.problems.push(problem(
                    Unexpected,
                    None,
                    &k,
                    "not an audit record or checkpoint (inserted object)".into(),
                ));
            }
        }
        seqs.sort_unstable();
        rep.records = seqs.len() as u64;
        // chain hash of every record, by sequence number
        let mut chains: BTreeMap<u64, String> = BTreeMap::new();
        let mut expected = 1u64;
        let mut prev_chain: Option<String> = Some("0".repeat(64));
        for seq in seqs {
            let key = record_key(seq);
            if seq > expected {
                let range = if seq - 1 == expected {
                    format!("record {expected} is missing")
                } else {
                    format!("records {expected}..{} are missing", seq - 1)
                };
                rep.problems.push(problem(
                    Removed,
                    Some(expected),
                    &record_key(expected),
                    format!("{range} (removed)"),
                ));
                prev_chain = None;
            }
            expected = seq + 1;
            let bytes = match self.storage().get(&key).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let chain = hex::encode(chain_hash(seq, &bytes));
            chains.insert(seq, chain.clone());
            match keys.open_record(&bytes) {
                Err(why) => {
                    rep.problems.push(problem(
                        Altered,
                        Some(seq),
                        &key,
                        format!("record {seq} does not verify ({why}): altered or forged"),
                    ));
                    prev_chain = None;
                }
                Ok((doc, _)) if doc.seq != seq => {
                    rep.problems.push(problem(
                        Reordered,
                        Some(seq),
                        &key,
                        format!(
                            "the object under sequence number {seq} is record {}: moved or reordered",
                            doc.seq
                        ),
                    ));
                    prev_chain = None;
                }
                Ok((doc, _)) => {
                    if let Some(p) = &prev_chain
                        && *p != doc.prev
                    {
                        rep.problems.push(problem(
                            ChainBroken,
                            Some(seq),
                            &key,
                            format!(
                                "record {seq} does not follow record {}: a record was inserted, \
                                 replaced or the chain was spliced",
                                seq - 1
                            ),
                        ));
                    }
                    prev_chain = Some(chain.clone());
                }
            }
        }
        let last = chains.keys().next_back().copied();
        rep.head = last.map(|s| AuditHead {
            seq: s,
            chain: chains[&s].clone(),
        });
        self.verify_checkpoints(&keys, &chains, last, &mut rep)
            .await?;
        let witness = self.audit_witness();
        for (who, h) in [
            ("this machine's witness", witness.as_ref()),
            ("the expected head", expect),
        ] {
            let Some(h) = h else { continue };
            match chains.get(&h.seq) {
                Some(c) if *c == h.chain => {}
                Some(_) => rep.problems.push(problem(
                    Altered,
                    Some(h.seq),
                    &record_key(h.seq),
                    format!("record {} differs from {who} (history rewritten)", h.seq),
                )),
                None if last.is_none_or(|l| l < h.seq) => rep.problems.push(problem(
                    Truncated,
                    Some(last.map_or(1, |l| l + 1)),
                    &record_key(last.map_or(1, |l| l + 1)),
                    format!(
                        "the log ends at record {} but {who} saw record {}: tail removed",
                        last.unwrap_or(0),
                        h.seq
                    ),
                )),
                None => {} // reported as removed above
            }
        }
        rep.witness = witness;
        Ok(rep)
    }

    async fn verify_checkpoints(
        &self,
        keys: &AuditKeys,
        chains: &BTreeMap<u64, String>,
        last: Option<u64>,
        rep: &mut AuditVerifyReport,
    ) -> Result<()> {
        use AuditProblemKind::*;
        for (k, _) in self.storage().list(CHECKPOINTS).await? {
            let Some(seq) = seq_of(&k, CHECKPOINTS) else {
                continue;
            };
            rep.checkpoints += 1;
            let bytes = match self.storage().get(&k).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let doc: CheckpointDoc = match serde_json::from_slice(&bytes) {
                Ok(d) => d,
                Err(e) => {
                    rep.problems.push(problem(
                        BadCheckpoint,
                        Some(seq),
                        &k,
                        format!("not a checkpoint: {e}"),
                    ));
                    continue;
                }
            };
            if doc.v != 1
                || doc.seq != seq
                || doc.mac != keys.checkpoint_mac(doc.seq, &doc.chain, &doc.time)
            {
                rep.problems.push(problem(
                    BadCheckpoint,
                    Some(seq),
                    &k,
                    format!("checkpoint {seq} does not verify (altered or forged)"),
                ));
                continue;
            }
            match chains.get(&seq) {
                Some(c) if *c == doc.chain => {
                    rep.last_checkpoint = rep.last_checkpoint.max(Some(seq));
                }
                Some(_) => rep.problems.push(problem(
                    BadCheckpoint,
                    Some(seq),
                    &record_key(seq),
                    format!(
                        "record {seq} differs from what the checkpoint signed on {} \
                         (records up to {seq} were altered or replaced)",
                        doc.time.to_rfc3339()
                    ),
                )),
                None if last.is_none_or(|l| l < seq) => {
                    let from = last.map_or(1, |l| l + 1);
                    rep.problems.push(problem(
                        Truncated,
                        Some(from),
                        &record_key(from),
                        format!(
                            "records {from}..{seq} are gone but checkpoint {seq} (signed {}) \
                             vouches for them: tail removed",
                            doc.time.to_rfc3339()
                        ),
                    ));
                }
                None => {} // a removed record inside the chain, reported as removed
            }
        }
        rep.unsealed_tail = match (last, rep.last_checkpoint) {
            (Some(l), Some(c)) if l > c => l - c,
            (Some(_), Some(_)) => 0,
            (Some(l), None) => l,
            (None, _) => 0,
        };
        Ok(())
    }
}
