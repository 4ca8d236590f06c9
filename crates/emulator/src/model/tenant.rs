//! Directory: users (licensed, shared mailboxes, disabled, guests, deleted) and groups.

use super::names::*;
use crate::rng::{rng_for, stable_uuid};
use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::Rng;
use rand::seq::SliceRandom;

/// SKU id of "Microsoft 365 E3" (real GUID), assigned to licensed users.
pub const SKU_E3: &str = "05e9a617-0261-4cee-bb44-138d3ef5d965";

/// What kind of account a user is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum UserKind {
    /// A licensed member with a mailbox.
    Licensed,
    /// A shared mailbox (unlicensed, sign-in disabled, has a mailbox).
    Shared,
    /// A licensed member whose account is disabled (mailbox kept).
    Disabled,
    /// A guest (no mailbox).
    Guest,
}

/// A directory user.
#[derive(Debug, Clone)]
pub struct User {
    /// Position in generation order (stable seed key).
    pub idx: u32,
    /// Object id (GUID).
    pub id: String,
    /// `userPrincipalName`.
    pub upn: String,
    /// `displayName`.
    pub display_name: String,
    /// `givenName`.
    pub given_name: Option<String>,
    /// `surname`.
    pub surname: Option<String>,
    /// `mail`.
    pub mail: Option<String>,
    /// `jobTitle`.
    pub job_title: Option<String>,
    /// `department`.
    pub department: Option<String>,
    /// Kind of account.
    pub kind: UserKind,
    /// `createdDateTime`.
    pub created: DateTime<Utc>,
    /// When deleted (soft-deleted users are listed under deletedItems).
    pub deleted: Option<DateTime<Utc>>,
    /// Whether an Exchange mailbox exists (false after a departure's retention ran out).
    pub has_mailbox: bool,
    /// Permanently deleted (no longer in deletedItems).
    pub hard_deleted: bool,
}

impl User {
    /// `accountEnabled`.
    pub fn account_enabled(&self) -> bool {
        matches!(self.kind, UserKind::Licensed | UserKind::Guest)
    }
    /// `userType`.
    pub fn user_type(&self) -> &'static str {
        if self.kind == UserKind::Guest {
            "Guest"
        } else {
            "Member"
        }
    }
    /// Whether mail endpoints work for this user.
    pub fn mailbox_enabled(&self) -> bool {
        self.has_mailbox && self.kind != UserKind::Guest
    }
    /// `assignedLicenses`.
    pub fn licensed(&self) -> bool {
        matches!(self.kind, UserKind::Licensed | UserKind::Disabled)
    }
}

/// A directory group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Object id.
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// `mailNickname`.
    pub mail_nickname: String,
    /// Microsoft 365 ("Unified") group vs security group.
    pub unified: bool,
    /// Teams-enabled (resourceProvisioningOptions contains "Team").
    pub team: bool,
    /// Member user ids.
    pub members: Vec<String>,
    /// `createdDateTime`.
    pub created: DateTime<Utc>,
    /// `description`.
    pub description: String,
}

/// The directory of one tenant.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Tenant id (GUID).
    pub tenant_id: String,
    /// Initial domain, e.g. `m365x42.onmicrosoft.com`.
    pub domain: String,
    /// Users, including deleted ones.
    pub users: Vec<User>,
    /// Groups.
    pub groups: Vec<Group>,
}

/// The fixed instant generated content is anchored to (content never depends on wall time).
pub fn content_anchor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
        .single()
        .expect("valid date")
}

