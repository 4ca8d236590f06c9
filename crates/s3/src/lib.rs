//! S3 storage backend for tenantvault repositories (AWS S3 and S3-compatible services).
//!
//! [`S3Storage`] implements the repository's [`Storage`](tenantvault_repo::storage::Storage)
//! trait on a bucket and prefix: every object is written once (`If-None-Match: *`, a CRC32C
//! content checksum, multipart above 16 MiB), the SDK retries 5xx and `SlowDown` with backoff,
//! and with a lock policy (`repo init --object-lock compliance|governance --lock-days N`)
//! every object except owner keys, session markers and GC lists carries an Object Lock
//! retain-until date. In a versioned bucket an overwritten object's first version stays
//! readable ([`Storage::get_original`](tenantvault_repo::storage::Storage::get_original)),
//! which is how the repository survives an overwrite by a stolen worker credential.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use tenantvault_s3::{S3Location, S3Options, S3Storage};
//! let loc = S3Location::parse("s3://backups/tenant-a")?;
//! let opts = S3Options { endpoint: Some("http://127.0.0.1:9000".into()), path_style: true, ..Default::default() };
//! let storage = std::sync::Arc::new(S3Storage::open(loc, opts).await?);
//! let repo = tenantvault_repo::Repository::open(storage, "passphrase", Default::default()).await?;
//! # let _ = repo; Ok(()) }
//! ```

mod client;
mod convert;
mod error;
mod location;
pub mod moto;
mod multipart;
mod storage;

pub use client::build_client;
pub use error::S3Error;
pub use location::{S3Location, S3Options, StaticCredentials};
pub use storage::{LOCK_POLICY_KEY, S3Storage};
