//! The usr image as a sequence of independent zstd frames.
//!
//! Every frame holds `frame_bytes` of the image (the last one the rest) and can be
//! decompressed on its own, so a download that broke off resumes at the start of the
//! first frame it did not finish, and `zstd -d` (or any zstd decoder, which reads
//! concatenated frames) restores the whole image. The compressed size of each frame is
//! recorded in the signed target metadata ([`FrameTable`]), so the device knows where
//! each frame starts without a seek table in the file. Frames are compressed in
//! parallel.

use std::io::{Read, Write};
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::RepoError;

/// Where each frame is, recorded in the target's custom metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameTable {
    /// Bytes of the image in each frame but the last.
    pub frame_bytes: u64,
    /// Size of the uncompressed image.
    pub image_bytes: u64,
    /// Compressed size of each frame, in order.
    pub frames: Vec<u64>,
}

impl FrameTable {
    /// Offset of frame `n` in the compressed file, and the image offset it restores.
    pub fn frame_start(&self, n: usize) -> Option<(u64, u64)> {
        if n > self.frames.len() {
            return None;
        }
        let compressed = self.frames[..n].iter().sum();
        Some((compressed, n as u64 * self.frame_bytes))
    }
}

/// What compressing wrote.
#[derive(Debug, Clone)]
pub struct Compressed {
    /// The frame table.
    pub table: FrameTable,
    /// Size of the compressed file.
    pub length: u64,
    /// SHA-256 of the compressed file.
    pub sha256: [u8; 32],
}

/// Compress `input` into `output` (created; it must not exist) as independent frames.
pub fn compress(
    input: &Path,
    output: &Path,
    frame_bytes: u64,
    level: i32,
) -> Result<Compressed, RepoError> {
    let mut src = std::fs::File::open(input).map_err(RepoError::io("opening", input))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(output)
        .map_err(RepoError::io("creating", output))?;
    let frame = usize::try_from(frame_bytes)
        .map_err(|_| RepoError::Options(format!("frame size {frame_bytes} is too large")))?;
    // Enough frames in flight to keep every core busy, few enough to bound memory.
    let batch = 2 * rayon::current_num_threads().max(1);
    let mut hash = openssl::sha::Sha256::new();
    let mut table = FrameTable {
        frame_bytes,
        image_bytes: 0,
        frames: Vec::new(),
    };
    let mut length = 0u64;
    loop {
        let mut chunks = Vec::with_capacity(batch);
        for _ in 0..batch {
            let chunk = read_up_to(&mut src, frame).map_err(RepoError::io("reading", input))?;
            if chunk.is_empty() {
                break;
            }
            table.image_bytes += chunk.len() as u64;
            let last = chunk.len() < frame;
            chunks.push(chunk);
            if last {
                break;
            }
        }
        if chunks.is_empty() {
            break;
        }
        let n = chunks.len();
        let compressed: Vec<Vec<u8>> = chunks
            .par_iter()
            .map(|c| zstd::bulk::compress(c, level))
            .collect::<Result<_, _>>()
            .map_err(RepoError::io("compressing", input))?;
        for c in &compressed {
            dst.write_all(c).map_err(RepoError::io("writing", output))?;
            hash.update(c);
            table.frames.push(c.len() as u64);
            length += c.len() as u64;
        }
        if n < batch || chunks.last().is_some_and(|c| c.len() < frame) {
            break;
        }
    }
    dst.sync_all().map_err(RepoError::io("writing", output))?;
    Ok(Compressed {
        table,
        length,
        sha256: hash.finish(),
    })
}

fn read_up_to(src: &mut impl Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    src.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_independent_and_restore_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("usr");
        let data: Vec<u8> = (0..(5 * 4096 + 123)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&input, &data).unwrap();
        let out = dir.path().join("usr.zst");
        let c = compress(&input, &out, 4096, 3).unwrap();
        assert_eq!(c.table.frames.len(), 6);
        assert_eq!(c.table.image_bytes, data.len() as u64);
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(bytes.len() as u64, c.length);
        assert_eq!(zstd::decode_all(&bytes[..]).unwrap(), data);
        // Frame 3 alone restores bytes 3*4096.. of the image.
        let (at, image_at) = c.table.frame_start(3).unwrap();
        let one = &bytes[at as usize..(at + c.table.frames[3]) as usize];
        assert_eq!(
            zstd::decode_all(one).unwrap(),
            &data[image_at as usize..image_at as usize + 4096]
        );
        assert!(
            compress(&input, &out, 4096, 3).is_err(),
            "an existing output is kept"
        );
    }

    #[test]
    fn an_exact_multiple_and_an_empty_image() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("usr");
        std::fs::write(&input, vec![7u8; 8192]).unwrap();
        let c = compress(&input, &dir.path().join("a"), 4096, 3).unwrap();
        assert_eq!(c.table.frames.len(), 2);
        std::fs::write(&input, b"").unwrap();
        let c = compress(&input, &dir.path().join("b"), 4096, 3).unwrap();
        assert!(c.table.frames.is_empty());
        assert_eq!(c.length, 0);
    }
}