impl Directory {
    /// Generate `users` users and `groups` groups from `seed`.
    pub fn generate(seed: u64, users: usize, groups: u32) -> Self {
        let tenant_id = stable_uuid(seed, "tenant", &[]).to_string();
        let domain = format!("m365x{seed}.onmicrosoft.com");
        let mut out = Vec::with_capacity(users);
        let mut used = std::collections::HashSet::new();
        for i in 0..users as u64 {
            let mut rng = rng_for(seed, "user", &[i]);
            // Layout: every 10th user a shared mailbox, every 13th disabled, every 17th a guest;
            // user 0 is always a licensed admin-like member.
            let kind = if i == 0 {
                UserKind::Licensed
            } else if i % 10 == 9 {
                UserKind::Shared
            } else if i % 13 == 12 {
                UserKind::Disabled
            } else if i % 17 == 16 {
                UserKind::Guest
            } else {
                UserKind::Licensed
            };
            let created = content_anchor() - Duration::days(rng.gen_range(30..1500));
            let user = match kind {
                UserKind::Shared => {
                    let base = SHARED[(i as usize / 10) % SHARED.len()];
                    let mut nick = base.to_string();
                    let mut n = 2;
                    while !used.insert(nick.clone()) {
                        nick = format!("{base}{n}");
                        n += 1;
                    }
                    let upn = format!("{nick}@{domain}");
                    User {
                        idx: i as u32,
                        id: stable_uuid(seed, "user.id", &[i]).to_string(),
                        upn: upn.clone(),
                        display_name: format!("{} (shared)", capitalize(&nick)),
                        given_name: None,
                        surname: None,
                        mail: Some(upn),
                        job_title: None,
                        department: None,
                        kind,
                        created,
                        deleted: None,
                        has_mailbox: true,
                        hard_deleted: false,
                    }
                }
                _ => {
                    let given = *GIVEN.choose(&mut rng).expect("non-empty");
                    let sur = *SURNAMES.choose(&mut rng).expect("non-empty");
                    let base = format!("{}.{}", ascii_fold(given), ascii_fold(sur));
                    let mut nick = base.clone();
                    let mut n = 2;
                    while !used.insert(nick.clone()) {
                        nick = format!("{base}{n}");
                        n += 1;
                    }
                    let (upn, mail) = if kind == UserKind::Guest {
                        let ext = EXTERNAL_DOMAINS[i as usize % EXTERNAL_DOMAINS.len()];
                        let ext_mail = format!("{nick}@{ext}");
                        (
                            format!("{}#EXT#@{domain}", ext_mail.replace('@', "_")),
                            Some(ext_mail),
                        )
                    } else {
                        let upn = format!("{nick}@{domain}");
                        (upn.clone(), Some(upn))
                    };
                    User {
                        idx: i as u32,
                        id: stable_uuid(seed, "user.id", &[i]).to_string(),
                        upn,
                        display_name: format!("{given} {sur}"),
                        given_name: Some(given.to_string()),
                        surname: Some(sur.to_string()),
                        mail,
                        job_title: Some(JOBS.choose(&mut rng).expect("non-empty").to_string()),
                        department: Some(
                            DEPARTMENTS.choose(&mut rng).expect("non-empty").to_string(),
                        ),
                        kind,
                        created,
                        deleted: None,
                        has_mailbox: kind != UserKind::Guest,
                        hard_deleted: false,
                    }
                }
            };
            out.push(user);
        }
        let mut gs = Vec::new();
        let members_pool: Vec<String> = out
            .iter()
            .filter(|u| u.kind != UserKind::Shared)
            .map(|u| u.id.clone())
            .collect();
        for g in 0..groups as u64 {
            let mut rng = rng_for(seed, "group", &[g]);
            let name = DEPARTMENTS[g as usize % DEPARTMENTS.len()];
            let display_name = if g as usize >= DEPARTMENTS.len() {
                format!("{name} {}", g / DEPARTMENTS.len() as u64 + 1)
            } else {
                name.to_string()
            };
            let mut members: Vec<String> = members_pool
                .iter()
                .filter(|_| rng.gen_bool(0.5))
                .cloned()
                .collect();
            if members.is_empty()
                && let Some(first) = members_pool.first()
            {
                members.push(first.clone());
            }
            gs.push(Group {
                id: stable_uuid(seed, "group.id", &[g]).to_string(),
                mail_nickname: ascii_fold(&display_name).replace(' ', ""),
                display_name,
                unified: g % 3 != 2,
                team: g % 3 == 0,
                members,
                created: content_anchor() - Duration::days(rng.gen_range(30..900)),
                description: format!("{name} team"),
            });
        }
        Directory {
            tenant_id,
            domain,
            users: out,
            groups: gs,
        }
    }

    /// Find a live (not deleted) user by id or UPN (case-insensitive).
    pub fn user(&self, key: &str) -> Option<&User> {
        self.users.iter().find(|u| {
            u.deleted.is_none()
                && (u.id.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
        })
    }

    /// Find a user by id or UPN, deleted or not.
    pub fn user_any(&self, key: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.id.eq_ignore_ascii_case(key) || u.upn.eq_ignore_ascii_case(key))
    }

    /// Live users in generation order.
    pub fn live_users(&self) -> impl Iterator<Item = &User> {
        self.users.iter().filter(|u| u.deleted.is_none())
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_directory_and_kinds_present() {
        let a = Directory::generate(7, 40, 3);
        let b = Directory::generate(7, 40, 3);
        let ids = |d: &Directory| {
            d.users
                .iter()
                .map(|u| (u.id.clone(), u.upn.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert_ne!(ids(&a), ids(&Directory::generate(8, 40, 3)));
        for k in [
            UserKind::Licensed,
            UserKind::Shared,
            UserKind::Disabled,
            UserKind::Guest,
        ] {
            assert!(a.users.iter().any(|u| u.kind == k), "{k:?} missing");
        }
        let upns: std::collections::HashSet<_> =
            a.users.iter().map(|u| u.upn.to_lowercase()).collect();
        assert_eq!(upns.len(), 40, "UPNs are unique");
    }
}
