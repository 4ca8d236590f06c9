//! Packs: many sealed blobs, then a sealed header and a fixed trailer (FORMAT.md §5).

use crate::crypto::{BlobId, Key, PackId, open, seal};
use crate::error::{Error, Result};

pub const TRAILER_LEN: usize = 8;
const MAGIC: &[u8; 4] = b"TVP1";
const ENTRY_LEN: usize = 32 + 1 + 8 + 4 + 4;
const HEADER_AD: &[u8] = b"tv1 pack-header";

/// What a blob is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlobKind {
    /// Item content or metadata document.
    Data = 0,
    /// Snapshot item list.
    Tree = 1,
}

impl BlobKind {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::Tree),
            _ => None,
        }
    }
}

/// Location of one blob inside a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackEntry {
    pub id: BlobId,
    pub kind: BlobKind,
    pub offset: u64,
    pub stored_len: u32,
    pub plain_len: u32,
}

impl PackEntry {
    /// One past the entry's last byte in its pack, or `None` if `offset + stored_len`
    /// overflows (only a hostile or damaged header says so).
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(u64::from(self.stored_len))
    }
}

/// Storage key of a pack.
pub fn pack_key(id: &PackId) -> String {
    let h = id.to_hex();
    format!("data/{}/{}", &h[..2], h)
}

/// Parse a pack key back to its id.
pub fn pack_id_from_key(key: &str) -> Option<PackId> {
    let name = key.strip_prefix("data/")?.split('/').nth(1)?;
    PackId::from_hex(name)
}

pub(crate) fn encode_entries(entries: &[PackEntry], out: &mut Vec<u8>) {
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.extend_from_slice(&e.id.0);
        out.push(e.kind as u8);
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.stored_len.to_le_bytes());
        out.extend_from_slice(&e.plain_len.to_le_bytes());
    }
}

pub(crate) fn decode_entries(buf: &[u8], object: &str) -> Result<Vec<PackEntry>> {
    let bad = |d: &str| Error::corrupt(object, d);
    if buf.len() < 4 {
        return Err(bad("entry table truncated"));
    }
    let n = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
    let body = &buf[4..];
    if n.checked_mul(ENTRY_LEN) != Some(body.len()) {
        return Err(bad("entry table length mismatch"));
    }
    body.chunks_exact(ENTRY_LEN)
        .map(|e| {
            let entry = PackEntry {
                id: BlobId(e[..32].try_into().expect("32 bytes")),
                kind: BlobKind::from_u8(e[32]).ok_or_else(|| bad("unknown blob kind"))?,
                offset: u64::from_le_bytes(e[33..41].try_into().expect("8 bytes")),
                stored_len: u32::from_le_bytes(e[41..45].try_into().expect("4 bytes")),
                plain_len: u32::from_le_bytes(e[45..49].try_into().expect("4 bytes")),
            };
            // Every reader computes `offset + stored_len`: an entry for which that sum does
            // not fit in 64 bits describes no byte range at all.
            if entry.end().is_none() {
                return Err(bad(&format!(
                    "blob {}: offset {} + length {} overflows",
                    entry.id, entry.offset, entry.stored_len
                )));
            }
            Ok(entry)
        })
        .collect()
}

/// Accumulates sealed blobs into one pack in memory.
#[derive(Debug, Default)]
pub struct PackBuilder {
    buf: Vec<u8>,
    entries: Vec<PackEntry>,
}

