//! Teams model and its deterministic generator: teams (one per Teams-enabled group),
//! standard and private channels, channel messages with replies and hosted content
//! (inline images), 1:1 and group chats with messages.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use std::sync::Arc;

use crate::drive::DriveConfig;
use crate::drive::model::Ident;
use crate::rng::{rng_for, stable_uuid};

/// An inline image of a message (`hostedContents`).
#[derive(Debug, Clone)]
pub struct Hosted {
    /// Hosted content id.
    pub id: String,
    /// Index into the drive assets (an image).
    pub asset: u16,
}

/// A chat or channel message (root post or reply).
#[derive(Debug, Clone)]
pub struct Message {
    /// Epoch-milliseconds id.
    pub id: String,
    /// Parent message id for replies.
    pub reply_to: Option<String>,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Last modification (edits, deletion, new replies for roots).
    pub modified: DateTime<Utc>,
    /// Last edit by the author.
    pub edited: Option<DateTime<Utc>>,
    /// Deletion time (soft delete; the message stays with empty body).
    pub deleted: Option<DateTime<Utc>>,
    /// Author.
    pub from: Arc<Ident>,
    /// Subject (root channel posts only).
    pub subject: Option<String>,
    /// HTML body.
    pub body: String,
    /// `normal` / `high` / `urgent`.
    pub importance: &'static str,
    /// Inline images.
    pub hosted: Vec<Hosted>,
    /// Replies (root channel posts only).
    pub replies: Vec<Message>,
    /// Change sequence number (delta).
    pub seq: u64,
}

/// A channel.
#[derive(Debug, Clone)]
pub struct Channel {
    /// `19:…@thread.tacv2`.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// `standard` or `private`.
    pub membership: &'static str,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Root posts, oldest first.
    pub messages: Vec<Message>,
    /// Change counter.
    pub seq: u64,
}

/// A team.
#[derive(Debug, Clone)]
pub struct Team {
    /// Group id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Channels, General first.
    pub channels: Vec<Channel>,
    /// Member user ids.
    pub members: Vec<String>,
}

/// A chat.
#[derive(Debug, Clone)]
pub struct Chat {
    /// Chat id.
    pub id: String,
    /// Topic (group chats).
    pub topic: Option<String>,
    /// `oneOnOne` or `group`.
    pub chat_type: &'static str,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// Member user ids.
    pub members: Vec<String>,
    /// Messages, oldest first.
    pub messages: Vec<Message>,
}

/// All of Teams.
#[derive(Debug, Default)]
pub struct TeamsStore {
    /// Teams.
    pub teams: Vec<Team>,
    /// Chats.
    pub chats: Vec<Chat>,
    /// Global message counter (ids and seqs stay unique).
    pub counter: u64,
    /// Chat id → index.
    chat_index: std::collections::HashMap<String, usize>,
}

/// A Teams-enabled group.
#[derive(Debug, Clone)]
pub struct TeamSpec {
    /// Group id.
    pub id: String,
    /// Name.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// Member ids.
    pub members: Vec<String>,
}

const TOPICS: &[&str] = &[
    "Release planning",
    "Customer escalation",
    "Weekly sync",
    "Budget 2026",
    "Offsite",
    "Hiring",
    "Incident review",
    "Roadmap",
    "Lunch",
    "Design review",
];
const LINES: &[&str] = &[
    "Can you take a look at this before Friday?",
    "Thanks, that works for me.",
    "I've updated the deck with the latest numbers.",
    "Let's discuss in tomorrow's call.",
    "The customer confirmed the order 🎉",
    "Où en est la revue du contrat ?",
    "Bitte bis Montag prüfen.",
    "Agreed — shipping it.",
    "Here is the screenshot:",
    "Who owns the follow-up?",
    "Moving this to the next sprint.",
];

/// Index of the PNG/JPEG assets used as inline images.
fn image_assets() -> Vec<u16> {
    crate::drive::content::ASSETS
        .iter()
        .enumerate()
        .filter(|(_, a)| a.mime.starts_with("image/"))
        .map(|(i, _)| i as u16)
        .collect()
}

fn hex_id(seed: u64, domain: &str, key: &[u64]) -> String {
    stable_uuid(seed, domain, key).simple().to_string()
}

impl TeamsStore {
    /// Next message id/seq: epoch milliseconds of `at`, made unique.
    pub fn next_id(&mut self, at: DateTime<Utc>) -> (String, u64) {
        self.counter += 1;
        let ms = at.timestamp_millis().max(0) as u64;
        (format!("{}", ms * 1000 + self.counter % 1000), self.counter)
    }

