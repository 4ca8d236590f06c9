//! The repository handle: init/open, keys, owners, blob reads.

use crate::chunker::ChunkerParams;
use crate::crypto::{
    BlobId, BlobKey, KdfParams, Key, MasterKeys, b64, open, random_hex, seal, unb64,
};
use crate::error::{Error, Result};
use crate::index::{IndexCache, Location};
use crate::keys::{self, KeyId, KeyInfo};
use crate::pack::pack_key;
use crate::storage::{PutOutcome, Storage, StorageError};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The only format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// Options for [`Repository::init`].
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub kdf: KdfParams,
    pub chunker: ChunkerParams,
    /// Target pack size in bytes (default 16 MiB).
    pub pack_target: u64,
    pub zstd_level: i32,
    /// Where the local index cache lives (default: see [`OpenOptions`]).
    pub cache_dir: Option<PathBuf>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: KdfParams::default(),
            chunker: ChunkerParams::default(),
            // 16 MiB (was 32 until session 4): a backup holds the pack being filled and the one
            // being written, so this bounds about half of its peak memory.
            pack_target: 16 * 1024 * 1024,
            // Level 2 (was 3 until session 4): about a third less compression time for
            // about 2 % more stored bytes. Existing repositories keep the level in their config.
            zstd_level: 2,
            cache_dir: None,
        }
    }
}

/// Options for [`Repository::open`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Base directory of the local caches; the repository's cache is `<dir>/<repo-id>/`.
    /// Default: `$XDG_CACHE_HOME/tenantvault` or `~/.cache/tenantvault` or a temp dir.
    pub cache_dir: Option<PathBuf>,
}

/// What `repo info` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    pub id: String,
    pub version: u64,
    pub created: DateTime<Utc>,
    pub chunker: ChunkerParams,
    pub pack_target: u64,
    pub zstd_level: i32,
    pub key_id: KeyId,
    pub cache_path: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConfigBody {
    pub version: u64,
    pub id: String,
    pub created: DateTime<Utc>,
    pub chunker: ChunkerParams,
    pub pack_target: u64,
    pub zstd_level: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConfigDoc {
    version: u64,
    id: String,
    sealed: String,
}

fn config_ad(id: &str) -> Vec<u8> {
    format!("tv1 config {id}").into_bytes()
}

pub(crate) struct Inner {
    pub storage: Arc<dyn Storage>,
    pub keys: MasterKeys,
    pub config: ConfigBody,
    pub cache: IndexCache,
    pub key_id: KeyId,
    pub owner_keys: Mutex<HashMap<String, Key>>,
}

/// An open repository. Cheap to clone.
#[derive(Clone)]
pub struct Repository {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("id", &self.inner.config.id)
            .finish()
    }
}

fn default_cache_base() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("tenantvault");
    }
    if let Some(h) = std::env::var_os("HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(h).join(".cache").join("tenantvault");
    }
    std::env::temp_dir().join("tenantvault-cache")
}

/// Read the plaintext part of `config`: refuses unknown versions before any decryption.
async fn read_config_doc(storage: &Arc<dyn Storage>) -> Result<ConfigDoc> {
    let bytes = match storage.get("config").await {
        Ok(b) => b,
        Err(StorageError::NotFound { .. }) => {
            return Err(Error::NotFound(
                "repository config (not a tenantvault repository?)".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::corrupt("config", e))?;
    let found = v
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| Error::corrupt("config", "no version field"))?;
    if found != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion { found });
    }
    serde_json::from_value(v).map_err(|e| Error::corrupt("config", e))
}

pub(crate) fn open_config(keys: &MasterKeys, doc: &ConfigDoc) -> Result<ConfigBody> {
    let sealed = unb64(&doc.sealed, "config")?;
    let body = open(&keys.meta_key, &config_ad(&doc.id), &sealed, "config")?;
    let body: ConfigBody =
        serde_json::from_slice(&body).map_err(|e| Error::corrupt("config", e))?;
    if body.id != doc.id || body.version != doc.version || !body.chunker.validate() {
        return Err(Error::corrupt(
            "config",
            "sealed body does not match the plaintext fields",
        ));
    }
    Ok(body)
}

