//! Content-defined chunking (FastCDC v2020) with two profiles (FORMAT.md §4).

use serde::{Deserialize, Serialize};

/// FastCDC sizes of one profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkSizes {
    pub min: u32,
    pub avg: u32,
    pub max: u32,
}

/// Chunking parameters of a repository (stored in its config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkerParams {
    pub small: ChunkSizes,
    pub large: ChunkSizes,
    /// Items whose declared size is at least this use the large profile.
    pub large_from: u64,
    /// The same threshold for items of kind `"file"` (absent in older configs: `large_from`).
    #[serde(default)]
    pub file_large_from: Option<u64>,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            small: ChunkSizes {
                min: 2 * 1024,
                avg: 8 * 1024,
                max: 32 * 1024,
            },
            large: ChunkSizes {
                min: 256 * 1024,
                avg: 1024 * 1024,
                max: 4 * 1024 * 1024,
            },
            large_from: 8 * 1024 * 1024,
            file_large_from: Some(64 * 1024),
        }
    }
}

impl ChunkerParams {
    /// The profile used for an item of this kind and (declared) size.
    pub fn profile(&self, kind: &str, size: u64) -> ChunkSizes {
        let from = match (kind, self.file_large_from) {
            ("file", Some(f)) => f,
            _ => self.large_from,
        };
        if size >= from { self.large } else { self.small }
    }

    pub(crate) fn validate(&self) -> bool {
        [self.small, self.large].iter().all(|s| {
            s.min >= fastcdc::v2020::MINIMUM_MIN
                && s.avg >= fastcdc::v2020::AVERAGE_MIN
                && s.avg <= fastcdc::v2020::AVERAGE_MAX
                && s.max <= fastcdc::v2020::MAXIMUM_MAX
                && s.min <= s.avg
                && s.avg <= s.max
        })
    }
}

/// Cut `buf` into chunks. If `eof` is false the last chunk (which may continue in the next
/// buffer) is not returned; the caller keeps `buf[consumed..]` and appends more data.
/// Returns the chunk lengths and the number of bytes they cover.
pub fn cut(buf: &[u8], sizes: ChunkSizes, eof: bool) -> (Vec<usize>, usize) {
    let mut lens = Vec::new();
    let mut consumed = 0;
    if buf.is_empty() {
        return (lens, 0);
    }
    for c in fastcdc::v2020::FastCDC::new(buf, sizes.min, sizes.avg, sizes.max) {
        let end = c.offset + c.length;
        // A chunk touching the buffer's end may be cut short by the buffer, not the content,
        // unless it is already of maximum size.
        if !eof && end == buf.len() && c.length < sizes.max as usize {
            break;
        }
        lens.push(c.length);
        consumed = end;
    }
    (lens, consumed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunk_stream(data: &[u8], sizes: ChunkSizes, step: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut pos = 0;
        loop {
            let take = step.min(data.len() - pos);
            buf.extend_from_slice(&data[pos..pos + take]);
            pos += take;
            let eof = pos == data.len();
            let (lens, consumed) = cut(&buf, sizes, eof);
            let mut o = 0;
            for l in lens {
                out.push(buf[o..o + l].to_vec());
                o += l;
            }
            buf.drain(..consumed);
            if eof {
                assert!(buf.is_empty());
                return out;
            }
        }
    }

    const SMALL: ChunkSizes = ChunkSizes {
        min: 64,
        avg: 256,
        max: 1024,
    };

    proptest! {
        #[test]
        fn chunk_join_round_trip(data in proptest::collection::vec(any::<u8>(), 0..20_000), step in 1usize..5000) {
            let chunks = chunk_stream(&data, SMALL, step.max(2048));
            prop_assert_eq!(chunks.concat(), data.clone());
            for c in &chunks { prop_assert!(c.len() <= 1024); }
            // Streaming with any buffer step gives the same cut points as one whole buffer.
            let whole = chunk_stream(&data, SMALL, data.len().max(1));
            prop_assert_eq!(chunks, whole);
        }
    }

    #[test]
    fn default_params_are_valid() {
        assert!(ChunkerParams::default().validate());
    }
}
