//! Exchange item ids: opaque base64url strings that carry what the emulator needs to find the
//! item. REST message ids include the folder (they change when the message moves, as Exchange's
//! do); immutable ids (`Prefer: IdType="ImmutableId"`) don't.

use super::store::MsgKey;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A decoded id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExId {
    /// Message, REST form (valid while the message is in `folder`).
    Message {
        /// Mailbox owner index.
        user: u32,
        /// Message.
        key: MsgKey,
        /// Folder it was in when the id was minted.
        folder: u32,
    },
    /// Message, immutable form.
    ImmutableMessage {
        /// Mailbox owner index.
        user: u32,
        /// Message.
        key: MsgKey,
    },
    /// Mail folder.
    Folder {
        /// Mailbox owner index.
        user: u32,
        /// Folder index.
        folder: u32,
    },
    /// Attachment of a message.
    Attachment {
        /// Mailbox owner index.
        user: u32,
        /// Message.
        key: MsgKey,
        /// Position in the message's attachment list.
        n: u16,
    },
    /// Event (generated or created) or occurrence.
    Event {
        /// Mailbox owner index.
        user: u32,
        /// Event number (created events have the top bit set).
        n: u32,
        /// Occurrence number + 1 for instances of a series; 0 for the item itself.
        occ: u16,
    },
    /// Contact.
    Contact {
        /// Mailbox owner index.
        user: u32,
        /// Contact number (created contacts have the top bit set).
        n: u32,
    },
    /// Calendar or contact folder (the default ones).
    Container {
        /// Mailbox owner index.
        user: u32,
        /// 0 = default calendar, 1 = default contacts folder.
        which: u8,
    },
    /// Attachment of an event.
    EventAttachment {
        /// Mailbox owner index.
        user: u32,
        /// Event number.
        n: u32,
        /// Position.
        a: u16,
    },
}

const PREFIX: &str = "AAMkA";

impl ExId {
    /// Encode.
    pub fn encode(&self) -> String {
        let mut b = Vec::with_capacity(24);
        match *self {
            ExId::Message { user, key, folder } => {
                b.push(1);
                b.extend_from_slice(&user.to_be_bytes());
                b.extend_from_slice(&key.0.to_be_bytes());
                b.extend_from_slice(&folder.to_be_bytes());
            }
            ExId::ImmutableMessage { user, key } => {
                b.push(2);
                b.extend_from_slice(&user.to_be_bytes());
                b.extend_from_slice(&key.0.to_be_bytes());
            }
            ExId::Folder { user, folder } => {
                b.push(3);
                b.extend_from_slice(&user.to_be_bytes());
                b.extend_from_slice(&folder.to_be_bytes());
            }
            ExId::Attachment { user, key, n } => {
                b.push(4);
                b.extend_from_slice(&user.to_be_bytes());
                b.extend_from_slice(&key.0.to_be_bytes());
                b.extend_from_slice(&n.to_be_bytes());
            }
            ExId::Event { user, n, occ } => {
                b.push(5);
                b.extend_from_slice(&user.to_be_bytes());
                b.extend_from_slice(&n.to_be_bytes());
                b.extend_from_slice(&occ.to_be_bytes());
            }
            ExId::Contact { user, n } => {
                b.push(6);
                b.extend_from_slice(&user.to_be_bytes());
                b.extend_from_slice(&n.to_be_bytes());
            }
            ExId::Container { user, which } => {
                b.push(7);
                b.extend_from_slice(&user.to_be_bytes());
                b.push(which);
            }
            ExId::EventAttachment { user, n, a } => {
                b.push(8);
                b.extend_from_slice(&user.to_be_bytes());
                b.extend_from_slice(&n.to_be_bytes());
                b.extend_from_slice(&a.to_be_bytes());
            }
        }
        // A checksum byte makes random strings fail to decode.
        let sum = b.iter().fold(0x5Au8, |a, x| a.rotate_left(1) ^ x);
        b.push(sum);
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&b))
    }

    /// Decode; `None` for anything not minted here.
    pub fn decode(s: &str) -> Option<Self> {
        let body = s.strip_prefix(PREFIX)?;
        let mut b = URL_SAFE_NO_PAD.decode(body.trim_end_matches('=')).ok()?;
        let sum = b.pop()?;
        if b.iter().fold(0x5Au8, |a, x| a.rotate_left(1) ^ x) != sum {
            return None;
        }
        let u32_at = |i: usize| {
            b.get(i..i + 4)
                .map(|x| u32::from_be_bytes(x.try_into().expect("4")))
        };
        let u64_at = |i: usize| {
            b.get(i..i + 8)
                .map(|x| u64::from_be_bytes(x.try_into().expect("8")))
        };
        let u16_at = |i: usize| {
            b.get(i..i + 2)
                .map(|x| u16::from_be_bytes(x.try_into().expect("2")))
        };
        let id = match (b.first()?, b.len()) {
            (1, 17) => ExId::Message {
                user: u32_at(1)?,
                key: MsgKey(u64_at(5)?),
                folder: u32_at(13)?,
            },
            (2, 13) => ExId::ImmutableMessage {
                user: u32_at(1)?,
                key: MsgKey(u64_at(5)?),
            },
            (3, 9) => ExId::Folder {
                user: u32_at(1)?,
                folder: u32_at(5)?,
            },
            (4, 15) => ExId::Attachment {
                user: u32_at(1)?,
                key: MsgKey(u64_at(5)?),
                n: u16_at(13)?,
            },
            (5, 11) => ExId::Event {
                user: u32_at(1)?,
                n: u32_at(5)?,
                occ: u16_at(9)?,
            },
            (6, 9) => ExId::Contact {
                user: u32_at(1)?,
                n: u32_at(5)?,
            },
            (7, 6) => ExId::Container {
                user: u32_at(1)?,
                which: *b.get(5)?,
            },
            (8, 11) => ExId::EventAttachment {
                user: u32_at(1)?,
                n: u32_at(5)?,
                a: u16_at(9)?,
            },
            _ => return None,
        };
        Some(id)
    }
}

/// Id of message `key` for a client that asked (or not) for immutable ids.
pub fn message_id(user: u32, key: MsgKey, folder: u32, immutable: bool) -> String {
    if immutable {
        ExId::ImmutableMessage { user, key }.encode()
    } else {
        ExId::Message { user, key, folder }.encode()
    }
}

/// Id of folder `folder`.
pub fn folder_id(user: u32, folder: u32) -> String {
    ExId::Folder { user, folder }.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let all = [
            ExId::Message {
                user: 3,
                key: MsgKey::generated(1, 7),
                folder: 1,
            },
            ExId::ImmutableMessage {
                user: 3,
                key: MsgKey::created(9),
            },
            ExId::Folder {
                user: 0,
                folder: 12,
            },
            ExId::Attachment {
                user: 1,
                key: MsgKey::generated(2, 3),
                n: 1,
            },
            ExId::Event {
                user: 1,
                n: 5,
                occ: 3,
            },
            ExId::Contact { user: 1, n: 5 },
            ExId::Container { user: 1, which: 1 },
            ExId::EventAttachment {
                user: 2,
                n: 1,
                a: 0,
            },
        ];
        for id in all {
            assert_eq!(ExId::decode(&id.encode()), Some(id));
        }
        assert_eq!(ExId::decode("AAMkAbogus"), None);
        assert_eq!(ExId::decode("inbox"), None);
        let mut s = all[0].encode();
        s.pop();
        s.push('A');
        assert_eq!(ExId::decode(&s), None);
    }
}
