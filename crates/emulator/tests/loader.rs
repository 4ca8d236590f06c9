//! `--from-dir`: a tenant built from a person's own .eml / mbox / .ics / .vcf files.

mod common;
use common::*;
use tenantvault_emulator::{Emulator, EmulatorConfig, EmulatorError};

fn eml(subject: &str, id: &str) -> String {
    format!(
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\nDate: Tue, 2 Jun 2026 10:00:00 +0000\r\nMessage-ID: <{id}@example.com>\r\n\r\nHello {subject}\r\n"
    )
}

#[tokio::test]
async fn loads_mailboxes_calendars_and_contacts_from_a_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("alice");
    std::fs::create_dir_all(a.join("mail/Inbox")).expect("mkdir");
    std::fs::create_dir_all(a.join("mail/Projects/Falcon")).expect("mkdir");
    std::fs::create_dir_all(a.join("calendar")).expect("mkdir");
    std::fs::create_dir_all(a.join("contacts")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("bob").join("mail")).expect("mkdir");
    std::fs::write(a.join("mail/Inbox/1.eml"), eml("first", "m1")).expect("write");
    std::fs::write(a.join("mail/Projects/Falcon/2.eml"), eml("nested", "m2")).expect("write");
    let mbox = format!(
        "From bob@example.com Tue Jun  2 10:00:00 2026\n{}\nFrom bob@example.com Tue Jun  2 11:00:00 2026\n{}",
        eml("archived one", "m3"),
        eml("archived two", "m4")
    );
    std::fs::write(a.join("mail/Archive.mbox"), mbox).expect("write");
    std::fs::write(a.join("calendar/work.ics"), "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:u1\r\nSUMMARY:Planning\r\nDTSTART:20260610T090000Z\r\nDTEND:20260610T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").expect("write");
    std::fs::write(a.join("contacts/people.vcf"), "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nFN:Jane Doe\r\nEMAIL:jane@example.com\r\nEND:VCARD\r\n").expect("write");

    let emu = Emulator::start(EmulatorConfig {
        seed: 5,
        from_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await
    .expect("start");
    let g = G::new(&emu).await;
    let users = g.json("/users?$select=id,userPrincipalName").await;
    let upns: Vec<&str> = users["value"]
        .as_array()
        .expect("v")
        .iter()
        .map(|u| u["userPrincipalName"].as_str().expect("upn"))
        .collect();
    assert_eq!(
        upns,
        vec![
            format!("alice@{}", emu.domain()),
            format!("bob@{}", emu.domain())
        ]
    );
    let alice = users["value"][0]["id"].as_str().expect("id");
    let inbox = g
        .json(&format!("/users/{alice}/mailFolders/inbox/messages"))
        .await;
    assert_eq!(inbox["value"].as_array().expect("v").len(), 1);
    let id = inbox["value"][0]["id"].as_str().expect("id");
    assert_eq!(inbox["value"][0]["isDraft"], false);
    let raw = g
        .get(&format!("/users/{alice}/messages/{id}/$value"))
        .await
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(
        &raw[..],
        eml("first", "m1").as_bytes(),
        "MIME served byte for byte"
    );
    let archive = g.json(&format!("/users/{alice}/mailFolders/archive")).await;
    assert_eq!(archive["totalItemCount"], 2);
    let (folders, _) = g
        .delta_round(&format!("/users/{alice}/mailFolders/delta"), 50)
        .await;
    let projects = folders
        .iter()
        .find(|f| f["displayName"] == "Projects")
        .expect("Projects folder");
    let falcon = folders
        .iter()
        .find(|f| f["displayName"] == "Falcon")
        .expect("Falcon folder");
    assert_eq!(falcon["parentFolderId"], projects["id"]);
    assert_eq!(falcon["totalItemCount"], 1);
    let (events, _) = g.delta_round(&format!("/users/{alice}/calendarView/delta?startDateTime=2026-06-01T00:00:00Z&endDateTime=2026-07-01T00:00:00Z"), 10).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["subject"], "Planning");
    let contacts = g.json(&format!("/users/{alice}/contacts")).await;
    assert_eq!(contacts["value"][0]["displayName"], "Jane Doe");
}

#[tokio::test]
async fn unparseable_files_fail_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("carol/mail/Inbox")).expect("mkdir");
    std::fs::write(
        dir.path().join("carol/mail/Inbox/bad.eml"),
        b"\x00\x01 not mail",
    )
    .expect("write");
    let r = Emulator::start(EmulatorConfig {
        from_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    })
    .await;
    match r {
        Err(EmulatorError::Load { detail, .. }) => assert!(detail.contains("bad.eml"), "{detail}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a broken .eml must not load"),
    }
}
