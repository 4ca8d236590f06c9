//! The MIME served at `$value` parses back (mail-parser) and agrees with the message JSON.

mod common;
use common::*;
use mail_parser::MessageParser;
use serde_json::Value;

fn addr_list(a: Option<&mail_parser::Address>) -> Vec<String> {
    a.map(|a| {
        a.iter()
            .filter_map(|x| x.address().map(str::to_lowercase))
            .collect()
    })
    .unwrap_or_default()
}

fn json_addrs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    x["emailAddress"]["address"]
                        .as_str()
                        .unwrap_or("")
                        .to_lowercase()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn mime_and_json_agree_for_generated_messages() {
    let emu = start(6, false).await;
    let g = G::new(&emu).await;
    let users = g.json("/users?$select=id&$top=6").await;
    let mut checked = 0;
    let (mut saw_attachment, mut saw_inline, mut saw_8bit, mut saw_reply, mut saw_encoded) =
        (false, false, false, false, false);
    for u in users["value"].as_array().expect("users") {
        let uid = u["id"].as_str().expect("id");
        for folder in ["inbox", "sentitems", "archive"] {
            let r = g
                .get(&format!(
                    "/users/{uid}/mailFolders/{folder}/messages?$top=50&$expand=attachments"
                ))
                .await;
            if r.status() != 200 {
                continue; // shared mailbox without these folders' content, etc.
            }
            let list: Value = r.json().await.expect("json");
            for m in list["value"].as_array().expect("value") {
                let id = m["id"].as_str().expect("id");
                let raw = g
                    .get(&format!("/users/{uid}/messages/{id}/$value"))
                    .await
                    .bytes()
                    .await
                    .expect("bytes");
                let p = MessageParser::default()
                    .parse(&raw[..])
                    .expect("MIME parses");
                assert_eq!(
                    p.subject().unwrap_or(""),
                    m["subject"].as_str().expect("subject"),
                    "subject"
                );
                assert_eq!(
                    format!("<{}>", p.message_id().expect("Message-ID")),
                    m["internetMessageId"].as_str().expect("imid")
                );
                assert_eq!(
                    addr_list(p.from()),
                    vec![
                        m["from"]["emailAddress"]["address"]
                            .as_str()
                            .expect("from")
                            .to_lowercase()
                    ]
                );
                assert_eq!(addr_list(p.to()), json_addrs(&m["toRecipients"]));
                assert_eq!(addr_list(p.cc()), json_addrs(&m["ccRecipients"]));
                let date = p.date().expect("Date").to_timestamp();
                let sent =
                    chrono::DateTime::parse_from_rfc3339(m["sentDateTime"].as_str().expect("sent"))
                        .expect("rfc3339")
                        .timestamp();
                assert_eq!(date, sent, "Date header = sentDateTime");
                // Attachments: file parts in the MIME = non-reference attachments in the JSON.
                let json_atts: Vec<&Value> = m["attachments"]
                    .as_array()
                    .expect("expanded")
                    .iter()
                    .filter(|a| a["@odata.type"] != "#microsoft.graph.referenceAttachment")
                    .collect();
                assert_eq!(
                    p.attachments().count(),
                    json_atts.len(),
                    "attachment count for {}",
                    m["subject"]
                );
                let non_inline = json_atts.iter().any(|a| a["isInline"] == false)
                    || m["attachments"]
                        .as_array()
                        .expect("a")
                        .iter()
                        .any(|a| a["@odata.type"] == "#microsoft.graph.referenceAttachment");
                assert_eq!(m["hasAttachments"].as_bool(), Some(non_inline));
                for a in &json_atts {
                    if a["@odata.type"] == "#microsoft.graph.fileAttachment" {
                        let bytes = base64::Engine::decode(
                            &base64::engine::general_purpose::STANDARD,
                            a["contentBytes"].as_str().expect("bytes"),
                        )
                        .expect("b64");
                        assert!(
                            p.attachments().any(|x| x.contents() == &bytes[..]),
                            "attachment bytes present in MIME"
                        );
                        saw_attachment |= a["isInline"] == false;
                        saw_inline |= a["isInline"] == true;
                    }
                }
                // Body text: the text part equals the JSON body when JSON is text, else the preview matches.
                let text = p.body_text(0).unwrap_or_default().to_string();
                let preview: String = text
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(255)
                    .collect();
                assert_eq!(
                    preview,
                    m["bodyPreview"].as_str().expect("preview"),
                    "bodyPreview from text part"
                );
                let raw_s = String::from_utf8_lossy(&raw);
                saw_8bit |= raw_s.contains("charset=\"iso-8859-1\"")
                    || raw_s.contains("charset=\"windows-1252\"");
                saw_reply |= raw_s.contains("\r\nIn-Reply-To: <")
                    && m["subject"].as_str().expect("s").starts_with("Re: ");
                saw_encoded |= raw_s.contains("Subject: =?");
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "checked {checked}");
    assert!(
        saw_attachment && saw_inline && saw_8bit && saw_reply && saw_encoded,
        "variety: att {saw_attachment} inline {saw_inline} 8bit {saw_8bit} reply {saw_reply} encoded {saw_encoded}"
    );
}
