//! Build a tenant from a directory a person provides:
//! `DIR/<user>/mail/<folder path>/*.eml` (and mbox files), `DIR/<user>/calendar/*.ics`,
//! `DIR/<user>/contacts/*.vcf`. Each `<user>` directory becomes a licensed user (`<user>` is
//! the UPN if it contains `@`, else its local part in the tenant's domain).

use super::MailStore;
use super::generate::Person;
use super::pim::{CREATED_BIT, StoredEvent};
use super::store::{Folder, Mailbox, ROOT, well_known_index};
use crate::config::{EmulatorConfig, GeneratorConfig};
use crate::model::tenant::{Directory, UserKind};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::json;
use std::path::Path;

/// Load the tenant; errors name the offending file.
pub fn load(dir: &Path, config: &EmulatorConfig) -> Result<(Directory, MailStore), String> {
    if !dir.is_dir() {
        return Err("not a directory".into());
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err("no user directories found".into());
    }
    let mut directory = Directory::generate(config.seed, names.len(), config.generator.groups);
    let domain = directory.domain.clone();
    for (u, name) in directory.users.iter_mut().zip(&names) {
        let upn = if name.contains('@') {
            name.clone()
        } else {
            format!("{name}@{domain}")
        };
        let local = upn.split('@').next().unwrap_or(name).to_string();
        let display: String = local
            .split(['.', '_', '-'])
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ");
        u.upn = upn.clone();
        u.mail = Some(upn);
        u.display_name = display;
        u.kind = UserKind::Licensed;
        u.has_mailbox = true;
    }
    let knobs = GeneratorConfig {
        messages_per_mailbox: 0,
        user_folders: 0,
        events_per_mailbox: 0,
        contacts_per_mailbox: 0,
        ..config.generator.clone()
    };
    let store = MailStore::new(config.seed, knobs, &directory);
    let now = Utc::now();
    for (idx, name) in names.iter().enumerate() {
        let mut mb = store.build(idx as u32);
        let base = dir.join(name);
        let mail = base.join("mail");
        if mail.is_dir() {
            load_mail(&mut mb, &mail, now)?;
        }
        let cal = base.join("calendar");
        if cal.is_dir() {
            let owner = store.owners[idx].person.clone();
            for f in files_with(&cal, &["ics"])? {
                let text =
                    std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
                for e in
                    parse_ics(&text, &owner, now).map_err(|e| format!("{}: {e}", f.display()))?
                {
                    mb.pim.created_events.push(e);
                    let n = CREATED_BIT | (mb.pim.created_events.len() as u32 - 1);
                    let seq = mb.bump();
                    mb.pim.event_log.push((seq, n));
                }
            }
        }
        let contacts = base.join("contacts");
        if contacts.is_dir() {
            for f in files_with(&contacts, &["vcf"])? {
                let text =
                    std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
                for mut c in parse_vcf(&text) {
                    c["createdDateTime"] = json!(crate::clock::iso(now));
                    mb.pim.created_contacts.push(c);
                    let n = CREATED_BIT | (mb.pim.created_contacts.len() as u32 - 1);
                    let seq = mb.bump();
                    mb.pim.contact_log.push((seq, n));
                }
            }
        }
        store.preloaded.lock().insert(idx as u32, mb);
    }
    Ok((directory, store))
}

fn files_with(dir: &Path, exts: &[&str]) -> Result<Vec<std::path::PathBuf>, String> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| exts.iter().any(|e| x.eq_ignore_ascii_case(e)))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Folder index for a path of display names below the mailbox root (created as needed).
fn folder_for(mb: &mut Mailbox, parts: &[String]) -> u32 {
    let mut parent = ROOT;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let wk = p.to_ascii_lowercase().replace(' ', "");
            if let Some(w) = well_known_index(&wk).filter(|w| *w != ROOT) {
                parent = w;
                continue;
            }
            if let Some(pos) = mb
                .folders
                .iter()
                .position(|f| f.well_known.is_some() && f.name.eq_ignore_ascii_case(p))
            {
                parent = pos as u32;
                continue;
            }
        }
        let existing = mb
            .folders
            .iter()
            .position(|f| f.parent == Some(parent) && !f.deleted && f.name.eq_ignore_ascii_case(p));
        parent = match existing {
            Some(x) => x as u32,
            None => {
                mb.folders.push(Folder {
                    name: p.clone(),
                    parent: Some(parent),
                    well_known: None,
                    hidden: false,
                    generated: 0,
                    role: super::generate::FolderRole::Incoming,
                    deleted: false,
                    extras: vec![],
                    log: vec![],
                    version: 0,
                });
                let idx = mb.folders.len() as u32 - 1;
                mb.log_folder(idx);
                idx
            }
        };
    }
    parent
}

