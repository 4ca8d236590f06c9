//! Export of a drive snapshot (or a folder of it) to a local directory tree.
//!
//! Names come from the tenant and are untrusted: every path segment is made safe for both
//! Windows and Unix ([`safe_name`]), renamed entries are reported, and files are only ever
//! created below the target directory (each segment is a plain name, no `..`, no separators,
//! and nothing is written through a symlink or over an existing entry). Timestamps are set from
//! `fileSystemInfo`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::StreamExt;
use serde::Serialize;
use tenantvault_repo::{ItemRecord, Repository, Snapshot};
use tokio::io::AsyncWriteExt;

use super::layout::{FILE_PREFIX, FOLDER_PREFIX, KIND_FILE, KIND_FOLDER, unescape_segment};

/// Longest file-name component written, in bytes (most file systems allow 255).
pub const MAX_NAME_BYTES: usize = 240;

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only this folder (a path below the root, `/`-separated; empty = the whole drive).
    pub folder: String,
}

/// An entry whose name had to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenamedEntry {
    /// Path in the snapshot.
    pub original: String,
    /// Path written, relative to the target.
    pub written: String,
}

/// Outcome of an export.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportReport {
    /// Files written.
    pub files: u64,
    /// Folders created.
    pub folders: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Entries written under a different name.
    pub renamed: Vec<RenamedEntry>,
    /// Entries not written, with the reason.
    pub failed: Vec<(String, String)>,
}

/// Errors that stop an export before anything is written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The target exists and is not an empty directory.
    #[error("target {0} must be a new or empty directory")]
    TargetNotEmpty(PathBuf),
    /// The folder is not in the snapshot.
    #[error("no folder {0:?} in the snapshot")]
    NoSuchFolder(String),
    /// The ZIP file to write exists already.
    #[error("{0} exists; a ZIP export writes a new file")]
    ZipExists(PathBuf),
    /// The repository failed.
    #[error(transparent)]
    Repo(#[from] tenantvault_repo::Error),
    /// Local I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExportError {
    let what = what.into();
    move |source| ExportError::Io { what, source }
}

const RESERVED: &[&str] = &[
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// A name safe as one path component on Windows and Unix: no NUL/control characters, no
/// `/ \ : * ? " < > |` (replaced by `_`), no trailing dots or spaces (so `.`/`..`/empty become `_`), not a
/// reserved device name (`CON`, `NUL.txt`, `com1` …, which get a `_` prefix), at most
/// [`MAX_NAME_BYTES`] bytes (truncated on a character boundary, keeping the extension).
pub fn safe_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_control() || "/\\:*?\"<>|".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    while s.ends_with('.') || s.ends_with(' ') {
        s.pop();
    }
    if s.is_empty() {
        s.push('_');
    }
    let stem = s
        .split('.')
        .next()
        .unwrap_or("")
        .trim_end()
        .to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        s = format!("_{s}");
    }
    if s.len() > MAX_NAME_BYTES {
        let ext = match s.rfind('.') {
            Some(i) if s.len() - i <= 16 && i > 0 => s[i..].to_string(),
            _ => String::new(),
        };
        let mut cut = MAX_NAME_BYTES - ext.len();
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s = format!("{}{ext}", &s[..cut]);
    }
    s
}

/// Writes names into one directory without collisions (case-insensitively, as on Windows and
/// macOS): a second `Report.txt` becomes `Report (2).txt`.
#[derive(Default)]
pub(super) struct DirNames {
    used: HashMap<PathBuf, std::collections::HashSet<String>>,
}

impl DirNames {
    pub(super) fn claim(&mut self, dir: &Path, wanted: String) -> String {
        let used = self.used.entry(dir.to_path_buf()).or_default();
        let mut name = wanted.clone();
        let mut n = 2;
        while used.contains(&name.to_lowercase()) {
            name = match wanted.rsplit_once('.') {
                Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
                _ => format!("{wanted} ({n})"),
            };
            n += 1;
        }
        used.insert(name.to_lowercase());
        name
    }
}

