//! Shared helpers of the drive integration tests: an in-process emulator with small drives,
//! a Graph client, a repository, the emulator's own view of a drive (the oracle) and a
//! content-level dump of a drive snapshot.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use tenantvault_emulator::drive::{DriveConfig, drive_state};
use tenantvault_emulator::{Emulator, EmulatorConfig, EndpointClass};
use tenantvault_graph::{Credential, GraphClient, GraphConfig, RetryPolicy, SecretString};
use tenantvault_repo::{InitOptions, ItemRecord, KdfParams, LocalStorage, Repository, Snapshot};
use tenantvault_workloads::drive::layout::full_path;
use tenantvault_workloads::drive::{DriveBackupConfig, DriveBackupReport, DriveSelection};

/// A small tenant: `users` users, small OneDrives, one multi-MB file, one extra site.
pub fn tenant(seed: u64, users: usize) -> EmulatorConfig {
    let mut cfg = EmulatorConfig {
        seed,
        users,
        drive: DriveConfig {
            files_per_drive: 10,
            folders_per_drive: 4,
            versioned_rate: 0.3,
            large_files: 1,
            large_file_size: 3 * 1024 * 1024 + 12_345,
            sites: 1,
            list_items: 3,
            ..DriveConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    cfg
}

pub async fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).await.expect("emulator starts")
}

pub fn graph(emu: &Emulator) -> GraphClient {
    graph_with(emu, |_| {})
}

/// A Graph client for `emu` with settings changed by `tune` (e.g. the resource-unit budget).
pub fn graph_with(emu: &Emulator, tune: impl FnOnce(&mut GraphConfig)) -> GraphClient {
    let mut cfg = GraphConfig::new(
        emu.tenant_id(),
        emu.client_id(),
        Credential::Secret(SecretString::new(emu.client_secret())),
    );
    cfg.authority_host = emu.base_url().to_string();
    cfg.graph_base = emu.graph_url();
    cfg.read_timeout = Duration::from_secs(20);
    cfg.retry = RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    tune(&mut cfg);
    GraphClient::new(cfg).expect("graph client")
}

pub async fn new_repo(dir: &Path) -> Repository {
    let storage = Arc::new(LocalStorage::new(dir.join("repo")).expect("storage"));
    Repository::init(
        storage,
        "test passphrase",
        InitOptions {
            kdf: KdfParams::insecure_fast(),
            cache_dir: Some(dir.join("cache")),
            ..InitOptions::default()
        },
    )
    .await
    .expect("repo init")
}

pub fn config() -> DriveBackupConfig {
    DriveBackupConfig {
        page_size: 7,
        parallel_drives: 3,
        ..DriveBackupConfig::default()
    }
}

pub async fn backup(
    repo: &Repository,
    graph: &GraphClient,
    cfg: &DriveBackupConfig,
    sel: &DriveSelection,
) -> DriveBackupReport {
    let r = tenantvault_workloads::drive::backup(repo, graph, cfg, sel, None)
        .await
        .expect("backup run");
    for d in &r.drives {
        assert!(
            d.error.is_none(),
            "drive {} failed: {:?}",
            d.drive.drive_id,
            d.error
        );
    }
    r
}

/// Bytes the emulator served from pre-authenticated content URLs (downloads).
pub fn content_bytes(emu: &Emulator) -> u64 {
    emu.state()
        .stats
        .totals()
        .get(&EndpointClass::Content)
        .map_or(0, |c| c.bytes)
}

/// Requests the emulator answered on drive and content URLs.
pub fn drive_requests(emu: &Emulator) -> u64 {
    let t = emu.state().stats.totals();
    [EndpointClass::Drive, EndpointClass::Content]
        .iter()
        .filter_map(|c| t.get(c))
        .map(|c| c.requests)
        .sum()
}

/// The emulator's live items of a drive: path below the root (`A/b.txt`) → content (`None`
/// for folders).
pub fn truth(emu: &Emulator, drive_id: &str) -> BTreeMap<String, Option<Vec<u8>>> {
    let ds = drive_state(emu.state());
    let store = ds.store.read();
    let d = store.drive(drive_id).expect("drive");
    let mut out = BTreeMap::new();
    for i in 1..d.items.len() as u32 {
        let it = d.item(i);
        if it.deleted.is_some() {
            continue;
        }
        let path = d.path_of(i).trim_start_matches('/').to_string();
        out.insert(path, it.content().map(|c| c.to_bytes().to_vec()));
    }
    out
}

/// Files and folders of a snapshot: path → content (`None` for folders), root left out.
pub async fn tree_of(repo: &Repository, snap: &Snapshot) -> BTreeMap<String, Option<Vec<u8>>> {
    let items: Vec<ItemRecord> = snap.items().try_collect().await.expect("items");
    let mut out = BTreeMap::new();
    for it in items {
        match it.kind.as_str() {
            "folder" => {
                let p = full_path(&it);
                if !p.is_empty() {
                    out.insert(p, None);
                }
            }
            "file" => {
                let content: Vec<bytes::Bytes> = repo
                    .content_stream(&it)
                    .try_collect()
                    .await
                    .expect("content");
                out.insert(full_path(&it), Some(content.concat()));
            }
            _ => {}
        }
    }
    out
}

/// Every record of a snapshot with content and metadata, by id (for run-to-run comparisons).
pub async fn dump(
    repo: &Repository,
    snap: &Snapshot,
) -> BTreeMap<String, (String, String, Vec<u8>, BTreeMap<String, String>)> {
    let items: Vec<ItemRecord> = snap.items().try_collect().await.expect("items");
    let mut out = BTreeMap::new();
    for it in items {
        let content: Vec<bytes::Bytes> = repo
            .content_stream(&it)
            .try_collect()
            .await
            .expect("content");
        out.insert(
            it.id.clone(),
            (
                it.path.clone(),
                it.name.clone(),
                content.concat(),
                it.attrs.clone(),
            ),
        );
    }
    out
}

pub async fn admin(emu: &Emulator, path: &str, body: serde_json::Value) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", emu.base_url()))
        .json(&body)
        .send()
        .await
        .expect("admin call");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.expect("admin json")
}
