//! Errors of the S3 backend, and the one mapping from SDK errors to [`StorageError`].

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use tenantvault_repo::storage::StorageError;

/// Errors of setting up the S3 backend (operations report [`StorageError`]).
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("invalid S3 location {url:?}: {reason}")]
    InvalidLocation { url: String, reason: String },
    #[error("bucket {bucket}: {reason}")]
    Bucket { bucket: String, reason: String },
    #[error("lock policy: {0}")]
    LockPolicy(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a failed S3 request means for the repository.
pub(crate) fn map_sdk<E, R>(key: &str, e: SdkError<E, R>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    let status = e.raw_response().map(HasStatus::status);
    let code = e.code().map(str::to_string);
    let detail = format!(
        "{}{}",
        code.as_deref()
            .map(|c| format!("{c}: "))
            .unwrap_or_default(),
        aws_sdk_s3::error::DisplayErrorContext(&e)
    );
    let key = key.to_string();
    match (&e, status, code.as_deref()) {
        (
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_),
            ..,
        ) => StorageError::Transient { key, detail },
        (_, Some(404), _) | (_, _, Some("NoSuchKey" | "NotFound" | "NoSuchVersion")) => {
            StorageError::NotFound { key }
        }
        (_, Some(412), _) | (_, _, Some("PreconditionFailed")) => {
            StorageError::AlreadyExists { key }
        }
        (_, Some(403), _) | (_, _, Some("AccessDenied")) => StorageError::PermissionDenied { key },
        (
            _,
            _,
            Some("SlowDown" | "Throttling" | "RequestTimeout" | "ConditionalRequestConflict"),
        ) => StorageError::Transient { key, detail },
        (_, Some(s), _) if s >= 500 || s == 429 || s == 409 => {
            StorageError::Transient { key, detail }
        }
        _ => StorageError::Backend { key, detail },
    }
}

/// HTTP status of a raw response.
pub(crate) trait HasStatus {
    fn status(&self) -> u16;
}

impl HasStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }
}
