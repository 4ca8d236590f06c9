//! Measure FastCDC parameters on a mail-like MIME corpus and on versions of a large file.
//!
//! `cargo run --release -p tenantvault-repo --example chunkbench -- [DOCS_DIR] [MESSAGES]`
//! DOCS_DIR holds real attachment files (default /work/shared/data/documents).
//! Prints, per parameter set: input, unique (deduplicated) bytes, ratio, chunks, speed.

use base64::Engine;
use std::collections::HashSet;
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn words(rng: &mut Rng, n: usize) -> String {
    const W: &[&str] = &[
        "the", "meeting", "budget", "please", "review", "attached", "report", "thanks", "regards",
        "project", "deadline", "client", "update", "quarter", "team", "schedule", "invoice",
        "contract", "draft", "final",
    ];
    let mut s = String::new();
    for i in 0..n {
        s.push_str(W[rng.below(W.len() as u64) as usize]);
        s.push(if i % 12 == 11 { '\n' } else { ' ' });
    }
    s
}

fn base64_lines(data: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(b.len() + b.len() / 76 * 2);
    for line in b.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push_str("\r\n");
    }
    out
}

fn mail_corpus(docs: &[(String, Vec<u8>)], n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let encoded: Vec<(String, String)> = docs
        .iter()
        .map(|(n, d)| (n.clone(), base64_lines(d)))
        .collect();
    (0..n)
        .map(|i| {
            let body_words = 50 + rng.below(800) as usize;
            let mut m = format!(
                "Message-ID: <{i}.{}@example.com>\r\nDate: Mon, {} Jan 2026 10:{:02}:00 +0000\r\nFrom: user{}@example.com\r\nTo: user{}@example.com\r\nSubject: {}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
                rng.next(),
                1 + i % 28,
                i % 60,
                rng.below(200),
                rng.below(200),
                words(&mut rng, 6),
                words(&mut rng, body_words)
            );
            // ~40% of messages carry 1-2 attachments from a pool; popular ones recur often.
            if rng.below(10) < 4 {
                for _ in 0..1 + rng.below(2) {
                    let pick = (rng.below(encoded.len() as u64) * rng.below(encoded.len() as u64) / encoded.len() as u64) as usize;
                    let (name, body) = &encoded[pick];
                    m.push_str(&format!("--b{i}\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}"));
                }
            }
            m.push_str(&format!("--b{i}--\r\n"));
            m.into_bytes()
        })
        .collect()
}

fn measure(name: &str, items: &[Vec<u8>], min: u32, avg: u32, max: u32) {
    let key = [7u8; 32];
    let start = Instant::now();
    let mut seen = HashSet::new();
    let (mut input, mut unique, mut chunks, mut stored) = (0u64, 0u64, 0u64, 0u64);
    for item in items {
        input += item.len() as u64;
        for c in fastcdc::v2020::FastCDC::new(item, min, avg, max) {
            let data = &item[c.offset..c.offset + c.length];
            chunks += 1;
            if seen.insert(*blake3::keyed_hash(&key, data).as_bytes()) {
                unique += c.length as u64;
                let z = zstd::bulk::compress(data, 3).unwrap().len().min(data.len());
                // stored = compressed + AEAD (40) + pack header entry (49) + index entry (49)
                stored += z as u64 + 40 + 49 + 49;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{name:<8} min {:>4} KiB avg {:>4} KiB max {:>5} KiB | input {:>7.1} MB unique {:>7.1} MB ratio {:>5.3} stored {:>7.1} MB | chunks {:>8} unique {:>8} | {:>6.0} MB/s",
        min / 1024,
        avg / 1024,
        max / 1024,
        input as f64 / 1e6,
        unique as f64 / 1e6,
        unique as f64 / input as f64,
        stored as f64 / 1e6,
        chunks,
        seen.len(),
        input as f64 / 1e6 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let docs_dir = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "/work/shared/data/documents".into());
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3000);
    let mut docs: Vec<(String, Vec<u8>)> = std::fs::read_dir(&docs_dir)
        .expect("documents dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .filter(|(_, d)| d.len() < 4 << 20)
        .collect();
    docs.sort();
    println!(
        "mail corpus: {n} messages, attachment pool {} files from {docs_dir}",
        docs.len()
    );
    let mail = mail_corpus(&docs, n);
    for (min, avg, max) in [
        (1, 4, 16),
        (2, 8, 32),
        (4, 16, 64),
        (8, 32, 128),
        (16, 64, 256),
        (64, 256, 1024),
        (256, 1024, 4096),
    ] {
        measure("mail", &mail, min * 1024, avg * 1024, max * 1024);
    }
    // Whole-item baseline (no chunking: only identical messages dedup).
    measure("mail", &mail, 1 << 20, 4 << 20, 16 << 20);

    // Large files: 3 versions of a 48 MB file, each with 20 small insertions.
    let mut rng = Rng(42);
    let mut v: Vec<u8> = (0..48_000_000).map(|_| (rng.next() >> 32) as u8).collect();
    let mut versions = vec![v.clone()];
    for _ in 0..2 {
        for _ in 0..20 {
            let at = rng.below(v.len() as u64) as usize;
            let ins: Vec<u8> = (0..100).map(|_| rng.next() as u8).collect();
            v.splice(at..at, ins);
        }
        versions.push(v.clone());
    }
    println!(
        "large files: 3 versions of a 48 MB file, 20 insertions of 100 bytes between versions"
    );
    for (min, avg, max) in [
        (4, 16, 64),
        (64, 256, 1024),
        (256, 1024, 4096),
        (1024, 4096, 16384),
    ] {
        measure("large", &versions, min * 1024, avg * 1024, max * 1024);
    }
}
