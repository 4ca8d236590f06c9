//! Outlook resources: mail folders, messages, attachments, events, contacts.

use super::common::*;
use super::null_as_empty;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `mailFolder`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailFolder {
    /// Folder id (stable).
    pub id: String,
    /// Name.
    pub display_name: Option<String>,
    /// Parent folder id.
    pub parent_folder_id: Option<String>,
    /// Direct children.
    pub child_folder_count: Option<i32>,
    /// Unread messages.
    pub unread_item_count: Option<i32>,
    /// Messages.
    pub total_item_count: Option<i32>,
    /// Hidden folder.
    pub is_hidden: Option<bool>,
}

/// `message` (metadata; the full content is the MIME from `$value`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Message id (immutable with `Prefer: IdType="ImmutableId"`).
    pub id: String,
    /// `@odata.etag`.
    #[serde(rename = "@odata.etag")]
    pub etag: Option<String>,
    /// Version key, changes on every change.
    pub change_key: Option<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// Received.
    pub received_date_time: Option<DateTime<Utc>>,
    /// Sent.
    pub sent_date_time: Option<DateTime<Utc>>,
    /// Categories.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub categories: Vec<String>,
    /// Has (non-inline) attachments.
    pub has_attachments: Option<bool>,
    /// RFC 5322 Message-ID.
    pub internet_message_id: Option<String>,
    /// Subject.
    pub subject: Option<String>,
    /// First 255 characters of the body.
    pub body_preview: Option<String>,
    /// Body.
    pub body: Option<ItemBody>,
    /// `low`/`normal`/`high`.
    pub importance: Option<String>,
    /// Folder id.
    pub parent_folder_id: Option<String>,
    /// Conversation id.
    pub conversation_id: Option<String>,
    /// Read state.
    pub is_read: Option<bool>,
    /// Draft.
    pub is_draft: Option<bool>,
    /// `focused`/`other`.
    pub inference_classification: Option<String>,
    /// Follow-up flag.
    pub flag: Option<FollowupFlag>,
    /// From.
    pub from: Option<Recipient>,
    /// Sender.
    pub sender: Option<Recipient>,
    /// To.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub to_recipients: Vec<Recipient>,
    /// Cc.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub cc_recipients: Vec<Recipient>,
    /// Bcc.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub bcc_recipients: Vec<Recipient>,
    /// Reply-To.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub reply_to: Vec<Recipient>,
    /// Outlook on the web link.
    pub web_link: Option<String>,
}

/// Which kind of attachment (from `@odata.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    /// `#microsoft.graph.fileAttachment`.
    File,
    /// `#microsoft.graph.itemAttachment` (an embedded message/event/contact).
    Item,
    /// `#microsoft.graph.referenceAttachment` (a link; `$value` answers 405).
    Reference,
    /// Anything else.
    Other,
}

/// `attachment` (file, item or reference; see [`Attachment::kind`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// `@odata.type`.
    #[serde(rename = "@odata.type")]
    pub odata_type: Option<String>,
    /// Attachment id.
    pub id: String,
    /// File name.
    pub name: Option<String>,
    /// MIME type (null for item attachments).
    pub content_type: Option<String>,
    /// Size in bytes.
    pub size: Option<i64>,
    /// Inline (e.g. an image referenced by `cid:`).
    pub is_inline: Option<bool>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// File attachments: base64 content (when returned).
    pub content_bytes: Option<String>,
    /// File attachments: Content-ID.
    pub content_id: Option<String>,
}

impl Attachment {
    /// The attachment's kind.
    pub fn kind(&self) -> AttachmentKind {
        match self
            .odata_type
            .as_deref()
            .map(|t| t.trim_start_matches('#'))
        {
            Some("microsoft.graph.fileAttachment") => AttachmentKind::File,
            Some("microsoft.graph.itemAttachment") => AttachmentKind::Item,
            Some("microsoft.graph.referenceAttachment") => AttachmentKind::Reference,
            _ => AttachmentKind::Other,
        }
    }
}

/// `location`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Name.
    pub display_name: Option<String>,
}

/// `attendee`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attendee {
    /// Address.
    pub email_address: Option<EmailAddress>,
    /// `required`/`optional`/`resource`.
    #[serde(rename = "type")]
    pub attendee_type: Option<String>,
}

/// `event`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Event id.
    pub id: String,
    /// Version key.
    pub change_key: Option<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// Categories.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub categories: Vec<String>,
    /// Subject.
    pub subject: Option<String>,
    /// Body.
    pub body: Option<ItemBody>,
    /// Start.
    pub start: Option<DateTimeTimeZone>,
    /// End.
    pub end: Option<DateTimeTimeZone>,
    /// All-day.
    pub is_all_day: Option<bool>,
    /// Cancelled.
    pub is_cancelled: Option<bool>,
    /// Location.
    pub location: Option<Location>,
    /// Organizer.
    pub organizer: Option<Recipient>,
    /// Attendees.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attendees: Vec<Attendee>,
    /// Recurrence pattern and range (kept as JSON).
    pub recurrence: Option<serde_json::Value>,
    /// Series master of an occurrence/exception.
    pub series_master_id: Option<String>,
    /// `singleInstance`/`occurrence`/`exception`/`seriesMaster`.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// iCalendar UID.
    #[serde(rename = "iCalUId")]
    pub ical_uid: Option<String>,
    /// Has attachments.
    pub has_attachments: Option<bool>,
    /// Original start of an exception.
    pub original_start: Option<DateTime<Utc>>,
    /// `free`/`busy`/…
    pub show_as: Option<String>,
    /// Importance.
    pub importance: Option<String>,
    /// Sensitivity.
    pub sensitivity: Option<String>,
}

/// `contact`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Contact id.
    pub id: String,
    /// Version key.
    pub change_key: Option<String>,
    /// Created.
    pub created_date_time: Option<DateTime<Utc>>,
    /// Last modified.
    pub last_modified_date_time: Option<DateTime<Utc>>,
    /// Categories.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub categories: Vec<String>,
    /// Folder id.
    pub parent_folder_id: Option<String>,
    /// Display name.
    pub display_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Addresses.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub email_addresses: Vec<EmailAddress>,
    /// Business phones.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub business_phones: Vec<String>,
    /// Home phones.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub home_phones: Vec<String>,
    /// Mobile.
    pub mobile_phone: Option<String>,
    /// Company.
    pub company_name: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// Birthday.
    pub birthday: Option<DateTime<Utc>>,
    /// Notes.
    pub personal_notes: Option<String>,
}
