//! Upload sessions for restore: drive items (fragments in multiples of 320 KiB) and Outlook
//! attachments of 3–150 MB (chunks ≤ 4 MB). The upload URL is pre-authenticated: no token is
//! sent there. An interrupted upload resumes from the server's `nextExpectedRanges`.

use crate::client::{GraphClient, ReadMode, Spec};
use crate::error::{GraphError, Result};
use crate::secret::redact_url;
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use std::future::Future;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Drive fragments must be multiples of this (except the last).
pub const DRIVE_FRAGMENT_UNIT: usize = 320 * 1024;
/// Outlook: attachments at least this large need an upload session.
pub const OUTLOOK_SESSION_MIN: u64 = 3 * 1024 * 1024;
/// Outlook: largest attachment.
pub const OUTLOOK_SESSION_MAX: u64 = 150 * 1024 * 1024;

/// What the session uploads into (decides chunk rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadTarget {
    /// A OneDrive/SharePoint drive item.
    Drive,
    /// An Outlook message/event attachment.
    OutlookAttachment,
}

impl UploadTarget {
    /// The default chunk size: 10 × 320 KiB for drives, 3 MiB for Outlook (limit 4 MB).
    pub fn default_chunk(self) -> usize {
        match self {
            UploadTarget::Drive => 10 * DRIVE_FRAGMENT_UNIT,
            UploadTarget::OutlookAttachment => 3 * 1024 * 1024,
        }
    }

    fn check_chunk(self, chunk: usize) -> Result<()> {
        let ok = match self {
            UploadTarget::Drive => {
                chunk > 0 && chunk.is_multiple_of(DRIVE_FRAGMENT_UNIT) && chunk < 60 * 1024 * 1024
            }
            UploadTarget::OutlookAttachment => chunk > 0 && chunk <= 4_000_000,
        };
        if ok {
            Ok(())
        } else {
            Err(GraphError::InvalidRequest(format!(
                "chunk size {chunk} not allowed for {self:?} uploads"
            )))
        }
    }
}

/// An open upload session.
#[derive(Debug, Clone, Deserialize)]
pub struct UploadSession {
    /// Pre-authenticated URL for the fragments.
    #[serde(rename = "uploadUrl")]
    pub upload_url: String,
    /// When the session expires.
    #[serde(rename = "expirationDateTime", default)]
    pub expiration: Option<String>,
    /// Ranges the server still needs (`"0-"`, `"26-"`, `"12345-55232"`).
    #[serde(rename = "nextExpectedRanges", default)]
    pub next_expected_ranges: Vec<String>,
}

/// The finished upload.
#[derive(Debug, Clone)]
pub struct UploadOutcome {
    /// Final status (200/201).
    pub status: u16,
    /// `Location` (Outlook: the new attachment).
    pub location: Option<String>,
    /// The created item (drives), if the body was JSON.
    pub item: Option<serde_json::Value>,
}

/// Where upload bytes come from.
pub trait UploadSource: Send {
    /// Total size.
    fn size(&self) -> u64;
    /// Reads `len` bytes at `offset`.
    fn read_at(
        &mut self,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = std::io::Result<Bytes>> + Send;
}

impl UploadSource for Bytes {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    async fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        let start = offset as usize;
        Ok(self.slice(start..(start + len).min(self.len())))
    }
}

/// A file on disk as an upload source.
#[derive(Debug)]
pub struct FileSource {
    file: tokio::fs::File,
    size: u64,
}

impl FileSource {
    /// Opens a file.
    pub async fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = tokio::fs::File::open(path).await?;
        let size = file.metadata().await?.len();
        Ok(Self { file, size })
    }
}

impl UploadSource for FileSource {
    fn size(&self) -> u64 {
        self.size
    }
    async fn read_at(&mut self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        self.file.seek(std::io::SeekFrom::Start(offset)).await?;
        let mut buf = vec![0; len];
        self.file.read_exact(&mut buf).await?;
        Ok(Bytes::from(buf))
    }
}

/// First byte the server still expects, from `nextExpectedRanges`.
fn next_offset(ranges: &[String]) -> Option<u64> {
    ranges
        .iter()
        .filter_map(|r| r.split('-').next()?.trim().parse::<u64>().ok())
        .min()
}

#[derive(Deserialize)]
struct Progress {
    #[serde(rename = "nextExpectedRanges", alias = "NextExpectedRanges", default)]
    next_expected_ranges: Vec<String>,
}

impl GraphClient {
    /// `POST …/createUploadSession` with `body` (drives: `{"item":{…}}`; Outlook:
    /// `{"AttachmentItem":{"attachmentType":"file","name":…,"size":…}}`).
    pub async fn create_upload_session(
        &self,
        path_or_url: &str,
        body: &serde_json::Value,
    ) -> Result<UploadSession> {
        self.post_json(path_or_url, body).await
    }

