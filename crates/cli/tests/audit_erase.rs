//! End-to-end: the audit log records every command, `audit show`/`verify` read and check it,
//! `erase` crypto-shreds one owner while a shared file stays restorable for the other,
//! `report compliance` shows it, and bad input changes nothing.

mod common;

use std::path::Path;

use common::*;

const NOW: &str = "2026-06-01T08:00:00Z";

fn records(env: &Env, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["--json", "audit", "show"];
    all.extend_from_slice(args);
    env.ok(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn count(env: &Env) -> usize {
    records(env, &[]).len()
}

/// Two owners' folders: the same "attachment" in both, plus private files.
fn sources(env: &Env) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let shared: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut dirs = Vec::new();
    for (name, seed) in [("alice", 1u32), ("bob", 2)] {
        let d = env.path(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("report.pdf"), &shared).unwrap();
        let own: Vec<u8> = (0..300_000u32)
            .map(|i| ((i * 31 + seed * 17) % 253) as u8 ^ (i >> 9) as u8)
            .collect();
        std::fs::write(d.join("private.bin"), own).unwrap();
        dirs.push(d);
    }
    (dirs.remove(0), dirs.remove(0), shared)
}

fn backup(env: &Env, src: &Path, owner: &str) -> String {
    let out = env.json(&["backup", "dir", src.to_str().unwrap(), "--owner", owner]);
    out["snapshot"].as_str().unwrap().to_string()
}

#[test]
fn audit_log_records_commands_and_verify_detects_tampering() {
    let env = Env::new();
    env.init("64KiB");
    let (alice, _bob, _) = sources(&env);
    backup(&env, &alice, "alice");
    env.ok(&["snapshots"]);
    let recs = records(&env, &[]);
    let ops: Vec<&str> = recs
        .iter()
        .map(|r| r["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        &ops[..3],
        &["repo init", "backup dir", "snapshots"],
        "{recs:#?}"
    );
    let b = &recs[1];
    assert_eq!(b["outcome"], "ok");
    assert_eq!(b["owners"], serde_json::json!(["alice"]));
    assert_eq!(b["details"]["exit_code"], 0);
    assert!(b["actor"].as_str().unwrap().contains('@'));
    assert_eq!(b["seq"], 2);

    // filters
    let only = records(&env, &["--operation", "backup", "--owner", "alice"]);
    assert_eq!(only.len(), 1);
    assert!(records(&env, &["--owner", "nobody"]).is_empty());
    assert!(records(&env, &["--since", "2999-01-01"]).is_empty());
    assert!(records(&env, &["--until", "2000-01-01"]).is_empty());

    // a failed command is recorded as failed, with its exit code
    let out = env.run(&[
        "restore",
        "ffffffff",
        "--target",
        env.path("t").to_str().unwrap(),
    ]);
    assert_code(&out, 6, &["restore"]);
    let last = records(&env, &["--operation", "restore"]);
    assert_eq!(last[0]["outcome"], "failed");
    assert_eq!(last[0]["details"]["exit_code"], 6);

    let v = env.json(&["audit", "verify"]);
    assert_eq!(v["problems"], serde_json::json!([]), "{v:#}");
    let head = v["head"].clone();
    let head_arg = format!("{}:{}", head["seq"], head["chain"].as_str().unwrap());
    let text = env.ok(&["audit", "verify", "--expect-head", &head_arg]);
    assert!(text.contains("ok: no record altered"), "{text}");

    // remove a record in the middle: exit 5, and the place is named
    let victim = env.repo().join(format!("audit/r/{:020}", 2));
    std::fs::remove_file(&victim).unwrap();
    let out = env.run(&["audit", "verify"]);
    assert_code(&out, 5, &["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TAMPERING DETECTED"), "{text}");
    assert!(
        text.contains("record 2 (audit/r/00000000000000000002): removed"),
        "{text}"
    );

    // bad input: usage errors, nothing opened, nothing recorded
    let n = count(&env);
    assert_code(
        &env.run(&["audit", "show", "--since", "last tuesday"]),
        2,
        &["--since"],
    );
    assert_code(
        &env.run(&["audit", "verify", "--expect-head", "12:xyz"]),
        2,
        &["--expect-head"],
    );
    assert_eq!(
        count(&env),
        n + 1,
        "only the count's own `audit show` was added"
    );
}

#[test]
fn erase_shreds_one_owner_keeps_the_shared_file_and_reports() {
    let env = Env::new();
    env.init("64KiB");
    let (alice, bob, shared) = sources(&env);
    let snap_a = backup(&env, &alice, "alice");
    let snap_b = backup(&env, &bob, "bob");

    // bad input changes nothing
    let before = count(&env);
    let listing = |env: &Env| {
        let mut v: Vec<String> = walkdir::WalkDir::new(env.repo())
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && !e.path().starts_with(env.repo().join("audit")))
            .map(|e| e.path().display().to_string())
            .collect();
        v.sort();
        v
    };
    let files = listing(&env);
    assert_code(&env.run(&["erase", "--owner", "alice"]), 2, &["no reason"]);
    assert_code(
        &env.run(&["erase", "--owner", "alice", "--reason", "  "]),
        2,
        &["blank reason"],
    );
    let out = env.run(&["erase", "--owner", "carol", "--reason", "x"]);
    assert_code(&out, 6, &["unknown owner"]);
    assert_eq!(listing(&env), files);
    assert_eq!(
        count(&env),
        before + 2,
        "only the failed erase of carol (opened) + this show"
    );

    // dry run: the report, nothing erased
    let dry = env.json(&[
        "erase",
        "--owner",
        "alice",
        "--reason",
        "Art. 17 #2026-114",
        "--by",
        "dpo@example.com",
        "--dry-run",
    ]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(listing(&env), files);

    let out = run(env.cmd().env("TENANTVAULT_NOW", NOW).args([
        "erase",
        "--owner",
        "alice",
        "--reason",
        "Art. 17 #2026-114",
        "--by",
        "dpo@example.com",
    ]));
    assert_code(&out, 0, &["erase"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "ERASURE REPORT",
        "dir:alice",
        "2026-06-01 08:00:00 UTC",
        "dpo@example.com",
        "Art. 17 #2026-114",
        &snap_a,
        "crypto-shredding",
    ] {
        assert!(text.contains(want), "{want:?} missing in\n{text}");
    }
    assert_eq!(dry["erasures"][0]["snapshots"][0], snap_a.as_str());

    // every read of alice answers "erased", exit 9
    let target = env.path("ra");
    for args in [
        vec![
            "restore",
            "latest",
            "--owner",
            "alice",
            "--target",
            target.to_str().unwrap(),
        ],
        vec!["restore", &snap_a, "--target", target.to_str().unwrap()],
        vec!["ls", "latest", "--owner", "alice"],
        vec!["dump", "latest", "--owner", "alice", "report.pdf"],
    ] {
        let out = env.run(&args);
        assert_code(&out, 9, &args);
        let err = stderr(&out);
        assert!(
            err.contains("alice was erased on 2026-06-01")
                && err.contains("Art. 17 #2026-114")
                && err.contains("dpo@example.com"),
            "{err}"
        );
    }
    let again = env.run(&["erase", "--owner", "alice", "--reason", "again"]);
    assert_code(&again, 9, &["erase again"]);

    // `snapshots` shows alice's snapshot as erased (when, by whom, why), bob's as ok
    let snaps = env.json(&["snapshots"]);
    let by_id = |id: &str| {
        snaps
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap()
    };
    let erased = &by_id(&snap_a)["erased"];
    assert_eq!(erased["date"], "2026-06-01T08:00:00+00:00", "{snaps}");
    assert_eq!(erased["by"], "dpo@example.com");
    assert_eq!(erased["reason"], "Art. 17 #2026-114");
    assert!(by_id(&snap_b)["erased"].is_null(), "{snaps}");
    let table = env.ok(&["snapshots"]);
    let line = |id: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&id[..8]))
            .unwrap_or_else(|| panic!("{id} in\n{table}"))
            .to_string()
    };
    assert!(
        line(&snap_a).contains("ERASED 2026-06-01 by dpo@example.com (Art. 17 #2026-114)"),
        "{table}"
    );
    assert!(line(&snap_b).trim_end().ends_with("ok"), "{table}");

    // bob's copy of the shared file restores; check --read-data passes; gc frees alice's data
    let rb = env.path("rb");
    env.ok(&["restore", &snap_b, "--target", rb.to_str().unwrap()]);
    let restored = walkdir::WalkDir::new(&rb)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "report.pdf")
        .expect("report.pdf restored");
    assert_eq!(std::fs::read(restored.path()).unwrap(), shared);
    env.ok(&["check", "--read-data"]);
    let gc = env.json(&["gc", "--grace", "0s"]);
    let gc2 = env.json(&["gc", "--grace", "0s"]);
    let deleted = gc["packs_deleted"].as_u64().unwrap() + gc2["packs_deleted"].as_u64().unwrap();
    assert_eq!(
        deleted,
        dry["erasures"][0]["packs_reclaimable"].as_u64().unwrap(),
        "{gc} {gc2} {dry}"
    );
    env.ok(&["check", "--read-data"]);

    // the compliance report
    let rep = env.json(&["report", "compliance"]);
    let owners = rep["owners"].as_array().unwrap();
    let a = owners.iter().find(|o| o["owner"] == "alice").unwrap();
    let b = owners.iter().find(|o| o["owner"] == "bob").unwrap();
    assert_eq!(a["restore_points"], 0);
    assert_eq!(a["erased"]["by"], "dpo@example.com");
    assert_eq!(b["restore_points"], 1);
    assert!(b["erased"].is_null());
    assert!(b["last_successful_backup"].is_string());
    let table = env.ok(&["report", "compliance"]);
    assert!(
        table.contains("erased 2026-06-01 by dpo@example.com"),
        "{table}"
    );

    // GDPR erasure wins over the minimum retention floor, and the report says it did
    assert!(a["erased"]["overrode_minimum_retention"].is_null(), "{a}");
    let config = env.path("min.toml");
    std::fs::write(
        &config,
        "[retention]\nminimum = \"1y\"\n[retention.policies.std]\ndaily = 7\n\
         [[retention.assign]]\npolicy = \"std\"\nowners = \"all\"\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    let rep = env.json(&["--config", cfg, "report", "compliance"]);
    let owners = rep["owners"].as_array().unwrap();
    let a = owners.iter().find(|o| o["owner"] == "alice").unwrap();
    assert_eq!(a["erased"]["overrode_minimum_retention"], "1y", "{a}");
    let table = env.ok(&["--config", cfg, "report", "compliance"]);
    assert!(
        table.contains("inside the 1y minimum retention (erasure overrides it)"),
        "{table}"
    );

    // a local repository has no legal-hold flag: hold create and release say so
    let h = env.json(&[
        "hold", "create", "--case", "C-9", "--reason", "flags", "--owner", "bob",
    ]);
    assert_eq!(h["legal_hold_flags"]["supported"], false, "{h}");
    let out = env.ok(&[
        "hold",
        "release",
        h["id"].as_str().unwrap(),
        "--reason",
        "done",
    ]);
    assert!(out.contains("this storage has none"), "{out}");

    // and the audit log has the erasure, with its details
    let er = records(&env, &["--operation", "erase", "--owner", "alice"]);
    let done: Vec<_> = er.iter().filter(|r| r["outcome"] == "ok").collect();
    assert_eq!(done.len(), 2, "dry run + erasure: {er:#?}");
    assert_eq!(done[1]["details"]["dry_run"], false);
    assert_eq!(done[1]["details"]["reason"], "Art. 17 #2026-114");
    assert_eq!(done[1]["time"], "2026-06-01T08:00:00Z");
    assert!(env.json(&["audit", "verify"])["problems"] == serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_is_refused_while_a_hold_covers_the_owner() {
    use tenantvault_repo::{HoldScope, KdfParams, NewHold, OpenOptions, Repository, Storage};
    let env = Env::new();
    env.init("64KiB");
    let (alice, _bob, _) = sources(&env);
    backup(&env, &alice, "alice");
    let storage: std::sync::Arc<dyn Storage> =
        std::sync::Arc::new(tenantvault_repo::LocalStorage::new(env.repo()).unwrap());
    let _ = KdfParams::insecure_fast();
    let repo = Repository::open(
        storage,
        PASSWORD,
        OpenOptions {
            cache_dir: Some(env.path("cache-test")),
        },
    )
    .await
    .unwrap();
    let hold = repo
        .create_hold(
            NewHold {
                case: "LIT-2026-014".into(),
                reason: "litigation".into(),
                created_by: "legal".into(),
                scope: HoldScope {
                    owners: vec!["alice".into()],
                    ..Default::default()
                },
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let out = env.run(&["erase", "--owner", "alice", "--reason", "Art. 17"]);
    assert_code(&out, 10, &["erase under hold"]);
    let err = stderr(&out);
    assert!(
        err.contains("LIT-2026-014") && err.contains(&hold.id),
        "{err}"
    );
    env.ok(&["ls", "latest", "--owner", "alice"]);
    let refused = records(&env, &["--operation", "erase"]);
    assert_eq!(refused[0]["outcome"], "refused");
    assert_eq!(refused[0]["details"]["exit_code"], 10);

    repo.release_hold(&hold.id, "legal", "settled", chrono::Utc::now())
        .await
        .unwrap();
    env.ok(&["erase", "--owner", "alice", "--reason", "Art. 17"]);
    assert_code(&env.run(&["ls", "latest", "--owner", "alice"]), 9, &["ls"]);
}

#[test]
fn erase_selected_items_rewrites_the_owners_restore_points() {
    let env = Env::new();
    env.init("64KiB");
    let (alice, _bob, shared) = sources(&env);
    let old = backup(&env, &alice, "alice");
    // bad selections: usage errors before anything is opened
    for bad in [
        vec!["--file-name", " "],
        vec!["--from", "2026-02-01", "--to", "2026-01-01"],
        vec!["--from", "yesterday"],
    ] {
        let mut args = vec!["erase", "--owner", "alice", "--reason", "x"];
        args.extend(bad.iter().copied());
        assert_code(&env.run(&args), 2, &args);
    }
    let none = env.run(&[
        "erase",
        "--owner",
        "alice",
        "--reason",
        "x",
        "--file-name",
        "nothing-like-this",
    ]);
    assert_code(&none, 6, &["no match"]);
    let out = env.json(&[
        "erase",
        "--owner",
        "alice",
        "--reason",
        "Art. 17 #9",
        "--by",
        "dpo",
        "--file-name",
        "private",
    ]);
    let rec = &out["item_erasures"][0];
    assert_eq!(rec["items"].as_array().unwrap().len(), 1, "{out:#}");
    assert_eq!(rec["snapshots"][0]["old"], old.as_str());
    let ls = env.json(&["ls", "latest", "--owner", "alice"]);
    let names: Vec<String> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(names.iter().any(|n| n == "report.pdf"), "{ls:#}");
    assert!(!names.iter().any(|n| n == "private.bin"), "{ls:#}");
    assert_code(&env.run(&["ls", &old]), 6, &["old snapshot gone"]);
    let target = env.path("r");
    env.ok(&[
        "restore",
        "latest",
        "--owner",
        "alice",
        "--target",
        target.to_str().unwrap(),
    ]);
    let restored = walkdir::WalkDir::new(&target)
        .into_iter()
        .filter_map(Result::ok)
        .find(|e| e.file_name() == "report.pdf")
        .expect("report.pdf restored");
    assert_eq!(std::fs::read(restored.path()).unwrap(), shared);
    env.ok(&["check", "--read-data"]);
    let er = records(&env, &["--operation", "erase"]);
    let ok: Vec<_> = er.iter().filter(|r| r["outcome"] == "ok").collect();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["details"]["items"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_report_shows_policy_departure_holds_and_failures() {
    use tenantvault_repo::{HoldScope, NewHold, OpenOptions, Repository, Storage};
    let env = Env::new();
    env.init("64KiB");
    let (alice, bob, _) = sources(&env);
    backup(&env, &alice, "alice");
    backup(&env, &bob, "bob");
    backup(&env, &bob, "bob");
    let config = env.path("tv.toml");
    std::fs::write(
        &config,
        "[retention]\ndeparted = \"gone\"\n[retention.policies.std]\ndaily = 7\n\
         [retention.policies.gone]\nkeep_after_departure = \"7y\"\n\
         [[retention.assign]]\npolicy = \"std\"\nowners = \"all\"\n",
    )
    .unwrap();
    let storage: std::sync::Arc<dyn Storage> =
        std::sync::Arc::new(tenantvault_repo::LocalStorage::new(env.repo()).unwrap());
    let repo = Repository::open(
        storage,
        PASSWORD,
        OpenOptions {
            cache_dir: Some(env.path("cache-test")),
        },
    )
    .await
    .unwrap();
    let departed_at = chrono::DateTime::parse_from_rfc3339("2026-04-01T00:00:00Z")
        .unwrap()
        .to_utc();
    repo.mark_departed("alice", departed_at).await.unwrap();
    repo.create_hold(
        NewHold {
            case: "CASE-1".into(),
            reason: "r".into(),
            created_by: "legal".into(),
            scope: HoldScope {
                owners: vec!["bob".into()],
                ..Default::default()
            },
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    // a failed operation naming bob after his last success (an unknown restore point)
    let target = env.path("t");
    let out = env.run(&[
        "restore",
        "deadbeef",
        "--owner",
        "bob",
        "--target",
        target.to_str().unwrap(),
    ]);
    assert_code(&out, 6, &["restore unknown"]);

    let rep = env.json(&["--config", config.to_str().unwrap(), "report", "compliance"]);
    let owners = rep["owners"].as_array().unwrap();
    let a = owners.iter().find(|o| o["owner"] == "alice").unwrap();
    let b = owners.iter().find(|o| o["owner"] == "bob").unwrap();
    assert_eq!(a["policy"], "gone", "{a:#}");
    assert_eq!(a["departed"], "2026-04-01T00:00:00Z");
    assert_eq!(a["restore_points"], 1);
    assert_eq!(b["policy"], "std");
    assert!(b["departed"].is_null());
    assert_eq!(b["restore_points"], 2);
    assert_eq!(b["holds"], serde_json::json!(["CASE-1"]));
    assert_eq!(b["failed_operations_since"], 1, "{b:#}");
    assert!(b["oldest_restore_point"].as_str() <= b["newest_restore_point"].as_str());
    let table = env.ok(&["--config", config.to_str().unwrap(), "report", "compliance"]);
    assert!(table.contains("departed 2026-04-01"), "{table}");
    assert!(table.contains("CASE-1"), "{table}");
    // a broken configuration is a usage error before anything is opened
    std::fs::write(&config, "[retention]\nbogus = 1\n").unwrap();
    assert_code(
        &env.run(&["--config", config.to_str().unwrap(), "report", "compliance"]),
        2,
        &["bad config"],
    );
}
