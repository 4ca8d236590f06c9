//! Downloaded content waiting to be written into the repository: in memory when small, spooled to
//! an anonymous temporary file when large, so several concurrent downloads never hold big
//! messages in RAM.

use std::io::Cursor;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWriteExt};

/// Content bytes of one item.
#[derive(Debug)]
pub enum Body {
    /// Small content held in memory.
    Memory(Bytes),
    /// Large content in an unlinked temporary file, positioned at its start.
    File {
        /// The file.
        file: tokio::fs::File,
        /// Its length.
        len: u64,
    },
}

impl Body {
    /// Empty content.
    pub fn empty() -> Body {
        Body::Memory(Bytes::new())
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Memory(b) => b.len() as u64,
            Body::File { len, .. } => *len,
        }
    }

    /// A reader over the content.
    pub fn into_reader(self) -> Pin<Box<dyn AsyncRead + Send + Unpin>> {
        match self {
            Body::Memory(b) => Box::pin(Cursor::new(b)),
            Body::File { file, .. } => Box::pin(file),
        }
    }

    /// Collect a byte stream, spooling to a temp file once `spool_threshold` bytes are exceeded.
    pub async fn collect<S, E>(mut stream: S, spool_threshold: usize) -> Result<Body, BodyError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let mut buf = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(BodyError::Source)?;
            buf.extend_from_slice(&chunk);
            if buf.len() > spool_threshold {
                return Self::spool(buf, stream).await;
            }
        }
        Ok(Body::Memory(buf.freeze()))
    }

    async fn spool<S, E>(head: BytesMut, mut stream: S) -> Result<Body, BodyError<E>>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let std_file = tempfile::tempfile().map_err(BodyError::Spool)?;
        let mut file = tokio::fs::File::from_std(std_file);
        let mut len = head.len() as u64;
        file.write_all(&head).await.map_err(BodyError::Spool)?;
        drop(head);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(BodyError::Source)?;
            len += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(BodyError::Spool)?;
        }
        file.flush().await.map_err(BodyError::Spool)?;
        file.rewind().await.map_err(BodyError::Spool)?;
        Ok(Body::File { file, len })
    }
}

/// Why collecting a body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError<E> {
    /// The source stream failed.
    #[error(transparent)]
    Source(E),
    /// Writing the spool file failed.
    #[error("spooling a large item to a temporary file: {0}")]
    Spool(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn read_all(b: Body) -> Vec<u8> {
        let mut out = Vec::new();
        b.into_reader().read_to_end(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn small_stays_in_memory_large_spools() {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            (0..10u8).map(|i| Ok(Bytes::from(vec![i; 100]))).collect();
        let expected: Vec<u8> = (0..10u8).flat_map(|i| vec![i; 100]).collect();

        let b = Body::collect(
            futures::stream::iter(
                chunks
                    .iter()
                    .map(|c| c.as_ref().cloned().map_err(|_| std::io::Error::other("x"))),
            ),
            5000,
        )
        .await
        .unwrap();
        assert!(matches!(b, Body::Memory(_)));
        assert_eq!(read_all(b).await, expected);

        let b = Body::collect(futures::stream::iter(chunks.into_iter()), 250)
            .await
            .unwrap();
        assert!(matches!(b, Body::File { len: 1000, .. }));
        assert_eq!(read_all(b).await, expected);
    }

    #[tokio::test]
    async fn source_error_propagates() {
        let s = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("reset")),
        ]);
        assert!(matches!(
            Body::collect(s, 10).await,
            Err(BodyError::Source(_))
        ));
    }
}