    /// Uploads `source` into `session` in chunks (`chunk` bytes, or the target's default),
    /// resuming from `nextExpectedRanges` when a fragment's fate is unknown.
    pub async fn upload_to_session<S: UploadSource>(
        &self,
        session: &UploadSession,
        target: UploadTarget,
        source: &mut S,
        chunk: Option<usize>,
    ) -> Result<UploadOutcome> {
        let chunk = chunk.unwrap_or_else(|| target.default_chunk());
        target.check_chunk(chunk)?;
        let total = source.size();
        if total == 0 {
            return Err(GraphError::InvalidRequest(
                "upload sessions need at least one byte".into(),
            ));
        }
        if target == UploadTarget::OutlookAttachment
            && !(OUTLOOK_SESSION_MIN..=OUTLOOK_SESSION_MAX).contains(&total)
        {
            return Err(GraphError::InvalidRequest(format!(
                "Outlook upload sessions take 3–150 MB; this attachment is {total} bytes"
            )));
        }
        let url = session.upload_url.clone();
        let mut offset = next_offset(&session.next_expected_ranges).unwrap_or(0);
        let mut recoveries = 0u32;
        loop {
            if offset >= total {
                return Err(GraphError::Corrupt {
                    url: redact_url(&url),
                    detail: "server expects no more bytes but never completed the upload".into(),
                });
            }
            let len = (chunk as u64).min(total - offset) as usize;
            let bytes = source.read_at(offset, len).await?;
            let end = offset + len as u64 - 1;
            let mut headers = HeaderMap::new();
            let range = format!("bytes {offset}-{end}/{total}");
            headers.insert(
                "content-range",
                HeaderValue::from_str(&range).expect("ascii"),
            );
            headers.insert(
                "content-type",
                HeaderValue::from_static("application/octet-stream"),
            );
            let spec = Spec {
                method: Method::PUT,
                url: url.clone(),
                headers,
                body: Some(bytes),
                authed: false,
                read: ReadMode::Json,
                cost: 1,
                idempotent: true,
            };
            match self.execute(&spec).await {
                Ok(resp) => {
                    let progress: Option<Progress> = if resp.body.is_empty() {
                        None
                    } else {
                        resp.json().ok()
                    };
                    let next = progress
                        .as_ref()
                        .and_then(|p| next_offset(&p.next_expected_ranges));
                    let finished =
                        end + 1 == total && matches!(resp.status, 200 | 201) && next.is_none();
                    if finished {
                        return Ok(UploadOutcome {
                            status: resp.status,
                            location: resp.header("location").map(str::to_string),
                            item: if resp.body.is_empty() {
                                None
                            } else {
                                resp.json().ok()
                            },
                        });
                    }
                    offset = next.unwrap_or(end + 1);
                }
                Err(e)
                    if matches!(e.status(), Some(416 | 409))
                        || matches!(e, GraphError::Transport { .. }) =>
                {
                    // The fragment may have arrived; ask the server where it stands.
                    recoveries += 1;
                    if recoveries > self.inner.retry.max_attempts {
                        return Err(e);
                    }
                    let status = Spec {
                        method: Method::GET,
                        url: url.clone(),
                        headers: HeaderMap::new(),
                        body: None,
                        authed: false,
                        read: ReadMode::Json,
                        cost: 1,
                        idempotent: true,
                    };
                    let resp = self.execute(&status).await.map_err(|_| e)?;
                    let p: Progress = resp.json()?;
                    offset = next_offset(&p.next_expected_ranges).ok_or_else(|| {
                        GraphError::Corrupt {
                            url: redact_url(&url),
                            detail: "upload status without nextExpectedRanges".into(),
                        }
                    })?;
                    tracing::debug!(offset, "upload resumed from nextExpectedRanges");
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_expected_ranges() {
        assert_eq!(next_offset(&["0-".into()]), Some(0));
        assert_eq!(next_offset(&["26-".into()]), Some(26));
        assert_eq!(
            next_offset(&["12345-55232".into(), "77829-99375".into()]),
            Some(12345)
        );
        assert_eq!(next_offset(&[]), None);
    }

    #[test]
    fn chunk_rules() {
        assert!(UploadTarget::Drive.check_chunk(327_680).is_ok());
        assert!(UploadTarget::Drive.check_chunk(327_681).is_err());
        assert!(
            UploadTarget::OutlookAttachment
                .check_chunk(4_000_000)
                .is_ok()
        );
        assert!(
            UploadTarget::OutlookAttachment
                .check_chunk(4_194_304)
                .is_err()
        );
        assert_eq!(UploadTarget::Drive.default_chunk() % DRIVE_FRAGMENT_UNIT, 0);
    }
}
