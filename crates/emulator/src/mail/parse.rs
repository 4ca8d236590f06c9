//! MIME → [`MessageSpec`] (for messages created from MIME and for the `.eml` loader).

use super::spec::{Addr, AttKind, AttSpec, Charset, MessageSpec};
use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use std::sync::Arc;

fn addrs(a: Option<&Address>) -> Vec<Addr> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| {
                x.address().map(|ad| Addr {
                    name: x.name().unwrap_or("").to_string(),
                    address: ad.to_string(),
                })
            })
            .collect()
    })
    .unwrap_or_default()
}

fn ids(v: &mail_parser::HeaderValue) -> Vec<String> {
    match v {
        mail_parser::HeaderValue::Text(t) => vec![format!("<{t}>")],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| format!("<{t}>")).collect(),
        _ => vec![],
    }
}

/// Parse `raw`; `now` is used when the message has no Date header.
pub fn parse(raw: &[u8], now: DateTime<Utc>) -> Option<MessageSpec> {
    let msg = MessageParser::default().parse(raw)?;
    // A message needs at least one header we understand.
    if msg.subject().is_none()
        && msg.from().is_none()
        && msg.message_id().is_none()
        && msg.date().is_none()
    {
        return None;
    }
    let sent = msg
        .date()
        .and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single())
        .unwrap_or(now);
    let has_html = msg.html_body.iter().any(|id| {
        matches!(
            msg.parts.get(*id as usize).map(|p| &p.body),
            Some(PartType::Html(_))
        )
    });
    let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let html = if has_html {
        msg.body_html(0).map(|h| h.into_owned())
    } else {
        None
    };
    let mut attachments = Vec::new();
    for part in msg.attachments() {
        let name = part.attachment_name().unwrap_or("attachment").to_string();
        let ct = part
            .content_type()
            .map(|c| match c.subtype() {
                Some(s) => format!("{}/{}", c.ctype(), s),
                None => c.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".into());
        let content_id = part
            .content_id()
            .map(|c| c.trim_matches(|x| x == '<' || x == '>').to_string())
            .filter(|_| {
                part.content_disposition()
                    .is_none_or(|d| d.ctype().eq_ignore_ascii_case("inline"))
            });
        if let Some(inner) = part.message() {
            let spec = parse(inner.raw_message(), now)?;
            attachments.push(AttSpec {
                name: inner.subject().unwrap_or(&name).to_string(),
                content_type: "message/rfc822".into(),
                data: Arc::from(Vec::new()),
                content_id: None,
                kind: AttKind::Item(Box::new(spec)),
                modified: sent,
            });
            continue;
        }
        attachments.push(AttSpec {
            name,
            content_type: ct,
            data: Arc::from(part.contents().to_vec()),
            content_id,
            kind: AttKind::File,
            modified: sent,
        });
    }
    let importance = match msg
        .header_raw("Importance")
        .map(|s| s.trim().to_ascii_lowercase())
    {
        Some(s) if s == "high" => "high",
        Some(s) if s == "low" => "low",
        _ => "normal",
    };
    let from = addrs(msg.from()).into_iter().next();
    let message_id = msg
        .message_id()
        .map(|m| format!("<{m}>"))
        .unwrap_or_else(|| format!("<{}@emulator.local>", uuid::Uuid::new_v4().simple()));
    let references = ids(msg.references());
    let in_reply_to = ids(msg.in_reply_to()).into_iter().next();
    let conv_root = references
        .first()
        .cloned()
        .unwrap_or_else(|| message_id.clone());
    let conversation = conv_root.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    Some(MessageSpec {
        message_id,
        subject: msg.subject().unwrap_or("").to_string(),
        from,
        to: addrs(msg.to()),
        cc: addrs(msg.cc()),
        bcc: addrs(msg.bcc()),
        reply_to: addrs(msg.reply_to()),
        sent,
        received: sent,
        text,
        html,
        charset: Charset::Utf8,
        attachments,
        in_reply_to,
        references,
        conversation,
        importance: importance.into(),
        is_read: true,
        is_draft: false,
        flag: "notFlagged".into(),
        categories: vec![],
        extra_headers: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_encoded_subject_and_attachment() {
        let raw = b"From: =?utf-8?B?Sm/Dq2w=?= <joel@example.com>\r\nTo: a@b.c\r\nSubject: =?iso-8859-1?Q?Caf=E9?=\r\nDate: Tue, 2 Jun 2026 10:00:00 +0000\r\nMessage-ID: <x1@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n";
        let s = parse(raw, Utc::now()).expect("parses");
        assert_eq!(s.subject, "Café");
        assert_eq!(s.from.as_ref().map(|f| f.name.as_str()), Some("Joël"));
        assert_eq!(s.attachments.len(), 1);
        assert_eq!(&s.attachments[0].data[..], b"%PDF");
        assert!(s.html.is_none());
        assert!(parse(b"not a message at all", Utc::now()).is_none());
    }
}
