//! Corruption through the CLI: a flipped bit in a pack, an index file or a snapshot root makes
//! `check` exit 5 naming the object and what it affects; unaffected items still restore.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use rand::SeedableRng;

fn objects(repo: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(repo.join(prefix))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    out.sort();
    out
}

fn key_of(repo: &Path, path: &Path) -> String {
    path.strip_prefix(repo)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// A repository with two owners' snapshots of different trees.
fn setup() -> (Env, PathBuf, PathBuf) {
    let env = Env::new();
    let a = env.path("src-a");
    let b = env.path("src-b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    make_tree(&a, &mut rand_chacha::ChaCha8Rng::seed_from_u64(11), 1 << 20);
    make_tree(&b, &mut rand_chacha::ChaCha8Rng::seed_from_u64(12), 1 << 20);
    env.init("64KiB");
    env.json(&["backup", "dir", a.to_str().unwrap(), "--owner", "alice"]);
    env.json(&["backup", "dir", b.to_str().unwrap(), "--owner", "bob"]);
    env.ok(&["check", "--read-data"]);
    (env, a, b)
}

fn check_damage(env: &Env, read_data: bool) -> serde_json::Value {
    let mut args = vec!["--json", "check"];
    if read_data {
        args.push("--read-data");
    }
    let out = env.run(&args);
    assert_code(&out, 5, &args);
    serde_json::from_slice(&out.stdout).expect("check JSON")
}

#[test]
fn flipped_bit_in_a_pack_is_named_and_unaffected_items_restore() {
    let (env, src_a, src_b) = setup();
    let repo = env.repo();
    let packs = pack_files(&repo);
    // the largest pack holds file data of alice's big file at least
    let victim = packs
        .iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap()
        .clone();
    flip_bit(&victim, 100);
    let key = key_of(&repo, &victim);

    let report = check_damage(&env, true);
    let text = report.to_string();
    assert!(text.contains(&key), "check does not name {key}: {report:#}");
    assert_eq!(report["clean"], false);
    let items = report["affected_items"].as_array().unwrap();
    assert!(!items.is_empty(), "no affected item named: {report:#}");
    assert!(
        items.iter().all(|a| a["object"] == key.as_str()),
        "{report:#}"
    );
    let owner = items[0]["owner"]["owner"].as_str().unwrap().to_owned();
    let src = if owner == "alice" { &src_a } else { &src_b };
    let affected: Vec<String> = items
        .iter()
        .filter(|a| a["owner"]["owner"] == owner.as_str())
        .filter_map(|a| a["path"].as_str().map(str::to_owned))
        .collect();

    // restore that owner: fails for the affected items only (exit 3), the others are byte-identical
    let target = env.path("restore");
    let out = env.run(&[
        "restore",
        "latest",
        "--owner",
        &owner,
        "--target",
        target.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    let expected = snapshot_tree(src);
    let restored = snapshot_tree(&target);
    let mut unaffected = 0;
    for (path, entry) in &expected {
        let p = path.to_str().unwrap();
        if affected.iter().any(|a| a == p) {
            assert!(err.contains(p), "failed item {p} not reported: {err}");
            continue;
        }
        assert_eq!(
            restored.get(path),
            Some(entry),
            "unaffected {p} not restored identically"
        );
        unaffected += 1;
    }
    assert!(unaffected > 10);
    if affected.iter().any(|a| expected.contains_key(Path::new(a))) {
        assert_code(&out, 3, &["restore with damaged items"]);
    }
}

#[test]
fn flipped_bit_in_an_index_file_is_named() {
    let (env, _, _) = setup();
    let repo = env.repo();
    let index = objects(&repo, "index");
    assert!(!index.is_empty());
    let victim = &index[index.len() / 2];
    let len = std::fs::metadata(victim).unwrap().len();
    flip_bit(victim, len / 2);
    let report = check_damage(&env, false);
    let key = key_of(&repo, victim);
    assert!(
        report.to_string().contains(&key),
        "check does not name {key}: {report:#}"
    );
}

#[test]
fn flipped_bit_in_a_snapshot_root_is_named_and_other_snapshots_restore() {
    let (env, _, src_b) = setup();
    let repo = env.repo();
    let snaps = env.json(&["snapshots"]);
    let alice = snaps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["owner"] == "alice")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let victim = objects(&repo, "snapshots")
        .into_iter()
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(&alice))
        .expect("alice's snapshot root file");
    let len = std::fs::metadata(&victim).unwrap().len();
    flip_bit(&victim, len / 2);

    let report = check_damage(&env, false);
    let key = key_of(&repo, &victim);
    assert!(
        report.to_string().contains(&key),
        "check does not name {key}: {report:#}"
    );

    let target = env.path("restore-b");
    env.ok(&[
        "restore",
        "latest",
        "--owner",
        "bob",
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_same_tree(&src_b, &target);
    // This machine read alice's root before the damage: its verified copy in the local cache
    // still answers. A machine without that copy gets an error naming the snapshot.
    env.ok(&["ls", &alice]);
    let fresh = env.path("fresh-cache");
    let out = run(env
        .cmd()
        .env("TENANTVAULT_CACHE_DIR", &fresh)
        .args(["ls", &alice]));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains(&alice[..8]) || stderr(&out).contains("snapshots/"),
        "{}",
        stderr(&out)
    );
}