/// Exports `snap` (a drive snapshot) into `target`, which must be new or empty.
pub async fn export(
    repo: &Repository,
    snap: &Snapshot,
    target: &Path,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    match std::fs::read_dir(target) {
        Ok(mut it) => {
            if it.next().is_some() {
                return Err(ExportError::TargetNotEmpty(target.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(target)
                .map_err(io(format!("creating {}", target.display())))?;
        }
        Err(e) => return Err(io(format!("reading {}", target.display()))(e)),
    }
    let base = target
        .canonicalize()
        .map_err(io(format!("resolving {}", target.display())))?;
    let prefix = opts.folder.trim_matches('/').to_string();
    let under =
        |path: &str| prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"));
    let mut report = ExportReport::default();
    // Folder path (snapshot) → directory written.
    let mut dirs: HashMap<String, PathBuf> = HashMap::new();
    dirs.insert(String::new(), base.clone());
    let mut names = DirNames::default();
    let mut folders: Vec<ItemRecord> = Vec::new();
    let mut items = Box::pin(snap.items());
    let mut files = Vec::new();
    while let Some(rec) = items.next().await {
        let rec = rec?;
        if rec.id.starts_with(FOLDER_PREFIX) && rec.kind == KIND_FOLDER {
            folders.push(rec);
        } else if rec.id.starts_with(FILE_PREFIX) && rec.kind == KIND_FILE {
            if under(&rec.path) {
                files.push(rec);
            }
        } else if !rec.id.starts_with(FILE_PREFIX) {
            break; // versions and later kinds are not exported
        }
    }
    // Parents before children: sort folders by depth.
    folders.sort_by_key(|f| {
        (
            f.path.matches('/').count() + usize::from(!f.path.is_empty()),
            f.path.clone(),
            f.name.clone(),
        )
    });
    if !prefix.is_empty()
        && !folders
            .iter()
            .any(|f| super::layout::full_path(f) == prefix)
    {
        return Err(ExportError::NoSuchFolder(prefix));
    }
    for f in &folders {
        let full = super::layout::full_path(f);
        if full.is_empty() {
            continue;
        }
        let Some(parent_dir) = dirs.get(&f.path).cloned() else {
            continue;
        };
        let wanted = safe_name(&f.name);
        let name = names.claim(&parent_dir, wanted);
        let dir = parent_dir.join(&name);
        if name != f.name {
            report.renamed.push(RenamedEntry {
                original: original_path(&full),
                written: rel(&base, &dir),
            });
        }
        if under(&full) || prefix.starts_with(&format!("{full}/")) {
            if let Err(e) = create_dir_safely(&base, &dir) {
                report.failed.push((original_path(&full), e.to_string()));
                continue;
            }
            if under(&full) {
                report.folders += 1;
            }
        }
        dirs.insert(full, dir);
    }
    for rec in files {
        let full = super::layout::full_path(&rec);
        let Some(dir) = dirs.get(&rec.path).cloned() else {
            report.failed.push((
                original_path(&full),
                "its folder is not in the snapshot".into(),
            ));
            continue;
        };
        let name = names.claim(&dir, safe_name(&rec.name));
        let path = dir.join(&name);
        if name != rec.name {
            report.renamed.push(RenamedEntry {
                original: original_path(&full),
                written: rel(&base, &path),
            });
        }
        match write_file(repo, &base, &path, &rec).await {
            Ok(n) => {
                report.files += 1;
                report.bytes += n;
            }
            Err(e) => report.failed.push((original_path(&full), e.to_string())),
        }
    }
    Ok(report)
}

pub(super) fn original_path(escaped: &str) -> String {
    escaped
        .split('/')
        .map(unescape_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// Creates `dir` (one new component below an existing directory inside `base`).
fn create_dir_safely(base: &Path, dir: &Path) -> std::io::Result<()> {
    ensure_inside(base, dir)?;
    std::fs::create_dir(dir)
}

fn ensure_inside(base: &Path, p: &Path) -> std::io::Result<()> {
    let parent = p
        .parent()
        .ok_or_else(|| std::io::Error::other("no parent"))?;
    let real = parent.canonicalize()?;
    if !real.starts_with(base) || p.file_name().is_none() {
        return Err(std::io::Error::other(format!(
            "{} would leave the target directory",
            p.display()
        )));
    }
    Ok(())
}

async fn write_file(
    repo: &Repository,
    base: &Path,
    path: &Path,
    rec: &ItemRecord,
) -> std::io::Result<u64> {
    ensure_inside(base, path)?;
    let mut f = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await?;
    let mut stream = Box::pin(repo.content_stream(rec));
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        f.write_all(&chunk).await?;
        n += chunk.len() as u64;
    }
    f.flush().await?;
    let f = f.into_std().await;
    if let Some(m) = rec.modified {
        let _ = f.set_modified(m.into());
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_safe() {
        assert_eq!(safe_name(".."), "_");
        assert_eq!(safe_name("."), "_");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("a/b\\c"), "a_b_c");
        assert_eq!(safe_name("nul\0byte"), "nul_byte");
        assert_eq!(safe_name("CON"), "_CON");
        assert_eq!(safe_name("nul.txt"), "_nul.txt");
        assert_eq!(safe_name("com1.log"), "_com1.log");
        assert_eq!(safe_name("Console.txt"), "Console.txt");
        assert_eq!(safe_name("trailing. . "), "trailing");
        assert_eq!(safe_name("what?.txt"), "what_.txt");
        let long = format!("{}.docx", "é".repeat(300));
        let s = safe_name(&long);
        assert!(s.len() <= MAX_NAME_BYTES && s.ends_with(".docx"), "{s}");
    }

    #[test]
    fn colliding_names_get_numbers() {
        let mut n = DirNames::default();
        let d = Path::new("/x");
        assert_eq!(n.claim(d, "a.txt".into()), "a.txt");
        assert_eq!(n.claim(d, "A.txt".into()), "A (2).txt");
        assert_eq!(n.claim(d, "a.txt".into()), "a (3).txt");
    }
}
