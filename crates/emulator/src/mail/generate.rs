//! Deterministic message content: a message is a pure function of
//! (seed, mailbox, folder, index) and the tenant's people.

use super::spec::{Addr, AttKind, AttSpec, Charset, MessageSpec};
use crate::model::names::*;
use crate::rng::{rng_for, stable_u64};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, OnceLock};

/// A shared document (identical bytes wherever it is attached).
pub struct Asset {
    /// File name.
    pub name: &'static str,
    /// MIME type.
    pub content_type: &'static str,
    /// Bytes.
    pub data: Arc<[u8]>,
}

/// The bundled documents used as attachments.
pub fn assets() -> &'static [Asset] {
    static A: OnceLock<Vec<Asset>> = OnceLock::new();
    A.get_or_init(|| {
        vec![
            Asset { name: "Table options.pdf", content_type: "application/pdf", data: Arc::from(&include_bytes!("../../assets/mail/table-options.pdf")[..]) },
            Asset {
                name: "Proposal template.docx",
                content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                data: Arc::from(&include_bytes!("../../assets/mail/proposal-template.docx")[..]),
            },
            Asset {
                name: "Budget 2026 – regions.xlsx",
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                data: Arc::from(&include_bytes!("../../assets/mail/budget-regions.xlsx")[..]),
            },
            Asset { name: "chart.png", content_type: "image/png", data: Arc::from(&include_bytes!("../../assets/mail/chart-icon.png")[..]) },
        ]
    })
}

/// The inline image used in HTML bodies.
pub fn inline_image() -> &'static Asset {
    static A: OnceLock<Asset> = OnceLock::new();
    A.get_or_init(|| Asset {
        name: "einstein.jpg",
        content_type: "image/jpeg",
        data: Arc::from(&include_bytes!("../../assets/mail/einstein.jpg")[..]),
    })
}

/// What the generator knows of a mailbox owner and the tenant's people.
#[derive(Debug, Clone)]
pub struct Person {
    /// Display name.
    pub name: String,
    /// Address.
    pub address: String,
}

/// Role of a folder for content generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderRole {
    /// Received mail.
    Incoming,
    /// Sent mail.
    Sent,
    /// Drafts.
    Drafts,
}

/// Inputs for one message.
pub struct GenCtx<'a> {
    /// Tenant seed.
    pub seed: u64,
    /// Mailbox owner index.
    pub user: u32,
    /// Owner.
    pub owner: &'a Person,
    /// Everyone in the tenant (for senders/recipients).
    pub people: &'a [Person],
    /// Folder index in the mailbox.
    pub folder: u32,
    /// Folder role.
    pub role: FolderRole,
    /// Messages in the folder (dates spread over them).
    pub count: u32,
    /// Share of messages with attachments.
    pub attachment_rate: f64,
    /// Share of attachments reusing shared documents.
    pub attachment_reuse: f64,
}

const THREAD_LEN: u32 = 4;

fn message_id(ctx: &GenCtx, index: u32) -> String {
    let h = stable_u64(
        ctx.seed,
        "mail.msgid",
        &[ctx.user as u64, ctx.folder as u64, index as u64],
    );
    let domain = ctx.owner.address.split('@').nth(1).unwrap_or("example.com");
    format!("<{h:016x}.{}@{domain}>", index)
}

fn received_at(ctx: &GenCtx, index: u32, rng: &mut ChaCha8Rng) -> DateTime<Utc> {
    // Spread over ~2 years before the anchor, increasing with index.
    let span = 730 * 86_400i64;
    let slot = span / ctx.count.max(1) as i64;
    let base = crate::model::tenant::content_anchor() - Duration::seconds(span);
    base + Duration::seconds(slot * index as i64 + rng.gen_range(0..slot.max(1)))
}

fn pick_person(rng: &mut ChaCha8Rng, ctx: &GenCtx) -> Addr {
    if ctx.people.len() > 1 && rng.gen_bool(0.75) {
        loop {
            let p = &ctx.people[rng.gen_range(0..ctx.people.len())];
            if p.address != ctx.owner.address {
                return Addr {
                    name: p.name.clone(),
                    address: p.address.clone(),
                };
            }
        }
    }
    let given = GIVEN.choose(rng).expect("non-empty");
    let sur = SURNAMES.choose(rng).expect("non-empty");
    let dom = EXTERNAL_DOMAINS.choose(rng).expect("non-empty");
    Addr {
        name: format!("{given} {sur}"),
        address: format!("{}.{}@{dom}", ascii_fold(given), ascii_fold(sur)),
    }
}

