//! Unit tests of the drive model (tags, conflicts, moves, deletes).
use super::*;
use crate::drive::content::Content;

fn who() -> Arc<Ident> {
    Arc::new(Ident {
        id: "u1".into(),
        display_name: "User One".into(),
        email: "u1@contoso.com".into(),
    })
}

fn drive() -> Drive {
    Drive::new(
        "b!x".into(),
        "OneDrive".into(),
        DriveType::Business,
        who(),
        0,
        Utc::now(),
        "https://x".into(),
        1,
    )
}

#[test]
fn ctag_changes_on_content_only_etag_on_any_change() {
    let mut d = drive();
    let by = who();
    let now = Utc::now();
    let (f, created) = d
        .put_file(
            Drive::ROOT,
            "a.txt",
            Content::stored("one"),
            Conflict::Fail,
            &by,
            now,
            None,
        )
        .unwrap();
    assert!(created);
    let (e0, c0) = (d.item(f).etag(), d.item(f).ctag());
    d.update(f, Some("b.txt"), None, None, None, &by, now)
        .unwrap();
    assert_ne!(d.item(f).etag(), e0);
    assert_eq!(d.item(f).ctag(), c0);
    let e1 = d.item(f).etag();
    d.replace_content(f, Content::stored("two"), &by, now, None)
        .unwrap();
    assert_ne!(d.item(f).etag(), e1);
    assert_ne!(d.item(f).ctag(), c0);
    let Kind::File {
        version, history, ..
    } = &d.item(f).kind
    else {
        panic!()
    };
    assert_eq!((*version, history.len()), (2, 1));
}

#[test]
fn conflict_behaviours() {
    let mut d = drive();
    let by = who();
    let now = Utc::now();
    d.put_file(
        Drive::ROOT,
        "r.docx",
        Content::stored("1"),
        Conflict::Fail,
        &by,
        now,
        None,
    )
    .unwrap();
    assert_eq!(
        d.put_file(
            Drive::ROOT,
            "R.DOCX",
            Content::stored("2"),
            Conflict::Fail,
            &by,
            now,
            None
        ),
        Err(DriveError::NameExists)
    );
    let (r, new) = d
        .put_file(
            Drive::ROOT,
            "r.docx",
            Content::stored("3"),
            Conflict::Rename,
            &by,
            now,
            None,
        )
        .unwrap();
    assert!(new);
    assert_eq!(d.item(r).name, "r 1.docx");
    let (same, new) = d
        .put_file(
            Drive::ROOT,
            "r.docx",
            Content::stored("4"),
            Conflict::Replace,
            &by,
            now,
            None,
        )
        .unwrap();
    assert!(!new);
    assert_eq!(d.item(same).content().unwrap().to_bytes(), "4");
    assert!(matches!(
        d.put_file(
            Drive::ROOT,
            "a:b",
            Content::stored(""),
            Conflict::Fail,
            &by,
            now,
            None
        ),
        Err(DriveError::InvalidName(_))
    ));
}

#[test]
fn delete_is_recursive_and_move_into_self_is_refused() {
    let mut d = drive();
    let by = who();
    let now = Utc::now();
    let a = d
        .create_folder(Drive::ROOT, "A", Conflict::Fail, &by, now)
        .unwrap();
    let b = d.create_folder(a, "B", Conflict::Fail, &by, now).unwrap();
    d.put_file(
        b,
        "f.txt",
        Content::stored("x"),
        Conflict::Fail,
        &by,
        now,
        None,
    )
    .unwrap();
    assert!(d.update(a, None, Some(b), None, None, &by, now).is_err());
    assert_eq!(
        d.resolve_path(Drive::ROOT, "A/B/f.txt")
            .map(|i| d.path_of(i)),
        Some("/A/B/f.txt".into())
    );
    assert_eq!(d.delete(a, now).unwrap(), 3);
    assert_eq!(d.live_count(), 0);
    assert!(d.find(&d.item(b).id.clone()).is_none());
    assert!(d.find_any(&d.item(b).id.clone()).is_some());
}
