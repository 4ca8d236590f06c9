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
    /// CPU seconds of the measuring thread.
    secs: f64,
    wall: f64,
    /// How many times the pipeline pays this step per byte (0: shown for comparison only).
    times: f64,
}

/// CPU time this thread has run so far (user + system), in seconds: the first field of
/// `/proc/thread-self/schedstat` (nanoseconds on a CPU). Measuring CPU time instead of wall
/// time keeps the figures meaningful on a machine shared with other work.
fn thread_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

/// Run `f` over `data` until this thread used at least `min_secs` of CPU; returns bytes
/// processed, CPU seconds and wall seconds.
fn time(min_secs: f64, data_len: usize, mut f: impl FnMut()) -> (u64, f64, f64) {
    let wall = Instant::now();
    let cpu = thread_cpu_secs();
    let mut bytes = 0u64;
    loop {
        f();
        bytes += data_len as u64;
        let s = thread_cpu_secs() - cpu;
        let w = wall.elapsed().as_secs_f64();
        if s >= min_secs || (s.is_nan() && w >= min_secs) {
            return (bytes, if s.is_nan() { w } else { s }, w);
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
    let min = 0.7;
    let mut rows = Vec::new();
    let mut sink = 0u64;

    let (b, s, w) = time(min, data.len(), || {
        for c in data.chunks(CHUNK) {
            sink ^= u64::from(blake3::keyed_hash(&key, c).as_bytes()[0]);
        }
    });
    rows.push(Row {
        step: "BLAKE3 keyed, 1 MiB chunks (one pass: blob id or blob key)",
        bytes: b,
        secs: s,
        wall: w,
        times: 2.0,
    });

    let (b, s, w) = time(min, data.len(), || {
        for c in data.chunks(16 << 20) {
            sink ^= u64::from(blake3::hash(c).as_bytes()[0]);
        }
    });
    rows.push(Row {
        step: "BLAKE3 unkeyed, 16 MiB (pack id)",
        bytes: b,
        secs: s,
        wall: w,
        times: 1.0,
    });

    let cipher = XChaCha20Poly1305::new((&key).into());
    let nonce = [3u8; 24];
    let mut buf = data.clone();
    let (b, s, w) = time(min, buf.len(), || {
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
        wall: w,
        times: 1.0,
    });

    let (b, s, w) = time(min, data.len(), || {
        let sizes = (256 << 10, 1 << 20, 4 << 20);
        for c in fastcdc::v2020::FastCDC::new(&data, sizes.0, sizes.1, sizes.2) {
            sink ^= c.length as u64;
        }
    });
    rows.push(Row {
        step: "FastCDC v2020, large profile (256 KiB / 1 MiB / 4 MiB)",
        bytes: b,
        secs: s,
        wall: w,
        times: 1.0,
    });

    let mut z = zstd::bulk::Compressor::new(2).expect("zstd context");
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(CHUNK));
    let (b, s, w) = time(min, data.len(), || {
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
        wall: w,
        times: 0.0,
    });

    let (b, s, w) = time(min, data.len(), || {
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
        wall: w,
        times: 1.0,
    });

    let mut dst = vec![0u8; CHUNK];
    let (b, s, w) = time(min, data.len(), || {
        for c in data.chunks(CHUNK) {
            dst[..c.len()].copy_from_slice(c);
            sink ^= u64::from(dst[c.len() / 2]);
        }
    });
    rows.push(Row {
        step: "memcpy, 1 MiB (one copy of the stream)",
        bytes: b,
        secs: s,
        wall: w,
        times: 1.0,
    });

    let (b, s, w) = time(min, data.len(), || {
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
        wall: w,
        times: 0.0,
    });

    let path = std::path::Path::new(&dir).join(format!("tv-cpufloor-{}", std::process::id()));
    let (b, s, w) = time(min, data.len(), || {
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
        wall: w,
        times: 1.0,
    });

    println!(
        "| step (one thread, {mib} MiB of random data) | MB/s per CPU-second | CPU-s per GB | times per byte in the floor | MB/s wall (load-dependent) |"
    );
    println!("|---|---|---|---|---|");
    let mut total = 0.0;
    for r in &rows {
        let rate = r.bytes as f64 / r.secs / 1e6;
        let per_gb = 1e3 / rate;
        let wall = r.bytes as f64 / r.wall / 1e6;
        println!(
            "| {} | {rate:.0} | {per_gb:.3} | {} | {wall:.0} |",
            r.step, r.times
        );
        total += per_gb * r.times;
    }
    println!(
        "\nfloor of one pipeline (2 keyed BLAKE3 passes + pack id + seal + FastCDC + zstd sample + \
         one memcpy + tmpfs write; not counting the HTTP receive and quickXorHash): \
         {total:.2} CPU-s per GB = {:.0} MB/s per core, {:.0} MB/s on two whole cores",
        1e3 / total,
        2e3 / total
    );
    // Keeps the optimiser from dropping the measured work.
    if sink == 0x5eed {
        eprintln!("(sink {sink})");
    }
}
