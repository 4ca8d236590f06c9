//! Crash consistency with a real `kill -9`: a backup is SIGKILLed at a random moment, then
//! `check --read-data` must be clean, the re-run must reuse what the killed run uploaded, and
//! every file must restore byte-identically.
//!
//! Seeded: set `TENANTVAULT_CRASH_SEED` to replay a run (the seed is printed), and
//! `TENANTVAULT_CRASH_ITERATIONS` to change the number of kills (default 30).

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};

const PACK_SIZE: &str = "128KiB";
const PACK_BYTES: u64 = 128 * 1024;

fn pack_bytes(repo: &Path) -> (usize, u64) {
    let packs = pack_files(repo);
    let total = packs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    (packs.len(), total)
}

/// Many small incompressible-ish files so that the backup writes many packs and takes a while.
fn make_source(dir: &Path, rng: &mut impl Rng) {
    for d in 0..12 {
        let sub = dir.join(format!("dir-{d:02}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..40 {
            let len = rng.gen_range(0..24_000);
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            std::fs::write(sub.join(format!("f{f:03}.bin")), data).unwrap();
        }
    }
}

#[test]
fn kill_9_during_backup_leaves_a_valid_repository_that_resumes_and_restores() {
    let seed: u64 = std::env::var("TENANTVAULT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let iterations: usize = std::env::var("TENANTVAULT_CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    eprintln!(
        "crash test seed: {seed} (replay with TENANTVAULT_CRASH_SEED={seed}), {iterations} iterations"
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);

    let base = Env::new();
    let src = base.path("src");
    make_source(&src, &mut rand_chacha::ChaCha8Rng::seed_from_u64(1));
    let src_s = src.to_str().unwrap().to_owned();

    // Calibration: a fresh, uninterrupted backup gives the full duration and bytes written.
    base.init(PACK_SIZE);
    let started = Instant::now();
    base.json(&["backup", "dir", &src_s, "--owner", "crash"]);
    let full = started.elapsed();
    let (_, fresh_bytes) = pack_bytes(&base.repo());
    eprintln!("fresh backup: {full:?}, {fresh_bytes} bytes of packs");
    assert!(
        fresh_bytes > 8 * PACK_BYTES,
        "source too small to exercise resume"
    );

    let mut reused_runs = 0;
    for i in 0..iterations {
        let env = Env::new();
        env.init(PACK_SIZE);
        // kill somewhere between process start and a little after the calibrated duration
        let delay =
            Duration::from_micros(rng.gen_range(0..(full.as_micros() as u64 * 11 / 10).max(1)));
        let mut child = env
            .cmd()
            .args(["--quiet", "backup", "dir", &src_s, "--owner", "crash"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn backup");
        std::thread::sleep(delay);
        let killed = child.try_wait().expect("try_wait").is_none();
        // the real thing: SIGKILL (kill -9), no chance to clean up
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        child.wait().expect("reap");
        let (left_packs, left_bytes) = pack_bytes(&env.repo());

        // 1. the repository is valid as the killed process left it
        let out = env.run(&["--json", "check", "--read-data"]);
        assert_code(
            &out,
            0,
            &[
                "check --read-data after kill",
                &format!("iteration {i}, seed {seed}"),
            ],
        );

        // 2. the re-run completes and reuses what was uploaded
        let resumed = env.json(&["backup", "dir", &src_s, "--owner", "crash"]);
        let (_, after_bytes) = pack_bytes(&env.repo());
        let written = after_bytes - left_bytes;
        eprintln!(
            "iteration {i}: kill after {delay:?} (killed={killed}), left {left_packs} packs / {left_bytes} B, \
             resume wrote {written} B (fresh {fresh_bytes} B)"
        );
        assert!(
            written <= fresh_bytes + PACK_BYTES,
            "iteration {i} (seed {seed}): resume wrote {written} B, more than a fresh run {fresh_bytes} B"
        );
        // Everything the killed run uploaded and indexed is reused: the re-run writes only what
        // is missing, plus at most the few packs that were in flight (written, not yet indexed).
        assert!(
            written <= fresh_bytes.saturating_sub(left_bytes) + 3 * PACK_BYTES,
            "iteration {i} (seed {seed}): {left_packs} packs ({left_bytes} B) were left but resume wrote {written} \
             of {fresh_bytes} B"
        );
        if left_bytes >= 3 * PACK_BYTES {
            reused_runs += 1;
        }
        assert_eq!(
            resumed["failures"].as_array().map(Vec::len),
            Some(0),
            "{resumed}"
        );

        // 3. clean again, and every file restores byte-identically
        let out = env.run(&["--json", "check", "--read-data"]);
        assert_code(
            &out,
            0,
            &[
                "check --read-data after resume",
                &format!("iteration {i}, seed {seed}"),
            ],
        );
        let target = env.path("restore");
        env.ok(&[
            "restore",
            "latest",
            "--owner",
            "crash",
            "--target",
            target.to_str().unwrap(),
        ]);
        assert_same_tree(&src, &target);
    }
    eprintln!("{reused_runs} of {iterations} kills left packs that the resumed run reused");
    assert!(
        iterations < 10 || reused_runs * 4 >= iterations,
        "only {reused_runs} of {iterations} kills happened after packs were written (seed {seed})"
    );
}
