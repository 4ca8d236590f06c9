//! QuickXorHash, the only content hash OneDrive for Business and SharePoint serve
//! (`file.hashes.quickXorHash`).
//!
//! The algorithm (OneDrive API docs, "QuickXorHash"): a 160-bit register; input byte
//! `n` is XORed into the register at bit offset `(n * 11) mod 160`, wrapping around
//! the end of the register; finally the 64-bit little-endian input length is XORed
//! into the last 8 bytes of the 20-byte digest, which is published base64-encoded.
//!
//! Because `160 * 11 ≡ 0 (mod 160)`, every input byte whose index has the same residue
//! modulo 160 lands at the same bit offset. The hasher therefore first folds the input
//! into 160 byte lanes with plain word-wide XORs (fast, vectorisable) and only places
//! the 160 lanes into the register once, at [`QuickXorHasher::finalize`].

use base64::Engine as _;

/// Width of the register and of the lane block, in bytes.
const BLOCK: usize = 160;
/// Bit shift between consecutive input bytes.
const SHIFT: usize = 11;
/// Register width in bits.
const WIDTH_BITS: usize = 160;

/// Incremental QuickXorHash state.
#[derive(Clone)]
pub struct QuickXorHasher {
    /// `lanes[k]` = XOR of every input byte whose index ≡ k (mod 160).
    lanes: [u8; BLOCK],
    /// Index (mod 160) of the next input byte.
    pos: usize,
    /// Total input length so far.
    len: u64,
}

impl Default for QuickXorHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for QuickXorHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickXorHasher")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl QuickXorHasher {
    /// A hasher that has seen no input.
    pub fn new() -> Self {
        Self {
            lanes: [0; BLOCK],
            pos: 0,
            len: 0,
        }
    }

    /// Feeds more input.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        // Finish a partial block byte by byte.
        while self.pos != 0 && !data.is_empty() {
            self.lanes[self.pos] ^= data[0];
            self.pos = (self.pos + 1) % BLOCK;
            data = &data[1..];
        }
        // Whole blocks: XOR 160 bytes at a time, eight bytes per operation.
        let mut blocks = data.chunks_exact(BLOCK);
        if blocks.len() > 0 {
            let mut words = [0u64; BLOCK / 8];
            for block in &mut blocks {
                for (w, chunk) in words.iter_mut().zip(block.chunks_exact(8)) {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(chunk);
                    *w ^= u64::from_le_bytes(b);
                }
            }
            for (lane8, w) in self.lanes.chunks_exact_mut(8).zip(words) {
                for (lane, b) in lane8.iter_mut().zip(w.to_le_bytes()) {
                    *lane ^= b;
                }
            }
        }
        for &b in blocks.remainder() {
            self.lanes[self.pos] ^= b;
            self.pos += 1;
        }
    }

    /// Number of bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no byte has been hashed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The 20-byte digest.
    pub fn finalize(&self) -> [u8; 20] {
        // 160-bit register as bits 0..159, little-endian across the 20 output bytes.
        let mut reg = [0u8; 20];
        for (k, &lane) in self.lanes.iter().enumerate() {
            if lane == 0 {
                continue;
            }
            let offset = (k * SHIFT) % WIDTH_BITS;
            for bit in 0..8 {
                if lane >> bit & 1 == 1 {
                    let target = (offset + bit) % WIDTH_BITS;
                    reg[target / 8] ^= 1 << (target % 8);
                }
            }
        }
        for (r, l) in reg[12..].iter_mut().zip(self.len.to_le_bytes()) {
            *r ^= l;
        }
        reg
    }

    /// The digest as Graph publishes it (standard base64 with padding).
    pub fn finalize_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.finalize())
    }
}

/// QuickXorHash of `data`, base64-encoded as in `file.hashes.quickXorHash`.
pub fn quick_xor_hash(data: &[u8]) -> String {
    let mut h = QuickXorHasher::new();
    h.update(data);
    h.finalize_base64()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward bit-by-bit definition, used as the reference model.
    fn reference(data: &[u8]) -> [u8; 20] {
        let mut reg = [0u8; 20];
        for (n, &byte) in data.iter().enumerate() {
            let offset = (n * SHIFT) % WIDTH_BITS;
            for bit in 0..8 {
                if byte >> bit & 1 == 1 {
                    let t = (offset + bit) % WIDTH_BITS;
                    reg[t / 8] ^= 1 << (t % 8);
                }
            }
        }
        for (r, l) in reg[12..].iter_mut().zip((data.len() as u64).to_le_bytes()) {
            *r ^= l;
        }
        reg
    }

    #[test]
    fn microsoft_test_vector_hello_world() {
        assert_eq!(
            quick_xor_hash(b"hello world"),
            "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
        );
    }

    #[test]
    fn empty_input_is_all_zero() {
        assert_eq!(quick_xor_hash(b""), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    }

    #[test]
    fn matches_reference_for_all_lengths_and_split_points() {
        let data: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [0, 1, 7, 159, 160, 161, 319, 320, 321, 999, 1000] {
            let want = reference(&data[..len]);
            let mut one = QuickXorHasher::new();
            one.update(&data[..len]);
            assert_eq!(one.finalize(), want, "len {len}");
            for split in [0, 1, 3, 80, 159, 160, 161, 500] {
                if split > len {
                    continue;
                }
                let mut two = QuickXorHasher::new();
                two.update(&data[..split]);
                two.update(&data[split..len]);
                assert_eq!(two.finalize(), want, "len {len} split {split}");
            }
        }
    }

    #[test]
    fn byte_at_a_time_equals_bulk() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 + i / 3) as u8).collect();
        let mut a = QuickXorHasher::new();
        for b in &data {
            a.update(std::slice::from_ref(b));
        }
        let mut b = QuickXorHasher::new();
        b.update(&data);
        assert_eq!(a.finalize(), b.finalize());
        assert_eq!(a.len(), 4096);
    }
}
