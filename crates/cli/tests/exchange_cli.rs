//! `tenantvault backup exchange` and `find` through the real binary, against an emulator running
//! in the test process: a full backup and a browse, exit code 3 on item failures, a clear error
//! for wrong credentials, and `kill -9` mid-backup followed by a resume that loses nothing.

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tenantvault_emulator::{
    Emulator, EmulatorConfig, EndpointClass, FaultConfig, FaultKind, GeneratorConfig,
};

const BIN: &str = env!("CARGO_BIN_EXE_tenantvault");
const PASS: &str = "exchange cli test";

fn tenant(seed: u64, users: usize, messages: u32) -> EmulatorConfig {
    let mut cfg = EmulatorConfig {
        seed,
        users,
        generator: GeneratorConfig {
            messages_per_mailbox: messages,
            events_per_mailbox: 3,
            contacts_per_mailbox: 2,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    cfg
}

fn command(emu: &Emulator, repo: &Path, secret: &str) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TENANTVAULT_PASSWORD", PASS)
        .env("TENANTVAULT_CACHE_DIR", repo.with_extension("cache"))
        .env("AZURE_TENANT_ID", emu.tenant_id())
        .env("AZURE_CLIENT_ID", emu.client_id())
        .env("AZURE_CLIENT_SECRET", secret)
        .env("AZURE_AUTHORITY_HOST", emu.base_url())
        .env("TENANTVAULT_GRAPH_BASE", emu.graph_url())
        .arg("--repo")
        .arg(repo)
        .stdin(Stdio::null());
    c
}

async fn run(emu: &Emulator, repo: &Path, args: &[&str]) -> Output {
    command(emu, repo, &emu.client_secret())
        .args(args)
        .output()
        .await
        .expect("run tenantvault")
}

async fn init(emu: &Emulator, repo: &Path) {
    let out = run(emu, repo, &["repo", "init"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn messages_downloaded(report: &Value) -> u64 {
    report["mailboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["messagesDownloaded"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_find_through_the_binary() {
    let emu = Emulator::start(tenant(71, 4, 25)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    init(&emu, &repo).await;

    let out = run(&emu, &repo, &["--json", "backup", "exchange"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let mailboxes = report["mailboxes"].as_array().unwrap();
    assert!(mailboxes.len() >= 2);
    assert!(messages_downloaded(&report) > 20);
    let upn = mailboxes[0]["mailbox"]["upn"].as_str().unwrap().to_string();

    // Browse: every message of the mailbox, then a filter that must narrow it down.
    let out = run(&emu, &repo, &["--json", "find", "--mailbox", &upn]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = json(&out)["items"].as_array().unwrap().clone();
    assert_eq!(
        all.len() as u64,
        mailboxes[0]["messagesDownloaded"].as_u64().unwrap()
    );
    let first = &all[0];
    let subject = first["name"].as_str().unwrap();
    let out = run(
        &emu,
        &repo,
        &["--json", "find", "--mailbox", &upn, "--subject", subject],
    )
    .await;
    let hits = json(&out)["items"].as_array().unwrap().clone();
    assert!(!hits.is_empty() && hits.len() <= all.len());
    assert!(hits.iter().all(|h| {
        h["name"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains(&subject.to_lowercase())
    }));
    let out = run(
        &emu,
        &repo,
        &[
            "--json",
            "find",
            "--mailbox",
            &upn,
            "--folder",
            "Inbox",
            "--after",
            "2100-01-01",
        ],
    )
    .await;
    assert!(json(&out)["items"].as_array().unwrap().is_empty());
    // Human output names the item ids.
    let out = run(&emu, &repo, &["find", "--mailbox", &upn, "--limit", "3"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3);
    assert!(text.contains("[msg:"));
    // Bad input: clear usage errors.
    let out = run(
        &emu,
        &repo,
        &["find", "--mailbox", &upn, "--after", "yesterday"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &emu,
        &repo,
        &["backup", "exchange", "--mailbox", "nobody@nowhere.example"],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such mailbox"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_failures_exit_3_and_are_listed() {
    let mut cfg = tenant(72, 2, 10);
    cfg.faults = FaultConfig {
        rate: 1.0,
        classes: vec![EndpointClass::Calendar],
        kinds: vec![FaultKind::Status500],
    };
    let emu = Emulator::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    init(&emu, &repo).await;
    // Graph settings from a TOML file (AZURE_* from the environment still apply), with a short
    // retry budget so the always-failing calendar gives up quickly.
    let config = dir.path().join("graph.toml");
    std::fs::write(
        &config,
        format!(
            "[graph]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\nauthority_host = \"{}\"\ngraph_base = \"{}\"\nmax_attempts = 2\nmax_retry_secs = 5\n",
            emu.tenant_id(),
            emu.client_id(),
            emu.client_secret(),
            emu.base_url(),
            emu.graph_url()
        ),
    )
    .unwrap();
    let out = run(
        &emu,
        &repo,
        &["backup", "exchange", "--config", config.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("failed calendar"), "{text}");
    // The snapshots were committed anyway.
    let out = run(&emu, &repo, &["--json", "snapshots"]).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("exchange"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_give_a_clear_error() {
    let emu = Emulator::start(tenant(73, 2, 5)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    init(&emu, &repo).await;
    let secret = "definitely-not-the-secret-XYZ";
    let out = command(&emu, &repo, secret)
        .args(["backup", "exchange"])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("authentication failed"), "{err}");
    assert!(!err.contains(secret), "the secret never appears: {err}");
    // Missing credentials: a usage error naming the variables.
    let out = command(&emu, &repo, "")
        .env_remove("AZURE_CLIENT_SECRET")
        .args(["backup", "exchange"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AZURE_CLIENT_SECRET"));
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_backup_then_resume_loses_nothing() {
    let emu = Emulator::start(tenant(74, 1, 600)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    init(&emu, &repo).await;

    let mut child = command(&emu, &repo, &emu.client_secret())
        .args([
            "--quiet",
            "backup",
            "exchange",
            "--page-size",
            "20",
            "--checkpoint-items",
            "25",
            "--parallel",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for two checkpoints (snapshot roots), then SIGKILL.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = std::fs::read_dir(repo.join("snapshots"))
            .map(|d| d.count())
            .unwrap_or(0);
        if n >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no checkpoint appeared");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("backup finished before it could be killed: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.unwrap(); // SIGKILL
    let _ = child.wait().await;

    let out = run(&emu, &repo, &["check"]).await;
    assert!(
        out.status.success(),
        "repository consistent after kill -9: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(&emu, &repo, &["--json", "backup", "exchange"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed = json(&out);
    assert_eq!(resumed["mailboxes"][0]["resumed"], true);
    let downloaded = messages_downloaded(&resumed);

    // A clean backup of the same tenant into another repository is the reference.
    let reference = dir.path().join("reference");
    init(&emu, &reference).await;
    let out = run(&emu, &reference, &["--json", "backup", "exchange"]).await;
    let total = messages_downloaded(&json(&out));
    assert!(
        downloaded < total,
        "committed messages were not downloaded again ({downloaded} of {total})"
    );
    let upn = resumed["mailboxes"][0]["mailbox"]["upn"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = |out: Output| {
        let mut v: Vec<String> = json(&out)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let got = ids(run(
        &emu,
        &repo,
        &["--json", "find", "--mailbox", &upn, "--kind", "all"],
    )
    .await);
    let want = ids(run(
        &emu,
        &reference,
        &["--json", "find", "--mailbox", &upn, "--kind", "all"],
    )
    .await);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want, "every item present after resume");
    emu.shutdown().await;
}
