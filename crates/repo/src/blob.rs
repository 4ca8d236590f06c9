//! Blob encoding: optional zstd, then sealing under the convergent blob key (FORMAT.md §4).

use crate::crypto::{BlobId, BlobKey, MasterKeys, SEAL_OVERHEAD, open, seal_parts_into};
use crate::error::{Error, Result};

const FLAG_ZSTD: u8 = 1;

/// Associated data binding a sealed blob to its id.
fn blob_ad(id: &BlobId) -> Vec<u8> {
    let mut ad = b"tv1 blob ".to_vec();
    ad.extend_from_slice(&id.0);
    ad
}

/// A blob ready to be placed in a pack.
#[derive(Debug, Clone)]
pub struct EncodedBlob {
    pub id: BlobId,
    pub key: BlobKey,
    pub plain_len: u32,
    pub stored: Vec<u8>,
}

thread_local! {
    // Creating a zstd context per blob costs more than compressing a small blob.
    static CCTX: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
    // Reused output buffer for compression (small blobs: no allocation per blob).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Scratch buffers above this size are released after use (bounded memory per thread).
const SCRATCH_KEEP: usize = 1 << 20;

/// Blobs at least this large are sampled before zstd runs over the whole of them.
const SAMPLE_FROM: usize = 128 * 1024;
/// Size of each of the three sample slices (start, middle, end of the blob).
const SAMPLE_SLICE: usize = 16 * 1024;
/// The sample must shrink by at least 1/`SAMPLE_MIN_GAIN` for the whole blob to be compressed.
const SAMPLE_MIN_GAIN: usize = 32;

/// Run `f` with this thread's zstd context at `level`; false if none could be created.
fn with_cctx(level: i32, f: impl FnOnce(&mut zstd::bulk::Compressor<'static>) -> bool) -> bool {
    CCTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            *c = zstd::bulk::Compressor::new(level).ok().map(|z| (level, z));
        }
        c.as_mut().is_some_and(|(_, z)| f(z))
    })
}

/// Early abort for incompressible content (media, archives, encrypted files): compress three
/// slices of a large blob and report whether they shrank by at least 1/[`SAMPLE_MIN_GAIN`].
/// Costs about 5 % of compressing a 1 MiB blob whole; on incompressible data zstd would
/// otherwise scan every byte for nothing. `out` is scratch space.
fn sample_compresses(data: &[u8], level: i32, out: &mut Vec<u8>) -> bool {
    if data.len() < SAMPLE_FROM {
        return true;
    }
    let mid = data.len() / 2 - SAMPLE_SLICE / 2;
    let slices = [
        &data[..SAMPLE_SLICE],
        &data[mid..mid + SAMPLE_SLICE],
        &data[data.len() - SAMPLE_SLICE..],
    ];
    let mut packed = 0;
    let ok = with_cctx(level, |z| {
        slices.iter().all(|s| {
            out.clear();
            out.reserve(zstd::zstd_safe::compress_bound(s.len()));
            let ok = z.compress_to_buffer(s, out).is_ok();
            packed += out.len();
            ok
        })
    });
    let sampled = slices.len() * SAMPLE_SLICE;
    ok && packed * SAMPLE_MIN_GAIN <= sampled * (SAMPLE_MIN_GAIN - 1)
}

/// Compress `data` into `out` (replacing its content); true if zstd ran and shrank it enough
/// to be worth storing compressed. Large blobs whose sample does not compress are not tried.
fn compress_into(data: &[u8], level: i32, out: &mut Vec<u8>) -> bool {
    if data.len() < 64 || !sample_compresses(data, level, out) {
        return false;
    }
    out.clear();
    out.reserve(zstd::zstd_safe::compress_bound(data.len()));
    let ok = with_cctx(level, |z| z.compress_to_buffer(data, out).is_ok());
    ok && out.len() + 1 < data.len()
}

/// Run `f` with this thread's framed form of `data`: `flags ‖ payload`, as two parts.
fn with_framed<T>(data: &[u8], level: i32, f: impl FnOnce(&[&[u8]]) -> T) -> T {
    SCRATCH.with(|s| {
        let mut scratch = s.borrow_mut();
        let r = if compress_into(data, level, &mut scratch) {
            f(&[&[FLAG_ZSTD], &scratch[..]])
        } else {
            f(&[&[0], data])
        };
        if scratch.capacity() > SCRATCH_KEEP {
            *scratch = Vec::new();
        }
        r
    })
}

/// Compress `data` with zstd at `level` if that shrinks it; returns `flags ‖ payload`.
#[cfg(test)]
pub fn compress(data: &[u8], level: i32) -> Vec<u8> {
    with_framed(data, level, |parts| parts.concat())
}

/// Inverse of [`compress`]; `plain_len` bounds the output.
pub fn decompress(framed: &[u8], plain_len: usize, object: &str) -> Result<Vec<u8>> {
    let (&flags, payload) = framed
        .split_first()
        .ok_or_else(|| Error::corrupt(object, "empty blob payload"))?;
    match flags {
        0 => Ok(payload.to_vec()),
        FLAG_ZSTD => zstd::bulk::decompress(payload, plain_len)
            .map_err(|e| Error::corrupt(object, format!("zstd: {e}"))),
        f => Err(Error::corrupt(object, format!("unknown blob flags {f:#x}"))),
    }
}

/// Hash, key, compress and seal one plaintext blob (CPU-bound; call off the async runtime).
#[cfg(test)]
pub fn encode(keys: &MasterKeys, data: &[u8], level: i32) -> EncodedBlob {
    let id = keys.blob_id(data);
    encode_with_id_into(keys, id, data, level, Vec::new())
}

