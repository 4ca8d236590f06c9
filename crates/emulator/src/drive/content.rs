//! File content: where a driveItem's bytes come from.
//!
//! Nothing large is ever held in memory. Real documents are compiled into the binary
//! (`assets/drive/`), generated text and CSV are rebuilt from a seed when read, and large
//! files are pseudo-random noise whose bytes are a pure function of `(seed, offset)`, so
//! any range can be produced on demand. Only uploaded content is stored as bytes.

use bytes::Bytes;
use futures::Stream;
use std::sync::{Arc, OnceLock};

use crate::quickxor::QuickXorHasher;

/// A real document shipped with the emulator.
#[derive(Debug)]
pub struct Asset {
    /// File name (also used as the default item name).
    pub name: &'static str,
    /// MIME type Graph reports in `file.mimeType`.
    pub mime: &'static str,
    /// The bytes.
    pub bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $mime:literal) => {
        Asset {
            name: $name,
            mime: $mime,
            bytes: include_bytes!(concat!("../../assets/drive/", $name)),
        }
    };
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// Real documents used as content seeds.
pub static ASSETS: &[Asset] = &[
    asset!(
        "landscape.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    asset!(
        "template.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    asset!(
        "default.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    ),
    asset!(
        "example.pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    ),
    asset!("einstein.jpg", "image/jpeg"),
    asset!("calc.png", "image/png"),
    asset!("geometry.xls", "application/vnd.ms-excel"),
    asset!(
        "groupTest.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ),
    asset!(
        "inlineStr.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ),
    asset!("xpdfimport_err.pdf", "application/pdf"),
    asset!("tableoptions.pdf", "application/pdf"),
    asset!("R-data.pdf", "application/pdf"),
    asset!("idxexample.odt", "application/vnd.oasis.opendocument.text"),
    asset!(
        "cl-test.ods",
        "application/vnd.oasis.opendocument.spreadsheet"
    ),
    asset!(
        "Inspiration.otp",
        "application/vnd.oasis.opendocument.presentation-template"
    ),
];

/// Kinds of generated text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// Prose (`.txt`, `.md`).
    Prose,
    /// Comma-separated values with a header row.
    Csv,
}

/// Where a file version's bytes come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// One of [`ASSETS`].
    Asset(u16),
    /// Generated text of exactly `len` bytes.
    Text {
        /// Content seed.
        seed: u64,
        /// Length in bytes.
        len: u32,
        /// Prose or CSV.
        kind: TextKind,
    },
    /// High-entropy bytes (large media, encrypted files), a pure function of `(seed, offset)`.
    Noise {
        /// Content seed.
        seed: u64,
        /// Length in bytes.
        len: u64,
    },
    /// Bytes that were uploaded or written by a scenario.
    Stored(Bytes),
}

/// A file version's content with its lazily computed, cached QuickXorHash.
#[derive(Debug, Clone)]
pub struct Content {
    /// The bytes' origin.
    pub source: Source,
    hash: Arc<OnceLock<String>>,
}

/// Block size of noise generation; ranges are produced block by block.
const NOISE_BLOCK: u64 = 64 * 1024;
/// Chunk size of streamed bodies.
const STREAM_CHUNK: u64 = 256 * 1024;

impl Content {
    /// Wraps a source.
    pub fn new(source: Source) -> Self {
        Self {
            source,
            hash: Arc::new(OnceLock::new()),
        }
    }

    /// Stored bytes.
    pub fn stored(bytes: impl Into<Bytes>) -> Self {
        Self::new(Source::Stored(bytes.into()))
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        match &self.source {
            Source::Asset(i) => ASSETS[*i as usize].bytes.len() as u64,
            Source::Text { len, .. } => u64::from(*len),
            Source::Noise { len, .. } => *len,
            Source::Stored(b) => b.len() as u64,
        }
    }

    /// True for zero-length content.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached QuickXorHash, if already computed.
    pub fn cached_hash(&self) -> Option<&str> {
        self.hash.get().map(String::as_str)
    }

    /// The QuickXorHash, computing it (CPU-bound, streaming) on first use.
    pub fn quick_xor_hash(&self) -> &str {
        self.hash.get_or_init(|| {
            let mut h = QuickXorHasher::new();
            let mut off = 0;
            let len = self.len();
            let mut buf = vec![0u8; STREAM_CHUNK as usize];
            while off < len {
                let n = (len - off).min(STREAM_CHUNK) as usize;
                self.read_at(off, &mut buf[..n]);
                h.update(&buf[..n]);
                off += n as u64;
            }
            h.finalize_base64()
        })
    }

    /// Small contents as one buffer (assets, text, stored); `None` for noise.
    fn small_bytes(&self) -> Option<Bytes> {
        match &self.source {
            Source::Asset(i) => Some(Bytes::from_static(ASSETS[*i as usize].bytes)),
            Source::Text { seed, len, kind } => {
                Some(Bytes::from(generate_text(*seed, *len, *kind)))
            }
            Source::Stored(b) => Some(b.clone()),
            Source::Noise { .. } => None,
        }
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()` (clamped by the caller).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) {
        match &self.source {
            Source::Noise { seed, .. } => fill_noise(*seed, offset, buf),
            _ => {
                let all = self.small_bytes().unwrap_or_default();
                let start = offset as usize;
                buf.copy_from_slice(&all[start..start + buf.len()]);
            }
        }
    }

    /// The whole content as bytes (for small files and tests).
    pub fn to_bytes(&self) -> Bytes {
        match self.small_bytes() {
            Some(b) => b,
            None => {
                let mut v = vec![0u8; self.len() as usize];
                self.read_at(0, &mut v);
                Bytes::from(v)
            }
        }
    }

    /// Streams bytes `start..end` (exclusive) in chunks, generating them as they are sent.
    pub fn stream(
        &self,
        start: u64,
        end: u64,
    ) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
        let small = self.small_bytes();
        let this = self.clone();
        futures::stream::unfold(start, move |off| {
            let small = small.clone();
            let this = this.clone();
            async move {
                if off >= end {
                    return None;
                }
                let n = (end - off).min(STREAM_CHUNK);
                let chunk = match small {
                    Some(all) => all.slice(off as usize..(off + n) as usize),
                    None => {
                        let mut v = vec![0u8; n as usize];
                        this.read_at(off, &mut v);
                        Bytes::from(v)
                    }
                };
                Some((Ok(chunk), off + n))
            }
        })
    }
}

/// SplitMix64 step: a fast, well-mixed PRNG for content bytes.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes two values into one seed.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut s = a ^ b.rotate_left(32) ^ 0xD1B5_4A32_D192_ED03;
    splitmix(&mut s)
}

/// Noise bytes at `offset` for `seed`: block `k` is the SplitMix stream seeded by `(seed, k)`.
fn fill_noise(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = 0usize;
    while pos < buf.len() {
        let abs = offset + pos as u64;
        let block = abs / NOISE_BLOCK;
        let in_block = abs % NOISE_BLOCK;
        let mut state = mix(seed, block);
        // Skip whole words before the wanted byte inside the block.
        let word_index = in_block / 8;
        for _ in 0..word_index {
            splitmix(&mut state);
        }
        let mut byte_in_word = (in_block % 8) as usize;
        let block_end = ((block + 1) * NOISE_BLOCK - offset) as usize;
        let stop = block_end.min(buf.len());
        while pos < stop {
            let w = splitmix(&mut state).to_le_bytes();
            let take = (8 - byte_in_word).min(stop - pos);
            buf[pos..pos + take].copy_from_slice(&w[byte_in_word..byte_in_word + take]);
            pos += take;
            byte_in_word = 0;
        }
    }
}

const WORDS: &[&str] = &[
    "quarterly",
    "budget",
    "review",
    "customer",
    "proposal",
    "contract",
    "meeting",
    "agenda",
    "project",
    "timeline",
    "delivery",
    "invoice",
    "supplier",
    "forecast",
    "revenue",
    "margin",
    "risk",
    "compliance",
    "audit",
    "policy",
    "migration",
    "server",
    "backup",
    "restore",
    "team",
    "roadmap",
    "milestone",
    "design",
    "draft",
    "final",
    "approved",
    "pending",
    "the",
    "a",
    "of",
    "and",
    "to",
    "for",
    "with",
    "on",
    "is",
    "was",
    "will",
    "be",
    "we",
    "our",
    "this",
    "next",
    "week",
    "month",
    "Zürich",
    "München",
    "Kraków",
    "Málaga",
    "naïve",
    "café",
    "résumé",
    "Ørsted",
];

const CSV_HEADER: &str = "id,date,customer,region,product,quantity,unit_price,total\n";
const REGIONS: &[&str] = &["EMEA", "AMER", "APAC", "LATAM"];
const PRODUCTS: &[&str] = &["Widget", "Gadget", "Sprocket", "Gizmo", "Doohickey"];

/// Generated text of exactly `len` bytes (valid UTF-8 up to the final cut, which is
/// padded with spaces so no code point is split).
pub fn generate_text(seed: u64, len: u32, kind: TextKind) -> Vec<u8> {
    let len = len as usize;
    let mut out = String::with_capacity(len + 64);
    let mut s = seed;
    match kind {
        TextKind::Prose => {
            let mut words_in_para = 0;
            while out.len() < len {
                let w = WORDS[(splitmix(&mut s) % WORDS.len() as u64) as usize];
                if words_in_para == 0 {
                    let mut c = w.chars();
                    if let Some(f) = c.next() {
                        out.extend(f.to_uppercase());
                        out.push_str(c.as_str());
                    }
                } else {
                    out.push(' ');
                    out.push_str(w);
                }
                words_in_para += 1;
                if words_in_para > 8 && splitmix(&mut s).is_multiple_of(6) {
                    out.push_str(".\n\n");
                    words_in_para = 0;
                }
            }
        }
        TextKind::Csv => {
            out.push_str(CSV_HEADER);
            let mut row = 1u64;
            while out.len() < len {
                let r = splitmix(&mut s);
                let qty = r % 500 + 1;
                let price = (r >> 20) % 10_000;
                out.push_str(&format!(
                    "{row},2026-{:02}-{:02},{},{},{},{qty},{}.{:02},{}.{:02}\n",
                    r % 12 + 1,
                    (r >> 8) % 28 + 1,
                    WORDS[((r >> 12) % 32) as usize],
                    REGIONS[((r >> 16) % 4) as usize],
                    PRODUCTS[((r >> 18) % 5) as usize],
                    price / 100,
                    price % 100,
                    price * qty / 100,
                    price * qty % 100,
                ));
                row += 1;
            }
        }
    }
    let mut bytes = out.into_bytes();
    let mut cut = len.min(bytes.len());
    while cut > 0 && cut < bytes.len() && (bytes[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    bytes.truncate(cut);
    bytes.resize(len, b' ');
    bytes
}

/// MIME type from a file name's extension (Graph's `file.mimeType`).
pub fn mime_for(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt") | Some("log") => "text/plain",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("html") | Some("htm") | Some("aspx") => "text/html",
        Some("docx") => DOCX,
        Some("pptx") => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("xls") => "application/vnd.ms-excel",
        Some("pdf") => "application/pdf",
        Some("jpg") | Some("jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("mp4") => "video/mp4",
        Some("zip") => "application/x-zip-compressed",
        Some("odt") => "application/vnd.oasis.opendocument.text",
        Some("ods") => "application/vnd.oasis.opendocument.spreadsheet",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn noise_is_a_pure_function_of_seed_and_offset() {
        let c = Content::new(Source::Noise {
            seed: 7,
            len: 300_000,
        });
        let all = c.to_bytes();
        for (off, n) in [
            (0u64, 10usize),
            (65_530, 20),
            (131_072, 1),
            (299_990, 10),
            (12_345, 70_000),
        ] {
            let mut buf = vec![0u8; n];
            c.read_at(off, &mut buf);
            assert_eq!(
                &buf[..],
                &all[off as usize..off as usize + n],
                "offset {off}"
            );
        }
        let other = Content::new(Source::Noise {
            seed: 8,
            len: 300_000,
        })
        .to_bytes();
        assert_ne!(all, other);
    }

    #[test]
    fn text_has_exact_length_and_is_deterministic() {
        for kind in [TextKind::Prose, TextKind::Csv] {
            for len in [0u32, 1, 100, 4097] {
                let a = generate_text(3, len, kind);
                assert_eq!(a.len(), len as usize);
                assert!(std::str::from_utf8(&a).is_ok());
                assert_eq!(a, generate_text(3, len, kind));
            }
        }
        assert!(generate_text(1, 200, TextKind::Csv).starts_with(CSV_HEADER.as_bytes()));
    }

    #[tokio::test]
    async fn stream_yields_the_requested_range() {
        let c = Content::new(Source::Noise {
            seed: 1,
            len: 1_000_000,
        });
        let all = c.to_bytes();
        let got: Vec<u8> = c
            .stream(100, 700_000)
            .map(|r| r.expect("chunk"))
            .collect::<Vec<_>>()
            .await
            .concat();
        assert_eq!(&got[..], &all[100..700_000]);
    }

    #[test]
    fn hash_is_cached_and_matches_direct_computation() {
        let c = Content::new(Source::Asset(0));
        assert!(c.cached_hash().is_none());
        let h = c.quick_xor_hash().to_string();
        assert_eq!(h, crate::quickxor::quick_xor_hash(ASSETS[0].bytes));
        assert_eq!(c.clone().cached_hash(), Some(h.as_str()));
    }
}