fn load_mail(mb: &mut Mailbox, root: &Path, now: DateTime<Utc>) -> Result<(), String> {
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let rel = path.strip_prefix(root).map_err(|e| e.to_string())?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let ext = path
            .extension()
            .and_then(|x| x.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let is_mbox = ext == "mbox" || name.eq_ignore_ascii_case("mbox");
        if ext != "eml" && !is_mbox {
            continue;
        }
        let mut parts: Vec<String> = rel
            .parent()
            .map(|p| {
                p.iter()
                    .filter_map(|c| c.to_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if is_mbox && ext == "mbox" {
            // `Projects.mbox` holds the folder `Projects` (below the directory it sits in).
            parts.push(
                path.file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("mbox")
                    .to_string(),
            );
        }
        if parts.is_empty() {
            parts.push("inbox".into());
        }
        let folder = folder_for(mb, &parts);
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let messages = if is_mbox {
            split_mbox(&bytes)
        } else {
            vec![bytes]
        };
        for raw in messages {
            let mut spec = super::parse::parse(&raw, now)
                .ok_or_else(|| format!("{}: not a parseable RFC 5322 message", path.display()))?;
            spec.is_draft = folder == super::store::DRAFTS;
            super::write::insert_created(mb, spec, Some(std::sync::Arc::from(raw)), folder, now);
        }
    }
    Ok(())
}

/// Split an mbox (mboxrd/mboxo) into messages; `>From ` lines are unescaped.
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(m) = cur.take() {
                out.push(trim_trailing_blank(m));
            }
            cur = Some(Vec::new());
            continue;
        }
        let Some(m) = cur.as_mut() else { continue };
        let unescaped = if line.starts_with(b">")
            && line
                .iter()
                .skip_while(|b| **b == b'>')
                .take(5)
                .eq(b"From ".iter())
        {
            &line[1..]
        } else {
            line
        };
        m.extend_from_slice(unescaped);
    }
    if let Some(m) = cur {
        out.push(trim_trailing_blank(m));
    }
    out.into_iter().filter(|m| !m.is_empty()).collect()
}

fn trim_trailing_blank(mut m: Vec<u8>) -> Vec<u8> {
    while m.ends_with(b"\n\n") || m.ends_with(b"\r\n\r\n") {
        m.pop();
        if m.ends_with(b"\r") {
            m.pop();
        }
    }
    m
}

/// Unfold RFC 5545/6350 content lines.
fn unfold(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        if (line.starts_with(' ') || line.starts_with('\t')) && !out.is_empty() {
            if let Some(last) = out.last_mut() {
                last.push_str(&line[1..]);
            }
        } else {
            out.push(line.to_string());
        }
    }
    out
}

fn split_prop(line: &str) -> Option<(String, String)> {
    let (k, v) = line.split_once(':')?;
    let name = k.split(';').next().unwrap_or(k).to_ascii_uppercase();
    Some((
        name,
        v.replace("\\n", "\n")
            .replace("\\,", ",")
            .replace("\\;", ";"),
    ))
}

fn ics_time(v: &str) -> Option<(DateTime<Utc>, bool)> {
    let v = v.trim();
    if v.len() == 8 {
        let d = NaiveDate::parse_from_str(v, "%Y%m%d").ok()?;
        return Some((d.and_hms_opt(0, 0, 0)?.and_utc(), true));
    }
    let t = NaiveDateTime::parse_from_str(v.trim_end_matches('Z'), "%Y%m%dT%H%M%S").ok()?;
    Some((t.and_utc(), false))
}

