//! The binary against an in-process emulator: [`Tv`] is a repository directory (repository,
//! cache, scratch space) with the Graph credentials of one emulator, and runs `tenantvault`
//! there without blocking the emulator's runtime.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use tenantvault_emulator::Emulator;

/// Passphrase of every repository a [`Tv`] creates.
pub const TV_PASSWORD: &str = "emulator cli test";

/// `tenantvault` with `dir/repo`, `dir/cache` and the credentials of `emu`.
pub struct Tv<'a> {
    pub emu: &'a Emulator,
    pub dir: PathBuf,
    /// `TENANTVAULT_CONFIG` for every command (none: the variable is removed).
    pub config: Option<PathBuf>,
}

impl<'a> Tv<'a> {
    pub fn new(emu: &'a Emulator, dir: &Path) -> Tv<'a> {
        Tv {
            emu,
            dir: dir.to_path_buf(),
            config: None,
        }
    }

    /// The same directory and emulator with `TENANTVAULT_CONFIG=path`.
    pub fn with_config(&self, path: &Path) -> Tv<'a> {
        Tv {
            emu: self.emu,
            dir: self.dir.clone(),
            config: Some(path.to_path_buf()),
        }
    }

    pub fn repo(&self) -> PathBuf {
        self.dir.join("repo")
    }

    pub fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// A path below the directory, e.g. an export target.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// `path(rel)` as the `&str` a command line takes.
    pub fn arg(&self, rel: &str) -> String {
        self.path(rel).to_str().expect("utf-8 path").to_string()
    }

    /// The command with repository, passphrase, cache and Graph credentials set; no other
    /// configuration from the environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tenantvault"));
        c.env("TENANTVAULT_REPO", self.repo())
            .env("TENANTVAULT_PASSWORD", TV_PASSWORD)
            .env("TENANTVAULT_CACHE_DIR", self.cache())
            .env("AZURE_TENANT_ID", self.emu.tenant_id())
            .env("AZURE_CLIENT_ID", self.emu.client_id())
            .env("AZURE_CLIENT_SECRET", self.emu.client_secret())
            .env("AZURE_AUTHORITY_HOST", self.emu.base_url())
            .env("TENANTVAULT_GRAPH_BASE", self.emu.graph_url())
            .env_remove("TENANTVAULT_GRAPH_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        match &self.config {
            Some(p) => c.env("TENANTVAULT_CONFIG", p),
            None => c.env_remove("TENANTVAULT_CONFIG"),
        };
        c
    }

    /// Runs the binary with `args` (on a blocking thread: the emulator serves meanwhile).
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        tokio::task::spawn_blocking(move || c.output().expect("run tenantvault"))
            .await
            .expect("tenantvault runner")
    }

    /// Runs with `--json`, asserts success, parses stdout.
    pub async fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        json_of(&self.run(&all).await)
    }

    /// Runs and asserts the exit code; returns the output for further checks.
    pub async fn expect_exit(&self, code: i32, args: &[&str]) -> Output {
        let out = self.run(args).await;
        assert_eq!(
            out.status.code(),
            Some(code),
            "tenantvault {args:?}: expected exit {code}\n{}",
            text(&out)
        );
        out
    }

    /// `repo init` with a cheap Argon2id cost, so that commands do not spend their time
    /// unlocking.
    pub async fn init(&self) {
        self.expect_exit(
            0,
            &[
                "repo",
                "init",
                "--kdf-memory",
                "64KiB",
                "--kdf-iterations",
                "1",
            ],
        )
        .await;
    }
}

/// Stderr then stdout, for assertion messages and text checks.
pub fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    )
}

/// Asserts success and parses stdout as JSON.
pub fn json_of(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(o));
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", text(o)))
}

/// Files below `dir` (relative paths, sorted); none when it does not exist.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
