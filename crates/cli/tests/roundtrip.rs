//! End-to-end: init → backup → snapshots → ls → restore → dump on a generated tree, then an
//! unchanged second backup that must read no content and write no pack.

mod common;

use common::*;
use rand::SeedableRng;

#[test]
fn backup_restore_round_trip_is_byte_identical_and_unchanged_backup_reads_nothing() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    make_tree(&src, &mut rng, 3 * 1024 * 1024 + 123);
    env.init("256KiB");

    let first = env.json(&["backup", "dir", src.to_str().unwrap(), "--owner", "alice"]);
    let snap1 = first["snapshot"].as_str().expect("snapshot id").to_owned();
    assert!(
        first["bytes_read"].as_u64().unwrap() > 3 * 1024 * 1024,
        "first backup reads everything: {first}"
    );
    assert_eq!(
        first["failures"].as_array().map(Vec::len),
        Some(0),
        "{first}"
    );
    let packs_after_first = pack_files(&env.repo());
    assert!(
        packs_after_first.len() > 1,
        "small pack size gives several packs"
    );

    // snapshots: listed, filterable by owner
    let list = env.json(&["snapshots"]);
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"].as_str(), Some(snap1.as_str()));
    assert_eq!(list[0]["owner"].as_str(), Some("alice"));
    assert_eq!(
        env.json(&["snapshots", "--owner", "bob"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    // ls by unique prefix, and of a sub path
    let prefix = &snap1[..8];
    let items = env.json(&["ls", prefix]);
    let paths: Vec<String> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_owned())
        .collect();
    for expected in [
        "a/big.bin",
        "empty.txt",
        "Ünïcødé ✓/Grüße, 日本語 & spaces.txt",
        "link-to-file",
        "empty-dir",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "ls lacks {expected}: {paths:?}"
        );
    }
    let sub = env.json(&["ls", prefix, "a/b"]);
    let sub_paths: Vec<&str> = sub
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert!(
        !sub_paths.is_empty() && sub_paths.iter().all(|p| p.starts_with("a/b")),
        "{sub_paths:?}"
    );

    // full restore is byte-identical with mtimes, modes and the symlink
    let target = env.path("restore-all");
    env.ok(&["restore", &snap1, "--target", target.to_str().unwrap()]);
    assert_same_tree(&src, &target);

    // restore of a sub path only
    let partial = env.path("restore-part");
    env.ok(&[
        "restore",
        "latest",
        "--owner",
        "alice",
        "a/b/c",
        "--target",
        partial.to_str().unwrap(),
    ]);
    let restored = snapshot_tree(&partial);
    // only a/b/c and what is under it (plus its parent directories)
    assert!(
        restored
            .keys()
            .all(|p| p.starts_with("a/b/c") || std::path::Path::new("a/b/c").starts_with(p)),
        "{:?}",
        restored.keys()
    );
    assert!(restored.len() > 4, "{:?}", restored.keys());
    assert_eq!(
        std::fs::read(partial.join("a/b/c/empty-too"))
            .unwrap()
            .len(),
        0,
        "empty file restored under its path"
    );

    // dump streams one item to stdout
    let out = env.run(&["dump", "latest", "--owner", "alice", "a/big.bin"]);
    assert_code(&out, 0, &["dump"]);
    assert!(
        out.stdout == std::fs::read(src.join("a/big.bin")).unwrap(),
        "dump differs from source"
    );

    // unchanged second backup: no content read, no new pack
    let second = env.json(&["backup", "dir", src.to_str().unwrap(), "--owner", "alice"]);
    assert_eq!(
        second["bytes_read"].as_u64(),
        Some(0),
        "unchanged backup read content: {second}"
    );
    assert_eq!(
        second["bytes_added"].as_u64(),
        Some(0),
        "unchanged backup stored data: {second}"
    );
    assert_eq!(
        pack_files(&env.repo()),
        packs_after_first,
        "unchanged backup wrote a pack"
    );
    assert_ne!(second["snapshot"], first["snapshot"]);
    assert_eq!(
        env.json(&["snapshots", "--owner", "alice"])
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // a changed file is read again, and only it
    std::fs::write(src.join("a/b/file-01.dat"), b"changed content").unwrap();
    let third = env.json(&["backup", "dir", src.to_str().unwrap(), "--owner", "alice"]);
    assert_eq!(third["bytes_read"].as_u64(), Some(15), "{third}");
    let target3 = env.path("restore-3");
    env.ok(&[
        "restore",
        "latest",
        "--owner",
        "alice",
        "--target",
        target3.to_str().unwrap(),
    ]);
    assert_same_tree(&src, &target3);

    // the repository is clean
    let report = env.json(&["check", "--read-data"]);
    assert_eq!(
        report["damaged"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
}

#[test]
fn bad_input_is_refused_with_usage_or_not_found_and_writes_nothing() {
    let env = Env::new();
    // no repository yet
    let out = env.run(&["snapshots"]);
    assert_code(&out, 6, &["snapshots on missing repo"]);
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert!(!env.repo().exists(), "nothing created");

    env.init("256KiB");
    let before = listing_without_audit(&env.repo());
    // latest without owner
    let out = env.run(&["ls", "latest"]);
    assert_code(&out, 2, &["ls latest"]);
    assert!(stderr(&out).contains("--owner"), "{}", stderr(&out));
    // unknown snapshot id
    assert_code(&env.run(&["ls", "deadbeef"]), 6, &["ls unknown"]);
    // source that does not exist
    let out = env.run(&[
        "backup",
        "dir",
        env.path("nope").to_str().unwrap(),
        "--owner",
        "x",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("nope"), "{}", stderr(&out));
    // unknown flag: clap usage error
    assert_code(
        &env.run(&["backup", "dir", ".", "--frobnicate"]),
        2,
        &["bad flag"],
    );
    // init over an existing repository
    let out = env.run(&["repo", "init"]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        listing_without_audit(&env.repo()),
        before,
        "refused commands changed the repository"
    );
}
