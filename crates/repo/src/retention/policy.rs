//! Named retention policies, their assignment to owners, and the minimum retention floor.

use super::gfs::{Age, GfsRule};
use crate::crypto::{open, seal};
use crate::departed::Departure;
use crate::error::{Error, Result};
use crate::model::OwnerRef;
use crate::repository::Repository;
use crate::storage::StorageError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One named policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Snapshot retention (GFS) per owner and workload.
    pub snapshots: GfsRule,
    /// Remove items whose date (received for mail, modified for files) is older than this
    /// from every snapshot.
    pub item_max_age: Option<Age>,
    /// For the departed policy: keep everything until this long after the departure, then
    /// remove the owner's snapshots.
    pub keep_after_departure: Option<Age>,
}

/// Which owners an assignment covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerSet {
    All,
    /// A named list, or a Graph group's members resolved by the caller.
    List(BTreeSet<String>),
}

/// Assign `policy` to owners of some workloads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub policy: String,
    /// Workloads (`exchange`, `drive`, …); empty = all.
    pub workloads: Vec<String>,
    pub owners: OwnerSet,
}

/// Policies and how they are assigned. The first matching assignment wins; departed owners
/// get the departed policy when one is named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySet {
    pub policies: BTreeMap<String, RetentionPolicy>,
    pub assignments: Vec<Assignment>,
    pub departed: Option<String>,
    /// Nothing younger than this is removed, whatever the policies say.
    pub minimum: Option<Age>,
}

/// The policy that applies to one owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied<'a> {
    pub name: &'a str,
    pub policy: &'a RetentionPolicy,
    /// Set when the departed policy applies.
    pub departed: Option<&'a Departure>,
}

impl PolicySet {
    /// Checks names and the minimum: every assignment and the departed policy name an
    /// existing policy, and no policy removes items younger than the minimum.
    pub fn validate(&self) -> Result<()> {
        let names = self
            .assignments
            .iter()
            .map(|a| &a.policy)
            .chain(self.departed.as_ref());
        for n in names {
            if !self.policies.contains_key(n) {
                return Err(Error::Invalid(format!(
                    "retention policy {n:?} is not defined"
                )));
            }
        }
        if let Some(min) = self.minimum {
            let now = Utc::now();
            for (name, p) in &self.policies {
                if let Some(a) = p.item_max_age
                    && a.before(now) > min.before(now)
                {
                    return Err(Error::Invalid(format!(
                        "policy {name:?} removes items after {a}, before the minimum retention of {min}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The policy for `owner`, if any.
    pub fn policy_for<'a>(
        &'a self,
        owner: &OwnerRef,
        departures: &'a BTreeMap<String, Departure>,
    ) -> Option<Applied<'a>> {
        if let Some(d) = departures.get(&owner.owner)
            && let Some(name) = &self.departed
            && let Some((name, policy)) = self.policies.get_key_value(name)
        {
            return Some(Applied {
                name,
                policy,
                departed: Some(d),
            });
        }
        let a = self.assignments.iter().find(|a| {
            (a.workloads.is_empty() || a.workloads.contains(&owner.workload))
                && match &a.owners {
                    OwnerSet::All => true,
                    OwnerSet::List(l) => l.contains(&owner.owner),
                }
        })?;
        let (name, policy) = self.policies.get_key_value(&a.policy)?;
        Some(Applied {
            name,
            policy,
            departed: None,
        })
    }
}

/// Until when the minimum retention protects something dated `date` (`None`: not protected).
/// Erasure and retention consult this before removing anything.
pub fn minimum_retention_blocks(
    minimum: Option<Age>,
    date: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let min = minimum?;
    (date > min.before(now)).then(|| min.after(date))
}

/// Storage prefix of the recorded minimum retention (`retention/minimum-<unix-ms>`).
pub const MINIMUM_PREFIX: &str = "retention/minimum-";

#[derive(Debug, Serialize, Deserialize)]
struct MinimumDoc {
    age: Age,
    at: DateTime<Utc>,
}

fn ad(key: &str) -> Vec<u8> {
    format!("tv1 retention-minimum {key}").into_bytes()
}

/// The longer of two ages (judged at `now`).
pub fn longer(a: Option<Age>, b: Option<Age>, now: DateTime<Utc>) -> Option<Age> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if x.before(now) <= y.before(now) { x } else { y }),
        (x, y) => x.or(y),
    }
}

impl Repository {
    /// The minimum retention recorded in the repository (the longest ever recorded): it can
    /// be raised but not lowered by a configuration file.
    pub async fn recorded_minimum(&self, now: DateTime<Utc>) -> Result<Option<Age>> {
        let mut best = None;
        for (k, _) in self.storage().list(MINIMUM_PREFIX).await? {
            let bytes = match self.storage().get(&k).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let plain = open(&self.keys().meta_key, &ad(&k), &bytes, &k)?;
            let doc: MinimumDoc =
                serde_json::from_slice(&plain).map_err(|e| Error::corrupt(&k, e))?;
            best = longer(best, Some(doc.age), now);
        }
        Ok(best)
    }

    /// Record `age` as minimum retention if it is longer than the recorded one. Returns the
    /// effective minimum.
    pub async fn raise_minimum(&self, age: Age, now: DateTime<Utc>) -> Result<Age> {
        let cur = self.recorded_minimum(now).await?;
        if let Some(c) = cur
            && c.before(now) <= age.before(now)
        {
            return Ok(c);
        }
        let key = format!("{MINIMUM_PREFIX}{:013}", now.timestamp_millis().max(0));
        let doc = MinimumDoc { age, at: now };
        let sealed = seal(
            &self.keys().meta_key,
            &ad(&key),
            &serde_json::to_vec(&doc).expect("serializable"),
        );
        self.storage().put_if_absent(&key, sealed.into()).await?;
        tracing::info!(%age, "minimum retention recorded");
        Ok(age)
    }
}
