//! Streaming large items through `put_item` (windows read while earlier ones are encoded).

mod common;
use common::*;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tenantvault_repo::*;
use tokio::io::{AsyncRead, ReadBuf};

/// Hands out `data` in pieces of varying size (some reads return `Pending` first, as a socket
/// does), then fails with an I/O error after `fail_at` bytes if set.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
    fail_at: Option<usize>,
    stall: bool,
}

impl Trickle {
    fn new(data: Vec<u8>) -> Self {
        Trickle {
            data,
            pos: 0,
            step: 0,
            fail_at: None,
            stall: false,
        }
    }
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        this.step += 1;
        // Every third read first says "not yet", like a socket with an empty buffer.
        if this.step.is_multiple_of(3) && !this.stall {
            this.stall = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.stall = false;
        if let Some(at) = this.fail_at
            && this.pos >= at
        {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            )));
        }
        let piece = [1, 700, 16 * 1024, 65_536, 300_000][this.step % 5];
        let end = (this.pos + piece)
            .min(this.data.len())
            .min(this.fail_at.unwrap_or(usize::MAX).max(this.pos + 1));
        let n = (end - this.pos).min(buf.remaining());
        buf.put_slice(&this.data[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

fn large_meta(id: &str, size: usize) -> ItemMeta {
    ItemMeta {
        size_hint: size as u64,
        ..meta(id)
    }
}

async fn new_repo() -> (Repository, tempfile::TempDir, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let repo = Repository::init(
        storage,
        PASS,
        InitOptions {
            pack_target: 4 << 20,
            ..init_opts(cache.path())
        },
    )
    .await
    .unwrap();
    (repo, dir, cache)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_item_streams_through_windows_with_the_cut_points_of_the_whole() {
    let (repo, _dir, _cache) = new_repo().await;
    let len = 21 * (1 << 20) + 12_345;
    let data = bytes(5, len);
    let mut s = repo
        .begin_backup(OwnerRef::new("drive", "alice"), BackupOptions::default())
        .await
        .unwrap();
    let rec = s
        .put_item(large_meta("big", len), Trickle::new(data.clone()))
        .await
        .unwrap();
    assert_eq!(rec.size, len as u64);
    // Streaming (windows, carried-over tails, encoding in parallel) cuts exactly where one pass
    // over the whole content does, and keeps the chunks in order.
    let large = ChunkerParams::default().large;
    let whole: Vec<u64> = fastcdc::v2020::FastCDC::new(&data, large.min, large.avg, large.max)
        .map(|c| c.length as u64)
        .collect();
    let got: Vec<u64> = rec.content.iter().map(|c| c.len).collect();
    assert_eq!(got, whole);
    assert!(whole.len() > 10, "several windows of several chunks");
    let new_blobs = s.stats().blobs_new;
    // The same content again (other item id) adds no blob.
    s.put_item(large_meta("copy", len), Trickle::new(data.clone()))
        .await
        .unwrap();
    assert_eq!(s.stats().blobs_new, new_blobs);
    let sum = s.commit(serde_json::json!({})).await.unwrap();
    assert_eq!(sum.stats.bytes, 2 * len as u64);
    let snap = repo.snapshot(&sum.id.0).await.unwrap();
    for id in ["big", "copy"] {
        let item = snap.item(id).await.unwrap().unwrap();
        assert!(
            read_item(&repo, &snap, &item).await.unwrap() == data,
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_error_fails_the_item_and_stages_nothing() {
    let (repo, _dir, _cache) = new_repo().await;
    let len = 19 << 20;
    let data = bytes(9, len);
    let mut s = repo
        .begin_backup(OwnerRef::new("drive", "bob"), BackupOptions::default())
        .await
        .unwrap();
    // In a later window (earlier windows are already being encoded), and in the first one.
    for (id, at) in [("late", 17 << 20), ("early", 100_000)] {
        let mut r = Trickle::new(data.clone());
        r.fail_at = Some(at);
        let err = s.put_item(large_meta(id, len), r).await.unwrap_err();
        assert!(
            err.to_string().contains("connection reset by peer"),
            "{id}: {err}"
        );
    }
    // The session goes on: the next item is stored, the failed ones are not in the snapshot.
    s.put_item(
        large_meta("ok", 300_000),
        Trickle::new(data[..300_000].to_vec()),
    )
    .await
    .unwrap();
    let sum = s.commit(serde_json::json!({})).await.unwrap();
    let snap = repo.snapshot(&sum.id.0).await.unwrap();
    let ids: Vec<String> = all_items(&snap)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["ok"]);
    let item = snap.item("ok").await.unwrap().unwrap();
    assert!(read_item(&repo, &snap, &item).await.unwrap() == data[..300_000]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressible_large_content_is_still_compressed() {
    let (repo, _dir, _cache) = new_repo().await;
    let mut text = Vec::new();
    let mut i = 0u32;
    while text.len() < 9 << 20 {
        text.extend_from_slice(
            format!("line {i}: quarterly budget review, draft {}\n", i % 97).as_bytes(),
        );
        i += 1;
    }
    let mut s = repo
        .begin_backup(OwnerRef::new("drive", "carol"), BackupOptions::default())
        .await
        .unwrap();
    s.put_item(
        large_meta("log.txt", text.len()),
        Trickle::new(text.clone()),
    )
    .await
    .unwrap();
    let stored = s.stats().bytes_stored;
    assert!(
        stored < text.len() as u64 / 4,
        "{stored} bytes stored for {}",
        text.len()
    );
    let sum = s.commit(serde_json::json!({})).await.unwrap();
    let snap = repo.snapshot(&sum.id.0).await.unwrap();
    let item = snap.item("log.txt").await.unwrap().unwrap();
    assert!(read_item(&repo, &snap, &item).await.unwrap() == text);
}

/// The disk fills while a large item streams: the packer fails several windows before the end
/// of the content. `put_item` must return that error (the reader, which still has windows to
/// send, must not wait for ever on a consumer that has stopped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_while_a_large_item_streams_fails_it_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let local: Arc<dyn Storage> = Arc::new(LocalStorage::new(dir.path()).unwrap());
    let faulty = Arc::new(FaultStorage::new(local));
    let repo = init(faulty.clone(), cache.path()).await;
    faulty.inject(Fault::no_space("data/", 0));
    let mut session = repo
        .begin_backup(OwnerRef::new("dir", "o"), BackupOptions::default())
        .await
        .unwrap();
    let data = bytes(7, 64 << 20);
    // A small declared size: 4 MiB windows, so many windows remain when the first pack fails.
    let m = large_meta("big", 100_000);
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        session.put_item(m, Trickle::new(data)),
    )
    .await
    .expect("put_item returned instead of hanging");
    let e = r.expect_err("every pack write fails");
    assert!(e.to_string().contains("space"), "{e}");
}
