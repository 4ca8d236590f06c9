//! [`S3Storage`]: the repository's [`Storage`] on an S3 bucket.

use crate::client::build_client;
use crate::convert::{from_aws, to_aws};
use crate::error::{S3Error, map_sdk};
use crate::location::{S3Location, S3Options};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumAlgorithm, ObjectLockEnabled, ObjectLockLegalHold,
    ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention, ObjectLockRetentionMode,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tenantvault_repo::storage::{
    LockCapabilities, LockMode, LockPolicy, ObjectVersion, PutOutcome, Storage, StorageError,
    validate_key,
};

/// The object (under the repository prefix) that records the repository's lock policy.
pub const LOCK_POLICY_KEY: &str = "lock-policy";

/// A repository in an S3 bucket. Objects are written once with `If-None-Match: *`, large ones
/// in parts; with a lock policy every object outside `owners/`, `sessions/` and `gc/` gets a
/// retain-until date. Reads of a versioned bucket can fall back to an object's first version.
#[derive(Debug, Clone)]
pub struct S3Storage {
    pub(crate) client: Client,
    pub(crate) loc: S3Location,
    pub(crate) opts: S3Options,
    pub(crate) versioned: bool,
    pub(crate) lock_enabled: bool,
    pub(crate) policy: Option<LockPolicy>,
}

impl S3Storage {
    /// Connect to an existing bucket and read its versioning, Object Lock state and the
    /// repository's lock policy (from the policy object's first version).
    pub async fn open(loc: S3Location, opts: S3Options) -> Result<Self, S3Error> {
        let client = build_client(&opts).await;
        let bucket = loc.bucket.clone();
        let bucket_err = move |reason: String| S3Error::Bucket {
            bucket: bucket.clone(),
            reason,
        };
        let versioned = match client
            .get_bucket_versioning()
            .bucket(&loc.bucket)
            .send()
            .await
        {
            Ok(v) => v.status() == Some(&BucketVersioningStatus::Enabled),
            // moto answers with a <GetBucketVersioningResponse> root that the SDK refuses;
            // a 200 with an unparsable body still says what the status is.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 200) => e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .is_some_and(|b| String::from_utf8_lossy(b).contains("<Status>Enabled</Status>")),
            Err(e) => return Err(bucket_err(map_sdk(&loc.bucket, e).to_string())),
        };
        let lock_enabled = match client
            .get_object_lock_configuration()
            .bucket(&loc.bucket)
            .send()
            .await
        {
            Ok(out) => {
                out.object_lock_configuration()
                    .and_then(|c| c.object_lock_enabled())
                    == Some(&ObjectLockEnabled::Enabled)
            }
            Err(_) => false, // ObjectLockConfigurationNotFoundError
        };
        let mut s = S3Storage {
            client,
            loc,
            opts,
            versioned,
            lock_enabled,
            policy: None,
        };
        s.policy = s.read_policy().await?;
        if s.policy.is_some() && !s.lock_enabled {
            return Err(bucket_err(
                "the repository has a lock policy but the bucket has no Object Lock".into(),
            ));
        }
        Ok(s)
    }

    /// Create a bucket (for tests and first setup), optionally with Object Lock (which
    /// also turns on versioning). An existing bucket owned by the caller is not an error.
    pub async fn create_bucket(
        opts: &S3Options,
        bucket: &str,
        object_lock: bool,
    ) -> Result<(), S3Error> {
        let client = build_client(opts).await;
        let mut req = client.create_bucket().bucket(bucket);
        if object_lock {
            req = req.object_lock_enabled_for_bucket(true);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(e) => Err(S3Error::Bucket {
                bucket: bucket.into(),
                reason: map_sdk(bucket, e).to_string(),
            }),
        }
    }

