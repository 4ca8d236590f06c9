//! Which mailboxes a run backs up, and which previously backed-up mailboxes have departed.
//!
//! Default selection: every licensed member user with a mail address (user mailboxes) plus every
//! unlicensed, sign-in-disabled user object with a mail address (how shared mailboxes appear in
//! the directory). Guests and unlicensed enabled accounts have no mailbox here and are skipped.
//! `--mailbox UPN|mail|id` and `--group NAME` restrict the run to those users.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::state::{MailboxInfo, MailboxKind};

/// The directory fields of a user that selection needs (`$select` these).
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    /// Object id.
    pub id: String,
    /// `userPrincipalName`.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// `displayName`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `mail`.
    #[serde(default)]
    pub mail: Option<String>,
    /// `accountEnabled`.
    #[serde(default)]
    pub account_enabled: Option<bool>,
    /// `userType` (`Member` / `Guest`).
    #[serde(default)]
    pub user_type: Option<String>,
    /// `assignedLicenses` (only the count matters).
    #[serde(default)]
    pub assigned_licenses: Vec<serde_json::Value>,
}

/// `$select` list for [`DirectoryUser`].
pub const USER_SELECT: &str =
    "id,userPrincipalName,displayName,mail,accountEnabled,userType,assignedLicenses";

impl DirectoryUser {
    /// The mailbox kind, or None when the user has no mailbox we back up by default.
    pub fn mailbox_kind(&self) -> Option<MailboxKind> {
        if self.user_type.as_deref() == Some("Guest") {
            return None;
        }
        if self.mail.as_deref().unwrap_or("").is_empty() {
            return None;
        }
        if !self.assigned_licenses.is_empty() {
            Some(MailboxKind::User)
        } else if self.account_enabled == Some(false) {
            Some(MailboxKind::Shared)
        } else {
            None
        }
    }

    /// The mailbox description stored in snapshot state.
    pub fn mailbox_info(&self, kind: MailboxKind) -> MailboxInfo {
        MailboxInfo {
            id: self.id.clone(),
            upn: self.user_principal_name.clone().unwrap_or_default(),
            display_name: self.display_name.clone().unwrap_or_default(),
            mail: self.mail.clone(),
            kind,
        }
    }

    /// Does `key` name this user (id, UPN or mail; case-insensitive)?
    pub fn is_named(&self, key: &str) -> bool {
        self.id.eq_ignore_ascii_case(key)
            || self
                .user_principal_name
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(key))
            || self
                .mail
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(key))
    }
}

/// What the user asked for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// `--mailbox` values (id, UPN or mail).
    pub mailboxes: Vec<String>,
    /// `--group` values (display name or id).
    pub groups: Vec<String>,
}

impl Selection {
    /// No restriction: all user and shared mailboxes.
    pub fn is_all(&self) -> bool {
        self.mailboxes.is_empty() && self.groups.is_empty()
    }
}

/// The outcome of planning a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Mailboxes to back up, in directory order.
    pub mailboxes: Vec<MailboxInfo>,
    /// Owner ids backed up before that are no longer in the directory (all-mailbox runs only,
    /// or when explicitly selected by id).
    pub departed: Vec<String>,
    /// `--mailbox` values that name nobody in the directory and no known owner.
    pub not_found: Vec<String>,
}

/// Decide the run. `group_members` maps each `--group` value to its member user ids (already
/// resolved by the caller); `known_owners` are owner ids with existing Exchange snapshots.
pub fn plan(
    users: &[DirectoryUser],
    selection: &Selection,
    group_members: &BTreeMap<String, Vec<String>>,
    known_owners: &BTreeSet<String>,
) -> Plan {
    let mut out = Plan::default();
    let present: BTreeSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    if selection.is_all() {
        for u in users {
            if let Some(kind) = u.mailbox_kind() {
                out.mailboxes.push(u.mailbox_info(kind));
            }
        }
        out.departed = known_owners
            .iter()
            .filter(|o| !present.contains(o.as_str()))
            .cloned()
            .collect();
        return out;
    }
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    for key in &selection.mailboxes {
        match users.iter().find(|u| u.is_named(key)) {
            Some(u) => {
                wanted.insert(u.id.clone());
            }
            None if known_owners.contains(key) => out.departed.push(key.clone()),
            None => out.not_found.push(key.clone()),
        }
    }
    for g in &selection.groups {
        if let Some(members) = group_members.get(g) {
            wanted.extend(members.iter().cloned());
        }
    }
    for u in users {
        if wanted.contains(&u.id) {
            // An explicitly named user is backed up even when it does not look like a
            // default mailbox (e.g. an enabled unlicensed account with a mailbox).
            let kind = u.mailbox_kind().unwrap_or(MailboxKind::User);
            out.mailboxes.push(u.mailbox_info(kind));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn users() -> Vec<DirectoryUser> {
        serde_json::from_value(json!([
            {"id":"1","userPrincipalName":"ann@c.com","mail":"ann@c.com","accountEnabled":true,
             "userType":"Member","assignedLicenses":[{"skuId":"x"}]},
            {"id":"2","userPrincipalName":"shared@c.com","mail":"shared@c.com","accountEnabled":false,
             "userType":"Member","assignedLicenses":[]},
            {"id":"3","userPrincipalName":"guest#EXT#@c.com","mail":"g@o.com","accountEnabled":true,
             "userType":"Guest","assignedLicenses":[]},
            {"id":"4","userPrincipalName":"svc@c.com","mail":null,"accountEnabled":true,
             "assignedLicenses":[{"skuId":"x"}]}
        ]))
        .unwrap()
    }

    #[test]
    fn default_selection() {
        let known: BTreeSet<String> = ["1".to_string(), "9".to_string()].into();
        let p = plan(&users(), &Selection::default(), &BTreeMap::new(), &known);
        let ids: Vec<_> = p.mailboxes.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(p.mailboxes[1].kind, MailboxKind::Shared);
        assert_eq!(p.departed, ["9"]);
    }

    #[test]
    fn explicit_selection() {
        let sel = Selection {
            mailboxes: vec!["ANN@c.com".into(), "nobody@c.com".into(), "9".into()],
            groups: vec!["Sales".into()],
        };
        let groups: BTreeMap<String, Vec<String>> =
            [("Sales".to_string(), vec!["2".to_string()])].into();
        let known: BTreeSet<String> = ["9".to_string()].into();
        let p = plan(&users(), &sel, &groups, &known);
        let ids: Vec<_> = p.mailboxes.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["1", "2"]);
        assert_eq!(p.not_found, ["nobody@c.com"]);
        assert_eq!(p.departed, ["9"]);
    }
}
