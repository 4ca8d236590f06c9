//! Local filesystem backend: one file per object, written atomically and never overwritten.

use super::{PutOutcome, Storage, StorageError, validate_key};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Objects stored as files under a root directory.
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Use `root` (created if missing) as the repository directory.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| StorageError::from_io(&root.to_string_lossy(), e))?;
        Ok(LocalStorage { root })
    }

    /// The repository directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }
}

fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn put_blocking(path: &Path, key: &str, data: &[u8]) -> Result<PutOutcome, StorageError> {
    let err = |e| StorageError::from_io(key, e);
    if path.exists() {
        return Ok(PutOutcome::AlreadyExists);
    }
    let dir = path.parent().expect("object keys have a parent directory");
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        // link(2) fails with EEXIST instead of replacing: put-if-absent without a race.
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(PutOutcome::Created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok(PutOutcome::AlreadyExists)
            }
            Err(e) => Err(e),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    let outcome = result.map_err(err)?;
    fsync_dir(dir).map_err(err)?;
    Ok(outcome)
}

/// Link a finished temporary file into place as `path` (put-if-absent, like [`put_blocking`]).
fn put_file_blocking(path: &Path, key: &str, file: &Path) -> Result<PutOutcome, StorageError> {
    let err = |e| StorageError::from_io(key, e);
    if path.exists() {
        return Ok(PutOutcome::AlreadyExists);
    }
    let dir = path.parent().expect("object keys have a parent directory");
    std::fs::create_dir_all(dir).map_err(err)?;
    let outcome = match std::fs::hard_link(file, path) {
        Ok(()) => PutOutcome::Created,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => PutOutcome::AlreadyExists,
        Err(e) => return Err(err(e)),
    };
    fsync_dir(dir).map_err(err)?;
    Ok(outcome)
}

#[async_trait]
impl Storage for LocalStorage {
    /// Packs are streamed to `data/.tmp-*` and linked into place (no copy, no pack in memory).
    fn staging_dir(&self) -> Option<PathBuf> {
        Some(self.root.join("data"))
    }

    async fn put_file_if_absent(&self, key: &str, file: &Path) -> Result<PutOutcome, StorageError> {
        let path = self.path(key)?;
        let key = key.to_string();
        let file = file.to_path_buf();
        tokio::task::spawn_blocking(move || put_file_blocking(&path, &key, &file))
            .await
            .expect("blocking write task")
    }

    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let path = self.path(key)?;
        let key = key.to_string();
        tokio::task::spawn_blocking(move || {
            std::fs::read(&path)
                .map(Bytes::from)
                .map_err(|e| StorageError::from_io(&key, e))
        })
        .await
        .expect("blocking read task")
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StorageError> {
        let path = self.path(key)?;
        let key = key.to_string();
        tokio::task::spawn_blocking(move || {
            let err = |e| StorageError::from_io(&key, e);
            let mut f = std::fs::File::open(&path).map_err(err)?;
            let size = f.metadata().map_err(err)?.len();
            if offset.checked_add(len).is_none_or(|end| end > size) {
                return Err(StorageError::Io {
                    key: key.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("range {offset}+{len} beyond object size {size}"),
                    ),
                });
            }
            f.seek(SeekFrom::Start(offset)).map_err(err)?;
            let mut buf = vec![0u8; len as usize];
            f.read_exact(&mut buf).map_err(err)?;
            Ok(Bytes::from(buf))
        })
        .await
        .expect("blocking read task")
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, StorageError> {
        let path = self.path(key)?;
        let key = key.to_string();
        tokio::task::spawn_blocking(move || put_blocking(&path, &key, &data))
            .await
            .expect("blocking write task")
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let root = self.root.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            // Walk only the top-level directory the prefix points into.
            let top = prefix.split('/').next().unwrap_or("");
            let start = if prefix.contains('/') {
                root.join(top)
            } else {
                root.clone()
            };
            let mut out = Vec::new();
            if !start.exists() {
                return Ok(out);
            }
            for entry in walkdir::WalkDir::new(&start).follow_links(false) {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e)
                        if e.io_error()
                            .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound) =>
                    {
                        continue;
                    }
                    Err(e) => {
                        return Err(StorageError::Io {
                            key: prefix.clone(),
                            source: e.into(),
                        });
                    }
                };
                if !entry.file_type().is_file() {
                    continue;
                }
                let Ok(rel) = entry.path().strip_prefix(&root) else {
                    continue;
                };
                let key = rel.to_string_lossy().replace('\\', "/");
                if key
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with(".tmp-"))
                    || !key.starts_with(&prefix)
                {
                    continue;
                }
                let size = match entry.metadata() {
                    Ok(m) => m.len(),
                    Err(_) => continue, // deleted while listing
                };
                out.push((key, size));
            }
            out.sort();
            Ok(out)
        })
        .await
        .expect("blocking list task")
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path(key)?;
        let key = key.to_string();
        tokio::task::spawn_blocking(move || match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::from_io(&key, e)),
        })
        .await
        .expect("blocking delete task")
    }

    /// Remove `.tmp-*` files (uploads a killed process left behind) last modified before
    /// `older_than`. Younger ones may belong to a writer that is still running.
    async fn clean_incomplete(&self, older_than: DateTime<Utc>) -> Result<u64, StorageError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || remove_stale_tmp(&root, older_than.into()))
            .await
            .expect("blocking clean task")
    }
}

fn remove_stale_tmp(root: &Path, cutoff: std::time::SystemTime) -> Result<u64, StorageError> {
    let mut removed = 0;
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let Ok(entry) = entry else { continue }; // vanished while walking
        let is_tmp = entry.file_name().to_string_lossy().starts_with(".tmp-");
        if !is_tmp || !entry.file_type().is_file() {
            continue;
        }
        let Some(modified) = entry.metadata().ok().and_then(|m| m.modified().ok()) else {
            continue;
        };
        if modified >= cutoff {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => {
                tracing::info!(path = %entry.path().display(), "removed stale temporary file");
                removed += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::from_io(&entry.path().to_string_lossy(), e)),
        }
    }
    Ok(removed)
}
