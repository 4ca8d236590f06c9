//! Exit codes of the `tenantvault` binary, and the one place that maps error kinds to them.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | error (anything not listed below: I/O, storage, internal) |
//! | 2 | usage: bad arguments or bad input (unknown option, `latest` without `--owner`, ambiguous id, unsafe path, …); nothing was written |
//! | 3 | completed with failures: some items failed, the snapshot was committed and lists them (backup), or some items could not be restored (restore) |
//! | 4 | wrong passphrase (no key slot opens with it); nothing was written |
//! | 5 | damage: `check` found damaged or missing objects, or an operation hit corrupt data (or an erased owner's key) |
//! | 6 | not found: no repository at the path, or no such snapshot / item |
//! | 7 | unsupported repository format version (written by a newer tenantvault) |
//! | 8 | storage full (no space left); the repository stays valid |
//! | 9 | erased: the owner's data was erased (GDPR); the message says when, why and by whom |
//! | 10 | refused by a legal hold: an active hold covers data the command would destroy; nothing was changed |
//! | 11 | alert: the backup completed but ransomware/insider detection raised an alert (`tenantvault alerts list`); the clean snapshot is pinned. Takes precedence over 3 |
//! | 130 | interrupted (Ctrl-C) |

use tenantvault_repo::{Error as RepoError, StorageError};

pub const OK: u8 = 0;
pub const ERROR: u8 = 1;
pub const USAGE: u8 = 2;
pub const PARTIAL: u8 = 3;
pub const WRONG_PASSPHRASE: u8 = 4;
pub const DAMAGE: u8 = 5;
pub const NOT_FOUND: u8 = 6;
pub const UNSUPPORTED_VERSION: u8 = 7;
pub const NO_SPACE: u8 = 8;
pub const ERASED: u8 = 9;
pub const HELD: u8 = 10;
pub const ALERT: u8 = 11;
pub const INTERRUPTED: u8 = 130;

/// An error the CLI itself raises, with its exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// A usage error (exit code 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    CliError {
        code: USAGE,
        message: message.into(),
    }
    .into()
}

/// A not-found error (exit code 6).
pub fn not_found(message: impl Into<String>) -> anyhow::Error {
    CliError {
        code: NOT_FOUND,
        message: message.into(),
    }
    .into()
}

/// The exit code for an error: the first error in the chain that has a known kind decides.
pub fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<CliError>() {
            return e.code;
        }
        if let Some(e) = cause.downcast_ref::<RepoError>() {
            return repo_code(e);
        }
        if let Some(e) = cause.downcast_ref::<StorageError>() {
            return storage_code(e);
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            // streamed reads wrap the repository error inside an io::Error
            if let Some(r) = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<RepoError>())
            {
                return repo_code(r);
            }
            if e.kind() == std::io::ErrorKind::StorageFull {
                return NO_SPACE;
            }
        }
    }
    ERROR
}

fn repo_code(e: &RepoError) -> u8 {
    if e.is_no_space() {
        return NO_SPACE;
    }
    match e {
        RepoError::WrongPassphrase => WRONG_PASSPHRASE,
        RepoError::UnsupportedVersion { .. } => UNSUPPORTED_VERSION,
        RepoError::Corrupt { .. } | RepoError::OwnerKeyMissing { .. } => DAMAGE,
        RepoError::NotFound(_) => NOT_FOUND,
        RepoError::Erased { .. } => ERASED,
        RepoError::Held { .. } => HELD,
        RepoError::Invalid(_) => USAGE,
        RepoError::Storage(s) => storage_code(s),
        _ => ERROR,
    }
}

fn storage_code(e: &StorageError) -> u8 {
    match e {
        StorageError::NoSpace { .. } => NO_SPACE,
        StorageError::NotFound { .. } => NOT_FOUND,
        _ => ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn code(e: impl Into<anyhow::Error>) -> u8 {
        code_for(&e.into())
    }

    #[test]
    fn library_errors_map_to_documented_codes_through_context() {
        assert_eq!(code(RepoError::WrongPassphrase), WRONG_PASSPHRASE);
        assert_eq!(
            code(RepoError::UnsupportedVersion { found: 9 }),
            UNSUPPORTED_VERSION
        );
        assert_eq!(
            code(RepoError::Corrupt {
                object: "data/ab/cd".into(),
                detail: "x".into()
            }),
            DAMAGE
        );
        assert_eq!(code(RepoError::NotFound("snapshot 1234".into())), NOT_FOUND);
        assert_eq!(code(RepoError::Invalid("ambiguous".into())), USAGE);
        assert_eq!(
            code(RepoError::Storage(StorageError::NoSpace {
                key: "data/x".into()
            })),
            NO_SPACE
        );
        let wrapped: anyhow::Result<()> =
            Err(RepoError::WrongPassphrase).context("cannot open the repository");
        assert_eq!(code_for(&wrapped.unwrap_err()), WRONG_PASSPHRASE);
        assert_eq!(code(usage("bad")), USAGE);
        assert_eq!(code(anyhow::anyhow!("something else")), ERROR);
    }

    #[test]
    fn repository_errors_inside_streamed_io_errors_are_found() {
        let io = std::io::Error::other(RepoError::Corrupt {
            object: "blob 1".into(),
            detail: "auth".into(),
        });
        let err = anyhow::Error::new(io).context("cannot dump item");
        assert_eq!(code_for(&err), DAMAGE);
        let full = std::io::Error::new(std::io::ErrorKind::StorageFull, "disk full");
        assert_eq!(code(full), NO_SPACE);
    }
}
