//! QuickXorHash, the content hash OneDrive for Business and SharePoint publish in
//! `file.hashes.quickXorHash` (base64 of a 20-byte digest).
//!
//! Definition (OneDrive API docs): a 160-bit register, read as a little-endian number; the
//! `n`-th input byte is XORed in at bit offset `(11 · n) mod 160`, its high bits wrapping
//! around to bit 0; at the end the input length, as a 64-bit little-endian integer, is XORed
//! into the last 8 bytes of the 20-byte digest.
//!
//! Every byte whose index has the same residue modulo 160 lands at the same offset, so the
//! hasher XORs input into 160 lanes (cheap, word-wide) and places the lanes into the register
//! only once, in [`QuickXorHash::finish`].

const LANES: usize = 160;
const DIGEST: usize = 20;

/// Incremental QuickXorHash.
#[derive(Clone)]
pub struct QuickXorHash {
    lanes: [u8; LANES],
    /// Lane of the next input byte.
    next: usize,
    len: u64,
}

impl Default for QuickXorHash {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for QuickXorHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuickXorHash")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl QuickXorHash {
    /// An empty hasher.
    pub fn new() -> Self {
        Self {
            lanes: [0; LANES],
            next: 0,
            len: 0,
        }
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True before any byte was hashed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feeds bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        // Head: up to the next lane-0 boundary.
        if self.next != 0 {
            let n = (LANES - self.next).min(data.len());
            for (lane, b) in self.lanes[self.next..self.next + n]
                .iter_mut()
                .zip(&data[..n])
            {
                *lane ^= b;
            }
            self.next = (self.next + n) % LANES;
            data = &data[n..];
        }
        // Whole blocks, then the tail.
        let mut blocks = data.chunks_exact(LANES);
        for block in &mut blocks {
            for (lane, b) in self.lanes.iter_mut().zip(block) {
                *lane ^= b;
            }
        }
        let tail = blocks.remainder();
        for (lane, b) in self.lanes.iter_mut().zip(tail) {
            *lane ^= b;
        }
        self.next = (self.next + tail.len()) % LANES;
    }

    /// The 20-byte digest.
    pub fn digest(&self) -> [u8; DIGEST] {
        let mut reg = [0u8; DIGEST];
        for (k, &b) in self.lanes.iter().enumerate() {
            if b == 0 {
                continue;
            }
            let bit = (k * 11) % (DIGEST * 8);
            let (byte, shift) = (bit / 8, bit % 8);
            reg[byte] ^= b << shift;
            if shift > 0 {
                reg[(byte + 1) % DIGEST] ^= b >> (8 - shift);
            }
        }
        for (r, l) in reg[DIGEST - 8..].iter_mut().zip(self.len.to_le_bytes()) {
            *r ^= l;
        }
        reg
    }

    /// The digest as Graph publishes it (standard base64 with padding).
    pub fn finish(&self) -> String {
        base64(&self.digest())
    }

    /// Hash of a whole buffer.
    pub fn of(data: &[u8]) -> String {
        let mut h = Self::new();
        h.update(data);
        h.finish()
    }
}

/// Standard base64 with padding (the only encoding this module needs).
fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// True when two base64 hash strings denote the same digest (padding is optional on the wire).
pub fn same_hash(a: &str, b: &str) -> bool {
    a.trim_end_matches('=') == b.trim_end_matches('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-by-bit model straight from the definition, for comparison.
    fn slow(data: &[u8]) -> [u8; DIGEST] {
        let mut bits = [false; 160];
        for (i, &b) in data.iter().enumerate() {
            let off = (i * 11) % 160;
            for j in 0..8 {
                if b >> j & 1 == 1 {
                    let p = (off + j) % 160;
                    bits[p] = !bits[p];
                }
            }
        }
        let mut out = [0u8; DIGEST];
        for (p, &on) in bits.iter().enumerate() {
            if on {
                out[p / 8] |= 1 << (p % 8);
            }
        }
        for (r, l) in out[12..].iter_mut().zip((data.len() as u64).to_le_bytes()) {
            *r ^= l;
        }
        out
    }

    #[test]
    fn base64_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert!(same_hash("Zg==", "Zg"));
    }

    #[test]
    fn microsoft_test_vector() {
        assert_eq!(
            QuickXorHash::of(b"hello world"),
            "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
        );
        assert_eq!(QuickXorHash::of(b""), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    }

    #[test]
    fn matches_the_bitwise_model_for_any_split() {
        let data: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [0, 1, 7, 159, 160, 161, 319, 320, 999, 2000] {
            let want = slow(&data[..len]);
            let mut one = QuickXorHash::new();
            one.update(&data[..len]);
            assert_eq!(one.digest(), want, "len {len}");
            for split in [1, 3, 150, 161] {
                let mut h = QuickXorHash::new();
                for c in data[..len].chunks(split) {
                    h.update(c);
                }
                assert_eq!(h.digest(), want, "len {len} split {split}");
                assert_eq!(h.len(), len as u64);
            }
        }
    }
}