    /// Builds a message.
    #[allow(clippy::too_many_arguments)]
    pub fn message(
        &mut self,
        rng: &mut impl Rng,
        at: DateTime<Utc>,
        from: Arc<Ident>,
        reply_to: Option<String>,
        subject: Option<String>,
        with_image: bool,
        images: &[u16],
    ) -> Message {
        let (id, seq) = self.next_id(at);
        let line = LINES[rng.gen_range(0..LINES.len())];
        let mut hosted = Vec::new();
        let mut body = format!("<p>{line}</p>");
        if with_image && !images.is_empty() {
            let hid = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("id=x_0-wus-d{}-{id},type=1", seq % 10),
            );
            body.push_str(&format!(
                "<p><img src=\"https://graph.microsoft.com/v1.0/hostedContents/{hid}/$value\" alt=\"image\" itemtype=\"http://schema.skype.com/AMSImage\"></p>"
            ));
            hosted.push(Hosted {
                id: hid,
                asset: images[rng.gen_range(0..images.len())],
            });
        }
        Message {
            id,
            reply_to,
            created: at,
            modified: at,
            edited: None,
            deleted: None,
            from,
            subject,
            body,
            importance: if rng.gen_bool(0.05) { "high" } else { "normal" },
            hosted,
            replies: Vec::new(),
            seq,
        }
    }

    /// Generates teams for `teams` and chats among `users`.
    pub fn generate(
        seed: u64,
        cfg: &DriveConfig,
        teams: &[TeamSpec],
        users: &[Ident],
        anchor: DateTime<Utc>,
    ) -> Self {
        let mut store = TeamsStore::default();
        let users: Vec<Arc<Ident>> = users.iter().cloned().map(Arc::new).collect();
        let images = image_assets();
        let user_map: std::collections::HashMap<&str, &Arc<Ident>> =
            users.iter().map(|u| (u.id.as_str(), u)).collect();
        let by_id = |id: &str| user_map.get(id).map(|u| (*u).clone());
        for (ti, t) in teams.iter().enumerate() {
            let mut rng = rng_for(seed, "teams.team", &[ti as u64]);
            let created = anchor - Duration::days(rng.gen_range(100..900));
            let members: Vec<Arc<Ident>> = t.members.iter().filter_map(|m| by_id(m)).collect();
            let members = if members.is_empty() {
                users.iter().take(3).cloned().collect()
            } else {
                members
            };
            let mut channels = Vec::new();
            let names = [
                ("General", "standard"),
                ("Announcements", "standard"),
                ("Leadership", "private"),
            ];
            for (ci, (name, membership)) in names.iter().enumerate() {
                let mut ch = Channel {
                    id: format!(
                        "19:{}@thread.tacv2",
                        hex_id(seed, "teams.channel", &[ti as u64, ci as u64])
                    ),
                    display_name: name.to_string(),
                    description: format!("{name} channel of {}", t.display_name),
                    membership,
                    created: created + Duration::hours(ci as i64),
                    messages: Vec::new(),
                    seq: 0,
                };
                // Spread over the year before the anchor, so some posts fall outside delta's
                // 8-month window and some inside.
                let span = 365 * 24 * 60 / i64::from(cfg.channel_messages.max(1));
                for k in 0..i64::from(cfg.channel_messages) {
                    let at = (anchor - Duration::days(365)
                        + Duration::minutes(k * span + rng.gen_range(0..span.max(1))))
                    .min(anchor);
                    let Some(from) = members.choose(&mut rng).cloned() else {
                        break;
                    };
                    let subject = rng
                        .gen_bool(0.4)
                        .then(|| TOPICS[rng.gen_range(0..TOPICS.len())].to_string());
                    let img = rng.gen_bool(0.15);
                    let mut root = store.message(&mut rng, at, from, None, subject, img, &images);
                    for r in 0..rng.gen_range(0..4u32) {
                        let Some(from) = members.choose(&mut rng).cloned() else {
                            break;
                        };
                        let rat = (at
                            + Duration::minutes(i64::from(r + 1) * rng.gen_range(1..120)))
                        .min(anchor);
                        let img = rng.gen_bool(0.05);
                        let reply = store.message(
                            &mut rng,
                            rat,
                            from,
                            Some(root.id.clone()),
                            None,
                            img,
                            &images,
                        );
                        root.modified = root.modified.max(rat);
                        root.seq = reply.seq;
                        root.replies.push(reply);
                    }
                    ch.seq = ch.seq.max(root.seq);
                    ch.messages.push(root);
                }
                ch.seq = store.counter;
                channels.push(ch);
            }
            store.teams.push(Team {
                id: t.id.clone(),
                display_name: t.display_name.clone(),
                description: t.description.clone(),
                created,
                channels,
                members: members.iter().map(|m| m.id.clone()).collect(),
            });
        }
        for (ui, u) in users.iter().enumerate() {
            for k in 0..cfg.chats_per_user {
                let mut rng = rng_for(seed, "teams.chat", &[ui as u64, u64::from(k)]);
                let others = users.len() - 1;
                if others == 0 {
                    break;
                }
                let group = rng.gen_bool(0.4) && others >= 2;
                let mut members = vec![u.clone()];
                let n = if group {
                    rng.gen_range(2..=others.min(4))
                } else {
                    1
                };
                // Distinct other members, sampled without scanning the whole directory.
                let mut picked = std::collections::BTreeSet::new();
                while picked.len() < n {
                    let j = rng.gen_range(0..users.len());
                    if j != ui {
                        picked.insert(j);
                    }
                }
                for j in picked {
                    members.push(users[j].clone());
                }
                let (id, topic, chat_type) = if group {
                    (
                        format!(
                            "19:{}@thread.v2",
                            hex_id(seed, "teams.chat.id", &[ui as u64, u64::from(k)])
                        ),
                        Some(TOPICS[rng.gen_range(0..TOPICS.len())].to_string()),
                        "group",
                    )
                } else {
                    let mut pair = [members[0].id.clone(), members[1].id.clone()];
                    pair.sort();
                    (
                        format!("19:{}_{}@unq.gbl.spaces", pair[0], pair[1]),
                        None,
                        "oneOnOne",
                    )
                };
                if store.chat_index.contains_key(&id) {
                    continue;
                }
                let created = anchor - Duration::days(rng.gen_range(10..400));
                let mut chat = Chat {
                    id,
                    topic,
                    chat_type,
                    created,
                    members: members.iter().map(|m| m.id.clone()).collect(),
                    messages: Vec::new(),
                };
                let mut at = created;
                for _ in 0..cfg.chat_messages {
                    at = (at + Duration::minutes(rng.gen_range(1..60 * 24 * 5))).min(anchor);
                    let Some(from) = members.choose(&mut rng).cloned() else {
                        break;
                    };
                    let img = rng.gen_bool(0.1);
                    let m = store.message(&mut rng, at, from, None, None, img, &images);
                    chat.messages.push(m);
                }
                store.chat_index.insert(chat.id.clone(), store.chats.len());
                store.chats.push(chat);
            }
        }
        store
    }

    /// Team by id.
    pub fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.id.eq_ignore_ascii_case(id))
    }

    /// Chat by id.
    pub fn chat(&self, id: &str) -> Option<&Chat> {
        self.chat_index.get(id).map(|&i| &self.chats[i])
    }
}

