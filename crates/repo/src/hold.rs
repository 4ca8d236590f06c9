//! Legal holds: what they cover, and their write-once storage under `holds/` (FORMAT.md,
//! "Legal holds, rewritten snapshots, departures, minimum retention").
//!
//! A hold freezes data: everything it covers, in every restore point, survives retention,
//! GC and erasure until it is released. Ransomware alerts pin a clean snapshot through a hold
//! whose scope names that snapshot. Holds are never overwritten: a release is a second object
//! beside the hold (`holds/<id>.release`), so the history of a case stays readable.

use crate::crypto::{open, random_hex, seal};
use crate::error::{Error, Result};
use crate::model::{ItemRecord, SnapshotId, SnapshotSummary};
use crate::repository::Repository;
use crate::storage::{PutOutcome, StorageError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Storage prefix of hold objects.
pub const HOLD_PREFIX: &str = "holds/";
const RELEASE_SUFFIX: &str = ".release";

/// A query on item metadata. Every given field must match (AND); text matches are
/// case-insensitive substring matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemQuery {
    /// Sender address or display name (`from` / `fromName` attributes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Any recipient (to, cc, bcc: the `recipients` attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Words that must all occur in the subject (a message's name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_words: Vec<String>,
    /// Folder path: the item is in this folder or below it (whole path components).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Part of the item's (file) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

fn attr<'a>(item: &'a ItemRecord, k: &str) -> &'a str {
    item.attrs.get(k).map(String::as_str).unwrap_or("")
}

impl ItemQuery {
    /// True when no field is set (the query matches every item).
    pub fn is_empty(&self) -> bool {
        self == &ItemQuery::default()
    }

    /// Whether `item` matches every given field.
    pub fn matches(&self, item: &ItemRecord) -> bool {
        if let Some(s) = &self.sender
            && !(contains_ci(attr(item, "from"), s) || contains_ci(attr(item, "fromName"), s))
        {
            return false;
        }
        if let Some(r) = &self.recipient
            && !contains_ci(attr(item, "recipients"), r)
        {
            return false;
        }
        if !self.subject_words.is_empty() {
            let subject = item.name.to_lowercase();
            let words: Vec<&str> = subject
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            if !self
                .subject_words
                .iter()
                .all(|w| words.contains(&w.to_lowercase().as_str()))
            {
                return false;
            }
        }
        if let Some(f) = &self.folder {
            let f = f.trim_matches('/').to_lowercase();
            let p = item.path.trim_matches('/').to_lowercase();
            let inside = f.is_empty()
                || p == f
                || (p.starts_with(&f) && p.as_bytes().get(f.len()) == Some(&b'/'));
            if !inside {
                return false;
            }
        }
        if let Some(n) = &self.file_name
            && !contains_ci(&item.name, n)
        {
            return false;
        }
        true
    }
}

/// What a hold covers. All given parts must apply (AND); an empty part applies to everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldScope {
    /// Owners (mailbox UPN, drive owner …); empty = all owners.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Snapshots; empty = every snapshot of the covered owners.
    #[serde(default)]
    pub snapshots: Vec<SnapshotId>,
    /// Items dated (received, else modified, else created) at or after this time.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    /// Items dated at or before this time.
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    /// Items matching this metadata query.
    #[serde(default)]
    pub query: Option<ItemQuery>,
}

impl HoldScope {
    /// True if the scope selects items by date or metadata (not just by owner/snapshot).
    pub fn filters_items(&self) -> bool {
        self.from.is_some()
            || self.to.is_some()
            || self.query.as_ref().is_some_and(|q| !q.is_empty())
    }
}

/// The release of a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRelease {
    pub at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

/// A legal hold (or an alert's pin of a clean snapshot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: String,
    /// Case or matter id ("LIT-2026-014", "alert:…").
    pub case: String,
    pub reason: String,
    pub created: DateTime<Utc>,
    pub created_by: String,
    pub scope: HoldScope,
    pub released: Option<HoldRelease>,
}

/// The date retention and holds judge an item by: received (mail), else modified (files),
/// else created.
pub fn item_date(item: &ItemRecord) -> Option<DateTime<Utc>> {
    item.received.or(item.modified).or(item.created)
}

