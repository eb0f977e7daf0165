//! Progress reports: the library counts bytes, the caller draws (or not).

/// Receives progress while a tree is built or checked, on the calling thread.
pub trait Progress {
    /// The data to hash is `total_bytes` long.
    fn start(&mut self, total_bytes: u64) {
        let _ = total_bytes;
    }
    /// `bytes` more data bytes have been hashed.
    fn advance(&mut self, bytes: u64) {
        let _ = bytes;
    }
    /// All data is hashed (called on success only).
    fn finish(&mut self) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
