//! Shared helpers of the Exchange integration tests: an in-process emulator, a Graph client for
//! it, a fresh repository, and a content-level dump of a snapshot for comparisons.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use tenantvault_emulator::{Emulator, EmulatorConfig, EndpointClass, GeneratorConfig};
use tenantvault_graph::{Credential, GraphClient, GraphConfig, RetryPolicy, SecretString};
use tenantvault_repo::{InitOptions, ItemRecord, KdfParams, LocalStorage, Repository, Snapshot};
use tenantvault_workloads::exchange::{BackupConfig, BackupReport, Selection};

/// A small tenant: `users` users (some shared/disabled/guest), few messages, fast.
pub fn small_tenant(seed: u64, users: usize, messages: u32) -> EmulatorConfig {
    let mut cfg = EmulatorConfig {
        seed,
        users,
        generator: GeneratorConfig {
            messages_per_mailbox: messages,
            user_folders: 3,
            events_per_mailbox: 4,
            contacts_per_mailbox: 3,
            ..GeneratorConfig::default()
        },
        ..EmulatorConfig::default()
    };
    cfg.throttling.enabled = false;
    cfg
}

pub async fn start(cfg: EmulatorConfig) -> Emulator {
    Emulator::start(cfg).await.expect("emulator starts")
}

/// Graph settings for the emulator's full-permission app. Retries are quick so fault tests stay
/// fast (the emulator's Retry-After values are honoured regardless).
pub fn graph_config(emu: &Emulator) -> GraphConfig {
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
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(500),
        ..RetryPolicy::default()
    };
    cfg
}

pub fn graph(emu: &Emulator) -> GraphClient {
    GraphClient::new(graph_config(emu)).expect("graph client")
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

pub fn fast_config() -> BackupConfig {
    BackupConfig {
        page_size: 25,
        parallel_mailboxes: 4,
        ..BackupConfig::default()
    }
}

pub async fn backup(repo: &Repository, graph: &GraphClient, cfg: &BackupConfig) -> BackupReport {
    tenantvault_workloads::exchange::backup(repo, graph, cfg, &Selection::default(), None)
        .await
        .expect("backup run")
}

/// Requests the emulator answered for Outlook classes (mail, calendar, contacts).
pub fn outlook_requests(emu: &Emulator) -> u64 {
    let totals = emu.state().stats.totals();
    [
        EndpointClass::Mail,
        EndpointClass::Calendar,
        EndpointClass::Contacts,
    ]
    .iter()
    .filter_map(|c| totals.get(c))
    .map(|c| c.requests)
    .sum()
}

/// 429 answers for Outlook classes.
pub fn outlook_throttled(emu: &Emulator) -> u64 {
    let totals = emu.state().stats.totals();
    [
        EndpointClass::Mail,
        EndpointClass::Calendar,
        EndpointClass::Contacts,
    ]
    .iter()
    .filter_map(|c| totals.get(c))
    .map(|c| c.throttled)
    .sum()
}

/// What a snapshot holds, by item id: the record's identifying fields, the content bytes and
/// the metadata JSON bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ItemDump {
    pub kind: String,
    pub path: String,
    pub name: String,
    pub version: String,
    pub content: Vec<u8>,
    pub metadata: Vec<u8>,
    pub attrs: BTreeMap<String, String>,
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, x| {
        (h ^ *x as u64).wrapping_mul(0x100000001b3)
    })
}

impl std::fmt::Debug for ItemDump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?} {:?} v={} content={}B/{:x} metadata={}B/{:x} attrs={:?}",
            self.kind,
            self.path,
            self.name,
            self.version,
            self.content.len(),
            fnv(&self.content),
            self.metadata.len(),
            fnv(&self.metadata),
            self.attrs
        )
    }
}

/// Assert two dumps are equal, naming the first differing item.
pub fn assert_same(
    got: &BTreeMap<String, ItemDump>,
    want: &BTreeMap<String, ItemDump>,
    what: &str,
) {
    let only_got: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let only_want: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    assert!(
        only_got.is_empty() && only_want.is_empty(),
        "{what}: extra {only_got:?}, missing {only_want:?}"
    );
    for (k, w) in want {
        let g = &got[k];
        if g != w {
            let (gm, wm) = (
                String::from_utf8_lossy(&g.metadata),
                String::from_utf8_lossy(&w.metadata),
            );
            panic!(
                "{what}: item {k} differs\n got: {g:?}\nwant: {w:?}\n got JSON: {gm}\nwant JSON: {wm}"
            );
        }
    }
}

pub async fn dump(repo: &Repository, snap: &Snapshot) -> BTreeMap<String, ItemDump> {
    let items: Vec<ItemRecord> = snap.items().try_collect().await.expect("items");
    let mut out = BTreeMap::new();
    for it in items {
        let content: Vec<bytes::Bytes> = repo
            .content_stream(&it)
            .try_collect()
            .await
            .expect("content");
        let metadata = repo
            .item_metadata(&it)
            .await
            .expect("metadata")
            .unwrap_or_default();
        out.insert(
            it.id.clone(),
            ItemDump {
                kind: it.kind,
                path: it.path,
                name: it.name,
                version: it.version,
                content: content.concat(),
                metadata,
                attrs: it.attrs,
            },
        );
    }
    out
}

/// Latest complete snapshot of each mailbox in the report, by owner id.
pub async fn snapshots(repo: &Repository, report: &BackupReport) -> BTreeMap<String, Snapshot> {
    let mut out = BTreeMap::new();
    for m in &report.mailboxes {
        if let Some(id) = &m.snapshot {
            out.insert(
                m.mailbox.id.clone(),
                repo.snapshot(id).await.expect("snapshot"),
            );
        }
    }
    out
}
