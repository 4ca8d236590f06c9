//! The in-memory description of one message from which both its MIME (`$value`) and its Graph
//! JSON are derived, so the two always agree.

use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A mailbox address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// Display name (may be empty).
    pub name: String,
    /// SMTP address.
    pub address: String,
}

/// Character set of the text parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8.
    Utf8,
    /// ISO-8859-1.
    Latin1,
    /// Windows-1252.
    Windows1252,
}

impl Charset {
    /// MIME name.
    pub fn mime_name(self) -> &'static str {
        match self {
            Charset::Utf8 => "utf-8",
            Charset::Latin1 => "iso-8859-1",
            Charset::Windows1252 => "windows-1252",
        }
    }

    /// Encode `s`, or `None` if a character is not representable.
    pub fn encode(self, s: &str) -> Option<Vec<u8>> {
        match self {
            Charset::Utf8 => Some(s.as_bytes().to_vec()),
            Charset::Latin1 => s.chars().map(|c| u8::try_from(c as u32).ok()).collect(),
            Charset::Windows1252 => s
                .chars()
                .map(|c| {
                    let cp = c as u32;
                    if cp < 0x80 || (0xA0..=0xFF).contains(&cp) {
                        return Some(cp as u8);
                    }
                    WIN1252_HIGH
                        .iter()
                        .position(|&h| h == c)
                        .map(|i| 0x80 + i as u8)
                })
                .collect(),
        }
    }
}

/// Windows-1252 0x80–0x9F (undefined slots are '\0').
const WIN1252_HIGH: [char; 32] = [
    '€', '\0', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\0', 'Ž', '\0', '\0', '‘',
    '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\0', 'ž', 'Ÿ',
];

/// What kind of attachment.
#[derive(Debug, Clone)]
pub enum AttKind {
    /// A file (bytes in `data`).
    File,
    /// An attached message (`message/rfc822`).
    Item(Box<MessageSpec>),
    /// A link to a cloud file; not part of the MIME.
    Reference {
        /// Link target.
        url: String,
    },
}

/// One attachment.
#[derive(Debug, Clone)]
pub struct AttSpec {
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// File bytes (empty for item/reference attachments).
    pub data: Arc<[u8]>,
    /// `Content-ID` for inline parts.
    pub content_id: Option<String>,
    /// Kind.
    pub kind: AttKind,
    /// `lastModifiedDateTime`.
    pub modified: DateTime<Utc>,
}

impl AttSpec {
    /// Whether this is an inline part.
    pub fn is_inline(&self) -> bool {
        self.content_id.is_some()
    }
}

/// A message.
#[derive(Debug, Clone)]
pub struct MessageSpec {
    /// `Message-ID` with angle brackets.
    pub message_id: String,
    /// Subject (decoded).
    pub subject: String,
    /// From.
    pub from: Option<Addr>,
    /// To.
    pub to: Vec<Addr>,
    /// Cc.
    pub cc: Vec<Addr>,
    /// Bcc (only on sent/draft items).
    pub bcc: Vec<Addr>,
    /// Reply-To.
    pub reply_to: Vec<Addr>,
    /// Date header.
    pub sent: DateTime<Utc>,
    /// Delivery time.
    pub received: DateTime<Utc>,
    /// Plain-text body.
    pub text: String,
    /// HTML body, if the message has one.
    pub html: Option<String>,
    /// Charset of text parts.
    pub charset: Charset,
    /// Attachments (file, inline, item, reference).
    pub attachments: Vec<AttSpec>,
    /// `In-Reply-To`.
    pub in_reply_to: Option<String>,
    /// `References`.
    pub references: Vec<String>,
    /// Conversation key (thread).
    pub conversation: u64,
    /// `low` | `normal` | `high`.
    pub importance: String,
    /// Read state.
    pub is_read: bool,
    /// Draft state.
    pub is_draft: bool,
    /// `notFlagged` | `flagged` | `complete`.
    pub flag: String,
    /// Categories.
    pub categories: Vec<String>,
    /// Extra transport headers to emit (e.g. `Received`).
    pub extra_headers: Vec<(String, String)>,
}

impl MessageSpec {
    /// `hasAttachments` as Graph computes it: true when there are non-inline attachments.
    pub fn has_attachments(&self) -> bool {
        self.attachments.iter().any(|a| !a.is_inline())
    }

    /// First 255 characters of the text body, whitespace collapsed.
    pub fn body_preview(&self) -> String {
        let collapsed: String = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        collapsed.chars().take(255).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets_encode_and_refuse() {
        assert_eq!(
            Charset::Latin1.encode("café"),
            Some(vec![b'c', b'a', b'f', 0xE9])
        );
        assert_eq!(Charset::Latin1.encode("€"), None);
        assert_eq!(Charset::Windows1252.encode("€5"), Some(vec![0x80, b'5']));
        assert_eq!(Charset::Windows1252.encode("日本"), None);
    }
}
