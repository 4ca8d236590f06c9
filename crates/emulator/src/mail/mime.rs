//! Rendering a [`MessageSpec`] as RFC 5322 / MIME bytes: multipart/alternative text+HTML,
//! multipart/related inline images, attachments, RFC 2047 encoded words, RFC 2231 file names,
//! quoted-printable and base64 transfer encodings, CRLF line ends.

use super::spec::{Addr, AttKind, AttSpec, Charset, MessageSpec};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Render the full message.
pub fn render(m: &MessageSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        4096 + m
            .attachments
            .iter()
            .map(|a| a.data.len() * 4 / 3)
            .sum::<usize>(),
    );
    for (k, v) in &m.extra_headers {
        header(&mut out, k, v);
    }
    header(&mut out, "Date", &m.sent.to_rfc2822());
    if let Some(f) = &m.from {
        header(
            &mut out,
            "From",
            &addr_list(std::slice::from_ref(f), m.charset),
        );
    }
    if !m.to.is_empty() {
        header(&mut out, "To", &addr_list(&m.to, m.charset));
    }
    if !m.cc.is_empty() {
        header(&mut out, "Cc", &addr_list(&m.cc, m.charset));
    }
    if !m.bcc.is_empty() {
        header(&mut out, "Bcc", &addr_list(&m.bcc, m.charset));
    }
    if !m.reply_to.is_empty() {
        header(&mut out, "Reply-To", &addr_list(&m.reply_to, m.charset));
    }
    header(&mut out, "Subject", &encode_word(&m.subject, m.charset));
    header(&mut out, "Message-ID", &m.message_id);
    if let Some(r) = &m.in_reply_to {
        header(&mut out, "In-Reply-To", r);
    }
    if !m.references.is_empty() {
        header(&mut out, "References", &m.references.join(" "));
    }
    let topic = m
        .subject
        .trim_start_matches("Re: ")
        .trim_start_matches("RE: ")
        .to_string();
    header(&mut out, "Thread-Topic", &encode_word(&topic, m.charset));
    match m.importance.as_str() {
        "high" => header(&mut out, "Importance", "high"),
        "low" => header(&mut out, "Importance", "low"),
        _ => {}
    }
    header(
        &mut out,
        "X-MS-Has-Attach",
        if m.has_attachments() { "yes" } else { "" },
    );
    header(&mut out, "MIME-Version", "1.0");

    let inline: Vec<&AttSpec> = m.attachments.iter().filter(|a| a.is_inline()).collect();
    let attached: Vec<&AttSpec> = m
        .attachments
        .iter()
        .filter(|a| !a.is_inline() && !matches!(a.kind, AttKind::Reference { .. }))
        .collect();
    let seed = boundary_seed(m);
    let body = body_part(m, &inline, seed);
    if attached.is_empty() {
        out.extend_from_slice(&body);
    } else {
        let b = format!("_004_{seed:016x}_");
        header(
            &mut out,
            "Content-Type",
            &format!("multipart/mixed;\r\n\tboundary=\"{b}\""),
        );
        out.extend_from_slice(b"\r\n");
        part_start(&mut out, &b);
        out.extend_from_slice(&body);
        for a in attached {
            part_start(&mut out, &b);
            attachment_part(&mut out, a, m.charset);
        }
        part_end(&mut out, &b);
    }
    out
}