/// Parse VEVENTs (SUMMARY, DTSTART, DTEND, LOCATION, DESCRIPTION, RRULE FREQ=WEEKLY;COUNT=n).
pub fn parse_ics(
    text: &str,
    owner: &Person,
    now: DateTime<Utc>,
) -> Result<Vec<StoredEvent>, String> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<(String, String)>> = None;
    for line in unfold(text) {
        let l = line.trim_end();
        if l.eq_ignore_ascii_case("BEGIN:VEVENT") {
            cur = Some(Vec::new());
        } else if l.eq_ignore_ascii_case("END:VEVENT") {
            let props = cur.take().ok_or("END:VEVENT without BEGIN")?;
            let get = |k: &str| props.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let Some((start, all_day)) = get("DTSTART").as_deref().and_then(ics_time) else {
                continue;
            };
            let end = get("DTEND")
                .as_deref()
                .and_then(ics_time)
                .map(|x| x.0)
                .unwrap_or(start + chrono::Duration::hours(if all_day { 24 } else { 1 }));
            let weekly = get("RRULE")
                .filter(|r| r.to_ascii_uppercase().contains("FREQ=WEEKLY"))
                .map(|r| {
                    r.split(';')
                        .find_map(|p| p.strip_prefix("COUNT=").and_then(|c| c.parse().ok()))
                        .unwrap_or(10u32)
                })
                .unwrap_or(0);
            out.push(StoredEvent {
                subject: get("SUMMARY").unwrap_or_default(),
                body: get("DESCRIPTION")
                    .map(|d| {
                        format!(
                            "<html><body><p>{}</p></body></html>",
                            super::generate::html_escape(&d)
                        )
                    })
                    .unwrap_or_default(),
                start,
                end,
                all_day,
                location: get("LOCATION").unwrap_or_default(),
                organizer: owner.clone(),
                attendees: vec![],
                weekly_occurrences: weekly,
                exceptions: vec![],
                cancelled: vec![],
                attachments: vec![],
                categories: get("CATEGORIES")
                    .map(|c| c.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
                created: now,
                ical_uid: get("UID").unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                version: 0,
            });
        } else if let Some(p) = cur.as_mut()
            && let Some(kv) = split_prop(l)
        {
            p.push(kv);
        }
    }
    Ok(out)
}

/// Parse vCards into Graph contact JSON (FN, N, EMAIL, TEL, ORG, TITLE, NOTE).
pub fn parse_vcf(text: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<(String, String, String)>> = None;
    for line in unfold(text) {
        let l = line.trim_end();
        if l.eq_ignore_ascii_case("BEGIN:VCARD") {
            cur = Some(Vec::new());
        } else if l.eq_ignore_ascii_case("END:VCARD") {
            let Some(props) = cur.take() else { continue };
            let get = |k: &str| {
                props
                    .iter()
                    .find(|(n, _, _)| n == k)
                    .map(|(_, _, v)| v.clone())
            };
            let n = get("N").unwrap_or_default();
            let mut np = n.split(';');
            let surname = np.next().unwrap_or("").to_string();
            let given = np.next().unwrap_or("").to_string();
            let display =
                get("FN").unwrap_or_else(|| format!("{given} {surname}").trim().to_string());
            let emails: Vec<_> = props
                .iter()
                .filter(|(k, _, _)| k == "EMAIL")
                .map(|(_, _, v)| json!({"name": display, "address": v}))
                .collect();
            let phones: Vec<String> = props
                .iter()
                .filter(|(k, _, _)| k == "TEL")
                .map(|(_, _, v)| v.clone())
                .collect();
            out.push(json!({
                "displayName": display,
                "givenName": given,
                "surname": surname,
                "emailAddresses": emails,
                "businessPhones": phones,
                "companyName": get("ORG").map(|o| o.split(';').next().unwrap_or("").to_string()),
                "jobTitle": get("TITLE"),
                "personalNotes": get("NOTE").unwrap_or_default(),
            }));
        } else if let Some(p) = cur.as_mut()
            && let Some((k, v)) = l.split_once(':')
        {
            let name = k.split(';').next().unwrap_or(k);
            let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
            p.push((
                name,
                k.to_string(),
                v.replace("\\,", ",").replace("\\n", "\n"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_and_unescapes() {
        let m = b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nhi\n>From the start\n\nFrom c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nyo\n";
        let parts = split_mbox(m);
        assert_eq!(parts.len(), 2);
        assert!(String::from_utf8_lossy(&parts[0]).contains("\nFrom the start"));
        assert!(String::from_utf8_lossy(&parts[1]).starts_with("Subject: two"));
    }

    #[test]
    fn ics_and_vcf() {
        let owner = Person {
            name: "O".into(),
            address: "o@x".into(),
        };
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Stand-up\r\nDTSTART:20260601T090000Z\r\nDTEND:20260601T091500Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let ev = parse_ics(ics, &owner, Utc::now()).expect("ics");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].weekly_occurrences, 4);
        assert_eq!(ev[0].subject, "Stand-up");
        let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nEMAIL;TYPE=work:jane@example.com\r\nTEL:+1 555\r\nEND:VCARD\r\n";
        let c = parse_vcf(vcf);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["emailAddresses"][0]["address"], "jane@example.com");
        assert_eq!(c[0]["givenName"], "Jane");
    }
}
