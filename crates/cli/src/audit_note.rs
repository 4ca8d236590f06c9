//! What the audit log learns about a command run: the one hook in `commands::run` appends a
//! record after every command that opened a repository, and commands add details through the
//! small API here.
//!
//! ```ignore
//! crate::audit_note::set("items", summary.stats.items);   // counts, ids, targets …
//! crate::audit_note::owner("exchange:alice@example.com");  // whose data was touched
//! ```
//!
//! `context::open` registers the repository; a command that creates or opens one otherwise
//! calls [`opened`]. Arguments are recorded as given on the command line, with values of
//! secret-looking options (`*secret*`, `*token*`, `*passw*` other than file paths) replaced by
//! `***`. Passphrases never appear on the command line (file, environment or prompt).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{LazyLock, Mutex};

use clap::parser::ValueSource;
use serde::Serialize;
use tenantvault_repo::{AuditRecord, Repository};

use crate::exit;

#[derive(Default)]
struct State {
    repo: Option<Repository>,
    details: serde_json::Map<String, serde_json::Value>,
    owners: BTreeSet<String>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(Mutex::default);

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers the repository the command works on (the record goes there).
pub fn opened(repo: &Repository) {
    state().repo = Some(repo.clone());
}

/// Adds a detail (a count, an id, a target) to this command's audit record.
pub fn set(key: &str, value: impl Serialize) {
    let v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    state().details.insert(key.to_string(), v);
}

/// Names an owner whose data the command touched (`workload:owner` or the owner name).
pub fn owner(owner: impl Into<String>) {
    state().owners.insert(owner.into());
}

/// Who runs this process: `user@host`.
pub fn actor() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host}")
}

fn secret(id: &str) -> bool {
    let id = id.to_ascii_lowercase();
    (id.contains("secret") || id.contains("token") || id.contains("passw")) && !id.ends_with("file")
}

/// The operation (subcommand path) and the arguments given on the command line.
fn describe(argv: &[std::ffi::OsString]) -> (String, BTreeMap<String, String>) {
    let root = <crate::Cli as clap::CommandFactory>::command();
    let Ok(matches) = root.clone().try_get_matches_from(argv) else {
        return ("unknown".into(), BTreeMap::new());
    };
    let mut names = Vec::new();
    let mut args = BTreeMap::new();
    let (mut cmd, mut m) = (&root, &matches);
    loop {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if m.value_source(id) != Some(ValueSource::CommandLine) {
                continue;
            }
            let Ok(Some(raw)) = m.try_get_raw(id) else {
                continue;
            };
            let value = if secret(id) {
                "***".to_string()
            } else {
                raw.map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            args.insert(id.to_string(), value);
        }
        match m.subcommand() {
            Some((name, sub)) => match cmd.find_subcommand(name) {
                Some(c) => {
                    names.push(name.to_string());
                    cmd = c;
                    m = sub;
                }
                None => break,
            },
            None => break,
        }
    }
    (names.join(" "), args)
}

/// Builds the record of a finished command.
fn build(
    argv: &[std::ffi::OsString],
    result: &anyhow::Result<u8>,
    now: chrono::DateTime<chrono::Utc>,
) -> AuditRecord {
    let (operation, args) = describe(argv);
    let code = match result {
        Ok(c) => *c,
        Err(e) => exit::code_for(e),
    };
    let outcome = match code {
        exit::OK => "ok",
        exit::PARTIAL => "partial",
        exit::USAGE | exit::HELD => "refused",
        _ => "failed",
    };
    let mut st = state();
    let mut rec = AuditRecord::new(now, operation, actor(), outcome);
    let mut owners: BTreeSet<String> = std::mem::take(&mut st.owners);
    if let Some(o) = args.get("owner") {
        owners.extend(o.split(',').map(str::to_string));
    }
    // `alice` from --owner and `dir:alice` from the command: keep the qualified one
    let qualified: BTreeSet<String> = owners
        .iter()
        .filter_map(|o| o.split_once(':').map(|(_, name)| name.to_string()))
        .collect();
    owners.retain(|o| o.contains(':') || !qualified.contains(o));
    rec.owners = owners.into_iter().collect();
    let mut details = std::mem::take(&mut st.details);
    details.insert("exit_code".into(), code.into());
    if !args.is_empty() {
        details.insert("args".into(), serde_json::json!(args));
    }
    if let Err(e) = result {
        details.insert("error".into(), format!("{e:#}").into());
    }
    rec.details = serde_json::Value::Object(details);
    rec
}

/// Appends the record of the finished command to the repository it opened (if any), with a
/// signed checkpoint. Failing to record is reported on stderr; it does not change the
/// command's exit code (its effect has already happened).
pub async fn record(result: &anyhow::Result<u8>) {
    let Some(repo) = state().repo.take() else {
        return;
    };
    let now = crate::clock::now().unwrap_or_else(|_| chrono::Utc::now());
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let rec = build(&argv, result, now);
    let r = async {
        repo.audit_append(&rec).await?;
        repo.audit_checkpoint(now).await
    }
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, operation = %rec.operation, "cannot append to the audit log");
        eprintln!(
            "warning: the audit log could not record this {}: {e}",
            rec.operation
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(a: &[&str]) -> Vec<std::ffi::OsString> {
        std::iter::once("tenantvault")
            .chain(a.iter().copied())
            .map(Into::into)
            .collect()
    }

    #[test]
    fn operation_path_and_given_arguments_are_described() {
        let (op, args) = describe(&argv(&[
            "--repo", "/r", "restore", "abcd1234", "--owner", "alice", "--target", "/t",
        ]));
        assert_eq!(op, "restore");
        assert_eq!(args.get("owner").map(String::as_str), Some("alice"));
        assert_eq!(args.get("repo").map(String::as_str), Some("/r"));
        let (op, _) = describe(&argv(&["repo", "key", "list"]));
        assert_eq!(op, "repo key list");
        assert_eq!(describe(&argv(&["no-such-command"])).0, "unknown");
    }

    #[test]
    fn secret_looking_options_are_redacted() {
        assert!(secret("client_secret"));
        assert!(secret("api_token"));
        assert!(secret("new_password"));
        assert!(!secret("password_file"));
        assert!(!secret("owner"));
    }
}