fn boundary_seed(m: &MessageSpec) -> u64 {
    m.message_id.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// The text/HTML (+ inline images) part, including its own Content-Type header.
fn body_part(m: &MessageSpec, inline: &[&AttSpec], seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let charset = effective_charset(m);
    let text_part = |out: &mut Vec<u8>| {
        header(
            out,
            "Content-Type",
            &format!("text/plain; charset=\"{}\"", charset.mime_name()),
        );
        header(out, "Content-Transfer-Encoding", "quoted-printable");
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&quoted_printable(
            &charset
                .encode(&m.text)
                .unwrap_or_else(|| m.text.as_bytes().to_vec()),
        ));
        out.extend_from_slice(b"\r\n");
    };
    let Some(html) = &m.html else {
        text_part(&mut out);
        return out;
    };
    let html_part = |out: &mut Vec<u8>| {
        header(
            out,
            "Content-Type",
            &format!("text/html; charset=\"{}\"", charset.mime_name()),
        );
        header(out, "Content-Transfer-Encoding", "quoted-printable");
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&quoted_printable(
            &charset
                .encode(html)
                .unwrap_or_else(|| html.as_bytes().to_vec()),
        ));
        out.extend_from_slice(b"\r\n");
    };
    let alt = format!("_000_{seed:016x}_");
    header(
        &mut out,
        "Content-Type",
        &format!("multipart/alternative;\r\n\tboundary=\"{alt}\""),
    );
    out.extend_from_slice(b"\r\n");
    part_start(&mut out, &alt);
    text_part(&mut out);
    part_start(&mut out, &alt);
    if inline.is_empty() {
        html_part(&mut out);
    } else {
        let rel = format!("_005_{seed:016x}_");
        header(
            &mut out,
            "Content-Type",
            &format!("multipart/related;\r\n\tboundary=\"{rel}\";\r\n\ttype=\"text/html\""),
        );
        out.extend_from_slice(b"\r\n");
        part_start(&mut out, &rel);
        html_part(&mut out);
        for a in inline {
            part_start(&mut out, &rel);
            attachment_part(&mut out, a, m.charset);
        }
        part_end(&mut out, &rel);
    }
    part_end(&mut out, &alt);
    out
}

/// The charset actually used: falls back to UTF-8 when the text doesn't fit the declared one.
pub fn effective_charset(m: &MessageSpec) -> Charset {
    let fits = |s: &str| m.charset.encode(s).is_some();
    if fits(&m.text) && m.html.as_deref().is_none_or(fits) {
        m.charset
    } else {
        Charset::Utf8
    }
}

fn attachment_part(out: &mut Vec<u8>, a: &AttSpec, charset: Charset) {
    match &a.kind {
        AttKind::Item(inner) => {
            header(out, "Content-Type", "message/rfc822");
            header(
                out,
                "Content-Disposition",
                &format!("attachment;\r\n\t{}", filename_param("filename", &a.name)),
            );
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&render(inner));
            out.extend_from_slice(b"\r\n");
        }
        _ => {
            let name = encode_word(&a.name, charset);
            header(
                out,
                "Content-Type",
                &format!("{}; name=\"{}\"", a.content_type, name),
            );
            header(out, "Content-Description", &name);
            let disp = if a.is_inline() {
                "inline"
            } else {
                "attachment"
            };
            header(
                out,
                "Content-Disposition",
                &format!(
                    "{disp};\r\n\t{}; size={};\r\n\tmodification-date=\"{}\"",
                    filename_param("filename", &a.name),
                    a.data.len(),
                    a.modified.to_rfc2822()
                ),
            );
            if let Some(cid) = &a.content_id {
                header(out, "Content-ID", &format!("<{cid}>"));
            }
            header(out, "Content-Transfer-Encoding", "base64");
            out.extend_from_slice(b"\r\n");
            base64_lines(out, &a.data);
        }
    }
}