    /// Record the lock policy of a new repository. Refused when the bucket has no Object
    /// Lock, or when a policy already exists (a policy is written once).
    pub async fn init_lock_policy(&mut self, policy: LockPolicy) -> Result<(), S3Error> {
        if !self.lock_enabled || !self.versioned {
            return Err(S3Error::Bucket {
                bucket: self.loc.bucket.clone(),
                reason: "Object Lock is not enabled on this bucket (create it with Object Lock)"
                    .into(),
            });
        }
        if policy.days == 0 {
            return Err(S3Error::LockPolicy("lock days must be at least 1".into()));
        }
        if let Some(p) = self.read_policy().await? {
            return Err(S3Error::LockPolicy(format!(
                "this location already has a lock policy ({} {} days)",
                p.mode.as_str(),
                p.days
            )));
        }
        let doc = serde_json::json!({"version": 1, "mode": policy.mode, "days": policy.days});
        self.policy = Some(policy);
        let body = Bytes::from(doc.to_string());
        match self.put_if_absent(LOCK_POLICY_KEY, body).await {
            Ok(PutOutcome::Created) => Ok(()),
            Ok(PutOutcome::AlreadyExists) => {
                self.policy = None;
                Err(S3Error::LockPolicy(
                    "written concurrently by another process".into(),
                ))
            }
            Err(e) => {
                self.policy = None;
                Err(e.into())
            }
        }
    }

    async fn read_policy(&self) -> Result<Option<LockPolicy>, S3Error> {
        // The first version counts: an overwrite with shorter days is ignored.
        let bytes = match self.get_original(LOCK_POLICY_KEY, None).await? {
            Some(b) => b,
            None => match self.get(LOCK_POLICY_KEY).await {
                Ok(b) => b,
                Err(StorageError::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
        };
        #[derive(serde::Deserialize)]
        struct Doc {
            version: u32,
            mode: LockMode,
            days: u32,
        }
        let d: Doc = serde_json::from_slice(&bytes)
            .map_err(|e| S3Error::LockPolicy(format!("unreadable {LOCK_POLICY_KEY}: {e}")))?;
        if d.version != 1 {
            return Err(S3Error::LockPolicy(format!(
                "unknown version {}",
                d.version
            )));
        }
        Ok(Some(LockPolicy {
            mode: d.mode,
            days: d.days,
        }))
    }

    /// The bucket and prefix.
    pub fn location(&self) -> &S3Location {
        &self.loc
    }

    /// The SDK client (for tests and tools that need an operation the trait lacks).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn key(&self, key: &str) -> Result<String, StorageError> {
        validate_key(key)?;
        Ok(self.loc.full_key(key))
    }

    /// Object Lock headers for a new object under `key`, if any.
    pub(crate) fn lock_for(&self, key: &str) -> Option<(ObjectLockMode, DateTime<Utc>)> {
        let p = self.policy?;
        if !LockPolicy::applies_to(key) {
            return None;
        }
        let mode = match p.mode {
            LockMode::Compliance => ObjectLockMode::Compliance,
            LockMode::Governance => ObjectLockMode::Governance,
        };
        Some((mode, p.until(Utc::now())))
    }

    async fn get_inner(
        &self,
        key: &str,
        version: Option<&str>,
        range: Option<(u64, u64)>,
    ) -> Result<Bytes, StorageError> {
        let full = self.key(key)?;
        if let Some((_, 0)) = range {
            // S3 cannot express an empty range; check existence and bounds with HEAD.
            let size = self.head_size(&full, key, version).await?;
            let off = range.map(|r| r.0).unwrap_or(0);
            return if off <= size {
                Ok(Bytes::new())
            } else {
                Err(eof(key, off, 0, size))
            };
        }
        let mut req = self
            .client
            .get_object()
            .bucket(&self.loc.bucket)
            .key(&full)
            .set_version_id(version.map(str::to_string));
        if let Some((off, len)) = range {
            let end = off
                .checked_add(len - 1)
                .ok_or_else(|| eof(key, off, len, 0))?;
            req = req.range(format!("bytes={off}-{end}"));
        }
        let out = match req.send().await {
            Ok(o) => o,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => {
                let size = self.head_size(&full, key, version).await?;
                let (off, len) = range.unwrap_or((0, 0));
                return Err(eof(key, off, len, size));
            }
            Err(e) => return Err(map_sdk(key, e)),
        };
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| StorageError::Transient {
                key: key.to_string(),
                detail: format!("reading body: {e}"),
            })?;
        let bytes = body.into_bytes();
        if let Some((off, len)) = range
            && bytes.len() as u64 != len
        {
            return Err(eof(key, off, len, off + bytes.len() as u64));
        }
        Ok(bytes)
    }

