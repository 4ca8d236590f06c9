//! Prepares the "repository at 10 million blobs" benchmark (`scripts/bench-scale.sh`): an empty
//! repository whose chunker cuts tiny blobs (FastCDC min 64 / avg 256 / max 1024 bytes for every
//! item), and a source folder of files with distinct pseudo-random content, so that backing the
//! folder up with the real `tenantvault backup dir` writes about `--blobs` distinct blobs.
//!
//! ```text
//! cargo run --release -p tenantvault-repo --example scalegen -- \
//!     --repo /tmp/tv-scale/repo --source /tmp/tv-scale/src --blobs 1000000
//! ```
//!
//! The passphrase comes from `TENANTVAULT_PASSWORD`; the key slot uses cheap Argon2 parameters
//! (the benchmark measures the engine, not the KDF).

use rand::{RngCore, SeedableRng};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use tenantvault_repo::{
    ChunkSizes, ChunkerParams, InitOptions, KdfParams, LocalStorage, Repository,
};

/// FastCDC's average target (bytes).
const AVG: u32 = 256;
/// Average blob size FastCDC actually cuts with min 64 / avg 256 / max 1024 on random data
/// (measured: 83,005 blobs from 25.7 MB), used to size the source for `--blobs`.
const CUT_AVG: u64 = 310;
/// Content per source file (bytes): ~1000 blobs per file.
const FILE_BYTES: u64 = 256 * 1024;

struct Args {
    repo: PathBuf,
    source: PathBuf,
    blobs: u64,
}

fn parse() -> Result<Args, String> {
    let (mut repo, mut source, mut blobs) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--repo" => repo = Some(PathBuf::from(val()?)),
            "--source" => source = Some(PathBuf::from(val()?)),
            "--blobs" => blobs = Some(val()?.parse::<u64>().map_err(|e| e.to_string())?),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(Args {
        repo: repo.ok_or("--repo DIR is required")?,
        source: source.ok_or("--source DIR is required")?,
        blobs: blobs.ok_or("--blobs N is required")?,
    })
}

fn tiny_chunker() -> ChunkerParams {
    let sizes = ChunkSizes {
        min: 64,
        avg: AVG,
        max: 1024,
    };
    ChunkerParams {
        small: sizes,
        large: sizes,
        large_from: u64::MAX,
        file_large_from: Some(u64::MAX),
    }
}

/// Writes `total` bytes of seeded pseudo-random content in files of [`FILE_BYTES`], 1000 files
/// per directory. Random content makes every chunk distinct, so blobs ≈ bytes / average size.
fn write_source(dir: &std::path::Path, total: u64) -> std::io::Result<u64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7e4a47);
    let mut buf = vec![0u8; FILE_BYTES as usize];
    let files = total.div_ceil(FILE_BYTES);
    for i in 0..files {
        let sub = dir.join(format!("d{:05}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&sub)?;
        }
        rng.fill_bytes(&mut buf);
        let mut f = std::fs::File::create(sub.join(format!("f{i:08}.bin")))?;
        f.write_all(&buf)?;
    }
    Ok(files)
}

#[tokio::main]
async fn main() {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("scalegen: {e}\nusage: scalegen --repo DIR --source DIR --blobs N");
            std::process::exit(2);
        }
    };
    let pass = std::env::var("TENANTVAULT_PASSWORD").unwrap_or_else(|_| {
        eprintln!("scalegen: set TENANTVAULT_PASSWORD");
        std::process::exit(2);
    });
    let storage = Arc::new(LocalStorage::new(&args.repo).expect("repository directory"));
    let opts = InitOptions {
        kdf: KdfParams::insecure_fast(),
        chunker: tiny_chunker(),
        ..Default::default()
    };
    let repo = Repository::init(storage, &pass, opts)
        .await
        .expect("init repository");
    let files = write_source(&args.source, args.blobs * CUT_AVG).expect("write source folder");
    println!(
        "repository {} initialised; {files} files of {FILE_BYTES} bytes written under {}",
        repo.info().id,
        args.source.display()
    );
}
