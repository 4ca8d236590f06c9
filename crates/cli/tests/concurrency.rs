//! Two `backup dir` processes on different owners and a `gc --grace 0s` run at the same time
//! on one repository; afterwards `check --read-data` is clean and both snapshots restore.

mod common;

use std::process::Stdio;

use common::*;
use rand::SeedableRng;

#[test]
fn two_writers_and_gc_at_once_leave_a_valid_repository() {
    let env = Env::new();
    let src_a = env.path("src-a");
    let src_b = env.path("src-b");
    std::fs::create_dir_all(&src_a).unwrap();
    std::fs::create_dir_all(&src_b).unwrap();
    make_tree(
        &src_a,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
        2 << 20,
    );
    make_tree(
        &src_b,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(2),
        2 << 20,
    );
    // shared content between the owners: dedup across concurrent writers
    std::fs::copy(src_a.join("a/big.bin"), src_b.join("shared.bin")).unwrap();
    env.init("128KiB");

    // an older snapshot that a later gc may collect garbage around
    let old = env.path("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("x"), vec![7u8; 300_000]).unwrap();
    env.json(&["backup", "dir", old.to_str().unwrap(), "--owner", "carol"]);

    // garbage for gc to find: a backup killed after it uploaded some packs
    let junk = env.path("junk");
    std::fs::create_dir_all(&junk).unwrap();
    for i in 0..40 {
        let mut data = vec![0u8; 50_000];
        rand::RngCore::fill_bytes(
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(100 + i),
            &mut data,
        );
        std::fs::write(junk.join(format!("j{i}")), data).unwrap();
    }
    let packs_before = pack_files(&env.repo()).len();
    let mut killed = env
        .cmd()
        .args([
            "--quiet",
            "backup",
            "dir",
            junk.to_str().unwrap(),
            "--owner",
            "junk",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while pack_files(&env.repo()).len() < packs_before + 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    killed.kill().expect("kill -9");
    killed.wait().unwrap();
    assert!(
        pack_files(&env.repo()).len() >= packs_before + 3,
        "killed backup left no packs"
    );
    assert_eq!(
        env.json(&["snapshots", "--owner", "junk"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    // The killed run's session marker protects its packs for max(grace, 120 s) (FORMAT.md §9).
    // Nothing else runs now, so age it the way two minutes would: remove it.
    let markers: Vec<_> = walkdir::WalkDir::new(env.repo().join("sessions"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .collect();
    assert_eq!(
        markers.len(),
        1,
        "exactly the killed session's marker is left"
    );
    std::fs::remove_file(markers[0].path()).unwrap();

    let mut deleted = 0;
    for round in 0..2 {
        if round == 1 {
            // new data is written while gc runs
            std::fs::write(src_a.join("a/new-in-round.txt"), "round 1").unwrap();
        }
        let spawn = |args: &[&str]| {
            env.cmd()
                .arg("--quiet")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        };
        let a = spawn(&["backup", "dir", src_a.to_str().unwrap(), "--owner", "alice"]);
        let b = spawn(&["backup", "dir", src_b.to_str().unwrap(), "--owner", "bob"]);
        let mut gcs = Vec::new();
        for _ in 0..3 {
            let child = env
                .cmd()
                .args(["--json", "gc", "--grace", "0s"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn();
            gcs.push(child.expect("spawn gc").wait_with_output().expect("gc"));
        }
        for (name, child) in [("alice", a), ("bob", b)] {
            let out = child.wait_with_output().expect("wait");
            assert_code(
                &out,
                0,
                &["concurrent backup", name, &format!("round {round}")],
            );
        }
        for out in &gcs {
            assert_code(out, 0, &["concurrent gc", &format!("round {round}")]);
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("gc JSON");
            deleted += report["packs_deleted"].as_u64().unwrap();
        }
        let report = env.run(&["--json", "check", "--read-data"]);
        assert_code(&report, 0, &["check after concurrent round"]);
    }
    for _ in 0..2 {
        deleted += env.json(&["gc", "--grace", "0s"])["packs_deleted"]
            .as_u64()
            .unwrap();
    }
    assert!(
        deleted >= 3,
        "gc deleted {deleted} packs; the killed backup's packs are garbage"
    );
    env.ok(&["check", "--read-data"]);

    for (owner, src) in [("alice", &src_a), ("bob", &src_b), ("carol", &old)] {
        let target = env.path(&format!("restore-{owner}"));
        env.ok(&[
            "restore",
            "latest",
            "--owner",
            owner,
            "--target",
            target.to_str().unwrap(),
        ]);
        assert_same_tree(src, &target);
    }
    // every snapshot still restores completely
    let snaps = env.json(&["snapshots"]);
    assert_eq!(snaps.as_array().map(Vec::len), Some(5), "{snaps}");
    for snap in snaps.as_array().unwrap() {
        let id = snap["id"].as_str().unwrap();
        let target = env.path(&format!("restore-{id}"));
        env.ok(&["restore", id, "--target", target.to_str().unwrap()]);
        assert!(
            std::fs::read_dir(&target).unwrap().next().is_some(),
            "snapshot {id} restored nothing"
        );
    }
}