fn part_start(out: &mut Vec<u8>, b: &str) {
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(b.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn part_end(out: &mut Vec<u8>, b: &str) {
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(b.as_bytes());
    out.extend_from_slice(b"--\r\n");
}

fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `filename="x"` for ASCII, RFC 2231 `filename*=utf-8''...` otherwise.
fn filename_param(param: &str, name: &str) -> String {
    if name.is_ascii() && !name.contains('"') {
        format!("{param}=\"{name}\"")
    } else {
        let enc = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        format!("{param}*=utf-8''{enc}")
    }
}

/// An RFC 2047 encoded word when `s` is not plain ASCII (B for UTF-8, Q for 8-bit charsets).
pub fn encode_word(s: &str, charset: Charset) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    match charset.encode(s) {
        Some(bytes) if charset != Charset::Utf8 => {
            let mut q = String::new();
            for b in bytes {
                match b {
                    b' ' => q.push('_'),
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b',' | b'-' => {
                        q.push(b as char)
                    }
                    _ => q.push_str(&format!("={b:02X}")),
                }
            }
            format!("=?{}?Q?{q}?=", charset.mime_name())
        }
        _ => {
            // Split into words of at most 45 input bytes on char boundaries (75-char limit).
            let mut words = Vec::new();
            let mut cur = String::new();
            for c in s.chars() {
                if cur.len() + c.len_utf8() > 45 {
                    words.push(format!("=?utf-8?B?{}?=", STANDARD.encode(cur.as_bytes())));
                    cur.clear();
                }
                cur.push(c);
            }
            if !cur.is_empty() {
                words.push(format!("=?utf-8?B?{}?=", STANDARD.encode(cur.as_bytes())));
            }
            words.join("\r\n ")
        }
    }
}

fn addr_list(list: &[Addr], charset: Charset) -> String {
    list.iter()
        .map(|a| {
            if a.name.is_empty() {
                format!("<{}>", a.address)
            } else if a.name.is_ascii() {
                let needs_quote = a.name.chars().any(|c| "()<>[]:;@\\,.\"".contains(c));
                if needs_quote {
                    format!(
                        "\"{}\" <{}>",
                        a.name.replace('\\', "\\\\").replace('"', "\\\""),
                        a.address
                    )
                } else {
                    format!("{} <{}>", a.name, a.address)
                }
            } else {
                format!("{} <{}>", encode_word(&a.name, charset), a.address)
            }
        })
        .collect::<Vec<_>>()
        .join(",\r\n\t")
}

/// Quoted-printable (RFC 2045) with CRLF hard breaks and soft breaks before 76 columns.
pub fn quoted_printable(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 8);
    let mut col = 0;
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == b'\r' && data.get(i + 1) == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            col = 0;
            i += 2;
            continue;
        }
        if b == b'\n' {
            out.extend_from_slice(b"\r\n");
            col = 0;
            i += 1;
            continue;
        }
        let at_line_end = matches!(data.get(i + 1), None | Some(b'\r') | Some(b'\n'));
        let literal =
            (b == b' ' || b == b'\t') && !at_line_end || (33..=126).contains(&b) && b != b'=';
        let width = if literal { 1 } else { 3 };
        if col + width > 75 {
            out.extend_from_slice(b"=\r\n");
            col = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(format!("={b:02X}").as_bytes());
        }
        col += width;
        i += 1;
    }
    out
}

/// Base64 in 76-column lines, encoded straight into `out` (one pass, no intermediate string).
pub fn base64_lines(out: &mut Vec<u8>, data: &[u8]) {
    use base64::Engine as _;
    let lines = data.len().div_ceil(57);
    out.reserve(lines * 78);
    for chunk in data.chunks(57) {
        let start = out.len();
        out.resize(start + 76, 0);
        let n = STANDARD
            .encode_slice(chunk, &mut out[start..])
            .expect("76 bytes hold 57 encoded");
        out.truncate(start + n);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qp_round_trips_through_a_decoder_shape() {
        let s = "Grüße aus München = schön ".repeat(5);
        let enc = quoted_printable(&Charset::Latin1.encode(&s).expect("latin1"));
        let enc = String::from_utf8(enc).expect("ascii");
        assert!(enc.lines().all(|l| l.len() <= 76), "{enc}");
        assert!(enc.contains("=FC"), "ü encoded as =FC");
        assert!(!enc.trim_end_matches("=\r\n").ends_with(' '));
    }

    #[test]
    fn base64_lines_match_the_plain_encoding() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 256) as u8).collect();
        let mut out = Vec::new();
        base64_lines(&mut out, &data);
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.lines().all(|l| l.len() <= 76));
        assert_eq!(text.replace("\r\n", ""), STANDARD.encode(&data));
    }

    #[test]
    fn encoded_words() {
        assert_eq!(encode_word("hello", Charset::Utf8), "hello");
        assert!(encode_word("Café", Charset::Latin1).starts_with("=?iso-8859-1?Q?Caf=E9"));
        assert!(encode_word("日本語", Charset::Utf8).starts_with("=?utf-8?B?"));
    }
}
