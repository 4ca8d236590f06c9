//! A backup run of `tenantvault serve` survives the service stopping: after SIGTERM (the
//! service exits cleanly within its grace time) and after `kill -9`, the next start marks the
//! run interrupted and queues it again, and the resumed run completes without downloading
//! what earlier runs already committed.

mod serve_common;

use std::time::{Duration, Instant};

use serde_json::json;
use serve_common::*;
use tenantvault_emulator::Emulator;

const MESSAGES: u64 = 1500;

fn snapshot_objects(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join("repo/snapshots"))
        .map(|d| d.count())
        .unwrap_or(0)
}

async fn wait_for_checkpoints(srv: &mut Server, dir: &std::path::Path, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while snapshot_objects(dir) < at_least {
        assert!(
            Instant::now() < deadline,
            "no checkpoint appeared:\n{}",
            srv.log()
        );
        if let Ok(Some(s)) = srv.child.try_wait() {
            panic!("service ended: {s}\n{}", srv.log());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_interrupted_by_sigterm_or_kill_9_resumes_at_the_next_start() {
    let emu = Emulator::start(tenant(82, 1, MESSAGES as u32))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    init_repo(&emu, dir.path()).await;
    let cfg = write(
        &dir.path().join("tenantvault.toml"),
        &format!(
            r#"
[serve]
listen = "127.0.0.1:0"
jitter = "0s"
shutdown_grace = "0s"

[[serve.jobs]]
name = "mail"
kind = "exchange"
schedule = "daily at 03:00"
parallel = 1
page_size = 20
checkpoint_items = 25

{}
"#,
            tokens_toml()
        ),
    );

    // 1. SIGTERM in the middle of a run: a clean exit, the run is left to resume
    let mut srv = Server::start(&emu, dir.path(), &cfg).await;
    let (code, r) = srv
        .post(Some("operator"), "/api/v1/jobs/mail/start", json!({}))
        .await;
    assert_eq!(code, 202, "{r}");
    let first = r["run"].as_u64().unwrap();
    wait_for_checkpoints(&mut srv, dir.path(), 2).await;
    let pid = nix::unistd::Pid::from_raw(srv.child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), srv.child.wait())
        .await
        .expect("the service stops within its grace time")
        .unwrap();
    assert_eq!(status.code(), Some(0), "{}", srv.log());
    let after_term = snapshot_objects(dir.path());

    // 2. restart: the run is interrupted and resumed; kill -9 it after one more checkpoint
    let mut srv = Server::start(&emu, dir.path(), &cfg).await;
    let (_, old) = srv
        .get(Some("read-only"), &format!("/api/v1/runs/{first}"))
        .await;
    assert_eq!(old["status"], "interrupted", "{old}");
    let (_, runs) = srv.get(Some("read-only"), "/api/v1/runs?job=mail").await;
    let second = &runs["runs"][0];
    assert_eq!(second["trigger"], "resume", "{runs}");
    assert_eq!(second["requested_by"], "operator-token");
    let second = second["id"].as_u64().unwrap();
    wait_for_checkpoints(&mut srv, dir.path(), after_term + 1).await;
    srv.child.kill().await.unwrap(); // SIGKILL
    let _ = srv.child.wait().await;

    // 3. restart again: resumed once more, and this time it completes
    let srv = Server::start(&emu, dir.path(), &cfg).await;
    let (_, old) = srv
        .get(Some("read-only"), &format!("/api/v1/runs/{second}"))
        .await;
    assert_eq!(old["status"], "interrupted", "{old}");
    let (_, runs) = srv.get(Some("read-only"), "/api/v1/runs?job=mail").await;
    let third = runs["runs"][0]["id"].as_u64().unwrap();
    assert_eq!(runs["runs"][0]["trigger"], "resume");
    let done = srv.wait_run(third, Duration::from_secs(180)).await;
    assert_eq!(done["status"], "ok", "{done}\n{}", srv.log());
    let downloaded = done["outcome"]["items"].as_u64().unwrap();
    // the mailbox is complete in the newest snapshot
    let (_, snaps) = srv
        .get(Some("read-only"), "/api/v1/snapshots?workload=exchange")
        .await;
    let newest = snaps["snapshots"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, items) = srv
        .get(
            Some("operator"),
            &format!("/api/v1/snapshots/{newest}/items?kind=message&limit=100000"),
        )
        .await;
    let in_snapshot = items["items"].as_array().unwrap().len() as u64;

    // a clean backup of the same tenant into another repository is the reference
    let reference = dir.path().join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    init_repo(&emu, &reference).await;
    let out = command(&emu, &reference)
        .args(["--json", "backup", "exchange"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = report["mailboxes"][0]["messagesDownloaded"]
        .as_u64()
        .unwrap();
    assert_eq!(
        in_snapshot, total,
        "every message is in the resumed snapshot"
    );
    assert!(
        downloaded < total,
        "the last run downloaded {downloaded} items of {total}: committed messages were fetched again"
    );
}
