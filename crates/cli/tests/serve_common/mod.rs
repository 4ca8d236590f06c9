//! Helpers for the `serve` tests: an emulated tenant in this process, a repository, the
//! service started as the real binary, tokens for every role, a webhook receiver and an SMTP
//! sink on free local ports.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tenantvault_emulator::{Emulator, EmulatorConfig, GeneratorConfig};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

pub const BIN: &str = env!("CARGO_BIN_EXE_tenantvault");
pub const PASS: &str = "serve test";
pub const ROLES: [&str; 4] = ["admin", "operator", "auditor", "read-only"];

pub fn token(role: &str) -> String {
    format!("tv_test_token_for_{role}")
}

pub fn tenant(seed: u64, users: usize, messages: u32) -> EmulatorConfig {
    let mut cfg = EmulatorConfig {
        seed,
        users,
        generator: GeneratorConfig {
            messages_per_mailbox: messages,
            events_per_mailbox: 2,
            contacts_per_mailbox: 2,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    cfg
}

pub fn command(emu: &Emulator, dir: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TENANTVAULT_PASSWORD", PASS)
        .env("TENANTVAULT_CACHE_DIR", dir.join("cache"))
        .env("AZURE_TENANT_ID", emu.tenant_id())
        .env("AZURE_CLIENT_ID", emu.client_id())
        .env("AZURE_CLIENT_SECRET", emu.client_secret())
        .env("AZURE_AUTHORITY_HOST", emu.base_url())
        .env("TENANTVAULT_GRAPH_BASE", emu.graph_url())
        .arg("--repo")
        .arg(dir.join("repo"))
        .stdin(Stdio::null());
    c
}

pub async fn init_repo(emu: &Emulator, dir: &Path) {
    let out = command(emu, dir)
        .args([
            "repo",
            "init",
            "--kdf-memory",
            "64KiB",
            "--kdf-iterations",
            "1",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `[[api.tokens]]` for every role.
pub fn tokens_toml() -> String {
    ROLES
        .iter()
        .map(|r| {
            format!(
                "[[api.tokens]]\nname = \"{r}-token\"\nrole = \"{r}\"\nsha256 = \"{}\"\n",
                hex::encode(Sha256::digest(token(r).as_bytes()))
            )
        })
        .collect()
}

/// A running `tenantvault serve`.
pub struct Server {
    pub child: tokio::process::Child,
    pub base: String,
    pub http: reqwest::Client,
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    pub async fn start(emu: &Emulator, dir: &Path, config: &Path) -> Server {
        let mut child = command(emu, dir)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("RUST_LOG", "tenantvault=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                sink.lock().unwrap().push_str(&format!("{l}\n"));
            }
        });
        let out = child.stdout.take().unwrap();
        let mut lines = BufReader::new(out).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the service printed its address")
            .unwrap();
        let Some(first) = first else {
            let _ = child.wait().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            panic!("service exited: {}", stderr.lock().unwrap());
        };
        let base = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        // keep draining stdout so the service never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Server {
            child,
            base,
            http: reqwest::Client::new(),
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, role: Option<&str>, path: &str) -> (u16, Value) {
        let mut r = self.http.get(self.url(path));
        if let Some(role) = role {
            r = r.bearer_auth(token(role));
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, role: Option<&str>, path: &str, body: Value) -> (u16, Value) {
        let mut r = self.http.post(self.url(path)).json(&body);
        if let Some(role) = role {
            r = r.bearer_auth(token(role));
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Polls a run until it has ended; returns it.
    pub async fn wait_run(&self, id: u64, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let (code, run) = self
                .get(Some("read-only"), &format!("/api/v1/runs/{id}"))
                .await;
            assert_eq!(code, 200, "{run}");
            let status = run["status"].as_str().unwrap().to_string();
            if !["queued", "running"].contains(&status.as_str()) {
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "run {id} still {status}; service log:\n{}",
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// Collects webhook bodies.
pub async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    (format!("http://{addr}/hook"), got)
}

/// A minimal SMTP server that accepts every message and keeps its DATA.
pub async fn smtp_sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let sink = got.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                if w.write_all(b"220 sink ESMTP\r\n").await.is_err() {
                    return;
                }
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            sink.lock().unwrap().push(data.take().unwrap());
                            let _ = w.write_all(b"250 2.0.0 queued\r\n").await;
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 end with .\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        }
                        _ => b"250 OK\r\n",
                    };
                    if w.write_all(answer).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, got)
}

/// Waits until `f` holds.
pub async fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// `(METHOD, path)` of every route in `docs/openapi.yaml`.
pub fn documented_routes() -> Vec<(String, String)> {
    let yaml = include_str!("../../../../docs/openapi.yaml");
    let mut out = Vec::new();
    let mut in_paths = false;
    let mut path = None;
    for line in yaml.lines() {
        if !line.starts_with(' ') {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            path = Some(format!("/{}", p.trim_end().trim_end_matches(':')));
        } else if let Some(m) = line.strip_prefix("    ")
            && !m.starts_with(' ')
            && let Some(p) = &path
        {
            let m = m.trim_end().trim_end_matches(':');
            if ["get", "post"].contains(&m) {
                out.push((m.to_uppercase(), p.clone()));
            }
        }
    }
    out
}