/// Upper bound of the stored size of a blob of `plain_len` bytes (compression is kept only
/// when it shrinks the blob).
pub fn sealed_len(plain_len: usize) -> usize {
    1 + plain_len + SEAL_OVERHEAD
}

/// Encode a plaintext whose id is already known, sealing into `out` (its content is replaced;
/// a buffer of [`sealed_len`] bytes is not reallocated).
pub fn encode_with_id_into(
    keys: &MasterKeys,
    id: BlobId,
    data: &[u8],
    level: i32,
    out: Vec<u8>,
) -> EncodedBlob {
    let key = keys.blob_key(data);
    let stored = with_framed(data, level, |framed| {
        seal_parts_into(&key.key(), &blob_ad(&id), framed, out)
    });
    EncodedBlob {
        id,
        key,
        plain_len: data.len() as u32,
        stored,
    }
}

/// Decrypt, decompress and verify one stored blob.
pub fn decode(
    keys: &MasterKeys,
    id: &BlobId,
    key: &BlobKey,
    plain_len: usize,
    stored: &[u8],
) -> Result<Vec<u8>> {
    let object = format!("blob {id}");
    let framed = open(&key.key(), &blob_ad(id), stored, &object)?;
    let data = decompress(&framed, plain_len, &object)?;
    if keys.blob_id(&data) != *id {
        return Err(Error::corrupt(object, "content does not match its id"));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn compress_round_trip(data in proptest::collection::vec(any::<u8>(), 0..8192), rep in 0usize..4) {
            let mut d = data.clone();
            for _ in 0..rep { d.extend_from_slice(&data); }
            let c = compress(&d, 3);
            prop_assert!(c.len() <= d.len() + 1);
            prop_assert_eq!(decompress(&c, d.len(), "t").unwrap(), d);
        }

        #[test]
        fn encode_decode_round_trip(data in proptest::collection::vec(any::<u8>(), 0..8192)) {
            let keys = MasterKeys::generate();
            let b = encode(&keys, &data, 3);
            prop_assert_eq!(b.key, keys.blob_key(&data));
            let back = decode(&keys, &b.id, &b.key, data.len(), &b.stored).unwrap();
            prop_assert_eq!(back, data);
        }

        #[test]
        fn tampered_blob_is_rejected(data in proptest::collection::vec(any::<u8>(), 1..2048), bit in any::<usize>()) {
            let keys = MasterKeys::generate();
            let mut b = encode(&keys, &data, 3);
            let i = bit % (b.stored.len() * 8);
            b.stored[i / 8] ^= 1 << (i % 8);
            prop_assert!(decode(&keys, &b.id, &b.key, data.len(), &b.stored).is_err());
        }
    }

    fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
        use rand::{RngCore, SeedableRng};
        let mut v = vec![0u8; n];
        rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut v);
        v
    }

    fn text_bytes(n: usize) -> Vec<u8> {
        let words = [
            "budget ", "meeting ", "report ", "quarter ", "draft\n", "team ",
        ];
        let mut v = Vec::with_capacity(n + 16);
        let mut i = 7usize;
        while v.len() < n {
            i = i.wrapping_mul(2_654_435_761).wrapping_add(12_345);
            v.extend_from_slice(words[(i >> 16) % words.len()].as_bytes());
        }
        v.truncate(n);
        v
    }

    #[test]
    fn large_incompressible_blob_skips_zstd_and_round_trips() {
        let data = random_bytes(1 << 20, 1);
        let mut scratch = Vec::new();
        assert!(!sample_compresses(&data, 2, &mut scratch));
        let framed = compress(&data, 2);
        assert_eq!(framed[0], 0, "stored uncompressed");
        assert_eq!(&framed[1..], &data[..]);
        let keys = MasterKeys::generate();
        let b = encode(&keys, &data, 2);
        assert_eq!(b.stored.len(), sealed_len(data.len()));
        assert_eq!(
            decode(&keys, &b.id, &b.key, data.len(), &b.stored).unwrap(),
            data
        );
    }

    #[test]
    fn large_compressible_blob_is_compressed() {
        let data = text_bytes(1 << 20);
        assert!(sample_compresses(&data, 2, &mut Vec::new()));
        let framed = compress(&data, 2);
        assert_eq!(framed[0], FLAG_ZSTD);
        assert!(framed.len() < data.len() / 2);
        assert_eq!(decompress(&framed, data.len(), "t").unwrap(), data);
    }

    #[test]
    fn sample_sees_compressible_content_behind_a_random_head() {
        // A media header (incompressible) in front of a long compressible body: two of the
        // three sample slices compress, so the blob is compressed as a whole.
        let mut data = random_bytes(64 * 1024, 2);
        data.extend_from_slice(&text_bytes(1 << 20));
        let framed = compress(&data, 2);
        assert_eq!(framed[0], FLAG_ZSTD);
        assert!(framed.len() < data.len() * 3 / 4);
        assert_eq!(decompress(&framed, data.len(), "t").unwrap(), data);
        // Below the sampling size the blob is always tried whole.
        let small = random_bytes(SAMPLE_FROM - 1, 3);
        assert!(sample_compresses(&small, 2, &mut Vec::new()));
    }

    #[test]
    fn same_plaintext_same_id_and_key_across_owners() {
        let keys = MasterKeys::generate();
        let a = encode(&keys, b"attachment bytes", 3);
        let b = encode(&keys, b"attachment bytes", 3);
        assert_eq!(a.id, b.id);
        assert_eq!(a.key, b.key);
        assert_ne!(a.stored, b.stored, "random nonces");
    }
}
