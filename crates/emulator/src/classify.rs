//! Endpoint classes (for throttling, faults and stats) and the owner a request touches.

use serde::{Deserialize, Serialize};

/// The class of an endpoint: throttling budgets, fault injection and stats are kept per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointClass {
    /// `/{tenant}/oauth2/v2.0/token` and OpenID discovery.
    Auth,
    /// `/users`, `/groups`, `/directory`.
    Directory,
    /// Mail folders, messages, attachments.
    Mail,
    /// Calendars and events.
    Calendar,
    /// Contacts.
    Contacts,
    /// OneDrive / SharePoint drives and items (E2).
    Drive,
    /// SharePoint sites and lists (E2).
    Sites,
    /// Teams, channels, chats (E2).
    Teams,
    /// `$batch` envelopes (inner requests are counted in their own class).
    Batch,
    /// Pre-authenticated content and upload URLs.
    Content,
    /// `/_emulator/...` admin API.
    Admin,
    /// Anything else.
    Other,
}

impl EndpointClass {
    /// All classes.
    pub const ALL: [EndpointClass; 12] = [
        Self::Auth,
        Self::Directory,
        Self::Mail,
        Self::Calendar,
        Self::Contacts,
        Self::Drive,
        Self::Sites,
        Self::Teams,
        Self::Batch,
        Self::Content,
        Self::Admin,
        Self::Other,
    ];

    /// Parse a lowercase class name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| {
            serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_str().map(|x| x == s))
                == Some(true)
        })
    }

    /// Outlook classes share the per-mailbox limits.
    pub fn is_outlook(self) -> bool {
        matches!(self, Self::Mail | Self::Calendar | Self::Contacts)
    }
}

/// Classify a request path (as received, e.g. `/v1.0/users/{id}/messages`) and name the
/// owner segment it addresses (user id/UPN, drive id, site id, team id), if any.
pub fn classify(path: &str) -> (EndpointClass, Option<String>) {
    if path.starts_with("/_emulator") {
        return (EndpointClass::Admin, None);
    }
    if path.starts_with("/_content") || path.starts_with("/_upload") {
        return (EndpointClass::Content, None);
    }
    if path.contains("/oauth2/") || path.contains("/.well-known/") || path.contains("/discovery/") {
        return (EndpointClass::Auth, None);
    }
    let Some(rest) = path
        .strip_prefix("/v1.0/")
        .or_else(|| path.strip_prefix("/beta/"))
    else {
        return (EndpointClass::Other, None);
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let first = segs.first().copied().unwrap_or("");
    let second = segs.get(1).map(|s| s.to_string());
    match first {
        "$batch" => (EndpointClass::Batch, None),
        "users" | "me" => {
            let owner = if first == "me" { None } else { second };
            let third = segs
                .get(if first == "me" { 1 } else { 2 })
                .copied()
                .unwrap_or("");
            let third = third.split('(').next().unwrap_or("");
            let class = match third.to_ascii_lowercase().as_str() {
                "messages" | "mailfolders" | "translateexchangeids" | "mailboxsettings" => {
                    EndpointClass::Mail
                }
                "events" | "calendar" | "calendars" | "calendarview" | "calendargroups" => {
                    EndpointClass::Calendar
                }
                "contacts" | "contactfolders" => EndpointClass::Contacts,
                "drive" | "drives" => EndpointClass::Drive,
                "chats" | "teamwork" | "joinedteams" => EndpointClass::Teams,
                _ => EndpointClass::Directory,
            };
            (class, owner)
        }
        "groups" | "directory" | "directoryObjects" | "organization" => {
            let third = segs.get(2).copied().unwrap_or("");
            match third {
                "drive" | "drives" => (EndpointClass::Drive, second),
                "sites" => (EndpointClass::Sites, second),
                "team" => (EndpointClass::Teams, second),
                _ => (EndpointClass::Directory, second),
            }
        }
        "drives" => (EndpointClass::Drive, second),
        "sites" => (EndpointClass::Sites, second),
        "teams" | "chats" | "teamwork" => (EndpointClass::Teams, second),
        _ => (EndpointClass::Other, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_paths() {
        assert_eq!(
            classify("/v1.0/users/u1/mailFolders/inbox/messages/delta()"),
            (EndpointClass::Mail, Some("u1".into()))
        );
        assert_eq!(classify("/v1.0/users"), (EndpointClass::Directory, None));
        assert_eq!(
            classify("/v1.0/users/u1/calendarView/delta"),
            (EndpointClass::Calendar, Some("u1".into()))
        );
        assert_eq!(
            classify("/v1.0/drives/d1/root/delta").0,
            EndpointClass::Drive
        );
        assert_eq!(classify("/t/oauth2/v2.0/token").0, EndpointClass::Auth);
        assert_eq!(EndpointClass::parse("mail"), Some(EndpointClass::Mail));
    }
}
