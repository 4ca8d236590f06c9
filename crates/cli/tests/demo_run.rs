//! `tenantvault demo` runs end to end and exits 0, showing a deleted message from the first backup
//! and restoring it into the mailbox as a real (non-draft) message.

use std::process::Command;

#[test]
fn demo_runs_and_shows_a_deleted_message() {
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("demo-repo");
    let out = Command::new(env!("CARGO_BIN_EXE_tenantvault"))
        .args(["demo", "--users", "4", "--messages", "30", "--demo-repo"])
        .arg(&keep)
        .env_remove("TENANTVAULT_REPO")
        .output()
        .expect("run the demo");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for step in [
        "1. ",
        "3. First backup",
        "5. Second backup",
        "6. A message the tenant no longer has",
        "subject ",
        "MIME",
        "7. Restoring it into the mailbox",
        "restored to Restored ",
        "isDraft false",
    ] {
        assert!(err.contains(step), "missing {step:?} in:\n{err}");
    }
    assert!(
        err.contains("| From:") || err.contains("| Received:"),
        "MIME lines shown:\n{err}"
    );
    // The kept repository opens with the printed passphrase and holds both backups.
    let out = Command::new(env!("CARGO_BIN_EXE_tenantvault"))
        .args(["--json", "snapshots"])
        .arg("--repo")
        .arg(&keep)
        .env("TENANTVAULT_PASSWORD", "demo")
        .env("TENANTVAULT_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = snaps
        .as_array()
        .map(Vec::len)
        .or_else(|| snaps["snapshots"].as_array().map(Vec::len))
        .unwrap_or(0);
    assert!(n >= 8, "two backups of 4+ mailboxes: {n}");
}