impl Team {
    /// Channel by id.
    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<Ident> {
        (0..4)
            .map(|i| Ident {
                id: format!("u{i}"),
                display_name: format!("U{i}"),
                email: format!("u{i}@x"),
            })
            .collect()
    }

    #[test]
    fn deterministic_and_shaped_like_teams() {
        let cfg = DriveConfig::default();
        let specs = [TeamSpec {
            id: "g1".into(),
            display_name: "Sales".into(),
            description: "d".into(),
            members: vec!["u0".into(), "u1".into()],
        }];
        let anchor = crate::model::tenant::content_anchor();
        let a = TeamsStore::generate(5, &cfg, &specs, &users(), anchor);
        let b = TeamsStore::generate(5, &cfg, &specs, &users(), anchor);
        let ids = |s: &TeamsStore| {
            s.teams[0].channels[0]
                .messages
                .iter()
                .map(|m| (m.id.clone(), m.body.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        let t = &a.teams[0];
        assert_eq!(t.channels.len(), 3);
        assert!(t.channels.iter().any(|c| c.membership == "private"));
        assert!(t.channels[0].id.starts_with("19:") && t.channels[0].id.ends_with("@thread.tacv2"));
        assert_eq!(t.channels[0].messages.len(), cfg.channel_messages as usize);
        assert!(a.chats.iter().any(|c| c.chat_type == "oneOnOne"));
        // Replies belong to their root.
        for m in &t.channels[0].messages {
            for r in &m.replies {
                assert_eq!(r.reply_to.as_deref(), Some(m.id.as_str()));
            }
        }
    }
}