fn paragraphs(rng: &mut ChaCha8Rng) -> Vec<String> {
    let n = rng.gen_range(1..=3);
    (0..n)
        .map(|_| {
            let k = rng.gen_range(1..=4);
            (0..k)
                .map(|_| *SENTENCES.choose(rng).expect("non-empty"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn root_subject(ctx: &GenCtx, thread: u32) -> String {
    let mut rng = rng_for(
        ctx.seed,
        "mail.thread",
        &[ctx.user as u64, ctx.folder as u64, thread as u64],
    );
    let topic = SUBJECT_TOPICS.choose(&mut rng).expect("non-empty");
    format!("{topic} #{}", rng.gen_range(100..999))
}

/// Only the text of a message (used for quoting in replies).
fn own_text(ctx: &GenCtx, index: u32) -> (Addr, Vec<String>) {
    let mut rng = rng_for(
        ctx.seed,
        "mail.text",
        &[ctx.user as u64, ctx.folder as u64, index as u64],
    );
    let sender = match ctx.role {
        FolderRole::Incoming => pick_person(&mut rng, ctx),
        _ => Addr {
            name: ctx.owner.name.clone(),
            address: ctx.owner.address.clone(),
        },
    };
    (sender, paragraphs(&mut rng))
}

/// Generate message `index` of a folder.
pub fn generate(ctx: &GenCtx, index: u32) -> MessageSpec {
    let mut rng = rng_for(
        ctx.seed,
        "mail.msg",
        &[ctx.user as u64, ctx.folder as u64, index as u64],
    );
    let thread = index / THREAD_LEN;
    let pos = index % THREAD_LEN;
    // Half of the groups are real threads; in the others every message stands alone.
    let threaded = stable_u64(
        ctx.seed,
        "mail.threaded",
        &[ctx.user as u64, ctx.folder as u64, thread as u64],
    )
    .is_multiple_of(2);
    let is_reply = threaded && pos > 0;
    let subject_root = if threaded {
        root_subject(ctx, thread)
    } else {
        root_subject(ctx, index.wrapping_mul(7919).wrapping_add(1_000_000))
    };
    let subject = if is_reply {
        format!("Re: {subject_root}")
    } else {
        subject_root
    };
    let (sender, paras) = own_text(ctx, index);
    let owner = Addr {
        name: ctx.owner.name.clone(),
        address: ctx.owner.address.clone(),
    };
    let (from, mut to) = match ctx.role {
        FolderRole::Incoming => (sender.clone(), vec![owner.clone()]),
        _ => (owner.clone(), vec![pick_person(&mut rng, ctx)]),
    };
    if rng.gen_bool(0.2) {
        to.push(pick_person(&mut rng, ctx));
    }
    let cc = if rng.gen_bool(0.25) {
        vec![pick_person(&mut rng, ctx)]
    } else {
        vec![]
    };
    let received = received_at(ctx, index, &mut rng);
    let sent = received - Duration::seconds(rng.gen_range(2..90));
    let greeting = format!("Hi {},", to[0].name.split(' ').next().unwrap_or("there"));
    let sign = from.name.clone();
    let mut text = format!("{greeting}\r\n\r\n{}\r\n\r\n{sign}", paras.join("\r\n\r\n"));
    let mut references = Vec::new();
    let mut in_reply_to = None;
    let mut quoted_html = String::new();
    if is_reply {
        let prev = index - 1;
        let (psender, ppar) = own_text(ctx, prev);
        for i in (thread * THREAD_LEN)..index {
            references.push(message_id(ctx, i));
        }
        in_reply_to = Some(message_id(ctx, prev));
        let quote: String = ppar
            .join("\r\n\r\n")
            .lines()
            .map(|l| format!("> {l}\r\n"))
            .collect();
        text.push_str(&format!(
            "\r\n\r\nOn an earlier date, {} <{}> wrote:\r\n{quote}",
            psender.name, psender.address
        ));
        quoted_html = format!(
            "<div id=\"divRplyFwdMsg\"><hr><b>From:</b> {} &lt;{}&gt;</div><blockquote>{}</blockquote>",
            html_escape(&psender.name),
            psender.address,
            ppar.iter()
                .map(|p| format!("<p>{}</p>", html_escape(p)))
                .collect::<String>()
        );
    }
    let charset = match rng.gen_range(0..100) {
        0..=69 => Charset::Utf8,
        70..=84 => Charset::Latin1,
        _ => Charset::Windows1252,
    };
    let has_html = rng.gen_bool(0.85);
    let mut attachments = Vec::new();
    let mut html = None;
    if has_html {
        let mut h = format!(
            "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset={}\"></head><body><p>{}</p>{}<p>{}</p>",
            charset.mime_name(),
            html_escape(&greeting),
            paras
                .iter()
                .map(|p| format!("<p>{}</p>", html_escape(p)))
                .collect::<String>(),
            html_escape(&sign)
        );
        if rng.gen_bool(0.08) {
            let img = inline_image();
            let cid = format!(
                "image001.jpg@{:08X}.{:08X}",
                stable_u64(
                    ctx.seed,
                    "cid",
                    &[ctx.user as u64, ctx.folder as u64, index as u64]
                ) as u32,
                index
            );
            h.push_str(&format!("<p><img src=\"cid:{cid}\" alt=\"photo\"></p>"));
            attachments.push(AttSpec {
                name: img.name.to_string(),
                content_type: img.content_type.to_string(),
                data: img.data.clone(),
                content_id: Some(cid),
                kind: AttKind::File,
                modified: sent,
            });
        }
        h.push_str(&quoted_html);
        h.push_str("</body></html>");
        html = Some(h);
    }
    if rng.gen_bool(ctx.attachment_rate.clamp(0.0, 1.0)) {
        let n = rng.gen_range(1..=2);
        for k in 0..n {
            if rng.gen_bool(ctx.attachment_reuse.clamp(0.0, 1.0)) {
                let a = assets().choose(&mut rng).expect("assets");
                attachments.push(AttSpec {
                    name: a.name.to_string(),
                    content_type: a.content_type.to_string(),
                    data: a.data.clone(),
                    content_id: None,
                    kind: AttKind::File,
                    modified: sent,
                });
            } else {
                let rows = rng.gen_range(5..60);
                let mut csv = String::from("region;month;amount;note\r\n");
                for r in 0..rows {
                    csv.push_str(&format!(
                        "{};{};{:.2};{}\r\n",
                        DEPARTMENTS[r % DEPARTMENTS.len()],
                        r % 12 + 1,
                        rng.gen_range(10.0..9999.0),
                        SENTENCES.choose(&mut rng).expect("s")
                    ));
                }
                attachments.push(AttSpec {
                    name: format!("Report {}-{k} (Übersicht).csv", index),
                    content_type: "text/csv".into(),
                    data: Arc::from(csv.into_bytes()),
                    content_id: None,
                    kind: AttKind::File,
                    modified: sent,
                });
            }
        }
        if rng.gen_bool(0.1) && index > 0 {
            let mut inner = generate_plain(ctx, index - 1);
            inner.attachments.clear();
            attachments.push(AttSpec {
                name: inner.subject.clone(),
                content_type: "message/rfc822".into(),
                data: Arc::from(Vec::new()),
                content_id: None,
                kind: AttKind::Item(Box::new(inner)),
                modified: sent,
            });
        } else if rng.gen_bool(0.1) {
            attachments.push(AttSpec {
                name: "Shared plan.docx".into(),
                content_type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document".into(),
                data: Arc::from(Vec::new()),
                content_id: None,
                kind: AttKind::Reference { url: format!("https://contoso-my.sharepoint.com/personal/{}/Documents/Shared%20plan.docx", ascii_fold(&ctx.owner.name)) },
                modified: sent,
            });
        }
    }
    let role_read = generated_is_read(ctx.seed, ctx.user, ctx.folder, ctx.role, index);
    let flag = match rng.gen_range(0..100) {
        0..=7 => "flagged",
        8..=11 => "complete",
        _ => "notFlagged",
    };
    let categories = if rng.gen_bool(0.15) {
        vec![CATEGORIES.choose(&mut rng).expect("c").to_string()]
    } else {
        vec![]
    };
    let importance = match rng.gen_range(0..100) {
        0..=4 => "high",
        5..=7 => "low",
        _ => "normal",
    };
    let host = format!(
        "EMU{:02}PR0{}MB{:04}.eurprd0{}.prod.outlook.com",
        ctx.user % 100,
        ctx.folder % 10,
        index % 10_000,
        ctx.user % 9
    );
    MessageSpec {
        message_id: message_id(ctx, index),
        subject,
        from: Some(from),
        to,
        cc,
        bcc: vec![],
        reply_to: vec![],
        sent,
        received,
        text,
        html,
        charset,
        attachments,
        in_reply_to,
        references,
        conversation: if threaded {
            stable_u64(
                ctx.seed,
                "mail.conv",
                &[ctx.user as u64, ctx.folder as u64, thread as u64],
            )
        } else {
            stable_u64(
                ctx.seed,
                "mail.conv1",
                &[ctx.user as u64, ctx.folder as u64, index as u64],
            )
        },
        importance: importance.into(),
        is_read: role_read,
        is_draft: ctx.role == FolderRole::Drafts,
        flag: flag.into(),
        categories,
        extra_headers: vec![(
            "Received".into(),
            format!(
                "from {host} (2603:10a6:10:2cc::{:x}) by {host} with HTTPS; {}",
                index,
                received.to_rfc2822()
            ),
        )],
    }
}

/// Read state of a generated message, computable without generating it (folder counters).
pub fn generated_is_read(seed: u64, user: u32, folder: u32, role: FolderRole, index: u32) -> bool {
    role != FolderRole::Incoming
        || crate::rng::stable_unit(
            seed,
            "mail.read",
            &[user as u64, folder as u64, index as u64],
        ) < 0.8
}

/// A short message without attachments (for item attachments).
fn generate_plain(ctx: &GenCtx, index: u32) -> MessageSpec {
    let sub = GenCtx {
        attachment_rate: 0.0,
        ..*ctx
    };
    generate(&sub, index)
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl<'a> Clone for GenCtx<'a> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<'a> Copy for GenCtx<'a> {}
