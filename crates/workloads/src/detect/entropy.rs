//! Byte-level measures of a content sample: Shannon entropy and "does this look like a known
//! file format". Detection judges the *change* of these between a file's previous and new
//! content, never the level alone (a .docx is a zip and already near 8 bits/byte).

/// Shannon entropy of `data` in bits per byte (0 for empty input, at most 8).
pub fn shannon(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u64; 256];
    for &b in data {
        counts[b as usize] += 1;
    }
    let n = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// True when the sample starts like a known document, image, archive or text format.
pub fn recognisable(data: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"PK\x03\x04",           // zip, docx, xlsx, pptx
        b"%PDF",                 // pdf
        b"\xFF\xD8\xFF",         // jpeg
        b"\x89PNG",              // png
        b"GIF8",                 // gif
        b"\xD0\xCF\x11\xE0",     // ole2 (doc, xls, msg)
        b"{\\rtf",               // rtf
        b"\x1F\x8B",             // gzip
        b"7z\xBC\xAF\x27\x1C",   // 7z
        b"Rar!",                 // rar
        b"RIFF",                 // wav, avi, webp
        b"ID3",                  // mp3
        b"\x00\x00\x00\x18ftyp", // mp4
        b"\x00\x00\x00\x20ftyp", // mp4
        b"\x00\x00\x00\x1Cftyp", // mp4/heic
        b"II*\x00",              // tiff
        b"MM\x00*",              // tiff
    ];
    if MAGIC.iter().any(|m| data.starts_with(m)) {
        return true;
    }
    // Text: almost all bytes printable ASCII or whitespace, or valid UTF-8.
    let head = &data[..data.len().min(4096)];
    if head.is_empty() {
        return false;
    }
    let printable = head
        .iter()
        .filter(|&&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7F).contains(&b))
        .count();
    printable * 100 >= head.len() * 95 || std::str::from_utf8(head).is_ok()
}

/// Entropy of the sample at or above which content is treated as random-looking.
pub const HIGH: f64 = 7.5;

/// The verdict on one file whose content changed: did it go from structured to random?
/// `before`/`after` are samples (the first bytes) of the previous and the new content.
pub fn looks_encrypted(before: &[u8], after: &[u8]) -> bool {
    if after.len() < 64 {
        return false;
    }
    let (h0, h1) = (shannon(before), shannon(after));
    let jumped = h1 >= HIGH && h1 - h0 >= 0.75;
    // Already-compressed formats (zip, jpeg): the level barely moves; the structure goes.
    let lost_structure = recognisable(before) && !recognisable(after) && h1 >= 7.8;
    jumped || lost_structure || small_and_random(before, after)
}

/// Distinct byte values random data of `n` bytes shows on average: 256·(1 − (255/256)ⁿ).
fn expected_distinct(n: usize) -> f64 {
    256.0 * (1.0 - (255.0f64 / 256.0).powi(n.min(100_000) as i32))
}

/// Small samples: `n` random bytes cannot reach [`HIGH`] bits/byte when `n` is a few hundred
/// (a 200-byte file of pure noise measures about 7.0), so entropy misses small encrypted files.
/// Judge them by the spread of byte values instead: a structured file (text, known format)
/// became one whose byte values are as spread as random bytes of that length.
fn small_and_random(before: &[u8], after: &[u8]) -> bool {
    if after.len() >= 4096 || !recognisable(before) || recognisable(after) {
        return false;
    }
    let mut seen = [false; 256];
    for &b in after {
        seen[b as usize] = true;
    }
    let distinct = seen.iter().filter(|&&x| x).count() as f64;
    distinct >= 0.85 * expected_distinct(after.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn entropy_bounds() {
        assert_eq!(shannon(b""), 0.0);
        assert_eq!(shannon(&[7u8; 1000]), 0.0);
        let all: Vec<u8> = (0..=255u8).collect();
        assert!((shannon(&all) - 8.0).abs() < 1e-9);
        assert!(shannon(&noise(65536)) > 7.99);
        let text = "The quick brown fox jumps over the lazy dog. ".repeat(200);
        assert!(shannon(text.as_bytes()) < 5.0);
    }

    #[test]
    fn judges_the_change_not_the_level() {
        let text = "Quarterly report: revenue grew by four percent.\n".repeat(300);
        let enc = noise(text.len());
        assert!(looks_encrypted(text.as_bytes(), &enc));
        // A text file edited into another text file is not encryption.
        assert!(!looks_encrypted(
            text.as_bytes(),
            "Other prose here.\n".repeat(500).as_bytes()
        ));
        // A zip replaced by a newer zip (high entropy both times, structure kept): benign.
        let mut zip_old = b"PK\x03\x04".to_vec();
        zip_old.extend(noise(20_000));
        let mut zip_new = b"PK\x03\x04".to_vec();
        zip_new.extend(noise(30_000).into_iter().rev());
        assert!(!looks_encrypted(&zip_old, &zip_new));
        // A zip whose structure vanished into noise: encrypted in place.
        assert!(looks_encrypted(&zip_old, &noise(20_000)));
        // A brand-new random file with nothing before is judged elsewhere (no change to judge).
        assert!(!looks_encrypted(&noise(100), &noise(10)));
    }

    #[test]
    fn small_files_are_judged_by_byte_spread() {
        // Noise of a few hundred bytes stays under the entropy threshold...
        for n in [64, 120, 200, 400, 1000] {
            let enc = noise(n + 16);
            assert!(shannon(&enc) < HIGH || n >= 400, "{n}: {}", shannon(&enc));
            let text = "Meeting notes, budget 2026. ".repeat(n / 28 + 1);
            let text = &text.as_bytes()[..n];
            // ...yet a small text file turned into noise is encrypted,
            assert!(looks_encrypted(text, &enc), "{n} bytes");
            // a small text edited into other text is not,
            let other = "Revised: budget 2027, see attachment. ".repeat(n / 38 + 1);
            assert!(!looks_encrypted(text, &other.as_bytes()[..n]), "{n} bytes");
            // and a small unknown binary rewritten as noise is not judged (no structure lost).
            assert!(!looks_encrypted(&noise(n)[..], &enc), "{n} bytes");
        }
        // Low-spread binary (e.g. a sparse record file) rewritten: not random-looking.
        let mut sparse = vec![0u8; 300];
        for (i, b) in sparse.iter_mut().enumerate() {
            *b = (i % 7) as u8;
        }
        assert!(!looks_encrypted(b"plain text here, short file\n", &sparse));
    }
}