impl Repository {
    /// Create a new repository in empty storage.
    pub async fn init(
        storage: Arc<dyn Storage>,
        passphrase: &str,
        opts: InitOptions,
    ) -> Result<Repository> {
        let storage = crate::storage::TamperGuard::wrap(storage);
        if !opts.chunker.validate() {
            return Err(Error::Invalid(
                "chunker parameters out of FastCDC's range".into(),
            ));
        }
        if opts.pack_target < 1024 {
            return Err(Error::Invalid("pack target must be at least 1 KiB".into()));
        }
        if !storage.list("").await?.is_empty() {
            return Err(Error::Invalid(
                "storage is not empty; refusing to init a repository there".into(),
            ));
        }
        let keys = MasterKeys::generate();
        let id = random_hex(16);
        let body = ConfigBody {
            version: FORMAT_VERSION,
            id: id.clone(),
            created: Utc::now(),
            chunker: opts.chunker,
            pack_target: opts.pack_target,
            zstd_level: opts.zstd_level,
        };
        let sealed = seal(
            &keys.meta_key,
            &config_ad(&id),
            &serde_json::to_vec(&body).expect("serializable"),
        );
        let doc = ConfigDoc {
            version: FORMAT_VERSION,
            id: id.clone(),
            sealed: b64(&sealed),
        };
        // Key slot first: a config without a slot would be unopenable.
        let (key_id, slot) = keys::make_slot(&keys, passphrase, opts.kdf)?;
        storage
            .put_if_absent(&format!("keys/{key_id}"), slot.into())
            .await?;
        let cfg = serde_json::to_vec_pretty(&doc).expect("serializable");
        if storage.put_if_absent("config", cfg.into()).await? == PutOutcome::AlreadyExists {
            let _ = storage.delete(&format!("keys/{key_id}")).await;
            return Err(Error::Invalid(
                "a repository was created concurrently in this storage".into(),
            ));
        }
        tracing::info!(repo = %id, "repository initialised");
        Self::finish_open(storage, keys, body, key_id, opts.cache_dir).await
    }

    /// Open an existing repository with a passphrase. Writes nothing.
    pub async fn open(
        storage: Arc<dyn Storage>,
        passphrase: &str,
        opts: OpenOptions,
    ) -> Result<Repository> {
        let storage = crate::storage::TamperGuard::wrap(storage);
        let doc = read_config_doc(&storage).await?;
        let slots = storage.list("keys/").await?;
        let mut unlocked = None;
        let mut damaged = None;
        let mut altered = None;
        for (k, _) in &slots {
            let bytes = storage.get(k).await?;
            let pass = passphrase.to_string();
            let obj = k.clone();
            let r = tokio::task::spawn_blocking(move || keys::try_slot(&obj, &bytes, &pass))
                .await
                .expect("kdf task");
            match r {
                Ok(keys::SlotUnlock::Unlocked(keys)) => {
                    unlocked = Some((k.trim_start_matches("keys/").to_string(), keys));
                    break;
                }
                Ok(keys::SlotUnlock::NotThisSlot) => {}
                // the passphrase fits an altered slot: refused (another slot may still open)
                Ok(keys::SlotUnlock::Altered(e)) => altered = Some(e),
                Err(e) => damaged = Some(e),
            }
        }
        let Some((key_id, keys)) = unlocked else {
            return Err(match (altered, damaged) {
                (Some(e), _) => e,
                (None, Some(e)) if slots.len() == 1 => e,
                _ => Error::WrongPassphrase,
            });
        };
        let body = open_config(&keys, &doc)?;
        Self::finish_open(storage, keys, body, key_id, opts.cache_dir).await
    }

    async fn finish_open(
        storage: Arc<dyn Storage>,
        keys: MasterKeys,
        config: ConfigBody,
        key_id: KeyId,
        cache_dir: Option<PathBuf>,
    ) -> Result<Repository> {
        let dir = cache_dir
            .unwrap_or_else(default_cache_base)
            .join(&config.id);
        let cache = tokio::task::spawn_blocking(move || IndexCache::open(&dir))
            .await
            .expect("cache open task")?;
        let repo = Repository {
            inner: Arc::new(Inner {
                storage,
                keys,
                config,
                cache,
                key_id,
                owner_keys: Mutex::new(HashMap::new()),
            }),
        };
        repo.catch_up_index().await?;
        Ok(repo)
    }

    /// Merge new index files into the local cache.
    pub(crate) async fn catch_up_index(&self) -> Result<()> {
        self.inner
            .cache
            .catch_up(&self.inner.storage, &self.inner.keys.meta_key)
            .await
    }

    /// Repository facts.
    pub fn info(&self) -> RepoInfo {
        let c = &self.inner.config;
        RepoInfo {
            id: c.id.clone(),
            version: c.version,
            created: c.created,
            chunker: c.chunker,
            pack_target: c.pack_target,
            zstd_level: c.zstd_level,
            key_id: self.inner.key_id.clone(),
            cache_path: self.inner.cache.path().to_path_buf(),
        }
    }

    /// The storage this repository lives in.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// Add a key slot for another passphrase (default Argon2id parameters).
    pub async fn add_key(&self, new_passphrase: &str) -> Result<KeyId> {
        self.add_key_with(new_passphrase, KdfParams::default())
            .await
    }

    /// Add a key slot with explicit Argon2id parameters.
    pub async fn add_key_with(&self, new_passphrase: &str, kdf: KdfParams) -> Result<KeyId> {
        let keys = self.inner.keys.clone();
        let pass = new_passphrase.to_string();
        let (id, slot) = tokio::task::spawn_blocking(move || keys::make_slot(&keys, &pass, kdf))
            .await
            .expect("kdf task")?;
        self.inner
            .storage
            .put_if_absent(&format!("keys/{id}"), slot.into())
            .await?;
        Ok(id)
    }

