//! A pack streamed to a temporary file while it fills, for storages with a local staging
//! directory ([`Storage::staging_dir`](crate::storage::Storage::staging_dir)).
//!
//! The session's task appends sealed blobs to a small segment; full segments go to a writer
//! thread that writes them to `.tmp-*` in the staging directory and hashes them (the pack id
//! is the BLAKE3 hash of the whole pack). At most [`QUEUE`] + 1 segments are in memory, instead
//! of the whole pack: a 16 MiB pack in memory while it fills, plus the previous one while it is
//! written, was a third of a first backup's peak RSS. The finished file is synced and handed to
//! [`Storage::put_file_if_absent`](crate::storage::Storage::put_file_if_absent), which links it
//! into place; its bytes are the same as those of a pack built in memory (FORMAT.md §5).

use crate::crypto::{BlobId, Key, PackId};
use crate::error::{Error, Result};
use crate::pack::{BlobKind, PackEntry, pack_tail};
use crate::storage::StorageError;
use std::io::Write;
use std::path::Path;

/// Bytes handed to the writer at once. Small enough that freeing one does not raise glibc's
/// mmap threshold far (see `PACK_MIN_CAPACITY` in packer.rs), large enough for few hand-offs.
const SEGMENT: usize = 256 << 10;
/// Segments queued for the writer.
const QUEUE: usize = 4;

type Written = std::io::Result<(tempfile::TempPath, blake3::Hash)>;

/// A pack being written to a temporary file.
pub(crate) struct PackFile {
    tx: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    writer: Option<std::thread::JoinHandle<Written>>,
    seg: Vec<u8>,
    len: u64,
    entries: Vec<PackEntry>,
}

impl PackFile {
    /// Start a pack in a new temporary file `.tmp-*` under `dir`.
    pub fn create(dir: &Path) -> Result<Self> {
        let err =
            |e: std::io::Error| Error::Storage(StorageError::from_io("pack temporary file", e));
        std::fs::create_dir_all(dir).map_err(err)?;
        let file = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(dir)
            .map_err(err)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(QUEUE);
        let writer = std::thread::Builder::new()
            .name("pack-writer".into())
            .spawn(move || -> Written {
                let (mut f, path) = file.into_parts();
                let mut hasher = blake3::Hasher::new();
                let mut failed = None;
                // Keep receiving after a failed write so the sender never blocks; the error is
                // reported when the pack is finished.
                while let Some(seg) = rx.blocking_recv() {
                    if failed.is_none() {
                        hasher.update(&seg);
                        if let Err(e) = f.write_all(&seg) {
                            failed = Some(e);
                        }
                    }
                }
                if let Some(e) = failed {
                    return Err(e);
                }
                f.sync_all()?;
                Ok((path, hasher.finalize()))
            })
            .map_err(err)?;
        Ok(PackFile {
            tx: Some(tx),
            writer: Some(writer),
            seg: Vec::with_capacity(SEGMENT),
            len: 0,
            entries: Vec::new(),
        })
    }

    /// Bytes of blobs written so far.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Append a sealed blob.
    pub async fn add(&mut self, id: BlobId, kind: BlobKind, plain_len: u32, stored: &[u8]) {
        self.entries.push(PackEntry {
            id,
            kind,
            offset: self.len,
            stored_len: stored.len() as u32,
            plain_len,
        });
        self.seg.extend_from_slice(stored);
        self.len += stored.len() as u64;
        if self.seg.len() >= SEGMENT {
            self.send().await;
        }
    }

    async fn send(&mut self) {
        let seg = std::mem::replace(&mut self.seg, Vec::with_capacity(SEGMENT));
        if let Some(tx) = &self.tx {
            // A writer that is gone (it panicked) is reported by `finish`.
            let _ = tx.send(seg).await;
        }
    }

    /// Append the sealed header and trailer, wait until the file is written and synced, and
    /// return the pack id, the temporary file (removed when dropped) and the entries.
    pub async fn finish(
        mut self,
        meta_key: &Key,
    ) -> Result<(PackId, tempfile::TempPath, Vec<PackEntry>)> {
        let tail = pack_tail(meta_key, &self.entries);
        self.seg.extend_from_slice(&tail);
        self.send().await;
        self.tx = None;
        let writer = self.writer.take().expect("writer runs until finish");
        let joined = tokio::task::spawn_blocking(move || writer.join())
            .await
            .expect("pack writer join task");
        match joined {
            Ok(Ok((path, hash))) => Ok((
                PackId(*hash.as_bytes()),
                path,
                std::mem::take(&mut self.entries),
            )),
            Ok(Err(e)) => Err(Error::Storage(StorageError::from_io(
                "pack temporary file",
                e,
            ))),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for PackFile {
    fn drop(&mut self) {
        // An abandoned pack: closing the channel ends the writer, which drops (removes) the
        // temporary file.
        self.tx = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::parse_pack;

    fn tmp_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp-"))
            .collect()
    }

    /// A streamed pack is a valid pack: its id is the hash of the file, its header lists every
    /// blob at the offset where its bytes are; the temporary file goes away when dropped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn streamed_pack_parses_and_holds_every_blob() {
        let dir = tempfile::tempdir().unwrap();
        let key = Key::random();
        let mut f = PackFile::create(dir.path()).unwrap();
        // Blobs of many sizes, crossing segment boundaries (one larger than a segment).
        let blobs: Vec<(BlobId, Vec<u8>)> = (0..40u32)
            .map(|i| {
                let len = (i as usize * 7919) % (3 * SEGMENT / 2) + 1;
                let data: Vec<u8> = (0..len).map(|j| (j as u32 ^ i) as u8).collect();
                (BlobId(*blake3::hash(&data).as_bytes()), data)
            })
            .collect();
        for (id, data) in &blobs {
            f.add(*id, BlobKind::Data, data.len() as u32, data).await;
        }
        let total: usize = blobs.iter().map(|(_, d)| d.len()).sum();
        assert_eq!(f.len(), total);
        let (id, path, entries) = f.finish(&key).await.unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let parsed = parse_pack(&key, &id, &bytes).unwrap();
        assert_eq!(parsed, entries);
        assert_eq!(parsed.len(), blobs.len());
        for (e, (bid, data)) in parsed.iter().zip(&blobs) {
            assert_eq!(e.id, *bid);
            let at = e.offset as usize;
            assert_eq!(&bytes[at..at + e.stored_len as usize], &data[..]);
        }
        assert_eq!(tmp_files(dir.path()).len(), 1);
        drop(path);
        assert!(tmp_files(dir.path()).is_empty());
    }

    /// A pack abandoned before it is finished (a failed session) leaves no temporary file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn abandoned_pack_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = PackFile::create(dir.path()).unwrap();
        f.add(BlobId([7; 32]), BlobKind::Data, 3, &vec![1u8; 3 * SEGMENT])
            .await;
        drop(f);
        for _ in 0..200 {
            if tmp_files(dir.path()).is_empty() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("temporary file left: {:?}", tmp_files(dir.path()));
    }
}
