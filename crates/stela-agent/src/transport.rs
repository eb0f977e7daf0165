//! How the agent fetches repository files: plain blocking reads in 1 MiB pieces, handed
//! to tough as a stream.
//!
//! tough's own `FilesystemTransport` reads through tokio's file API, which sends every
//! small read to a thread pool and back; on a 250 MB usr image that cost more than
//! decompressing it. The agent runs each tough call on a runtime of its own with nothing
//! else to do, so a read that blocks it costs nothing.

use std::io::Read;

use futures_util::stream;
use tough::{Bytes, Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

/// Bytes per piece of a stream.
const PIECE: usize = 1 << 20;

/// `file://` URLs, read with blocking reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockingTransport;

#[tough::async_trait]
impl Transport for BlockingTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        if url.scheme() != "file" {
            return Err(TransportError::new(
                TransportErrorKind::UnsupportedUrlScheme,
                url,
            ));
        }
        let path = url.to_file_path().map_err(|()| {
            TransportError::new_with_cause(TransportErrorKind::Other, &url, "not a local path")
        })?;
        let file = std::fs::File::open(&path).map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                TransportErrorKind::FileNotFound
            } else {
                TransportErrorKind::Other
            };
            TransportError::new_with_cause(kind, &url, e)
        })?;
        Ok(Box::pin(pieces(file, url)))
    }
}

/// A reader as a stream of pieces; read errors end it with an error.
fn pieces<R: Read + Send + Sync + 'static>(
    reader: R,
    url: Url,
) -> impl futures_util::Stream<Item = Result<Bytes, TransportError>> + Send + Sync {
    stream::unfold(Some((reader, url)), |state| async move {
        let (mut reader, url) = state?;
        let mut buf = vec![0u8; PIECE];
        let mut filled = 0;
        while filled < PIECE {
            match reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let err = TransportError::new_with_cause(TransportErrorKind::Other, &url, e);
                    return Some((Err(err), None));
                }
            }
        }
        if filled == 0 {
            return None;
        }
        buf.truncate(filled);
        Some((Ok(Bytes::from(buf)), Some((reader, url))))
    })
}
