//! Exchange export against the in-process emulator: EML byte identity (with the stored MIME and a
//! fresh `$value`), mboxrd round trip, ICS/VCF content, hostile folder names and subjects staying
//! inside the target, and the ZIP form.

#[path = "exchange_restore_common.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use common::*;
use serde_json::{Value, json};
use tenantvault_graph::GraphClient;
use tenantvault_repo::ItemRecord;
use tenantvault_workloads::exchange::export::{self, ExportOptions, mbox};

const HOSTILE_FOLDERS: &[&str] = &["../../escape", "CON", "trailing dots...", "back\\slash"];

fn hostile_subjects() -> Vec<String> {
    vec![
        "../../../etc/passwd".to_string(),
        "a/b\\c:d*e?f\"g<h>i|j".to_string(),
        "NUL".to_string(),
        "x".repeat(400),
        "ends with dot.".to_string(),
    ]
}

/// Folders and messages with hostile names, plus a message whose body has `From ` lines.
async fn seed_hostile(graph: &GraphClient, upn: &str) {
    let mb = graph.mailbox(upn);
    let mut folder_ids = Vec::new();
    for name in HOSTILE_FOLDERS {
        let f: Value = mb
            .post_json(
                &format!("users/{upn}/mailFolders"),
                &json!({"displayName": name}),
            )
            .await
            .expect("create hostile folder");
        folder_ids.push(f["id"].as_str().unwrap().to_string());
    }
    let child: Value = mb
        .post_json(
            &format!(
                "users/{upn}/mailFolders/{}/childFolders",
                enc(&folder_ids[0])
            ),
            &json!({"displayName": "y".repeat(255)}),
        )
        .await
        .expect("create long child folder");
    folder_ids.push(child["id"].as_str().unwrap().to_string());
    for (i, subject) in hostile_subjects().into_iter().enumerate() {
        let folder = &folder_ids[i % folder_ids.len()];
        let body = json!({
            "subject": subject,
            "body": {"contentType": "text", "content": format!("Hello.\nFrom now on we meet on Mondays.\n>From the minutes.\nMessage {i}.")},
            "from": {"emailAddress": {"name": "Mallory", "address": "mallory@example.org"}},
            "toRecipients": [{"emailAddress": {"address": upn}}],
            "singleValueExtendedProperties": [{"id": "Integer 0x0E07", "value": "1"}]
        });
        let _: Value = mb
            .post_json(
                &format!("users/{upn}/mailFolders/{}/messages", enc(folder)),
                &body,
            )
            .await
            .expect("create hostile message");
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        assert!(!t.is_symlink());
        if t.is_dir() {
            walk(&e.path(), out);
        } else {
            out.push(e.path());
        }
    }
}

