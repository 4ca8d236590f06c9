//! Multipart uploads of large packs, and cleaning up the ones a killed writer left behind.
//!
//! The upload is completed with `If-None-Match: *`, so of two writers uploading the same
//! pack only one completes; the other's parts are aborted. A writer killed mid-upload leaves
//! an unfinished upload that is invisible to readers (no object exists until completion);
//! [`abort_stale`] removes it (`Storage::clean_incomplete`).

use crate::convert::{from_aws, to_aws};
use crate::error::map_sdk;
use crate::storage::S3Storage;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use tenantvault_repo::storage::{PutOutcome, StorageError};

pub(crate) async fn put(
    s: &S3Storage,
    key: &str,
    full: &str,
    data: Bytes,
) -> Result<PutOutcome, StorageError> {
    // Skip the upload entirely when the pack is already there (a resumed backup).
    match s
        .client
        .head_object()
        .bucket(&s.loc.bucket)
        .key(full)
        .send()
        .await
    {
        Ok(_) => return Ok(PutOutcome::AlreadyExists),
        Err(e) => match map_sdk(key, e) {
            StorageError::NotFound { .. } => {}
            other => return Err(other),
        },
    }
    let mut create = s
        .client
        .create_multipart_upload()
        .bucket(&s.loc.bucket)
        .key(full)
        .checksum_algorithm(ChecksumAlgorithm::Crc32C);
    if let Some((mode, until)) = s.lock_for(key) {
        create = create
            .object_lock_mode(mode)
            .object_lock_retain_until_date(to_aws(until));
    }
    let upload = create.send().await.map_err(|e| map_sdk(key, e))?;
    let upload_id = upload
        .upload_id()
        .ok_or_else(|| StorageError::Backend {
            key: key.to_string(),
            detail: "CreateMultipartUpload returned no upload id".into(),
        })?
        .to_string();
    let result = upload_and_complete(s, key, full, &upload_id, data).await;
    if !matches!(result, Ok(PutOutcome::Created)) {
        let abort = s
            .client
            .abort_multipart_upload()
            .bucket(&s.loc.bucket)
            .key(full)
            .upload_id(&upload_id)
            .send()
            .await;
        if let Err(e) = abort {
            tracing::warn!(key, error = %map_sdk(key, e), "could not abort multipart upload; clean_incomplete will");
        }
    }
    result
}

async fn upload_and_complete(
    s: &S3Storage,
    key: &str,
    full: &str,
    upload_id: &str,
    data: Bytes,
) -> Result<PutOutcome, StorageError> {
    let part_size = s.opts.part_size.max(5 * 1024 * 1024);
    let count = data.len().div_ceil(part_size);
    let mut parts: Vec<CompletedPart> = futures::stream::iter(0..count)
        .map(|i| {
            let chunk = data.slice(i * part_size..((i + 1) * part_size).min(data.len()));
            let number = i as i32 + 1;
            async move {
                let out = s
                    .client
                    .upload_part()
                    .bucket(&s.loc.bucket)
                    .key(full)
                    .upload_id(upload_id)
                    .part_number(number)
                    .checksum_algorithm(ChecksumAlgorithm::Crc32C)
                    .body(ByteStream::from(chunk))
                    .send()
                    .await
                    .map_err(|e| map_sdk(key, e))?;
                Ok::<_, StorageError>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .set_checksum_crc32_c(out.checksum_crc32_c().map(str::to_string))
                        .build(),
                )
            }
        })
        .buffer_unordered(s.opts.part_concurrency.max(1))
        .try_collect()
        .await?;
    parts.sort_by_key(|p| p.part_number());
    let done = s
        .client
        .complete_multipart_upload()
        .bucket(&s.loc.bucket)
        .key(full)
        .upload_id(upload_id)
        .if_none_match("*")
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await;
    match done {
        Ok(_) => {
            ensure_lock(s, key, full).await;
            Ok(PutOutcome::Created)
        }
        Err(e) => match map_sdk(key, e) {
            StorageError::AlreadyExists { .. } => Ok(PutOutcome::AlreadyExists),
            other => Err(other),
        },
    }
}

/// Some S3-compatible servers (moto) drop the Object Lock given at CreateMultipartUpload
/// when the upload completes. Check with HEAD and set the retention if it is missing; if
/// that is not allowed (a least-privilege worker), `maintain locks` sets it later.
async fn ensure_lock(s: &S3Storage, key: &str, full: &str) {
    let Some((mode, until)) = s.lock_for(key) else {
        return;
    };
    let head = s
        .client
        .head_object()
        .bucket(&s.loc.bucket)
        .key(full)
        .send()
        .await;
    if head
        .as_ref()
        .is_ok_and(|h| h.object_lock_retain_until_date().is_some())
    {
        return;
    }
    let mode = match mode {
        aws_sdk_s3::types::ObjectLockMode::Compliance => {
            aws_sdk_s3::types::ObjectLockRetentionMode::Compliance
        }
        _ => aws_sdk_s3::types::ObjectLockRetentionMode::Governance,
    };
    let r = s
        .client
        .put_object_retention()
        .bucket(&s.loc.bucket)
        .key(full)
        .set_version_id(head.ok().and_then(|h| h.version_id().map(str::to_string)))
        .retention(
            aws_sdk_s3::types::ObjectLockRetention::builder()
                .mode(mode)
                .retain_until_date(to_aws(until))
                .build(),
        )
        .send()
        .await;
    if let Err(e) = r {
        tracing::warn!(key, error = %map_sdk(key, e), "the server dropped the multipart upload's lock and it could not be set; `maintain locks` will");
    }
}

/// Abort multipart uploads under the repository prefix that started before `older_than`.
pub(crate) async fn abort_stale(
    s: &S3Storage,
    older_than: DateTime<Utc>,
) -> Result<u64, StorageError> {
    let prefix = if s.loc.prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", s.loc.prefix)
    };
    let mut stale = Vec::new();
    let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
    loop {
        let page = s
            .client
            .list_multipart_uploads()
            .bucket(&s.loc.bucket)
            .prefix(&prefix)
            .set_key_marker(key_marker.clone())
            .set_upload_id_marker(id_marker.clone())
            .send()
            .await
            .map_err(|e| map_sdk(&prefix, e))?;
        for u in page.uploads() {
            let (Some(k), Some(id)) = (u.key(), u.upload_id()) else {
                continue;
            };
            if u.initiated().map(from_aws).is_some_and(|t| t < older_than) {
                stale.push((k.to_string(), id.to_string()));
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_string);
        id_marker = page.next_upload_id_marker().map(str::to_string);
        if key_marker.is_none() && id_marker.is_none() {
            break;
        }
    }
    let mut n = 0;
    for (k, id) in stale {
        match s
            .client
            .abort_multipart_upload()
            .bucket(&s.loc.bucket)
            .key(&k)
            .upload_id(&id)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(key = %k, upload = %id, "aborted stale multipart upload");
                n += 1;
            }
            Err(e) => match map_sdk(&k, e) {
                StorageError::NotFound { .. } => {}
                other => return Err(other),
            },
        }
    }
    Ok(n)
}
