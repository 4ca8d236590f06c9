//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use tenantvault_repo::*;

pub const PASS: &str = "test passphrase";

pub fn init_opts(cache: &Path) -> InitOptions {
    InitOptions {
        kdf: KdfParams::insecure_fast(),
        pack_target: 64 * 1024,
        cache_dir: Some(cache.to_path_buf()),
        ..Default::default()
    }
}

pub fn open_opts(cache: &Path) -> OpenOptions {
    OpenOptions {
        cache_dir: Some(cache.to_path_buf()),
    }
}

pub async fn init(storage: Arc<dyn Storage>, cache: &Path) -> Repository {
    Repository::init(storage, PASS, init_opts(cache))
        .await
        .unwrap()
}

pub fn meta(id: &str) -> ItemMeta {
    ItemMeta {
        id: id.into(),
        kind: "file".into(),
        path: "/".into(),
        name: id.into(),
        version: "1".into(),
        ..Default::default()
    }
}

/// Deterministic pseudo-random bytes.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub async fn read_item(repo: &Repository, snap: &Snapshot, item: &ItemRecord) -> Result<Vec<u8>> {
    use futures::TryStreamExt;
    let parts: Vec<bytes::Bytes> = repo.content_stream(item).try_collect().await?;
    let _ = snap;
    Ok(parts.concat())
}

pub async fn all_items(snap: &Snapshot) -> Result<Vec<ItemRecord>> {
    use futures::TryStreamExt;
    snap.items().try_collect().await
}