fn assert_safe_relative(rel: &Path) {
    for c in rel.components() {
        let Component::Normal(s) = c else {
            panic!("unsafe component in {}", rel.display())
        };
        let s = s.to_str().unwrap();
        assert!(!s.is_empty() && s.len() <= 120, "{s:?}");
        assert!(
            !s.contains(['\\', ':', '*', '?', '"', '<', '>', '|', '\0']),
            "{s:?}"
        );
        assert!(!s.ends_with('.') && !s.ends_with(' '), "{s:?}");
        let stem = s.split('.').next().unwrap().to_ascii_uppercase();
        assert!(
            !["CON", "PRN", "AUX", "NUL"].contains(&stem.as_str()),
            "{s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eml_mbox_ics_vcf_and_hostile_names() {
    let emu = tenantvault_emulator::Emulator::start(tenant(21, 2, 12))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let upn0 = emu
        .state()
        .directory
        .read()
        .live_users()
        .next()
        .map(|u| u.upn.clone())
        .unwrap();
    seed_hostile(&graph, &upn0).await;
    let snaps = backup_all(&repo, &graph).await;
    let (upn, snap) = snaps.iter().find(|(u, _)| *u == upn0).unwrap();
    let all = items(snap).await;
    let msgs: Vec<&ItemRecord> = all.iter().filter(|r| r.kind == "message").collect();
    let n_events = all.iter().filter(|r| r.kind == "event").count();
    let n_contacts = all.iter().filter(|r| r.kind == "contact").count();
    assert!(n_events > 0 && n_contacts > 0);

    let out = dir.path().join("export");
    let report = export::export(&repo, snap, &out, &ExportOptions::default())
        .await
        .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.messages as usize, msgs.len());
    assert_eq!(report.eml_files as usize, msgs.len());
    assert_eq!(report.contacts as usize, n_contacts);
    assert_eq!(report.events as usize, n_events);

    // Everything stays inside the target, with safe names only.
    let mut files = Vec::new();
    walk(&out, &mut files);
    let canon_out = out.canonicalize().unwrap();
    for f in &files {
        assert!(f.canonicalize().unwrap().starts_with(&canon_out));
        assert_safe_relative(f.strip_prefix(&out).unwrap());
    }
    assert!(!dir.path().join("escape").exists() && !dir.path().join("etc").exists());
    let renamed: BTreeSet<&str> = report.renamed.iter().map(|r| r.original.as_str()).collect();
    for name in HOSTILE_FOLDERS {
        assert!(
            renamed.contains(name),
            "{name} not reported as renamed: {renamed:?}"
        );
    }
    assert!(renamed.contains("../../../etc/passwd"));
    assert!(renamed.contains(&"x".repeat(400).as_str()));

    // EML: byte-identical to the stored MIME and to a fresh $value.
    let mut stored: BTreeMap<Vec<u8>, &ItemRecord> = BTreeMap::new();
    for r in &msgs {
        stored.insert(content_of(&repo, r).await, r);
    }
    let emls: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert_eq!(emls.len(), msgs.len());
    let mut seen = BTreeSet::new();
    for p in &emls {
        let bytes = std::fs::read(p).unwrap();
        let rec = stored
            .get(&bytes)
            .unwrap_or_else(|| panic!("{} differs from every stored MIME", p.display()));
        seen.insert(rec.id.clone());
    }
    assert_eq!(seen.len(), msgs.len());
    for r in msgs.iter().take(4) {
        let fresh = graph
            .mailbox(upn)
            .get_bytes(&format!(
                "users/{upn}/messages/{}/$value",
                enc(r.id.strip_prefix("msg:").unwrap())
            ))
            .await
            .unwrap();
        let eml = emls
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .find(|b| stored[b].id == r.id)
            .unwrap();
        assert_eq!(eml, fresh.to_vec(), "EML of {} differs from $value", r.id);
    }

    // mbox: every folder file parses back (mboxrd) to exactly its messages.
    let mut by_folder: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    for (bytes, r) in &stored {
        by_folder
            .entry(r.path.as_str())
            .or_default()
            .push(bytes.clone());
    }
    assert_eq!(report.mbox_files.len(), by_folder.len());
    let mut from_lines_seen = false;
    for f in &report.mbox_files {
        let data = std::fs::read(out.join(f)).unwrap();
        let back = mbox::read(&data);
        for m in &back {
            let original = if stored.contains_key(m) {
                m.clone()
            } else {
                m[..m.len() - 1].to_vec()
            };
            let rec = stored
                .get(&original)
                .unwrap_or_else(|| panic!("message in {f} is not a stored MIME"));
            assert!(by_folder[rec.path.as_str()].contains(&original));
            let parsed = mail_parser::MessageParser::default()
                .parse(&original[..])
                .unwrap();
            if parsed
                .body_text(0)
                .is_some_and(|t| t.contains("\nFrom now on"))
            {
                from_lines_seen = true;
                assert!(data.windows(14).any(|w| w == b"\n>From now on "));
            }
        }
        let folder = stored
            .get(&back[0])
            .or_else(|| stored.get(&back[0][..back[0].len() - 1]))
            .unwrap()
            .path
            .as_str();
        assert_eq!(back.len(), by_folder[folder].len(), "{f}");
    }
    assert!(
        from_lines_seen,
        "a body line starting with 'From ' was exported"
    );

    // ICS and VCF.
    let mb_dir = export::names::sanitize_component(upn);
    let ics = std::fs::read_to_string(out.join(&mb_dir).join("calendar.ics")).unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"));
    let unfolded = ics.replace("\r\n ", "");
    for r in all.iter().filter(|r| r.kind == "event") {
        let v = json_of(&repo, r).await;
        let subject = v["subject"].as_str().unwrap();
        let escaped = subject
            .replace('\\', "\\\\")
            .replace(';', "\\;")
            .replace(',', "\\,");
        assert!(
            unfolded.contains(&format!("SUMMARY:{escaped}")),
            "{subject}"
        );
    }
    let vcf = std::fs::read_to_string(out.join(&mb_dir).join("contacts.vcf")).unwrap();
    assert_eq!(vcf.matches("BEGIN:VCARD").count(), n_contacts);
    let vunf = vcf.replace("\r\n ", "");
    for r in all.iter().filter(|r| r.kind == "contact") {
        let v = json_of(&repo, r).await;
        if let Some(addr) = v["emailAddresses"][0]["address"].as_str() {
            assert!(
                vunf.contains(&format!("EMAIL;TYPE=INTERNET:{addr}")),
                "{addr}"
            );
        }
    }

    // The same export as one ZIP: same entries, same bytes.
    let zip_path = dir.path().join("export.zip");
    let zreport = export::export(
        &repo,
        snap,
        &zip_path,
        &ExportOptions {
            zip: true,
            ..ExportOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(zreport.messages, report.messages);
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    assert_eq!(archive.len(), files.len());
    for i in 0..archive.len() {
        let mut e = archive.by_index(i).unwrap();
        let name = e.name().to_string();
        assert_safe_relative(Path::new(&name));
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut buf).unwrap();
        assert_eq!(buf, std::fs::read(out.join(&name)).unwrap(), "{name}");
    }
    assert!(!std::fs::read_dir(dir.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tenantvault-export")
    }));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_refuses_symlinked_directories() {
    let emu = tenantvault_emulator::Emulator::start(tenant(22, 2, 3))
        .await
        .unwrap();
    let graph = graph(&emu);
    let dir = tempfile::tempdir().unwrap();
    let repo = new_repo(dir.path()).await;
    let snaps = backup_all(&repo, &graph).await;
    let (upn, snap) = &snaps[0];
    let out = dir.path().join("out");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let mb_dir = export::names::sanitize_component(upn);
    std::os::unix::fs::symlink(&elsewhere, out.join(&mb_dir)).unwrap();
    let err = export::export(&repo, snap, &out, &ExportOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("symlink"), "{err}");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    emu.shutdown().await;
}