impl PackBuilder {
    #[cfg(test)]
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder whose buffer holds `bytes` without growing (a pack is filled up to its
    /// target plus one blob: reserving that once avoids copying the pack on every doubling).
    pub fn with_capacity(bytes: usize) -> Self {
        PackBuilder {
            buf: Vec::with_capacity(bytes),
            entries: Vec::new(),
        }
    }

    pub fn add(&mut self, id: BlobId, kind: BlobKind, plain_len: u32, stored: &[u8]) {
        self.entries.push(PackEntry {
            id,
            kind,
            offset: self.buf.len() as u64,
            stored_len: stored.len() as u32,
            plain_len,
        });
        self.buf.extend_from_slice(stored);
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Seal the header, append the trailer, and return (pack id, bytes, entries).
    pub fn finish(mut self, meta_key: &Key) -> (PackId, Vec<u8>, Vec<PackEntry>) {
        self.buf
            .extend_from_slice(&pack_tail(meta_key, &self.entries));
        let id = PackId(*blake3::hash(&self.buf).as_bytes());
        (id, self.buf, self.entries)
    }
}

/// What follows a pack's blobs: the sealed header listing `entries`, then the trailer. A
/// writer that streams the blobs elsewhere (a file) appends this to finish the pack; its id is
/// the BLAKE3 hash of everything.
pub(crate) fn pack_tail(meta_key: &Key, entries: &[PackEntry]) -> Vec<u8> {
    let mut header = vec![1u8];
    encode_entries(entries, &mut header);
    let mut out = seal(meta_key, HEADER_AD, &header);
    let sealed_len = out.len() as u32;
    out.extend_from_slice(&sealed_len.to_le_bytes());
    out.extend_from_slice(MAGIC);
    out
}

/// Parse the trailer (last [`TRAILER_LEN`] bytes): returns the sealed header length.
pub fn parse_trailer(trailer: &[u8], object: &str) -> Result<usize> {
    if trailer.len() != TRAILER_LEN || &trailer[4..] != MAGIC {
        return Err(Error::corrupt(
            object,
            "bad pack trailer (truncated or not a pack)",
        ));
    }
    Ok(u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes")) as usize)
}

/// Decrypt and parse a sealed pack header; entries are checked against `data_len`
/// (the number of bytes before the header).
pub fn parse_header(
    meta_key: &Key,
    sealed: &[u8],
    data_len: u64,
    object: &str,
) -> Result<Vec<PackEntry>> {
    let header = open(meta_key, HEADER_AD, sealed, object)?;
    if header.first() != Some(&1) {
        return Err(Error::corrupt(object, "unknown pack header version"));
    }
    let entries = decode_entries(&header[1..], object)?;
    for e in &entries {
        if e.end().is_none_or(|end| end > data_len) {
            return Err(Error::corrupt(
                object,
                format!(
                    "blob {} (offset {}, length {}) lies outside the pack's {data_len} data bytes",
                    e.id, e.offset, e.stored_len
                ),
            ));
        }
    }
    Ok(entries)
}

/// Parse a whole pack held in memory: verifies its id and returns its entries.
pub fn parse_pack(meta_key: &Key, id: &PackId, bytes: &[u8]) -> Result<Vec<PackEntry>> {
    let object = pack_key(id);
    if PackId(*blake3::hash(bytes).as_bytes()) != *id {
        return Err(Error::corrupt(
            &object,
            "pack content does not match its id",
        ));
    }
    if bytes.len() < TRAILER_LEN {
        return Err(Error::corrupt(&object, "pack too short"));
    }
    let hlen = parse_trailer(&bytes[bytes.len() - TRAILER_LEN..], &object)?;
    let hstart = bytes
        .len()
        .checked_sub(TRAILER_LEN + hlen)
        .ok_or_else(|| Error::corrupt(&object, "header length beyond pack size"))?;
    parse_header(
        meta_key,
        &bytes[hstart..bytes.len() - TRAILER_LEN],
        hstart as u64,
        &object,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob;
    use crate::crypto::MasterKeys;
    use proptest::prelude::*;

    /// A whole pack (data, sealed header, trailer) whose header lists `entries` as given,
    /// correctly sealed: what a writer holding the key but not following the format produces.
    fn planted_pack(keys: &MasterKeys, data: &[u8], entries: &[PackEntry]) -> (PackId, Vec<u8>) {
        let mut header = vec![1u8];
        encode_entries(entries, &mut header);
        let sealed = seal(&keys.meta_key, HEADER_AD, &header);
        let mut bytes = data.to_vec();
        bytes.extend_from_slice(&sealed);
        bytes.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        bytes.extend_from_slice(MAGIC);
        (PackId(*blake3::hash(&bytes).as_bytes()), bytes)
    }

    fn hostile_entry() -> impl Strategy<Value = PackEntry> {
        (
            any::<[u8; 32]>(),
            prop_oneof![
                // near u64::MAX: `offset + stored_len` overflows or lands far outside
                (0u64..=u64::from(u32::MAX) * 2).prop_map(|d| u64::MAX - d),
                Just(u64::MAX),
                any::<u64>(),
                0u64..4096,
            ],
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(id, offset, stored_len, plain_len)| PackEntry {
                id: BlobId(id),
                kind: BlobKind::Data,
                offset,
                stored_len,
                plain_len,
            })
    }

    proptest! {
        /// A correctly sealed header whose entries point near u64::MAX is a clear `Corrupt`
        /// error naming the pack — never an overflow panic, never an entry accepted.
        #[test]
        fn hostile_header_entry_offsets_are_refused(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            good in 0usize..3,
            bad in proptest::collection::vec(hostile_entry(), 1..4),
        ) {
            let keys = MasterKeys::generate();
            let mut entries: Vec<PackEntry> = (0..good)
                .map(|i| PackEntry {
                    id: BlobId([i as u8; 32]),
                    kind: BlobKind::Data,
                    offset: 0,
                    stored_len: data.len() as u32,
                    plain_len: 1,
                })
                .collect();
            let outside = bad
                .iter()
                .any(|e| e.end().is_none_or(|end| end > data.len() as u64));
            entries.extend(bad);
            let (id, bytes) = planted_pack(&keys, &data, &entries);
            let object = pack_key(&id);
            let whole = parse_pack(&keys.meta_key, &id, &bytes);
            let hlen = bytes.len() - data.len() - TRAILER_LEN;
            let header = parse_header(
                &keys.meta_key,
                &bytes[data.len()..data.len() + hlen],
                data.len() as u64,
                &object,
            );
            for r in [whole, header] {
                match r {
                    Err(Error::Corrupt { object: o, detail }) => {
                        prop_assert!(outside, "refused an entry inside the pack: {detail}");
                        prop_assert_eq!(&o, &object);
                    }
                    Ok(parsed) => {
                        prop_assert!(!outside, "accepted an entry outside the pack: {parsed:?}");
                        for e in parsed {
                            prop_assert!(e.end().unwrap() <= data.len() as u64);
                        }
                    }
                    Err(e) => prop_assert!(false, "not a Corrupt error: {e}"),
                }
            }
        }

        /// The entry table decoder (pack headers and index files) refuses an entry whose end
        /// overflows, and a count that does not match the table, whatever the count says.
        #[test]
        fn hostile_entry_tables_are_refused(e in hostile_entry(), n in any::<u32>()) {
            let mut body = Vec::new();
            encode_entries(&[e], &mut body);
            let r = decode_entries(&body, "index/x");
            prop_assert_eq!(r.is_ok(), e.end().is_some(), "{:?}", r);
            body[..4].copy_from_slice(&n.to_le_bytes());
            let r = decode_entries(&body, "index/x");
            if n != 1 {
                prop_assert!(matches!(r, Err(Error::Corrupt { .. })), "{:?}", r);
            }
        }

        #[test]
        fn pack_round_trip(blobs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 0..12)) {
            let keys = MasterKeys::generate();
            let mut b = PackBuilder::new();
            let mut enc = Vec::new();
            for d in &blobs {
                let e = blob::encode(&keys, d, 3);
                b.add(e.id, BlobKind::Data, e.plain_len, &e.stored);
                enc.push(e);
            }
            let (id, bytes, entries) = b.finish(&keys.meta_key);
            let parsed = parse_pack(&keys.meta_key, &id, &bytes).unwrap();
            prop_assert_eq!(&parsed, &entries);
            for (e, (d, x)) in parsed.iter().zip(blobs.iter().zip(&enc)) {
                let stored = &bytes[e.offset as usize..(e.offset + e.stored_len as u64) as usize];
                prop_assert_eq!(&blob::decode(&keys, &e.id, &x.key, d.len(), stored).unwrap(), d);
            }
        }
    }
}
