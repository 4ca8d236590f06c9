//! mboxrd: messages joined by `From ` separator lines; any body line matching `>*From ` gets one
//! more `>` on write and loses one on read, so the round trip is exact.

use chrono::{DateTime, Utc};

/// Append one message to `out` in mboxrd form. `sender` is the envelope sender (spaces removed),
/// `date` the delivery time for the separator line.
pub fn append(out: &mut Vec<u8>, sender: &str, date: DateTime<Utc>, message: &[u8]) {
    let sender: String = sender.chars().filter(|c| !c.is_whitespace()).collect();
    let sender = if sender.is_empty() {
        "MAILER-DAEMON".to_string()
    } else {
        sender
    };
    out.extend_from_slice(
        format!("From {sender} {}\n", date.format("%a %b %e %H:%M:%S %Y")).as_bytes(),
    );
    for line in message.split_inclusive(|b| *b == b'\n') {
        let quoted = line
            .iter()
            .position(|b| *b != b'>')
            .is_some_and(|i| line[i..].starts_with(b"From "));
        if quoted {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    if !message.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Split an mboxrd file back into messages (each as written, plus a final `\n` if it lacked one).
pub fn read(mbox: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for line in mbox.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                out.push(finish(m));
            }
            cur = Some(Vec::new());
            continue;
        }
        let Some(m) = cur.as_mut() else { continue };
        let gt = line.iter().take_while(|b| **b == b'>').count();
        if gt > 0 && line[gt..].starts_with(b"From ") {
            m.extend_from_slice(&line[1..]);
        } else {
            m.extend_from_slice(line);
        }
    }
    if let Some(m) = cur {
        out.push(finish(m));
    }
    out
}

fn finish(mut m: Vec<u8>) -> Vec<u8> {
    // Drop the blank separator line written after each message.
    if m.ends_with(b"\n") {
        m.pop();
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_from_lines() {
        let t: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        let a =
            b"Subject: a\r\n\r\nFrom here on\r\n>From quoted\r\n>>From twice\r\nend\r\n".to_vec();
        let b = b"Subject: b\n\nno newline at end".to_vec();
        let mut mbox = Vec::new();
        append(&mut mbox, "ann@x.org", t, &a);
        append(&mut mbox, "", t, &b);
        let text = String::from_utf8_lossy(&mbox);
        assert!(text.starts_with("From ann@x.org Wed May  1 10:00:00 2024\n"));
        assert!(text.contains("\n>From here on\r\n>>From quoted\r\n>>>From twice"));
        assert!(text.contains("From MAILER-DAEMON "));
        let back = read(&mbox);
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], a);
        assert_eq!(back[1], [b.as_slice(), b"\n"].concat());
    }
}
