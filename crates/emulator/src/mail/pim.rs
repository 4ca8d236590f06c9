//! Calendar and contacts state of a mailbox (created items and change logs; generated items are
//! pure functions of the seed).

/// Calendar/contacts mutations of one mailbox.
#[derive(Debug, Default)]
pub struct PimState {
    /// Events created through the API: (seq, JSON).
    pub created_events: Vec<(u64, serde_json::Value)>,
    /// Contacts created through the API: (seq, JSON).
    pub created_contacts: Vec<(u64, serde_json::Value)>,
    /// Deleted generated/created event ids: (seq, id).
    pub deleted_events: Vec<(u64, String)>,
    /// Deleted contact ids: (seq, id).
    pub deleted_contacts: Vec<(u64, String)>,
}
