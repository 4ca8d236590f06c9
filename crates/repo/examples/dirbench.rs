//! Back up a directory twice into a fresh local repository and print wall times.
//!
//! `cargo run --release -p tenantvault-repo --example dirbench -- SOURCE_DIR [REPO_DIR]`

use std::sync::Arc;
use std::time::Instant;
use tenantvault_repo::*;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let src = std::path::PathBuf::from(args.get(1).expect("usage: dirbench SOURCE [REPO]"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo_dir = args
        .get(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("repo"));
    let cache = tmp.path().join("cache");
    let storage: Arc<dyn Storage> = Arc::new(LocalStorage::new(&repo_dir)?);
    let mut opts = InitOptions {
        kdf: KdfParams::insecure_fast(),
        cache_dir: Some(cache.clone()),
        ..Default::default()
    };
    if let Ok(v) = std::env::var("LARGE_FROM") {
        opts.chunker.file_large_from = Some(v.parse().expect("LARGE_FROM bytes"));
    }
    let repo = Repository::init(storage, "bench", opts).await?;
    for run in ["first", "second"] {
        let t = Instant::now();
        let s = backup_dir(
            &repo,
            &src,
            "bench",
            DirBackupOptions::default(),
            &NoProgress,
        )
        .await?;
        println!(
            "{run}: {:.2}s items {} read {:.1} MB stored {:.1} MB blobs {} failures {}",
            t.elapsed().as_secs_f64(),
            s.stats.items,
            s.stats.bytes_read as f64 / 1e6,
            s.stats.bytes_stored as f64 / 1e6,
            s.stats.blobs_new,
            s.stats.failures
        );
    }
    let size: u64 = walkdir::WalkDir::new(&repo_dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    println!("repository size: {:.1} MB", size as f64 / 1e6);
    Ok(())
}
