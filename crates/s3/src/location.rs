//! `s3://bucket/prefix` locations and the client options that go with them.

use crate::error::S3Error;

/// Where a repository lives in S3: a bucket and a key prefix (no leading or trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// Parse `s3://bucket` or `s3://bucket/some/prefix`.
    pub fn parse(url: &str) -> Result<Self, S3Error> {
        let bad = |why: &str| S3Error::InvalidLocation {
            url: url.to_string(),
            reason: why.to_string(),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("must start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !valid_bucket {
            return Err(bad(
                "bucket name must be 3-63 characters of a-z, 0-9, '-' and '.'",
            ));
        }
        let prefix = prefix.trim_end_matches('/');
        if prefix
            .split('/')
            .any(|c| prefix.contains("//") || c == "." || c == "..")
            || prefix.starts_with('/')
        {
            return Err(bad("prefix must not contain empty, '.' or '..' components"));
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// The S3 key of a repository key.
    pub fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    /// The repository key of an S3 key listed under this location.
    pub fn repo_key<'a>(&self, full: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(full)
        } else {
            full.strip_prefix(&self.prefix)?.strip_prefix('/')
        }
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// Explicit access keys (tests, or a caller that manages secrets itself). Without them the
/// standard AWS chain is used: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`,
/// then `AWS_PROFILE` / `~/.aws/credentials`.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Client options.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Endpoint URL for S3-compatible services (MinIO, Ceph, moto…); `None` = AWS.
    pub endpoint: Option<String>,
    /// Region; `None` = from `AWS_REGION`/profile, else `us-east-1`.
    pub region: Option<String>,
    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint`.
    pub path_style: bool,
    pub credentials: Option<StaticCredentials>,
    /// Objects at least this large are uploaded in parts.
    pub multipart_threshold: usize,
    /// Part size of multipart uploads (S3 minimum 5 MiB except the last part).
    pub part_size: usize,
    /// Parts uploaded at once.
    pub part_concurrency: usize,
    /// Attempts of the SDK's standard retry (5xx, `SlowDown`, throttling, timeouts).
    pub max_attempts: u32,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            endpoint: None,
            region: None,
            path_style: false,
            credentials: None,
            multipart_threshold: 16 * 1024 * 1024,
            part_size: 8 * 1024 * 1024,
            part_concurrency: 4,
            max_attempts: 6,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let l = S3Location::parse("s3://my-bucket/backups/tenant1/").unwrap();
        assert_eq!(l.bucket, "my-bucket");
        assert_eq!(l.prefix, "backups/tenant1");
        assert_eq!(l.full_key("data/ab/x"), "backups/tenant1/data/ab/x");
        assert_eq!(l.repo_key("backups/tenant1/data/ab/x"), Some("data/ab/x"));
        assert_eq!(l.repo_key("backups/tenant10/x"), None);
        assert_eq!(l.to_string(), "s3://my-bucket/backups/tenant1");
        let root = S3Location::parse("s3://bkt").unwrap();
        assert_eq!(root.prefix, "");
        assert_eq!(root.full_key("config"), "config");
    }

    #[test]
    fn refuses_bad_urls() {
        for u in [
            "/tmp/repo",
            "s3://",
            "s3://AB",
            "s3://Upper/x",
            "s3://bk",
            "s3://b_k_t/x",
            "s3://bucket/a//b",
            "s3://bucket/../x",
            "s3://-bucket/x",
        ] {
            assert!(S3Location::parse(u).is_err(), "{u} must be refused");
        }
    }
}
