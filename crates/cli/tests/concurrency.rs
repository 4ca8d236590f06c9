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
    make_tree(&src_a, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1), 2 << 20);
    make_tree(&src_b, &mut rand_chacha::ChaCha8Rng::seed_from_u64(2), 2 << 20);
    // shared content between the owners: dedup across concurrent writers
    std::fs::copy(src_a.join("a/big.bin"), src_b.join("shared.bin")).unwrap();
    env.init("128KiB");

    // an older snapshot that a later gc may collect garbage around
    let old = env.path("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("x"), vec![7u8; 300_000]).unwrap();
    env.json(&["backup", "dir", old.to_str().unwrap(), "--owner", "carol"]);

    for round in 0..2 {
        if round == 1 {
            // new data is written while gc runs
            std::fs::write(src_a.join("a/new-in-round.txt"), "round 1").unwrap();
        }
        let spawn = |args: &[&str]| {
            env.cmd().arg("--quiet").args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn")
        };
        let a = spawn(&["backup", "dir", src_a.to_str().unwrap(), "--owner", "alice"]);
        let b = spawn(&["backup", "dir", src_b.to_str().unwrap(), "--owner", "bob"]);
        let mut gcs = Vec::new();
        for _ in 0..3 {
            gcs.push(spawn(&["gc", "--grace", "0s"]).wait_with_output().expect("gc"));
        }
        for (name, child) in [("alice", a), ("bob", b)] {
            let out = child.wait_with_output().expect("wait");
            assert_code(&out, 0, &["concurrent backup", name, &format!("round {round}")]);
        }
        for out in &gcs {
            assert_code(out, 0, &["concurrent gc", &format!("round {round}")]);
        }
        let report = env.run(&["--json", "check", "--read-data"]);
        assert_code(&report, 0, &["check after concurrent round"]);
    }
    env.ok(&["gc", "--grace", "0s"]);
    env.ok(&["gc", "--grace", "0s"]);
    env.ok(&["check", "--read-data"]);

    for (owner, src) in [("alice", &src_a), ("bob", &src_b), ("carol", &old)] {
        let target = env.path(&format!("restore-{owner}"));
        env.ok(&["restore", "latest", "--owner", owner, "--target", target.to_str().unwrap()]);
        assert_same_tree(src, &target);
    }
    // every snapshot still restores completely
    let snaps = env.json(&["snapshots"]);
    assert_eq!(snaps.as_array().map(Vec::len), Some(5), "{snaps}");
    for snap in snaps.as_array().unwrap() {
        let id = snap["id"].as_str().unwrap();
        let target = env.path(&format!("restore-{id}"));
        env.ok(&["restore", id, "--target", target.to_str().unwrap()]);
        assert!(std::fs::read_dir(&target).unwrap().next().is_some(), "snapshot {id} restored nothing");
    }
}
