//! Selectors for browsing (and later restoring/exporting) Exchange snapshots: folder, subject,
//! sender, recipient, received before/after, kind. They read only the inline fields of an item
//! record (kind, path, name, received date, attrs), so a filter over a million-item mailbox is a
//! stream over the sorted item lists with no per-item blob read.

use chrono::{DateTime, Utc};

use super::folders::path_within;
use super::layout::{attr, kind};

/// What an item looks like to a filter (implemented for the repository's `ItemRecord`).
pub trait FilterView {
    /// Item kind (`message`, `mailFolder`, `event`, `contact`).
    fn kind(&self) -> &str;
    /// Logical folder path.
    fn path(&self) -> &str;
    /// Display name (a message's subject).
    fn name(&self) -> &str;
    /// Received date (messages).
    fn received(&self) -> Option<DateTime<Utc>>;
    /// An inline attribute.
    fn attr(&self, key: &str) -> Option<&str>;
}

/// A conjunction of optional criteria; the default matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemFilter {
    /// Only these kinds (empty: all kinds).
    pub kinds: Vec<String>,
    /// Folder path prefix, segment-wise, case-insensitive (`Inbox` matches `Inbox/Projects`).
    pub folder: Option<String>,
    /// Substring of the subject, case-insensitive.
    pub subject: Option<String>,
    /// Substring of the sender's address or name, case-insensitive (messages only).
    pub sender: Option<String>,
    /// Substring of any to/cc/bcc recipient, case-insensitive (messages only).
    pub recipient: Option<String>,
    /// Received at or after this instant (messages only).
    pub received_after: Option<DateTime<Utc>>,
    /// Received strictly before this instant (messages only).
    pub received_before: Option<DateTime<Utc>>,
}

fn contains_ci(haystack: &str, needle_lower: &str) -> bool {
    haystack.to_lowercase().contains(needle_lower)
}

impl ItemFilter {
    /// A filter that matches only messages.
    pub fn messages() -> ItemFilter {
        ItemFilter {
            kinds: vec![kind::MESSAGE.to_string()],
            ..ItemFilter::default()
        }
    }

    /// True when any message-only criterion is set.
    fn has_message_criteria(&self) -> bool {
        self.sender.is_some()
            || self.recipient.is_some()
            || self.received_after.is_some()
            || self.received_before.is_some()
    }

    /// Does the item match every criterion?
    pub fn matches(&self, item: &impl FilterView) -> bool {
        if !self.kinds.is_empty() && !self.kinds.iter().any(|k| k == item.kind()) {
            return false;
        }
        if self.has_message_criteria() && item.kind() != kind::MESSAGE {
            return false;
        }
        if let Some(folder) = &self.folder
            && !path_within(item.path(), folder)
        {
            return false;
        }
        if let Some(s) = &self.subject
            && !contains_ci(item.name(), &s.to_lowercase())
        {
            return false;
        }
        if let Some(s) = &self.sender {
            let s = s.to_lowercase();
            let addr = item.attr(attr::FROM).unwrap_or("");
            let name = item.attr(attr::FROM_NAME).unwrap_or("");
            if !contains_ci(addr, &s) && !contains_ci(name, &s) {
                return false;
            }
        }
        if let Some(r) = &self.recipient
            && !contains_ci(item.attr(attr::RECIPIENTS).unwrap_or(""), &r.to_lowercase())
        {
            return false;
        }
        if let Some(after) = self.received_after {
            match item.received() {
                Some(t) if t >= after => {}
                _ => return false,
            }
        }
        if let Some(before) = self.received_before {
            match item.received() {
                Some(t) if t < before => {}
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct V {
        kind: &'static str,
        path: &'static str,
        name: &'static str,
        received: Option<DateTime<Utc>>,
        attrs: BTreeMap<&'static str, &'static str>,
    }
    impl FilterView for V {
        fn kind(&self) -> &str {
            self.kind
        }
        fn path(&self) -> &str {
            self.path
        }
        fn name(&self) -> &str {
            self.name
        }
        fn received(&self) -> Option<DateTime<Utc>> {
            self.received
        }
        fn attr(&self, key: &str) -> Option<&str> {
            self.attrs.get(key).copied()
        }
    }

    fn msg() -> V {
        V {
            kind: "message",
            path: "Inbox/Projects",
            name: "Quarterly Report",
            received: Some("2024-05-01T12:00:00Z".parse().unwrap()),
            attrs: [
                ("from", "ann@contoso.com"),
                ("fromName", "Ann Smith"),
                ("recipients", "Bob <bob@contoso.com>; carol@x.org"),
            ]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn default_matches_everything() {
        assert!(ItemFilter::default().matches(&msg()));
    }

    #[test]
    fn each_criterion() {
        let m = msg();
        let t = |f: ItemFilter| f.matches(&m);
        assert!(t(ItemFilter {
            folder: Some("inbox".into()),
            ..Default::default()
        }));
        assert!(!t(ItemFilter {
            folder: Some("Sent Items".into()),
            ..Default::default()
        }));
        assert!(t(ItemFilter {
            subject: Some("REPORT".into()),
            ..Default::default()
        }));
        assert!(!t(ItemFilter {
            subject: Some("invoice".into()),
            ..Default::default()
        }));
        assert!(t(ItemFilter {
            sender: Some("smith".into()),
            ..Default::default()
        }));
        assert!(t(ItemFilter {
            sender: Some("ANN@".into()),
            ..Default::default()
        }));
        assert!(!t(ItemFilter {
            sender: Some("bob".into()),
            ..Default::default()
        }));
        assert!(t(ItemFilter {
            recipient: Some("carol".into()),
            ..Default::default()
        }));
        let at: DateTime<Utc> = "2024-05-01T12:00:00Z".parse().unwrap();
        assert!(t(ItemFilter {
            received_after: Some(at),
            ..Default::default()
        }));
        assert!(!t(ItemFilter {
            received_before: Some(at),
            ..Default::default()
        }));
        assert!(t(ItemFilter::messages()));
        assert!(!t(ItemFilter {
            kinds: vec!["event".into()],
            ..Default::default()
        }));
    }

    #[test]
    fn message_criteria_exclude_other_kinds() {
        let mut folder = msg();
        folder.kind = "mailFolder";
        assert!(
            !ItemFilter {
                sender: Some("ann".into()),
                ..Default::default()
            }
            .matches(&folder)
        );
        assert!(
            ItemFilter {
                folder: Some("Inbox".into()),
                ..Default::default()
            }
            .matches(&folder)
        );
    }
}
