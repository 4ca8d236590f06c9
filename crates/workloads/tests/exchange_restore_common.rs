//! Helpers shared by the Exchange restore and export tests (included with `#[path]`; as its own
//! test target it holds no tests): an in-process emulator, a Graph client for it, a repository,
//! one backed-up mailbox.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use serde_json::Value;
use tenantvault_emulator::{Emulator, EmulatorConfig, GeneratorConfig};
use tenantvault_graph::{Credential, GraphClient, GraphConfig, RetryPolicy, SecretString};
use tenantvault_repo::{InitOptions, ItemRecord, KdfParams, LocalStorage, Repository, Snapshot};
use tenantvault_workloads::exchange::{self, BackupConfig, Selection};

pub fn tenant(seed: u64, users: usize, messages: u32) -> EmulatorConfig {
    let mut cfg = EmulatorConfig {
        seed,
        users,
        generator: GeneratorConfig {
            messages_per_mailbox: messages,
            user_folders: 2,
            attachment_rate: 0.5,
            events_per_mailbox: 3,
            contacts_per_mailbox: 3,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    cfg
}

pub fn graph_with(emu: &Emulator, client_id: String, secret: String) -> GraphClient {
    let mut cfg = GraphConfig::new(
        emu.tenant_id(),
        client_id,
        Credential::Secret(SecretString::new(secret)),
    );
    cfg.authority_host = emu.base_url().to_string();
    cfg.graph_base = emu.graph_url();
    cfg.read_timeout = Duration::from_secs(20);
    cfg.retry = RetryPolicy {
        max_attempts: 8,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    GraphClient::new(cfg).expect("graph client")
}

pub fn graph(emu: &Emulator) -> GraphClient {
    graph_with(emu, emu.client_id(), emu.client_secret())
}

pub async fn new_repo(dir: &Path) -> Repository {
    let storage = Arc::new(LocalStorage::new(dir.join("repo")).expect("storage"));
    Repository::init(
        storage,
        "pw",
        InitOptions {
            kdf: KdfParams::insecure_fast(),
            cache_dir: Some(dir.join("cache")),
            ..InitOptions::default()
        },
    )
    .await
    .expect("repo init")
}

/// Back up every mailbox; return the snapshots (owner id → snapshot) of mailboxes with messages.
pub async fn backup_all(repo: &Repository, graph: &GraphClient) -> Vec<(String, Snapshot)> {
    let cfg = BackupConfig {
        page_size: 50,
        parallel_mailboxes: 4,
        ..BackupConfig::default()
    };
    let report = exchange::backup(repo, graph, &cfg, &Selection::default(), None)
        .await
        .expect("backup");
    let mut out = Vec::new();
    for m in &report.mailboxes {
        if let Some(id) = &m.snapshot
            && m.messages_downloaded > 0
        {
            out.push((
                m.mailbox.upn.clone(),
                repo.snapshot(id).await.expect("snapshot"),
            ));
        }
    }
    assert!(!out.is_empty(), "no mailbox with messages was backed up");
    out
}

pub async fn items(snap: &Snapshot) -> Vec<ItemRecord> {
    snap.items().try_collect().await.expect("items")
}

pub async fn json_of(repo: &Repository, rec: &ItemRecord) -> Value {
    let raw = repo
        .item_metadata(rec)
        .await
        .expect("metadata")
        .expect("has metadata");
    serde_json::from_slice(&raw).expect("json")
}

pub async fn content_of(repo: &Repository, rec: &ItemRecord) -> Vec<u8> {
    let parts: Vec<bytes::Bytes> = repo
        .content_stream(rec)
        .try_collect()
        .await
        .expect("content");
    parts.concat()
}

/// Percent-encode a Graph id for a URL path.
pub fn enc(s: &str) -> String {
    tenantvault_workloads::exchange::restore::target::seg(s)
}
