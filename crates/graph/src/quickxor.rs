//! QuickXorHash, the only content hash OneDrive for Business and SharePoint report
//! (`file.hashes.quickXorHash`), so downloads can be verified against Graph's metadata.
//!
//! A 160-bit register; byte `i` of the input is XORed in at bit offset `(i * 11) mod 160`
//! (wrapping around); at the end the input length, as 64-bit little-endian, is XORed into the
//! last 8 bytes. The digest is shown base64-encoded.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const WIDTH_BITS: usize = 160;
const SHIFT: usize = 11;

/// Incremental QuickXorHash.
#[derive(Debug, Clone)]
pub struct QuickXorHash {
    register: [u8; 20],
    /// Bit offset of the next byte, always `< 160`.
    offset: usize,
    length: u64,
}

impl Default for QuickXorHash {
    fn default() -> Self {
        Self::new()
    }
}

impl QuickXorHash {
    /// An empty hasher.
    pub fn new() -> Self {
        Self {
            register: [0; 20],
            offset: 0,
            length: 0,
        }
    }

    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            let byte_index = self.offset / 8;
            let bit = self.offset % 8;
            let spread = u16::from(b) << bit;
            self.register[byte_index] ^= spread as u8;
            self.register[(byte_index + 1) % 20] ^= (spread >> 8) as u8;
            self.offset = (self.offset + SHIFT) % WIDTH_BITS;
        }
        self.length += data.len() as u64;
    }

    /// The 20-byte digest.
    pub fn finish(&self) -> [u8; 20] {
        let mut out = self.register;
        for (o, l) in out[12..].iter_mut().zip(self.length.to_le_bytes()) {
            *o ^= l;
        }
        out
    }

    /// The digest as Graph shows it (base64).
    pub fn finish_base64(&self) -> String {
        STANDARD.encode(self.finish())
    }

    /// Hash of a whole buffer, base64.
    pub fn of(data: &[u8]) -> String {
        let mut h = Self::new();
        h.update(data);
        h.finish_base64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            QuickXorHash::of(b"hello world"),
            "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
        );
        assert_eq!(QuickXorHash::of(b""), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    }

    #[test]
    fn incremental_equals_one_shot_and_wraps_around() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let whole = QuickXorHash::of(&data);
        for split in [1usize, 7, 19, 20, 160, 4096] {
            let mut h = QuickXorHash::new();
            for c in data.chunks(split) {
                h.update(c);
            }
            assert_eq!(h.finish_base64(), whole, "chunks of {split}");
        }
        assert_ne!(QuickXorHash::of(&data[..9_999]), whole);
    }
}
