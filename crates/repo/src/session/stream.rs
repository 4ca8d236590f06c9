//! Streaming one item's content into a session ([`BackupSession::put_item`]).
//!
//! Two futures of the same task, joined: a *reader* fills fixed-size windows from the content
//! and cuts them into chunks (the cut points of a window depend on the one before, so this part
//! is sequential), and a *consumer* hands each window to the CPU pool (hash, dedup check,
//! compress, encrypt; rayon across the window's chunks) and packs the results in order. Up to
//! [`IN_FLIGHT`] windows are encoded while the next one is downloaded, so the download, the
//! encoding and the pack writes overlap and both cores stay busy.
//!
//! Memory stays bounded (a 15 GB file streams through the same few buffers): exactly
//! [`WINDOWS`] window buffers circulate (one being read, [`QUEUED`] cut and waiting, up to
//! [`IN_FLIGHT`] being encoded, each with its sealed blobs); the reader waits for one to come
//! back from the CPU pool before it reads on. Window buffers and sealed-blob buffers are reused
//! within an item instead of being allocated afresh (fresh pages cost a page fault and a clear
//! each).

use super::{BackupSession, Encoded, INLINE_CPU, join_cpu, process_chunks, spawn_cpu};
use crate::chunker::{ChunkSizes, cut};
use crate::error::{Error, Result};
use crate::model::ContentRef;
use crate::pack::BlobKind;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Windows encoded on the CPU pool at once while the next one is read.
pub(crate) const IN_FLIGHT: usize = 2;

/// Cut windows the reader may have ready before the consumer takes them: slack between the
/// reader (serial: the cut of a window depends on the one before) and the packer, which stalls
/// while the previous pack is written.
const QUEUED: usize = 1;

/// Window buffers of one item: the one being read and cut (the reader needs a free buffer for
/// its carried-over tail before it hands the window on, and waits for one), [`QUEUED`] waiting
/// and [`IN_FLIGHT`] being encoded. Each holds up to 1.5 × the
/// largest chunk (6 MiB with the default large profile): this and the sealed blobs are most
/// of a streamed item's memory.
const WINDOWS: usize = IN_FLIGHT + QUEUED + 1;

/// Sealed-blob buffers kept for reuse (about the blobs of [`IN_FLIGHT`] windows).
const SEALED_POOL_MAX: usize = 16;

/// Reusable byte buffers, shared by the reader, the CPU pool and the consumer of one item.
#[derive(Clone, Default)]
pub(crate) struct BufPool {
    bufs: Arc<Mutex<Vec<Vec<u8>>>>,
    max: usize,
}

impl BufPool {
    fn new(max: usize) -> Self {
        BufPool {
            bufs: Arc::default(),
            max,
        }
    }

    /// An empty buffer with room for at least `cap` bytes (a reused one if any fits).
    pub(crate) fn take(&self, cap: usize) -> Vec<u8> {
        let found = {
            let mut bufs = self.bufs.lock();
            bufs.iter()
                .position(|b| b.capacity() >= cap)
                .map(|i| bufs.swap_remove(i))
        };
        found.unwrap_or_else(|| big_buffer(cap))
    }

    /// Hand a buffer back (dropped if the pool is full).
    pub(crate) fn give(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut bufs = self.bufs.lock();
        if bufs.len() < self.max {
            bufs.push(buf);
        }
    }
}

/// Buffers from this size up are allocated beyond glibc's largest mmap threshold.
const BIG_BUFFER: usize = 256 * 1024;

/// Capacity given to big buffers: more than glibc's maximum dynamic mmap threshold (32 MiB), so
/// the allocator maps them on their own and unmaps them when they are freed. A freed buffer of
/// 4–8 MiB would otherwise raise the threshold to its size, and later buffers of that size
/// would come from per-thread arenas that are not returned to the system (peak RSS of the
/// whole backup grew by tens of MiB). Capacity that is never written costs no memory.
const MMAP_CAPACITY: usize = (32 << 20) + (64 << 10);

/// An empty buffer for at least `cap` bytes (see [`MMAP_CAPACITY`] for big ones).
fn big_buffer(cap: usize) -> Vec<u8> {
    if cap >= BIG_BUFFER {
        Vec::with_capacity(cap.max(MMAP_CAPACITY))
    } else {
        Vec::with_capacity(cap)
    }
}

/// A window of content cut into chunks: `lens` cover all of `data`.
struct Window {
    data: Vec<u8>,
    lens: Vec<usize>,
    eof: bool,
}

/// The result of encoding one window.
type Done = Result<Vec<Encoded>>;

