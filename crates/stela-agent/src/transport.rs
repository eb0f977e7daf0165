//! How the agent fetches repository files: plain blocking reads in 1 MiB pieces, handed
//! to tough as a stream, from a directory (`file://`) or a web server (`http://`,
//! `https://`, through ureq).
//!
//! tough's own `FilesystemTransport` reads through tokio's file API, which sends every
//! small read to a thread pool and back; on a 250 MB usr image that cost more than
//! decompressing it. The agent runs each tough call on a runtime of its own with nothing
//! else to do, so a read that blocks it costs nothing.
//!
//! Every network wait is bounded ([`Timeouts`]): a server that accepts and never answers,
//! or stops sending halfway, fails the fetch instead of holding the agent. How much a
//! response may send is tough's to bound (the signed length of a target, size limits
//! for metadata).

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::stream;
use tough::{Bytes, Transport, TransportError, TransportErrorKind, TransportStream};
use url::Url;

/// How long the agent waits for a repository server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To connect.
    pub connect: Duration,
    /// For the response headers after the request was sent.
    pub response: Duration,
    /// For each read of the body: the longest silence of a server that is sending.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(20),
            response: Duration::from_secs(60),
            read: Duration::from_secs(60),
        }
    }
}

/// Bytes per piece of a stream.
const PIECE: usize = 1 << 20;

/// `file://`, `http://` and `https://` URLs, read with blocking reads.
#[derive(Debug, Clone)]
pub struct BlockingTransport {
    http: ureq::Agent,
}

impl BlockingTransport {
    /// A transport whose network waits are bounded by `t`.
    pub fn new(t: Timeouts) -> BlockingTransport {
        let http: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(t.connect))
            .timeout_recv_response(Some(t.response))
            .timeout_per_read(Some(t.read))
            .http_status_as_error(false)
            .max_redirects(5)
            .user_agent(concat!("stela/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        BlockingTransport { http }
    }

    fn fetch_http(&self, url: Url) -> Result<TransportStream, TransportError> {
        let other = |e: String| TransportError::new_with_cause(TransportErrorKind::Other, &url, e);
        let response = self
            .http
            .get(url.as_str())
            .call()
            .map_err(|e| other(e.to_string()))?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            // tough asks for the next root until there is none: a missing file is news,
            // not a failure.
            404 | 410 => {
                return Err(TransportError::new(TransportErrorKind::FileNotFound, &url));
            }
            _ => return Err(other(format!("the server answered HTTP {status}"))),
        }
        let body = Locked(Mutex::new(response.into_body().into_reader()));
        Ok(Box::pin(pieces(body, url)))
    }
}

/// A reader behind a lock, so that the stream is `Sync` as tough wants; only one thread
/// ever reads it.
struct Locked<R>(Mutex<R>);

impl<R: Read> Read for Locked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.get_mut() {
            Ok(r) => r.read(buf),
            Err(poisoned) => poisoned.into_inner().read(buf),
        }
    }
}

#[tough::async_trait]
impl Transport for BlockingTransport {
    async fn fetch(&self, url: Url) -> Result<TransportStream, TransportError> {
        match url.scheme() {
            "file" => {}
            "http" | "https" => return self.fetch_http(url),
            _ => {
                return Err(TransportError::new(
                    TransportErrorKind::UnsupportedUrlScheme,
                    url,
                ))
            }
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
