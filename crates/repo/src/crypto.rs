//! Primitives: keyed BLAKE3 ids and keys, XChaCha20-Poly1305 sealing, Argon2id, key derivation.

use crate::error::{Error, Result};
use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Nonce (24) + tag (16) added by [`seal`].
pub const SEAL_OVERHEAD: usize = 24 + 16;

/// A 32-byte secret key, wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Key(pub(crate) [u8; 32]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

impl Key {
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        Key(k)
    }
}

/// Encrypt `plaintext` under `key` with a random nonce; `ad` is authenticated, not stored.
/// Output: nonce (24) ‖ ciphertext ‖ tag (16).
pub fn seal(key: &Key, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    seal_parts(key, ad, &[plaintext])
}

/// [`seal`] of the concatenation of `parts`, built and encrypted in one buffer (no
/// intermediate copy of the plaintext or the ciphertext).
pub fn seal_parts(key: &Key, ad: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    seal_parts_into(key, ad, parts, Vec::new())
}

/// [`seal_parts`] into `out` (its content is replaced; its capacity is reused, so a caller that
/// recycles buffers avoids touching fresh memory for every blob).
pub fn seal_parts_into(key: &Key, ad: &[u8], parts: &[&[u8]], mut out: Vec<u8>) -> Vec<u8> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    // Nonces from the thread-local CSPRNG (ChaCha, seeded and periodically reseeded from the
    // OS): one getrandom system call per sealed blob was a measurable cost on small files.
    let mut nonce = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut nonce);
    out.clear();
    out.reserve(SEAL_OVERHEAD + len);
    out.extend_from_slice(&nonce);
    for p in parts {
        out.extend_from_slice(p);
    }
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(&nonce), ad, &mut out[24..])
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
    out.extend_from_slice(&tag);
    out
}

/// Decrypt what [`seal`] produced. Any tampering (or a wrong key / ad) is an error.
pub fn open(key: &Key, ad: &[u8], sealed: &[u8], object: &str) -> Result<Vec<u8>> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(Error::corrupt(
            object,
            format!("sealed data too short ({} bytes)", sealed.len()),
        ));
    }
    let cipher = XChaCha20Poly1305::new((&key.0).into());
    cipher
        .decrypt(
            XNonce::from_slice(&sealed[..24]),
            Payload {
                msg: &sealed[24..],
                aad: ad,
            },
        )
        .map_err(|_| Error::corrupt(object, "authentication failed (damaged or wrong key)"))
}

/// Argon2id parameters, stored in each key slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane.
    fn default() -> Self {
        KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        }
    }
}

impl KdfParams {
    /// Cheap parameters for tests and fixtures (never for real repositories).
    pub fn insecure_fast() -> Self {
        KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }
}

/// Passphrase → key-encryption key.
pub fn derive_kek(passphrase: &str, salt: &[u8], params: KdfParams) -> Result<Key> {
    let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
        .map_err(|e| Error::Invalid(format!("argon2 parameters: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = [0u8; 32];
    a.hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| Error::Invalid(format!("argon2: {e}")))?;
    Ok(Key(out))
}

/// Keys derived from the master material (see FORMAT.md §2).
#[derive(Clone)]
pub struct MasterKeys {
    pub(crate) material: Vec<u8>,
    pub(crate) id_key: Key,
    pub(crate) conv_key: Key,
    pub(crate) meta_key: Key,
    pub(crate) wrap_key: Key,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKeys(..)")
    }
}

impl Drop for MasterKeys {
    fn drop(&mut self) {
        self.material.zeroize();
    }
}

impl MasterKeys {
    pub fn generate() -> Self {
        let mut m = vec![0u8; 64];
        rand::rngs::OsRng.fill_bytes(&mut m);
        Self::from_material(m)
    }

    pub fn from_material(material: Vec<u8>) -> Self {
        let d = |ctx: &str| Key(blake3::derive_key(ctx, &material));
        MasterKeys {
            id_key: d("tenantvault v1 blob-id"),
            conv_key: d("tenantvault v1 convergence"),
            meta_key: d("tenantvault v1 metadata"),
            wrap_key: d("tenantvault v1 owner-wrap"),
            material,
        }
    }

    /// Blob id of a plaintext.
    pub fn blob_id(&self, data: &[u8]) -> BlobId {
        BlobId(*blake3::keyed_hash(&self.id_key.0, data).as_bytes())
    }

    /// Convergent blob key of a plaintext.
    pub fn blob_key(&self, data: &[u8]) -> BlobKey {
        BlobKey(*blake3::keyed_hash(&self.conv_key.0, data).as_bytes())
    }

    /// Keyed hash under the metadata key (owner key ids).
    pub fn meta_hash(&self, data: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(&self.meta_key.0, data).as_bytes()
    }
}

/// Decodes 64 hex characters from a borrowed or owned string without an intermediate `String`.
struct Hex32Visitor;

impl serde::de::Visitor<'_> for Hex32Visitor {
    type Value = [u8; 32];
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("64 hex chars")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<[u8; 32], E> {
        decode_hex32(v.as_bytes()).ok_or_else(|| E::custom("expected 64 hex chars"))
    }
}