    async fn head_size(
        &self,
        full: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<u64, StorageError> {
        let h = self
            .client
            .head_object()
            .bucket(&self.loc.bucket)
            .key(full)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(|e| map_sdk(key, e))?;
        Ok(h.content_length().unwrap_or(0).max(0) as u64)
    }

    /// Walks every page of `ListObjectVersions` under the full key prefix `full` (`key` names it
    /// in errors), handing each page to `each`.
    async fn version_pages(
        &self,
        full: &str,
        key: &str,
        mut each: impl FnMut(&aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput),
    ) -> Result<(), StorageError> {
        let (mut key_marker, mut vid_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.loc.bucket)
                .prefix(full)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(vid_marker.take())
                .send()
                .await
                .map_err(|e| map_sdk(key, e))?;
            each(&page);
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_string);
            vid_marker = page.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() {
                return Ok(());
            }
        }
    }

    /// Versions of `key` (not delete markers), oldest first, plus whether any delete marker
    /// exists.
    pub(crate) async fn list_versions(
        &self,
        key: &str,
    ) -> Result<(Vec<ObjectVersion>, Vec<String>), StorageError> {
        let full = self.key(key)?;
        let mut out = Vec::new();
        let mut markers = Vec::new();
        self.version_pages(&full, key, |page| {
            for v in page.versions() {
                if v.key() != Some(full.as_str()) {
                    continue;
                }
                out.push(ObjectVersion {
                    version_id: v.version_id().unwrap_or("null").to_string(),
                    size: v.size().unwrap_or(0).max(0) as u64,
                    modified: v.last_modified().map(from_aws).unwrap_or_default(),
                    latest: v.is_latest().unwrap_or(false),
                });
            }
            for m in page.delete_markers() {
                if m.key() == Some(full.as_str()) {
                    markers.push(m.version_id().unwrap_or("null").to_string());
                }
            }
        })
        .await?;
        // S3 lists a key's versions newest first; keep that order's reverse, stable on ties.
        out.reverse();
        out.sort_by_key(|v| v.modified);
        Ok((out, markers))
    }

    /// HeadObject of the version the repository wrote (its lock date and legal-hold flag
    /// headers), with that version's id (`None` in an unversioned bucket).
    async fn head_original(
        &self,
        key: &str,
    ) -> Result<
        (
            aws_sdk_s3::operation::head_object::HeadObjectOutput,
            Option<String>,
        ),
        StorageError,
    > {
        let full = self.key(key)?;
        let vid = self.original_version(key).await?;
        let h = self
            .client
            .head_object()
            .bucket(&self.loc.bucket)
            .key(&full)
            .set_version_id(vid.clone())
            .send()
            .await
            .map_err(|e| map_sdk(key, e))?;
        Ok((h, vid))
    }

    /// The version the repository wrote (the oldest), if the bucket keeps versions.
    async fn original_version(&self, key: &str) -> Result<Option<String>, StorageError> {
        if !self.versioned {
            return Ok(None);
        }
        let (v, _) = self.list_versions(key).await?;
        Ok(v.into_iter().next().map(|v| v.version_id))
    }
}

fn eof(key: &str, off: u64, len: u64, size: u64) -> StorageError {
    StorageError::Io {
        key: key.to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("range {off}+{len} beyond object size {size}"),
        ),
    }
}

