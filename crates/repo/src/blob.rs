//! Blob encoding: optional zstd, then sealing under the convergent blob key (FORMAT.md §4).

use crate::crypto::{BlobId, BlobKey, MasterKeys, open, seal_parts};
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

/// Compress `data` into `out` (replacing its content); true if zstd ran and shrank it enough
/// to be worth storing compressed.
fn compress_into(data: &[u8], level: i32, out: &mut Vec<u8>) -> bool {
    if data.len() < 64 {
        return false;
    }
    out.clear();
    out.reserve(zstd::zstd_safe::compress_bound(data.len()));
    let ok = CCTX.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            *c = zstd::bulk::Compressor::new(level).ok().map(|z| (level, z));
        }
        c.as_mut()
            .is_some_and(|(_, z)| z.compress_to_buffer(data, out).is_ok())
    });
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
    encode_with_id(keys, id, data, level)
}

/// As [`encode`] with a precomputed id.
pub fn encode_with_id(keys: &MasterKeys, id: BlobId, data: &[u8], level: i32) -> EncodedBlob {
    let key = keys.blob_key(data);
    let stored = with_framed(data, level, |framed| {
        seal_parts(&key.key(), &blob_ad(&id), framed)
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
