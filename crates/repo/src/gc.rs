//! Garbage collection, two-phase and time-based (FORMAT.md §9).

use crate::crypto::{PackId, open, seal};
use crate::error::{Error, Result};
use crate::repository::Repository;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

const GC_AD: &[u8] = b"tv1 gc";

/// A candidate list `gc/<unix-ms>-<id>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CandidateDoc {
    pub created: DateTime<Utc>,
    pub packs: Vec<PackId>,
}

pub(crate) fn encode_candidates(repo: &Repository, doc: &CandidateDoc) -> Vec<u8> {
    seal(&repo.keys().meta_key, GC_AD, &serde_json::to_vec(doc).expect("serializable"))
}

pub(crate) fn decode_candidates(repo: &Repository, object: &str, bytes: &[u8]) -> Result<CandidateDoc> {
    let plain = open(&repo.keys().meta_key, GC_AD, bytes, object)?;
    serde_json::from_slice(&plain).map_err(|e| Error::corrupt(object, e))
}

/// All candidate lists present now, with their keys.
pub(crate) async fn read_candidate_lists(repo: &Repository) -> Result<Vec<(String, CandidateDoc)>> {
    let mut out = Vec::new();
    for (k, _) in repo.storage().list("gc/").await? {
        match repo.storage().get(&k).await {
            Ok(b) => out.push((k.clone(), decode_candidates(repo, &k, &b)?)),
            Err(crate::storage::StorageError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Union of all live candidate lists: writers must not dedup against these packs.
pub(crate) async fn load_candidates(repo: &Repository) -> Result<HashSet<PackId>> {
    let mut set = HashSet::new();
    for (_, doc) in read_candidate_lists(repo).await? {
        set.extend(doc.packs);
    }
    Ok(set)
}