impl Hold {
    /// Not released.
    pub fn is_active(&self) -> bool {
        self.released.is_none()
    }

    /// Whether the hold applies to `owner` (ignores release).
    pub fn covers_owner(&self, owner: &str) -> bool {
        self.scope.owners.is_empty() || self.scope.owners.iter().any(|o| o == owner)
    }

    /// Whether the hold may cover data in this snapshot: owner and snapshot list match.
    /// If [`HoldScope::filters_items`] is false, every item of such a snapshot is held.
    pub fn covers_snapshot(&self, s: &SnapshotSummary) -> bool {
        self.covers_owner(&s.owner.owner)
            && (self.scope.snapshots.is_empty() || self.scope.snapshots.contains(&s.id))
    }

    /// Whether the hold covers this item of `owner` by owner, date range and query
    /// (the snapshot list is not consulted: see [`Hold::covers_item_in`]).
    pub fn covers_item(&self, owner: &str, item: &ItemRecord) -> bool {
        if !self.covers_owner(owner) {
            return false;
        }
        if self.scope.from.is_some() || self.scope.to.is_some() {
            let Some(d) = item_date(item) else {
                // An undated item cannot be shown outside the range: hold it.
                return true;
            };
            if self.scope.from.is_some_and(|f| d < f) || self.scope.to.is_some_and(|t| d > t) {
                return false;
            }
        }
        self.scope.query.as_ref().is_none_or(|q| q.matches(item))
    }

    /// Whether the hold covers `item` as stored in snapshot `s`.
    pub fn covers_item_in(&self, s: &SnapshotSummary, item: &ItemRecord) -> bool {
        self.covers_snapshot(s) && self.covers_item(&s.owner.owner, item)
    }
}

/// What [`Repository::create_hold`] needs.
#[derive(Debug, Clone, Default)]
pub struct NewHold {
    pub case: String,
    pub reason: String,
    pub created_by: String,
    pub scope: HoldScope,
}

/// The stored part of a hold (without its release).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct HoldDoc {
    id: String,
    case: String,
    reason: String,
    created: DateTime<Utc>,
    created_by: String,
    scope: HoldScope,
}

fn hold_ad(id: &str) -> Vec<u8> {
    format!("tv1 hold {id}").into_bytes()
}

fn release_ad(id: &str) -> Vec<u8> {
    format!("tv1 hold-release {id}").into_bytes()
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit())
}

