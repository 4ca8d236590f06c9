//! Loads real file trees into OneDrives: `DIR/<user>/drive/<path>` becomes `<path>` in that
//! user's OneDrive (added to whatever was generated). `<user>` is matched against the user's
//! UPN/mail, its local part, the display name or the id (case-insensitive).

use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Arc;

use super::content::Content;
use super::model::{Conflict, Drive, FsTimes, Ident};
use super::store::DriveStore;

/// Errors of the loader.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Filesystem error.
    #[error("reading {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

fn matches_user(dir_name: &str, u: &Ident) -> bool {
    let n = dir_name.to_lowercase();
    let local = u.email.split('@').next().unwrap_or("").to_lowercase();
    n == u.email.to_lowercase()
        || n == local
        || n == u.display_name.to_lowercase()
        || n == u.id.to_lowercase()
}

/// Loads every `DIR/<user>/drive` tree. Returns the number of files added.
pub fn load_dir(
    store: &mut DriveStore,
    dir: &Path,
    users: &[Ident],
    now: DateTime<Utc>,
) -> Result<usize, LoadError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| LoadError::Io { path, source }
    };
    let mut files = 0;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let drive_root = entry.path().join("drive");
        if !drive_root.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(user) = users.iter().find(|u| matches_user(&name, u)) else {
            tracing::warn!(dir = %name, "no user matches this drive directory; skipped");
            continue;
        };
        let Some(drive_id) = store.user_drive_id(&user.id).map(str::to_string) else {
            continue;
        };
        let by = Arc::new(user.clone());
        let Some(d) = store.drive_mut(&drive_id) else {
            continue;
        };
        files += load_tree(d, &drive_root, &by, now)?;
    }
    Ok(files)
}

fn load_tree(
    d: &mut Drive,
    root: &Path,
    by: &Arc<Ident>,
    now: DateTime<Utc>,
) -> Result<usize, LoadError> {
    let mut n = 0;
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| LoadError::Io {
            path: root.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let parts: Vec<String> = rel
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        let Some((name, dirs)) = parts.split_last() else {
            continue;
        };
        let mut parent = Drive::ROOT;
        let mut ok = true;
        for seg in dirs {
            match d.child_by_name(parent, seg) {
                Some(c) => parent = c,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if !ok {
            continue;
        }
        let meta = entry.metadata().map_err(|e| LoadError::Io {
            path: entry.path().display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?;
        if meta.is_dir() {
            if let Err(e) = d.create_folder(parent, name, Conflict::Fail, by, now) {
                tracing::warn!(path = %rel.display(), error = %e, "folder not loaded");
            }
            continue;
        }
        let bytes = std::fs::read(entry.path()).map_err(|source| LoadError::Io {
            path: entry.path().display().to_string(),
            source,
        })?;
        let modified: Option<DateTime<Utc>> = meta.modified().ok().map(DateTime::<Utc>::from);
        let fs = FsTimes {
            created: modified,
            modified,
        };
        match d.put_file(
            parent,
            name,
            Content::stored(bytes),
            Conflict::Replace,
            by,
            now,
            Some(fs),
        ) {
            Ok(_) => n += 1,
            Err(e) => tracing::warn!(path = %rel.display(), error = %e, "file not loaded"),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_users_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("ann.lee").join("drive").join("Reports");
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("q1.txt"), b"numbers").unwrap();
        std::fs::write(
            tmp.path().join("ann.lee").join("drive").join("top.csv"),
            b"a,b\n",
        )
        .unwrap();
        let users = vec![Ident {
            id: "u1".into(),
            display_name: "Ann Lee".into(),
            email: "ann.lee@x.onmicrosoft.com".into(),
        }];
        let cfg = crate::drive::config::DriveConfig {
            files_per_drive: 0,
            folders_per_drive: 0,
            large_files: 0,
            sites: 0,
            ..Default::default()
        };
        let now = Utc::now();
        let mut store =
            crate::drive::generate::generate(1, &cfg, "x.onmicrosoft.com", &users, &[], now);
        assert_eq!(load_dir(&mut store, tmp.path(), &users, now).unwrap(), 2);
        let d = store.drive(store.user_drive_id("u1").unwrap()).unwrap();
        let f = d.resolve_path(Drive::ROOT, "Reports/q1.txt").unwrap();
        assert_eq!(d.item(f).content().unwrap().to_bytes(), "numbers");
    }
}
