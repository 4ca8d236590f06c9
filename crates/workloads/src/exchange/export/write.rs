//! Where export files go: a directory tree, or a staging directory packed into one ZIP at the
//! end. Every write takes already-sanitized components and refuses to pass through symlinks.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::ExportError;

fn io(path: &Path, source: std::io::Error) -> ExportError {
    ExportError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub(crate) struct Sink {
    root: PathBuf,
    zip: Option<(PathBuf, tempfile::TempDir)>,
}

impl Sink {
    /// A sink writing under `target` (a directory), or into the ZIP file `target`.
    pub(crate) async fn open(target: &Path, zip: bool) -> Result<Sink, ExportError> {
        if !zip {
            tokio::fs::create_dir_all(target)
                .await
                .map_err(|e| io(target, e))?;
            let m = tokio::fs::metadata(target)
                .await
                .map_err(|e| io(target, e))?;
            if !m.is_dir() {
                return Err(ExportError::Unsafe(format!(
                    "{} is not a directory",
                    target.display()
                )));
            }
            return Ok(Sink {
                root: target.to_path_buf(),
                zip: None,
            });
        }
        if let Ok(m) = tokio::fs::symlink_metadata(target).await
            && (m.is_dir() || m.file_type().is_symlink())
        {
            return Err(ExportError::Unsafe(format!(
                "{} is a directory or symlink; give a ZIP file path",
                target.display()
            )));
        }
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        tokio::fs::create_dir_all(&parent)
            .await
            .map_err(|e| io(&parent, e))?;
        let stage = tempfile::Builder::new()
            .prefix(".tenantvault-export-")
            .tempdir_in(&parent)
            .map_err(|e| io(&parent, e))?;
        Ok(Sink {
            root: stage.path().to_path_buf(),
            zip: Some((target.to_path_buf(), stage)),
        })
    }

    /// Write (or append to) the file at `rel` under the root.
    pub(crate) async fn write(
        &mut self,
        rel: &[String],
        data: &[u8],
        append: bool,
    ) -> Result<(), ExportError> {
        let mut path = self.root.clone();
        for (i, c) in rel.iter().enumerate() {
            if c.is_empty() || c == "." || c == ".." || c.contains(['/', '\\', '\0']) {
                return Err(ExportError::Unsafe(format!("path component {c:?}")));
            }
            path.push(c);
            let last = i + 1 == rel.len();
            match tokio::fs::symlink_metadata(&path).await {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(ExportError::Unsafe(format!(
                        "{} is a symlink",
                        path.display()
                    )));
                }
                Ok(m) if !last && !m.is_dir() => {
                    return Err(ExportError::Unsafe(format!(
                        "{} is not a directory",
                        path.display()
                    )));
                }
                Ok(m) if last && !m.is_file() => {
                    return Err(ExportError::Unsafe(format!(
                        "{} is not a regular file",
                        path.display()
                    )));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !last {
                        match tokio::fs::create_dir(&path).await {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                            Err(e) => return Err(io(&path, e)),
                        }
                    }
                }
                Err(e) => return Err(io(&path, e)),
            }
        }
        let mut f = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .append(append)
            .truncate(!append)
            .open(&path)
            .await
            .map_err(|e| io(&path, e))?;
        f.write_all(data).await.map_err(|e| io(&path, e))?;
        f.flush().await.map_err(|e| io(&path, e))?;
        Ok(())
    }

    /// Pack the staging tree into the ZIP (written beside the target, then renamed into place).
    pub(crate) async fn finish(self) -> Result<(), ExportError> {
        let Some((target, stage)) = self.zip else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || pack(stage.path(), &target))
            .await
            .map_err(|e| ExportError::Io {
                path: "zip".into(),
                source: std::io::Error::other(e),
            })?
    }
}

fn files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let t = e.file_type()?;
        if t.is_dir() {
            files(root, &p, out)?;
        } else if t.is_file() {
            let rel = p.strip_prefix(root).expect("under root");
            let name: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push((name.join("/"), p));
        }
    }
    Ok(())
}

fn pack(stage: &Path, target: &Path) -> Result<(), ExportError> {
    let partial = target.with_extension("zip.partial");
    let mut list = Vec::new();
    files(stage, stage, &mut list).map_err(|e| io(stage, e))?;
    let file = std::fs::File::create(&partial).map_err(|e| io(&partial, e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let zerr = |e: zip::result::ZipError| io(&partial, std::io::Error::other(e));
    for (name, path) in list {
        zip.start_file(name, opts).map_err(zerr)?;
        let mut src = std::fs::File::open(&path).map_err(|e| io(&path, e))?;
        std::io::copy(&mut src, &mut zip).map_err(|e| io(&partial, e))?;
    }
    let mut w = zip.finish().map_err(zerr)?;
    w.flush().map_err(|e| io(&partial, e))?;
    drop(w);
    std::fs::rename(&partial, target).map_err(|e| io(target, e))?;
    Ok(())
}
