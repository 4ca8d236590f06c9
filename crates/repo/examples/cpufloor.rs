//! Single-core cost of every per-byte step of a large-file backup, on this machine.
//!
//! `cargo run --release -p tenantvault-repo --example cpufloor -- [MIB] [WRITE_DIR]`
//! (default 256 MiB of random data, file writes into `/dev/shm`).
//!
//! Prints one markdown row per step: MB/s on one core and CPU-seconds per GB. Their sum is the
//! least CPU a backup that hashes, chunks, compresses (or tries to), encrypts and stores every
//! byte can spend; with 2 cores shared with the server that produces the bytes it bounds the
//! throughput any implementation of the same format can reach (see docs/BENCHMARKS.md,
//! OneDrive/SharePoint). Content is incompressible (like the emulator's large files).

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{RngCore, SeedableRng};
use std::io::Write;
use std::time::Instant;

const CHUNK: usize = 1 << 20;

struct Row {
    step: &'static str,
    bytes: u64,
    secs: f64,
    /// How many times the pipeline pays this step per byte (0: shown for comparison only).
    times: f64,
}

/// Run `f` over `data` until at least `min_secs` passed; returns bytes processed and seconds.
fn time(min_secs: f64, data_len: usize, mut f: impl FnMut()) -> (u64, f64) {
    let t = Instant::now();
    let mut bytes = 0u64;
    loop {
        f();
        bytes += data_len as u64;
        let s = t.elapsed().as_secs_f64();
        if s >= min_secs {
            return (bytes, s);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(256);
    let dir = args.next().unwrap_or_else(|| "/dev/shm".into());
    let mut data = vec![0u8; mib << 20];
    rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut data);
    let key = [7u8; 32];
    let min = 1.0;
    let mut rows = Vec::new();
    let mut sink = 0u64;

    let (b, s) = time(min, data.len(), || {
        for c in data.chunks(CHUNK) {
            sink ^= u64::from(blake3::keyed_hash(&key, c).as_bytes()[0]);
        }
    });
    rows.push(Row {
        step: "BLAKE3 keyed, 1 MiB chunks (one pass: blob id or blob key)",
        bytes: b,
        secs: s,
        times: 2.0,
    });

    let (b, s) = time(min, data.len(), || {
        for c in data.chunks(16 << 20) {
            sink ^= u64::from(blake3::hash(c).as_bytes()[0]);
        }
    });
    rows.push(Row {
        step: "BLAKE3 unkeyed, 16 MiB (pack id)",
        bytes: b,
        secs: s,
        times: 1.0,
    });

    let cipher = XChaCha20Poly1305::new((&key).into());
    let nonce = [3u8; 24];
    let mut buf = data.clone();
    let (b, s) = time(min, buf.len(), || {
        for c in buf.chunks_mut(CHUNK) {
            let tag = cipher
                .encrypt_in_place_detached(XNonce::from_slice(&nonce), b"ad", c)
                .expect("in-memory encryption");
            sink ^= u64::from(tag[0]);
        }
    });
    rows.push(Row {
        step: "XChaCha20-Poly1305 seal in place, 1 MiB",
        bytes: b,
        secs: s,
        times: 1.0,
    });

    let (b, s) = time(min, data.len(), || {
        let sizes = (256 << 10, 1 << 20, 4 << 20);
        for c in fastcdc::v2020::FastCDC::new(&data, sizes.0, sizes.1, sizes.2) {
            sink ^= c.length as u64;
        }
    });
    rows.push(Row {
        step: "FastCDC v2020, large profile (256 KiB / 1 MiB / 4 MiB)",
        bytes: b,
        secs: s,
        times: 1.0,
    });

    let mut z = zstd::bulk::Compressor::new(2).expect("zstd context");
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(CHUNK));
    let (b, s) = time(min, data.len(), || {
        for c in data.chunks(CHUNK) {
            out.clear();
            z.compress_to_buffer(c, &mut out).expect("zstd");
            sink ^= out.len() as u64;
        }
    });
    rows.push(Row {
        step: "zstd level 2, whole 1 MiB chunk (incompressible)",
        bytes: b,
        secs: s,
        times: 0.0,
    });

    let (b, s) = time(min, data.len(), || {
        for c in data.chunks(CHUNK) {
            out.clear();
            z.compress_to_buffer(&c[..64 << 10], &mut out)
                .expect("zstd");
            sink ^= out.len() as u64;
        }
    });
    rows.push(Row {
        step: "zstd level 2 on a 64 KiB sample per 1 MiB chunk (early abort)",
        bytes: b,
        secs: s,
        times: 1.0,
    });

    let mut dst = vec![0u8; CHUNK];
    let (b, s) = time(min, data.len(), || {
        for c in data.chunks(CHUNK) {
            dst[..c.len()].copy_from_slice(c);
            sink ^= u64::from(dst[c.len() / 2]);
        }
    });
    rows.push(Row {
        step: "memcpy, 1 MiB (one copy of the stream)",
        bytes: b,
        secs: s,
        times: 1.0,
    });

    let (b, s) = time(min, data.len(), || {
        for c in data.chunks(8 << 20) {
            let mut fresh = Vec::with_capacity(c.len());
            fresh.extend_from_slice(c);
            sink ^= u64::from(fresh[c.len() / 2]);
        }
    });
    rows.push(Row {
        step: "copy into a freshly allocated 8 MiB buffer (page faults)",
        bytes: b,
        secs: s,
        times: 0.0,
    });

    let path = std::path::Path::new(&dir).join(format!("tv-cpufloor-{}", std::process::id()));
    let (b, s) = time(min, data.len(), || {
        for (i, c) in data.chunks(16 << 20).enumerate() {
            let p = path.with_extension(i.to_string());
            let mut f = std::fs::File::create(&p).expect("create file");
            f.write_all(c).expect("write");
            f.sync_all().expect("fsync");
        }
        for i in 0..data.len().div_ceil(16 << 20) {
            let _ = std::fs::remove_file(path.with_extension(i.to_string()));
        }
    });
    let write_step = if dir.starts_with("/dev/shm") {
        "write + fsync 16 MiB files to /dev/shm (tmpfs)"
    } else {
        "write + fsync 16 MiB files to WRITE_DIR"
    };
    rows.push(Row {
        step: write_step,
        bytes: b,
        secs: s,
        times: 1.0,
    });

    println!(
        "| step (one core, {mib} MiB of random data) | MB/s | CPU-s per GB | times per byte in the floor |"
    );
    println!("|---|---|---|---|");
    let mut total = 0.0;
    for r in &rows {
        let rate = r.bytes as f64 / r.secs / 1e6;
        let per_gb = 1e3 / rate;
        println!("| {} | {rate:.0} | {per_gb:.3} | {} |", r.step, r.times);
        total += per_gb * r.times;
    }
    println!(
        "\nfloor of one pipeline (2 keyed BLAKE3 passes + pack id + seal + FastCDC + zstd sample + \
         one memcpy + tmpfs write; not counting the HTTP receive and quickXorHash): \
         {total:.2} CPU-s per GB = {:.0} MB/s on one core, {:.0} MB/s on two",
        1e3 / total,
        2e3 / total
    );
    // Keeps the optimiser from dropping the measured work.
    if sink == 0x5eed {
        eprintln!("(sink {sink})");
    }
}