    /// List key slots.
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        let mut out = Vec::new();
        for (k, _) in self.inner.storage.list("keys/").await? {
            let id = k.trim_start_matches("keys/").to_string();
            let created = keys::slot_created(&k, &self.inner.storage.get(&k).await?)?;
            out.push(KeyInfo {
                current: id == self.inner.key_id,
                id,
                created,
            });
        }
        Ok(out)
    }

    /// Remove a key slot; removing the last one is refused.
    pub async fn remove_key(&self, id: &str) -> Result<()> {
        let slots = self.inner.storage.list("keys/").await?;
        let key = format!("keys/{id}");
        if !slots.iter().any(|(k, _)| *k == key) {
            return Err(Error::NotFound(format!("key {id}")));
        }
        if slots.len() <= 1 {
            return Err(Error::Invalid(
                "refusing to remove the last key slot".into(),
            ));
        }
        self.inner.storage.delete(&key).await?;
        Ok(())
    }

    /// Storage key of an owner's wrapped key (`owners/<oid>`). Deleting that object
    /// crypto-shreds the owner (the `erase` command builds on this).
    pub fn owner_object_key(&self, owner: &crate::model::OwnerRef) -> String {
        format!("owners/{}", self.owner_id(&owner.workload, &owner.owner))
    }

    /// Owner key id of an owner.
    pub(crate) fn owner_id(&self, workload: &str, owner: &str) -> String {
        keys::owner_id(&self.inner.keys, workload, owner)
    }

    /// The owner key, creating it if `create` (race-safe via put-if-absent).
    pub(crate) async fn owner_key(&self, oid: &str, create: bool) -> Result<Key> {
        if let Some(k) = self.inner.owner_keys.lock().get(oid) {
            return Ok(k.clone());
        }
        let object = format!("owners/{oid}");
        let got = self.inner.storage.get(&object).await;
        if matches!(got, Err(StorageError::NotFound { .. })) {
            // an erased owner: say so (and never create a new key for it)
            crate::erase::refuse_if_erased(self, oid).await?;
        }
        let key = match got {
            Ok(b) => keys::unwrap_owner_key(&self.inner.keys, oid, &b)?,
            Err(StorageError::NotFound { .. }) if create => {
                let k = Key::random();
                let doc = keys::wrap_owner_key(&self.inner.keys, oid, &k);
                match self
                    .inner
                    .storage
                    .put_if_absent(&object, doc.into())
                    .await?
                {
                    PutOutcome::Created => k,
                    PutOutcome::AlreadyExists => {
                        let b = self.inner.storage.get(&object).await?;
                        keys::unwrap_owner_key(&self.inner.keys, oid, &b)?
                    }
                }
            }
            Err(StorageError::NotFound { .. }) => {
                return Err(Error::OwnerKeyMissing {
                    oid: oid.to_string(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        self.inner
            .owner_keys
            .lock()
            .insert(oid.to_string(), key.clone());
        Ok(key)
    }

    /// Where a blob is; catches the cache up once on a miss (another writer may have added it).
    pub(crate) async fn locate(&self, id: &BlobId) -> Result<Location> {
        if let Some(l) = self.inner.cache.lookup(id)? {
            return Ok(l);
        }
        self.catch_up_index().await?;
        self.inner.cache.lookup(id)?.ok_or_else(|| {
            Error::corrupt(
                format!("blob {id}"),
                "not in any index file (missing pack or index)",
            )
        })
    }

    /// Read, decrypt and verify one blob.
    pub(crate) async fn read_blob(&self, id: &BlobId, key: &BlobKey) -> Result<Vec<u8>> {
        let loc = self.locate(id).await?;
        let object = pack_key(&loc.pack);
        let stored = self
            .inner
            .storage
            .get_range(&object, loc.offset, loc.stored_len as u64)
            .await
            .map_err(|e| match e {
                StorageError::NotFound { .. } => {
                    Error::corrupt(&object, format!("pack missing (needed for blob {id})"))
                }
                StorageError::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    Error::corrupt(&object, format!("pack truncated (blob {id})"))
                }
                e => e.into(),
            })?;
        let keys = self.inner.keys.clone();
        let (id, key) = (*id, *key);
        tokio::task::spawn_blocking(move || {
            crate::blob::decode(&keys, &id, &key, loc.plain_len as usize, &stored)
        })
        .await
        .expect("decode task")
        .map_err(|e| match e {
            Error::Corrupt { detail, .. } => Error::corrupt(object, format!("blob {id}: {detail}")),
            e => e,
        })
    }

    pub(crate) fn keys(&self) -> &MasterKeys {
        &self.inner.keys
    }

    pub(crate) fn config(&self) -> &ConfigBody {
        &self.inner.config
    }
}