impl Repository {
    /// All holds (active and released), oldest first.
    pub async fn holds(&self) -> Result<Vec<Hold>> {
        let meta = &self.keys().meta_key;
        let mut docs: Vec<HoldDoc> = Vec::new();
        let mut releases: BTreeMap<String, HoldRelease> = BTreeMap::new();
        for (k, _) in self.storage().list(HOLD_PREFIX).await? {
            let name = &k[HOLD_PREFIX.len()..];
            let bytes = match self.storage().get(&k).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some(id) = name.strip_suffix(RELEASE_SUFFIX) {
                let plain = open(meta, &release_ad(id), &bytes, &k)?;
                let r: HoldRelease =
                    serde_json::from_slice(&plain).map_err(|e| Error::corrupt(&k, e))?;
                releases.insert(id.to_string(), r);
            } else {
                let plain = open(meta, &hold_ad(name), &bytes, &k)?;
                let d: HoldDoc =
                    serde_json::from_slice(&plain).map_err(|e| Error::corrupt(&k, e))?;
                if d.id != name {
                    return Err(Error::corrupt(&k, "hold names another id"));
                }
                docs.push(d);
            }
        }
        let mut out: Vec<Hold> = docs
            .into_iter()
            .map(|d| Hold {
                released: releases.remove(&d.id),
                id: d.id,
                case: d.case,
                reason: d.reason,
                created: d.created,
                created_by: d.created_by,
                scope: d.scope,
            })
            .collect();
        if let Some(orphan) = releases.keys().next() {
            tracing::warn!(hold = %orphan, "release object without its hold");
        }
        out.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Holds not released.
    pub async fn active_holds(&self) -> Result<Vec<Hold>> {
        Ok(self
            .holds()
            .await?
            .into_iter()
            .filter(Hold::is_active)
            .collect())
    }

    /// One hold by id or unique prefix (≥ 4 hex characters).
    pub async fn hold(&self, id_or_prefix: &str) -> Result<Hold> {
        let want = id_or_prefix.to_ascii_lowercase();
        if want.len() < 4 || !valid_id(&want) {
            return Err(Error::Invalid(format!(
                "hold id {id_or_prefix:?}: need at least 4 hex characters"
            )));
        }
        let found: Vec<Hold> = self
            .holds()
            .await?
            .into_iter()
            .filter(|h| h.id.starts_with(&want))
            .collect();
        match found.len() {
            0 => Err(Error::NotFound(format!("hold {id_or_prefix}"))),
            1 => Ok(found.into_iter().next().expect("one")),
            n => Err(Error::Invalid(format!(
                "hold prefix {id_or_prefix} is ambiguous ({n} matches)"
            ))),
        }
    }

    /// Create a hold. Validates the request (case and reason given, `from ≤ to`, named
    /// snapshots exist) before writing anything.
    pub async fn create_hold(&self, new: NewHold, now: DateTime<Utc>) -> Result<Hold> {
        if new.case.trim().is_empty() {
            return Err(Error::Invalid("a hold needs a case id".into()));
        }
        if new.reason.trim().is_empty() {
            return Err(Error::Invalid("a hold needs a reason".into()));
        }
        if new.created_by.trim().is_empty() {
            return Err(Error::Invalid("a hold needs its creator's name".into()));
        }
        if let (Some(f), Some(t)) = (new.scope.from, new.scope.to)
            && f > t
        {
            return Err(Error::Invalid(format!(
                "hold date range is empty: from {f} is after to {t}"
            )));
        }
        if new.scope.owners.iter().any(|o| o.trim().is_empty()) {
            return Err(Error::Invalid("hold owner names must not be empty".into()));
        }
        if let Some(q) = &new.scope.query
            && q.subject_words.iter().any(|w| w.trim().is_empty())
        {
            return Err(Error::Invalid("subject words must not be empty".into()));
        }
        let mut scope = new.scope;
        let mut snaps = Vec::with_capacity(scope.snapshots.len());
        for s in &scope.snapshots {
            snaps.push(self.resolve_snapshot(&s.0).await?);
        }
        scope.snapshots = snaps;
        let doc = HoldDoc {
            id: random_hex(8),
            case: new.case.trim().to_string(),
            reason: new.reason.trim().to_string(),
            created: now,
            created_by: new.created_by,
            scope,
        };
        let sealed = seal(
            &self.keys().meta_key,
            &hold_ad(&doc.id),
            &serde_json::to_vec(&doc).expect("serializable"),
        );
        let key = format!("{HOLD_PREFIX}{}", doc.id);
        if self.storage().put_if_absent(&key, sealed.into()).await? == PutOutcome::AlreadyExists {
            return Err(Error::Invalid(format!("hold id {} already exists", doc.id)));
        }
        tracing::info!(hold = %doc.id, case = %doc.case, "hold created");
        Ok(Hold {
            id: doc.id,
            case: doc.case,
            reason: doc.reason,
            created: doc.created,
            created_by: doc.created_by,
            scope: doc.scope,
            released: None,
        })
    }

    /// Release a hold (id or unique prefix). Writes `holds/<id>.release`; the hold object
    /// stays. Releasing a released hold is refused.
    pub async fn release_hold(
        &self,
        id: &str,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Hold> {
        if reason.trim().is_empty() {
            return Err(Error::Invalid("a release needs a reason".into()));
        }
        if by.trim().is_empty() {
            return Err(Error::Invalid("a release needs its author's name".into()));
        }
        let mut hold = self.hold(id).await?;
        if let Some(r) = &hold.released {
            return Err(Error::Invalid(format!(
                "hold {} was already released on {} by {}",
                hold.id, r.at, r.by
            )));
        }
        let rel = HoldRelease {
            at: now,
            by: by.to_string(),
            reason: reason.trim().to_string(),
        };
        let sealed = seal(
            &self.keys().meta_key,
            &release_ad(&hold.id),
            &serde_json::to_vec(&rel).expect("serializable"),
        );
        let key = format!("{HOLD_PREFIX}{}{RELEASE_SUFFIX}", hold.id);
        if self.storage().put_if_absent(&key, sealed.into()).await? == PutOutcome::AlreadyExists {
            return Err(Error::Invalid(format!(
                "hold {} was released concurrently",
                hold.id
            )));
        }
        tracing::info!(hold = %hold.id, "hold released");
        hold.released = Some(rel);
        Ok(hold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OwnerRef;

    fn item(name: &str, path: &str, received: &str, from: &str) -> ItemRecord {
        ItemRecord {
            id: name.into(),
            kind: "message".into(),
            path: path.into(),
            name: name.into(),
            created: None,
            modified: None,
            received: Some(received.parse().unwrap()),
            size: 1,
            version: "1".into(),
            content: vec![],
            metadata: None,
            attrs: [
                ("from".to_string(), from.to_string()),
                ("recipients".to_string(), "Bob <bob@x.test>".to_string()),
            ]
            .into(),
        }
    }

    fn hold(scope: HoldScope) -> Hold {
        Hold {
            id: "ab12".into(),
            case: "c".into(),
            reason: "r".into(),
            created: Utc::now(),
            created_by: "t".into(),
            scope,
            released: None,
        }
    }

    #[test]
    fn query_fields_all_apply() {
        let m = item(
            "Merger plan Q3",
            "Inbox/Deals",
            "2020-05-01T00:00:00Z",
            "ceo@x.test",
        );
        let q = |f: fn(&mut ItemQuery)| {
            let mut q = ItemQuery::default();
            f(&mut q);
            q.matches(&m)
        };
        assert!(q(|_| {}));
        assert!(q(|q| q.sender = Some("CEO@".into())));
        assert!(!q(|q| q.sender = Some("cfo".into())));
        assert!(q(|q| q.recipient = Some("bob@x".into())));
        assert!(!q(|q| q.recipient = Some("carol".into())));
        assert!(q(|q| q.subject_words = vec!["merger".into(), "q3".into()]));
        assert!(!q(|q| q.subject_words = vec!["merge".into()]));
        assert!(q(|q| q.folder = Some("/inbox".into())));
        assert!(q(|q| q.folder = Some("Inbox/Deals".into())));
        assert!(!q(|q| q.folder = Some("Inbox/De".into())));
        assert!(q(|q| q.file_name = Some("plan".into())));
        assert!(!q(|q| {
            q.sender = Some("ceo".into());
            q.file_name = Some("budget".into())
        }));
    }

    #[test]
    fn scope_owner_dates_and_snapshots() {
        let m = item("x", "Inbox", "2020-05-01T00:00:00Z", "a@x");
        let mut scope = HoldScope {
            owners: vec!["alice".into()],
            from: Some("2020-01-01T00:00:00Z".parse().unwrap()),
            to: Some("2020-12-31T00:00:00Z".parse().unwrap()),
            ..Default::default()
        };
        assert!(hold(scope.clone()).covers_item("alice", &m));
        assert!(!hold(scope.clone()).covers_item("bob", &m));
        scope.to = Some("2020-04-30T00:00:00Z".parse().unwrap());
        assert!(!hold(scope.clone()).covers_item("alice", &m));
        let s = SnapshotSummary {
            id: SnapshotId("aa".into()),
            owner: OwnerRef::new("exchange", "alice"),
            time: Utc::now(),
            parent: None,
            complete: true,
            mode: Default::default(),
            stats: Default::default(),
        };
        let pin = hold(HoldScope {
            snapshots: vec![SnapshotId("bb".into())],
            ..Default::default()
        });
        assert!(!pin.covers_snapshot(&s));
        assert!(hold(HoldScope::default()).covers_snapshot(&s));
        assert!(!hold(HoldScope::default()).scope.filters_items());
    }
}
