//! Content download into the repository: the Graph byte stream (302 to the pre-authenticated
//! URL, resumed with `Range` by the client) is read through a verifying reader that hashes
//! every byte with QuickXorHash and counts them; at the end of the stream it compares size
//! and hash with what Graph published and fails the read on a mismatch, so the repository
//! session never stages an unverified item.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use parking_lot::Mutex;
use tenantvault_graph::{ByteStream, GraphError};
use tokio::io::{AsyncRead, ReadBuf};

use super::quickxor::{QuickXorHash, same_hash};

/// Why a download could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Graph failed (after the client's retries and resumes).
    #[error("download failed: {0}")]
    Graph(String),
    /// The bytes do not hash to the published QuickXorHash.
    #[error(
        "quickXorHash mismatch: Graph published {expected}, the downloaded bytes hash to {actual}"
    )]
    HashMismatch {
        /// Published hash.
        expected: String,
        /// Hash of what arrived.
        actual: String,
    },
    /// The number of bytes differs from the published size.
    #[error("size mismatch: Graph published {expected} bytes, {actual} arrived")]
    SizeMismatch {
        /// Published size.
        expected: u64,
        /// Bytes that arrived.
        actual: u64,
    },
}

/// What the reader learned, readable after the read ends.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Bytes read.
    pub bytes: u64,
    /// Hash of the bytes read (base64), set at the end of the stream.
    pub hash: Option<String>,
    /// Why the read failed, if it did.
    pub error: Option<FetchError>,
}

/// An `AsyncRead` over a Graph byte stream that verifies size and QuickXorHash at the end.
pub struct VerifyingReader<S> {
    stream: S,
    chunk: Bytes,
    hasher: QuickXorHash,
    expected_hash: Option<String>,
    expected_size: Option<u64>,
    outcome: Arc<Mutex<Outcome>>,
    done: bool,
}

impl<S> VerifyingReader<S> {
    /// Wraps `stream`; `expected_*` are what Graph published (a missing hash is not checked).
    pub fn new(
        stream: S,
        expected_size: Option<u64>,
        expected_hash: Option<String>,
    ) -> (Self, Arc<Mutex<Outcome>>) {
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        (
            Self {
                stream,
                chunk: Bytes::new(),
                hasher: QuickXorHash::new(),
                expected_hash,
                expected_size,
                outcome: outcome.clone(),
                done: false,
            },
            outcome,
        )
    }

    fn fail(&mut self, e: FetchError) -> std::io::Error {
        let msg = e.to_string();
        self.outcome.lock().error = Some(e);
        self.done = true;
        std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
    }

    fn verify(&mut self) -> Result<(), std::io::Error> {
        let actual = self.hasher.finish();
        let bytes = self.hasher.len();
        {
            let mut o = self.outcome.lock();
            o.bytes = bytes;
            o.hash = Some(actual.clone());
        }
        if let Some(expected) = self.expected_size
            && expected != bytes
        {
            return Err(self.fail(FetchError::SizeMismatch {
                expected,
                actual: bytes,
            }));
        }
        if let Some(expected) = self.expected_hash.clone()
            && !same_hash(&expected, &actual)
        {
            return Err(self.fail(FetchError::HashMismatch { expected, actual }));
        }
        self.done = true;
        Ok(())
    }
}

impl<S> AsyncRead for VerifyingReader<S>
where
    S: Stream<Item = Result<Bytes, GraphError>> + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.chunk.is_empty() {
                let n = this.chunk.len().min(buf.remaining());
                let part = this.chunk.split_to(n);
                this.hasher.update(&part);
                buf.put_slice(&part);
                return Poll::Ready(Ok(()));
            }
            if this.done {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut this.stream).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(b))) => this.chunk = b,
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Err(this.fail(FetchError::Graph(e.to_string()))));
                }
                Poll::Ready(None) => return Poll::Ready(this.verify()),
            }
        }
    }
}

/// Convenience: a verifying reader over a Graph download.
pub fn verifying(
    stream: ByteStream,
    size: Option<u64>,
    hash: Option<String>,
) -> (VerifyingReader<ByteStream>, Arc<Mutex<Outcome>>) {
    VerifyingReader::new(stream, size, hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn stream(parts: Vec<&'static [u8]>) -> impl Stream<Item = Result<Bytes, GraphError>> + Unpin {
        futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p))))
    }

    #[tokio::test]
    async fn good_content_passes_and_reports_its_hash() {
        let (mut r, out) = VerifyingReader::new(
            stream(vec![b"hello", b" ", b"world"]),
            Some(11),
            Some("aCgDG9jwBhDc4Q1yawMZAAAAAAA=".into()),
        );
        let mut v = Vec::new();
        r.read_to_end(&mut v).await.unwrap();
        assert_eq!(v, b"hello world");
        let o = out.lock();
        assert_eq!(
            (o.bytes, o.hash.as_deref(), o.error.is_none()),
            (11, Some("aCgDG9jwBhDc4Q1yawMZAAAAAAA="), true)
        );
    }

    #[tokio::test]
    async fn wrong_hash_or_size_fails_the_read() {
        let (mut r, out) = VerifyingReader::new(
            stream(vec![b"hello world"]),
            Some(11),
            Some("AAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
        );
        let mut v = Vec::new();
        assert!(r.read_to_end(&mut v).await.is_err());
        assert!(matches!(
            out.lock().error,
            Some(FetchError::HashMismatch { .. })
        ));
        let (mut r, out) = VerifyingReader::new(stream(vec![b"hello"]), Some(11), None);
        assert!(r.read_to_end(&mut Vec::new()).await.is_err());
        assert_eq!(
            out.lock().error,
            Some(FetchError::SizeMismatch {
                expected: 11,
                actual: 5
            })
        );
    }
}