#[async_trait]
impl Storage for S3Storage {
    async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        self.get_inner(key, None, None).await
    }

    async fn get_range(&self, key: &str, offset: u64, len: u64) -> Result<Bytes, StorageError> {
        self.get_inner(key, None, Some((offset, len))).await
    }

    async fn put_if_absent(&self, key: &str, data: Bytes) -> Result<PutOutcome, StorageError> {
        let full = self.key(key)?;
        if data.len() >= self.opts.multipart_threshold {
            return crate::multipart::put(self, key, &full, data).await;
        }
        let mut req = self
            .client
            .put_object()
            .bucket(&self.loc.bucket)
            .key(&full)
            .if_none_match("*")
            .checksum_algorithm(ChecksumAlgorithm::Crc32C)
            .body(ByteStream::from(data));
        if let Some((mode, until)) = self.lock_for(key) {
            req = req
                .object_lock_mode(mode)
                .object_lock_retain_until_date(to_aws(until));
        }
        match req.send().await {
            Ok(_) => Ok(PutOutcome::Created),
            Err(e) => match map_sdk(key, e) {
                StorageError::AlreadyExists { .. } => Ok(PutOutcome::AlreadyExists),
                other => Err(other),
            },
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StorageError> {
        let full = self.loc.full_key(prefix);
        let mut out = Vec::new();
        let mut token = None::<String>;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.loc.bucket)
                .prefix(&full)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| map_sdk(prefix, e))?;
            for o in page.contents() {
                let Some(k) = o.key().and_then(|k| self.loc.repo_key(k)) else {
                    continue;
                };
                if k == LOCK_POLICY_KEY || !k.starts_with(prefix) {
                    continue;
                }
                out.push((k.to_string(), o.size().unwrap_or(0).max(0) as u64));
            }
            token = page.next_continuation_token().map(str::to_string);
            if page.is_truncated() != Some(true) || token.is_none() {
                break;
            }
        }
        out.sort();
        Ok(out)
    }

    /// Deletes every version of `key`, oldest first, so that a locked original stops the
    /// delete before anything is removed ([`StorageError::Locked`]).
    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let full = self.key(key)?;
        let targets: Vec<Option<String>> = if self.versioned {
            let (mut versions, mut markers) = self.list_versions(key).await?;
            if versions.is_empty() && markers.is_empty() {
                // Nothing listed: gone, or a listing that missed it (seen with moto). Never
                // fall back to a plain delete on a locking bucket: it would only hide the key.
                match self.head_size(&full, key, None).await {
                    Err(StorageError::NotFound { .. }) => return Ok(()),
                    Err(e) => return Err(e),
                    Ok(_) => {
                        (versions, markers) = self.list_versions(key).await?;
                        if versions.is_empty() && self.lock_enabled {
                            return Err(StorageError::Backend {
                                key: key.to_string(),
                                detail: "object exists but its versions are not listed".into(),
                            });
                        }
                    }
                }
            }
            versions
                .into_iter()
                .map(|v| Some(v.version_id))
                .chain(markers.into_iter().map(Some))
                .collect()
        } else {
            vec![None]
        };
        for vid in targets {
            let r = self
                .client
                .delete_object()
                .bucket(&self.loc.bucket)
                .key(&full)
                .set_version_id(vid.clone())
                .send()
                .await;
            match r {
                Ok(_) => {}
                Err(e) => match map_sdk(key, e) {
                    StorageError::NotFound { .. } => {}
                    // A worker may delete its own session markers but not versions: a
                    // delete marker hides the object, which is all the repository needs.
                    StorageError::PermissionDenied { .. }
                        if vid.is_some() && !LockPolicy::applies_to(key) =>
                    {
                        self.client
                            .delete_object()
                            .bucket(&self.loc.bucket)
                            .key(&full)
                            .send()
                            .await
                            .map_err(|e| map_sdk(key, e))?;
                        return Ok(());
                    }
                    StorageError::PermissionDenied { .. } if self.lock_enabled => {
                        let until = self.lock_until(key).await.ok().flatten();
                        return Err(StorageError::Locked {
                            key: key.to_string(),
                            until,
                        });
                    }
                    other => return Err(other),
                },
            }
        }
        Ok(())
    }

    fn lock_capabilities(&self) -> LockCapabilities {
        LockCapabilities {
            object_lock: self.lock_enabled,
            legal_hold: self.lock_enabled,
            versioned: self.versioned,
            policy: self.policy,
        }
    }

    /// Read from HeadObject of the original version (moto's GetObjectRetention body is
    /// broken, and HEAD carries the same date).
    async fn lock_until(&self, key: &str) -> Result<Option<DateTime<Utc>>, StorageError> {
        if !self.lock_enabled {
            return Ok(None);
        }
        let (h, _) = self.head_original(key).await?;
        let held = h.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On);
        let until = h.object_lock_retain_until_date().map(from_aws);
        Ok(match until {
            Some(u) if u > Utc::now() => Some(u),
            _ if held => Some(DateTime::<Utc>::MAX_UTC),
            _ => None,
        })
    }

    async fn extend_lock(&self, key: &str, until: DateTime<Utc>) -> Result<(), StorageError> {
        let Some(policy) = self.policy.filter(|_| self.lock_enabled) else {
            return Err(StorageError::Unsupported {
                operation: "extend_lock (no lock policy on this repository)",
            });
        };
        let full = self.key(key)?;
        let (h, vid) = self.head_original(key).await?;
        if h.object_lock_retain_until_date()
            .map(from_aws)
            .is_some_and(|cur| cur >= until)
        {
            return Ok(()); // never shorten
        }
        let mode = match policy.mode {
            LockMode::Compliance => ObjectLockRetentionMode::Compliance,
            LockMode::Governance => ObjectLockRetentionMode::Governance,
        };
        self.client
            .put_object_retention()
            .bucket(&self.loc.bucket)
            .key(&full)
            .set_version_id(vid)
            .retention(
                ObjectLockRetention::builder()
                    .mode(mode)
                    .retain_until_date(to_aws(until))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| map_sdk(key, e))?;
        Ok(())
    }

    async fn set_legal_hold(&self, key: &str, on: bool) -> Result<(), StorageError> {
        if !self.lock_enabled {
            return Err(StorageError::Unsupported {
                operation: "set_legal_hold (the bucket has no Object Lock)",
            });
        }
        let full = self.key(key)?;
        let vid = self.original_version(key).await?;
        let status = if on {
            ObjectLockLegalHoldStatus::On
        } else {
            ObjectLockLegalHoldStatus::Off
        };
        self.client
            .put_object_legal_hold()
            .bucket(&self.loc.bucket)
            .key(&full)
            .set_version_id(vid)
            .legal_hold(ObjectLockLegalHold::builder().status(status).build())
            .send()
            .await
            .map_err(|e| map_sdk(key, e))?;
        Ok(())
    }

    /// Read from HeadObject of the original version (the flag's header).
    async fn legal_hold(&self, key: &str) -> Result<bool, StorageError> {
        if !self.lock_enabled {
            return Ok(false);
        }
        let (h, _) = self.head_original(key).await?;
        Ok(h.object_lock_legal_hold_status() == Some(&ObjectLockLegalHoldStatus::On))
    }

    async fn versions(&self, key: &str) -> Result<Vec<ObjectVersion>, StorageError> {
        if !self.versioned {
            return Ok(Vec::new());
        }
        Ok(self.list_versions(key).await?.0)
    }

    async fn get_original(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Option<Bytes>, StorageError> {
        if !self.versioned {
            return Ok(None);
        }
        let (versions, _) = self.list_versions(key).await?;
        if versions.len() < 2 {
            return Ok(None);
        }
        let first = &versions[0].version_id;
        tracing::warn!(key, version = %first, count = versions.len(), "reading the original version of an overwritten object");
        self.get_inner(key, Some(first), range).await.map(Some)
    }

    async fn overwritten(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        if !self.versioned {
            return Ok(Vec::new());
        }
        let full = self.loc.full_key(prefix);
        let mut counts: std::collections::BTreeMap<String, u32> = Default::default();
        self.version_pages(&full, prefix, |page| {
            for v in page.versions() {
                if let Some(k) = v.key().and_then(|k| self.loc.repo_key(k)) {
                    *counts.entry(k.to_string()).or_default() += 1;
                }
            }
        })
        .await?;
        Ok(counts
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(k, _)| k)
            .collect())
    }

    async fn clean_incomplete(&self, older_than: DateTime<Utc>) -> Result<u64, StorageError> {
        crate::multipart::abort_stale(self, older_than).await
    }
}
