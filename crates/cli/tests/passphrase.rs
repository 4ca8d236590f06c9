//! Passphrases and key slots through the CLI: a wrong passphrase exits 4 and changes nothing;
//! key slots can be added, listed and removed; the last slot cannot be removed.

mod common;

use common::*;

#[test]
fn wrong_passphrase_exits_4_and_leaves_the_repository_unchanged() {
    let env = Env::new();
    let src = env.path("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello.txt"), b"hello").unwrap();
    env.init("256KiB");
    env.json(&["backup", "dir", src.to_str().unwrap(), "--owner", "alice"]);
    let before = listing(&env.repo());

    for args in [
        vec!["snapshots"],
        vec!["backup", "dir", src.to_str().unwrap(), "--owner", "alice"],
        vec!["check"],
        vec!["gc", "--grace", "0s"],
        vec!["repo", "key", "add"],
        vec![
            "restore",
            "latest",
            "--owner",
            "alice",
            "--target",
            "/nonexistent/should-not-be-created",
        ],
    ] {
        let out = run(env
            .cmd()
            .env("TENANTVAULT_PASSWORD", "not the passphrase")
            .env("TENANTVAULT_NEW_PASSWORD", "x")
            .args(&args));
        assert_code(&out, 4, &args);
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ") && err.contains("passphrase"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        listing(&env.repo()),
        before,
        "a wrong passphrase changed the repository"
    );
    assert!(!std::path::Path::new("/nonexistent/should-not-be-created").exists());
}

#[test]
fn password_file_and_key_slots() {
    let env = Env::new();
    env.init("256KiB");
    let pwfile = env.path("pw.txt");
    std::fs::write(&pwfile, format!("{PASSWORD}\nsecond line ignored\n")).unwrap();
    // --password-file wins over the environment
    let out = run(env.cmd().env("TENANTVAULT_PASSWORD", "wrong").args([
        "--password-file",
        pwfile.to_str().unwrap(),
        "snapshots",
    ]));
    assert_code(&out, 0, &["snapshots with --password-file"]);

    let keys = env.json(&["repo", "key", "list"]);
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "{keys}");
    let first_id = keys[0]["id"].as_str().unwrap().to_owned();

    let out = run(env
        .cmd()
        .env("TENANTVAULT_NEW_PASSWORD", "second passphrase")
        .args(["--json", "repo", "key", "add"]));
    assert_code(&out, 0, &["key add"]);
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let second_id = added["id"].as_str().unwrap().to_owned();
    assert_ne!(first_id, second_id);
    assert_eq!(
        env.json(&["repo", "key", "list"]).as_array().map(Vec::len),
        Some(2)
    );

    // the new passphrase opens the repository; remove the first slot with it
    let out = run(env
        .cmd()
        .env("TENANTVAULT_PASSWORD", "second passphrase")
        .args(["repo", "key", "remove", &first_id]));
    assert_code(&out, 0, &["key remove"]);
    assert_code(
        &env.run(&["snapshots"]),
        4,
        &["old passphrase after removal"],
    );

    // removing the last slot is refused
    let out = run(env
        .cmd()
        .env("TENANTVAULT_PASSWORD", "second passphrase")
        .args(["repo", "key", "remove", &second_id]));
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("last"), "{}", stderr(&out));
    let out = run(env
        .cmd()
        .env("TENANTVAULT_PASSWORD", "second passphrase")
        .args(["repo", "info"]));
    assert_code(&out, 0, &["info"]);
}

#[test]
fn missing_passphrase_without_terminal_is_a_usage_error() {
    let env = Env::new();
    let out = run(env
        .cmd()
        .env_remove("TENANTVAULT_PASSWORD")
        .args(["repo", "init"]));
    assert_code(&out, 2, &["init without passphrase"]);
    assert!(
        stderr(&out).contains("TENANTVAULT_PASSWORD"),
        "{}",
        stderr(&out)
    );
    assert!(!env.repo().exists());
}
