//! Departed owners: owners that disappeared from the tenant (FORMAT.md, "Legal holds,
//! rewritten snapshots, departures, minimum retention").
//!
//! Each departure or return is a write-once event object
//! `departed/<owner-hash>/<unix-ms>-<event>`, sealed with the metadata key; an owner's state
//! is its latest event. Retention gives departed owners the departed policy, counted from
//! the departure.

use crate::crypto::{open, seal};
use crate::error::{Error, Result};
use crate::repository::Repository;
use crate::storage::StorageError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Storage prefix of departure events.
pub const DEPARTED_PREFIX: &str = "departed/";

/// An owner's current departure: since when it is absent from the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departure {
    pub owner: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Event {
    Departed,
    Returned,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EventDoc {
    owner: String,
    at: DateTime<Utc>,
    event: Event,
}

fn ad(key: &str) -> Vec<u8> {
    format!("tv1 departed {key}").into_bytes()
}

impl Repository {
    fn departed_dir(&self, owner: &str) -> String {
        format!("{DEPARTED_PREFIX}{}", self.owner_id("departed", owner))
    }

    async fn departure_events(&self, prefix: &str) -> Result<Vec<EventDoc>> {
        let mut out = Vec::new();
        for (k, _) in self.storage().list(prefix).await? {
            let bytes = match self.storage().get(&k).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let plain = open(&self.keys().meta_key, &ad(&k), &bytes, &k)?;
            out.push(serde_json::from_slice(&plain).map_err(|e| Error::corrupt(&k, e))?);
        }
        out.sort_by_key(|e: &EventDoc| e.at);
        Ok(out)
    }

    async fn write_event(&self, owner: &str, at: DateTime<Utc>, event: Event) -> Result<()> {
        let name = match event {
            Event::Departed => "departed",
            Event::Returned => "returned",
        };
        let key = format!(
            "{}/{:013}-{name}",
            self.departed_dir(owner),
            at.timestamp_millis().max(0)
        );
        let doc = EventDoc {
            owner: owner.to_string(),
            at,
            event,
        };
        let sealed = seal(
            &self.keys().meta_key,
            &ad(&key),
            &serde_json::to_vec(&doc).expect("serializable"),
        );
        self.storage().put_if_absent(&key, sealed.into()).await?;
        Ok(())
    }

    /// Record that `owner` is absent from the tenant since `at`. Does nothing (returns false)
    /// if the owner is already recorded as departed: the first departure counts.
    pub async fn mark_departed(&self, owner: &str, at: DateTime<Utc>) -> Result<bool> {
        if owner.is_empty() {
            return Err(Error::Invalid("owner must not be empty".into()));
        }
        let events = self.departure_events(&self.departed_dir(owner)).await?;
        if events.last().is_some_and(|e| e.event == Event::Departed) {
            return Ok(false);
        }
        self.write_event(owner, at, Event::Departed).await?;
        tracing::info!(owner, %at, "owner recorded as departed");
        Ok(true)
    }

    /// Record that a departed `owner` is back in the tenant (its normal policy applies again).
    /// Returns false if it was not departed.
    pub async fn mark_returned(&self, owner: &str, at: DateTime<Utc>) -> Result<bool> {
        let events = self.departure_events(&self.departed_dir(owner)).await?;
        if !events.last().is_some_and(|e| e.event == Event::Departed) {
            return Ok(false);
        }
        self.write_event(owner, at, Event::Returned).await?;
        tracing::info!(owner, %at, "departed owner is back");
        Ok(true)
    }

    /// Owners departed now (latest event is a departure), by owner name.
    pub async fn departures(&self) -> Result<BTreeMap<String, Departure>> {
        let mut last: BTreeMap<String, EventDoc> = BTreeMap::new();
        for e in self.departure_events(DEPARTED_PREFIX).await? {
            last.insert(e.owner.clone(), e);
        }
        Ok(last
            .into_values()
            .filter(|e| e.event == Event::Departed)
            .map(|e| {
                (
                    e.owner.clone(),
                    Departure {
                        owner: e.owner,
                        at: e.at,
                    },
                )
            })
            .collect())
    }
}
