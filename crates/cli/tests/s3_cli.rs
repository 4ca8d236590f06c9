//! The binary on an `s3://` repository (moto_server): `repo init --object-lock`, a backup
//! killed with SIGKILL during a multipart upload, `maintain incomplete`, resume, `check
//! --read-data`, restore, `maintain locks`; and bad Object Lock arguments change nothing.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use rand::SeedableRng;
use tenantvault_repo::Storage;
use tenantvault_s3::moto::MotoServer;

fn s3_cmd(env: &Env, moto: &MotoServer, url: &str) -> Command {
    let mut cmd = env.cmd();
    cmd.env("TENANTVAULT_REPO", url)
        .env("TENANTVAULT_S3_ENDPOINT", &moto.endpoint)
        .env("TENANTVAULT_S3_PATH_STYLE", "true")
        .env("TENANTVAULT_S3_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
    cmd
}

fn ok(mut cmd: Command, args: &[&str]) -> String {
    let out = run(cmd.args(args));
    assert_code(&out, 0, args);
    String::from_utf8(out.stdout).unwrap()
}

fn json(cmd: Command, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(cmd, &all)).unwrap()
}

#[test]
fn kill_during_multipart_upload_then_resume_on_object_lock_bucket() {
    let Some(moto) = MotoServer::shared() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = rt.block_on(moto.bucket("cli", true, "tenant"));
    let (bucket, url) = (&b.bucket, &b.url);
    let env = Env::new();
    let cmd = || s3_cmd(&env, moto, url);

    // Bad Object Lock arguments: usage errors, nothing written.
    let out = run(cmd().args(["repo", "init", "--object-lock", "governance"]));
    assert_code(&out, 2, &["init without --lock-days"]);
    let out = run(env.cmd().args([
        "repo",
        "init",
        "--object-lock",
        "governance",
        "--lock-days",
        "3",
    ]));
    assert_code(&out, 2, &["--object-lock on a local repository"]);
    assert!(!env.repo().exists());
    let store = rt.block_on(b.open());
    assert!(rt.block_on(store.list("")).unwrap().is_empty());

    ok(
        cmd(),
        &[
            "repo",
            "init",
            "--object-lock",
            "governance",
            "--lock-days",
            "3",
            "--pack-size",
            "17MiB",
            "--kdf-memory",
            "64KiB",
            "--kdf-iterations",
            "1",
        ],
    );
    let out = run(cmd().args([
        "repo",
        "init",
        "--object-lock",
        "governance",
        "--lock-days",
        "3",
    ]));
    assert_code(&out, 2, &["second init on the same prefix"]);

    // A source whose packs are above the multipart threshold (16 MiB).
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    std::fs::write(src.join("big.bin"), content(&mut rng, 40 << 20)).unwrap();
    std::fs::write(src.join("small.txt"), "hello s3").unwrap();

    // Kill -9 while a multipart upload is open.
    let mut caught = false;
    for _ in 0..3 {
        let mut child = cmd()
            .args([
                "--quiet",
                "backup",
                "dir",
                src.to_str().unwrap(),
                "--owner",
                "alice",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
            let uploads = rt
                .block_on(
                    store
                        .client()
                        .list_multipart_uploads()
                        .bucket(bucket.as_str())
                        .send(),
                )
                .unwrap();
            if !uploads.uploads().is_empty() {
                child.kill().unwrap(); // SIGKILL
                caught = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.wait().unwrap();
        if caught {
            break;
        }
    }
    assert!(caught, "never saw a multipart upload in flight");
    let snaps = json(cmd(), &["snapshots", "--owner", "alice"]);
    assert_eq!(
        snaps.as_array().map(Vec::len),
        Some(0),
        "no snapshot from the killed run"
    );

    // The repository is consistent; the leftover upload is cleaned; the backup resumes.
    let check = run(cmd().args(["check"]));
    assert_code(&check, 0, &["check after kill"]);
    let cleaned = json(cmd(), &["maintain", "incomplete", "--older-than", "0s"]);
    assert!(cleaned["removed"].as_u64().unwrap() >= 1, "{cleaned}");
    let uploads = rt
        .block_on(
            store
                .client()
                .list_multipart_uploads()
                .bucket(bucket.as_str())
                .send(),
        )
        .unwrap();
    assert!(uploads.uploads().is_empty());
    let backup = json(
        cmd(),
        &["backup", "dir", src.to_str().unwrap(), "--owner", "alice"],
    );
    let snap = backup["snapshot"].as_str().unwrap().to_string();
    let check = run(cmd().args(["check", "--read-data"]));
    assert_code(&check, 0, &["check --read-data after resume"]);
    let target = env.path("restored");
    ok(
        cmd(),
        &["restore", &snap, "--target", target.to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(target.join("big.bin")).unwrap(),
        std::fs::read(src.join("big.bin")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(target.join("small.txt")).unwrap(),
        "hello s3"
    );

    // Every object the backup wrote is locked; maintenance finds nothing to renew yet.
    let locks = json(cmd(), &["maintain", "locks", "--renew-below", "1d"]);
    assert!(locks["checked"].as_u64().unwrap() >= 4, "{locks}");
    assert_eq!(locks["extended"].as_u64(), Some(0), "{locks}");
    assert!(locks["failed"].as_array().unwrap().is_empty());
    let renew = json(
        cmd(),
        &["maintain", "locks", "--renew-below", "4d", "--dry-run"],
    );
    assert_eq!(renew["extended"], locks["checked"], "{renew}");
    let renewed = json(cmd(), &["maintain", "locks", "--renew-below", "4d"]);
    assert_eq!(renewed["extended"], locks["checked"], "{renewed}");
    let again = json(cmd(), &["maintain", "locks", "--renew-below", "1d"]);
    assert_eq!(again["extended"].as_u64(), Some(0), "{again}");
}

#[test]
fn hold_create_and_maintain_set_the_legal_hold_flag_and_release_clears_it() {
    let Some(moto) = MotoServer::shared() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = rt.block_on(moto.bucket("clihold", true, "tenant"));
    let url = &b.url;
    let env = Env::new();
    let cmd = || s3_cmd(&env, moto, url);
    ok(
        cmd(),
        &[
            "repo",
            "init",
            "--object-lock",
            "governance",
            "--lock-days",
            "1",
            "--kdf-memory",
            "64KiB",
            "--kdf-iterations",
            "1",
        ],
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    for owner in ["alice", "bob"] {
        let src = env.path(owner);
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("a.bin"), content(&mut rng, 100_000)).unwrap();
        ok(
            cmd(),
            &["backup", "dir", src.to_str().unwrap(), "--owner", owner],
        );
    }
    let store = rt.block_on(b.open());
    let flagged = || -> Vec<String> {
        rt.block_on(async {
            let mut out = Vec::new();
            for (k, _) in store.list("").await.unwrap() {
                if store.legal_hold(&k).await.unwrap() {
                    out.push(k);
                }
            }
            out
        })
    };
    assert!(flagged().is_empty());

    let hold = json(
        cmd(),
        &[
            "hold", "create", "--case", "LIT-7", "--reason", "dispute", "--owner", "alice",
        ],
    );
    let flags = &hold["legal_hold_flags"];
    assert_eq!(flags["supported"], true, "{hold}");
    assert!(flags["failed"].as_array().unwrap().is_empty(), "{hold}");
    let set: Vec<String> = flags["set"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let id = hold["id"].as_str().unwrap();
    assert!(set.contains(&format!("holds/{id}")), "{set:?}");
    assert!(set.iter().any(|k| k.starts_with("snapshots/")));
    assert!(set.iter().any(|k| k.starts_with("data/")));
    assert!(set.iter().any(|k| k.starts_with("index/")));
    assert_eq!(flagged(), set, "exactly the reported objects are flagged");
    let bob_snap = json(cmd(), &["snapshots", "--owner", "bob"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!set.contains(&format!("snapshots/{bob_snap}")));

    let m = json(cmd(), &["maintain", "locks", "--renew-below", "1h"]);
    assert_eq!(
        m["legal_hold"]["held"].as_u64(),
        Some(set.len() as u64),
        "{m}"
    );
    assert_eq!(m["legal_hold"]["unchanged"], m["legal_hold"]["held"], "{m}");
    assert!(m["legal_hold"]["set"].as_array().unwrap().is_empty(), "{m}");

    let rel = json(cmd(), &["hold", "release", id, "--reason", "settled"]);
    let cleared: Vec<String> = rel["legal_hold_flags"]["cleared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    assert_eq!(cleared, set, "{rel}");
    assert!(flagged().is_empty());
    let m = json(cmd(), &["maintain", "locks", "--renew-below", "1h"]);
    assert_eq!(m["legal_hold"]["held"].as_u64(), Some(0), "{m}");
    let text = ok(cmd(), &["maintain", "locks", "--renew-below", "1h"]);
    assert!(text.contains("legal-hold flags: 0 object(s)"), "{text}");

    // The audit log names the flag changes.
    let audit: Vec<serde_json::Value> = ok(cmd(), &["--json", "audit", "show"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let create = audit
        .iter()
        .find(|r| r["operation"] == "hold create")
        .expect("hold create record");
    assert_eq!(
        create["details"]["legal_hold"]["set"].as_u64(),
        Some(set.len() as u64),
        "{create}"
    );
    let release = audit
        .iter()
        .find(|r| r["operation"] == "hold release")
        .expect("hold release record");
    assert_eq!(
        release["details"]["legal_hold"]["cleared"].as_u64(),
        Some(set.len() as u64),
        "{release}"
    );
}

/// `retention apply` on an Object Lock bucket: of the two snapshots `keep_last = 1` removes,
/// one root is still locked and carries the S3 legal-hold flag, the other's lock was lifted by
/// an administrator (its locked version replaced by an unlocked copy). The protected root is
/// skipped and named (text, `--json` and the audit log), the other is removed, and the exit
/// code is 3 (partial); a later run skips it again and removes nothing else.
#[test]
fn retention_apply_skips_a_locked_or_flagged_root_and_goes_on() {
    let Some(moto) = MotoServer::shared() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let b = rt.block_on(moto.bucket("cliret", true, "tenant"));
    let (bucket, url) = (&b.bucket, &b.url);
    let env = Env::new();
    let config = env.path("tenantvault.toml");
    std::fs::write(
        &config,
        "[retention.policies.p]\nkeep_last = 1\n\n[[retention.assign]]\npolicy = \"p\"\nowners = \"all\"\n",
    )
    .unwrap();
    let cmd = || {
        let mut c = s3_cmd(&env, moto, url);
        c.env("TENANTVAULT_CONFIG", &config);
        c
    };
    ok(
        cmd(),
        &[
            "repo",
            "init",
            "--object-lock",
            "governance",
            "--lock-days",
            "1",
            "--kdf-memory",
            "64KiB",
            "--kdf-iterations",
            "1",
        ],
    );
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        std::fs::write(src.join("a.txt"), format!("version {i}")).unwrap();
        let b = json(
            cmd(),
            &["backup", "dir", src.to_str().unwrap(), "--owner", "alice"],
        );
        ids.push(b["snapshot"].as_str().unwrap().to_string());
    }
    let store = rt.block_on(b.open());
    let (flagged, unlocked) = (&ids[0], &ids[1]);
    rt.block_on(async {
        store
            .set_legal_hold(&format!("snapshots/{flagged}"), true)
            .await
            .unwrap();
        // an administrator lifts the lock of the second root: delete its locked version with
        // the governance bypass and put the same bytes back without a lock
        let key = format!("snapshots/{unlocked}");
        let full = store.location().full_key(&key);
        let bytes = store.get(&key).await.unwrap();
        let versions = store.versions(&key).await.unwrap();
        assert_eq!(versions.len(), 1);
        store
            .client()
            .delete_object()
            .bucket(bucket.as_str())
            .key(&full)
            .version_id(&versions[0].version_id)
            .bypass_governance_retention(true)
            .send()
            .await
            .unwrap();
        store
            .client()
            .put_object()
            .bucket(bucket.as_str())
            .key(&full)
            .body(bytes.to_vec().into())
            .send()
            .await
            .unwrap();
        assert_eq!(store.lock_until(&key).await.unwrap(), None);
    });

    let out = run(cmd().args(["--json", "retention", "apply"]));
    assert_code(&out, 3, &["retention apply with a protected root"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["snapshots_deleted"].as_u64(), Some(1), "{r}");
    let locked = r["locked"].as_array().unwrap();
    assert_eq!(locked.len(), 1, "{r}");
    assert_eq!(
        locked[0]["snapshot"].as_str(),
        Some(flagged.as_str()),
        "{r}"
    );
    assert_eq!(locked[0]["action"], "delete", "{r}");
    assert_eq!(locked[0]["legal_hold"], true, "{r}");
    assert!(locked[0]["locked_until"].is_string(), "{r}");
    let left: Vec<String> = json(cmd(), &["snapshots", "--owner", "alice"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, vec![ids[0].clone(), ids[2].clone()]);

    // Again, in text: the root is skipped again and named, nothing else changes.
    let out = run(cmd().args(["retention", "apply"]));
    assert_code(&out, 3, &["second retention apply"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("SKIPPED"))
        .unwrap_or_else(|| panic!("no SKIPPED line: {text}"));
    assert!(line.contains(&flagged[..8]), "{line}");
    assert!(line.contains("legal-hold flag on"), "{line}");
    assert!(line.contains("Object Lock until"), "{line}");
    assert!(text.contains("removed 0 snapshot(s)"), "{text}");
    assert_eq!(
        json(cmd(), &["snapshots", "--owner", "alice"])
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The audit log names the skipped root.
    let audit: Vec<serde_json::Value> = ok(cmd(), &["--json", "audit", "show"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let applies: Vec<&serde_json::Value> = audit
        .iter()
        .filter(|r| r["operation"] == "retention apply")
        .collect();
    assert_eq!(applies.len(), 2, "{audit:?}");
    for a in applies {
        let skipped = &a["details"]["retention"]["locked_skipped"];
        assert_eq!(
            skipped[0]["snapshot"].as_str(),
            Some(flagged.as_str()),
            "{a}"
        );
    }
}
