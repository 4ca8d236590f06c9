//! Export of a drive snapshot (or a folder of it) into one ZIP file.
//!
//! The same naming rules as the directory export ([`super::export`]): every path segment is
//! made safe with [`safe_name`] and de-duplicated case-insensitively, renamed entries are
//! reported. Entry names are relative `/`-joined safe segments, so no entry is absolute or
//! holds `..`, `\` or a drive letter (checked again before each entry is written). Content is
//! streamed from the repository into the archive chunk by chunk (never a whole file in
//! memory); files of 4 GiB or more get ZIP64 entries. The archive is written to
//! `<file>.partial` and renamed when complete, so a failed export leaves no half ZIP under the
//! requested name. Modification times come from `fileSystemInfo`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Timelike};
use futures::StreamExt;
use tenantvault_repo::{ItemRecord, Repository, Snapshot};

use super::export::{
    DirNames, ExportError, ExportOptions, ExportReport, RenamedEntry, original_path, safe_name,
};
use super::layout::{FILE_PREFIX, FOLDER_PREFIX, KIND_FILE, KIND_FOLDER, full_path};

/// Whether `name` is a safe relative ZIP entry name: not empty, not absolute, no `\`, no
/// `:`, no empty, `.` or `..` segment (a trailing `/` marks a directory).
pub fn safe_entry_name(name: &str) -> bool {
    let body = name.strip_suffix('/').unwrap_or(name);
    !body.is_empty()
        && !body.starts_with('/')
        && !body.contains(['\\', ':', '\0'])
        && body
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

fn zip_time(rec: &ItemRecord) -> Option<zip::DateTime> {
    let t = rec.modified?;
    zip::DateTime::from_date_and_time(
        u16::try_from(t.year()).ok()?,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .ok()
}

/// Exports `snap` (a drive snapshot) into the new ZIP file `file`.
pub async fn export_zip(
    repo: &Repository,
    snap: &Snapshot,
    file: &Path,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let io = |what: String| move |source| ExportError::Io { what, source };
    if file.exists() {
        return Err(ExportError::ZipExists(file.to_path_buf()));
    }
    let prefix = opts.folder.trim_matches('/').to_string();
    let under =
        |path: &str| prefix.is_empty() || path == prefix || path.starts_with(&format!("{prefix}/"));
    let mut folders: Vec<ItemRecord> = Vec::new();
    let mut files: Vec<ItemRecord> = Vec::new();
    let mut items = Box::pin(snap.items());
    while let Some(rec) = items.next().await {
        let rec = rec?;
        if rec.id.starts_with(FOLDER_PREFIX) && rec.kind == KIND_FOLDER {
            folders.push(rec);
        } else if rec.id.starts_with(FILE_PREFIX) && rec.kind == KIND_FILE {
            if under(&rec.path) {
                files.push(rec);
            }
        } else if !rec.id.starts_with(FILE_PREFIX) {
            break;
        }
    }
    drop(items);
    folders.sort_by_key(|f| {
        (
            f.path.matches('/').count() + usize::from(!f.path.is_empty()),
            f.path.clone(),
            f.name.clone(),
        )
    });
    if !prefix.is_empty() && !folders.iter().any(|f| full_path(f) == prefix) {
        return Err(ExportError::NoSuchFolder(prefix));
    }
    let partial = PathBuf::from(format!("{}.partial", file.display()));
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&partial)
        .map_err(io(format!("creating {}", partial.display())))?;
    let result = write_all(repo, out, &folders, files, &under).await;
    match result {
        Ok(report) => {
            std::fs::rename(&partial, file).map_err(io(format!(
                "renaming {} to {}",
                partial.display(),
                file.display()
            )))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

async fn write_all(
    repo: &Repository,
    out: std::fs::File,
    folders: &[ItemRecord],
    files: Vec<ItemRecord>,
    under: &dyn Fn(&str) -> bool,
) -> Result<ExportReport, ExportError> {
    let zerr = |what: String| {
        move |e: zip::result::ZipError| ExportError::Io {
            what,
            source: std::io::Error::other(e),
        }
    };
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(out));
    let base = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let mut report = ExportReport::default();
    let mut names = DirNames::default();
    // Folder path (snapshot) → entry directory written (`""` = archive root).
    let mut dirs: HashMap<String, String> = HashMap::new();
    dirs.insert(String::new(), String::new());
    let join = |dir: &str, name: &str| {
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    };
    for f in folders {
        let full = full_path(f);
        if full.is_empty() {
            continue;
        }
        let Some(parent) = dirs.get(&f.path).cloned() else {
            continue;
        };
        let name = names.claim(Path::new(&format!("/{parent}")), safe_name(&f.name));
        let entry = join(&parent, &name);
        if name != f.name {
            report.renamed.push(RenamedEntry {
                original: original_path(&full),
                written: entry.clone(),
            });
        }
        if under(&full) {
            if !safe_entry_name(&entry) {
                report
                    .failed
                    .push((original_path(&full), format!("unsafe entry name {entry:?}")));
                continue;
            }
            zip.add_directory(format!("{entry}/"), base.unix_permissions(0o755))
                .map_err(zerr(format!("adding folder {entry}")))?;
            report.folders += 1;
        }
        dirs.insert(full, entry);
    }
    for rec in files {
        let full = full_path(&rec);
        let Some(dir) = dirs.get(&rec.path).cloned() else {
            report.failed.push((
                original_path(&full),
                "its folder is not in the snapshot".into(),
            ));
            continue;
        };
        let name = names.claim(Path::new(&format!("/{dir}")), safe_name(&rec.name));
        let entry = join(&dir, &name);
        if name != rec.name {
            report.renamed.push(RenamedEntry {
                original: original_path(&full),
                written: entry.clone(),
            });
        }
        if !safe_entry_name(&entry) {
            report
                .failed
                .push((original_path(&full), format!("unsafe entry name {entry:?}")));
            continue;
        }
        let mut o = base.large_file(rec.size >= u64::from(u32::MAX));
        if let Some(t) = zip_time(&rec) {
            o = o.last_modified_time(t);
        }
        zip.start_file(entry.as_str(), o)
            .map_err(zerr(format!("adding {entry}")))?;
        let mut n = 0u64;
        let mut stream = Box::pin(repo.content_stream(&rec));
        let mut failed = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    zip.write_all(&c).map_err(|source| ExportError::Io {
                        what: format!("writing {entry}"),
                        source,
                    })?;
                    n += c.len() as u64;
                }
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        match failed {
            None => {
                report.files += 1;
                report.bytes += n;
            }
            Some(e) => {
                // The entry stays (truncated) in the archive; the report says so.
                report.failed.push((
                    original_path(&full),
                    format!("reading the backup after {n} bytes: {e}; entry {entry} is incomplete"),
                ));
            }
        }
    }
    let mut w = zip.finish().map_err(zerr("finishing the archive".into()))?;
    w.flush().map_err(|source| ExportError::Io {
        what: "writing the archive".into(),
        source,
    })?;
    w.get_ref().sync_all().map_err(|source| ExportError::Io {
        what: "syncing the archive".into(),
        source,
    })?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_never_escape() {
        assert!(safe_entry_name("a/b.txt"));
        assert!(safe_entry_name("a/"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a\\b",
            "C:x",
            "a//b",
            "./a",
            "/",
        ] {
            assert!(!safe_entry_name(bad), "{bad}");
        }
    }
}
