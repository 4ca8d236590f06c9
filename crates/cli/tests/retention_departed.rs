//! Departed users through the real binary against the in-process emulator: a user leaves the
//! tenant (`POST /_emulator/scenarios/departure`), the next all-users `backup exchange` records
//! the departure, and `retention plan` keeps the mailbox past Microsoft's 30 and 123 days under
//! the departed policy, then removes it when that policy ends.

use std::path::Path;
use std::process::{Output, Stdio};

use chrono::{Duration, Utc};
use serde_json::Value;
use tenantvault_emulator::{Emulator, EmulatorConfig, GeneratorConfig};

const BIN: &str = env!("CARGO_BIN_EXE_tenantvault");
const PASS: &str = "retention departed test";

const CONFIG: &str = r#"
[retention]
departed = "departed"

[retention.policies.standard]
keep_last = 1

[retention.policies.departed]
keep_after_departure = "1y"

[[retention.assign]]
policy = "standard"
owners = "all"
"#;

async fn run(
    emu: &Emulator,
    repo: &Path,
    now: Option<chrono::DateTime<Utc>>,
    args: &[&str],
) -> Output {
    let cfg = repo.with_extension("toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let mut c = tokio::process::Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TENANTVAULT_PASSWORD", PASS)
        .env("TENANTVAULT_CACHE_DIR", repo.with_extension("cache"))
        .env("AZURE_TENANT_ID", emu.tenant_id())
        .env("AZURE_CLIENT_ID", emu.client_id())
        .env("AZURE_CLIENT_SECRET", emu.client_secret())
        .env("AZURE_AUTHORITY_HOST", emu.base_url())
        .env("TENANTVAULT_GRAPH_BASE", emu.graph_url())
        .arg("--repo")
        .arg(repo)
        .stdin(Stdio::null());
    if let Some(n) = now {
        c.env("TENANTVAULT_NOW", n.to_rfc3339());
    }
    // Only the retention commands get the file: `backup exchange` reads `--config` as its
    // Graph settings and refuses a file without a `[graph]` table (see the report).
    if args.contains(&"retention") {
        c.env("TENANTVAULT_CONFIG", &cfg);
    }
    let out = c.args(args).output().await.expect("run tenantvault");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// Snapshot entries of the plan for `owner`: (removed?, rule).
fn entries_of(plan: &Value, owner: &str) -> Vec<(bool, String)> {
    plan["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["owner"]["owner"] == owner && e["target"]["kind"] == "snapshot")
        .map(|e| {
            (
                e["blocked"].is_null(),
                e["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departed_mailbox_outlives_microsoft_and_follows_the_departed_policy() {
    let mut cfg = EmulatorConfig {
        seed: 97,
        users: 3,
        generator: GeneratorConfig {
            messages_per_mailbox: 4,
            events_per_mailbox: 1,
            contacts_per_mailbox: 1,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    run(&emu, &repo, None, &["repo", "init"]).await;

    let first = json(&run(&emu, &repo, None, &["--json", "backup", "exchange"]).await);
    let leaver = first["mailboxes"][0]["mailbox"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stayer = first["mailboxes"][1]["mailbox"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = reqwest::Client::new()
        .post(format!("{}/_emulator/scenarios/departure", emu.base_url()))
        .json(&serde_json::json!({"user": leaver, "mailboxRetentionDays": 0}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let left = Utc::now();
    let second = json(&run(&emu, &repo, None, &["--json", "backup", "exchange"]).await);
    assert!(
        second["mailboxes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mailbox"]["id"] == leaver.as_str() && m["departed"] == true)
    );

    // 30 and 123 days later (Microsoft has deleted the mailbox and the OneDrive): nothing of
    // the departed user is removed, while the others follow the standard policy.
    for days in [31, 124] {
        let at = left + Duration::days(days);
        let plan = json(&run(&emu, &repo, Some(at), &["--json", "retention", "plan"]).await);
        assert!(entries_of(&plan, &leaver).is_empty(), "day {days}: {plan}");
        let others = entries_of(&plan, &stayer);
        assert_eq!(others.len(), 1, "{plan}");
        assert!(others[0].0 && others[0].1.starts_with("snapshot rule"));
    }
    let at = left + Duration::days(124);
    let applied = json(&run(&emu, &repo, Some(at), &["--json", "retention", "apply"]).await);
    assert!(applied["snapshots_deleted"].as_u64().unwrap() >= 2);
    let snaps = json(&run(&emu, &repo, None, &["--json", "snapshots"]).await);
    let of_leaver = snaps
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["owner"] == leaver.as_str())
        .count();
    assert_eq!(
        of_leaver, 2,
        "both restore points of the departed user stay"
    );

    // A year and a day after the departure the departed policy ends.
    let at = left + Duration::days(367);
    let plan = json(&run(&emu, &repo, Some(at), &["--json", "retention", "plan"]).await);
    let gone = entries_of(&plan, &leaver);
    assert_eq!(gone.len(), 2, "{plan}");
    assert!(
        gone.iter()
            .all(|(removed, rule)| *removed && rule.starts_with("departed "))
    );
}