/// Value of one hex digit (either case), or 0xff.
const fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0xff,
    }
}

const HEX_VALUES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = hex_value(i as u8);
        i += 1;
    }
    t
};

/// 64 hex digits → 32 bytes (table lookup: item lists hold two ids per blob reference).
fn decode_hex32(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = (HEX_VALUES[pair[0] as usize], HEX_VALUES[pair[1] as usize]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(out)
}

macro_rules! hex32 {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            pub fn from_hex(s: &str) -> Option<Self> {
                let v = hex::decode(s).ok()?;
                Some($name(v.try_into().ok()?))
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                // Hex into a stack buffer: no allocation per id (item lists hold many).
                let mut buf = [0u8; 64];
                hex::encode_to_slice(self.0, &mut buf).expect("64 bytes for 32");
                s.serialize_str(std::str::from_utf8(&buf).expect("hex is ASCII"))
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                d: D,
            ) -> std::result::Result<Self, D::Error> {
                d.deserialize_str(Hex32Visitor).map($name)
            }
        }
    };
}

hex32!(BlobId, "Keyed BLAKE3 of a blob's plaintext.");
hex32!(
    BlobKey,
    "Convergent key of a blob (stored only in owner-encrypted snapshot data)."
);
hex32!(PackId, "BLAKE3 of a whole pack object.");

impl std::fmt::Debug for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobId({})", &self.to_hex()[..16])
    }
}
impl std::fmt::Debug for PackId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackId({})", &self.to_hex()[..16])
    }
}
impl std::fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobKey(..)")
    }
}

impl BlobKey {
    pub(crate) fn key(&self) -> Key {
        Key(self.0)
    }
}

/// Random lowercase hex id of `n` bytes.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// Standard base64 helpers for JSON envelopes.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub fn unb64(s: &str, object: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| Error::corrupt(object, format!("bad base64: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn seal_open_round_trip(data in proptest::collection::vec(any::<u8>(), 0..4096), ad in proptest::collection::vec(any::<u8>(), 0..64)) {
            let k = Key::random();
            let s = seal(&k, &ad, &data);
            prop_assert_eq!(open(&k, &ad, &s, "t").unwrap(), data);
        }

        #[test]
        fn tampering_is_detected(data in proptest::collection::vec(any::<u8>(), 0..1024), bit in any::<usize>()) {
            let k = Key::random();
            let mut s = seal(&k, b"ad", &data);
            let i = bit % (s.len() * 8);
            s[i / 8] ^= 1 << (i % 8);
            let bad = matches!(open(&k, b"ad", &s, "t"), Err(Error::Corrupt { .. }));
            prop_assert!(bad);
        }
    }

    #[test]
    fn hex32_decoding_matches_the_hex_crate() {
        let id = BlobId([0xa5; 32]);
        assert_eq!(decode_hex32(id.to_hex().as_bytes()), Some(id.0));
        assert_eq!(
            decode_hex32(id.to_hex().to_uppercase().as_bytes()),
            Some(id.0)
        );
        let mut all = [0u8; 32];
        for (i, b) in all.iter_mut().enumerate() {
            *b = (i * 8 + 7) as u8;
        }
        assert_eq!(decode_hex32(hex::encode(all).as_bytes()), Some(all));
        for bad in ["", "0", &"g".repeat(64), &"0".repeat(63), &"0".repeat(65)] {
            assert_eq!(decode_hex32(bad.as_bytes()), None, "{bad}");
        }
        let mut s = "0".repeat(64).into_bytes();
        s[17] = b'/';
        assert_eq!(decode_hex32(&s), None);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<BlobId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<BlobId>("\"zz\"").is_err());
    }

    #[test]
    fn wrong_ad_or_key_fails() {
        let k = Key::random();
        let s = seal(&k, b"a", b"hello");
        assert!(open(&k, b"b", &s, "t").is_err());
        assert!(open(&Key::random(), b"a", &s, "t").is_err());
    }
}
