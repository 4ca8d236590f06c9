//! S3 benchmark (run by `scripts/bench-s3.sh`): requests per GB backed up and throughput of
//! 1, 2 and 4 concurrent writers against one moto_server, next to the local backend in the
//! same run. Each writer is its own repository handle (as a process would be) backing up its
//! own owner: `MIB_PER_WRITER` MiB of incompressible data in 4 MiB items.
//!
//! Env: `MIB_PER_WRITER` (default 64), `PACK_MIB` (default 32).

use std::sync::Arc;
use std::time::Instant;
use tenantvault_repo::*;
use tenantvault_s3::moto::{MotoServer, unique_bucket};
use tenantvault_s3::{S3Location, S3Storage};

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

async fn run(
    name: &str,
    make: &dyn Fn() -> futures::future::BoxFuture<'static, Arc<dyn Storage>>,
    writers: u64,
    mib: usize,
    pack_mib: u64,
) {
    let cache = tempfile::tempdir().unwrap();
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
    let total_mib = (writers as usize * mib) as f64;
    let gb = total_mib / 1024.0;
    let reqs = (m.gets - before.gets)
        + (m.puts - before.puts)
        + (m.lists - before.lists)
        + (m.deletes - before.deletes);
    println!(
        "| {name} | {writers} | {total_mib:.0} | {secs:.1} | {:.1} | {} | {:.0} | {:.0} |",
        total_mib / secs,
        reqs,
        reqs as f64 / gb,
        (m.puts - before.puts) as f64 / gb,
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
    let moto = MotoServer::shared().expect("moto_server (set TENANTVAULT_MOTO_SERVER)");
    let opts = moto.options("bench", "bench");
    println!(
        "| backend | writers | MiB | seconds | MiB/s | storage requests | requests/GB | PUTs/GB |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for writers in [1u64, 2, 4] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let local = move || {
            let root = root.clone();
            Box::pin(async move { Arc::new(LocalStorage::new(root).unwrap()) as Arc<dyn Storage> })
                as futures::future::BoxFuture<'static, Arc<dyn Storage>>
        };
        run("local", &local, writers, mib, pack_mib).await;
        let bucket = unique_bucket("bench");
        S3Storage::create_bucket(&opts, &bucket, false)
            .await
            .unwrap();
        let loc = S3Location::parse(&format!("s3://{bucket}/r")).unwrap();
        let o = opts.clone();
        let s3 = move || {
            let (loc, o) = (loc.clone(), o.clone());
            Box::pin(
                async move { Arc::new(S3Storage::open(loc, o).await.unwrap()) as Arc<dyn Storage> },
            ) as futures::future::BoxFuture<'static, Arc<dyn Storage>>
        };
        run("s3 (moto)", &s3, writers, mib, pack_mib).await;
    }
}