/// Read from `content` until `buf` holds `window` bytes or the content ends (returns true).
async fn fill<R: AsyncRead + Unpin>(
    content: &mut R,
    buf: &mut Vec<u8>,
    window: usize,
    item: &str,
) -> Result<bool> {
    while buf.len() < window {
        if buf.capacity() == buf.len() {
            buf.reserve((buf.len().max(64 * 1024)).min(window - buf.len()));
        }
        let n = content
            .read_buf(buf)
            .await
            .map_err(|e| Error::io(format!("reading content of item {item}"), e))?;
        if n == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

impl BackupSession {
    /// Store an item: stream its content through the chunker, dedup, pack. Bounded memory (see
    /// the module doc): [`WINDOWS`] windows of 1.5 × the largest chunk (at least 4 MiB) and
    /// their encoded blobs. A small item (one window of at most 64 KiB) is encoded on the
    /// calling task.
    pub async fn put_item<R: AsyncRead + Unpin + Send>(
        &mut self,
        meta: crate::model::ItemMeta,
        mut content: R,
    ) -> Result<crate::model::ItemRecord> {
        super::validate_id(&meta.id)?;
        let sizes = self
            .repo
            .config()
            .chunker
            .profile(&meta.kind, meta.size_hint);
        // Any window longer than the largest chunk cuts where one pass over the whole would
        // (each window starts at a cut point, and the last chunk of a window that is not the
        // end of the content is carried into the next one).
        let window = (sizes.max as usize + sizes.max as usize / 2).max(4 << 20);
        let first = (meta.size_hint as usize)
            .saturating_add(1)
            .clamp(8 * 1024, window);
        let mut buf: Vec<u8> = big_buffer(first);
        let eof = fill(&mut content, &mut buf, window, &meta.id).await?;
        let (refs, total) = if eof && buf.len() <= INLINE_CPU {
            // Small item: hashing and sealing 64 KiB costs less than a thread hand-off.
            let (lens, _) = cut(&buf, sizes, true);
            let keys = self.repo.keys().clone();
            let known = self.packer.known_fn();
            let level = self.repo.config().zstd_level;
            let results = process_chunks(&keys, &buf, &lens, level, &known, false, None)?;
            let mut refs = Vec::with_capacity(results.len());
            self.add_encoded(results, &mut refs, None).await?;
            (refs, buf.len() as u64)
        } else {
            self.stream_windows(&mut content, buf, eof, sizes, window, &meta.id)
                .await?
        };
        self.stats.items_new += 1;
        self.stats.bytes_read += total;
        self.finish_item(meta, refs, total).await
    }

    /// The pipelined part of [`put_item`](Self::put_item), from a first window already read.
    async fn stream_windows<R: AsyncRead + Unpin + Send>(
        &mut self,
        content: &mut R,
        first: Vec<u8>,
        first_eof: bool,
        sizes: ChunkSizes,
        window: usize,
        item: &str,
    ) -> Result<(Vec<ContentRef>, u64)> {
        // The free window buffers: the first window is in hand, the others are allocated when
        // first taken; encoding jobs hand theirs back as soon as they are done with it.
        let (free_tx, mut free_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(WINDOWS);
        for _ in 1..WINDOWS {
            free_tx.try_send(Vec::new()).expect("room for every window");
        }
        let sealed = BufPool::new(SEALED_POOL_MAX);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Window>(QUEUED);
        let reader = {
            async move {
                let (mut buf, mut eof) = (first, first_eof);
                let mut filled = true;
                // Time spent waiting for content, cutting, and waiting for the consumer.
                let mut waits = [Duration::ZERO; 3];
                loop {
                    let t = Instant::now();
                    if !filled {
                        eof = fill(content, &mut buf, window, item).await?;
                    }
                    filled = false;
                    waits[0] += t.elapsed();
                    let t = Instant::now();
                    let (lens, consumed) = cut(&buf, sizes, eof);
                    // The uncut tail starts the next window (a free buffer, once one is back).
                    let mut next = if eof {
                        Vec::new()
                    } else {
                        let mut b = free_rx.recv().await.unwrap_or_default();
                        if b.capacity() < window {
                            b = big_buffer(window);
                        }
                        b
                    };
                    next.extend_from_slice(&buf[consumed..]);
                    buf.truncate(consumed);
                    let w = Window {
                        data: buf,
                        lens,
                        eof,
                    };
                    waits[1] += t.elapsed();
                    let t = Instant::now();
                    let sent = tx.send(w).await.is_ok();
                    waits[2] += t.elapsed();
                    if !sent || eof {
                        // Done, or the consumer failed (its error is the one reported).
                        return Ok::<_, Error>(waits);
                    }
                    buf = next;
                }
            }
        };
        let consumer = async {
            let consumed = async {
                let mut refs = Vec::new();
                let mut total = 0u64;
                let mut complete = false;
                let mut running: VecDeque<super::CpuJob<Done>> = VecDeque::new();
                let level = self.repo.config().zstd_level;
                // Time spent waiting for windows, for encoded results, and packing.
                let mut waits = [Duration::ZERO; 3];
                loop {
                    let t = Instant::now();
                    let Some(w) = rx.recv().await else { break };
                    waits[0] += t.elapsed();
                    total += w.data.len() as u64;
                    complete = w.eof;
                    let keys = self.repo.keys().clone();
                    let known = self.packer.known_fn();
                    let pool = sealed.clone();
                    let free = free_tx.clone();
                    running.push_back(spawn_cpu(move || {
                        let encoded = process_chunks(
                            &keys,
                            &w.data,
                            &w.lens,
                            level,
                            &known,
                            true,
                            Some(&pool),
                        );
                        let mut data = w.data;
                        data.clear();
                        // Never full: exactly WINDOWS buffers exist.
                        let _ = free.try_send(data);
                        encoded
                    }));
                    // Pack what is done; wait for the oldest only when the pool is saturated.
                    loop {
                        let saturated = running.len() >= IN_FLIGHT;
                        let Some(job) = running.front_mut() else {
                            break;
                        };
                        let t = Instant::now();
                        let done = if saturated {
                            Some(join_cpu_mut(job).await)
                        } else {
                            try_join_cpu(job)
                        };
                        waits[1] += t.elapsed();
                        let Some(done) = done else { break };
                        running.pop_front();
                        let encoded = done?;
                        let t = Instant::now();
                        self.add_encoded(encoded, &mut refs, Some(&sealed)).await?;
                        waits[2] += t.elapsed();
                    }
                    if complete {
                        break;
                    }
                }
                while let Some(job) = running.pop_front() {
                    let t = Instant::now();
                    let encoded = join_cpu(job).await?;
                    waits[1] += t.elapsed();
                    let t = Instant::now();
                    self.add_encoded(encoded, &mut refs, Some(&sealed)).await?;
                    waits[2] += t.elapsed();
                }
                Ok::<_, Error>((refs, total, complete, waits))
            }
            .await;
            // Whatever ended the consumer (the end of the content, or an error such as a full
            // disk while packing), the reader's next send must fail instead of waiting for
            // room that never comes.
            rx.close();
            consumed
        };
        let (read, consumed) = tokio::join!(reader, consumer);
        // A failed read ends the consumer early: report the read's error.
        let r = read?;
        let (refs, total, complete, c) = consumed?;
        tracing::debug!(
            item,
            bytes = total,
            read_ms = r[0].as_millis() as u64,
            cut_ms = r[1].as_millis() as u64,
            queue_full_ms = r[2].as_millis() as u64,
            window_wait_ms = c[0].as_millis() as u64,
            encode_wait_ms = c[1].as_millis() as u64,
            pack_ms = c[2].as_millis() as u64,
            "item streamed"
        );
        if !complete {
            return Err(Error::Invalid(format!(
                "content of item {item} ended before its last window"
            )));
        }
        Ok((refs, total))
    }

    /// Pack the new blobs of one processed window (duplicates already pending are skipped by
    /// the packer) and collect its content references in order; sealed buffers go back to
    /// `sealed` once copied into the pack.
    pub(super) async fn add_encoded(
        &mut self,
        results: Vec<Encoded>,
        refs: &mut Vec<ContentRef>,
        sealed: Option<&BufPool>,
    ) -> Result<()> {
        for (r, enc) in results {
            if let Some(b) = enc {
                if !self.packer.pending(&b.id) {
                    self.packer.add(&b, BlobKind::Data).await?;
                }
                if let Some(pool) = sealed {
                    pool.give(b.stored);
                }
            }
            refs.push(r);
        }
        Ok(())
    }
}

/// Await a CPU job in place (it stays in the queue until its result is taken).
async fn join_cpu_mut<T>(job: &mut super::CpuJob<T>) -> T {
    match job.await.expect("rayon pool dropped a job") {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The result of a CPU job if it has finished.
fn try_join_cpu<T>(job: &mut super::CpuJob<T>) -> Option<T> {
    match job.try_recv() {
        Ok(Ok(v)) => Some(v),
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(tokio::sync::oneshot::error::TryRecvError::Empty) => None,
        Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
            panic!("rayon pool dropped a job")
        }
    }
}
