//! Restoring the usr image from its independent zstd frames as they download: each
//! frame is cut out of the stream by its signed compressed size and handed to a worker
//! (one per core), which decompresses it and writes it at its own offset, while the
//! stream goes on being read and hashed.

use std::fs::File;
use std::os::unix::fs::FileExt;

use stela_repo::frames::FrameTable;

/// Frames waiting for a worker: enough to keep the workers busy while the stream is
/// read, few enough to bound memory (a frame is 4 MiB by default).
const QUEUE: usize = 4;

/// Restores frames of `table` into `disk` from byte `start` on, fed with the compressed
/// stream piece by piece: the feeding thread cuts frames out of the stream (and goes on
/// reading and hashing it) while worker threads, one per core, decompress and write.
pub(crate) struct FrameWriter<'a> {
    table: &'a FrameTable,
    next: usize,
    current: Vec<u8>,
    queue: Option<std::sync::mpsc::SyncSender<(usize, Vec<u8>)>>,
    workers: Vec<std::thread::ScopedJoinHandle<'a, std::io::Result<u64>>>,
}

impl<'a> FrameWriter<'a> {
    /// Start the workers in `scope`.
    pub(crate) fn new<'env>(
        scope: &'a std::thread::Scope<'a, 'env>,
        disk: &'a File,
        start: u64,
        table: &'a FrameTable,
    ) -> FrameWriter<'a> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Vec<u8>)>(QUEUE);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = (0..n)
            .map(|_| {
                let rx = rx.clone();
                scope.spawn(move || {
                    let mut written = 0;
                    // One decompression context and one output buffer per worker, used
                    // for every frame: a fresh 4 MiB buffer per frame costs its page
                    // faults each time (a tenth of the write's time on the bench).
                    let mut zstd = zstd::bulk::Decompressor::new()?;
                    let mut buf = Vec::new();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return Err(bad("a decompressing thread panicked")),
                        };
                        let Ok((n, frame)) = job else {
                            return Ok(written);
                        };
                        written += restore(disk, start, table, n, &frame, &mut zstd, &mut buf)?;
                    }
                })
            })
            .collect();
        FrameWriter {
            table,
            next: 0,
            current: Vec::new(),
            queue: Some(tx),
            workers,
        }
    }

    /// Take the next piece of the compressed stream.
    pub(crate) fn feed(&mut self, mut piece: &[u8]) -> std::io::Result<()> {
        while !piece.is_empty() {
            let Some(&size) = self.table.frames.get(self.next) else {
                return Err(bad("the usr target is longer than its frame table says"));
            };
            let size = usize::try_from(size).map_err(|_| bad("a frame is too large"))?;
            let take = (size - self.current.len()).min(piece.len());
            self.current.extend_from_slice(&piece[..take]);
            piece = &piece[take..];
            if self.current.len() == size {
                let frame = std::mem::take(&mut self.current);
                let queue = self
                    .queue
                    .as_ref()
                    .ok_or_else(|| bad("the writer is closed"))?;
                if queue.send((self.next, frame)).is_err() {
                    // Every worker stopped: `finish` says why.
                    return Err(bad("writing the usr image stopped"));
                }
                self.next += 1;
            }
        }
        Ok(())
    }

    /// Wait for the workers; the number of image bytes written. The first error of a
    /// worker wins over "ended early".
    pub(crate) fn finish(mut self) -> std::io::Result<u64> {
        drop(self.queue.take());
        let mut written = 0;
        let mut first_err = None;
        for w in self.workers.drain(..) {
            match w.join() {
                Ok(Ok(n)) => written += n,
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(bad("a decompressing thread panicked"));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if !self.current.is_empty() || self.next != self.table.frames.len() {
            return Err(bad("the usr target ended before its last frame"));
        }
        Ok(written)
    }
}

/// Decompress frame `n` (with the worker's context, into its buffer) and write it where
/// it belongs.
fn restore(
    disk: &File,
    start: u64,
    table: &FrameTable,
    n: usize,
    frame: &[u8],
    zstd: &mut zstd::bulk::Decompressor<'_>,
    buf: &mut Vec<u8>,
) -> std::io::Result<u64> {
    let at = n as u64 * table.frame_bytes;
    let expect = table.frame_bytes.min(table.image_bytes.saturating_sub(at));
    let cap = usize::try_from(expect).map_err(|_| bad("a frame is too large"))?;
    buf.clear();
    buf.reserve(cap);
    let restored = zstd.decompress_to_buffer(frame, buf).map_err(|e| {
        bad(&format!(
            "frame {n} does not decompress (the download is not what was signed): {e}"
        ))
    })?;
    if restored as u64 != expect {
        return Err(bad(&format!(
            "frame {n} restores {restored} bytes, the frame table says {expect}"
        )));
    }
    disk.write_all_at(&buf[..restored], start + at)?;
    Ok(expect)
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_land_at_their_offsets_whatever_the_piece_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("usr");
        let data: Vec<u8> = (0..(7 * 4096 + 100)).map(|i| (i % 253) as u8).collect();
        std::fs::write(&img, &data).unwrap();
        let zst = dir.path().join("usr.zst");
        let c = stela_repo::frames::compress(&img, &zst, 4096, 3).unwrap();
        let stream = std::fs::read(&zst).unwrap();
        for piece in [1usize, 1000, 4096, 1 << 20] {
            let disk_path = dir.path().join(format!("disk-{piece}"));
            let disk = File::create(&disk_path).unwrap();
            disk.set_len(1 << 20).unwrap();
            std::thread::scope(|scope| {
                let mut w = FrameWriter::new(scope, &disk, 8192, &c.table);
                for p in stream.chunks(piece) {
                    w.feed(p).unwrap();
                }
                assert_eq!(w.finish().unwrap(), data.len() as u64);
            });
            let back = std::fs::read(&disk_path).unwrap();
            assert_eq!(
                &back[8192..8192 + data.len()],
                &data[..],
                "pieces of {piece}"
            );
        }
        // Too many bytes, or too few: refused.
        let disk = File::create(dir.path().join("d")).unwrap();
        std::thread::scope(|scope| {
            let mut w = FrameWriter::new(scope, &disk, 0, &c.table);
            w.feed(&stream).unwrap();
            assert!(w.feed(b"x").is_err());
            let _ = w.finish();
            let mut w = FrameWriter::new(scope, &disk, 0, &c.table);
            w.feed(&stream[..stream.len() - 1]).unwrap();
            assert!(w.finish().is_err());
        });
    }
}
