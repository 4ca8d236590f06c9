//! S3 benchmark (run by `scripts/bench-s3.sh`): requests per GB backed up and throughput of
//! 1, 2 and 4 concurrent writers against one moto_server, next to the local backend in the
//! same run. Each writer is its own repository handle (as a process would be) backing up its
//! own owner: `MIB_PER_WRITER` MiB of incompressible data in 4 MiB items.
//!
//! "storage requests" are the repository's calls (`MetricsStorage`); "HTTP requests" are the
//! requests moto_server logged for the run's bucket (a multipart pack upload is several).
//! Each S3 run's bucket is emptied and deleted afterwards, local data lives in a temporary
//! directory under `/tmp/tv-s3bench-*` removed after each run.
//!
//! Env: `MIB_PER_WRITER` (default 64), `PACK_MIB` (default 32), `WRITERS` (default `1,2,4`).

use std::sync::Arc;
use std::time::Instant;
use tenantvault_repo::*;
use tenantvault_s3::S3Storage;
use tenantvault_s3::moto::MotoServer;

fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn bench_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("tv-s3bench-")
        .tempdir_in("/tmp")
        .unwrap()
}

/// Requests moto_server logged so far for `bucket` (its log is in the temp directory, named
/// after the port).
fn moto_requests(moto: &MotoServer, bucket: &str) -> Option<u64> {
    let port = moto.endpoint.rsplit(':').next()?;
    let log = std::env::temp_dir().join(format!("tenantvault-moto-{port}.log"));
    let text = std::fs::read_to_string(log).ok()?;
    let needle = format!(" /{bucket}");
    Some(text.lines().filter(|l| l.contains(&needle)).count() as u64)
}

/// Deletes every object of `bucket`, then the bucket (frees moto's memory).
async fn drop_bucket(s3: &S3Storage, bucket: &str) {
    for (k, _) in s3.list("").await.unwrap() {
        s3.delete(&k).await.unwrap();
    }
    s3.client()
        .delete_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
}

/// Wall seconds, storage requests, PUTs and (with `http`, a counter of the server's requests)
/// HTTP requests of one run's backups (repository creation excluded).
async fn run(
    make: &dyn Fn() -> futures::future::BoxFuture<'static, Arc<dyn Storage>>,
    http: &dyn Fn() -> Option<u64>,
    writers: u64,
    mib: usize,
    pack_mib: u64,
) -> (f64, u64, u64, Option<u64>) {
    let cache = bench_dir();
    let base = make().await;
    let metrics = Arc::new(MetricsStorage::new(base));
    Repository::init(
        metrics.clone(),
        "bench",
        InitOptions {
            kdf: KdfParams::insecure_fast(),
            pack_target: pack_mib << 20,
            cache_dir: Some(cache.path().join("init")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let before = metrics.snapshot();
    let http_before = http();
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let st: Arc<dyn Storage> = metrics.clone();
            let dir = cache.path().join(format!("w{w}"));
            tokio::spawn(async move {
                let repo = Repository::open(
                    st,
                    "bench",
                    OpenOptions {
                        cache_dir: Some(dir),
                    },
                )
                .await
                .unwrap();
                let mut s = repo
                    .begin_backup(
                        OwnerRef::new("dir", format!("o{w}")),
                        BackupOptions::default(),
                    )
                    .await
                    .unwrap();
                for i in 0..mib / 4 {
                    let body = data(w * 10_000 + i as u64, 4 << 20);
                    let meta = ItemMeta {
                        id: format!("f{i}"),
                        kind: "file".into(),
                        name: format!("f{i}"),
                        size_hint: body.len() as u64,
                        ..Default::default()
                    };
                    s.put_item(meta, &body[..]).await.unwrap();
                }
                s.commit(serde_json::json!({})).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let m = metrics.snapshot();
    let reqs = (m.gets - before.gets)
        + (m.puts - before.puts)
        + (m.lists - before.lists)
        + (m.deletes - before.deletes);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // server log written
    let http = http().zip(http_before).map(|(a, b)| a - b);
    (secs, reqs, m.puts - before.puts, http)
}

fn row(name: &str, writers: u64, mib: usize, r: (f64, u64, u64, Option<u64>)) {
    let (secs, reqs, puts, http) = r;
    let total_mib = (writers as usize * mib) as f64;
    let gb = total_mib / 1024.0;
    let http = http
        .map(|h| format!("{h} | {:.0}", h as f64 / gb))
        .unwrap_or_else(|| "– | –".into());
    println!(
        "| {name} | {writers} | {total_mib:.0} | {secs:.1} | {:.1} | {reqs} | {:.0} | {:.0} | {http} |",
        total_mib / secs,
        reqs as f64 / gb,
        puts as f64 / gb,
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mib: usize = std::env::var("MIB_PER_WRITER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let pack_mib: u64 = std::env::var("PACK_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let writer_counts: Vec<u64> = std::env::var("WRITERS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .map(|w| w.trim().parse().expect("WRITERS: comma-separated counts"))
        .collect();
    let moto = MotoServer::shared().expect("moto_server (set TENANTVAULT_MOTO_SERVER)");
    let opts = moto.options("bench", "bench");
    println!(
        "| backend | writers | MiB | seconds | MiB/s | storage requests | requests/GB | PUTs/GB | HTTP requests | HTTP requests/GB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for writers in writer_counts {
        let dir = bench_dir();
        let root = dir.path().to_path_buf();
        let local = move || {
            let root = root.clone();
            Box::pin(async move { Arc::new(LocalStorage::new(root).unwrap()) as Arc<dyn Storage> })
                as futures::future::BoxFuture<'static, Arc<dyn Storage>>
        };
        let r = run(&local, &|| None, writers, mib, pack_mib).await;
        row("local", writers, mib, r);
        drop(dir);
        let b = moto.bucket_as(opts.clone(), "bench", false, "r").await;
        let bucket = b.bucket.clone();
        let cleaner = b.open().await;
        let s3 = move || {
            let b = b.clone();
            Box::pin(async move { Arc::new(b.open().await) as Arc<dyn Storage> })
                as futures::future::BoxFuture<'static, Arc<dyn Storage>>
        };
        let r = run(
            &s3,
            &|| moto_requests(moto, &bucket),
            writers,
            mib,
            pack_mib,
        )
        .await;
        row("s3 (moto)", writers, mib, r);
        drop_bucket(&cleaner, &bucket).await;
    }
}
